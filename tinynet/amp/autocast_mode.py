"""``autocast``: run the ops that gain from it in float16, the others in float32.

Mixed precision in one paragraph.  float16 has a 10-bit mantissa (3 decimal
digits) and a range of 6e-5 .. 65504 (down to 6e-8 with subnormals).  A GPU
multiplies float16 matrices several times faster than float32 ones (tensor
cores) and moves half the bytes, so convolutions and matrix products, where a
network spends its time, are worth running in float16: their products are
accumulated in float32 by cuBLAS, and their inputs are activations and weights
of moderate size.  Ops that sum many values, exponentiate, or take logs
(losses, softmax, norms, sums) would lose digits or overflow in float16, so
they run in float32.  The weights themselves stay float32 ("master weights"):
autocast casts them to float16 for each op through a differentiable cast, so
their gradients come back as float32.  GradScaler (grad_scaler.py) keeps the
float16 gradients of the backward pass from underflowing to zero.

    with tn.autocast("gpu"):               # or "cuda"; dtype=tn.float16, the default
        logits = model(x)                  # convolutions in float16
        loss = tn.ops.cross_entropy(logits, y)  # float32

How an op is autocast
---------------------
Each op in ``POLICY`` below is decorated with ``autocast_op``; when autocast is
on for the device of the op's first tensor argument, the decorator casts the
op's floating tensor arguments as its category on that device says, then runs
the op with autocast off inside it (an op that tinynet builds from other ops,
like ``linear`` from ``matmul``, is autocast as one op, as PyTorch's kernel
would be).  The categories:

``LOWER``        float32 arguments become float16: the output is float16.
``FLOAT32``      float16 arguments become float32: the output is float32.
``FLOAT32_INSIDE`` the input alone becomes float32, the output is cast back to
                 the input's dtype: batch norm (and layer norm on the CPU), whose
                 statistics PyTorch's kernels compute in float32 for a float16
                 input, which they return float16.  tinynet's norms compute them
                 in their input's dtype, so they are given float32; running
                 statistics, weight and bias are left as they are (the running
                 statistics are updated in place).
``WIDEST``       every floating argument becomes the widest floating type among
                 them (float32 if any is float32).
``UNSAFE``       raises: PyTorch refuses binary_cross_entropy under CUDA autocast,
                 since the float16 sigmoid before it rounds to exactly 0 or 1.
``None``         not autocast on that device: the op runs in its arguments' dtypes.

float64 arguments are never cast (PyTorch's autocast leaves them alone too), so
gradient checks (float64) run the same inside autocast, and integer and bool
tensors (labels, indices, masks) are never touched.  Every op not in the table
runs in its arguments' dtypes, with tinynet's ordinary type promotion: float16
+ float32 gives float32 (``tn.cat``, ``tn.stack`` included, as under PyTorch's
CPU autocast).

Where the table comes from
--------------------------
PyTorch's documentation, "Automatic Mixed Precision package - torch.amp",
section "Autocast Op Reference" (https://pytorch.org/docs/stable/amp.html):
the lists "CUDA Ops that can autocast to float16", "... to float32", "CUDA Ops
that promote to the widest input type", and the CPU lists.  The GPU column
holds the tinynet ops of torch 2.13's CUDA lists (its ``ATen/autocast_mode.h``
also lists einsum as float16 and the upsampling ops (``interpolate``) as
float32, newer than the documented ones); the CPU column is what torch 2.13's
CPU autocast does with float16, op by op, which tests/test_amp.py checks
against torch itself.  Entries that are tinynet's own are marked.  Where
PyTorch does not autocast an op that tinynet builds from one it does (``mv``
from ``matmul`` on the CPU, ``logsigmoid`` from ``softplus`` on the GPU), the
entry is ``None``: the op is still autocast as a whole (nothing cast), so its
inner op is not.

Not done (PyTorch does): no cache of the float16 copies of the weights within
a region, so a weight used by two ops is cast twice; no bfloat16, which NumPy
and CuPy lack (``dtype`` must be float16, also on the CPU, where PyTorch's
default is bfloat16).
"""
import functools
import inspect
import threading

import numpy as np

from .. import backend
from ..autograd import Tensor, as_tensor

__all__ = ["autocast", "autocast_op", "is_autocast_enabled", "get_autocast_dtype", "POLICY",
           "LOWER", "FLOAT32", "FLOAT32_INSIDE", "WIDEST", "UNSAFE"]

LOWER, FLOAT32, FLOAT32_INSIDE, WIDEST, UNSAFE = (
    "lower", "float32", "float32 inside", "widest", "unsafe")

#: The autocast policy of each op: (on the GPU, on the CPU).  See the module docstring.
POLICY = {
    # -- matrix products and convolutions: float16 ----------------------------------------
    "conv2d":                           (LOWER,          LOWER),
    "conv_transpose2d":                 (LOWER,          LOWER),
    "linear":                           (LOWER,          LOWER),
    "matmul":                           (LOWER,          LOWER),   # also x @ w
    "mm":                               (LOWER,          LOWER),
    "bmm":                              (LOWER,          LOWER),
    "einsum":                           (LOWER,          LOWER),
    "mv":                               (LOWER,          None),
    "dot":                              (WIDEST,         None),
    # -- exponentials, logarithms, powers: float32 on the GPU -----------------------------
    "exp":                              (FLOAT32,        None),
    "expm1":                            (FLOAT32,        None),
    "log":                              (FLOAT32,        None),
    "log2":                             (FLOAT32,        None),
    "log10":                            (FLOAT32,        None),
    "log1p":                            (FLOAT32,        None),
    "reciprocal":                       (FLOAT32,        None),
    "rsqrt":                            (FLOAT32,        None),
    "pow":                              (FLOAT32,        None),    # also x ** y, 2 ** x
    "__rtruediv__":                     (FLOAT32,        None),    # 1 / x
    "softplus":                         (FLOAT32,        None),
    "logsigmoid":                       (None,           None),    # built from softplus
    "softmax":                          (FLOAT32,        None),
    "log_softmax":                      (FLOAT32,        None),
    "logsumexp":                        (FLOAT32,        None),
    # -- sums, products, norms ------------------------------------------------------------
    "sum":                              (FLOAT32,        None),
    "cumsum":                           (FLOAT32,        None),
    "cumprod":                          (FLOAT32,        None),
    "prod":                             (FLOAT32,        FLOAT32),
    "trace":                            (None,           FLOAT32),  # built from sum
    "norm":                             (FLOAT32,        None),    # also tn.linalg.*norm
    "normalize":                        (FLOAT32,        None),
    "cosine_similarity":                (FLOAT32,        None),
    "layer_norm":                       (FLOAT32,        FLOAT32_INSIDE),  # CPU: as its kernel
    "group_norm":                       (FLOAT32,        FLOAT32_INSIDE),  # as layer_norm
    "instance_norm":                    (FLOAT32,        FLOAT32_INSIDE),  # as layer_norm
    "batch_norm":                       (FLOAT32_INSIDE, FLOAT32_INSIDE),  # see FLOAT32_INSIDE
    "sync_batch_norm":                  (FLOAT32_INSIDE, FLOAT32_INSIDE),  # see FLOAT32_INSIDE
    # -- resizing -------------------------------------------------------------------------
    "interpolate":                      (FLOAT32,        None),
    "upsample_nearest2d":               (FLOAT32,        None),
    # -- losses ---------------------------------------------------------------------------
    "cross_entropy":                    (FLOAT32,        FLOAT32),
    "nll_loss":                         (FLOAT32,        FLOAT32),
    "kl_div":                           (FLOAT32,        FLOAT32),
    "binary_cross_entropy_with_logits": (FLOAT32,        FLOAT32),
    "binary_cross_entropy":             (UNSAFE,         FLOAT32),
    "mse_loss":                         (FLOAT32,        FLOAT32),
    "l1_loss":                          (FLOAT32,        FLOAT32),
    "smooth_l1_loss":                   (FLOAT32,        FLOAT32),
    "huber_loss":                       (FLOAT32,        FLOAT32),
    "dice_loss":                        (FLOAT32,        FLOAT32),  # tinynet's, as its losses
    "tversky_loss":                     (FLOAT32,        FLOAT32),  # tinynet's
    "focal_tversky_loss":               (FLOAT32,        FLOAT32),  # tinynet's
    # -- the widest input type ------------------------------------------------------------
    "index_put":                        (WIDEST,         None),
    "scatter_add":                      (WIDEST,         None),
}

_FLOAT16, _FLOAT32 = np.dtype(np.float16), np.dtype(np.float32)
_COLUMN = {"gpu": 0, "cpu": 1}
_DEVICE_TYPES = {"gpu": "gpu", "cuda": "gpu", "cpu": "cpu"}
_UNSAFE_MESSAGE = (
    "{name} is unsafe to autocast: the float16 sigmoid that usually comes before it rounds "
    "probabilities to exactly 0 or 1.  Use binary_cross_entropy_with_logits on the logits "
    "(it is safe, and more accurate), or run this op outside autocast on float32 inputs.")


class _AutocastState(threading.local):
    """Per thread, as PyTorch's: autocast in a data-loading thread leaves the training
    thread alone.  ``dtypes``: device ("cpu" | "gpu") -> the autocast dtype, for the devices
    where autocast is on; ``inside_op``: True while an autocast op runs (the ops it calls
    are not autocast again)."""

    def __init__(self):
        self.dtypes = {}
        self.inside_op = False


_state = _AutocastState()


# -- the switch ---------------------------------------------------------------------------

def _device_type(device_type):
    """"cpu" or "gpu" for autocast's device_type ("cuda" is "gpu"), or a ValueError."""
    if not isinstance(device_type, str) or device_type not in _DEVICE_TYPES:
        raise ValueError(f"autocast: device_type must be 'cpu', 'gpu' or 'cuda' (no device "
                         f"index), got {device_type!r}")
    return _DEVICE_TYPES[device_type]


def _autocast_dtype(dtype):
    """np.dtype('float16') for autocast's dtype (None: float16), or a ValueError."""
    if dtype is None:
        return _FLOAT16
    try:
        if np.dtype(dtype) == _FLOAT16:
            return _FLOAT16
    except TypeError:       # a name NumPy does not know: "bfloat16", torch.bfloat16, ...
        pass
    raise ValueError(f"autocast: dtype must be tn.float16, got {dtype!r}; tinynet has no "
                     "bfloat16 (NumPy and CuPy have no such type), and float32 or float64 "
                     "need no autocast")


class autocast:
    """Run the ops of ``POLICY`` in mixed precision inside a ``with`` block (or a function).

    ``autocast(device_type, dtype=None, enabled=True, cache_enabled=None)``, as
    ``torch.autocast``: ``device_type`` is ``"gpu"`` (alias ``"cuda"``) or
    ``"cpu"``, and only ops on that device's tensors are autocast; ``dtype``
    must be ``tn.float16`` (the default); ``enabled=False`` turns autocast off
    inside the block, also when an outer block turned it on.  ``cache_enabled``
    is accepted for PyTorch's signature; tinynet keeps no cast cache.

    Wrap the forward pass and the loss, not ``backward()``: backward runs each op
    in the dtypes its forward used.  Also a decorator: ``@tn.autocast("gpu")``.
    """

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        if not isinstance(enabled, bool):
            raise TypeError(f"autocast: enabled must be True or False, got {enabled!r}")
        self.device = _device_type(device_type)
        self.fast_dtype = _autocast_dtype(dtype)
        self.enabled = enabled
        self._previous = []        # what __exit__ restores, one entry per open `with`

    def __enter__(self):
        self._previous.append(_state.dtypes.get(self.device))
        _set_dtype(self.device, self.fast_dtype if self.enabled else None)
        return self

    def __exit__(self, *exc_info):
        _set_dtype(self.device, self._previous.pop())
        return False

    def __call__(self, function):
        @functools.wraps(function)
        def autocast_function(*args, **kwargs):
            with autocast(self.device, self.fast_dtype, self.enabled):
                return function(*args, **kwargs)
        return autocast_function


def _set_dtype(device, dtype):
    if dtype is None:
        _state.dtypes.pop(device, None)
    else:
        _state.dtypes[device] = dtype


def is_autocast_enabled(device_type="gpu"):
    """Whether autocast is on for ``device_type`` in this thread (``torch.is_autocast_enabled``)."""
    return _device_type(device_type) in _state.dtypes


def get_autocast_dtype(device_type="gpu"):
    """The dtype autocast casts to on ``device_type``: float16 (``torch.get_autocast_dtype``)."""
    return _state.dtypes.get(_device_type(device_type), _FLOAT16)


# -- the hook the ops of POLICY wear -------------------------------------------------------

def autocast_op(function, name=None):
    """Decorate op ``function`` (``POLICY[name]``, name defaulting to the function's).

    With autocast off, or inside another autocast op, it calls ``function`` as it is
    (one thread-local read); otherwise see ``_autocast_call``.  A name missing from
    POLICY is an error when the op module is imported.
    """
    name = name or function.__name__
    policies = POLICY[name]
    first_argument = next(iter(inspect.signature(function).parameters))

    @functools.wraps(function)
    def op(*args, **kwargs):
        if not _state.dtypes or _state.inside_op:
            return function(*args, **kwargs)
        return _autocast_call(function, name, policies, first_argument, args, kwargs)
    return op


def _autocast_call(function, name, policies, first_argument, args, kwargs):
    """Cast the arguments as the op's policy on their device says, run the op as one op."""
    device = _device_of(args, kwargs)
    dtype = _state.dtypes.get(device)
    if dtype is None:                      # autocast is on, for another device
        return function(*args, **kwargs)
    policy = policies[_COLUMN[device]]
    if policy == UNSAFE:
        raise RuntimeError(_UNSAFE_MESSAGE.format(name=name))
    input_dtype = None
    if policy == FLOAT32_INSIDE:
        args, kwargs, input_dtype = _input_to_float32(args, kwargs, first_argument)
    elif policy is not None:
        target = {LOWER: dtype, FLOAT32: _FLOAT32, WIDEST: _widest(args, kwargs)}[policy]
        args, kwargs = _cast_all(args, kwargs, target)
    _state.inside_op = True
    try:
        out = function(*args, **kwargs)
    finally:
        _state.inside_op = False
    return _cast(out, input_dtype) if input_dtype is not None else out


# -- casting the arguments -------------------------------------------------------------------

def _arguments(args, kwargs):
    """Every argument, with the items of list and tuple arguments (einsum's operands)."""
    for value in list(args) + list(kwargs.values()):
        if isinstance(value, (list, tuple)):
            yield from value
        else:
            yield value


def _castable(value):
    """A float16 or float32 Tensor or array: what autocast may cast (never float64)."""
    if not (isinstance(value, Tensor) or backend.is_array(value)):
        return False
    return np.dtype(value.dtype) in (_FLOAT16, _FLOAT32)


def _device_of(args, kwargs):
    """The device of the first Tensor (or array) argument; None if there is none."""
    for value in _arguments(args, kwargs):
        if isinstance(value, Tensor):
            return backend.device_of(value.data)
        if backend.is_array(value):
            return backend.device_of(value)
    return None


def _widest(args, kwargs):
    """float32 if any castable argument is float32, else float16."""
    dtypes = {np.dtype(v.dtype) for v in _arguments(args, kwargs) if _castable(v)}
    return _FLOAT32 if _FLOAT32 in dtypes else _FLOAT16


def _cast(value, dtype):
    """``value`` (Tensor or array) in ``dtype`` through a differentiable cast, if castable
    and not already so; anything else as it is."""
    if not _castable(value) or np.dtype(value.dtype) == dtype:
        return value
    from ..ops.shape import astype      # here: the op modules import this module
    return astype(as_tensor(value), dtype)


def _cast_all(args, kwargs, dtype):
    """args and kwargs with every castable Tensor (also in a list or tuple) cast to dtype."""
    def cast(value):
        if isinstance(value, (list, tuple)):
            return type(value)(_cast(v, dtype) for v in value)
        return _cast(value, dtype)
    return [cast(v) for v in args], {k: cast(v) for k, v in kwargs.items()}


def _input_to_float32(args, kwargs, first_argument):
    """(args, kwargs, the input's dtype) with the op's first argument, the input, cast
    from float16 to float32; the dtype is None when it was not float16 (nothing to undo)."""
    args, kwargs = list(args), dict(kwargs)
    value = args[0] if args else kwargs.get(first_argument)
    if not _castable(value) or np.dtype(value.dtype) != _FLOAT16:
        return args, kwargs, None
    value = _cast(value, _FLOAT32)
    if args:
        args[0] = value
    else:
        kwargs[first_argument] = value
    return args, kwargs, _FLOAT16
