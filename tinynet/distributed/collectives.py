"""The collectives on tensors: ``all_reduce``, ``broadcast``, ``all_gather``, ... (PyTorch's API).

Each takes tinynet Tensors or NumPy/CuPy arrays and changes them in place, as
``torch.distributed`` does; with ``async_op=True`` it returns a ``Work`` at once
(``work.wait()`` finishes it), otherwise it returns None when done.  Collectives
work on values, outside autograd: they write the tensor's array and record
nothing in the graph.

What reaches the backend is one contiguous array per tensor (``_Buffer``):

* a contiguous array is handed over as it is, and reduced or received in
  place: a flat gradient bucket is never copied;
* a non-contiguous one (a transposed or sliced view) is copied to a
  contiguous array, and the result written back when the collective finishes;
* a CuPy array on the MPI backend is copied to the host and back.

Every rank must call the same collectives in the same order, with tensors of
the same shape and dtype: the MPI backend checks this and raises a
``RuntimeError`` naming the difference.  Arguments that one rank can check
alone (a list of the wrong length, a shape that differs from the input's, a
rank out of range) raise before anything is sent.
"""
import numpy as np

from .. import backend as _backend
from ..autograd import Tensor
from .process_group import default_group
from .reduce_op import ReduceOp, check_reduce_op
from .work import Work

__all__ = ["all_reduce", "broadcast", "all_gather", "all_gather_into_tensor", "reduce", "gather",
           "scatter", "barrier"]


def array_of(tensor, where, name="tensor"):
    """The array behind a Tensor, or the array itself; a TypeError for anything else."""
    if isinstance(tensor, Tensor):
        return tensor.data
    if _backend.is_array(tensor):
        return tensor
    raise TypeError(f"{where}: {name} must be a tinynet Tensor or a NumPy/CuPy array, "
                    f"got {type(tensor).__name__}")


class _Buffer:
    """The contiguous array a backend communicates in, for one tensor's array, and the way back."""

    def __init__(self, data, comm, where, writable=True):
        if writable and not getattr(data.flags, "writeable", True):
            raise ValueError(f"{where}: the tensor's array is read-only, so the result cannot "
                             "be written into it")
        self.data = data
        if comm.name == "mpi" and _backend.device_of(data) == "gpu":
            self.array = np.ascontiguousarray(_backend.to_numpy(data))   # MPI sees host memory
        elif data.flags.c_contiguous:
            self.array = data
        else:
            self.array = _backend.get_array_module(data).ascontiguousarray(data)

    def write_back(self):
        """Copy the result into the tensor's own array, if the collective worked on a copy."""
        if self.array is not self.data:
            copy_into(self.data, self.array)


def copy_into(destination, source):
    """``destination[...] = source``, moving ``source`` to ``destination``'s device first."""
    destination[...] = _backend.to_device(source, _backend.device_of(destination))


def rank_argument(value, group_value, group, where, name, default=None):
    """``src``/``dst`` (or ``group_src``/``group_dst``: the same ranks, one group), checked."""
    if value is not None and group_value is not None:
        raise ValueError(f"{where}: give {name} or group_{name}, not both")
    value = group_value if value is None else value
    if value is None:
        if default is None:
            raise ValueError(f"{where}: {name} (a rank) is required")
        value = default
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{where}: {name} must be a rank (an int), got {value!r}")
    if not 0 <= value < group.size():
        raise ValueError(f"{where}: {name}={value} is not a rank of the group "
                         f"(ranks 0..{group.size() - 1})")
    return int(value)


def _check_like(arrays, like, where, name):
    """Every array in ``arrays`` must have ``like``'s shape and dtype."""
    for index, array in enumerate(arrays):
        if array.shape != like.shape or array.dtype != like.dtype:
            raise ValueError(f"{where}: {name}[{index}] is {array.dtype} {tuple(array.shape)}, "
                             f"but every entry must match tensor: {like.dtype} {tuple(like.shape)}")


def _list_of_arrays(tensors, group, where, name):
    if tensors is None or isinstance(tensors, (Tensor, str)) or _backend.is_array(tensors):
        raise TypeError(f"{where}: {name} must be a list of tensors, one per rank")
    arrays = [array_of(t, where, f"{name}[{i}]") for i, t in enumerate(tensors)]
    if len(arrays) != group.size():
        raise ValueError(f"{where}: {name} holds {len(arrays)} tensor(s); it needs one per rank "
                         f"({group.size()})")
    return arrays


def _run(comm, pending, finish, async_op):
    """The Work of a started collective, or (blocking) wait for it and return None."""
    work = Work(comm, pending, finish)
    if async_op:
        return work
    work.wait()
    return None


def _divider(op, array, group):
    """AVG is reduced as a SUM: divide by the world size once the sum is there."""
    def divide():
        if op is ReduceOp.AVG:
            array[...] /= group.size()
    return divide


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``tensor`` over all ranks, in place: every rank ends with the result.

    ``op``: ``ReduceOp.SUM`` (default), ``AVG`` (floats), ``PRODUCT``, ``MIN``,
    ``MAX``, ``BAND``/``BOR``/``BXOR`` (integers, bools).
    """
    group = default_group(group, "all_reduce")
    data = array_of(tensor, "all_reduce")
    op = check_reduce_op(op, data.dtype, "all_reduce")
    comm = group.backend_for(data, "all_reduce")
    buffer = _Buffer(data, comm, "all_reduce")
    pending = comm.all_reduce(buffer.array, op)
    divide = _divider(op, buffer.array, group)

    def finish():
        divide()
        buffer.write_back()
    return _run(comm, pending, finish, async_op)


def broadcast(tensor, src=None, group=None, async_op=False, group_src=None):
    """Copy rank ``src``'s ``tensor`` into ``tensor`` on every other rank."""
    group = default_group(group, "broadcast")
    src = rank_argument(src, group_src, group, "broadcast", "src")
    data = array_of(tensor, "broadcast")
    comm = group.backend_for(data, "broadcast")
    buffer = _Buffer(data, comm, "broadcast", writable=group.rank() != src)
    pending = comm.broadcast(buffer.array, src)
    return _run(comm, pending, buffer.write_back if group.rank() != src else None, async_op)


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """Fill ``tensor_list[r]`` with rank r's ``tensor``, on every rank.

    ``tensor_list`` holds one tensor per rank, each of ``tensor``'s shape and dtype.
    """
    group = default_group(group, "all_gather")
    data = array_of(tensor, "all_gather")
    outputs = _list_of_arrays(tensor_list, group, "all_gather", "tensor_list")
    _check_like(outputs, data, "all_gather", "tensor_list")
    comm = group.backend_for(data, "all_gather")
    send = _Buffer(data, comm, "all_gather", writable=False).array
    xp = _backend.get_array_module(send)
    received = xp.empty((group.size(),) + tuple(data.shape), data.dtype)
    pending = comm.all_gather(send, received)

    def finish():
        for rank, output in enumerate(outputs):
            copy_into(output, received[rank])
    return _run(comm, pending, finish, async_op)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """Gather every rank's ``input_tensor`` into one tensor, rank after rank.

    ``output_tensor`` is ``(world_size * n, ...)`` for an input ``(n, ...)``
    (concatenated) or ``(world_size, n, ...)`` (stacked), of the input's dtype.
    """
    group = default_group(group, "all_gather_into_tensor")
    output = array_of(output_tensor, "all_gather_into_tensor", "output_tensor")
    data = array_of(input_tensor, "all_gather_into_tensor", "input_tensor")
    size, shape = group.size(), tuple(data.shape)
    allowed = [(size,) + shape]
    if shape:
        allowed.append((size * shape[0],) + shape[1:])
    if tuple(output.shape) not in allowed or output.dtype != data.dtype:
        raise ValueError(f"all_gather_into_tensor: output_tensor is {output.dtype} "
                         f"{tuple(output.shape)}; for an input {data.dtype} {shape} on "
                         f"{size} ranks it must be {data.dtype} "
                         + " or ".join(str(s) for s in reversed(allowed)))
    comm = group.backend_for(data, "all_gather")
    send = _Buffer(data, comm, "all_gather_into_tensor", writable=False).array
    buffer = _Buffer(output, comm, "all_gather_into_tensor")
    pending = comm.all_gather(send, buffer.array.reshape((size,) + shape))  # a view: contiguous
    return _run(comm, pending, buffer.write_back, async_op)


def reduce(tensor, dst=None, op=ReduceOp.SUM, group=None, async_op=False, group_dst=None):
    """Reduce ``tensor`` over all ranks into rank ``dst``'s ``tensor`` (the others keep theirs)."""
    group = default_group(group, "reduce")
    dst = rank_argument(dst, group_dst, group, "reduce", "dst")
    data = array_of(tensor, "reduce")
    op = check_reduce_op(op, data.dtype, "reduce")
    comm = group.backend_for(data, "reduce")
    is_dst = group.rank() == dst
    buffer = _Buffer(data, comm, "reduce", writable=is_dst)
    pending = comm.reduce(buffer.array, dst, op)
    divide = _divider(op, buffer.array, group)

    def finish():
        if is_dst:
            divide()
            buffer.write_back()
    return _run(comm, pending, finish, async_op)


def gather(tensor, gather_list=None, dst=None, group=None, async_op=False, group_dst=None):
    """Collect every rank's ``tensor`` into ``gather_list`` on rank ``dst`` (default 0).

    ``gather_list`` (one tensor per rank) is given on ``dst`` only.
    """
    group = default_group(group, "gather")
    dst = rank_argument(dst, group_dst, group, "gather", "dst", default=0)
    data = array_of(tensor, "gather")
    is_dst = group.rank() == dst
    if is_dst:
        outputs = _list_of_arrays(gather_list, group, "gather", "gather_list")
        _check_like(outputs, data, "gather", "gather_list")
    elif gather_list:
        raise ValueError(f"gather: gather_list must be given on the destination rank (dst={dst}) "
                         f"only, and this is rank {group.rank()}")
    comm = group.backend_for(data, "gather")
    send = _Buffer(data, comm, "gather", writable=False).array
    received = np.empty((group.size(),) + tuple(data.shape), data.dtype) if is_dst else None
    pending = comm.gather(send, received, dst)

    def finish():
        if is_dst:
            for rank, output in enumerate(outputs):
                copy_into(output, received[rank])
    return _run(comm, pending, finish, async_op)


def scatter(tensor, scatter_list=None, src=None, group=None, async_op=False, group_src=None):
    """Give rank r the tensor ``scatter_list[r]`` of rank ``src`` (default 0), into ``tensor``.

    ``scatter_list`` (one tensor per rank, each of ``tensor``'s shape and dtype) is
    given on ``src`` only.
    """
    group = default_group(group, "scatter")
    src = rank_argument(src, group_src, group, "scatter", "src", default=0)
    data = array_of(tensor, "scatter")
    comm = group.backend_for(data, "scatter")
    send = None
    if group.rank() == src:
        inputs = _list_of_arrays(scatter_list, group, "scatter", "scatter_list")
        _check_like(inputs, data, "scatter", "scatter_list")
        send = np.stack([_backend.to_numpy(array) for array in inputs])
    elif scatter_list:
        raise ValueError(f"scatter: scatter_list must be given on the source rank (src={src}) "
                         f"only, and this is rank {group.rank()}")
    buffer = _Buffer(data, comm, "scatter")
    pending = comm.scatter(buffer.array, send, src)
    return _run(comm, pending, buffer.write_back, async_op)


def barrier(group=None, async_op=False, device_ids=None, timeout=None):
    """Wait until every rank has called ``barrier`` (``timeout``: as ``Work.wait``'s)."""
    group = default_group(group, "barrier")
    work = Work(group.mpi, group.mpi.barrier())
    if async_op:
        return work
    work.wait(timeout)
    return None
