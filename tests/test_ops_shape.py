"""tinynet.ops.shape: gradient checks and behaviour of the shape ops (reshape, transpose, indexing,
split, cat)."""
import numpy as np
import pytest

import tinynet as tn
from tinynet import ops
from gradcases import GradCase, run_case
from sample_arrays import normal


GRADCHECK_CASES = [
    GradCase("reshape", lambda a: a.reshape(4, -1) * 1.0, lambda r: [normal(r, 2, 3, 2)]),
    GradCase("permute", lambda a: a.permute(2, 0, 1), lambda r: [normal(r, 2, 3, 4)]),
    GradCase("transpose_two_dims", lambda a: a.transpose(0, 2), lambda r: [normal(r, 2, 3, 4)]),
    GradCase("flip", lambda a: a.flip((0, 2)), lambda r: [normal(r, 2, 3, 2)]),
    GradCase("roll_dims_and_flat", lambda a: ops.roll(a, (1, -1), (0, 1)) + ops.roll(a, 2),
             lambda r: [normal(r, 3, 4)]),
    GradCase("getitem_slices", lambda a: a[1:, ::2, None], lambda r: [normal(r, 3, 4)]),
    GradCase("getitem_repeated_index", lambda a: a[np.array([0, 2, 0])],
             lambda r: [normal(r, 3, 2)]),
    GradCase("getitem_bool_mask", lambda a: a[a.data > 0], lambda r: [normal(r, 3, 4)]),
    GradCase("index_put_both_inputs", lambda a, v: ops.index_put(a, (slice(None), 1), v),
             lambda r: [normal(r, 3, 4), normal(r, 3)]),
    GradCase("gather_repeats",
             lambda a: a.gather(1, tn.tensor([[0, 0], [2, 1]], device=a.device)),
             lambda r: [normal(r, 2, 3)]),
    GradCase("scatter_into_both",
             lambda a, s: a.scatter(1, tn.tensor([[0, 2], [1, 0]], device=a.device), s),
             lambda r: [normal(r, 2, 3), normal(r, 2, 3)]),
    GradCase("scatter_add_repeats",
             lambda a, s: ops.scatter_add(a, 0, tn.tensor([[1, 1, 0]], device=a.device), s),
             lambda r: [normal(r, 2, 3), normal(r, 1, 3)]),
    # (padding_idx cuts its row's gradient on purpose, so gradcheck would disagree there)
    GradCase("embedding_repeated_rows",
             lambda w: ops.embedding(tn.tensor([[0, 2], [2, 3]], device=w.device), w),
             lambda r: [normal(r, 4, 3)]),
    GradCase("layer_norm", lambda x, w, b: ops.layer_norm(x, (3, 2), w, b),
             lambda r: [normal(r, 2, 3, 2), normal(r, 3, 2), normal(r, 2)]),
    GradCase("expand", lambda a: a.expand(2, -1, 4), lambda r: [normal(r, 3, 1)]),
    GradCase("repeat", lambda a: a.repeat(2, 1, 3), lambda r: [normal(r, 2, 3)]),
    GradCase("split_all_pieces_used", lambda a: ops.cat(a.split([1, 2], dim=1)[::-1], dim=1),
             lambda r: [normal(r, 2, 3)]),
    GradCase("chunk_one_piece_used", lambda a: a.chunk(2, dim=0)[1], lambda r: [normal(r, 5, 2)]),
    GradCase("cat", lambda a, b: ops.cat([a, b, a], dim=1),
             lambda r: [normal(r, 2, 3), normal(r, 2, 1)]),
    GradCase("stack", lambda a, b: ops.stack([a, b], dim=1),
             lambda r: [normal(r, 2, 3), normal(r, 2, 3)]),
    GradCase("pad", lambda a: ops.pad(a, (1, 2, 0, 1), value=0.5), lambda r: [normal(r, 1, 2, 3)]),
    GradCase("diagonal_offset_dims", lambda a: ops.diagonal(a, 1, 2, 0) * 2,
             lambda r: [normal(r, 3, 2, 4)]),
    GradCase("tril_triu", lambda a: ops.tril(a, -1) + ops.triu(a, 1),
             lambda r: [normal(r, 2, 3, 3)]),
    GradCase("clone", lambda a: a.clone(), lambda r: [normal(r, 3)]),
    GradCase("astype", lambda a: ops.astype(a, np.float64) * a, lambda r: [normal(r, 3)]),
    # through float32 and back: float32 rounding needs a larger step and tolerance
    GradCase("astype_float32_roundtrip", lambda a: a.astype(np.float32).astype(np.float64) * a,
             lambda r: [normal(r, 3)], tolerances={"eps": 1e-3, "atol": 1e-3, "rtol": 1e-2}),
    GradCase("to_device_cpu", lambda a: ops.to_device(a, "cpu"), lambda r: [normal(r, 3)]),
    GradCase("broadcast_to", lambda a: ops.broadcast_to(a, (2, 3, 4)), lambda r: [normal(r, 3, 1)]),
]


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=str)
def test_gradcheck(case):
    run_case(case)


def test_flatten_squeeze_unsqueeze_shapes():
    x = tn.ones(2, 3, 4, 5)
    assert x.flatten(1).shape == (2, 60)
    assert ops.flatten(x, 1, 2).shape == (2, 12, 5)
    assert x.unsqueeze(0).shape == (1, 2, 3, 4, 5)
    assert x.unsqueeze(-1).shape == (2, 3, 4, 5, 1)
    assert tn.ones(1, 3, 1).squeeze().shape == (3,)
    assert tn.ones(1, 3, 1).squeeze(0).shape == (3, 1)
    assert tn.ones(1, 3, 1).squeeze(1).shape == (1, 3, 1)   # not size 1: unchanged
    assert tn.tensor(2.0).flatten().shape == (1,)


def test_transpose_swaps_and_permute_reorders():
    x = tn.tensor(np.arange(24).reshape(2, 3, 4))
    assert x.transpose(1, 2).shape == (2, 4, 3)
    assert x.transpose(0, -1).tolist() == np.arange(24).reshape(2, 3, 4).swapaxes(0, 2).tolist()
    assert x.permute(2, 0, 1).shape == x.permute((2, 0, 1)).shape == (4, 2, 3)
    assert x.T.shape == x.transpose().shape == (4, 3, 2)
    with pytest.raises(TypeError, match=r"transpose\(\) takes from 1 to 3 positional arguments"):
        x.transpose(2, 0, 1)
    with pytest.raises(ValueError, match=r"permute: dims \(0, 0, 1\) are not a permutation"):
        x.permute(0, 0, 1)
    with pytest.raises(ValueError, match="t: expects a tensor with <= 2 dimensions"):
        x.t()


def test_size_dim_numel():
    x = tn.ones(2, 3, 4)
    assert x.size() == (2, 3, 4) and x.size(0) == 2 and x.size(-1) == 4
    assert x.dim() == 3 and x.numel() == 24 and len(x) == 2
    with pytest.raises(IndexError, match=r"size: dimension 3 is out of range"):
        x.size(3)


def test_expand_repeat_and_their_errors():
    x = tn.tensor([[1], [2]])
    assert x.expand(2, 3).tolist() == [[1, 1, 1], [2, 2, 2]]
    assert x.expand(2, -1, 2).shape == (2, 2, 2)
    assert x.repeat(1, 2).tolist() == [[1, 1], [2, 2]]
    with pytest.raises(ValueError, match=r"expand: a tensor of shape \(2, 1\) cannot be expanded"):
        x.expand(3, 3)
    with pytest.raises(ValueError, match="repeat: 1 repeat counts for a tensor with 2 dims"):
        x.repeat(2)


def test_split_and_chunk_sizes():
    x = tn.arange(7)
    assert [p.tolist() for p in x.split(3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [p.shape for p in x.split([2, 5])] == [(2,), (5,)]
    assert [p.shape for p in x.chunk(3)] == [(3,), (3,), (1,)]
    assert [p.shape for p in tn.arange(6).chunk(4)] == [(2,), (2,), (2,)]   # as PyTorch
    with pytest.raises(ValueError, match=r"split: sizes \[2, 2\] add up to 4, but dim 0"):
        x.split([2, 2])


def test_indexing_with_tensors_and_masks():
    x = tn.tensor(np.arange(12.0).reshape(3, 4))
    assert x[tn.tensor([2, 0])].shape == (2, 4)
    assert x[x > 9].tolist() == [10.0, 11.0]
    assert x[:, tn.tensor([True, False, True, False])].shape == (3, 2)
    assert x[[0, 1], [1, 2]].tolist() == [1.0, 6.0]
    with pytest.raises(IndexError, match=r"into a tensor of shape \(3, 4\)"):
        x[5]


def test_cat_and_stack_promote_and_check_shapes():
    assert ops.cat([tn.tensor([1, 2]), tn.tensor([0.5])]).dtype == np.float32
    assert ops.stack([tn.ones(2), tn.zeros(2)], dim=1).shape == (2, 2)
    with pytest.raises(ValueError, match=r"stack: tensor 1 has shape \(3,\)"):
        ops.stack([tn.ones(2), tn.ones(3)])
    with pytest.raises(TypeError, match="expected a sequence of tensors, got one Tensor"):
        ops.cat(tn.ones(2))


def test_gather_and_index_select():
    x = tn.tensor([[1, 2, 3], [4, 5, 6]])
    assert x.gather(1, tn.tensor([[2, 0], [1, 1]])).tolist() == [[3, 1], [5, 5]]
    assert x.index_select(1, tn.tensor([2, 0])).tolist() == [[3, 1], [6, 4]]
    with pytest.raises(TypeError, match="gather: index must be an integer tensor, got dtype "
                                        "float32"):
        x.gather(1, tn.ones(2, 2))


def test_scatter_makes_one_hot_rows_and_scatter_add_accumulates():
    labels = tn.tensor([0, 2, 1])
    assert tn.zeros(3, 3).scatter_(1, labels.unsqueeze(1), 1).tolist() == tn.eye(3)[labels].tolist()
    counts = tn.zeros(4).scatter_add(0, tn.tensor([1, 1, 3]), tn.ones(3))
    assert counts.tolist() == [0.0, 2.0, 0.0, 1.0]
    with pytest.raises(TypeError, match="scatter: give src"):
        tn.zeros(3).scatter(0, tn.tensor([0]))
