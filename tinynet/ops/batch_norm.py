"""Batch normalization: ``batch_norm``, with PyTorch's semantics.

For an input x of shape (N, C) or (N, C, H, W) (any (N, C, *) works), every
channel c is normalized over the m = N*H*W values it has in the batch:

    mean_c = sum(x) / m,   var_c = sum((x - mean_c)^2) / m      (biased)
    xhat   = (x - mean_c) * inv_std_c,   inv_std_c = 1 / sqrt(var_c + eps)
    y      = weight_c * xhat + bias_c

In training mode the batch statistics are used, and the running statistics
(buffers of the BatchNorm layer) are updated in place:

    running_mean = (1 - momentum) * running_mean + momentum * mean_c
    running_var  = (1 - momentum) * running_var  + momentum * var_c * m / (m - 1)   (unbiased)

In eval mode the running statistics take the place of mean_c and var_c.

Backward in closed form (training), with g = dL/dy and sums over (N, H, W):

    dbias   = sum(g)
    dweight = sum(g * xhat)
    dx      = weight * inv_std / m * (m * g - dbias - xhat * dweight)

Implementation choices, measured on (8, 64, 64, 64) float32 forward + backward,
one core (PyTorch 2.13 CPU, one thread: 6.2 ms):

* saving xhat and computing y = xhat * weight + bias: 6.3-7.2 ms;
* saving x itself (the graph holds the input alive anyway, so it costs no
  memory) plus mean and inv_std per channel, writing y into the x - mean
  buffer in place, and expanding backward to dx = a*g + b*x + c with per-channel
  a, b, c (three passes over the data): 5.0-5.4 ms.  This is the one used;
  through ``tn.ops.batch_norm`` with autograd, 5.8 ms against PyTorch's 6.0-6.3.
* Per-channel sums: ``einsum("ncl->c")`` 0.11 ms versus 0.32 ms for
  ``sum(axis=(0, 2, 3))``; per-channel dot products sum(a * b) as a batched
  matmul (N, C, 1, L) @ (N, C, L, 1) 0.23 ms versus 0.84 ms for (a * b).sum(...)
  and 0.45 ms for einsum.  No transposes anywhere.
* The variance takes two passes (mean first, then sum((x - mean)^2)), not
  E[x^2] - mean^2, which loses all precision in float32 when |mean| >> std.
* Sums accumulate in the input's dtype.  PyTorch's CPU kernel accumulates the
  statistics in float64; doing so here (einsum/dot with dtype=float64) costs
  about +1 ms per reduction, ~2x the whole op, for a difference of a few ulps.
"""
from .. import backend
from ..amp.autocast_mode import autocast_op
from ..autograd import Function, Tensor, as_tensor
from .blocking import plane_blocks

__all__ = ["batch_norm"]


def _per_channel(v, ndim):
    """A (C,) vector reshaped to broadcast against (N, C, *): (1, C, 1, ...)."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def _channel_sum(xp, a):
    """sum over (N, *) of an (N, C, *) array -> (C,)."""
    return xp.einsum("ncl->c", a.reshape(a.shape[0], a.shape[1], -1))


def _channel_dot(xp, a, b):
    """sum over (N, *) of a * b for two (N, C, *) arrays -> (C,), without the a * b temporary."""
    n, c = a.shape[:2]
    a3, b3 = a.reshape(n, c, -1), b.reshape(n, c, -1)
    if a3.shape[2] == 1:  # (N, C) input: nothing to batch
        return xp.einsum("ncl,ncl->c", a3, b3)
    return xp.matmul(a3[:, :, None, :], b3[:, :, :, None]).sum(axis=0).reshape(c)


def _scale(weight, inv_std, dtype):
    """Per-channel factor of xhat in y: weight * inv_std (inv_std alone without weight)."""
    return inv_std if weight is None else (weight * inv_std).astype(dtype, copy=False)


class BatchNormFunction(Function):
    """Batch normalization of x (N, C, *) with optional weight, bias (C,); see the module docstring.

    Saved for backward: x (alive in the graph anyway), the per-channel mean
    and inv_std that normalized it, the weight and the count m.  The batch is
    this process's; ``SyncBatchNormFunction`` (sync_batch_norm.py) overrides
    ``_sum_and_count_over_batch`` and ``_sum_over_batch`` so that the sums and the
    count m span every rank, and sets ``sums_in_every_backward``.
    """

    # Whether backward takes the batch sums even when x needs no gradient: SyncBatchNorm
    # does, so that every rank runs the same all-reduces.
    sums_in_every_backward = False

    def __init__(self, training, momentum, eps, running_mean, running_var):
        self.training = training
        self.momentum = momentum
        self.eps = eps
        self.running_mean = running_mean  # raw arrays or None, updated in place
        self.running_var = running_var

    def forward(self, x, weight, bias):
        xp = backend.get_array_module(x)
        bias = None if bias is None else bias.astype(x.dtype, copy=False)
        if self.training:
            mean, inv_std, y = self._normalize_with_batch_stats(xp, x)  # y = x - mean, our own
            scale = _scale(weight, inv_std, x.dtype)
            y *= _per_channel(scale, x.ndim)  # in place: no further full-size temporaries
            shift = bias
        else:
            mean = self.running_mean.astype(x.dtype, copy=False)
            inv_std = 1 / xp.sqrt(self.running_var.astype(x.dtype, copy=False) + self.eps)
            scale = _scale(weight, inv_std, x.dtype)
            # y = x * scale + (bias - mean * scale): two passes over x, no x - mean array.
            y = x * _per_channel(scale, x.ndim)
            shift = -mean * scale if bias is None else bias - mean * scale
        if shift is not None:
            y += _per_channel(shift, x.ndim)
        self.x, self.mean, self.inv_std, self.weight = x, mean, inv_std, weight
        return y

    def _sum_over_batch(self, *vectors):
        """The per-channel sums of this process's batch, as they are (one process)."""
        return vectors

    def _sum_and_count_over_batch(self, total, count):
        """The (C,) sum and the count m (a Python int) of this process's batch, as they are."""
        return total, count

    def _normalize_with_batch_stats(self, xp, x):
        """Batch mean and inv_std of x, x - mean, and the running-stat update."""
        # m is a Python int, known on the host: reading it back from the device would be a
        # transfer (a wait for the GPU) in every batch norm of every step.
        total, m = self._sum_and_count_over_batch(_channel_sum(xp, x), x.size // x.shape[1])
        self.m = m
        mean = total / m
        centered = x - _per_channel(mean, x.ndim)
        (sum_of_squares,) = self._sum_over_batch(_channel_dot(xp, centered, centered))
        var = sum_of_squares / m
        if self.running_mean is not None:
            self.running_mean *= 1 - self.momentum
            self.running_mean += self.momentum * mean
        if self.running_var is not None:
            self.running_var *= 1 - self.momentum
            self.running_var += (self.momentum * m / (m - 1)) * var
        return mean, 1 / xp.sqrt(var + self.eps), centered

    def backward(self, g):
        xp = backend.get_array_module(g)
        x, mean, inv_std, weight = self.x, self.mean, self.inv_std, self.weight
        need_x, need_w, need_b = self.needs_input_grad
        scale = _scale(weight, inv_std, g.dtype)
        # Whether the batch sums of g and g * xhat are taken: for dx in training, and by
        # SyncBatchNorm on every backward (every rank must run the same all-reduces).
        batch_sums = self.training and (need_x or self.sums_in_every_backward)
        dbias = dweight = dx = None
        if need_b or need_w or batch_sums:
            dbias = _channel_sum(xp, g)
        if need_w or batch_sums:
            # sum(g * xhat) = (sum(g * x) - mean * sum(g)) * inv_std: no xhat array needed.
            dweight = (_channel_dot(xp, g, x) - mean * dbias) * inv_std
        if batch_sums:
            batch_dbias, batch_dweight = self._sum_over_batch(dbias, dweight)
        if need_x and not self.training:
            dx = g * _per_channel(scale, g.ndim)
        elif need_x:
            # dx = scale * (g - dbias/m - xhat * dweight/m), expanded into
            # per-channel coefficients of g, x and 1 so it is three passes.
            # The sums are over the whole batch (every rank's, synchronized).
            m = self.m
            coef_x = -scale * inv_std * batch_dweight / m
            coef_1 = -scale * batch_dbias / m - coef_x * mean
            dx = _affine_of_two(xp, g, _per_channel(scale, g.ndim), x,
                                _per_channel(coef_x, x.ndim), _per_channel(coef_1, x.ndim))
        return dx, dweight if need_w else None, dbias if need_b else None


def _affine_of_two(xp, g, a, x, b, c):
    """``g * a + x * b + c`` (per-channel a, b, c), computed a few samples at a time.

    On the CPU the temporary ``x * b`` of a block stays in the cache and its
    memory is reused, where a whole-batch temporary is fresh pages each call
    (see ``blocking.py``).  Measured on (8, 64, 64, 64) float32, the whole
    backward (weight, bias and input gradients): 3.6 ms with whole arrays,
    3.1 ms by blocks of ~2 MiB (AMD EPYC, 2 cores, median of 9, 3 repeats).
    """
    dx = xp.empty_like(g)
    for blk in plane_blocks(g):  # blocks of samples; one block on the GPU
        out = dx[blk]
        xp.multiply(g[blk], a, out=out)
        out += x[blk] * b
        out += c
    return dx


def checked_arguments(x, running_mean, running_var, weight, bias):
    """batch_norm's arguments checked against the input Tensor ``x`` (N, C, *): the running
    statistics as raw (C,) arrays (or None), weight and bias as (C,) Tensors (or None)."""
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of shape (N, C, *), got shape {x.shape}")
    channels = x.shape[1]
    rm = _raw_stat("running_mean", running_mean, channels, x.shape)
    rv = _raw_stat("running_var", running_var, channels, x.shape)
    weight = None if weight is None else as_tensor(weight)
    bias = None if bias is None else as_tensor(bias)
    _check_affine("weight", weight, channels, x.shape)
    _check_affine("bias", bias, channels, x.shape)
    return rm, rv, weight, bias


def _raw_stat(name, stat, channels, input_shape):
    """The array behind a running statistic (Tensor or array), checked to be (C,)."""
    if stat is None:
        return None
    array = stat.data if isinstance(stat, Tensor) else stat
    if tuple(array.shape) != (channels,):
        raise ValueError(f"batch_norm: {name} has shape {tuple(array.shape)} but the input has "
                         f"{channels} channels (input shape {input_shape}); expected shape "
                         f"({channels},)")
    return array


def _check_affine(name, param, channels, input_shape):
    if param is not None and param.shape != (channels,):
        raise ValueError(f"batch_norm: {name} has shape {param.shape} but the input has "
                         f"{channels} channels (input shape {input_shape}); expected shape "
                         f"({channels},)")


@autocast_op
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalization of (N, C, *) over (N, *), like ``torch.nn.functional.batch_norm``.

    ``running_mean`` / ``running_var``: (C,) arrays or Tensors, updated in place
    when ``training`` (may be None then); used to normalize when not training.
    ``weight`` / ``bias``: optional (C,) affine parameters.  Returns a tensor
    shaped like ``input``.
    """
    x = as_tensor(input)
    rm, rv, weight, bias = checked_arguments(x, running_mean, running_var, weight, bias)
    channels = x.shape[1]
    if training:
        if x.numel() // channels <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                             f"got input shape {x.shape}")
        if momentum is None:
            raise ValueError("batch_norm: momentum=None (cumulative average) is not supported; "
                             "pass a number")
    elif rm is None or rv is None:
        raise ValueError("batch_norm: running_mean and running_var are required when "
                         "training=False")
    return BatchNormFunction(bool(training), momentum, eps, rm, rv)(x, weight, bias)
