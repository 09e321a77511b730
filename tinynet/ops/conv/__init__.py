"""2-D convolution and transposed convolution (and the 1-D and 3-D ones built on them).

Read in this order:

``reference.py``         a complete differentiable conv2d in one file, to read
                         first: its geometry, im2col/col2im, the ``Function``
                         (forward: im2col and one matrix multiplication;
                         backward: dx, dW, db) and ``conv2d_reference``.  The
                         definition, and the oracle the tests check every fast
                         algorithm against.
``dispatch.py``          ``conv2d``: checks, ``choose_algorithm`` (the one rule
                         that picks an algorithm, with its reasons),
                         ``use_algorithm`` (a ``with`` block that forces one).
``arguments.py``         (h, w) pairs, output sizes, padding="same", operand checks.

The fast algorithms, each a module with the same interface (``applies``,
``forward``, ``backward``: see ``dispatch.py``) and named after the algorithm
``use_algorithm`` takes; what each computes for dx, the gradient a docstring
is most tempted to simplify:

``im2col_algorithm.py``  "im2col": the reference's GEMMs with fewer copies,
                         from ``columns.py`` (the fast im2col/col2im) and
                         ``gemm.py`` (the three GEMMs).  dx = col2im(W.T @ dy)
                         for strided kernels; for stride 1 the columns of
                         W.T @ dy lie on the padded row width and col2im is
                         contiguous adds; for 1x1, dx = W.T @ dy, no col2im.
``rows.py``              "rows", stride 1: KW shifted copies of each row block,
                         KH GEMMs on views of them.  dx is the convolution of dy
                         with the flipped kernel, computed the same way; no col2im.
``winograd.py``          "winograd", F(2x2, 3x3): 2.25x fewer multiplications for
                         3x3 kernels.  dx through the transposed Winograd transforms.

``transpose.py``         ``conv_transpose2d``: conv2d's input gradient as a layer,
                         built from the GEMM pieces of ``gemm.py``.
``one_d.py``             ``conv1d``, ``conv_transpose1d``: the 2-D ones on one row.
``three_d.py``           ``conv3d``, ``conv_transpose3d``: one conv2d over the depth
                         slices under the kernel, stacked as channels.

Shapes: conv2d x (N, C_in, H, W) * weight (C_out, C_in, KH, KW) -> (N, C_out, OH, OW);
conv_transpose2d x (N, C_in, H, W) * weight (C_in, C_out, KH, KW) -> (N, C_out, OH, OW).
"""
from .dispatch import (ALGORITHMS, Conv2dFunction, choose_algorithm, conv2d,  # noqa: F401
                       forced_algorithm, use_algorithm)
from .reference import Conv2dReference, conv2d_reference  # noqa: F401
from .transpose import ConvTranspose2dFunction, conv_transpose2d  # noqa: F401
from .one_d import conv1d, conv_transpose1d  # noqa: F401
from .three_d import conv3d, conv_transpose3d  # noqa: F401

# What ``tinynet.ops`` (and so ``tinynet.nn.functional``) re-exports.
__all__ = ["conv2d", "conv_transpose2d", "conv1d", "conv_transpose1d", "conv3d",
           "conv_transpose3d"]
