"""The application's files (tinynet.mri: viz, report, data.splits, data.packed, figures,
checkpoint): every file the MRI application writes goes through the one atomic writer,
tinynet.io's."""
import errno
import os

import numpy as np
import pytest

from tinynet.io import _atomic, save_checkpoint
from tinynet.mri import figures, report
from tinynet.mri.architectures import build_model
from tinynet.mri.checkpoint import export_model, model_spec
from tinynet.mri.data import DataError, make_phantom, pack, save_split, split_patients
from tinynet.mri.viz import save_png


@pytest.fixture
def written(monkeypatch):
    """The targets atomic_write was asked to write, in order (absolute paths)."""
    paths = []
    real_mode_for = _atomic._mode_for        # called once per atomic_write, with the target

    def recording(path):
        paths.append(os.path.abspath(path))
        return real_mode_for(path)

    monkeypatch.setattr(_atomic, "_mode_for", recording)
    return paths


def break_fsync(monkeypatch, code):
    """Make the next fsync fail with OSError ``code`` (a full disk, a permission refused)."""
    def failing_fsync(fd):
        raise OSError(code, os.strerror(code))
    monkeypatch.setattr(os, "fsync", failing_fsync)


def files_under(folder):
    return sorted(os.path.join(root, name) for root, _, names in os.walk(folder)
                  for name in names)


def test_every_file_of_the_application_is_written_by_the_atomic_writer(tmp_path, written,
                                                                       monkeypatch):
    save_png(np.zeros((4, 4), np.uint8), tmp_path / "png" / "x.png")
    report.save_json({"auc": 0.5}, tmp_path / "report" / "r.json")
    monkeypatch.setattr(report, "render_html", lambda evaluation, overlays: "<html></html>")
    report.save_html(None, tmp_path / "report" / "r.html")
    phantom = make_phantom(n_patients=3, slices_per_patient=2, size=16, seed=0)
    save_split(tmp_path / "split.json", split_patients(phantom.patients, seed=0))
    pack(phantom, tmp_path / "packed.npz", size=8)
    figures.write_curves(tmp_path / "figures", [{"epoch": 1, "train_loss": 0.5, "val_auc": 0.7}],
                         ["val_auc"])
    predictions = {"labels": np.array([0, 1, 1, 0]), "scores": np.array([0.2, 0.9, 0.4, 0.1])}
    figures.write_classifier_figures(tmp_path / "figures", predictions, 0.5, is_best=True)
    spec = model_spec("resunet", {"base": 4, "depth": 2}, 16,
                      {"mean": [0.1] * 3, "std": [0.2] * 3})
    source = save_checkpoint(tmp_path / "best.npz", build_model("resunet", base=4, depth=2),
                             epoch=1, metadata={"model": spec})
    export_model(source, tmp_path / "shipped" / "segmenter.npz")

    assert files_under(tmp_path) == sorted(written)      # every file, and each written once
    assert len(written) == 12


@pytest.mark.parametrize("write", [
    lambda path: report.save_json({"auc": 0.9}, path),
    lambda path: save_split(path, {"train": ["A"], "val": ["B"]}),
    lambda path: save_png(np.ones((2, 2), np.uint8), path),
])
def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch, write):
    path = tmp_path / "file"
    path.write_bytes(b"previous")
    break_fsync(monkeypatch, errno.ENOSPC)
    with pytest.raises(OSError, match="No space left on device"):
        write(path)
    assert path.read_bytes() == b"previous" and os.listdir(tmp_path) == ["file"]


def test_a_failed_pack_says_why_and_keeps_the_previous_file(tmp_path, monkeypatch):
    phantom = make_phantom(n_patients=2, slices_per_patient=2, size=16, seed=0)
    path = pack(phantom, tmp_path / "data.npz", size=8)
    before = (tmp_path / "data.npz").read_bytes()
    break_fsync(monkeypatch, errno.EACCES)
    with pytest.raises(DataError, match=r"data.npz: cannot write the packed file "
                                        r"\(Permission denied\)$"):
        pack(phantom, path, size=8)
    assert (tmp_path / "data.npz").read_bytes() == before
    assert os.listdir(tmp_path) == ["data.npz"]
