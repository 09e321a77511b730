"""Averages of a model's weights over training (``torch.optim.swa_utils`` semantics).

The weights at the end of training are one noisy point of a trajectory; an
average of the trajectory usually generalizes better (Polyak and Juditsky 1992;
Izmailov et al. 2018, "Averaging weights leads to wider optima").  Two averages:

    exponential moving average (EMA), after every optimizer step:
        avg <- decay * avg + (1 - decay) * w                     (about 1 / (1 - decay) steps)
    equal average (SWA, the default ``AveragedModel``), of the n models seen so far:
        avg <- avg + (w - avg) / (n + 1)

    ema = tn.optim.swa_utils.AveragedModel(
        model, multi_avg_fn=tn.optim.swa_utils.get_ema_multi_avg_fn(0.999), use_buffers=True)
    for x, y in batches:
        ...; optimizer.step()
        ema.update_parameters(model)
    ema.module.eval(); predictions = ema(x)       # the averaged network

``use_buffers=True`` averages the buffers too (batch norm's running mean and
variance; integer buffers such as ``num_batches_tracked`` get the same formula,
truncated, as in PyTorch), so the averaged network is ready to use.  With
``use_buffers=False`` the buffers are copied from the model at each update, and
``update_bn`` recomputes batch norm's statistics for the averaged weights with one pass
over the data.
"""
import copy

from .. import autograd, backend
from ..nn.batchnorm import _BatchNorm
from ..nn.module import Module

__all__ = ["AveragedModel", "get_ema_multi_avg_fn", "get_ema_avg_fn", "get_swa_multi_avg_fn",
           "get_swa_avg_fn", "update_bn"]


def _is_float(array):
    return array.dtype.kind in "fc"


def _set_truncated(averaged, value):
    """An integer tensor (a counter such as ``num_batches_tracked``) gets the average computed
    in floating point and truncated toward zero, as PyTorch's copy into it does."""
    averaged.data[...] = backend.get_array_module(value).trunc(value)


def _check_decay(decay):
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in "
                         "[0,1] range.")


def get_ema_avg_fn(decay=0.999):
    """``avg_fn(averaged, current, num_averaged) -> decay averaged + (1 - decay) current``,
    decay in [0, 1] (the arrays of one tensor; ``num_averaged`` an int)."""
    _check_decay(decay)

    def ema_update(averaged, current, num_averaged):
        return decay * averaged + (1 - decay) * current
    return ema_update


def get_ema_multi_avg_fn(decay=0.999):
    """A ``multi_avg_fn`` updating every averaged tensor in place: avg += (1 - decay)(w - avg);
    an integer tensor (a counter) gets decay avg + (1 - decay) w truncated, as in PyTorch.
    decay in [0, 1].  Called once per group of tensors of one dtype, as in PyTorch."""
    _check_decay(decay)

    def ema_update(averaged_list, current_list, num_averaged):
        for averaged, current in zip(averaged_list, current_list):
            if _is_float(averaged.data):
                averaged.data[...] += (1 - decay) * (current.data - averaged.data)
            else:
                _set_truncated(averaged, averaged.data * decay + current.data * (1 - decay))
    return ema_update


def get_swa_avg_fn():
    """``avg_fn`` of the equal average: avg + (w - avg) / (n + 1)."""
    def swa_update(averaged, current, num_averaged):
        return averaged + (current - averaged) / (num_averaged + 1)
    return swa_update


def get_swa_multi_avg_fn():
    """The equal average in place for every tensor (integer ones truncated, as in PyTorch)."""
    def swa_update(averaged_list, current_list, num_averaged):
        n = int(num_averaged)
        for averaged, current in zip(averaged_list, current_list):
            if _is_float(averaged.data):
                averaged.data[...] += (current.data - averaged.data) / (n + 1)
            else:
                _set_truncated(averaged, averaged.data + (current.data - averaged.data) / (n + 1))
    return swa_update


class AveragedModel(Module):
    """A copy of ``model`` whose weights are an average of ``model``'s over the updates.

    Parameters (PyTorch's)
    ----------------------
    model : the network being trained (copied; the copy is ``self.module``)
    device : where the copy lives (default: where the model is)
    avg_fn : ``(averaged, current, num_averaged) -> new averaged`` for one tensor, or None
    multi_avg_fn : ``(averaged_list, current_list, num_averaged)`` updating in place, or None;
        with neither, the equal average (SWA)
    use_buffers : average the buffers too (else they are copied from the model)

    ``n_averaged`` (a buffer) counts the updates; the first one copies the model.
    Differences from PyTorch: ``avg_fn`` gets the arrays of the two tensors and ``n`` as an
    int; mismatching models raise ValueError; giving both functions raises ValueError
    (PyTorch: AssertionError).  ``SWALR`` is not included (any schedule of
    ``tn.optim.lr_scheduler`` can drive the learning rate).
    """

    def __init__(self, model, device=None, avg_fn=None, multi_avg_fn=None, use_buffers=False):
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise ValueError("AveragedModel: give avg_fn or multi_avg_fn, not both")
        self.module = copy.deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        for parameter in self.module.parameters():
            # The copy is never trained: no gradient hooks (a DistributedDataParallel
            # wrapper's would start all-reduces from it).
            parameter._hooks = parameter._post_accumulate_hooks = None
        # a Python int makes an int64 tensor
        self.register_buffer("n_averaged", autograd.tensor(0, device=self._device()))
        self.avg_fn, self.multi_avg_fn = avg_fn, multi_avg_fn
        self.use_buffers = bool(use_buffers)
        self._host_count = 0     # n_averaged on the host: reading the buffer would wait for a GPU

    def load_state_dict(self, state_dict, strict=True):
        result = super().load_state_dict(state_dict, strict)
        self._host_count = None   # read n_averaged once, at the next update
        return result

    def set_n_averaged(self, n):
        """Set the number of models averaged so far (e.g. when a run is restored)."""
        self.n_averaged.data[...] = n
        self._host_count = int(n)

    def _device(self):
        for parameter in self.module.parameters():
            return parameter.device
        return "cpu"

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def _tensors(self, model):
        tensors = list(model.parameters())
        if self.use_buffers:
            tensors += list(model.buffers())
        return tensors

    def update_parameters(self, model):
        """Fold ``model``'s current weights into the average (no gradients are recorded)."""
        averaged, current = self._tensors(self.module), self._tensors(model)
        if len(averaged) != len(current):
            raise ValueError(f"AveragedModel.update_parameters: the model has {len(current)} "
                             f"tensors to average, the averaged copy {len(averaged)}: give the "
                             "model that was copied")
        device = self._device()
        current = [c if c.device == device else c.to(device) for c in current]
        if self._host_count is None:
            self._host_count = int(self.n_averaged.item())
        n = self._host_count
        with autograd.no_grad():
            if n == 0:
                for a, c in zip(averaged, current):
                    a.data[...] = c.data
            elif self.multi_avg_fn is not None:
                for group in _by_dtype(averaged, current):   # as PyTorch groups them
                    self.multi_avg_fn(*group, self.n_averaged)
            elif self.avg_fn is not None:
                for a, c in zip(averaged, current):
                    value = self.avg_fn(a.data, c.data, n)
                    if _is_float(a.data):
                        a.data[...] = value
                    else:
                        _set_truncated(a, value)
            else:
                get_swa_multi_avg_fn()(averaged, current, n)
            if not self.use_buffers:     # keep the buffers those of the model
                for a, c in zip(self.module.buffers(), model.buffers()):
                    a.data[...] = c.data if c.device == device else c.to(device).data
        self.n_averaged.data[...] = n + 1
        self._host_count = n + 1


def _by_dtype(averaged, current):
    """The pairs of tensor lists grouped by (device, dtype), in order of first appearance."""
    groups = {}
    for a, c in zip(averaged, current):
        key = (str(a.device), str(a.data.dtype))
        groups.setdefault(key, ([], []))
        groups[key][0].append(a)
        groups[key][1].append(c)
    return list(groups.values())


def update_bn(loader, model, device=None):
    """Recompute the batch norm running statistics of ``model`` with one pass over ``loader``.

    Each batch is the input (or a list/tuple whose first item is), a Tensor or an array,
    moved to ``device`` when it is given; the statistics become
    the plain average over all batches (momentum None), as for SWA weights whose
    running statistics were never computed.  The model's mode and momenta are restored.
    """
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    if not norms:
        return
    momenta = {m: m.momentum for m in norms}
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    was_training = model.training
    model.train()
    with autograd.no_grad():
        for batch in loader:
            if isinstance(batch, (list, tuple)):
                batch = batch[0]
            model(autograd.as_tensor(batch, device=device))
    for m in norms:
        m.momentum = momenta[m]
    model.train(was_training)
