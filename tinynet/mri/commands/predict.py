"""``tinynet predict``: find and outline brain tumours in MRI slices with trained models.

    tinynet predict slice.tif --out pred        # the shipped models (tinynet/mri/weights/)
    tinynet predict slice.tif --out pred --classifier runs/classifier/best.npz \
        --segmenter runs/resunet/best.npz
    tinynet predict kaggle_3m/ --out pred --segmenter runs/resunet/best.npz --tta
    tinynet predict slices/ --out pred --classifier runs/classifier/best.npz --gradcam

(``python -m tinynet predict`` and ``python examples/predict.py`` are the same command.)
Stage 1, the classifier, gives each slice a tumour probability; stage 2, the
segmenter, outlines the tumour on the slices called positive.  For every
slice, under --out (a folder's sub-folder layout is kept):

    <slice name>_pred_mask.png   8-bit mask, 0 or 255, the slice's own size
                                 (all zero where the slice is called tumour-free)
    <slice name>_overlay.png     the slice with the predicted tumour outlined in red
    <slice name>_gradcam.png     with --gradcam: where the classifier looked

and summary.json (written atomically): per slice its path, tumour probability,
call and tumour area in pixels, plus the checkpoints and thresholds used.  With
a classifier alone there are no masks: only summary.json (and the Grad-CAM maps).
"""
import json
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tinynet.io import atomic_write_text
from .. import cli, viz
from ..data import IMAGE_SUFFIXES, find_slice_files, read_slice
from ..gradcam import grad_cam
from ..inference import TwoStagePredictor, load_models, resolve_checkpoints

__all__ = ["build_parser", "main", "run", "write_outputs"]


def build_parser(prog=None):
    """The argument parser of ``tinynet predict`` (``prog``: the name its messages use)."""
    parser = cli.ArgumentParser(
        prog=prog,
        description="Two-stage tumour prediction on brain MRI slices: a classifier says which "
                    "slices show a tumour, a segmenter outlines it.",
        epilog="Exit codes: 0 done, 2 bad arguments, input or checkpoint.")
    parser.add_argument("input", type=cli.existing_path,
                        help=f"one slice ({', '.join(IMAGE_SUFFIXES)}), a folder of slices, or "
                             "a kaggle_3m folder of patients (searched recursively; files "
                             "ending in _mask are ignored). Images are read as 8-bit RGB; a "
                             "grayscale image is repeated into the 3 channels")
    parser.add_argument("--out", required=True, help="folder for the masks, overlays and "
                                                     "summary.json (created if needed)")
    cli.add_prediction_arguments(parser)
    parser.add_argument("--gradcam", action="store_true",
                        help="also write <slice name>_gradcam.png, a Grad-CAM heat map of the "
                             "classifier's tumour decision (needs a classifier: --classifier, "
                             "or the shipped one when no model is given)")
    parser.add_argument("--batch-size", type=cli.positive_int, default=8,
                        help="slices per forward pass (default 8; lower it if memory is short)")
    return parser


def main(argv=None, prog=None):
    """Run ``tinynet predict`` on ``argv`` (default: the command line); returns the exit code.

    Bad input exits with code 2 and one line on stderr, ``<prog>: error: ...``.
    """
    return cli.run_main(lambda argv: run(build_parser(prog).parse_args(argv)), argv, prog)


def run(args):
    """Predict every slice of ``args.input`` and write the outputs under ``args.out``."""
    if args.gradcam and args.classifier is None and args.segmenter is not None:
        raise cli.UsageError("--gradcam explains the classifier's decision: give --classifier")
    device = cli.check_device(args.device)
    cli.check_output_folder("--out", args.out)      # before any model is read
    out = Path(args.out)
    # --out may lie inside the input folder: never predict our own earlier outputs.
    slices = [(path, name) for path, name in find_slice_files(args.input)
              if out.resolve() not in path.resolve().parents]
    # The files actually used (the shipped weights when none is given), for summary.json.
    args.classifier, args.segmenter = resolve_checkpoints(args.classifier, args.segmenter)
    classifier, segmenter = load_models(args.classifier, args.segmenter, device)
    if args.gradcam and classifier is None:
        raise cli.UsageError("--gradcam explains the classifier's decision: give --classifier")
    predictor = TwoStagePredictor(classifier, segmenter, cls_threshold=args.cls_threshold,
                                  seg_threshold=args.seg_threshold, min_area=args.min_area,
                                  min_component=args.min_component, tta=args.tta,
                                  device=device, cls_batch_size=args.batch_size,
                                  seg_batch_size=args.batch_size)
    out.mkdir(parents=True, exist_ok=True)

    start, records = time.perf_counter(), []
    chunk_size = max(32, args.batch_size)        # slices read and predicted at a time
    with tqdm(total=len(slices), unit="slice", desc="predict", disable=None) as bar:
        for first in range(0, len(slices), chunk_size):
            chunk = slices[first:first + chunk_size]
            images = [read_slice(path) for path, _ in chunk]
            result = predictor(images)
            heatmaps = grad_cam(*classifier, images, device, args.batch_size) \
                if args.gradcam else None
            for k, (path, name) in enumerate(chunk):
                records.append(write_outputs(out, path, name, images[k], result, k,
                                             None if heatmaps is None else heatmaps[k]))
            bar.update(len(chunk))

    summary = {"input": str(args.input), "classifier": args.classifier,
               "segmenter": args.segmenter, **predictor.settings(),
               "slices_total": len(records),
               "slices_positive": sum(r["positive"] for r in records),
               "seconds": round(time.perf_counter() - start, 3), "slices": records}
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    print(f"{summary['slices_positive']} of {len(records)} slices called tumour; "
          f"results in {out}/ (summary.json)")
    return 0


def write_outputs(out, path, name, image, result, k, heatmap):
    """Write slice k's PNGs under ``out`` and return its summary.json record."""
    (out / name).parent.mkdir(parents=True, exist_ok=True)
    record = {"path": str(path), "name": name,
              "tumour_probability": round(float(result.probability[k]), 6),
              "positive": bool(result.positive[k]), "tumour_area_pixels": None}
    if result.masks is not None:
        mask = result.masks[k]
        viz.save_png((mask * 255).astype(np.uint8), out / f"{name}_pred_mask.png")
        viz.save_png(viz.overlay(image, mask), out / f"{name}_overlay.png")
        record["tumour_area_pixels"] = int(result.area[k])
    if heatmap is not None:
        viz.save_png(viz.heatmap_overlay(image, heatmap), out / f"{name}_gradcam.png")
    return record
