"""The README's reading-order tables ("How it is built") name real files with their sizes.

A learner plans an afternoon by those line counts, so they must not go stale: every
path a row names exists, and its count is within ``TOLERANCE`` of today's.  The rule a
count follows: a file's lines; a folder's, the lines of every ``.py`` file under it
except the files that another row of the same table names (so ``tinynet/ops/`` leaves
out ``tinynet/ops/conv/``, and "``tinynet/autograd/``: the rest" leaves out the engine).
The per-file counts in a row's description ("`math.py` 831") are checked the same way.
"""
import pathlib
import re

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
README = REPO / "README.md"
TOLERANCE = 0.10            # a few edits need no README change; a rewritten file does

FRAMEWORK_HEADER = "| | file | lines | what it holds |"
APPLICATION_HEADER = "| file | lines | what it holds |"
CODE = re.compile(r"`([^`]+)`")
FILE_AND_COUNT = re.compile(r"`([\w/]+\.py)` (\d+)")


def table_rows(header):
    """The rows (lists of cells) of the README table that starts with ``header``."""
    lines = README.read_text().splitlines()
    start = lines.index(header) + 2                 # past the header and the --- row
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def resolve(name, base):
    """The path a table names: the application's table is relative to tinynet/mri/."""
    for root in (base, REPO):
        if (root / name).exists():
            return root / name
    raise AssertionError(f"README names {name!r}, which is neither under {base} nor {REPO}")


def python_files(path):
    return {path} if path.is_file() else {p for p in path.rglob("*.py")}


def line_count(files):
    return sum(len(p.read_text().splitlines()) for p in files)


def table_entries(header, file_cell, base):
    """(row label, stated count, files counted, description) for each counted row."""
    rows = table_rows(header)
    named = [[resolve(name, base) for name in CODE.findall(row[file_cell])] for row in rows]
    named_files = {p for paths in named for p in paths if p.is_file()}
    named_folders = {p for paths in named for p in paths if p.is_dir()}
    entries = []
    for row, paths in zip(rows, named):
        stated = row[file_cell + 1]
        if not stated:                              # weights/, tests/: not code to count
            continue
        other_files = named_files - set(paths)
        inner_folders = [d for d in named_folders - set(paths)
                         if any(p in d.parents for p in paths)]
        files = {f for p in paths for f in python_files(p)
                 if f not in other_files and not any(d in f.parents for d in inner_folders)}
        entries.append((row[file_cell], int(stated), files, row[file_cell + 2], paths))
    return entries


def all_entries():
    return (table_entries(FRAMEWORK_HEADER, 1, REPO)
            + table_entries(APPLICATION_HEADER, 0, REPO / "tinynet" / "mri"))


ENTRIES = all_entries()


def close(stated, actual):
    return abs(stated - actual) <= TOLERANCE * actual


@pytest.mark.parametrize("label, stated, files, description, paths", ENTRIES,
                         ids=[entry[0] for entry in ENTRIES])
def test_a_rows_line_count_is_todays(label, stated, files, description, paths):
    actual = line_count(files)
    assert files, f"README row {label} counts no Python file"
    assert close(stated, actual), (
        f"README row {label}: {stated} lines stated, {actual} today; update the table")


@pytest.mark.parametrize("label, stated, files, description, paths", ENTRIES,
                         ids=[entry[0] for entry in ENTRIES])
def test_the_file_counts_in_a_description_are_todays(label, stated, files, description,
                                                     paths):
    for name, count in FILE_AND_COUNT.findall(description):
        matches = [f for f in files if f.as_posix().endswith("/" + name)]
        assert len(matches) == 1, f"README row {label}: {name} is not one of its files"
        actual = line_count(matches)
        assert close(int(count), actual), (
            f"README row {label}: {name} {count} lines stated, {actual} today")


def test_the_rule_leaves_out_what_other_rows_name():
    """It can fail: the ops row must not count the convolution files of their own rows."""
    entries = {label: files for label, _, files, _, _ in all_entries()}
    ops = entries["`tinynet/ops/`"]
    conv = REPO / "tinynet" / "ops" / "conv"
    assert REPO / "tinynet" / "ops" / "math.py" in ops
    assert not any(conv in f.parents for f in ops)
    rest = entries["`tinynet/autograd/`: the rest"]
    assert REPO / "tinynet" / "autograd" / "engine.py" not in rest
    assert REPO / "tinynet" / "autograd" / "hooks.py" in rest


if __name__ == "__main__":
    # `python tests/test_readme_line_counts.py`: today's counts, to copy into the README.
    for label, stated, files, description, _ in ENTRIES:
        print(f"{label}: {line_count(files)} (README: {stated})")
        for name, count in FILE_AND_COUNT.findall(description):
            actual = line_count([f for f in files if f.as_posix().endswith("/" + name)])
            print(f"    {name}: {actual} (README: {count})")
