"""The wheel works installed, not only cloned: it holds the shipped weights and the `tinynet`
command, and predicts from a folder outside the repository with nothing of the repository on
the path.

The wheel is built from a copy of the sources (so no build/ or egg-info lands in the checkout),
installed with ``pip install --no-deps --target``, and every command runs in a subprocess whose
PYTHONPATH is that folder alone.  Nothing is downloaded: the dependencies (NumPy, SciPy, Pillow,
tqdm, and nibabel for the NIfTI round trip, the ``nifti`` extra) are the ones of the Python
running the tests.
"""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from optional_deps import nibabel_or_skip

REPO = Path(__file__).resolve().parents[1]
WEIGHT_FILES = ["classifier.md", "classifier.npz", "pipeline.json", "segmenter.md", "segmenter.npz"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(wheel file, folder the wheel is installed in, an empty working folder elsewhere)."""
    for tool in ("pip", "setuptools"):       # looked up, not imported: setuptools patches distutils
        if importlib.util.find_spec(tool) is None:
            pytest.skip(f"building the wheel needs {tool}")
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(REPO / "tinynet", source / "tinynet",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "-w", str(root / "dist"), str(source)], check=True, timeout=120)
    (wheel,) = (root / "dist").glob("tinynet-*.whl")
    site = root / "site"
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", str(site),
                    str(wheel)], check=True, timeout=120)
    work = root / "work"
    work.mkdir()
    return wheel, site, work


def run_installed(installed, *argv):
    """Run ``argv`` in the working folder with only the installed wheel on PYTHONPATH."""
    _, site, work = installed
    env = {k: v for k, v in os.environ.items() if k != "TINYNET_WEIGHTS"}
    env["PYTHONPATH"] = str(site)
    return subprocess.run(list(map(str, argv)), cwd=work, env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_wheel_holds_the_weights_the_command_and_not_the_old_module(installed):
    wheel = installed[0]
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        entry_points = archive.read(entry_points).decode()
        weights = {n: archive.getinfo(n).file_size for n in names
                   if n.startswith("tinynet/mri/weights/")}
    assert sorted(Path(n).name for n in weights) == WEIGHT_FILES
    for name, size in weights.items():       # the real files, not pointers or empty copies
        assert size == (REPO / name).stat().st_size
    assert {"tinynet/__main__.py", "tinynet/mri/commands/__init__.py",
            "tinynet/mri/commands/predict.py"} <= names
    assert "tinynet/mri/data/pack.py" not in names
    assert "[console_scripts]\ntinynet = tinynet.mri.commands:main" in entry_points


def test_the_console_script_resolves_to_the_installed_command(installed):
    site = installed[1]
    code = ("from importlib.metadata import distribution\n"
            "(ep,) = [e for e in distribution('tinynet').entry_points if e.name == 'tinynet']\n"
            "main = ep.load()\n"
            "print(ep.group, main.__module__, main.__code__.co_filename)\n")
    done = run_installed(installed, sys.executable, "-c", code)
    assert done.returncode == 0, done.stderr
    group, module, filename = done.stdout.split()
    assert (group, module) == ("console_scripts", "tinynet.mri.commands")
    assert Path(filename) == site / "tinynet" / "mri" / "commands" / "__init__.py"

    script = site / "bin" / "tinynet"    # the launcher pip writes for the entry point
    if not script.exists():
        pytest.skip(f"no launcher at {script} on this platform")
    done = run_installed(installed, script, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: tinynet ")


def test_help_from_a_folder_outside_the_repository(installed):
    done = run_installed(installed, sys.executable, "-m", "tinynet", "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m tinynet ")
    for name in ("predict", "evaluate", "pack"):
        assert f"\n    {name} " in done.stdout


def test_the_installed_tinynet_is_imported_and_not_the_application(installed):
    site = installed[1]
    code = ("import sys, tinynet; print(tinynet.__file__); "
            "print(any(m.startswith('tinynet.mri') for m in sys.modules))")
    done = run_installed(installed, sys.executable, "-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(site / "tinynet" / "__init__.py"), "False"]


def test_predict_with_the_shipped_weights_of_the_wheel(installed):
    site, work = installed[1:]
    image = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    Image.fromarray(image).save(work / "scan.tif")
    done = run_installed(installed, sys.executable, "-m", "tinynet", "predict", "scan.tif",
                         "--out", "pred")
    assert done.returncode == 0, done.stderr
    assert "using the shipped weights" in done.stderr and "slices called tumour" in done.stdout

    summary = json.loads((work / "pred" / "summary.json").read_text())
    weights = site / "tinynet" / "mri" / "weights"
    assert (summary["classifier"], summary["segmenter"]) == \
        (str(weights / "classifier.npz"), str(weights / "segmenter.npz"))
    (record,) = summary["slices"]
    assert record["name"] == "scan" and 0.0 <= record["tumour_probability"] <= 1.0
    mask = np.asarray(Image.open(work / "pred" / "scan_pred_mask.png"))
    assert mask.shape == (256, 256) and set(np.unique(mask)) <= {0, 255}
    assert np.asarray(Image.open(work / "pred" / "scan_overlay.png")).shape == (256, 256, 3)


def test_a_nifti_round_trip_with_the_wheel(installed):
    """A 4-D NIfTI scan in, with a non-trivial affine (voxel axes L, P, S; 0.9 x 0.9 x 3.3 mm):
    a uint8 mask volume out on the same grid, a probability volume, the volume in mL."""
    nibabel = nibabel_or_skip()
    site, work = installed[1:]
    affine = np.diag([-0.9, -0.9, 3.3, 1.0])
    affine[:3, 3] = [90.0, 110.0, -30.0]
    voxels = np.random.default_rng(1).integers(0, 256, (64, 64, 3, 3), dtype=np.uint8)
    image = nibabel.Nifti1Image(voxels, affine)
    image.header.set_xyzt_units("mm")
    nibabel.save(image, str(work / "scan.nii.gz"))
    done = run_installed(installed, sys.executable, "-m", "tinynet", "predict", "scan.nii.gz",
                         "--out", "pred_nifti", "--probabilities")
    assert done.returncode == 0, done.stderr

    mask = nibabel.load(str(work / "pred_nifti" / "scan_pred_mask.nii.gz"))
    voxels_out = np.asanyarray(mask.dataobj)
    assert voxels_out.shape == (64, 64, 3) and voxels_out.dtype == np.uint8
    assert set(np.unique(voxels_out)) <= {0, 1}
    np.testing.assert_array_equal(mask.affine, nibabel.load(str(work / "scan.nii.gz")).affine)
    probabilities = nibabel.load(str(work / "pred_nifti" / "scan_pred_prob.nii.gz"))
    assert probabilities.shape == (64, 64, 3) and probabilities.get_data_dtype() == np.float32
    summary = json.loads((work / "pred_nifti" / "summary.json").read_text())
    assert summary["segmenter"] == str(site / "tinynet" / "mri" / "weights" / "segmenter.npz")
    (patient,) = summary["patients"]
    assert patient["tumour_size"]["volume_ml"] == pytest.approx(
        voxels_out.sum() * 0.9 * 0.9 * 3.3 / 1000, abs=1e-3)
