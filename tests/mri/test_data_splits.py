"""tinynet.mri.data.splits, the patient-level splits: disjoint, reproducible, stratified by
institution, JSON round trip."""
import json
from collections import Counter

import pytest

from tinynet.mri.data import DataError, institution_of, load_split, save_split, split_patients


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
