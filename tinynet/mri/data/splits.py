"""Patient-level train/validation splits, stratified by institution, saved as JSON.

Slices of one patient are strongly correlated (neighbouring slices of the
same brain), so a split by slice would put near-copies of validation slices
in the training set.  We split by patient, and within each institution
(the site code ``DU`` of ``TCGA_DU_5849_19950405``) so that scanner and
protocol differences are represented on both sides.

How many validation patients each institution gives (``split_patients``):
1. the total is ``n_val``, or ``round(val_fraction * n)`` (at least 1 when
   ``val_fraction > 0``), at most n - 1 so that training keeps a patient;
2. institution g with n_g patients is owed ``total * n_g / n``; it gives the
   whole part of that, but never all of its patients;
3. an institution with >= 2 patients that would give none gives one, while
   the total allows it (largest institutions first);
4. remaining seats go to the largest remainders (ties: larger institution,
   then code), still keeping >= 1 patient of each institution in training;
   only when the total cannot be reached that way (val_fraction close to 1)
   do institutions give their last patient, single-patient ones included.
Within an institution the validation patients are drawn with
``np.random.default_rng(seed)`` from its sorted patients, institutions
taken in sorted order, so the split depends only on (patients, fraction, seed).
"""
import json
import math
from collections import defaultdict

import numpy as np

from tinynet.io import atomic_write_text
from ._checks import is_whole_number
from .errors import DataError

__all__ = ["institution_of", "split_patients", "save_split", "load_split"]


def institution_of(patient_id):
    """The site code of a patient id: its second ``_``-separated field.

    ``"TCGA_DU_5849_19950405" -> "DU"``, ``"PHANTOM_P1_0003" -> "P1"``;
    an id without ``_`` has no code and gives ``""`` (all such patients form one group).
    """
    fields = str(patient_id).split("_")
    return fields[1] if len(fields) > 1 else ""


def _validation_total(n, val_fraction, n_val):
    """How many of ``n`` patients go to validation (rule 1 of the module docstring)."""
    if n_val is not None:
        if not (is_whole_number(n_val) and 0 <= n_val < n):
            raise DataError(f"split_patients: n_val must be a whole number in [0, {n - 1}] "
                            f"for {n} patients, got {n_val!r}")
        return int(n_val)
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(f"split_patients: val_fraction must be in [0, 1), got {val_fraction!r}")
    total = math.floor(val_fraction * n + 0.5)
    if val_fraction > 0:
        total = max(total, 1)
    return min(total, n - 1)


def _validation_counts(sizes, total):
    """{code: validation patients} for institutions of ``sizes`` {code: n_g} (rules 2-4)."""
    n = sum(sizes.values())
    owed = {g: total * n_g / n for g, n_g in sizes.items()}
    counts = {g: min(math.floor(owed[g]), sizes[g] - 1) for g in sizes}
    by_size = sorted(sizes, key=lambda g: (-sizes[g], g))
    for g in by_size:
        if sum(counts.values()) < total and sizes[g] >= 2 and counts[g] == 0:
            counts[g] = 1
    for keep_one in (True, False):
        while sum(counts.values()) < total:
            room = [g for g in sizes if counts[g] < sizes[g] - keep_one]
            if not room:
                break
            best = min(room, key=lambda g: (-(owed[g] - counts[g]), -sizes[g], g))
            counts[best] += 1
    return counts


def split_patients(patients, val_fraction=0.2, seed=0, n_val=None):
    """Split patient ids into train and validation, stratified by ``institution_of``.

    Returns ``{"seed", "val_fraction", "n_val", "train": [...], "val": [...]}``
    (both lists sorted; the arguments are kept so the split can be recomputed).
    """
    patients = [str(p) for p in patients]
    if len(patients) < 2:
        raise DataError(f"split_patients: need at least 2 patients, got {len(patients)}")
    if len(set(patients)) != len(patients):
        repeated = sorted({p for p in patients if patients.count(p) > 1})
        raise DataError(f"split_patients: patient(s) listed twice: {', '.join(repeated)}")
    groups = defaultdict(list)
    for p in sorted(patients):
        groups[institution_of(p)].append(p)
    total = _validation_total(len(patients), val_fraction, n_val)
    counts = _validation_counts({g: len(m) for g, m in groups.items()}, total)
    rng = np.random.default_rng(seed)
    val = []
    for g in sorted(groups):
        order = rng.permutation(len(groups[g]))
        val += [groups[g][i] for i in order[:counts[g]]]
    val_set = set(val)
    return {"seed": int(seed), "val_fraction": float(val_fraction),
            "n_val": None if n_val is None else int(n_val),
            "train": sorted(p for p in patients if p not in val_set), "val": sorted(val)}


def save_split(path, split):
    """Write a split (from ``split_patients``) as JSON to ``path`` (atomically)."""
    _check_split(split, f"save_split({path})")
    atomic_write_text(path, json.dumps(split, indent=2) + "\n")


def load_split(path, patients=None):
    """Read a split written by ``save_split``; check it against ``patients`` if given.

    DataError naming the file if it is not valid JSON, lacks ``train``/``val``
    lists of patient ids, has a patient on both sides, or lists a patient not
    in ``patients``.  Patients of ``patients`` that the split does not list
    are allowed (they are simply used by neither side).
    """
    try:
        with open(path, encoding="utf-8") as f:
            split = json.load(f)
    except FileNotFoundError:
        raise DataError(f"{path}: no such split file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a JSON split file ({exc})") from exc
    _check_split(split, path)
    if patients is not None:
        unknown = sorted(set(split["train"] + split["val"]) - set(patients))
        if unknown:
            raise DataError(f"{path}: the split lists patient(s) not in the data: "
                            f"{', '.join(unknown[:5])}{', ...' if len(unknown) > 5 else ''}")
    return split


def _check_split(split, where):
    """DataError naming ``where`` unless ``split`` has disjoint train/val lists of strings."""
    if not isinstance(split, dict):
        raise DataError(f"{where}: a split must be a JSON object, got {type(split).__name__}")
    for side in ("train", "val"):
        ids = split.get(side)
        if not isinstance(ids, list) or not all(isinstance(p, str) for p in ids):
            raise DataError(f"{where}: {side!r} must be a list of patient ids")
        if len(set(ids)) != len(ids):
            raise DataError(f"{where}: {side!r} lists a patient twice")
    both = sorted(set(split["train"]) & set(split["val"]))
    if both:
        raise DataError(f"{where}: patient(s) on both sides: {', '.join(both)}")
