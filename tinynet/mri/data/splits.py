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

k folds for cross-validation (``kfold_patients``; scikit-learn's
``StratifiedGroupKFold`` with the patient as the group and the institution as
the class): every patient is held out exactly once.  Each institution's
patients are shuffled with ``np.random.default_rng(seed)`` (institutions in
sorted order, as above), laid end to end, and dealt to folds 1, 2, ..., k,
1, 2, ... like cards.  Dealing one run of n_g patients in turn gives every fold
n_g // k or n_g // k + 1 of them, and as the dealing goes on across
institutions, the fold sizes also differ by at most one.  Each fold is itself
a split (``train`` and ``val`` lists), so ``fold_split(folds, k)`` written with
``save_split`` is the ``--split`` file of the training scripts for fold k.
"""
import json
import math
from collections import defaultdict

import numpy as np

from tinynet.io import atomic_write_text
from ._checks import is_whole_number
from .errors import DataError

__all__ = ["institution_of", "split_patients", "save_split", "load_split", "kfold_patients",
           "fold_split", "save_folds", "load_folds"]


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
    patients = _checked_patients(patients, "split_patients")
    groups = _by_institution(patients)
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


def _checked_patients(patients, fn):
    """``patients`` as a list of str: DataError from ``fn`` if fewer than 2, or one twice."""
    patients = [str(p) for p in patients]
    if len(patients) < 2:
        raise DataError(f"{fn}: need at least 2 patients, got {len(patients)}")
    if len(set(patients)) != len(patients):
        repeated = sorted({p for p in patients if patients.count(p) > 1})
        raise DataError(f"{fn}: patient(s) listed twice: {', '.join(repeated)}")
    return patients


def _by_institution(patients):
    """{institution code: its patients, sorted}, the codes in sorted order."""
    groups = defaultdict(list)
    for p in sorted(patients):
        groups[institution_of(p)].append(p)
    return dict(sorted(groups.items()))


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
    split = _read_json(path, "split file")
    _check_split(split, path)
    if patients is not None:
        unknown = sorted(set(split["train"] + split["val"]) - set(patients))
        if unknown:
            raise DataError(f"{path}: the split lists patient(s) not in the data: "
                            f"{', '.join(unknown[:5])}{', ...' if len(unknown) > 5 else ''}")
    return split


def _read_json(path, kind):
    """The JSON value in ``path``; DataError naming the file (and ``kind``) if it cannot be read."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise DataError(f"{path}: no such {kind}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a JSON {kind} ({exc})") from exc


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


# ---------------------------------------------------------------------------
# k folds for cross-validation
# ---------------------------------------------------------------------------

def kfold_patients(patients, n_splits=5, seed=0):
    """Deal patient ids into ``n_splits`` folds (k), stratified by ``institution_of``.

    Every patient is in the ``val`` list of exactly one fold and in the
    ``train`` list of all the others (see the module docstring for how they are
    dealt).  Returns ``{"n_splits", "seed", "stratify": "institution",
    "patients": [...], "folds": [{"fold": 1, "train": [...], "val": [...]}, ...]}``,
    folds numbered from 1, every list sorted; the result depends only on the
    set of patients, ``n_splits`` and ``seed``.
    """
    patients = _checked_patients(patients, "kfold_patients")
    if not (is_whole_number(n_splits) and 2 <= n_splits <= len(patients)):
        raise DataError(f"kfold_patients: n_splits (k) must be a whole number in "
                        f"[2, {len(patients)}] for {len(patients)} patients, got {n_splits!r}")
    n_splits = int(n_splits)
    rng = np.random.default_rng(seed)
    dealt = []
    for members in _by_institution(patients).values():
        dealt += [members[i] for i in rng.permutation(len(members))]
    held_out = [sorted(dealt[k::n_splits]) for k in range(n_splits)]
    everyone = sorted(patients)
    folds = [{"fold": k + 1, "train": sorted(set(everyone) - set(val)), "val": val}
             for k, val in enumerate(held_out)]
    return {"n_splits": n_splits, "seed": int(seed), "stratify": "institution",
            "patients": everyone, "folds": folds}


def fold_split(folds, fold):
    """Fold number ``fold`` (1..k) of ``kfold_patients``'s result as a split dict: its
    ``train`` and ``val`` lists with the fold's number, k and the seed (a ``--split`` file's
    content once written by ``save_split``)."""
    n_splits = len(folds["folds"])
    if not (is_whole_number(fold) and 1 <= fold <= n_splits):
        raise DataError(f"fold must be a whole number in [1, {n_splits}], got {fold!r}")
    entry = folds["folds"][int(fold) - 1]
    return {"fold": entry["fold"], "n_splits": n_splits, "seed": folds.get("seed"),
            "train": list(entry["train"]), "val": list(entry["val"])}


def save_folds(path, folds):
    """Write the folds (from ``kfold_patients``) as JSON to ``path``, atomically."""
    _check_folds(folds, f"save_folds({path})")
    atomic_write_text(path, json.dumps(folds, indent=2) + "\n")


def load_folds(path, patients=None):
    """Read folds written by ``save_folds``; check them against ``patients`` if given.

    DataError naming the file if it is not valid JSON, if a fold is not a split
    (``train``/``val`` lists), if the folds are not numbered 1..k, if a patient is
    held out by two folds or by none, if a fold's ``train`` is not everyone else,
    or if ``patients`` (the data's) and the file's patients differ: folds made for
    other data would silently leave patients out of the cross-validation.
    """
    folds = _read_json(path, "fold file")
    _check_folds(folds, path)
    if patients is not None:
        _check_same_patients(folds["patients"], patients, path)
    return folds


def _check_folds(folds, where):
    """DataError naming ``where`` unless ``folds`` is a valid result of ``kfold_patients``."""
    if not isinstance(folds, dict) or not isinstance(folds.get("folds"), list) \
            or not isinstance(folds.get("patients"), list):
        raise DataError(f"{where}: a fold file must be a JSON object with 'patients' and "
                        "'folds' lists (written by kfold_patients/save_folds)")
    entries, everyone = folds["folds"], set(folds["patients"])
    if len(entries) < 2:
        raise DataError(f"{where}: needs at least 2 folds, got {len(entries)}")
    held_out = []
    for k, entry in enumerate(entries, start=1):
        _check_split(entry, f"{where}: fold {k}")
        if entry.get("fold") != k:
            raise DataError(f"{where}: the folds must be numbered 1..{len(entries)} in order; "
                            f"entry {k} says fold {entry.get('fold')!r}")
        if set(entry["train"]) | set(entry["val"]) != everyone:
            raise DataError(f"{where}: fold {k}: train and val together are not the file's "
                            "'patients'")
        held_out += entry["val"]
    if sorted(held_out) != sorted(everyone) or len(everyone) != len(folds["patients"]):
        raise DataError(f"{where}: every patient must be held out (val) by exactly one fold")


def _check_same_patients(listed, patients, path):
    """DataError naming ``path`` unless the fold file lists exactly the data's patients."""
    missing = sorted(set(patients) - set(listed))
    unknown = sorted(set(listed) - set(patients))
    if missing or unknown:
        parts = [f"{len(found)} {what} (e.g. {found[0]})" for found, what in
                 ((missing, "patient(s) of the data are in no fold"),
                  (unknown, "patient(s) of the folds are not in the data")) if found]
        raise DataError(f"{path}: the folds were made for other patients: "
                        f"{'; '.join(parts)}; make new folds for this data")
