"""Less common layers, with PyTorch's arguments, parameter names and reprs:
``Bilinear``, ``LocalResponseNorm``, ``AlphaDropout`` / ``FeatureAlphaDropout``,
``LPPool1d`` / ``LPPool2d``, ``ChannelShuffle``, ``UpsamplingNearest2d`` /
``UpsamplingBilinear2d`` and ``EmbeddingBag``.  The maths is in
``tinynet/ops/layers_more.py`` (and ``interpolate`` for the upsamplers).
"""
import math
import numbers

from ..ops import layers_more as ops
from . import init
from .arguments import check_size
from .dropout import Dropout
from .module import Module
from .parameter import Parameter, empty_parameter
from .upsampling import Upsample

__all__ = ["Bilinear", "LocalResponseNorm", "AlphaDropout", "FeatureAlphaDropout", "LPPool1d",
           "LPPool2d", "ChannelShuffle", "UpsamplingNearest2d", "UpsamplingBilinear2d",
           "EmbeddingBag"]


class Bilinear(Module):
    """``y = x1^T A x2 + b``: (*, in1_features), (*, in2_features) -> (*, out_features);
    ``weight`` (out, in1, in2) and ``bias`` (out,) start U(-1/sqrt(in1), 1/sqrt(in1))."""

    def __init__(self, in1_features, in2_features, out_features, bias=True, device=None,
                 dtype=None):
        super().__init__()
        self.in1_features = check_size("Bilinear", "in1_features", in1_features)
        self.in2_features = check_size("Bilinear", "in2_features", in2_features)
        self.out_features = check_size("Bilinear", "out_features", out_features)
        if in1_features <= 0:
            raise ValueError(f"Bilinear: in1_features must be > 0, but got "
                             f"(in1_features={in1_features})")
        self.weight = empty_parameter((out_features, in1_features, in2_features), device, dtype)
        if bias:
            self.bias = empty_parameter((out_features,), device, dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        return ops.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self):
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class LocalResponseNorm(Module):
    """Normalize each element by the squares of ``size`` neighbouring channels
    (``F.local_response_norm``); input (N, C, *)."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            raise ValueError(f"LocalResponseNorm: size must be a positive integer, got {size!r}")
        self.size = size
        self.alpha, self.beta, self.k = alpha, beta, k

    def forward(self, input):
        return ops.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class AlphaDropout(Dropout):
    """Dropout that keeps SELU's zero mean and unit variance (training mode only)."""

    def forward(self, input):
        return ops.alpha_dropout(input, self.p, self.training)


class FeatureAlphaDropout(Dropout):
    """``AlphaDropout`` of whole channels of (N, C, *)."""

    def forward(self, input):
        return ops.feature_alpha_dropout(input, self.p, self.training)


class _LPPoolNd(Module):
    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode=False):
        super().__init__()
        ops._check_norm_type(type(self).__name__, norm_type)
        self.norm_type = norm_type
        self.kernel_size = kernel_size
        self.stride = stride
        self.ceil_mode = ceil_mode

    def extra_repr(self):
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPoolNd):
    """Power-average pooling of (N, C, L) (``F.lp_pool1d``)."""

    def forward(self, input):
        return ops.lp_pool1d(input, self.norm_type, self.kernel_size, self.stride,
                             self.ceil_mode)


class LPPool2d(_LPPoolNd):
    """Power-average pooling of (N, C, H, W) (``F.lp_pool2d``)."""

    def forward(self, input):
        return ops.lp_pool2d(input, self.norm_type, self.kernel_size, self.stride,
                             self.ceil_mode)


class ChannelShuffle(Module):
    """Interleave the channels of ``groups`` groups (``F.channel_shuffle``)."""

    def __init__(self, groups):
        super().__init__()
        self.groups = check_size("ChannelShuffle", "groups", groups)

    def forward(self, input):
        return ops.channel_shuffle(input, self.groups)

    def extra_repr(self):
        return f"groups={self.groups}"


class UpsamplingNearest2d(Upsample):
    """``Upsample(size, scale_factor, mode="nearest")`` of (N, C, H, W)."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """``Upsample(size, scale_factor, mode="bilinear", align_corners=True)`` of (N, C, H, W)."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class EmbeddingBag(Module):
    """Sums, means or maxima of bags of embedding rows (``F.embedding_bag``):
    ``forward(input, offsets=None, per_sample_weights=None)`` -> (bags, embedding_dim).
    ``weight`` (num_embeddings, embedding_dim) starts N(0, 1), the ``padding_idx`` row 0."""

    def __init__(self, num_embeddings, embedding_dim, max_norm=None, norm_type=2.0,
                 scale_grad_by_freq=False, mode="mean", sparse=False, _weight=None,
                 include_last_offset=False, padding_idx=None, device=None, dtype=None):
        super().__init__()
        self.num_embeddings = check_size("EmbeddingBag", "num_embeddings", num_embeddings)
        self.embedding_dim = check_size("EmbeddingBag", "embedding_dim", embedding_dim)
        if max_norm is not None or scale_grad_by_freq or sparse:
            raise NotImplementedError("EmbeddingBag: max_norm, scale_grad_by_freq and sparse "
                                      "are not supported")
        if mode not in ops._BAG_MODES:
            raise ValueError(f"EmbeddingBag: mode has to be one of 'sum', 'mean' or 'max', "
                             f"got {mode!r}")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"EmbeddingBag: padding_idx ({padding_idx}) must be within "
                                 f"num_embeddings ({num_embeddings})")
            padding_idx %= num_embeddings
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.padding_idx = padding_idx
        if _weight is None:
            self.weight = empty_parameter((num_embeddings, embedding_dim), device, dtype)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"EmbeddingBag: _weight must have shape ({num_embeddings}, "
                                 f"{embedding_dim}), got {tuple(_weight.shape)}")
            self.weight = Parameter(_weight)
        self.mode = mode
        self.sparse = sparse
        self.include_last_offset = include_last_offset

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, input, offsets=None, per_sample_weights=None):
        return ops.embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type,
                                 self.scale_grad_by_freq, self.mode, self.sparse,
                                 per_sample_weights, self.include_last_offset,
                                 self.padding_idx)

    def extra_repr(self):
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.norm_type != 2:
            text += f", norm_type={self.norm_type!r}"
        text += f", mode={self.mode!r}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx!r}"
        return text

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, max_norm=None, norm_type=2.0,
                        scale_grad_by_freq=False, mode="mean", sparse=False,
                        include_last_offset=False, padding_idx=None):
        """An EmbeddingBag around the 2-D ``embeddings``; ``freeze=True`` keeps them fixed."""
        if embeddings.ndim != 2:
            raise ValueError(f"EmbeddingBag.from_pretrained: embeddings must be 2-D, got shape "
                             f"{tuple(embeddings.shape)}")
        rows, dim = embeddings.shape
        bag = cls(rows, dim, max_norm, norm_type, scale_grad_by_freq, mode, sparse,
                  _weight=embeddings, include_last_offset=include_last_offset,
                  padding_idx=padding_idx)
        bag.weight.requires_grad_(not freeze)
        return bag
