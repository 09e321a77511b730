"""Differentiable operations on Tensors, mirroring ``torch.nn.functional``.

One topic per module; everything public is re-exported here, so
``tn.ops.conv2d`` and ``tinynet.ops.conv.conv2d`` are the same function.
(``inplace`` is the exception: its ``add_``, ``zero_``, ... are Tensor methods,
attached in ``tinynet/tensor_methods.py``.)

Three names a first reading meets here before their own files: ``@autocast_op``
on an op changes nothing unless the call is inside ``tn.autocast`` (mixed
precision, ``tinynet/amp/``); ``deferred_checks`` holds a check of values on the
GPU (a class index out of range) until the next read from the device; and
``blocking`` splits big arrays into cache-sized pieces on the CPU.
"""
from .math import *  # noqa: F401,F403
from .einstein_sum import *  # noqa: F401,F403
from .reduce import *  # noqa: F401,F403
from .vector_norm import *  # noqa: F401,F403
from .compare import *  # noqa: F401,F403
from .sorting import *  # noqa: F401,F403
from .shape import *  # noqa: F401,F403
from .creation import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .fold import *  # noqa: F401,F403
from .activation import *  # noqa: F401,F403
from .layer_norm import *  # noqa: F401,F403
from .group_norm import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .loss_regression import *  # noqa: F401,F403
from .loss_margin import *  # noqa: F401,F403
from .linear import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .grid_sample import *  # noqa: F401,F403
from .matrix import *  # noqa: F401,F403
from .batch_norm import *  # noqa: F401,F403
from .sync_batch_norm import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .attention import *  # noqa: F401,F403
from .layers_more import *  # noqa: F401,F403
