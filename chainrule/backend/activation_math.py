"""Table entries for erf, erfc and GELU: the compiled kernel ``kernels/gelu.c`` where it is
available (float32/float64; from ``_THREADED_MIN`` elements cut into ranges on
``threads.intra_threads()`` threads), else its NumPy twin (the same numbers to rounding; NumPy has no
erf, and the twin's ``special.erf_array`` makes about twenty passes over memory, the kernel one).

    gelu(x)            = x Φ(x),                 Φ(x) = (1 + erf(x/√2)) / 2
    gelu_backward(g, x) = g (Φ(x) + x φ(x)),     φ(x) = e^(-x²/2) / √(2π)
    approximate='tanh': y = x/2 (1 + tanh u),   u = √(2/π)(x + 0.044715 x³)

``gelu_backward`` is also the forward-mode rule (dy = dx · dy/dx).
"""

from __future__ import annotations

import ctypes
import math
from typing import Any

import numpy as np

from chainrule.backend import native, threads
from chainrule.backend.special import erf_array, erfc_array

INV_SQRT2 = 1.0 / math.sqrt(2.0)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
GELU_K, GELU_C = math.sqrt(2.0 / math.pi), 0.044715
# elements from which a kernel's call is cut into ranges on several threads (element-wise: the
# same bits).  gelu + gelu_backward, float32, 2 threads against 1: 131k elements 0.34 ms against
# 0.26 (slower), 262k 0.43-0.64 against 0.51-0.72 (even or better), 393k 0.67-0.72 against
# 0.77-1.07, 524k 0.71-0.93 against 1.11-1.43, 1M 1.40-1.61 against 2.41-2.99
_THREADED_MIN = 1 << 18


def _compiled(symbol: str, *arrays: np.ndarray) -> np.ndarray | None:
    """Kernel ``symbol`` of gelu.c on ``arrays`` (same shape and float dtype), or None when it does not apply."""
    x = arrays[0]
    dt = x.dtype
    if any(a.dtype != dt or a.shape != x.shape for a in arrays[1:]):
        return None
    fn = native.typed_function("gelu", symbol, dt, [ctypes.c_ssize_t] + [ctypes.c_void_p] * (len(arrays) + 1))
    if fn is None:
        return None
    arrays = tuple(np.ascontiguousarray(a) for a in arrays)
    out = np.empty(x.shape, dt)
    ptrs = [native.address(a) for a in arrays] + [native.address(out)]
    threads.run_elementwise(fn, x.size, ptrs, dt.itemsize, threads.threads_for(x.size, _THREADED_MIN))
    return out


def gelu_twin(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    """GELU with NumPy (the kernel's twin)."""
    if approximate == "tanh":
        return (x * 0.5) * (1 + np.tanh((x + x * x * x * GELU_C) * GELU_K))
    return x * ((erf_array(x * INV_SQRT2) + 1) * 0.5)


def gelu_backward_twin(g: np.ndarray, x: np.ndarray, approximate: str = "none") -> np.ndarray:
    """g · dGELU/dx with NumPy (the kernel's twin)."""
    if approximate == "tanh":
        x2 = x * x
        t = np.tanh((x + x2 * x * GELU_C) * GELU_K)
        return g * ((t + 1) * 0.5 + (x * 0.5) * (1 - t * t) * ((x2 * (3 * GELU_C) + 1) * GELU_K))
    cdf = (erf_array(x * INV_SQRT2) + 1) * 0.5
    return g * (cdf + x * np.exp(x * x * -0.5) * INV_SQRT_2PI)


class ActivationMath:
    """erf, erfc, gelu and gelu_backward entries of the NumPy back end's table."""

    @staticmethod
    def erf(x: Any) -> Any:
        y = _compiled("erf", x) if type(x) is np.ndarray else None
        return erf_array(x) if y is None else y

    @staticmethod
    def erfc(x: Any) -> Any:
        y = _compiled("erfc", x) if type(x) is np.ndarray else None
        return erfc_array(x) if y is None else y

    @staticmethod
    def gelu(x: Any, approximate: str = "none") -> Any:
        y = _compiled("gelu_tanh" if approximate == "tanh" else "gelu", x)
        return gelu_twin(x, approximate) if y is None else y

    @staticmethod
    def gelu_backward(g: Any, x: Any, approximate: str = "none") -> Any:
        dx = _compiled("gelu_tanh_backward" if approximate == "tanh" else "gelu_backward", x, g)
        return gelu_backward_twin(g, x, approximate) if dx is None else dx
