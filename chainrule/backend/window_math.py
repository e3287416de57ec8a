"""Table entries of max pooling through the compiled kernel ``kernels/max_pool.c``.

    y[n, c, i, j] = max of x[n, c, 2i + u, 2j + v] over u, v in {0, 1},   argk = 2u + v of the
    first maximum;   dx[n, c, 2i + u, 2j + v] = g[n, c, i, j] · [argk = 2u + v]

The fast path covers 2 × 2 windows at stride 2 without padding or dilation (the pooling of most
convolutional networks: LeNet, VGG-style stacks, the benchmarks' CIFAR CNN), float32/float64,
x contiguous and at least 16 columns wide: one pass over x each way, the (N·C) planes on the
kernels' threads.  Everything else answers None, and the pooling op (``chainrule/ops/window.py``:
MaxPool, MaxPoolScatter) runs its NumPy twin, a few strided passes per kernel offset.  Where
the kernel runs, the forward gives the twin's bits (argk int8 as the twin's) and the backward
its values (the C file says where the twin's product differs: -0, and NaN beside an inf).
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


class WindowMath:
    @staticmethod
    def max_pool_kernel(x: Any, kernel: tuple, stride: tuple, dilation: tuple, pads: tuple,
                        keep_argmax: bool) -> tuple | None:
        """(y, argk (int8) or None without ``keep_argmax``) of x (N, C, H, W) through the kernel,
        or None where it does not apply (see the module docstring)."""
        if (kernel, stride, dilation, pads) != _COVERED or type(x) is not np.ndarray or x.ndim != 4:
            return None
        fn = native.typed_function("max_pool", "max_pool2x2", x.dtype, [_PTR] * 3 + [_P] * 4)
        if fn is None or not x.flags.c_contiguous or x.shape[2] < 2 or x.shape[3] < 16:
            return None  # (rows of fewer than 8 outputs: the twin is faster, see the C file)
        N, C, H, W = x.shape
        y = np.empty((N, C, H // 2, W // 2), x.dtype)
        argk = np.empty(y.shape, np.int8) if keep_argmax else None
        xp, yp = native.address(x), y.ctypes.data
        ap = argk.ctypes.data if argk is not None else None

        def run(p0: int, p1: int) -> None:  # planes [p0, p1)
            fn(xp, yp, ap, p0, p1, H, W)

        _planes(N * C, H * W, run)
        return y, argk

    @staticmethod
    def max_pool_backward_kernel(g: Any, argk: Any, spatial: tuple, kernel: tuple, stride: tuple,
                                 dilation: tuple, pads: tuple) -> Any:
        """dx (N, C, *spatial): each g (N, C, H/2, W/2) at its window's argmax ``argk`` (from
        :meth:`max_pool_kernel`), or None where the kernel does not apply."""
        if (kernel, stride, dilation, pads) != _COVERED or type(g) is not np.ndarray:
            return None
        if type(argk) is not np.ndarray or argk.dtype != np.int8 or argk.shape != g.shape or g.ndim != 4:
            return None
        fn = native.typed_function("max_pool", "max_pool2x2_backward", g.dtype, [_PTR] * 3 + [_P] * 4)
        if fn is None or not argk.flags.c_contiguous:
            return None
        g = np.ascontiguousarray(g)
        N, C = g.shape[:2]
        H, W = spatial
        gx = np.empty((N, C, H, W), g.dtype)
        gp, ap, gxp = native.address(g), native.address(argk), gx.ctypes.data

        def run(p0: int, p1: int) -> None:  # planes [p0, p1)
            fn(gp, ap, gxp, p0, p1, H, W)

        _planes(N * C, H * W, run)
        return gx
