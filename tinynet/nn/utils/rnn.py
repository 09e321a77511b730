"""``tinynet.nn.utils.rnn``: batches of sequences of different lengths, with PyTorch's names.

    padded = pad_sequence([a, b, c], batch_first=True)         # (N, L_max, *), zero-padded
    packed = pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
    output, (h_n, c_n) = lstm(packed)                           # output: a PackedSequence
    output, lengths = pad_packed_sequence(output, batch_first=True)   # (N, L_max, H), (N,)

The packed layout is PyTorch's: the sequences sorted by length, longest first, and their
steps laid out time-major, step 0 of every sequence, then step 1 of those at least 2
long, and so on.  For sequences a, b, c of lengths [3, 1, 2] (sorted: a, c, b):

    data              a0 c0 b0 | a1 c1 | a2   (sum of lengths, *)
    batch_sizes       [3, 2, 1]               sequences still running at step t (int64, CPU)
    sorted_indices    [0, 2, 1]               the caller's index of the k-th longest
    unsorted_indices  [0, 2, 1]               its inverse: where sequence i went

Packing and unpacking are each one gather (``getitem`` with integer arrays computed
on the CPU from the lengths), so gradients flow through both with getitem's backward;
nothing here needs an autograd Function of its own.
"""
from collections import namedtuple

import numpy as np

from ...autograd import Tensor, tensor
from ...ops.creation import full
from ...ops.shape import cat, stack

__all__ = ["PackedSequence", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence",
           "pack_sequence", "unpad_sequence", "unpack_sequence"]


class PackedSequence(namedtuple("PackedSequence",
                                ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])):
    """A packed batch (see the module's docstring): data (sum of lengths, *), batch_sizes
    (L_max,) int64 on the CPU, and the sort permutation (None when the batch came sorted)
    and its inverse, int64 on data's device.  Build it with ``pack_padded_sequence`` or
    ``pack_sequence``; a recurrent layer given one returns one.
    """
    __slots__ = ()

    def __new__(cls, data, batch_sizes, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = _invert(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        """data moved or cast as ``Tensor.to`` does; the indices follow data to its device,
        batch_sizes stays on the CPU (as in PyTorch)."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        indices = [None if i is None else i.to(data.device)
                   for i in (self.sorted_indices, self.unsorted_indices)]
        return type(self)(data, self.batch_sizes, *indices)

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def float(self):
        return self._replace(data=self.data.float())

    def double(self):
        return self._replace(data=self.data.double())

    def half(self):
        return self._replace(data=self.data.half())

    @property
    def is_cuda(self):
        return self.data.is_cuda


def _invert(permutation):
    """The inverse permutation, as an int64 tensor on the same device."""
    order = _numpy_ints(permutation)
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return tensor(inverse, device=permutation.device)


def _numpy_ints(values):
    """A list, array or tensor (on any device) of integers as an int64 NumPy array."""
    if isinstance(values, Tensor):
        values = values.detach().cpu().numpy()
    return np.asarray(values).astype(np.int64)


def _positions(batch_sizes, sorted_indices):
    """(step, batch index) in the padded batch of every packed row, the batch index in the
    caller's order: two int64 arrays of length sum(batch_sizes)."""
    steps = np.repeat(np.arange(len(batch_sizes)), batch_sizes)
    ranks = np.concatenate([np.arange(size) for size in batch_sizes])   # k-th longest
    return steps, (ranks if sorted_indices is None else _numpy_ints(sorted_indices)[ranks])


def _pack_like(padded, packed, batch_first=False):
    """``padded`` (L, N, *) (batch_first: (N, L, *)), in the caller's batch order, packed
    with the layout (batch_sizes, sort order) of the PackedSequence ``packed``."""
    steps, batch = _positions(_numpy_ints(packed.batch_sizes), packed.sorted_indices)
    data = padded[(batch, steps) if batch_first else (steps, batch)]
    return packed._replace(data=data)


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """input (L, N, *) (batch_first: (N, L, *)), sequence i being its first lengths[i]
    steps -> a PackedSequence.  ``enforce_sorted``: lengths must be in decreasing order
    (sorted_indices is then None); otherwise the batch is sorted here, stably."""
    name = "pack_padded_sequence"
    if input.ndim < 2:
        raise ValueError(f"{name}: expected input of at least 2 dimensions (L, N, *), got "
                         f"shape {tuple(input.shape)}")
    lengths = _numpy_ints(lengths)
    steps, batch = (input.shape[1], input.shape[0]) if batch_first else input.shape[:2]
    if lengths.ndim != 1 or len(lengths) != batch:
        raise RuntimeError(f"{name}: expected lengths to hold one length per sequence, "
                           f"{batch}, got shape {lengths.shape} (input of shape "
                           f"{tuple(input.shape)}, batch_first={batch_first})")
    if enforce_sorted and np.any(np.diff(lengths) > 0):
        raise RuntimeError(f"{name}: lengths must be sorted in decreasing order when "
                           f"enforce_sorted is True, got {lengths.tolist()}; pass "
                           f"enforce_sorted=False to have them sorted")
    if batch == 0 or lengths.min() <= 0:
        raise RuntimeError(f"{name}: every length must be greater than 0, got lengths "
                           f"{lengths.tolist()}")
    # PyTorch does not check this one, and returns batch_sizes that do not match its data.
    if lengths.max() > steps:
        raise RuntimeError(f"{name}: lengths {lengths.tolist()} run past the input's {steps} "
                           f"time steps (input of shape {tuple(input.shape)}, "
                           f"batch_first={batch_first})")
    sorted_indices = None
    if not enforce_sorted:
        order = np.argsort(-lengths, kind="stable")     # PyTorch's order, ties included
        sorted_indices, lengths = tensor(order, device=input.device), lengths[order]
    batch_sizes = (lengths[None, :] > np.arange(lengths[0])[:, None]).sum(1)
    return _pack_like(input, PackedSequence(None, tensor(batch_sizes.astype(np.int64)),
                                            sorted_indices), batch_first)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """The inverse of ``pack_padded_sequence``: a PackedSequence -> (padded, lengths), padded
    (T, N, *) (batch_first: (N, T, *)) in the caller's batch order, filled with
    ``padding_value`` past each sequence's end; T is the longest length or ``total_length``;
    lengths (N,) int64 on the CPU."""
    data, batch_sizes = sequence.data, _numpy_ints(sequence.batch_sizes)
    longest = len(batch_sizes)
    if total_length is not None and total_length < longest:
        raise ValueError(f"pad_packed_sequence: total_length must be at least the length of "
                         f"the longest sequence, {longest}, got total_length={total_length}")
    steps, batch = _positions(batch_sizes, sequence.sorted_indices)
    # Every padded place takes a row of data, or else a padding row appended after them.
    index = np.full((total_length or longest, batch_sizes[0]), len(steps), dtype=np.int64)
    index[steps, batch] = np.arange(len(steps))
    padding = full((1,) + tuple(data.shape[1:]), padding_value, dtype=data.dtype,
                   device=data.device)
    padded = cat([data, padding])[index.T if batch_first else index]
    lengths = np.bincount(batch, minlength=batch_sizes[0])
    return padded, tensor(lengths.astype(np.int64))


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """N tensors (L_i, *) -> one (L_max, N, *) (batch_first: (N, L_max, *)), each padded
    with ``padding_value`` after its steps (``padding_side="left"``: before them)."""
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("pad_sequence: received an empty list of sequences")
    if padding_side not in ("left", "right"):
        raise ValueError(f"pad_sequence: padding_side must be 'left' or 'right', got "
                         f"{padding_side!r}")
    shapes = [tuple(s.shape) for s in sequences]
    if any(len(shape) == 0 or shape[1:] != shapes[0][1:] for shape in shapes):
        raise RuntimeError(f"pad_sequence: the sequences must be (L_i, *) with the same * "
                           f"after their lengths, got shapes {shapes}")
    longest = max(shape[0] for shape in shapes)
    padded = []
    for s in sequences:
        padding = full((longest - s.shape[0],) + tuple(s.shape[1:]), padding_value,
                       dtype=s.dtype, device=s.device)
        padded.append(cat([s, padding] if padding_side == "right" else [padding, s]))
    return stack(padded, 0 if batch_first else 1)


def pack_sequence(sequences, enforce_sorted=True):
    """N tensors (L_i, *) -> a PackedSequence (``enforce_sorted``: longest first)."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The inverse of ``pad_sequence``: (L, N, *) (batch_first: (N, L, *)) and the N
    lengths -> the list of the N sequences (lengths[i], *)."""
    padded = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    return [padded[i, :length] for i, length in enumerate(_numpy_ints(lengths).tolist())]


def unpack_sequence(packed_sequences):
    """The inverse of ``pack_sequence``: a PackedSequence -> the list of its sequences."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
