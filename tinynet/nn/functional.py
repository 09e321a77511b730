"""``tinynet.nn.functional``: the ops of ``tinynet.ops`` under PyTorch's module name.

``import tinynet.nn.functional as F`` then ``F.conv2d``, ``F.relu``,
``F.cross_entropy``, ... exactly as with ``torch.nn.functional``.  This module
defines nothing itself: it imports every public function of ``tinynet.ops``
from its topic's module, one statement per topic, so that an editor's
go-to-definition finds each op.  An op added to ``tinynet.ops`` gets its name
added here too (``tests/test_nn_functional.py`` fails until it is).
"""
# Some names (abs, all, max, sum, ...) shadow Python's builtins in this module, as in PyTorch's.
from ..ops.math import (
    abs, add, addcdiv, addcmul, addmm, arctan2, atan2, baddbmm, bmm, ceil, clamp, clamp_max,
    clamp_min, clip, cos, div, divide, dot, erf, exp, expm1, floor, floor_divide, fmod, lerp,
    log, log10, log1p, log2, masked_fill, matmul, maximum, minimum, mm, mul, multiply, mv,
    nan_to_num, neg, negative, outer, pow, reciprocal, remainder, round, rsqrt, sign, sin, sqrt,
    square, sub, subtract, true_divide, trunc, where
)
from ..ops.einstein_sum import einsum
from ..ops.reduce import (
    all, amax, amin, any, argmax, argmin, cumprod, cumsum, logsumexp, max, mean, min, prod, std,
    std_mean, sum, var, var_mean
)
from ..ops.vector_norm import (
    cdist, cosine_similarity, norm, normalize, pairwise_distance, pdist
)
from ..ops.compare import (
    allclose, argwhere, bitwise_and, bitwise_not, bitwise_or, bitwise_xor, count_nonzero, eq,
    equal, ge, greater, greater_equal, gt, isclose, isfinite, isinf, isnan, le, less,
    less_equal, logical_and, logical_not, logical_or, logical_xor, lt, ne, nonzero, not_equal
)
from ..ops.sorting import (
    argsort, bincount, bucketize, kthvalue, median, quantile, searchsorted, sort, topk, unique
)
from ..ops.shape import (
    astype, broadcast_to, cat, chunk, clone, concat, concatenate, contiguous, diag, diagonal,
    embedding, expand, expand_as, flatten, flip, gather, getitem, hstack, index_put,
    index_select, masked_select, meshgrid, movedim, narrow, pad, permute, pixel_shuffle,
    pixel_unshuffle, repeat, repeat_interleave, reshape, roll, scatter, scatter_add, select,
    split, squeeze, stack, swapaxes, swapdims, t, take_along_dim, tensor_split, tile, to_device,
    trace, transpose, tril, triu, unbind, unflatten, unsqueeze, vstack
)
from ..ops.creation import (
    arange, bernoulli, empty, empty_like, eye, full, full_like, linspace, logspace, multinomial,
    normal, one_hot, ones, ones_like, rand, rand_like, randint, randn, randn_like, randperm,
    tril_indices, triu_indices, zeros, zeros_like
)
from ..ops.conv import (
    conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d, conv_transpose3d
)
from ..ops.fold import fold, unfold
from ..ops.activation import (
    elu, gelu, hardsigmoid, hardswish, hardtanh, leaky_relu, log_softmax, logsigmoid, mish, prelu,
    relu, relu_, relu6, sigmoid, silu, softmax, softplus, tanh,
    celu, glu, hardshrink, rrelu, selu, softmin, softshrink, softsign, tanhshrink,
    threshold
)
from ..ops.layer_norm import layer_norm
from ..ops.group_norm import group_norm, instance_norm
from ..ops.loss import (
    binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, dice_loss,
    focal_tversky_loss, kl_div, nll_loss, tversky_loss
)
from ..ops.loss_regression import huber_loss, l1_loss, mse_loss, smooth_l1_loss
from ..ops.loss_margin import (
    cosine_embedding_loss, gaussian_nll_loss, hinge_embedding_loss, margin_ranking_loss,
    multi_margin_loss, multilabel_soft_margin_loss, poisson_nll_loss, soft_margin_loss,
    triplet_margin_loss
)
from ..ops.linear import linear
from ..ops.pooling import (
    adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d, adaptive_max_pool1d,
    adaptive_max_pool2d, adaptive_max_pool3d, avg_pool1d, avg_pool2d, avg_pool3d, interpolate,
    max_pool1d, max_pool2d, max_pool3d, max_unpool1d, max_unpool2d, max_unpool3d,
    upsample_nearest2d
)
from ..ops.grid_sample import affine_grid, grid_sample
from ..ops.matrix import cholesky, det, eigh, inverse, logdet, slogdet, solve
from ..ops.batch_norm import batch_norm
from ..ops.sync_batch_norm import sync_batch_norm
from ..ops.dropout import dropout, dropout1d, dropout2d, dropout3d
from ..ops.attention import scaled_dot_product_attention
from ..ops.layers_more import (
    alpha_dropout, bilinear, channel_shuffle, embedding_bag, feature_alpha_dropout,
    local_response_norm, lp_pool1d, lp_pool2d
)

from ..ops.math import addbmm, addmv, addr, cross, gcd, kron, lcm, tensordot
from ..ops.reduce import (
    corrcoef, cov, cummax, cummin, diff, logcumsumexp, nanmean, nansum, trapezoid, trapz
)
from ..ops.compare import heaviside, isin, signbit
from ..ops.sorting import histc
from ..ops.vector_norm import renorm
from ..ops.shape import block_diag, cartesian_prod, combinations, fliplr, flipud, rot90
from ..ops.math import (
    absolute, acos, acosh, arccos, arccosh, arcsin, arcsinh, arctan, arctanh, asin, asinh, atan,
    atanh, copysign, cosh, deg2rad, erfinv, exp2, fix, float_power, frac, hypot, logaddexp,
    logaddexp2, logit, positive, rad2deg, sgn, sinc, sinh, tan, xlogy
)
from ..ops.shape import index_add, index_copy, index_fill, masked_scatter, moveaxis, ravel
from ..ops.shape import (
    atleast_1d, atleast_2d, atleast_3d, broadcast_shapes, broadcast_tensors, column_stack,
    diag_embed, dsplit, dstack, hsplit, scatter_reduce, unravel_index, vsplit
)
from ..ops.math import inner
from ..ops.vector_norm import dist
from ..ops.reduce import aminmax
from ..ops.sorting import mode, nanmedian, unique_consecutive

# Every name imported above (the same objects as ``tinynet.ops.<name>``).
__all__ = sorted(name for name in dir() if not name.startswith("_"))
