"""Pooling and resizing of NCHW tensors, named like ``torch.nn.functional``.

``windows.py``      where the windows of a pool sit (shared geometry, strided views)
``max_pool.py``     ``max_pool2d``: two 1-D passes with PyTorch's tie order
``avg_pool.py``     ``avg_pool2d``, ``adaptive_avg_pool2d``, ``adaptive_max_pool2d``
``interpolate.py``  ``interpolate`` ("nearest", "bilinear", ...), ``upsample_nearest2d``
``one_d.py``        the 1-D pools of (N, C, L): the 2-D ones on one row
``three_d.py``      the 3-D pools of (N, C, D, H, W): two passes of the 2-D ones
``unpool.py``       ``max_unpool1d/2d/3d``: a max pool's values put back where they came from

On the CPU they work a block of planes at a time (``tinynet/ops/blocking.py``).
"""
from .avg_pool import adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool2d
from .interpolate import interpolate, upsample_nearest2d
from .max_pool import max_pool2d
from .one_d import adaptive_avg_pool1d, adaptive_max_pool1d, avg_pool1d, max_pool1d
from .three_d import adaptive_avg_pool3d, adaptive_max_pool3d, avg_pool3d, max_pool3d
from .unpool import max_unpool1d, max_unpool2d, max_unpool3d

__all__ = ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d",
           "upsample_nearest2d", "interpolate", "max_pool1d", "avg_pool1d",
           "adaptive_avg_pool1d", "adaptive_max_pool1d", "max_pool3d", "avg_pool3d",
           "adaptive_avg_pool3d", "adaptive_max_pool3d", "max_unpool1d", "max_unpool2d",
           "max_unpool3d"]
