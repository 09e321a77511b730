"""``DistributedDataParallel``: one model per rank, gradients averaged during backward.

    dist.init_process_group()                       # under mpiexec -n 2
    model = nn.parallel.DistributedDataParallel(model)
    for batch in loader:                            # each rank its shard (DistributedSampler)
        loss = criterion(model(batch.x), batch.y)   # the mean over this rank's slice
        optimizer.zero_grad(); loss.backward()      # .grad: the average over all ranks
        optimizer.step()                            # the same step on every rank

How it works (PyTorch's design, Li et al., "PyTorch Distributed", VLDB 2020):

1. At wrap time rank 0's parameters and buffers are broadcast, so every rank
   starts from the same model.
2. The parameters are split into *buckets* of about ``bucket_cap_mb`` each,
   in the reverse order of ``model.parameters()`` (about the order backward
   finishes them; the first bucket is capped at 1 MB so communication starts
   early).  A hook on each parameter (``register_post_accumulate_grad_hook``)
   runs as soon as backward has finished its ``.grad``.
3. When every parameter of a bucket is done, its gradients are copied into
   one flat buffer and an asynchronous all-reduce (``MPI_Iallreduce``) of it
   starts, while backward goes on with the layers below.  Buckets start in
   their fixed order on every rank (MPI needs the same order everywhere).
4. When the last bucket has started, DDP waits for all of them and writes
   the averages back into each ``.grad``: every rank then holds the mean of
   the ranks' gradients, and the same optimizer step keeps them equal.

``no_sync()``: gradients only accumulate locally (gradient accumulation);
the next backward outside it averages the accumulated ``.grad``.
``broadcast_buffers`` (default True): rank 0's buffers (BatchNorm's running
statistics) are broadcast before each forward; ``nn.SyncBatchNorm`` instead
normalizes with the global batch.

A parameter that gets no gradient leaves its bucket unfinished: with
``find_unused_parameters=False`` the next forward raises, naming it; with
True, the graph of each forward's output is searched for the parameters it
uses and the others count as done (their ``.grad`` gets the other ranks'
average, or stays as it is when no rank used them); the buckets are then
reduced at the end of backward, without overlap, since ranks that use
different parameters would otherwise start them at different points.
Which backward reduces is decided by the forward: a forward outside
``no_sync()`` is averaged even if its backward runs inside.
"""
import contextlib

from ... import backend, distributed
from ...autograd import Function, Tensor, is_grad_enabled
from ..module import Module

__all__ = ["DistributedDataParallel"]

#: PyTorch's first bucket is small so that the first all-reduce starts early.
FIRST_BUCKET_MB = 1.0


class _Bucket:
    """Parameters whose gradients travel in one flat buffer (all of one dtype and device)."""

    def __init__(self, params):
        self.params = params
        self.size = sum(p.numel() for p in params)
        self.reset()

    def reset(self):
        self.done = set()           # ids of the parameters whose gradient is final
        self.work = None            # the all-reduce in flight
        self.buffer = None


class DistributedDataParallel(Module):
    """Data-parallel training of ``module`` over the ranks of ``process_group``.

    Arguments as ``torch.nn.parallel.DistributedDataParallel``: ``module``,
    ``device_ids`` / ``output_device`` (accepted; tinynet has one device per
    process), ``broadcast_buffers``, ``process_group`` (None: the default
    group), ``bucket_cap_mb`` (25), ``find_unused_parameters``,
    ``gradient_as_bucket_view`` and ``static_graph`` (accepted, no effect).
    The wrapped model is ``self.module``; state dict keys start with ``module.``.
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0,
                 broadcast_buffers=True, process_group=None, bucket_cap_mb=None,
                 find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False):
        super().__init__()
        if not (distributed.is_available() and distributed.is_initialized()):
            raise RuntimeError("DistributedDataParallel: the default process group has not been "
                               "initialized; call tinynet.distributed.init_process_group() "
                               "first (and launch with mpiexec -n N for N ranks)")
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel wraps a Module, got "
                            f"{type(module).__name__}")
        self.module = module
        self.process_group = process_group
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.require_backward_grad_sync = True       # False inside no_sync()
        self.world_size = distributed.get_world_size(process_group)
        names = {id(p): n for n, p in module.named_parameters()}
        self._params = [p for p in module.parameters() if p.requires_grad]
        if not self._params:
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't have "
                               "any parameter that requires a gradient")
        self._names = {id(p): names[id(p)] for p in self._params}
        self._sync_from_rank_0(list(module.parameters()) + self._module_buffers())
        cap = 25.0 if bucket_cap_mb is None else float(bucket_cap_mb)
        self._buckets = _make_buckets(self._params, cap)
        self._bucket_of = {id(p): b for b in self._buckets for p in b.params}
        self._next_bucket = 0            # buckets start in this order on every rank
        self._reducing = False           # a backward is expected to reduce the buckets
        self._unused, self._unused_ids, self._waiting_for = [], set(), 0
        self._handles = [p.register_post_accumulate_grad_hook(self._gradient_ready)
                         for p in self._params]

    # -- forward --------------------------------------------------------------------
    def forward(self, *inputs, **kwargs):
        self._check_previous_reduction()
        if self.broadcast_buffers and self.world_size > 1:
            self._sync_from_rank_0(self._module_buffers())
        output = self.module(*inputs, **kwargs)
        if is_grad_enabled() and self.require_backward_grad_sync and self.world_size > 1:
            self._prepare_reduction(output)
        return output

    @contextlib.contextmanager
    def no_sync(self):
        """Within the block, backward only accumulates gradients on this rank."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    def _module_buffers(self):
        return [b for b in self.module.buffers() if b is not None]

    def _sync_from_rank_0(self, tensors):
        """Broadcast ``tensors`` from rank 0, one flat buffer per dtype."""
        if self.world_size == 1:
            return
        by_dtype = {}
        for t in tensors:
            by_dtype.setdefault((t.data.dtype, backend.device_of(t.data)), []).append(t)
        for group in by_dtype.values():
            xp = backend.get_array_module(group[0].data)
            flat = xp.concatenate([t.data.reshape(-1) for t in group])
            distributed.broadcast(flat, src=0, group=self.process_group)
            _scatter_into([t.data for t in group], flat)

    def _prepare_reduction(self, output):
        """Expect one backward that reduces the buckets (decided here, at forward time, as
        PyTorch does: a backward run inside ``no_sync()`` after this forward still averages)."""
        for bucket in self._buckets:
            bucket.reset()
        self._next_bucket, self._reducing = 0, True
        self._unused = []
        if self.find_unused_parameters:
            # The unused count as done only once every used one is: ranks may use different
            # parameters, and a bucket started early on one rank only would put its
            # all-reduce before a collective of backward (SyncBatchNorm's) there and after
            # it on the other, and MPI needs the same order on every rank.  So with this
            # option the buckets are reduced at the end of backward, without overlap.
            used = _leaves_reached_from(output)
            self._unused = [p for p in self._params if id(p) not in used]
            self._unused_ids = {id(p) for p in self._unused}
            self._waiting_for = len(self._params) - len(self._unused)
            if self._waiting_for == 0:
                self._mark_unused_done()

    def _check_previous_reduction(self):
        if not self._reducing or not any(b.done for b in self._buckets):
            return          # no backward since the last forward (e.g. evaluation)
        missing = [self._names[id(p)] for b in self._buckets for p in b.params
                   if id(p) not in b.done]
        raise RuntimeError(
            "DistributedDataParallel: expected to have finished reduction in the prior iteration "
            "before starting a new one: parameters that got no gradient on rank "
            f"{distributed.get_rank(self.process_group)}: {', '.join(missing)}.  Your module "
            "has parameters that were not used in producing the loss; pass "
            "find_unused_parameters=True to DistributedDataParallel, or make every parameter "
            "take part in the loss")

    # -- backward: the hooks ----------------------------------------------------------
    def _gradient_ready(self, param):
        if not self._reducing:
            return
        if not self.find_unused_parameters:
            self._mark_done(param)
            return
        if id(param) in self._unused_ids:      # the graph search missed a use: counted anyway
            return
        self._bucket_of[id(param)].done.add(id(param))     # started at the end, see above
        self._waiting_for -= 1
        if self._waiting_for == 0:
            self._mark_unused_done()

    def _mark_unused_done(self):
        for p in self._unused:
            self._bucket_of[id(p)].done.add(id(p))
        self._start_ready_buckets()

    def _mark_done(self, param):
        self._bucket_of[id(param)].done.add(id(param))
        self._start_ready_buckets()

    def _start_ready_buckets(self):
        """Start, in their fixed order, every bucket whose parameters are all done."""
        while (self._next_bucket < len(self._buckets)
               and len(self._buckets[self._next_bucket].done)
               == len(self._buckets[self._next_bucket].params)):
            self._start(self._buckets[self._next_bucket])
            self._next_bucket += 1
        if self._next_bucket == len(self._buckets):
            self._finish()

    def _start(self, bucket):
        """Copy the bucket's gradients into one buffer (and a 1 per parameter that has one,
        so ranks learn which parameters some rank used) and start averaging it."""
        first = bucket.params[0].data
        xp = backend.get_array_module(first)
        parts = [xp.zeros(p.numel(), first.dtype) if p.grad is None else p.grad.data.reshape(-1)
                 for p in bucket.params]
        present = xp.asarray([0.0 if p.grad is None else 1.0 for p in bucket.params],
                             dtype=first.dtype)
        bucket.buffer = xp.concatenate(parts + [present])
        bucket.work = distributed.all_reduce(bucket.buffer, op=distributed.ReduceOp.AVG,
                                             group=self.process_group, async_op=True)

    def _finish(self):
        """Wait for every bucket and write the averages into the ``.grad``s."""
        self._reducing = False
        for bucket in self._buckets:
            bucket.work.wait()
            n = len(bucket.params)
            averages, present = bucket.buffer[:-n], bucket.buffer[-n:]
            start = 0
            for p, used in zip(bucket.params, present.tolist()):
                values = averages[start:start + p.numel()].reshape(p.shape)
                start += p.numel()
                if p.grad is not None:
                    p.grad.data[...] = values          # in place, as optimizers expect
                elif used > 0:                         # another rank used it
                    p.grad = Tensor._from_array(values.copy())
            bucket.buffer = bucket.work = None

    def __repr__(self):
        return f"DistributedDataParallel(\n  (module): {self.module!r}\n)"


def _make_buckets(params, cap_mb):
    """Buckets in reverse parameter order, one dtype and device each, the first capped at
    FIRST_BUCKET_MB and the others at ``cap_mb`` (a parameter larger than the cap gets a
    bucket of its own)."""
    buckets, current, current_bytes = [], [], 0
    cap = min(FIRST_BUCKET_MB, cap_mb) * 2 ** 20

    def kind(p):
        return p.data.dtype, backend.device_of(p.data)

    for p in reversed(params):
        nbytes = p.numel() * p.data.dtype.itemsize
        if current and (current_bytes + nbytes > cap or kind(current[0]) != kind(p)):
            buckets.append(_Bucket(current))
            current, current_bytes, cap = [], 0, cap_mb * 2 ** 20
        current.append(p)
        current_bytes += nbytes
    if current:
        buckets.append(_Bucket(current))
    return buckets


def _scatter_into(arrays, flat):
    """Copy consecutive pieces of the 1-D ``flat`` into ``arrays``, in place."""
    start = 0
    for a in arrays:
        a[...] = flat[start:start + a.size].reshape(a.shape)
        start += a.size


def _tensors_in(output):
    """The Tensors in ``output``: a Tensor, or (nested) tuples, lists and dicts of them."""
    if isinstance(output, Tensor):
        return [output]
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        return [t for item in output for t in _tensors_in(item)]
    return []


def _leaves_reached_from(output):
    """ids of the leaf Tensors that the graph of ``output`` reaches."""
    stack = [t.grad_fn for t in _tensors_in(output) if t.grad_fn is not None]
    seen, leaves = set(), set()
    while stack:
        fn = stack.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        for edge in fn.edges:
            if edge is None:
                continue
            if isinstance(edge.node, Function):
                stack.append(edge.node)
            else:
                leaves.add(id(edge.node))
    return leaves

