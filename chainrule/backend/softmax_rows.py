"""Shifted exponentials of each row: m = max_j x_j, z = x - m, e = exp(z), s = Σ_j e_j.

Softmax is e / s and log-softmax z - log s, with no overflow (z <= 0).  Every row is shifted by
its maximum whatever it is, as PyTorch: a row holding +inf or only -inf gives NaN (inf - inf), a
NaN makes its row NaN.  The compiled kernel (``kernels/softmax_rows.c``) does the four steps in
one pass per row with a vectorised exp; its twin is four NumPy calls.
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
    """Fill z = x - max_row(x) and e = exp(z) (all (M, C), C >= 1); return s = Σ_row e (M,)."""
    M, C = x.shape
    fn = kernel(x.dtype)
    if fn is not None and C and z.dtype == e.dtype == x.dtype and z.flags.c_contiguous and e.flags.c_contiguous:
        x = np.ascontiguousarray(x)
        s = np.empty(M, dtype=x.dtype)
        fn(M, C, x.ctypes.data, z.ctypes.data, e.ctypes.data, s.ctypes.data)
        return s
    c = x.max(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", over="ignore"):
        np.subtract(x, c, out=z)
        np.exp(z, out=e)
    return e.sum(axis=1)
