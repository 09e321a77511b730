"""Paired comparison of two cross-validations: per-patient differences and a Wilcoxon test.

Two recipes scored on the same patients differ far less than the patients
differ from each other (per-patient Dice has a standard deviation near 0.2), so
comparing the two means alone drowns the recipes' difference in the patients'.
Pairing removes that: for every patient, ``d = B - A``; then

* the mean and the median of ``d``, and how many patients B scores higher,
  lower or the same;
* the Wilcoxon signed-rank test of "the d are symmetric around 0"
  (``scipy.stats.wilcoxon`` with its defaults: two-sided, zero differences
  dropped (``zero_method="wilcox"``), tied |d| given their average rank).  It
  asks only that the differences be symmetric, not normal: Dice differences are
  bounded and often skewed.  When every difference is zero there is nothing to
  rank; the result is p = 1 without calling scipy (which warns, or raises in
  older versions, on that input).

Both tables must score the same patients (cross-validations of the same data);
otherwise the comparison is refused, unless ``common_only`` asks for the
patients the two have in common.  Patients whose number is undefined in
either table (sensitivity without tumour slices) are left out and listed.
"""
import math
import os

import numpy as np
from scipy import stats

from ..cli import UsageError
from ..report import save_json
from .scoring import SUMMARIZED
from .training import read_json

__all__ = ["load_table", "paired_comparison", "wilcoxon_test", "format_comparison",
           "save_comparison"]

TABLE = "patients.json"


def load_table(path):
    """A per-patient table written by ``tinynet crossval`` (``patients.json``, or a folder
    holding one); UsageError naming the file if it is not one."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, TABLE)
    table = read_json(path, "per-patient table", missing=f"{path}: no such per-patient table "
                      "(patients.json of `tinynet crossval train` or `score`)")
    rows = table.get("patients") if isinstance(table, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "patient" in r
                                             for r in rows):
        raise UsageError(f"{path}: not a per-patient table of `tinynet crossval` (no "
                         "'patients' list of rows)")
    table["path"] = path
    return table


def paired_comparison(table_a, table_b, metric="dice", common_only=False):
    """Compare ``metric`` of two tables (``load_table``) patient by patient: B - A.

    Returns a JSON-ready dict: the pairs, the means and medians, the mean and
    median difference, counts of B higher / lower / equal, the Wilcoxon test.
    """
    if metric not in SUMMARIZED:
        raise UsageError(f"metric must be one of {', '.join(SUMMARIZED)}, got {metric!r}")
    a, b = _rows_by_patient(table_a), _rows_by_patient(table_b)
    common = _common_patients(table_a, table_b, a, b, common_only)
    pairs, skipped = [], []
    for patient in common:
        x, y = a[patient].get(metric), b[patient].get(metric)
        if x is None or y is None:
            skipped.append(patient)
            continue
        pairs.append({"patient": patient, "fold_a": a[patient].get("fold"),
                      "fold_b": b[patient].get("fold"), "a": x, "b": y, "difference": y - x})
    if not pairs:
        raise UsageError(f"no patient has a {metric} in both {table_a['path']} and "
                         f"{table_b['path']} (a classifier's table has no dice: use --metric "
                         "accuracy, sensitivity or specificity)")
    values_a, values_b = (np.array([p[side] for p in pairs]) for side in ("a", "b"))
    differences = values_b - values_a
    return {"metric": metric, "a": table_a["path"], "b": table_b["path"],
            "n": len(pairs), "skipped": skipped,
            "not_in_both": sorted(set(a) ^ set(b)),
            "mean_a": float(values_a.mean()), "mean_b": float(values_b.mean()),
            "median_a": float(np.median(values_a)), "median_b": float(np.median(values_b)),
            "mean_difference": float(differences.mean()),
            "median_difference": float(np.median(differences)),
            "b_higher": int((differences > 0).sum()), "b_lower": int((differences < 0).sum()),
            "equal": int((differences == 0).sum()),
            "wilcoxon": wilcoxon_test(differences), "pairs": pairs}


def _rows_by_patient(table):
    rows = {}
    for row in table["patients"]:
        if row["patient"] in rows:
            raise UsageError(f"{table['path']}: patient {row['patient']} has two rows")
        rows[row["patient"]] = row
    return rows


def _common_patients(table_a, table_b, a, b, common_only):
    """The patients of both tables, sorted; UsageError when the sets differ (unless
    ``common_only``) or have no patient in common."""
    only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    common = sorted(set(a) & set(b))
    if not common:
        raise UsageError(f"{table_a['path']} and {table_b['path']} have no patient in common")
    if (only_a or only_b) and not common_only:
        parts = [f"{len(only)} only in {table['path']} (e.g. {only[0]})"
                 for only, table in ((only_a, table_a), (only_b, table_b)) if only]
        raise UsageError(f"the two tables score different patients: {'; '.join(parts)}; a "
                         "paired comparison needs the same patients (pass --common-only to "
                         f"compare the {len(common)} they share)")
    return common


def wilcoxon_test(differences):
    """The Wilcoxon signed-rank test of ``differences`` (B - A per patient), scipy's defaults.

    Returns {"statistic", "pvalue", "nonzero", "zero_method", "alternative", "note"}:
    ``nonzero`` is how many differences were ranked; with none, p = 1 and a note.
    """
    differences = np.asarray(differences, dtype=np.float64)
    result = {"statistic": None, "pvalue": 1.0, "nonzero": int(np.count_nonzero(differences)),
              "zero_method": "wilcox", "alternative": "two-sided", "note": None}
    if result["nonzero"] == 0:
        result["note"] = "every difference is zero: nothing to test"
        return result
    test = stats.wilcoxon(differences, zero_method="wilcox", alternative="two-sided")
    result.update(statistic=float(test.statistic), pvalue=float(test.pvalue))
    if result["nonzero"] < 6:
        # Exactly, the smallest two-sided p of n differences is 2 / 2**n: 0.0625 at n = 5.
        result["note"] = f"only {result['nonzero']} nonzero differences: the test has little power"
    return result


def format_comparison(result):
    """The comparison as a short table, for the console."""
    metric, test = result["metric"], result["wilcoxon"]
    lines = [f"Paired comparison of {metric} per patient ({result['n']} patients): "
             f"A = {result['a']}, B = {result['b']}",
             f"  {'':<8}{'A':>8}{'B':>8}{'B - A':>9}",
             f"  {'mean':<8}{result['mean_a']:>8.3f}{result['mean_b']:>8.3f}"
             f"{result['mean_difference']:>+9.3f}",
             f"  {'median':<8}{result['median_a']:>8.3f}{result['median_b']:>8.3f}"
             f"{result['median_difference']:>+9.3f}",
             f"  B higher for {result['b_higher']}, lower for {result['b_lower']}, equal for "
             f"{result['equal']} patients"]
    statistic = "n/a" if test["statistic"] is None else f"{test['statistic']:g}"
    lines.append(f"  Wilcoxon signed-rank (two-sided, zero differences dropped): "
                 f"W = {statistic}, p = {_p_value(test['pvalue'])}"
                 + (f"  ({test['note']})" if test["note"] else ""))
    if result["skipped"]:
        lines.append(f"  left out, no {metric} in one of the tables: {len(result['skipped'])} "
                     f"patient(s), e.g. {result['skipped'][0]}")
    if result["not_in_both"]:
        lines.append(f"  not in both tables (--common-only): {len(result['not_in_both'])} "
                     "patient(s)")
    return "\n".join(lines)


def _p_value(p):
    return "n/a" if p is None or math.isnan(p) else f"{p:.4g}"


def save_comparison(result, path):
    """Write the comparison as JSON to ``path``, atomically."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    save_json(result, path)
