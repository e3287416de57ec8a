"""The normalisation layers' table entries (a base of ``ArrayMath``).  Training-mode batch norm,
m values per channel (over ``axes``), s = 1/sqrt(σ² + ε), ẑ = (x - μ) s:

    forward:   y = γ ẑ + β
    backward:  dL/dβ = Σ g,  dL/dγ = Σ g ẑ,  dL/dx = γ s (g - (dL/dβ)/m - ẑ (dL/dγ)/m)

Each way is one compiled kernel (``kernels/batch_norm.c``: three passes over x forward, two over
g backward, where the twins make seven each; channels split over threads from 1M elements)
where x lies in memory as (outer, C, inner) runs of at least ``_MIN_RUN`` elements: NCHW, or a
convolution's batch-last output (C, H, W, N).  Elsewhere, and without a compiler, the NumPy twins
below.  The kernel sums in float64 where the twins sum in x's dtype, so the two agree to
rounding; the element-wise steps are the twins', in their order.

Large temporaries come from the buffer pool in x's memory layout (a batch-last map stays batch-last).
"""

from __future__ import annotations

import ctypes
import math

import numpy as np

from chainrule.backend import native, threads
from chainrule.backend.pool import POOL, memory_order

_MIN_RUN = 16  # shorter contiguous runs per channel (BatchNorm1d's (N, C)): the twins
_THREADED_MIN = 1 << 20  # elements from which the channels are split over threads
_PTR = ctypes.c_void_p
_INT = ctypes.c_ssize_t


def _like(x: np.ndarray) -> np.ndarray:
    """An uninitialised pooled array with x's shape, dtype and memory order of axes."""
    order = memory_order(x)
    buf = POOL.empty(tuple(x.shape[a] for a in order), x.dtype)
    return buf.transpose(sorted(range(x.ndim), key=order.__getitem__))  # the inverse permutation


def _channel(p: np.ndarray, ndim: int) -> np.ndarray:
    return p.reshape((-1,) + (1,) * (ndim - 2))


def _runs(x: np.ndarray) -> tuple[int, int] | None:
    """(outer, inner) when x (N, C, ...) lies in memory as (outer, C, inner) with contiguous runs
    of ``inner`` >= ``_MIN_RUN`` elements per channel, else None."""
    if type(x) is not np.ndarray or x.ndim < 3 or not x.size:
        return None
    c = x.shape[1]
    if x.flags.c_contiguous:
        outer, inner = x.shape[0], x.size // (x.shape[0] * c)
    else:
        order = memory_order(x)
        if order[0] != 1 or not x.transpose(order).flags.c_contiguous:
            return None
        outer, inner = 1, x.size // c
    return (outer, inner) if inner >= _MIN_RUN else None


def _kernel(symbol: str, dtype: np.dtype, argtypes: list):
    return native.typed_function("batch_norm", symbol, dtype, argtypes)


def batch_norm_train_twin(x: np.ndarray, w: np.ndarray, b: np.ndarray, axes: tuple, eps: float) -> tuple:
    """NormMath.batch_norm_train with NumPy: (y, μ, σ², s, ẑ)."""
    mean = x.mean(axis=axes, keepdims=True)
    xc = np.subtract(x, mean, out=_like(x))
    tmp = np.square(xc, out=_like(x))
    var = tmp.mean(axis=axes, keepdims=True)
    inv = 1.0 / np.sqrt(var + np.asarray(eps, dtype=x.dtype))
    xc *= inv
    y = np.multiply(xc, _channel(w, x.ndim), out=tmp)
    y += _channel(b, x.ndim)
    return y, mean, var, inv, xc


def batch_norm_train_vjp_twin(g: np.ndarray, xhat: np.ndarray, inv: np.ndarray, w: np.ndarray, axes: tuple,
                              need_x: bool) -> tuple:
    """NormMath.batch_norm_train_vjp with NumPy: (dL/dx or None, dL/dγ, dL/dβ)."""
    count = math.prod(g.shape) // g.shape[1]
    gb = g.sum(axis=axes, keepdims=True)
    gw = np.multiply(g, xhat, out=_like(xhat)).sum(axis=axes, keepdims=True)
    if not need_x:
        return None, gw, gb
    k = w.reshape(gb.shape) * inv
    gx = np.multiply(g, k, out=_like(xhat))
    gx -= k * gb / count
    gx -= np.multiply(xhat, k * gw / count, out=_like(xhat))
    return gx, gw, gb


class NormMath:
    """Table entries of the normalisation layers."""

    @staticmethod
    def batch_norm_train(x: np.ndarray, w: np.ndarray, b: np.ndarray, axes: tuple, eps: float) -> tuple:
        """(y, μ, σ², s, ẑ) of training-mode batch norm (μ, σ², s keep the reduced axes as 1;
        y and ẑ in x's memory layout)."""
        runs = _runs(x)
        dt = x.dtype
        fn = None
        if runs is not None and w.dtype == b.dtype == dt:
            scalar = ctypes.c_float if dt == np.float32 else ctypes.c_double
            fn = _kernel("bn_forward", dt, [_INT] * 5 + [_PTR] * 3 + [scalar] + [_PTR] * 5)
        if runs is None or fn is None:
            return batch_norm_train_twin(x, w, b, axes, eps)
        outer, inner = runs
        c = x.shape[1]
        y, xhat = _like(x), _like(x)
        stats = np.empty((3, c), dt)  # mean, var, inv
        w, b = np.ascontiguousarray(w), np.ascontiguousarray(b)
        at = native.address
        args = (at(x), at(w), at(b), float(eps), at(y), at(xhat), at(stats[0]), at(stats[1]), at(stats[2]))
        threads.run_ranges(lambda c0, c1: fn(outer, c, inner, c0, c1, *args), c,
                           threads.threads_for(x.size, _THREADED_MIN))
        shape = (1, c) + (1,) * (x.ndim - 2)  # the reduced axes kept as 1
        return y, stats[0].reshape(shape), stats[1].reshape(shape), stats[2].reshape(shape), xhat

    @staticmethod
    def batch_norm_train_vjp(g: np.ndarray, xhat: np.ndarray, inv: np.ndarray, w: np.ndarray, axes: tuple,
                             need_x: bool) -> tuple:
        """(dL/dx or None, dL/dγ, dL/dβ) of training-mode batch norm, the parameter gradients
        with the reduced axes kept as 1."""
        runs = _runs(xhat)
        dt = xhat.dtype
        fn = None
        if runs is not None and type(g) is np.ndarray and g.dtype == w.dtype == inv.dtype == dt:
            fn = _kernel("bn_backward", dt, [_INT] * 5 + [_PTR] * 7)
        if runs is None or fn is None:
            return batch_norm_train_vjp_twin(g, xhat, inv, w, axes, need_x)
        if g.strides != xhat.strides:  # the kernel reads g in xhat's layout
            gl = _like(xhat)
            gl[...] = g
            g = gl
        outer, inner = runs
        c = xhat.shape[1]
        sums = np.empty((2, c), dt)  # gw, gb
        gx = _like(xhat) if need_x else None
        w, inv = np.ascontiguousarray(w), np.ascontiguousarray(inv)
        at = native.address
        args = (at(g), at(xhat), at(w), at(inv), None if gx is None else at(gx), at(sums[0]), at(sums[1]))
        threads.run_ranges(lambda c0, c1: fn(outer, c, inner, c0, c1, *args), c,
                           threads.threads_for(xhat.size, _THREADED_MIN))
        shape = (1, c) + (1,) * (xhat.ndim - 2)
        return gx, sums[0].reshape(shape), sums[1].reshape(shape)

    @staticmethod
    def batch_sums(x: np.ndarray, axes: tuple) -> np.ndarray:
        """(Σx per channel, Σx² per channel, the count m per channel) in one float64 array
        (2C + 1,): float64, because Σx²/m - μ² loses digits when |μ| ≫ σ."""
        c = x.shape[1]
        stats = np.empty(2 * c + 1, dtype=np.float64)
        np.sum(x, axis=axes, dtype=np.float64, out=stats[:c])
        np.sum(np.square(x, dtype=np.float64), axis=axes, out=stats[c : 2 * c])
        stats[2 * c] = x.size // c
        return stats
