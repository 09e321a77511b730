"""``LayerNorm`` and ``GroupNorm``: normalization by each sample's own statistics.

Batch norm (batchnorm.py) normalizes each channel over the batch; these
normalize each sample on its own, so they behave the same in training and
evaluation, need no running statistics, and work at batch size 1:

* ``LayerNorm(normalized_shape)``: over the last dims, e.g. (C,) of (N, T, C)
  tokens in a transformer; weight and bias have ``normalized_shape``.
* ``GroupNorm(num_groups, num_channels)``: over each group of channels (and all
  positions) of (N, C, *), e.g. 32 groups in a diffusion U-Net; weight and bias
  are (C,).

Both start as the identity transform: weight ones, bias zeros (PyTorch's init).
"""
from . import functional as F
from . import init
from .arguments import check_size
from .module import Module
from .parameter import empty_parameter

__all__ = ["LayerNorm", "GroupNorm"]


class _AffineNormalization(Module):
    """What LayerNorm and GroupNorm share: an optional weight (ones) and bias (zeros)."""

    def _make_affine(self, shape, weight, bias, device, dtype):
        """Create ``weight`` and ``bias`` of ``shape`` where wanted; register None otherwise."""
        for name, wanted in (("weight", weight), ("bias", weight and bias)):
            if wanted:
                setattr(self, name, empty_parameter(shape, device, dtype))
            else:
                self.register_parameter(name, None)
        self.reset_parameters()

    def reset_parameters(self):
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)


class LayerNorm(_AffineNormalization):
    """(x - mean) / sqrt(var + eps) * weight + bias over the last ``len(normalized_shape)`` dims."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(check_size("LayerNorm", "normalized_shape", size)
                                      for size in normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        self._make_affine(self.normalized_shape, elementwise_affine, bias, device, dtype)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class GroupNorm(_AffineNormalization):
    """Normalize each sample's ``num_groups`` groups of channels, then weight[c] x + bias[c]."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None,
                 *, bias=True):
        super().__init__()
        self.num_groups = check_size("GroupNorm", "num_groups", num_groups)
        self.num_channels = check_size("GroupNorm", "num_channels", num_channels)
        if num_groups == 0 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.eps = eps
        self.affine = affine
        self._make_affine((num_channels,), affine, bias, device, dtype)

    def forward(self, input):
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")
