"""Table entries of max pooling through the compiled kernel ``kernels/max_pool.c``.

    y[n, c, i, j] = max of x[n, c, 2i + u, 2j + v] over u, v in {0, 1},   argk = 2u + v of the
    first maximum;   dx[n, c, 2i + u, 2j + v] = g[n, c, i, j] · [argk = 2u + v]

Two kernels, float32/float64, the (N·C) planes on the kernels' threads:

* 2 × 2 windows at stride 2 without padding or dilation (the pooling of LeNet, VGG-style stacks,
  the benchmarks' CIFAR CNN), x contiguous and at least 2 rows and columns: one pass over x each
  way (rows of fewer than 8 outputs, LeNet's 5 x 5, in chunks of 8 outputs across rows);
* any other 1-D or 2-D window of at most 127 offsets (ResNet's 3 × 3 at stride 2 with padding
  1, say), x in any layout: each output row takes the window's offsets in turn over the
  columns that read inside x.

Anything else (3-D windows, other dtypes, a strided input of the 2 × 2 window) answers None,
and the pooling op (``chainrule/ops/window.py``: MaxPool, MaxPoolScatter) runs its NumPy twin,
a few strided passes per kernel offset.  The forward gives the twin's bits (argk int8 as the
twin's); the backward its values (the C file says where they differ: -0, NaN beside an inf,
and the rounding of a sum over three or more windows).
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from chainrule.backend import native, threads

_P = ctypes.c_ssize_t
_PTR = ctypes.c_void_p
# input elements from which the planes are cut into ranges on several threads (each plane is
# computed the same way wherever it falls: the same bits); see docs/performance.md#max-pool
_THREADED_MIN = 1 << 17
_COVERED = ((2, 2), (2, 2), (1, 1), ((0, 0), (0, 0)))  # kernel, stride, dilation, pads


def _planes(planes: int, per_plane: int, run: Any) -> None:
    threads.run_ranges(run, planes, threads.threads_for(planes * per_plane, _THREADED_MIN))


def _geometry(kernel: tuple, stride: tuple, dilation: tuple, pads: tuple) -> tuple | None:
    """(kh, kw, sh, sw, dh, dw, ph, pw) of a 1-D or 2-D window (1-D as H = KH = 1) of at most
    127 offsets (argk is int8), else None."""
    if len(kernel) == 1:
        geo = (1, kernel[0], 1, stride[0], 1, dilation[0], 0, pads[0][0])
    elif len(kernel) == 2:
        geo = (kernel[0], kernel[1], stride[0], stride[1], dilation[0], dilation[1], pads[0][0], pads[1][0])
    else:
        return None
    return geo if geo[0] * geo[1] <= 127 else None


class WindowMath:
    @staticmethod
    def max_pool_kernel(x: Any, kernel: tuple, stride: tuple, dilation: tuple, pads: tuple, outs: tuple,
                        keep_argmax: bool) -> tuple | None:
        """(y (N, C, *outs), argk (int8) or None without ``keep_argmax``) of x (N, C, *spatial)
        through a kernel, or None where none applies (see the module docstring)."""
        geo = _geometry(kernel, stride, dilation, pads)
        if geo is None or type(x) is not np.ndarray or x.ndim != len(kernel) + 2 or not x.size:
            return None
        if (kernel, stride, dilation, pads) == _COVERED:
            if x.flags.c_contiguous and x.shape[2] >= 2 and x.shape[3] >= 2:
                return _pool_2x2(x, keep_argmax)
            return None  # (a plane less than two rows or columns high or wide, or another layout: the twin)
        fn = native.typed_function("max_pool", "max_pool2d", x.dtype, [_PTR] * 3 + [_P] * 19, ctypes.c_int)
        if fn is None or any(s % x.itemsize for s in x.strides):
            return None
        N, C = x.shape[:2]
        strides = [s // x.itemsize for s in x.strides]
        if len(kernel) == 1:
            (h, w), (xn, xc, xy, xz), (oh, ow) = (1, x.shape[2]), (strides[0], strides[1], 0, strides[2]), (1, outs[0])
        else:
            (h, w), (xn, xc, xy, xz), (oh, ow) = x.shape[2:], strides, outs
        y = np.empty((N, C) + tuple(outs), x.dtype)
        argk = np.empty(y.shape, np.int8) if keep_argmax else None
        xp, yp = native.address(x), native.address(y)
        ap = native.address(argk) if argk is not None else None
        failed = []

        def run(p0: int, p1: int) -> None:  # planes [p0, p1)
            if fn(xp, yp, ap, p0, p1, C, h, w, xn, xc, xy, xz, geo[0], geo[1], oh, ow, *geo[2:]):
                failed.append(p0)

        _planes(N * C, h * w, run)
        if failed:
            raise MemoryError("max_pool: the kernel could not allocate its row of argmaxes")
        return y, argk

    @staticmethod
    def max_pool_backward_kernel(g: Any, argk: Any, spatial: tuple, kernel: tuple, stride: tuple,
                                 dilation: tuple, pads: tuple) -> Any:
        """dx (N, C, *spatial): each g (N, C, *outs) added at its window's argmax ``argk`` (from
        :meth:`max_pool_kernel`), or None where no kernel applies."""
        geo = _geometry(kernel, stride, dilation, pads)
        if geo is None or type(g) is not np.ndarray or type(argk) is not np.ndarray or argk.dtype != np.int8:
            return None
        if argk.shape != g.shape or g.ndim != len(kernel) + 2 or not argk.flags.c_contiguous:
            return None
        two = (kernel, stride, dilation, pads) == _COVERED
        symbol = "max_pool2x2_backward" if two else "max_pool2d_backward"
        fn = native.typed_function("max_pool", symbol, g.dtype, [_PTR] * 3 + [_P] * (4 if two else 13))
        if fn is None:
            return None
        g = np.ascontiguousarray(g)
        N, C = g.shape[:2]
        h, w = (1,) + tuple(spatial) if len(spatial) == 1 else spatial
        oh, ow = (1,) + g.shape[2:] if len(spatial) == 1 else g.shape[2:]
        gx = np.empty((N, C) + tuple(spatial), g.dtype)
        gp, ap, gxp = native.address(g), native.address(argk), native.address(gx)

        def run(p0: int, p1: int) -> None:  # planes [p0, p1)
            if two:
                fn(gp, ap, gxp, p0, p1, h, w)
            else:
                fn(gp, ap, gxp, p0, p1, h, w, geo[1], oh, ow, *geo[2:])

        _planes(N * C, h * w, run)
        return gx


def _pool_2x2(x: np.ndarray, keep_argmax: bool) -> tuple | None:
    """The 2 × 2 / stride 2 kernel's forward (x contiguous (N, C, H, W), W >= 16)."""
    fn = native.typed_function("max_pool", "max_pool2x2", x.dtype, [_PTR] * 3 + [_P] * 4)
    if fn is None:
        return None
    N, C, H, W = x.shape
    y = np.empty((N, C, H // 2, W // 2), x.dtype)
    argk = np.empty(y.shape, np.int8) if keep_argmax else None
    xp, yp = native.address(x), native.address(y)
    ap = native.address(argk) if argk is not None else None

    def run(p0: int, p1: int) -> None:  # planes [p0, p1)
        fn(xp, yp, ap, p0, p1, H, W)

    _planes(N * C, H * W, run)
    return y, argk
