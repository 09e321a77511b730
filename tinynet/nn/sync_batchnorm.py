"""``SyncBatchNorm``: batch normalization over the global batch of data-parallel training.

    model = nn.SyncBatchNorm.convert_sync_batchnorm(model)    # every BatchNorm*d replaced
    model = nn.parallel.DistributedDataParallel(model)

In training mode the mean and variance are those of the whole batch, summed
over every rank of the process group (``tinynet.ops.sync_batch_norm``), so 2
ranks x batch 4 train as 1 process x batch 8; the running statistics are
updated with those global statistics, alike on every rank.  In eval mode, or
without a process group of more than one rank, it is ``BatchNorm``.
"""
from .. import ops
from .batchnorm import _BatchNorm

__all__ = ["SyncBatchNorm"]


class SyncBatchNorm(_BatchNorm):
    """Batch normalization of (N, C, *) inputs over the global batch of every rank.

    Arguments as ``BatchNorm2d``'s, plus ``process_group`` (None: the default
    group).  Every rank must run the same SyncBatchNorm layers in the same
    order, since each runs an all-reduce (forward and backward).
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, process_group=None, device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device,
                         dtype)
        self.process_group = process_group

    def _check_input_dim(self, input):
        if input.ndim < 2:
            raise ValueError(f"SyncBatchNorm: expected at least 2D input (N, C, *), "
                             f"got {input.ndim}D input of shape {tuple(input.shape)}")

    def forward(self, input):
        if not self.training:
            return super().forward(input)        # the running statistics: nothing to share
        self._check_input_dim(input)
        if input.shape[1] != self.num_features:
            raise ValueError(f"SyncBatchNorm: input has {input.shape[1]} channels (shape "
                             f"{tuple(input.shape)}) but num_features={self.num_features}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:            # the cumulative average, as BatchNorm's
                factor = 1.0 / float(self.num_batches_tracked.data)
        return ops.sync_batch_norm(input, self.running_mean, self.running_var, self.weight,
                                   self.bias, factor, self.eps, self.process_group)

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """``module`` with every ``BatchNorm1d``/``BatchNorm2d`` replaced by a SyncBatchNorm
        holding the same parameters, buffers and train/eval mode (in place for the
        children; returns the new module when ``module`` itself is a BatchNorm)."""
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            converted = cls(module.num_features, module.eps, module.momentum, module.affine,
                            module.track_running_stats, process_group)
            for name in ("weight", "bias"):
                setattr(converted, name, getattr(module, name))   # the same Parameters
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                setattr(converted, name, getattr(module, name))
            converted.train(module.training)
            return converted
        for name, child in list(module.named_children()):
            module.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        return module
