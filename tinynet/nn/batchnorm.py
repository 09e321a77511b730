"""Batch normalization layers: ``BatchNorm2d`` (N, C, H, W), ``BatchNorm1d`` (N, C[, L]) and
``BatchNorm3d`` (N, C, D, H, W); and ``InstanceNorm1d/2d/3d``, which normalize each sample's
channel on its own (style transfer, CycleGAN, nnU-Net) and share their parameters and buffers.

Per channel c, with the statistics over every other axis:

    y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c

* Training (``module.train()``): mean and (biased) variance of the batch; the
  running statistics are updated in place by the batch_norm op,
  ``running = (1 - momentum) * running + momentum * batch_stat`` (the running
  variance uses the unbiased batch variance), and ``num_batches_tracked`` += 1.
* Evaluation (``module.eval()``): the running statistics.

Parameters ``weight`` (ones) and ``bias`` (zeros) if ``affine`` (``bias=False``,
keyword-only as in PyTorch 2.13, drops the bias); buffers
``running_mean`` (zeros), ``running_var`` (ones) and ``num_batches_tracked``
(int64 scalar) if ``track_running_stats``; all are in ``state_dict()`` with
PyTorch's names.
"""
import numpy as np

from .. import backend
from . import functional as F
from . import init
from .arguments import check_size
from .module import Module
from .parameter import empty_parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "InstanceNorm1d", "InstanceNorm2d",
           "InstanceNorm3d"]


class _BatchNorm(Module):
    """Shared by BatchNorm1d and BatchNorm2d, which only differ in the input rank."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        self.num_features = check_size(self._get_name(), "num_features", num_features)
        self.eps = eps
        self.momentum = momentum  # None: cumulative average over all batches seen
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = empty_parameter((num_features,), device, dtype)
        else:
            self.register_parameter("weight", None)
        if affine and bias:
            self.bias = empty_parameter((num_features,), device, dtype)
        else:
            self.register_parameter("bias", None)
        if track_running_stats:
            xp = backend.xp_for_device(device or "cpu")
            dtype = np.dtype(backend.DEFAULT_DTYPE if dtype is None else dtype)
            self.register_buffer("running_mean", xp.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", xp.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", xp.zeros((), dtype=np.int64))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)
        self.reset_parameters()

    def reset_running_stats(self):
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self):
        self.reset_running_stats()
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def _check_input_dim(self, input):
        raise NotImplementedError

    def forward(self, input):
        self._check_input_dim(input)
        if input.shape[1] != self.num_features:
            raise ValueError(f"{self._get_name()}: input has {input.shape[1]} channels "
                             f"(shape {tuple(input.shape)}) but num_features={self.num_features}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1  # in place: state_dict arrays stay valid
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.data)
        # Batch statistics in training, and also in eval mode when there are no
        # running statistics to use (track_running_stats=False).
        use_batch_stats = self.training or self.running_mean is None
        return F.batch_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                            use_batch_stats, factor, self.eps)

    def _upgrade_state_dict(self, state_dict, prefix):
        # Checkpoints from before num_batches_tracked existed (e.g. torchvision's
        # ResNet weights) lack it; PyTorch then keeps the current value, so do we.
        key = prefix + "num_batches_tracked"
        if self.track_running_stats and key not in state_dict:
            state_dict[key] = self.num_batches_tracked

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm2d(_BatchNorm):
    """Batch normalization over (N, H, W) for each channel of an (N, C, H, W) input."""

    def _check_input_dim(self, input):
        if input.ndim != 4:
            raise ValueError(f"BatchNorm2d: expected 4D input (N, C, H, W), "
                             f"got {input.ndim}D input of shape {tuple(input.shape)}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization per feature of an (N, C) or (N, C, L) input."""

    def _check_input_dim(self, input):
        if input.ndim not in (2, 3):
            raise ValueError(f"BatchNorm1d: expected 2D or 3D input (N, C[, L]), "
                             f"got {input.ndim}D input of shape {tuple(input.shape)}")


class BatchNorm3d(_BatchNorm):
    """Batch normalization over (N, D, H, W) for each channel of an (N, C, D, H, W) volume."""

    def _check_input_dim(self, input):
        if input.ndim != 5:
            raise ValueError(f"BatchNorm3d: expected 5D input (N, C, D, H, W), "
                             f"got {input.ndim}D input of shape {tuple(input.shape)}")


class _InstanceNorm(_BatchNorm):
    """Instance normalization: each (sample, channel) over its own positions (F.instance_norm).

    PyTorch's defaults differ from batch norm's: ``affine=False`` and
    ``track_running_stats=False``.  With ``track_running_stats`` the running
    statistics are kept while training and used in evaluation; ``num_batches_tracked``
    is kept but, as in PyTorch, not counted.
    """
    _ranks = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False,
                 track_running_stats=False, device=None, dtype=None, *, bias=True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device,
                         dtype, bias=bias)

    def _check_input_dim(self, input):
        if input.ndim not in self._ranks:
            raise ValueError(f"{self._get_name()}: expected {self._expected} input (or one "
                             f"sample without N), got {input.ndim}D input of shape "
                             f"{tuple(input.shape)}")

    def forward(self, input):
        if input.ndim == self._ranks[0] - 1:      # one sample without its batch dim, as PyTorch
            return self.forward(input.unsqueeze(0)).squeeze(0)
        self._check_input_dim(input)
        if input.shape[1] != self.num_features:
            raise ValueError(f"{self._get_name()}: input has {input.shape[1]} channels "
                             f"(shape {tuple(input.shape)}) but num_features={self.num_features}")
        use_input_stats = self.training or not self.track_running_stats
        return F.instance_norm(input, self.running_mean, self.running_var, self.weight,
                               self.bias, use_input_stats, self.momentum or 0.0, self.eps)


class InstanceNorm2d(_InstanceNorm):
    """Instance normalization of an (N, C, H, W) input: each image's channel on its own."""
    _ranks, _expected = (4,), "4D (N, C, H, W)"


class InstanceNorm1d(_InstanceNorm):
    """Instance normalization of an (N, C, L) input: each sequence's channel on its own."""
    _ranks, _expected = (3,), "3D (N, C, L)"


class InstanceNorm3d(_InstanceNorm):
    """Instance normalization of an (N, C, D, H, W) input: each volume's channel on its own."""
    _ranks, _expected = (5,), "5D (N, C, D, H, W)"
