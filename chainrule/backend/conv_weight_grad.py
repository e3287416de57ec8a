"""A convolution's weight gradient summed directly, for layers whose input has one channel.

    gw[o, c, kh, kw] = Σ_{n, i, j} g[n, o, i, j] · x[n, c, i + kh·dh − pt, j + kw·dw − pl]

As a matrix product, gw = g colsᵀ has an inner dimension of C_in·KH·KW: for a first layer on
grayscale images or one-channel signals, C_in = 1 and that is just the kernel's size (LeNet's 25),
while the batch's positions are many.  BLAS and oneDNN run such products at a fraction of their
usual speed: a (6, 50176) by (50176, 25) product at 21 GFLOP/s on OpenBLAS, one or two threads
alike, and oneDNN 3.2's weight-gradient kernel takes 1.2-2.2 ms for LeNet's first layer.
``kernels/conv_weight_grad.c`` lays each (n, c) plane of x and (n, o) plane of g out once in a
common row stride and sums every (kh, kw) term as one long vectorised dot product (the C file
explains why that is exact).

:func:`covers` says which convolutions take it, a rule on the layer's shape alone:

* one input channel, one group, stride 1, 1-D or 2-D, any padding and dilation, float32 or
  float64 NumPy arrays (x and g are copied to C order first when they are not).

With more input channels the sums (one (o, c) pair at a time, no reuse of a loaded x across
output channels) lost to oneDNN's kernel in every case measured: 3 → 32 channels at 32 px,
2.6 against 0.6 ms; 2 → 32, 0.94 against 0.75 (docs/performance.md#direct-weight-grad).

The (o, c) pairs are cut into ranges on the kernels' threads.  Elsewhere, or without a compiler,
the callers keep their product (oneDNN's kernel or im2col and BLAS).
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from chainrule.backend import native, threads

_P = ctypes.c_ssize_t
_PTR = ctypes.c_void_p
_THREADED_MIN = 1 << 16  # multiply-adds from which the pairs are cut into ranges on threads


def covers(x_shape: tuple, w_shape: tuple, stride: tuple, groups: int) -> bool:
    """Whether :func:`weight_grad` computes this convolution's weight gradient (module docstring)."""
    return (len(w_shape) in (3, 4) and len(x_shape) == len(w_shape) and groups == 1 and w_shape[1] == 1
            and all(s == 1 for s in stride))


class ConvWeightGradMath:
    @staticmethod
    def conv_weight_grad_direct(x: Any, g: Any, w_shape: tuple, dilation: tuple, pads: tuple) -> Any:
        """gw (O, C, *k) of x (N, C, *S) and g (N, O, *outs) by the direct sums, or None where the
        kernel does not apply (not float32/float64 NumPy arrays of one dtype, no compiler); the
        caller checked :func:`covers`.  ``pads`` are ((before, after), ...) per spatial axis."""
        if type(x) is not np.ndarray or type(g) is not np.ndarray or x.dtype != g.dtype:
            return None
        fn = native.typed_function("conv_weight_grad", "conv_weight_grad", x.dtype, [_PTR] * 3 + [_P] * 15,
                                   ctypes.c_int)
        if fn is None:
            return None
        x, g = np.ascontiguousarray(x), np.ascontiguousarray(g)
        N, C = x.shape[:2]
        O = g.shape[1]
        if x.ndim == 3:  # 1-D as one row
            (H, W), (OH, OW), (KH, KW), (dh, dw), (pt, pl) = (1, x.shape[2]), (1, g.shape[2]), (1, w_shape[2]), \
                (1, dilation[0]), (0, pads[0][0])
        else:
            (H, W), (OH, OW), (KH, KW), (dh, dw), (pt, pl) = x.shape[2:], g.shape[2:], w_shape[2:], dilation, \
                (pads[0][0], pads[1][0])
        gw = np.empty(w_shape, x.dtype)
        if not gw.size:
            return gw
        if not N or not OH * OW:
            gw.fill(0)
            return gw
        px, pg, pw = native.address(x), native.address(g), native.address(gw)
        failed = []

        def run(q0: int, q1: int) -> None:
            if fn(px, pg, pw, N, C, H, W, O, OH, OW, KH, KW, dh, dw, pt, pl, q0, q1):
                failed.append(q0)

        macs = N * O * C * OH * OW * KH * KW
        threads.run_ranges(run, O * C, threads.threads_for(macs, _THREADED_MIN))
        if failed:
            raise MemoryError("conv_weight_grad_direct: the kernel could not allocate its plane buffers")
        return gw
