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

Layer norm, the same over each row of D = prod(normalized_shape) trailing values (μ, s per row,
γ and β of the row's shape, Σ_rows over the leading axes):

    forward:   y = γ ẑ + β                 (γ, β optional: None is no scale, no shift)
    backward:  dL/dβ = Σ_rows g,  dL/dγ = Σ_rows g ẑ,
               dL/dx = s (g γ - mean_row(g γ) - ẑ mean_row(g γ ẑ))

One compiled kernel each way (``kernels/layer_norm.c``: row by row, each row staying in the cache
between its passes) for C-contiguous float32/float64 x; the forward saves μ and s per row only,
the backward recomputes ẑ from x.  Rows split over threads from ``_LN_THREADED_MIN``
elements; the backward's column sums go through a fixed number of row blocks, so threads do not
change the bits.  Elsewhere (other dtypes, non-contiguous x, empty arrays, no compiler) the NumPy
twins.  Like batch norm's, the kernel sums in float64 where the twins sum in x's dtype (agreement
to rounding) and does the element-wise steps in the twins' order.
"""

from __future__ import annotations

import ctypes
import math

import numpy as np

from chainrule.backend import native, threads
from chainrule.backend.pool import POOL, memory_order

_MIN_RUN = 16  # shorter contiguous runs per channel (BatchNorm1d's (N, C)): the twins
_THREADED_MIN = 1 << 20  # elements from which the channels are split over threads
# elements from which layer norm's rows are split over threads (measured on the shared 2-core
# machine: at 131k, the transformer workload's 16x64 rows of 128, and at 262k two threads lose,
# their start costing more than the halved kernel saves; 524k is about even; from 1M they gain)
_LN_THREADED_MIN = 1 << 19
_LN_BLOCKS = 32  # row blocks of layer norm's column sums (threads take whole blocks)
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


def _stat_shape(x: np.ndarray, k: int) -> tuple:
    """The shape of layer norm's per-row statistics: x's leading axes, its k trailing ones as 1."""
    return tuple(x.shape[: x.ndim - k]) + (1,) * k


def layer_norm_twin(x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None, k: int, eps: float) -> tuple:
    """NormMath.layer_norm with NumPy: (y, μ, s)."""
    axes = tuple(range(x.ndim - k, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    y = np.subtract(x, mean)
    var = np.square(y).mean(axis=axes, keepdims=True)
    rstd = 1.0 / np.sqrt(var + np.asarray(eps, dtype=x.dtype))
    y *= rstd
    if w is not None:
        y *= w
    if b is not None:
        y += b
    return y, mean, rstd


def layer_norm_vjp_twin(g: np.ndarray, x: np.ndarray, mean: np.ndarray, rstd: np.ndarray, w: np.ndarray | None,
                        k: int, need_x: bool, need_w: bool, need_b: bool) -> tuple:
    """NormMath.layer_norm_vjp with NumPy: (dL/dx, dL/dγ, dL/dβ), each None where not needed."""
    axes = tuple(range(x.ndim - k, x.ndim))
    lead = tuple(range(x.ndim - k))
    xhat = (x - mean) * rstd
    gw = (g * xhat).sum(axis=lead) if need_w else None
    gb = g.sum(axis=lead) if need_b else None
    gx = None
    if need_x:
        gg = g * w if w is not None else g
        gx = rstd * (gg - gg.mean(axis=axes, keepdims=True) - xhat * (gg * xhat).mean(axis=axes, keepdims=True))
    return gx, gw, gb


def _ln_kernel(symbol: str, dtype: np.dtype, argtypes: list):
    return native.typed_function("layer_norm", symbol, dtype, argtypes)


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
    def layer_norm(x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None, k: int, eps: float) -> tuple:
        """(y, μ, s) of layer norm over x's ``k`` trailing axes (rows of D values): y like x, μ and
        s = 1/sqrt(σ² + ε) with x's leading axes and the k trailing ones as 1; w, b (the
        trailing shape) or None."""
        dt = x.dtype
        fn = None
        if (type(x) is np.ndarray and x.flags.c_contiguous and x.size and (w is None or w.dtype == dt)
                and (b is None or b.dtype == dt)):
            scalar = ctypes.c_float if dt == np.float32 else ctypes.c_double
            fn = _ln_kernel("ln_forward", dt, [_INT] * 3 + [_PTR] * 3 + [scalar] + [_PTR] * 3)
        if fn is None:
            return layer_norm_twin(x, w, b, k, eps)
        d = math.prod(x.shape[x.ndim - k:])
        rows = x.size // d
        y = POOL.empty(x.shape, dt)
        stats = np.empty((2, rows), dt)  # mean, rstd
        w = None if w is None else np.ascontiguousarray(w)  # (kept referenced while the kernel runs)
        b = None if b is None else np.ascontiguousarray(b)
        at = native.address
        args = (at(x), None if w is None else at(w), None if b is None else at(b), float(eps), at(y), at(stats[0]),
                at(stats[1]))
        threads.run_ranges(lambda r0, r1: fn(d, r0, r1, *args), rows, threads.threads_for(x.size, _LN_THREADED_MIN))
        shape = _stat_shape(x, k)
        return y, stats[0].reshape(shape), stats[1].reshape(shape)

    @staticmethod
    def layer_norm_vjp(g: np.ndarray, x: np.ndarray, mean: np.ndarray, rstd: np.ndarray, w: np.ndarray | None,
                       k: int, need_x: bool, need_w: bool, need_b: bool) -> tuple:
        """(dL/dx, dL/dγ, dL/dβ) of layer norm (each None where not needed), from the forward's
        μ and s; the parameter gradients in the trailing shape."""
        dt = x.dtype
        fn = None
        if (type(x) is np.ndarray and type(g) is np.ndarray and x.flags.c_contiguous and x.size
                and g.shape == x.shape and g.dtype == mean.dtype == rstd.dtype == dt and (w is None or w.dtype == dt)):
            fn = _ln_kernel("ln_backward", dt, [_INT] * 5 + [_PTR] * 7)
        if fn is None or not (need_x or need_w or need_b):
            return layer_norm_vjp_twin(g, x, mean, rstd, w, k, need_x, need_w, need_b)
        g = np.ascontiguousarray(g)  # (a broadcast or transposed gradient: one copy, then the kernel)
        d = math.prod(x.shape[x.ndim - k:])
        rows = x.size // d
        sums = need_w or need_b
        blocks = min(rows, _LN_BLOCKS) if sums else rows
        part = np.empty((2, blocks, d), np.float64) if sums else None
        gx = POOL.empty(x.shape, dt) if need_x else None
        mean, rstd = np.ascontiguousarray(mean), np.ascontiguousarray(rstd)  # (kept referenced while it runs)
        w = None if w is None else np.ascontiguousarray(w)
        at = native.address
        args = (at(g), at(x), at(mean), at(rstd), None if w is None else at(w), None if gx is None else at(gx),
                None if part is None else at(part))
        threads.run_ranges(lambda k0, k1: fn(d, rows, blocks, k0, k1, *args), blocks,
                           threads.threads_for(x.size, _LN_THREADED_MIN))
        gw = gb = None
        if part is not None:
            params = np.empty((2, d), dt)
            _ln_kernel("ln_sum_blocks", dt, [_INT] * 2 + [_PTR] * 3)(d, blocks, at(part), at(params[0]),
                                                                     at(params[1]))
            trailing = tuple(x.shape[x.ndim - k:])
            gw = params[0].reshape(trailing) if need_w else None
            gb = params[1].reshape(trailing) if need_b else None
        return gx, gw, gb

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
