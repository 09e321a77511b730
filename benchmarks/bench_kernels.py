"""Kernel benchmark: conv2d, conv_transpose2d and batch_norm, tinynet vs PyTorch.

For each op and shape: forward, and forward+backward (input and weight
gradients), in ms; GFLOP/s and share of NumPy's GEMM peak for convolutions;
the ratio tinynet / PyTorch when torch is importable (the two are timed
alternately).  float32, batch 8 unless ``--batch``.

    python benchmarks/bench_kernels.py            # full run
    python benchmarks/bench_kernels.py --quick    # fewer repeats, smaller batch
    python benchmarks/bench_kernels.py --json out.json
"""
import argparse

import numpy as np

from common import (alternate, gemm_peak_gflops, geometric_mean, machine_description,
                    print_table, try_import_torch, write_json)

import tinynet as tn
from tinynet import ops

# (name, C_in, C_out, H=W, kernel, stride, padding)
CONV_SHAPES = [
    ("resunet 3->16@256", 3, 16, 256, 3, 1, 1),
    ("resunet 16->32@128", 16, 32, 128, 3, 1, 1),
    ("resunet 32->64@64", 32, 64, 64, 3, 1, 1),
    ("resunet 64->128@32", 64, 128, 32, 3, 1, 1),
    ("resunet 128->256@16", 128, 256, 16, 3, 1, 1),
    ("resnet conv1 3->64@224 7x7s2", 3, 64, 224, 7, 2, 3),
    ("resnet 64->64@56", 64, 64, 56, 3, 1, 1),
    ("resnet 128->128@28", 128, 128, 28, 3, 1, 1),
    ("resnet 256->256@14", 256, 256, 14, 3, 1, 1),
    ("resnet 512->512@7", 512, 512, 7, 3, 1, 1),
]
# (name, C_in, C_out, H=W) for conv_transpose2d kernel 2 stride 2
TRANSPOSE_SHAPES = [("convT k2s2 256->128@16", 256, 128, 16), ("convT k2s2 64->32@64", 64, 32, 64)]
# (name, C, H=W) for batch_norm in training mode
BN_SHAPES = [("bn 16@256", 16, 256), ("bn 64@64", 64, 64), ("bn 256@16", 256, 16)]


def conv_flops(n, cin, cout, out_side, k):
    return 2 * n * cout * out_side * out_side * cin * k * k


def bench_conv(torch, n, repeats, peak):
    rows = []
    rng = np.random.default_rng(0)
    for name, cin, cout, side, k, stride, pad in CONV_SHAPES:
        x = rng.standard_normal((n, cin, side, side)).astype(np.float32)
        w = (rng.standard_normal((cout, cin, k, k)) * 0.1).astype(np.float32)
        tx, tw = tn.tensor(x, requires_grad=True), tn.tensor(w, requires_grad=True)
        out_side = (side + 2 * pad - k) // stride + 1
        flops = conv_flops(n, cin, cout, out_side, k)

        def ours_fwd():
            with tn.no_grad():
                ops.conv2d(tx, tw, stride=stride, padding=pad)

        def ours_fwd_bwd():
            tx.grad = tw.grad = None
            ops.conv2d(tx, tw, stride=stride, padding=pad).sum().backward()

        theirs_fwd = theirs_fwd_bwd = None
        if torch is not None:
            px = torch.from_numpy(x).requires_grad_()
            pw = torch.from_numpy(w).requires_grad_()

            def theirs_fwd():
                with torch.no_grad():
                    torch.nn.functional.conv2d(px, pw, stride=stride, padding=pad)

            def theirs_fwd_bwd():
                px.grad = pw.grad = None
                torch.nn.functional.conv2d(px, pw, stride=stride, padding=pad).sum().backward()

        rows += measure(name, ours_fwd, theirs_fwd, ours_fwd_bwd, theirs_fwd_bwd, repeats,
                        flops, peak)
    return rows


def bench_conv_transpose(torch, n, repeats, peak):
    rows = []
    rng = np.random.default_rng(0)
    for name, cin, cout, side in TRANSPOSE_SHAPES:
        x = rng.standard_normal((n, cin, side, side)).astype(np.float32)
        w = (rng.standard_normal((cin, cout, 2, 2)) * 0.1).astype(np.float32)
        tx, tw = tn.tensor(x, requires_grad=True), tn.tensor(w, requires_grad=True)
        flops = conv_flops(n, cout, cin, side, 2)  # same work as the conv it transposes

        def ours_fwd():
            with tn.no_grad():
                ops.conv_transpose2d(tx, tw, stride=2)

        def ours_fwd_bwd():
            tx.grad = tw.grad = None
            ops.conv_transpose2d(tx, tw, stride=2).sum().backward()

        theirs_fwd = theirs_fwd_bwd = None
        if torch is not None:
            px = torch.from_numpy(x).requires_grad_()
            pw = torch.from_numpy(w).requires_grad_()

            def theirs_fwd():
                with torch.no_grad():
                    torch.nn.functional.conv_transpose2d(px, pw, stride=2)

            def theirs_fwd_bwd():
                px.grad = pw.grad = None
                torch.nn.functional.conv_transpose2d(px, pw, stride=2).sum().backward()

        rows += measure(name, ours_fwd, theirs_fwd, ours_fwd_bwd, theirs_fwd_bwd, repeats,
                        flops, peak)
    return rows


def bench_batch_norm(torch, n, repeats):
    rows = []
    rng = np.random.default_rng(0)
    for name, c, side in BN_SHAPES:
        x = rng.standard_normal((n, c, side, side)).astype(np.float32)
        tx = tn.tensor(x, requires_grad=True)
        tw = tn.tensor(np.ones(c, np.float32), requires_grad=True)
        tb = tn.tensor(np.zeros(c, np.float32), requires_grad=True)
        rm, rv = np.zeros(c, np.float32), np.ones(c, np.float32)

        def ours_fwd():
            with tn.no_grad():
                ops.batch_norm(tx, rm, rv, tw, tb, training=True)

        def ours_fwd_bwd():
            tx.grad = tw.grad = tb.grad = None
            ops.batch_norm(tx, rm, rv, tw, tb, training=True).sum().backward()

        theirs_fwd = theirs_fwd_bwd = None
        if torch is not None:
            px = torch.from_numpy(x).requires_grad_()
            pw = torch.ones(c, requires_grad=True)
            pb = torch.zeros(c, requires_grad=True)
            prm, prv = torch.zeros(c), torch.ones(c)

            def theirs_fwd():
                with torch.no_grad():
                    torch.nn.functional.batch_norm(px, prm, prv, pw, pb, training=True)

            def theirs_fwd_bwd():
                px.grad = pw.grad = pb.grad = None
                torch.nn.functional.batch_norm(px, prm, prv, pw, pb, training=True).sum().backward()

        rows += measure(name, ours_fwd, theirs_fwd, ours_fwd_bwd, theirs_fwd_bwd, repeats)
    return rows


def measure(name, ours_fwd, theirs_fwd, ours_fwd_bwd, theirs_fwd_bwd, repeats, flops=None,
            peak=None):
    rows = []
    for mode, ours, theirs, work in [("fwd", ours_fwd, theirs_fwd, flops),
                                     ("fwd+bwd", ours_fwd_bwd, theirs_fwd_bwd,
                                      None if flops is None else 3 * flops)]:
        t_ours, t_theirs = alternate(ours, theirs, repeats)
        row = {"op": name, "mode": mode, "tinynet ms": t_ours * 1e3,
               "torch ms": None if t_theirs is None else t_theirs * 1e3,
               "ratio": None if t_theirs is None else t_ours / t_theirs}
        if work is not None:
            row["GFLOP/s"] = work / t_ours / 1e9
            row["% peak"] = 100 * row["GFLOP/s"] / peak
        rows.append(row)
        print(f"  {name:32s} {mode:8s} {row['tinynet ms']:9.2f} ms"
              + ("" if t_theirs is None else f"  torch {t_theirs * 1e3:9.2f} ms  "
                 f"ratio {row['ratio']:.2f}"), flush=True)
    return rows


def summarize(rows, prefix):
    ratios = [r["ratio"] for r in rows if r["mode"] == "fwd+bwd" and r["op"].startswith(prefix)]
    if not ratios or None in ratios:
        return None
    return {"geomean": geometric_mean(ratios), "worst": max(ratios)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats, batch 2")
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    args = parser.parse_args(argv)
    n = args.batch or (2 if args.quick else 8)
    repeats = args.repeats or (3 if args.quick else 7)
    torch = None if args.no_torch else try_import_torch()

    print(f"machine: {machine_description()}")
    peak = gemm_peak_gflops()
    print(f"NumPy float32 GEMM peak: {peak:.0f} GFLOP/s; batch {n}; median of {repeats}; "
          f"torch {'not installed' if torch is None else torch.__version__}\n")
    rows = bench_conv(torch, n, repeats, peak)
    rows += bench_conv_transpose(torch, n, repeats, peak)
    rows += bench_batch_norm(torch, n, repeats)
    print()
    print_table(rows, ["op", "mode", "tinynet ms", "torch ms", "ratio", "GFLOP/s", "% peak"])
    summary = {"conv2d": summarize(rows, "res"), "conv_transpose2d": summarize(rows, "convT"),
               "batch_norm": summarize(rows, "bn")}
    if torch is not None:
        print("\nfwd+bwd time ratio tinynet/torch:")
        for op, s in summary.items():
            print(f"  {op:18s} geometric mean {s['geomean']:.2f}x, worst {s['worst']:.2f}x")
    write_json(args.json, {"machine": machine_description(), "gemm_peak_gflops": peak,
                           "batch": n, "repeats": repeats, "rows": rows, "summary": summary})


if __name__ == "__main__":
    main()
