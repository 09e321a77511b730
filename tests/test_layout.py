"""The two floors (README "How it is built"): the framework never imports the application.

``tinynet/`` outside ``tinynet/mri/`` is the framework; ``tinynet/mri/`` is the
brain-MRI application built on it.  Only ``tinynet/__main__.py`` (what
``python -m tinynet`` runs) may reach into the application.
"""
import ast
import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = REPO / "tinynet"
APPLICATION = PACKAGE / "mri"


def imported_modules(path):
    """Absolute names of the modules ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = parts[:-1]          # the package a relative import starts from
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names += [module] + [f"{module}.{alias.name}" for alias in node.names]
    return names


def framework_files():
    return [p for p in sorted(PACKAGE.rglob("*.py"))
            if APPLICATION not in p.parents and p.name != "__main__.py"]


def test_the_framework_never_imports_the_application():
    offenders = {str(p.relative_to(PACKAGE.parent)): name
                 for p in framework_files() for name in imported_modules(p)
                 if name == "tinynet.mri" or name.startswith("tinynet.mri.")}
    assert not offenders, f"framework files importing the application: {offenders}"


def test_the_layout_check_sees_relative_imports():
    """The check resolves ``from ..mri import x`` inside the package (it can fail)."""
    names = imported_modules(PACKAGE / "mri" / "commands" / "predict.py")
    assert "tinynet.mri.cli" in names and "tinynet.mri.inference" in names
    assert len(framework_files()) > 50


def test_import_tinynet_does_not_import_the_application():
    """At run time too: ``import tinynet`` loads no module of tinynet.mri."""
    code = ("import sys, tinynet; "
            "print(sorted(m for m in sys.modules if m.startswith('tinynet.mri')))")
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
