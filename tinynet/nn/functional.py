"""``tinynet.nn.functional``: the ops of ``tinynet.ops`` under PyTorch's module name.

``import tinynet.nn.functional as F`` then ``F.conv2d``, ``F.relu``,
``F.cross_entropy``, ... exactly as with ``torch.nn.functional``.  This module
defines nothing itself: every public function of ``tinynet.ops`` is re-exported,
including ones added to ``tinynet.ops`` later.
"""
import types

from .. import ops as _ops

# Every public function (not the submodules math, conv, ...) of tinynet.ops.
__all__ = sorted(name for name, value in vars(_ops).items()
                 if not name.startswith("_") and not isinstance(value, types.ModuleType))
globals().update({name: getattr(_ops, name) for name in __all__})


def __getattr__(name):
    # Safety net for ops registered in tinynet.ops after this module was imported.
    value = getattr(_ops, name, None)
    if name.startswith("_") or value is None or isinstance(value, types.ModuleType):
        raise AttributeError(f"module 'tinynet.nn.functional' has no attribute {name!r}")
    return value
