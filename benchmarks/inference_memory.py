"""Peak memory of one ResUNet inference forward pass (no_grad, eval mode), in a fresh process.

    python benchmarks/inference_memory.py [--batch 8] [--side 256]

Two measurements of the same forward pass:

* ``rss``: the peak resident size (``getrusage(...).ru_maxrss``) over the
  resident size just before the forward pass: everything the pass touched,
  NumPy buffers, OpenBLAS scratch and the allocator's slack included.  Run in a
  child process so that the peak is this pass's, not an earlier one's.
* ``traced``: the peak of ``tracemalloc`` during the pass over its size before.
  NumPy reports its data buffers to tracemalloc (since NumPy 1.13), so this is
  the arrays alone, without allocator or BLAS overhead.

The model is built before the measurement starts; its weights are in both baselines.
"""
import argparse
import os
import resource
import subprocess
import sys
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent


def current_rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(batch, side):
    """Print 'rss <MiB> traced <MiB>' for one forward pass of this process."""
    sys.path.insert(0, str(HERE.parent))
    import numpy as np
    import tinynet as tn
    from tinynet.models import ResUNet

    net = ResUNet()
    net.eval()
    x = tn.tensor(np.random.default_rng(0).standard_normal((batch, 3, side, side))
                  .astype(np.float32))
    with tn.no_grad():          # warm-up at a small size: imports, BLAS thread start
        net(tn.tensor(x.data[:1, :, :32, :32]))
    tracemalloc.start()
    traced_before = tracemalloc.get_traced_memory()[0]
    rss_before = current_rss_mib()
    with tn.no_grad():
        y = net(x)
    traced_peak = tracemalloc.get_traced_memory()[1]
    rss_peak = peak_rss_mib()
    assert y.shape == (batch, 1, side, side)
    print(f"rss {rss_peak - rss_before:.0f} traced {(traced_peak - traced_before) / 2**20:.0f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--side", type=int, default=256)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        measure(args.batch, args.side)
        return
    out = subprocess.run([sys.executable, __file__, "--child", "--batch", str(args.batch),
                          "--side", str(args.side)], check=True, capture_output=True, text=True)
    _, rss, _, traced = out.stdout.split()
    input_mib = args.batch * 3 * args.side * args.side * 4 / 2**20
    print(f"ResUNet inference, batch {args.batch} at {args.side}x{args.side}, float32 "
          f"(input {input_mib:.0f} MiB): peak +{rss} MiB resident, +{traced} MiB traced")


if __name__ == "__main__":
    main()
