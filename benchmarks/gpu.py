"""The GPU side of the benchmarks: CUDA-event timing, peak device memory, TF32, the card's name.

Only ``--device gpu`` runs import this module, and every function imports
CuPy or PyTorch itself, so that the PyTorch worker never loads CuPy and the
CPU benchmarks load neither.

Timing.  A GPU runs its kernels asynchronously: a host clock read right after
a call measures how long the launches took, not the work.  Each timed call is
bracketed by two CUDA events recorded on the current stream, the end event is
waited for, and the time between them on the GPU's own clock is the call's
time.  Host work inside the call (Python, a ``.item()``) is counted too, as
the gap it leaves on the GPU's timeline, which is what a training loop sees.

Memory.  Both frameworks keep freed device memory in a pool for reuse, so the
numbers compared are the pools' *allocated* bytes (what arrays hold), at their
highest during one call: ``torch.cuda.max_memory_allocated`` for PyTorch, and
for CuPy, which keeps no high-water mark, a memory hook that adds up what the
pool hands out and takes back during the call.  The pools' reserved bytes
(``total_bytes`` / ``max_memory_reserved``) are reported beside them.

TF32.  Hopper's tensor cores run float32 GEMMs and convolutions much faster
with 10-bit mantissas (TF32).  PyTorch allows it for cuDNN convolutions by
default and CuPy only when ``CUPY_TF32=1``; the benchmarks set both
frameworks explicitly: full float32 unless ``--tf32``.
"""
import os
import statistics

MIB = 2 ** 20


# ---------------------------------------------------------------------------
# The card
# ---------------------------------------------------------------------------

def card_name():
    """The GPU's name as CUDA reports it, e.g. ``"NVIDIA H200"``."""
    import cupy
    name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def _cuda_version(number):
    """CUDA's integer version (13000) as text ("13.0")."""
    return f"{number // 1000}.{number % 1000 // 10}"


def gpu_description():
    """One line about GPU 0: name, memory, multiprocessors, CUDA versions, CuPy version."""
    import cupy
    runtime = cupy.cuda.runtime
    props = runtime.getDeviceProperties(0)
    return (f"{card_name()}, {props['totalGlobalMem'] / 2 ** 30:.0f} GiB, "
            f"{props['multiProcessorCount']} SMs, CUDA runtime "
            f"{_cuda_version(runtime.runtimeGetVersion())}, driver "
            f"{_cuda_version(runtime.driverGetVersion())}, CuPy {cupy.__version__}")


def framework_info(framework, tf32):
    """What a GPU worker ran on: library versions, the card, the math mode."""
    if framework == "tinynet":
        import cupy
        return {"card": card_name(), "cupy": cupy.__version__, "tf32": tf32}
    import torch
    return {"card": torch.cuda.get_device_name(0), "torch": torch.__version__,
            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
            "cudnn_benchmark": torch.backends.cudnn.benchmark, "tf32": tf32}


# ---------------------------------------------------------------------------
# Math mode, set before the first GEMM
# ---------------------------------------------------------------------------

def set_cupy_tf32(enabled):
    """Allow (or forbid) TF32 in CuPy's float32 GEMMs, whatever the environment said.

    CuPy reads ``CUPY_TF32`` at its first float32 matmul, so this must run
    before tinynet does any work on the GPU.
    """
    os.environ["CUPY_TF32"] = "1" if enabled else "0"


def configure_torch(torch, tf32):
    """cuDNN autotuning on (as training scripts do) and TF32 on or off for matmul and conv."""
    torch.backends.cudnn.benchmark = True
    precision = "tf32" if tf32 else "ieee"
    if hasattr(torch.backends.cuda.matmul, "fp32_precision"):  # PyTorch >= 2.9
        torch.backends.cuda.matmul.fp32_precision = precision
        torch.backends.cudnn.conv.fp32_precision = precision
    else:
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32


# ---------------------------------------------------------------------------
# Timing with CUDA events
# ---------------------------------------------------------------------------

def _event_timer(new_event, elapsed_ms, synchronize):
    """A ``time_calls(fn, repeats)`` that returns each call's seconds on the GPU's clock."""
    def time_calls(fn, repeats):
        times = []
        for _ in range(repeats):
            synchronize()  # nothing queued earlier may land inside this call's span
            start, end = new_event(), new_event()
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(elapsed_ms(start, end) / 1e3)
        return times
    return time_calls


def event_timer(framework):
    """The CUDA-event ``time_calls`` of ``framework`` ("tinynet" on CuPy, or "torch")."""
    if framework == "tinynet":
        import cupy
        return _event_timer(cupy.cuda.Event, cupy.cuda.get_elapsed_time,
                            cupy.cuda.Device().synchronize)
    import torch
    return _event_timer(lambda: torch.cuda.Event(enable_timing=True),
                        lambda start, end: start.elapsed_time(end), torch.cuda.synchronize)


# ---------------------------------------------------------------------------
# Peak device memory of one call
# ---------------------------------------------------------------------------

def _cupy_peak_hook():
    """A CuPy memory hook that follows the default pool's used bytes and keeps their maximum."""
    import cupy

    class PeakUsedBytes(cupy.cuda.MemoryHook):
        name = "tinynet_benchmark_peak_used_bytes"

        def __enter__(self):
            self.used = self.peak = cupy.get_default_memory_pool().used_bytes()
            return super().__enter__()

        def malloc_postprocess(self, **kwargs):  # the pool handed out mem_size bytes
            self.used += kwargs["mem_size"]
            self.peak = max(self.peak, self.used)

        def free_postprocess(self, **kwargs):  # ... and took them back
            self.used -= kwargs["mem_size"]

    return PeakUsedBytes()


def peak_memory(framework, fn):
    """Run ``fn`` once; return (peak allocated bytes, reserved bytes) of the framework's pool.

    The peak counts everything alive during the call (weights, optimizer
    state, inputs), not only what the call itself allocates.
    """
    if framework == "tinynet":
        import cupy
        hook = _cupy_peak_hook()
        with hook:
            fn()
            cupy.cuda.Device().synchronize()
        return hook.peak, cupy.get_default_memory_pool().total_bytes()
    import torch
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated(), torch.cuda.max_memory_reserved()


# ---------------------------------------------------------------------------
# The roof for convolutions
# ---------------------------------------------------------------------------

def cupy_gemm_peak_gflops(n=8192, repeats=5):
    """float32 GFLOP/s of ``cupy.matmul`` on an n x n x n product (cuBLAS; the conv roof)."""
    import cupy
    rng = cupy.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=cupy.float32)
    b = rng.standard_normal((n, n), dtype=cupy.float32)
    time_calls = event_timer("tinynet")
    time_calls(lambda: a @ b, 2)  # warm-up: cuBLAS handle and kernel choice
    seconds = statistics.median(time_calls(lambda: a @ b, repeats))
    del a, b
    cupy.get_default_memory_pool().free_all_blocks()  # leave the card empty for the workers
    return 2 * n ** 3 / seconds / 1e9
