"""``tinynet predict``: find and outline brain tumours in MRI slices or NIfTI scans.

    tinynet predict slice.tif --out pred        # the shipped models (tinynet/mri/weights/)
    tinynet predict slice.tif --out pred --classifier runs/classifier/best.npz \
        --segmenter runs/resunet/best.npz
    tinynet predict kaggle_3m/ --out pred --segmenter runs/resunet/best.npz --tta
    tinynet predict slices/ --out pred --classifier runs/classifier/best.npz --gradcam
    tinynet predict scan.nii.gz --out pred      # a 4-D NIfTI: pre, FLAIR, post-contrast
    tinynet predict --flair flair.nii.gz --pre t1.nii.gz --post t1c.nii.gz --out pred \
        --probabilities --html pred/report.html

(``python -m tinynet predict`` and ``python examples/predict.py`` are the same command.)
Stage 1, the classifier, gives each slice a tumour probability; stage 2, the
segmenter, outlines the tumour on the slices called positive.

Image slices (TIFF/PNG, a folder of them, a kaggle_3m folder): for every
slice, under --out (a folder's sub-folder layout is kept):

    <slice name>_pred_mask.png   8-bit mask, 0 or 255, the slice's own size
                                 (all zero where the slice is called tumour-free)
    <slice name>_overlay.png     the slice with the predicted tumour outlined in red
    <slice name>_gradcam.png     with --gradcam: where the classifier looked

A NIfTI scan (``.nii``/``.nii.gz``; needs ``pip install tinynet[nifti]``), one
4-D file or three 3-D files (``tinynet.mri.data.nifti``), is cut into the
axial slices the models were trained on and predicted slice by slice
(``tinynet.mri.scan_prediction``); under --out:

    <scan>_pred_mask.nii.gz      uint8 mask volume, 0/1, in the scan's voxel order with
                                 its affine and header: it overlays the scan in a viewer
    <scan>_pred_prob.nii.gz      with --probabilities: float32 tumour probability per voxel

Both write summary.json (atomically, last): per slice its tumour probability,
call and tumour area; per patient (a NIfTI scan, or a folder of slices) the
tumour size (``tinynet.mri.tumour_size``): tumour slices, volume and largest
in-plane extent, in mL and mm for a NIfTI scan (spacing from its header), in
pixels for image slices (which carry no spacing).  ``--html FILE`` adds a page
with those sizes and a slice viewer per patient.  With a classifier alone there
are no masks: only summary.json (and the Grad-CAM maps).  Bad input (a wrong
file, shape or flag) is found before anything is written.
"""
import glob
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path, PurePosixPath

import numpy as np
from .._lazy import tqdm  # imported at first use

from tinynet.io import atomic_write_text
from .. import cli, viewer, viz
from ..data import IMAGE_SUFFIXES, find_slice_files, read_slice
from ..data.nifti import is_nifti, read_scan, read_sequences
from ..gradcam import grad_cam
from ..inference import TwoStagePredictor, load_models, resolve_checkpoints, \
    weights_folder
from ..prediction_report import save_prediction_html
from ..scan_prediction import predict_scan
from ..tumour_size import PIXEL_UNITS_NOTE, TumourMeasure, largest_extent, tumour_size

__all__ = ["build_parser", "main", "run", "write_outputs"]

#: Slices read and predicted at a time, at least (bounds the memory).
CHUNK = 32


def build_parser(prog=None):
    """The argument parser of ``tinynet predict`` (``prog``: the name its messages use)."""
    parser = cli.ArgumentParser(
        prog=prog,
        description="Two-stage tumour prediction on brain MRI slices or NIfTI scans: a "
                    "classifier says which slices show a tumour, a segmenter outlines it.",
        epilog="Exit codes: 0 done, 2 bad arguments, input or checkpoint.")
    parser.add_argument("input", nargs="?", type=cli.existing_path,
                        help=f"one slice ({', '.join(IMAGE_SUFFIXES)}), a folder of slices, or "
                             "a kaggle_3m folder of patients (searched recursively; files "
                             "ending in _mask are ignored; images are read as 8-bit RGB, a "
                             "grayscale image is repeated into the 3 channels); or a 4-D NIfTI "
                             "scan (.nii, .nii.gz) of shape (X, Y, Z, 3): pre-contrast, FLAIR, "
                             "post-contrast")
    parser.add_argument("--flair", metavar="NIFTI",
                        help="instead of INPUT: a 3-D NIfTI FLAIR volume (with --pre and "
                             "--post if you have them, on the same voxel grid)")
    parser.add_argument("--pre", metavar="NIFTI",
                        help="the pre-contrast T1 volume to go with --flair (default: FLAIR "
                             "stands in for it, as in the LGG dataset)")
    parser.add_argument("--post", metavar="NIFTI",
                        help="the post-contrast T1 volume to go with --flair (default: FLAIR "
                             "stands in for it)")
    parser.add_argument("--out", required=True, help="folder for the masks, overlays and "
                                                     "summary.json (created if needed)")
    cli.add_prediction_arguments(parser)
    parser.add_argument("--gradcam", action="store_true",
                        help="also write <slice name>_gradcam.png, a Grad-CAM heat map of the "
                             "classifier's tumour decision (image slices only; needs a "
                             "classifier: --classifier, or the shipped one when no model is "
                             "given)")
    parser.add_argument("--probabilities", action="store_true",
                        help="NIfTI input: also write <scan>_pred_prob.nii.gz, the segmenter's "
                             "tumour probability of every voxel (float32; 0 on slices the "
                             "classifier calls tumour-free)")
    parser.add_argument("--html", metavar="FILE",
                        help="also write a self-contained HTML page: each patient's tumour "
                             "size and a slice viewer through all its slices (about 23 kB a "
                             "256x256 slice)")
    parser.add_argument("--batch-size", type=cli.positive_int, default=8,
                        help="slices per forward pass (default 8; lower it if memory is short)")
    return parser


def main(argv=None, prog=None):
    """Run ``tinynet predict`` on ``argv`` (default: the command line); returns the exit code.

    Bad input exits with code 2 and one line on stderr, ``<prog>: error: ...``.
    """
    return cli.run_main(lambda argv: run(build_parser(prog).parse_args(argv)), argv, prog)


def run(args):
    """Predict ``args.input`` (slices or a NIfTI scan) and write the outputs under ``args.out``."""
    nifti = _check_input_arguments(args)
    if args.gradcam and args.classifier is None and args.segmenter is not None:
        raise cli.UsageError("--gradcam explains the classifier's decision: give --classifier")
    device = cli.check_device(args.device)
    cli.check_output_folder("--out", args.out)      # before any model is read
    cli.check_output_file("--html", args.html)
    out = Path(args.out)
    if nifti:        # read (and check) every file before the models and before any output
        scan = read_scan(args.input) if args.input else \
            read_sequences(args.flair, args.pre, args.post)
    else:
        # --out may lie inside the input folder: never predict our own earlier outputs.
        slices = [(path, name) for path, name in find_slice_files(args.input)
                  if out.resolve() not in path.resolve().parents]
    # The files actually used (the shipped weights when none is given), for summary.json.
    shipped = args.classifier is None and args.segmenter is None
    args.classifier, args.segmenter = resolve_checkpoints(args.classifier, args.segmenter)
    # The shipped models come with their pipeline settings, chosen by cross-validation.
    cli.apply_shipped_settings(args, shipped, weights_folder())
    classifier, segmenter = load_models(args.classifier, args.segmenter, device)
    if args.gradcam and classifier is None:
        raise cli.UsageError("--gradcam explains the classifier's decision: give --classifier")
    if args.probabilities and segmenter is None:
        raise cli.UsageError("--probabilities writes the segmenter's probabilities: give "
                             "--segmenter")
    predictor = TwoStagePredictor(classifier, segmenter, cls_threshold=args.cls_threshold,
                                  seg_threshold=args.seg_threshold, min_area=args.min_area,
                                  rule=args.rule,
                                  min_component=args.min_component, tta=args.tta,
                                  area_size=args.area_size,
                                  device=device, cls_batch_size=args.batch_size,
                                  seg_batch_size=args.batch_size)
    out.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    if nifti:
        summary, viewers = _predict_scan(args, predictor, scan, out)
    else:
        summary, viewers = _predict_slice_files(args, predictor, classifier, slices, out)
    summary["seconds"] = round(time.perf_counter() - start, 3)
    if args.html:
        save_prediction_html(args.html, summary, viewers)
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    print(f"{summary['slices_positive']} of {summary['slices_total']} slices called tumour; "
          f"results in {out}/ (summary.json)")
    return 0


def _check_input_arguments(args):
    """Which input was given: True for NIfTI (a 4-D file or --flair), False for slices."""
    if args.flair is None and (args.pre or args.post):
        flag = "--pre" if args.pre else "--post"
        raise cli.UsageError(f"{flag} goes with --flair (a missing pre- or post-contrast "
                             "volume is replaced by FLAIR, but FLAIR itself is needed)")
    if args.input is None and args.flair is None:
        raise cli.UsageError("give an INPUT (slices, a folder or a NIfTI scan) or --flair NIFTI")
    if args.input is not None and args.flair is not None:
        raise cli.UsageError(f"give either INPUT ({args.input}) or --flair, not both")
    nifti = args.flair is not None or is_nifti(args.input)
    if nifti and args.gradcam:
        raise cli.UsageError("--gradcam works on image slices, not on NIfTI scans")
    if not nifti and args.probabilities:
        raise cli.UsageError("--probabilities writes a NIfTI probability volume: it needs a "
                             "NIfTI scan as input")
    return nifti


# ---------------------------------------------------------------------------
# Image slices: one PNG mask and overlay per slice
# ---------------------------------------------------------------------------

def _predict_slice_files(args, predictor, classifier, slices, out):
    """Predict image slices chunk by chunk: (summary dict, viewers for --html).

    The slices of one folder are one patient's volume: a model normalized per volume
    sees all of them at once (``volume=``); other models read only a chunk at a time.
    """
    records, sizes, frames = [], {}, {}
    chunk_size = max(CHUNK, args.batch_size)
    with tqdm(total=len(slices), unit="slice", desc="predict", disable=None) as bar:
        for chunk, images, volume, positions in _slice_chunks(slices, args.input, chunk_size,
                                                              predictor.needs_volume):
            result = predictor(images, volume=volume, positions=positions)
            heatmaps = grad_cam(*classifier, images, predictor.device, args.batch_size,
                                volume=volume, positions=positions) if args.gradcam else None
            for k, (path, name) in enumerate(chunk):
                record = write_outputs(out, path, name, images[k], result, k,
                                       None if heatmaps is None else heatmaps[k])
                records.append(record)
                patient = _patient_of(name, args.input)
                if result.masks is not None:
                    sizes.setdefault(patient, TumourMeasure()).add(result.masks[k])
                if args.html:
                    frames.setdefault(patient, []).append(viewer.viewer_frame(
                        images[k], _slice_caption(name.rsplit("/", 1)[-1], record),
                        None if result.masks is None else result.masks[k]))
            bar.update(len(chunk))

    slice_counts = Counter(_patient_of(r["name"], args.input) for r in records)
    patients = sorted(slice_counts)
    summary = {"input": str(args.input), "classifier": args.classifier,
               "segmenter": args.segmenter, **predictor.settings(),
               "slices_total": len(records),
               "slices_positive": sum(r["positive"] for r in records),
               "size_units": PIXEL_UNITS_NOTE,
               "patients": [{"patient": p, "slices": slice_counts[p],
                             "tumour_size": sizes[p].result() if p in sizes else None}
                            for p in patients],
               "slices": records}
    viewers = [viewer.slice_viewer(frames[p], p, _busiest(records, args.input, p))
               for p in patients] if args.html else []
    return summary, viewers


def _slice_chunks(slices, input_path, chunk_size, whole_volumes):
    """Yield (chunk of (path, name), their images, the volume or None, the chunk's positions
    in it), patient by patient (patients in the order of their first slice; a patient's
    slices in their order).

    A chunk never mixes patients.  With ``whole_volumes`` every image of the patient is
    read first and given as the volume; else only the chunk's images are read.
    """
    if whole_volumes and Path(input_path).is_file() and slices:
        yield _lone_slice_in_its_scan(slices[0])        # one file: its scan is its folder
        return
    by_patient = {}
    for entry in slices:
        by_patient.setdefault(_patient_of(entry[1], input_path), []).append(entry)
    for group in by_patient.values():
        volume = [read_slice(path) for path, _ in group] if whole_volumes else None
        for first in range(0, len(group), chunk_size):
            chunk = group[first:first + chunk_size]
            images = volume[first:first + chunk_size] if whole_volumes else \
                [read_slice(path) for path, _ in chunk]
            yield chunk, images, volume, np.arange(first, first + len(chunk))


def _lone_slice_in_its_scan(entry):
    """One slice file given alone, for a model that needs its volume: (chunk, images, volume,
    positions) as ``_slice_chunks`` yields them.

    A slice of a kaggle_3m patient folder (``<patient>/<patient>_<n>.tif``) is predicted
    within the patient's slices there, as if the folder had been given: the same
    normalization and neighbours, so the same answer.  Any other lone image is its own
    volume of one slice, and a note says so.
    """
    path, _ = entry
    scan = _kaggle3m_scan_of(path)
    if scan is None:
        print(f"note: {path} is predicted on its own: the model needs the other slices of its "
              "scan (it measures the scan's intensities, or reads the neighbouring slices), "
              "and this file is not a <patient>_<n> slice in a folder of that patient; give "
              "the scan's folder to use them", file=sys.stderr)
        image = read_slice(path)
        return [entry], [image], [image], np.arange(1)
    files, position = scan
    volume = [read_slice(p) for p in files]
    print(f"note: {path.name} is predicted within its scan ({len(files)} slices of "
          f"{files[0].parent.name}), whose intensities and neighbours the model needs",
          file=sys.stderr)
    return [entry], [volume[position]], volume, np.array([position])


def _kaggle3m_scan_of(path):
    """(the slice files of the kaggle_3m patient folder holding ``path``, in slice order;
    the position of ``path`` among them), or None when ``path`` is not named
    ``<folder>_<n>.<suffix>`` inside such a folder."""
    folder = Path(path).absolute().parent           # "." and ".." have no patient name
    number = _kaggle3m_slice_number(path)
    if number is None:
        return None
    suffix = Path(path).suffix.lower()
    siblings = sorted((p for p in folder.glob(f"{glob.escape(folder.name)}_*")
                       if p.is_file() and p.suffix.lower() == suffix
                       and _kaggle3m_slice_number(p) is not None), key=_kaggle3m_slice_number)
    numbers = [_kaggle3m_slice_number(p) for p in siblings]
    return (siblings, numbers.index(number)) if number in numbers else None


def _kaggle3m_slice_number(path):
    """n of a file named ``<folder>_<n>.<suffix>`` in its folder ``<folder>`` (a kaggle_3m
    patient's slice), else None."""
    folder = Path(path).absolute().parent
    match = re.fullmatch(re.escape(folder.name) + r"_([0-9]+)", Path(path).stem)
    return int(match.group(1)) if match else None


def write_outputs(out, path, name, image, result, k, heatmap):
    """Write slice k's PNGs under ``out`` and return its summary.json record."""
    (out / name).parent.mkdir(parents=True, exist_ok=True)
    record = {"path": str(path), "name": name,
              "tumour_probability": round(float(result.probability[k]), 6),
              "positive": bool(result.positive[k]), "tumour_area_pixels": None,
              "largest_extent_pixels": None}
    if result.masks is not None:
        mask = result.masks[k]
        viz.save_png((mask * 255).astype(np.uint8), out / f"{name}_pred_mask.png")
        viz.save_png(viz.overlay(image, mask), out / f"{name}_overlay.png")
        record["tumour_area_pixels"] = int(result.area[k])
        record["largest_extent_pixels"] = round(largest_extent(mask), 3)
    if heatmap is not None:
        viz.save_png(viz.heatmap_overlay(image, heatmap), out / f"{name}_gradcam.png")
    return record


def _patient_of(name, input_path):
    """The patient of a slice: its folder ("TCGA_CS_4943_20000902/..._12" -> the folder's
    name); for slices not in a sub-folder the input's own name, except a lone file of a
    kaggle_3m patient folder ("TCGA_CS_4943_20000902/TCGA_CS_4943_20000902_12.tif" given
    alone), whose patient is its folder, as if the folder had been given."""
    folder = PurePosixPath(name).parent.as_posix()
    if folder != ".":
        return folder
    lone = Path(input_path)
    if lone.is_file() and _kaggle3m_slice_number(lone) is not None:
        return lone.absolute().parent.name
    return lone.name


def _busiest(records, input_path, patient):
    """The index, among ``patient``'s slices, of the one with the largest predicted tumour."""
    return viewer.busiest_slice([r["tumour_area_pixels"] or 0 for r in records
                                 if _patient_of(r["name"], input_path) == patient])


def _slice_caption(label, record):
    """A viewer caption: the slice, its tumour probability and call, the predicted area."""
    call = "tumour" if record["positive"] else "no tumour"
    area = record["tumour_area_pixels"]
    return (f"{label}: tumour probability {record['tumour_probability']:.3f} ({call})"
            + ("" if area is None else f", prediction {area} px"))


# ---------------------------------------------------------------------------
# A NIfTI scan: mask (and probability) volumes on the scan's grid
# ---------------------------------------------------------------------------

def _predict_scan(args, predictor, scan, out):
    """Predict every axial slice of ``scan``: (summary dict, viewers for --html)."""
    slices = scan.axial_slices()
    with tqdm(total=len(slices), unit="slice", desc="predict", disable=None) as bar:
        result = predict_scan(predictor, slices, scan.spacing_mm,
                              chunk_size=max(CHUNK, args.batch_size), progress=bar.update)
    outputs, size = {}, None
    if result.masks is not None:
        outputs["mask"] = scan.save_like(result.masks, out / f"{scan.name}_pred_mask.nii.gz",
                                         "tinynet tumour mask (0/1)")
        if args.probabilities:
            outputs["probabilities"] = scan.save_like(
                result.pixel_probabilities, out / f"{scan.name}_pred_prob.nii.gz",
                "tinynet tumour probability")
        size = tumour_size(result.masks, scan.spacing_mm)

    records = []
    for k in range(len(slices)):
        area = None if result.masks is None else int(result.masks[k].sum())
        records.append({"slice": k + 1,
                        "tumour_probability": round(float(result.probability[k]), 6),
                        "positive": bool(result.positive[k]), "tumour_area_pixels": area})
    summary = {"input": scan.sources.get("scan", scan.sources), "classifier": args.classifier,
               "segmenter": args.segmenter, **predictor.settings(),
               "scan": {"name": scan.name, "shape": list(scan.shape),
                        "voxel_axes": scan.view.codes,
                        "axial_slices": [int(n) for n in slices.shape[:3]],
                        "spacing_mm": [round(s, 6) for s in scan.spacing_mm],
                        "in_plane_padding": [list(p) for p in result.padding]},
               "outputs": outputs,
               "slices_total": len(records),
               "slices_positive": sum(r["positive"] for r in records),
               "size_units": "millilitres and millimetres, from the voxel spacing of the "
                             "NIfTI header",
               "patients": [{"patient": scan.name, "slices": len(records), "tumour_size": size}],
               "slices": records}
    viewers = [_scan_viewer(scan, slices, result, records)] if args.html else []
    return summary, viewers


def _scan_viewer(scan, slices, result, records):
    """The slice viewer of a scan: every axial slice, from the feet up, prediction outlined."""
    frames = [viewer.viewer_frame(slices[k], _slice_caption(
                  f"axial slice {k + 1} of {len(slices)} (feet to head)", record),
                  None if result.masks is None else result.masks[k])
              for k, record in enumerate(records)]
    start = viewer.busiest_slice([record["tumour_area_pixels"] or 0 for record in records])
    return viewer.slice_viewer(frames, scan.name, start)
