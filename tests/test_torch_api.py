"""PyTorch parity of the Tensor and function API: values, dtypes and gradients.

Every case is one line of PyTorch code, run with ``lib = torch`` and with
``lib = tinynet`` on the same inputs (see torch_parity.py): the outputs must
have PyTorch's shapes, dtypes and values, and the gradients of every float
input must match.  These cases cover the semantics (dim/keepdim, tie rules,
type promotion, unbiased variance, ...); the gradcheck cases in the op test
files cover the derivatives numerically.
"""
import warnings

import numpy as np
import pytest

from torch_parity import assert_parity, constant

pytestmark = pytest.mark.torch   # every test here runs the same code with PyTorch

R = np.random.default_rng(0)


def normal(*shape):
    return R.standard_normal(shape)


def positive(*shape):
    return R.uniform(0.5, 2.0, shape)


def probabilities(*shape):
    return R.uniform(0.05, 0.95, shape)


def ties(*shape):
    """Small integers as floats: plenty of ties for max/min/amax rules."""
    return R.integers(0, 3, shape).astype(np.float64)


def F(lib):
    return lib.nn.functional


INF = float("inf")

CASES = {
    # --- elementwise arithmetic, method and function forms -------------------------
    "add_alpha": (lambda L, a, b: L.add(a, b, alpha=2), normal(2, 3), normal(3)),
    "sub_method": (lambda L, a, b: a.sub(b), normal(2, 3), normal(2, 1)),
    "mul_div_methods": (lambda L, a, b: a.mul(b).div(b + 3), normal(2, 3), positive(3)),
    "pow_scalar_method": (lambda L, a: a.pow(3), normal(4)),
    "pow_tensor": (lambda L, a, b: L.pow(a, b), positive(2, 3), normal(3)),
    "rpow": (lambda L, a: 2.0 ** a, normal(4)),
    "rsub_rdiv": (lambda L, a: (1 - a) + 2 / (a * a + 1), normal(5)),
    "unary_math": (lambda L, a: L.exp(a) + L.log(a) + L.sqrt(a) + a.rsqrt() + a.log1p()
                   + a.expm1() + a.log2() + a.log10() + a.reciprocal() + a.square(),
                   positive(2, 3)),
    "trig_abs_neg": (lambda L, a: L.sin(a) * L.cos(a) + L.abs(a) - a.neg(), normal(3, 2)),
    "step_functions_have_zero_gradient": (
        lambda L, a: a.floor() + a.ceil() + a.round() + a.sign() + a.trunc() + a, normal(6) * 3),
    "clamp_forms": (lambda L, a: L.clamp(a, -0.5, 0.5) + a.clamp(min=0) + a.clamp_max(0.2)
                    + L.clip(a, max=1.0) + a.clamp_min(-0.1), normal(3, 4)),
    "maximum_minimum_ties_split": (lambda L, a, b: L.maximum(a, b) + L.minimum(a, b) * 2,
                                   ties(3, 4), ties(4)),
    "max_of_two_tensors": (lambda L, a, b: L.max(a, b) - a.min(b), normal(2, 3), normal(3)),
    "where": (lambda L, a, b: L.where(a > 0, a, b), normal(3, 4), normal(4)),
    "where_scalar": (lambda L, a: L.where(a > 0, a, 0.0), normal(3, 4)),
    "masked_fill": (lambda L, a: a.masked_fill(a < 0, -1.0), normal(3, 4)),
    "lerp": (lambda L, a, b: L.lerp(a, b, 0.3), normal(3), normal(3)),
    # --- matrix products -------------------------------------------------------------
    "matmul_2d": (lambda L, a, b: a.matmul(b), normal(3, 4), normal(4, 2)),
    "mm": (lambda L, a, b: L.mm(a, b), normal(3, 4), normal(4, 2)),
    "bmm": (lambda L, a, b: L.bmm(a, b), normal(2, 3, 4), normal(2, 4, 5)),
    "dot_1d_1d": (lambda L, a, b: a @ b, normal(4), normal(4)),
    "vector_times_matrix": (lambda L, a, b: a @ b, normal(4), normal(4, 3)),
    "matrix_times_vector": (lambda L, a, b: L.mv(a, b), normal(3, 4), normal(4)),
    "batched_times_vector": (lambda L, a, b: a @ b, normal(2, 3, 4), normal(4)),
    "vector_times_batched": (lambda L, a, b: a @ b, normal(4), normal(2, 4, 3)),
    "batched_broadcast": (lambda L, a, b: L.matmul(a, b), normal(2, 1, 3, 4), normal(5, 4, 2)),
    "dot": (lambda L, a, b: L.dot(a, b), normal(5), normal(5)),
    "einsum_batched_matmul": (lambda L, a, b: L.einsum("bij,bjk->bik", a, b), normal(2, 3, 4),
                              normal(2, 4, 5)),
    "einsum_attention_scores": (lambda L, q, k: L.einsum("bhqd,bhkd->bhqk", q, k),
                                normal(2, 2, 3, 4), normal(2, 2, 5, 4)),
    "einsum_implicit_and_reductions": (
        lambda L, a, b: (L.einsum("ij,jk", a, b), L.einsum("ij->j", a),
                         L.einsum("ij,k->ijk", a, b[0])),
        normal(2, 3), normal(3, 4)),
    "einsum_ellipsis_broadcast": (lambda L, a, b: L.einsum("...i,...i->...", a, b),
                                  normal(2, 1, 3), normal(4, 3)),
    # --- reductions ------------------------------------------------------------------
    "sum_dim": (lambda L, a: a.sum(dim=1), normal(2, 3, 4)),
    "sum_dims_keepdim": (lambda L, a: L.sum(a, dim=(0, 2), keepdim=True), normal(2, 3, 4)),
    "sum_negative_dim": (lambda L, a: a.sum(-1), normal(2, 3)),
    "mean_forms": (lambda L, a: a.mean() + a.mean(1, keepdim=True).sum() + L.mean(a, (0, 2)).sum(),
                   normal(2, 3, 4)),
    "max_no_dim_ties_split": (lambda L, a: a.max() + a.min(), ties(3, 4)),
    "max_dim_values_indices": (lambda L, a: a.max(dim=1), ties(3, 5)),
    "max_dim_keepdim": (lambda L, a: L.max(a, 1, keepdim=True), normal(3, 5)),
    "min_dim_namedtuple": (lambda L, a: (a.min(0).values, a.min(0).indices), ties(4, 3)),
    "amax_amin_ties": (lambda L, a: a.amax(dim=(0, 1)) + L.amin(a, 1).sum(), ties(3, 4, 2)),
    "argmax_argmin": (lambda L, a: (a.argmax(), a.argmax(dim=1), L.argmin(a, 0, keepdim=True)),
                      normal(3, 4)),
    "var_default_unbiased": (lambda L, a: a.var(), normal(3, 4)),
    "var_dim": (lambda L, a: a.var(1), normal(3, 4)),
    "var_unbiased_false": (lambda L, a: L.var(a, 0, unbiased=False), normal(3, 4)),
    "var_correction_keepdim": (lambda L, a: a.var(dim=1, correction=0, keepdim=True), normal(3, 4)),
    "var_positional_unbiased": (lambda L, a: a.var(0, False), normal(3, 4)),
    "std_forms": (lambda L, a: a.std() + a.std(1).sum() + L.std(a, unbiased=False), normal(3, 4)),
    "prod_all": (lambda L, a: a.prod(), normal(2, 3)),
    "prod_dim_with_zero": (lambda L, a: a.prod(1), np.array([[2.0, 0.0, 3.0], [1.5, -2.0, 0.5]])),
    "logsumexp": (lambda L, a: L.logsumexp(a, dim=1) + a.logsumexp(0).sum(), normal(3, 4) * 5),
    "norm_default": (lambda L, a: a.norm(), normal(3, 4)),
    "norm_dim": (lambda L, a: L.norm(a, dim=1), normal(3, 4)),
    "norm_p1_keepdim": (lambda L, a: a.norm(p=1, dim=0, keepdim=True), normal(3, 4)),
    "norm_p3": (lambda L, a: a.norm(p=3, dim=1), normal(3, 4)),
    "norm_inf_ties": (lambda L, a: a.norm(p=INF, dim=1),
                      np.array([[1.0, -2.0, 2.0], [0.5, 0.2, 0.1]])),
    "norm_of_zero_rows": (lambda L, a: a.norm(dim=1), np.array([[0.0, 0.0], [3.0, 4.0]])),
    "cumsum": (lambda L, a: a.cumsum(dim=1), normal(2, 4)),
    "all_any": (lambda L, a: ((a > 0).all(), (a > 0).any(dim=1), L.all(a > -9, 0)), normal(3, 4)),
    # --- shape -----------------------------------------------------------------------
    "transpose_swaps_two_dims": (lambda L, a: a.transpose(1, 2), normal(2, 3, 4)),
    "transpose_function_negative": (lambda L, a: L.transpose(a, 0, -1), normal(2, 3, 4)),
    "t_and_T": (lambda L, a: a.t() + a.T, normal(3, 3)),
    "permute_varargs_and_tuple": (lambda L, a: a.permute(2, 0, 1) + L.permute(a, (2, 0, 1)),
                                  normal(2, 3, 4)),
    "reshape_view": (lambda L, a: a.reshape(-1, 4) + a.view(6, -1) + L.reshape(a, (6, 4)),
                     normal(2, 3, 4)),
    "flatten_unflatten": (lambda L, a: a.flatten(1).unflatten(1, (4, 3)), normal(2, 3, 4)),
    "squeeze_unsqueeze": (lambda L, a: a.squeeze(1).unsqueeze(0).squeeze(), normal(3, 1, 4)),
    "squeeze_tuple": (lambda L, a: a.squeeze((0, 2)), normal(1, 3, 1)),
    "expand": (lambda L, a: a.expand(2, -1, 4), normal(3, 1)),
    "expand_as_broadcast_to": (lambda L, a, b: a.expand_as(b) + L.broadcast_to(a, (2, 3)),
                               normal(3), normal(2, 3)),
    "repeat": (lambda L, a: a.repeat(2, 1, 3), normal(2, 3)),
    "tile": (lambda L, a: L.tile(a, (2,)), normal(2, 3)),
    "chunk": (lambda L, a: a.chunk(3, dim=1), normal(2, 7)),
    "split_size": (lambda L, a: L.split(a, 2, dim=1), normal(2, 5)),
    "split_sections": (lambda L, a: a.split([1, 3], dim=1), normal(2, 4)),
    "unbind": (lambda L, a: a.unbind(1), normal(2, 3)),
    "cat_stack": (lambda L, a, b: (L.cat([a, b, a], dim=1), L.stack([a, a], dim=2)),
                  normal(2, 3), normal(2, 1)),
    "cat_negative_dim": (lambda L, a: L.cat((a, a), -1), normal(2, 3)),
    "index_bool_mask": (lambda L, a: a[a > 0], normal(3, 4)),
    "index_with_tensor": (lambda L, a: a[L.tensor([2, 0, 2])], normal(3, 4)),
    "index_mixed": (lambda L, a: a[1:, L.tensor([0, 3])], normal(3, 4)),
    "index_select_gather": (lambda L, a: (a.index_select(1, L.tensor([0, 2, 0])),
                                         a.gather(1, L.tensor([[0, 1], [2, 2], [1, 0]]))),
                            normal(3, 4)),
    "scatter_and_scatter_add": (
        lambda L, a, s: (a.scatter(1, L.tensor([[0, 1], [2, 2], [1, 3]]), s),
                         L.scatter_add(a, 0, L.tensor([[1, 0, 1, 1]]),
                                       s[:1, :1].expand(1, 4).contiguous())),
        normal(3, 4), normal(3, 2)),
    "scatter_value": (lambda L, a: a.scatter(1, L.tensor([[0], [2], [1]]), 1.5), normal(3, 4)),
    "roll": (lambda L, a: (L.roll(a, 1, 0), a.roll(2), L.roll(a, (1, -1), (0, 1))), normal(3, 4)),
    "diag_trace_outer": (lambda L, a, v: (L.diag(v), L.diag(v, -1), a.diag(), L.diag(a, 1),
                                          a.trace(), L.outer(v, a[0])), normal(3, 4), normal(3)),
    "masked_select": (lambda L, a: a.masked_select(a > 0), normal(3, 4)),
    "linalg_norms": (lambda L, a: (L.linalg.norm(a), L.linalg.vector_norm(a, ord=1, dim=1),
                                   L.linalg.norm(a, dim=0)), normal(3, 4)),
    "narrow_select": (lambda L, a: (a.narrow(1, 1, 2), a.select(0, 1)), normal(3, 4)),
    "flip": (lambda L, a: a.flip(0) + L.flip(a, (0, 1)), normal(3, 4)),
    "tril_triu": (lambda L, a: L.tril(a) + a.triu(1), normal(4, 4)),
    "clone_contiguous": (lambda L, a: a.clone() + a.t().contiguous().t(), normal(3, 4)),
    "movedim": (lambda L, a: L.movedim(a, 0, 2), normal(2, 3, 4)),
    "hstack_vstack": (lambda L, a, b: (L.hstack([a, b]), L.vstack([a, b]), L.hstack([a[0], b[0]]),
                                       L.vstack([a[0], b[0]])), normal(2, 3), normal(2, 3)),
    "meshgrid": (lambda L, a, b: (L.meshgrid(a, b, indexing="ij"),
                                  L.meshgrid(a, b, indexing="xy"),
                                  L.meshgrid(a, b, a[:2], indexing="xy")), normal(3), normal(4)),
    "repeat_interleave": (lambda L, a: (a.repeat_interleave(2), L.repeat_interleave(a, 3, dim=1),
                                        L.repeat_interleave(a, L.tensor([1, 0, 2]), dim=0)),
                          normal(3, 2)),
    "diagonal": (lambda L, a: (a.diagonal(), L.diagonal(a, 1), L.diagonal(a, -1, 1, 2),
                               L.diagonal(a, 5)), normal(3, 4, 5)),
    "pixel_shuffle": (lambda L, a: (F(L).pixel_shuffle(a, 2), F(L).pixel_unshuffle(a, 2)),
                      normal(2, 8, 4, 6)),
    "cumprod": (lambda L, a: (L.cumprod(a, 1), a.cumprod(0)), normal(3, 4)),
    "cumprod_through_zeros": (lambda L, a: L.cumprod(a, 1),
                              np.array([[1.5, 0.0, 2.0, 0.0, 3.0], [0.0, 2.0, -1.0, 4.0, 0.5],
                                        [2.0, 3.0, 0.5, 1.5, 0.0]])),
    "round_decimals": (lambda L, a: (L.round(a * 100, decimals=-1), a.round(decimals=2)),
                       normal(3, 4)),
    "fractions_of_integers_are_float32": (
        lambda L, a: (L.sigmoid(a), L.tanh(a), L.sigmoid(a > 0), a.sigmoid()), np.array([1, -2, 3])),
    "bincount_keeps_float32_weights": (
        lambda L, i, w: L.bincount(i, weights=w), np.array([0, 1, 1, 3]),
        constant(np.float32([0.5, 1.0, 2.0, 0.25]))),
    "order_statistics_with_nan": (
        lambda L, a: (L.median(a), L.median(a, 1), L.quantile(a, 0.5, dim=1),
                      L.quantile(a, 0.5, keepdim=True)),
        np.array([[1.0, np.nan, 3.0, 2.0], [1.0, 2.0, 3.0, 4.0]])),
    "quantile_tensor_q_in_the_inputs_dtype": (
        lambda L, a: (L.quantile(a, L.tensor(np.float32([0.3, 0.6, 0.7, 0.1])),
                                 interpolation="higher"),
                      L.quantile(a, L.tensor(np.float32([0.3, 0.6, 0.7, 0.1])),
                                 interpolation="lower")),
        constant(np.arange(11, dtype=np.float32))),
    "fmod_exact": (lambda L, a: (L.fmod(a, 0.1), L.fmod(a * 1e7, 3.0), L.fmod(a, float("inf")),
                                 L.fmod(L.tensor(np.array([-7, 7], np.int32)), 3)),
                   np.array([5.3, -5.3, 1.0])),
    "addmm_beta_0_ignores_nan": (
        lambda L, a, b: L.addmm(L.full((2, 2), float("nan"), dtype=a.dtype), a, b, beta=0),
        normal(2, 3),
        normal(3, 2)),
    "tensor_split_negative_and_var_mean_bool": (
        lambda L, a: (L.tensor_split(a, [-2, 5]), L.var_mean(a, False), L.std_mean(a, False)),
        normal(7)),
    "fill_cuts_the_gradient_of_the_old_values": (
        lambda L, a: (lambda y: (y.fill_(0.5), y + a)[1])(a * 2), normal(3)),
    "order_statistics": (lambda L, a: (L.median(a), a.median(1), L.kthvalue(a, 2, 0),
                                       L.quantile(a, 0.3), a.quantile(0.8, dim=1, keepdim=True),
                                       L.quantile(a, 0.5, dim=0, interpolation="lower"),
                                       L.quantile(a, 0.5, dim=0, interpolation="midpoint")),
                         normal(3, 6)),
    "searchsorted_bucketize": (
        lambda L, s, v: (L.searchsorted(s, v), L.searchsorted(s, v, right=True),
                         L.bucketize(v, s), L.searchsorted(s.repeat(2, 1), v.reshape(2, 3))),
        np.array([1.0, 3.0, 5.0, 7.0]), np.array([3.0, 6.0, 9.0, 0.0, 1.0, 7.0])),
    "nan_to_num_fmod": (
        lambda L, a, b: (L.nan_to_num(a / b), L.nan_to_num(a / b, nan=1.0, posinf=9.0,
                                                           neginf=-9.0), L.fmod(a, b + 3),
                         L.fmod(L.tensor([7, -7]), 3)),
        np.array([1.0, -1.0, 0.0, 2.5]), np.array([0.0, 0.0, 0.0, 2.0])),
    "matrix_compositions": (
        lambda L, i, a, b, c: (L.addmm(i, a, b, beta=0.5, alpha=2), L.baddbmm(
            i, a.unsqueeze(0), b.unsqueeze(0), alpha=0.1), L.cdist(a, c), L.cdist(a, c, p=1)),
        normal(2, 4), normal(2, 3), normal(3, 4), normal(5, 3)),
    "take_split_and_indices": (
        lambda L, a: (L.take_along_dim(a, a.argsort(1), 1), L.take_along_dim(a, L.tensor([0, 5])),
                      L.tensor_split(a, 4, 1), L.tensor_split(a, [1, 4], 1),
                      L.tril_indices(3, 4), L.triu_indices(4, 3, 1), L.logspace(0, 2, 5),
                      L.argwhere(a > 0), L.var_mean(a, 1), L.std_mean(a, 0, keepdim=True)),
        normal(3, 6)),
    "erf_atan2": (lambda L, a, b: (L.erf(a), L.atan2(a, b), a.atan2(b)), normal(3, 4),
                  normal(4)),
    # --- activations -------------------------------------------------------------------
    "activations": (lambda L, a: F(L).relu(a) + F(L).leaky_relu(a, 0.2) + F(L).elu(a)
                    + F(L).gelu(a) + F(L).silu(a) + F(L).softplus(a) + F(L).relu6(a * 4)
                    + F(L).hardtanh(a) + F(L).logsigmoid(a) + a.sigmoid() + a.tanh(),
                    normal(3, 5) * 2),
    "gelu_tanh": (lambda L, a: F(L).gelu(a, approximate="tanh"), normal(3, 5) * 2),
    "mobilenet_and_yolo_activations": (
        lambda L, a: F(L).hardsigmoid(a) + F(L).hardswish(a) + F(L).mish(a), normal(3, 5) * 3),
    "prelu_per_channel_and_shared": (
        lambda L, x, w, w1: (F(L).prelu(x, w), F(L).prelu(x, w1), F(L).prelu(x[0, :, 0], w1)),
        normal(2, 3, 4), positive(3) / 4, positive(1) / 4),
    "softplus_beta_threshold": (lambda L, a: F(L).softplus(a, beta=2.0, threshold=3.0),
                                normal(3, 5) * 2),
    "softmax_dims": (lambda L, a: a.softmax(1) + L.softmax(a, dim=0) + a.log_softmax(-1),
                     normal(3, 4)),
    "relu_method": (lambda L, a: a.relu() + L.relu(a), normal(3, 4)),
    # --- losses and other F functions -------------------------------------------------------
    "mse_l1": (lambda L, a, b: F(L).mse_loss(a, b) + F(L).l1_loss(a, b, reduction="sum"),
               normal(3, 4), normal(3, 4)),
    "smooth_l1_huber": (lambda L, a, b: F(L).smooth_l1_loss(a, b, beta=0.5)
                        + F(L).huber_loss(a, b, delta=1.5), normal(3, 4) * 2, normal(3, 4)),
    "mse_none": (lambda L, a, b: F(L).mse_loss(a, b, reduction="none"), normal(3), normal(3)),
    "binary_cross_entropy": (lambda L, p, t: F(L).binary_cross_entropy(p, t),
                             probabilities(4, 3), probabilities(4, 3)),
    "binary_cross_entropy_weight_sum": (
        lambda L, p, t, w: F(L).binary_cross_entropy(p, t, w, reduction="sum"),
        probabilities(4, 3), probabilities(4, 3).round(), constant(positive(3))),
    "binary_cross_entropy_at_0_and_1": (
        lambda L, p, t: F(L).binary_cross_entropy(p, t, reduction="none"),
        np.array([0.0, 1.0, 0.5, 1.0]), np.array([1.0, 1.0, 0.0, 0.0])),
    "bce_with_logits_pos_weight": (
        lambda L, x, t, pw: F(L).binary_cross_entropy_with_logits(x, t, pos_weight=pw),
        normal(4, 3), probabilities(4, 3), constant(positive(3))),
    "cross_entropy": (lambda L, x, t: F(L).cross_entropy(x, t), normal(5, 4),
                      np.array([0, 3, 1, 1, 2])),
    "cross_entropy_smoothing_weight": (
        lambda L, x, t, w: F(L).cross_entropy(x, t, weight=w, label_smoothing=0.2),
        normal(5, 4), np.array([0, 3, 1, 1, 2]), constant(positive(4))),
    "cross_entropy_probabilities": (
        lambda L, x, t: F(L).cross_entropy(x, t.softmax(1), label_smoothing=0.1),
        normal(3, 4), normal(3, 4)),
    "cross_entropy_2d": (lambda L, x, t: F(L).cross_entropy(x, t, ignore_index=1),
                         normal(2, 3, 2, 2), np.array([[[0, 1], [2, 2]], [[1, 0], [2, 1]]])),
    "nll_loss": (lambda L, x, t: F(L).nll_loss(x.log_softmax(1), t, reduction="sum"),
                 normal(4, 3), np.array([2, 0, 1, 2])),
    "kl_div_batchmean": (lambda L, x, t: F(L).kl_div(x.log_softmax(1), t.softmax(1),
                                                     reduction="batchmean"),
                         normal(3, 4), normal(3, 4)),
    "kl_div_zero_target": (lambda L, x, t: F(L).kl_div(x, t, reduction="sum"),
                           -positive(3), constant(np.array([0.0, 0.5, 0.5]))),
    "normalize": (lambda L, a: F(L).normalize(a) + F(L).normalize(a, p=1, dim=0), normal(3, 4)),
    "normalize_zero_row": (lambda L, a: F(L).normalize(a, dim=1),
                           np.array([[0.0, 0.0], [3.0, 4.0]])),
    "cosine_similarity": (lambda L, a, b: F(L).cosine_similarity(a, b), normal(3, 4), normal(3, 4)),
    "cosine_similarity_broadcast": (lambda L, a, b: L.cosine_similarity(a, b, dim=1),
                                    normal(3, 4), normal(1, 4)),
    "one_hot": (lambda L, t: (F(L).one_hot(t), F(L).one_hot(t, num_classes=5)),
                np.array([0, 2, 1])),
    "pad": (lambda L, a: F(L).pad(a, (1, 2, 0, 1), value=0.5), normal(1, 2, 3)),
    "pad_reflect_replicate_circular": (
        lambda L, a: (F(L).pad(a, (2, 3, 1, 3), mode="reflect"),
                      F(L).pad(a, (4, 1, 0, 2), mode="replicate"),
                      F(L).pad(a, (5, 2, 4, 1), mode="circular"),
                      F(L).pad(a[0], (3, 1), mode="reflect")),
        normal(2, 3, 4, 5)),
    "embedding_padding_idx": (lambda L, w, i: (F(L).embedding(i, w),
                                               F(L).embedding(i, w, padding_idx=0)),
                              normal(5, 3), np.array([[0, 2, 0], [4, 1, 1]])),
    "scaled_dot_product_attention": (
        lambda L, q, k, v, m: (F(L).scaled_dot_product_attention(q, k, v),
                               F(L).scaled_dot_product_attention(q, k, v, attn_mask=m),
                               F(L).scaled_dot_product_attention(q, k, v, scale=0.2),
                               F(L).scaled_dot_product_attention(q, k[..., :4, :], v[..., :4, :],
                                                                 is_causal=True)),
        normal(2, 3, 4, 8), normal(2, 3, 5, 8), normal(2, 3, 5, 6),
        constant(np.array([[1, 1, 0, 1, 0], [1, 0, 0, 0, 1], [1, 1, 1, 1, 1],
                           [0, 1, 0, 0, 0]], dtype=bool))),
    "attention_keeps_float16_with_a_float32_mask": (
        lambda L, q, m: F(L).scaled_dot_product_attention(q, q, q, attn_mask=m),
        constant(np.ones((1, 2, 3, 4), np.float16)), constant(np.zeros((3, 3), np.float32))),
    "layer_norm_affine": (lambda L, x, w, b: (F(L).layer_norm(x, (4,), w, b),
                                               F(L).layer_norm(x, x.shape[1:])),
                          normal(2, 3, 4), normal(4), normal(4)),
    "group_norm": (lambda L, x, w, b: (F(L).group_norm(x, 2, w, b), F(L).group_norm(x, 1),
                                       F(L).group_norm(x, 4)),
                   normal(2, 4, 3, 2), normal(4), normal(4)),
    "group_norm_sequence": (lambda L, x: F(L).group_norm(x, 3), normal(2, 6, 5)),
    # --- type promotion (forward dtypes, and gradients in each leaf's dtype) ----------------
    "int_times_float_scalar": (lambda L, a: a * 2.5, np.array([1, 2, 3])),
    "int_times_int_scalar": (lambda L, a: a * 2, np.array([1, 2, 3])),
    "int_true_division": (lambda L, a: (a / 2, a // 2, a % 2), np.array([1, -2, 3])),
    "bool_plus_int": (lambda L, a: (a > 0) + 1, normal(4)),
    "bool_plus_bool": (lambda L, a: (a > 0) + (a < 1), normal(4)),
    "float32_scalar_stays_float32": (lambda L, a: a * 2.5 + 1, normal(3).astype(np.float32)),
    "float32_with_float64": (lambda L, a, b: a * b, normal(3).astype(np.float32), normal(3)),
    "float32_with_0d_float64": (lambda L, a, b: a * b, normal(3).astype(np.float32),
                                np.array(2.0)),
    "int_with_0d_float64": (lambda L, a, b: a + b, np.array([1, 2]), np.array(0.5)),
    "int32_with_0d_int64": (lambda L, a: a + L.tensor(1), np.array([1, 2], dtype=np.int32)),
    "int_tensor_float_tensor": (lambda L, a, b: a * b, np.array([1, 2, 3]),
                                normal(3).astype(np.float32)),
    "cat_promotes": (lambda L, a, b: L.cat([a, b]), np.array([1, 2]),
                     normal(2).astype(np.float32)),
    "sum_of_bools_is_int64": (lambda L, a: ((a > 0).sum(), (a > 0).sum(1)), normal(3, 4)),
    "unique_bincount": (lambda L, a: (L.unique(a), a.unique(return_counts=True),
                                      L.unique(a, return_inverse=True), L.bincount(a),
                                      a.bincount(minlength=6)), np.array([3, 1, 3, 2, 1, 3])),
    "unique_rows": (lambda L, a: L.unique(a, dim=0), np.array([[1, 2], [1, 2], [0, 1]])),
    "comparisons": (lambda L, a, b: (a == b, a != b, a < b, a <= b, a > b, a >= b,
                                     a.eq(b), a.gt(0), L.lt(a, 1)), ties(3, 4), ties(4)),
    "logic": (lambda L, a: ((a > 0) & (a < 1), (a > 0) | (a < -1), ~(a > 0), (a > 0) ^ (a > 1)),
              normal(3, 4)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_same_as_pytorch(name):
    fn, *arrays = CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch's deprecation notes are not under test
        assert_parity(fn, *arrays)


def test_implicit_softmax_dim_is_pytorchs():
    # PyTorch (deprecated) picks dim 0 for 0-D, 1-D and 3-D inputs and dim 1 otherwise.
    for shape in [(4,), (2, 3), (2, 3, 4), (2, 3, 4, 5)]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert_parity(lambda L, a: F(L).softmax(a) + F(L).log_softmax(a), normal(*shape))
