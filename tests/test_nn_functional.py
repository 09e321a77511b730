"""``tinynet.nn.functional`` is a static module: explicit imports of the ops of ``tinynet.ops``."""
import ast
import pathlib
import types

import tinynet as tn
import tinynet.nn.functional as F

# The public names of tinynet.nn.functional when it filled itself with globals().update
# (listed before it became explicit imports): every one of them must stay.
NAMES_BEFORE = """
abs adaptive_avg_pool2d add all allclose amax amin any arange argmax argmin argsort astype
avg_pool2d batch_norm bernoulli binary_cross_entropy binary_cross_entropy_with_logits bincount
bitwise_and bitwise_not bitwise_or bitwise_xor bmm broadcast_to cat ceil chunk clamp clamp_max
clamp_min clip clone concat concatenate contiguous conv2d conv_transpose2d cos cosine_similarity
count_nonzero cross_entropy cumsum diag dice_loss div divide dot dropout einsum elu embedding empty
empty_like eq equal exp expand expand_as expm1 eye flatten flip floor floor_divide
focal_tversky_loss full full_like gather ge gelu getitem greater greater_equal gt hardtanh
huber_loss index_put index_select interpolate isclose isfinite isinf isnan kl_div l1_loss
layer_norm le leaky_relu lerp less less_equal linear linspace log log10 log1p log2 log_softmax
logical_and logical_not logical_or logical_xor logsigmoid logsumexp lt masked_fill masked_select
matmul max max_pool2d maximum mean min minimum mm movedim mse_loss mul multinomial multiply mv
narrow ne neg negative nll_loss nonzero norm normal normalize not_equal one_hot ones ones_like
outer pad permute pow prod rand rand_like randint randn randn_like randperm reciprocal relu relu6
remainder repeat reshape roll round rsqrt scatter scatter_add select sigmoid sign silu sin
smooth_l1_loss softmax softplus sort split sqrt square squeeze stack std sub subtract sum swapaxes
swapdims t tanh tile to_device topk trace transpose tril triu true_divide trunc tversky_loss
unbind unflatten unique unsqueeze upsample_nearest2d var where zeros zeros_like
""".split()


def public_ops():
    """The public functions of tinynet.ops (not its submodules math, conv, ...)."""
    return {name for name, value in vars(tn.ops).items()
            if not name.startswith("_") and not isinstance(value, types.ModuleType)}


def test_every_name_it_had_is_still_there():
    assert len(NAMES_BEFORE) == 198
    missing = sorted(set(NAMES_BEFORE) - set(F.__all__))
    assert not missing, f"tinynet.nn.functional lost {missing}"


def test_each_name_is_the_op_of_tinynet_ops():
    for name in F.__all__:
        assert getattr(F, name) is getattr(tn.ops, name), name


def test_every_public_op_is_there():
    """An op added to tinynet.ops needs its import line in tinynet/nn/functional.py."""
    missing = sorted(public_ops() - set(F.__all__))
    assert not missing, f"add {missing} to the imports of tinynet/nn/functional.py"
    assert set(F.__all__) == public_ops()


def test_the_module_is_static():
    """Only imports and ``__all__``: an editor (and a reader) sees where each name comes from."""
    tree = ast.parse(pathlib.Path(F.__file__).read_text())
    imported = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            imported |= {alias.asname or alias.name for alias in node.names}
        else:
            assert isinstance(node, (ast.Expr, ast.Assign)), ast.dump(node)[:80]
    assert imported == set(F.__all__)
    assert "globals" not in pathlib.Path(F.__file__).read_text()


def test_torch_style_use():
    assert F.conv2d is tn.ops.conv2d and F.relu is tn.ops.relu
    assert F.cross_entropy is tn.ops.cross_entropy and F.max_pool2d is tn.ops.max_pool2d
    assert "math" not in F.__all__ and "conv" not in F.__all__
