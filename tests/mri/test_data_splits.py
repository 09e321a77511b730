"""tinynet.mri.data.splits, the patient-level splits and the cross-validation folds: disjoint,
reproducible, stratified by institution, JSON round trip, clear errors for bad files."""
import json
import os
from collections import Counter
from pathlib import Path

import pytest

from tinynet.mri.data import DataError, fold_split, institution_of, kfold_patients, load_folds, \
    load_split, save_folds, save_split, split_patients


def patients_per_institution(counts):
    """Fake TCGA ids: {"CS": 3} -> ["TCGA_CS_0000_20000101", "TCGA_CS_0001_20000101", ...]."""
    return [f"TCGA_{code}_{k:04d}_20000101" for code, n in counts.items() for k in range(n)]


# The institutions of the 56 kaggle_3m patients in ../shared/data/lgg.
KAGGLE3M_SUBSET = {"CS": 8, "DU": 23, "EZ": 1, "FG": 7, "HT": 17}


def val_counts(split):
    return Counter(institution_of(p) for p in split["val"])


def test_institution_of():
    assert institution_of("TCGA_DU_5849_19950405") == "DU"
    assert institution_of("PHANTOM_P1_0003") == "P1"
    assert institution_of("patient7") == ""


def test_no_patient_on_both_sides_and_none_lost():
    patients = patients_per_institution(KAGGLE3M_SUBSET)
    split = split_patients(patients, val_fraction=0.2, seed=3)
    assert not set(split["train"]) & set(split["val"])
    assert sorted(split["train"] + split["val"]) == sorted(patients)
    assert split["train"] == sorted(split["train"]) and split["val"] == sorted(split["val"])


def test_reproducible_from_the_seed_whatever_the_input_order():
    patients = patients_per_institution(KAGGLE3M_SUBSET)
    first = split_patients(patients, seed=5)
    assert split_patients(list(reversed(patients)), seed=5) == first
    assert any(split_patients(patients, seed=s)["val"] != first["val"] for s in range(6, 9))
    assert first["seed"] == 5 and first["val_fraction"] == 0.2


def test_each_institution_gives_its_share_to_validation():
    # 56 patients, 20 %: 11 in validation. Owed 8*11/56 = 1.57, 4.52, 0.20, 1.38, 3.34 ->
    # whole parts 1, 4, 0, 1, 3 (9); the 2 largest remainders (CS .57, DU .52) get one more.
    split = split_patients(patients_per_institution(KAGGLE3M_SUBSET), val_fraction=0.2, seed=0)
    assert val_counts(split) == {"CS": 2, "DU": 5, "FG": 1, "HT": 3}


def test_every_institution_with_two_patients_appears_in_validation():
    # 20 patients, 4 in validation: owed AA 1.0, BB 0.4, CC 0.2, DD 2.4 -> whole parts
    # 1, 0, 0, 2; BB has 2 patients, so it gives one; CC (a single patient) stays in training.
    split = split_patients(patients_per_institution({"AA": 5, "BB": 2, "CC": 1, "DD": 12}))
    assert val_counts(split) == {"AA": 1, "BB": 1, "DD": 2}


def test_every_institution_keeps_a_training_patient():
    split = split_patients(patients_per_institution({"AA": 2, "BB": 3, "CC": 5}), val_fraction=0.7)
    # 7 of 10 wanted, but keeping one per institution allows 1 + 2 + 4 = 7.
    assert val_counts(split) == {"AA": 1, "BB": 2, "CC": 4}
    assert Counter(institution_of(p) for p in split["train"]) == {"AA": 1, "BB": 1, "CC": 1}


def test_n_val_overrides_the_fraction_and_zero_is_allowed():
    patients = patients_per_institution(KAGGLE3M_SUBSET)
    assert len(split_patients(patients, n_val=3)["val"]) == 3
    assert split_patients(patients, n_val=3)["n_val"] == 3
    assert split_patients(patients, val_fraction=0.0)["val"] == []


def test_small_fraction_still_gives_one_validation_patient():
    assert len(split_patients(patients_per_institution({"AA": 4}), val_fraction=0.05)["val"]) == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"val_fraction": 1.0}, r"val_fraction must be in \[0, 1\), got 1.0"),
    ({"val_fraction": -0.1}, r"val_fraction must be in \[0, 1\)"),
    ({"n_val": 4}, r"n_val must be a whole number in \[0, 3\] for 4 patients, got 4"),
    ({"n_val": 1.5}, "n_val must be a whole number"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(DataError, match=message):
        split_patients(patients_per_institution({"AA": 4}), **kwargs)


def test_bad_patient_lists():
    with pytest.raises(DataError, match="listed twice: TCGA_AA_0000_20000101"):
        split_patients(patients_per_institution({"AA": 3}) + ["TCGA_AA_0000_20000101"])
    with pytest.raises(DataError, match="at least 2 patients, got 1"):
        split_patients(["TCGA_AA_0000_20000101"])


def test_json_round_trip(tmp_path):
    patients = patients_per_institution(KAGGLE3M_SUBSET)
    split = split_patients(patients, val_fraction=0.25, seed=7)
    path = tmp_path / "split.json"
    save_split(path, split)
    stored = json.loads(path.read_text())
    assert stored["seed"] == 7 and stored["val_fraction"] == 0.25
    assert load_split(path, patients=patients) == split
    # The stored arguments recompute the same split.
    again = split_patients(patients, stored["val_fraction"], stored["seed"], stored["n_val"])
    assert again == split


@pytest.mark.parametrize("content, message", [
    ("{not json", "not a JSON split file"),
    ("[1, 2]", "a split must be a JSON object, got list"),
    ('{"train": ["a"]}', "'val' must be a list of patient ids"),
    ('{"train": ["a", 3], "val": []}', "'train' must be a list of patient ids"),
    ('{"train": ["a", "b"], "val": ["b"]}', "patient.s. on both sides: b"),
    ('{"train": ["a", "a"], "val": ["b"]}', "'train' lists a patient twice"),
])
def test_malformed_split_files(tmp_path, content, message):
    path = tmp_path / "broken_split.json"
    path.write_text(content)
    with pytest.raises(DataError, match=f"broken_split.json: {message}"):
        load_split(path)


def test_split_listing_an_unknown_patient(tmp_path):
    path = tmp_path / "split.json"
    save_split(path, {"seed": 0, "train": ["TCGA_AA_0001"], "val": ["TCGA_ZZ_9999"]})
    with pytest.raises(DataError, match=r"split.json: the split lists patient\(s\) not in the "
                                        r"data: TCGA_ZZ_9999"):
        load_split(path, patients=["TCGA_AA_0001", "TCGA_AA_0002"])


def test_missing_split_file(tmp_path):
    with pytest.raises(DataError, match="nowhere.json: no such split file"):
        load_split(tmp_path / "nowhere.json")


def test_save_refuses_an_overlapping_split(tmp_path):
    with pytest.raises(DataError, match="on both sides: x"):
        save_split(tmp_path / "s.json", {"train": ["x"], "val": ["x"]})
    assert not (tmp_path / "s.json").exists()


# ---------------------------------------------------------------------------
# k folds for cross-validation
# ---------------------------------------------------------------------------

REAL_DATA = Path(os.environ.get("TINYNET_LGG")
                 or Path(__file__).resolve().parents[3] / "shared/data/lgg/kaggle_3m")

FOLD_CASES = [(KAGGLE3M_SUBSET, 5), (KAGGLE3M_SUBSET, 22), ({"AA": 5, "BB": 2, "CC": 1}, 3),
              ({"AA": 4}, 4), ({"AA": 3, "BB": 3, "CC": 3, "DD": 1}, 2)]


def held_out_counts(folds, code):
    """How many patients of institution ``code`` each fold holds out."""
    return [sum(institution_of(p) == code for p in entry["val"]) for entry in folds["folds"]]


@pytest.mark.parametrize("counts, k", FOLD_CASES)
def test_every_patient_is_held_out_by_exactly_one_fold(counts, k):
    patients = patients_per_institution(counts)
    folds = kfold_patients(patients, n_splits=k, seed=1)
    assert [entry["fold"] for entry in folds["folds"]] == list(range(1, k + 1))
    held_out = [p for entry in folds["folds"] for p in entry["val"]]
    assert sorted(held_out) == sorted(patients) == folds["patients"]
    for entry in folds["folds"]:
        assert entry["val"] and entry["val"] == sorted(entry["val"])
        assert entry["train"] == sorted(set(patients) - set(entry["val"]))


@pytest.mark.parametrize("counts, k", FOLD_CASES)
def test_each_institution_is_spread_over_the_folds_as_evenly_as_possible(counts, k):
    folds = kfold_patients(patients_per_institution(counts), n_splits=k, seed=2)
    for code, n in counts.items():
        per_fold = held_out_counts(folds, code)
        assert sum(per_fold) == n and max(per_fold) - min(per_fold) <= 1, (code, per_fold)
    sizes = [len(entry["val"]) for entry in folds["folds"]]
    assert max(sizes) - min(sizes) <= 1


def test_folds_are_reproducible_from_the_seed_and_differ_across_seeds():
    patients = patients_per_institution(KAGGLE3M_SUBSET)
    first = kfold_patients(patients, n_splits=5, seed=4)
    assert kfold_patients(list(reversed(patients)), n_splits=5, seed=4) == first
    assert first["seed"] == 4 and first["n_splits"] == 5 and first["stratify"] == "institution"
    others = [kfold_patients(patients, n_splits=5, seed=s)["folds"] for s in (5, 6, 7)]
    assert all(other != first["folds"] for other in others)


@pytest.mark.parametrize("k, message", [
    (1, r"n_splits \(k\) must be a whole number in \[2, 4\] for 4 patients, got 1"),
    (5, r"in \[2, 4\] for 4 patients, got 5"), (2.5, "got 2.5")])
def test_bad_numbers_of_folds(k, message):
    with pytest.raises(DataError, match=message):
        kfold_patients(patients_per_institution({"AA": 4}), n_splits=k)


def test_folds_json_round_trip_and_each_fold_is_a_split_file(tmp_path):
    patients = patients_per_institution(KAGGLE3M_SUBSET)
    folds = kfold_patients(patients, n_splits=5, seed=3)
    save_folds(tmp_path / "folds.json", folds)
    assert load_folds(tmp_path / "folds.json", patients=patients) == folds
    split = fold_split(folds, 3)
    assert split["val"] == folds["folds"][2]["val"] and split["fold"] == 3
    save_split(tmp_path / "split.json", split)            # what --split of the scripts reads
    assert load_split(tmp_path / "split.json", patients=patients) == split
    with pytest.raises(DataError, match=r"fold must be a whole number in \[1, 5\], got 6"):
        fold_split(folds, 6)


def broken_folds():
    """(name, change to a valid fold file's content, expected message) for load_folds."""
    return [
        ("list", lambda f: [f], "a fold file must be a JSON object with 'patients' and 'folds'"),
        ("one fold", lambda f: {**f, "folds": f["folds"][:1]}, "needs at least 2 folds, got 1"),
        ("numbering", lambda f: {**f, "folds": f["folds"][::-1]},
         "the folds must be numbered 1..3 in order; entry 1 says fold 3"),
        ("not a split", lambda f: {**f, "folds": [{"fold": 1, "train": 3}] + f["folds"][1:]},
         "fold 1: 'train' must be a list of patient ids"),
        ("held out twice", lambda f: {**f, "folds": [
            {**e, "val": e["val"] + f["folds"][0]["val"][:1],
             "train": [p for p in e["train"] if p not in f["folds"][0]["val"][:1]]}
            if e["fold"] == 2 else e for e in f["folds"]]},
         "every patient must be held out .val. by exactly one fold"),
        ("train not the rest", lambda f: {**f, "folds": [
            {**e, "train": e["train"][1:]} if e["fold"] == 1 else e for e in f["folds"]]},
         "fold 1: train and val together are not the file's 'patients'"),
    ]


@pytest.mark.parametrize("name, change, message", broken_folds(),
                         ids=[case[0] for case in broken_folds()])
def test_malformed_fold_files_name_the_file(tmp_path, name, change, message):
    folds = kfold_patients(patients_per_institution({"AA": 4, "BB": 3}), n_splits=3)
    path = tmp_path / "broken_folds.json"
    path.write_text(json.dumps(change(folds)))
    with pytest.raises(DataError, match=f"broken_folds.json: {message}"):
        load_folds(path)


def test_unreadable_or_missing_fold_files(tmp_path):
    (tmp_path / "folds.json").write_text("{not json")
    with pytest.raises(DataError, match="folds.json: not a JSON fold file"):
        load_folds(tmp_path / "folds.json")
    with pytest.raises(DataError, match="nowhere.json: no such fold file"):
        load_folds(tmp_path / "nowhere.json")


def test_folds_of_other_patients_are_refused(tmp_path):
    patients = patients_per_institution({"AA": 4, "BB": 3})
    save_folds(tmp_path / "folds.json", kfold_patients(patients, n_splits=2))
    data = patients[1:] + ["TCGA_ZZ_0000_20000101"]
    with pytest.raises(DataError, match=r"folds.json: the folds were made for other patients: "
                                        r"1 patient\(s\) of the data are in no fold \(e.g. "
                                        r"TCGA_ZZ_0000_20000101\); 1 patient\(s\) of the folds "
                                        r"are not in the data \(e.g. TCGA_AA_0000_20000101\)"):
        load_folds(tmp_path / "folds.json", patients=data)


def test_save_refuses_bad_folds(tmp_path):
    with pytest.raises(DataError, match="needs at least 2 folds"):
        save_folds(tmp_path / "f.json", {"patients": ["a"], "folds": []})
    assert not (tmp_path / "f.json").exists()


@pytest.mark.skipif(not REAL_DATA.is_dir(), reason=f"no LGG data at {REAL_DATA}")
def test_folds_of_the_real_patients_spread_every_institution():
    from tinynet.mri.data import open_dataset
    patients = open_dataset(REAL_DATA).patients           # lists the folders, decodes nothing
    folds = kfold_patients(patients, n_splits=5, seed=0)
    for code in {institution_of(p) for p in patients}:
        per_fold = held_out_counts(folds, code)
        assert max(per_fold) - min(per_fold) <= 1, (code, per_fold)
    assert sorted(p for entry in folds["folds"] for p in entry["val"]) == sorted(patients)
