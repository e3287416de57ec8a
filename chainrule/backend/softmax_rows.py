"""Shifted exponentials of each row: m = max_j x_j, z = x - m, e = exp(z), s = Σ_j e_j.

Softmax is e / s and log-softmax z - log s, with no overflow (z <= 0).  A row whose maximum
is not finite (±inf, or a NaN in it) is not shifted (m = 0), as in ``ops/reduction.py``.  The compiled
kernel (``backend/kernels/softmax_rows.c``) does the four steps in one pass per row,
with a vectorised exp (NumPy's float32 exp costs about 4 ns per element on an AVX2
machine, the kernel's about 1); without it the same is done by four NumPy calls.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.backend import native


def kernel(dtype: np.dtype) -> Callable[..., Any] | None:
    """The compiled row function for ``dtype`` (float32/float64), or None where it is not available."""
    argtypes = [ctypes.c_ssize_t] * 2 + [ctypes.c_void_p] * 4
    return native.typed_function("softmax_rows", "shifted_exp_rows", dtype, argtypes)


def shifted_exp(x: np.ndarray, z: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Fill z = x - max_row(x) and e = exp(z) (all (M, C), C >= 1); return s = Σ_row e (M,).

    Rows whose maximum is not finite are not shifted (see the module docstring).
    """
    M, C = x.shape
    fn = kernel(x.dtype)
    if fn is not None and C and z.dtype == e.dtype == x.dtype and z.flags.c_contiguous and e.flags.c_contiguous:
        x = np.ascontiguousarray(x)
        s = np.empty(M, dtype=x.dtype)
        fn(M, C, x.ctypes.data, z.ctypes.data, e.ctypes.data, s.ctypes.data)
        return s
    c = x.max(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", over="ignore"):
        np.subtract(x, np.where(np.isfinite(c), c, 0), out=z)
        np.exp(z, out=e)
    return e.sum(axis=1)
