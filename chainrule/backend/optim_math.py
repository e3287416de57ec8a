"""Table entries of the optimisers' updates: Adam's moments and SGD's momentum step
(``kernels/adam.c``), Adagrad's and RMSprop's whole updates (``kernels/rmsprop_adagrad.c``), in
one pass each, with the compiled kernels where they are available (contiguous float32/float64
arrays of 256 elements or more; 2,048 for Adagrad and plain RMSprop, whose twins are short) and
else their NumPy twins, which give the same bits (a kernel does its twin's operations in its
order).  Adam's moments on 330k float32 elements: 348 µs (twin) -> 105 µs (kernel).  From 1M
elements an update is cut into ``threads.intra_threads()`` ranges run at once (element-wise, so
the bits do not change): SGD with momentum on 2.56M float32 elements 828 -> 484 µs, Adam's
moments 1,328 -> 757 µs at 2 threads (below 1M the threads' start costs more than they save);
an optimiser's step on one 2.56M-element float32 parameter: RMSprop 4.5 -> 0.64 ms (centered
with momentum 8.1 -> 1.1 ms), Adagrad 3.7 -> 0.55 ms."""

from __future__ import annotations

import ctypes
import math
from operator import is_
from typing import Any

import numpy as np

from chainrule.backend import native, threads

_PTR = ctypes.c_void_p
# from this many elements an update is split over threads (each range is one kernel call)
_THREADED_MIN = 1 << 20
# from this many elements the kernel's one call costs less than its twin's NumPy calls
_KERNEL_MIN = 256
# the same for Adagrad's and plain RMSprop's updates, whose twins make only 7 and 8 NumPy calls
# (float32, measured: at 1,024 elements the twin takes 3.0-3.9 µs, the kernel's call 3.7-4.5 µs; at
# 3,072, 4.6-5.8 against 4.3-5.1); RMSprop with ḡ or momentum (11 to 15 calls) takes _KERNEL_MIN
_SHORT_UPDATE_MIN = 2048
_SCALAR = {"f": ctypes.c_float, "d": ctypes.c_double}
# (g, M, S, max S, t, dtype, kernel, its leading arguments) of the last adam_moments call that
# took the kernel on one thread (see OptimMath.adam_moments)
_LAST: list = [None]
# (g, M, S, max S, dtype, parameters, kernel, its leading arguments) of the last adam_segments call
_SEGMENTS_LAST: list = [None]


def _in_ranges(kernel: Any, size: int) -> None:
    """kernel(lo, hi) over [0, size), on several threads when the arrays are big enough."""
    threads.run_ranges(kernel, size, threads.threads_for(size, _THREADED_MIN))


def adam_moments_twin(g: Any, ma: Any, s: Any, s_max: Any, t: Any, b1: Any, one_b1: Any, b2: Any, one_b2: Any,
                      step_size: Any, eps_c: Any) -> None:
    """M ← β1 M + (1 − β1) g;  S ← β2 S + (1 − β2) g² (AMSGrad: max S so far);  t ← M / (√S + ε c) · α c'."""
    np.multiply(ma, b1, ma)
    np.multiply(g, one_b1, t)
    np.add(ma, t, ma)
    np.multiply(s, b2, s)
    np.multiply(g, g, t)
    np.multiply(t, one_b2, t)
    np.add(s, t, s)
    if s_max is not None:  # AMSGrad: the largest S so far
        np.maximum(s_max, s, out=s_max)
        s = s_max
    np.sqrt(s, t)
    np.add(t, eps_c, t)
    np.divide(ma, t, t)
    np.multiply(t, step_size, t)


def sgd_momentum_twin(w: Any, g: Any, v: Any, t: Any, mu: Any, lr: Any, nesterov: bool) -> None:
    """v ← μ v + g;  w ← w − α d, d = v (Nesterov: μ v + g);  ``t`` is scratch."""
    np.multiply(v, mu, v)
    np.add(v, g, v)
    if nesterov:
        np.multiply(v, mu, t)
        np.add(t, g, t)
        np.multiply(t, lr, t)
    else:
        np.multiply(v, lr, t)
    np.subtract(w, t, w)


def adagrad_update_twin(w: Any, g: Any, s: Any, t: Any, clr: Any, eps: Any) -> None:
    """S ← S + g²;  w ← w − (g / (√S + ε)) · α_t;  ``t`` is scratch."""
    np.multiply(g, g, t)
    np.add(s, t, s)
    np.sqrt(s, t)
    np.add(t, eps, t)
    np.divide(g, t, t)
    np.multiply(t, clr, t)
    np.subtract(w, t, w)


def rmsprop_update_twin(w: Any, g: Any, s: Any, ga: Any, b: Any, t: Any, lr: Any, alpha: Any, one_alpha: Any,
                        eps: Any, mu: Any) -> None:
    """S ← α S + (1 − α) g²;  D = √S + ε (centered, ``ga`` not None: ḡ ← ḡ + (1 − α)(g − ḡ),
    D = √(S − ḡ²) + ε);  w ← w − (g / D) · lr (momentum, ``b`` not None: b ← μ b + g / D,
    w ← w − b · lr);  ``t`` is scratch."""
    np.multiply(s, alpha, s)
    np.multiply(g, g, t)
    np.multiply(t, one_alpha, t)
    np.add(s, t, s)
    if ga is not None:
        np.subtract(g, ga, t)
        np.multiply(t, one_alpha, t)
        np.add(ga, t, ga)
        np.multiply(ga, ga, t)
        np.subtract(s, t, t)
        np.sqrt(t, t)
    else:
        np.sqrt(s, t)
    np.add(t, eps, t)
    np.divide(g, t, t)
    if b is not None:
        np.multiply(b, mu, b)
        np.add(b, t, b)
        np.multiply(b, lr, t)
    else:
        np.multiply(t, lr, t)
    np.subtract(w, t, w)


def vector_norm(x: Any, p: float) -> float:
    """‖x‖_p of all elements of array ``x``, as a Python float (inf: max |x|; -inf: min |x|;
    0: the number of non-zeros; 2: through BLAS's dot)."""
    if x.size == 0:
        return 0.0
    if p == math.inf:
        return float(np.abs(x).max())
    if p == -math.inf:
        return float(np.abs(x).min())
    if p == 0:
        return float((x != 0).sum())
    if p == 2:
        return math.sqrt(float(np.vdot(x, x)))
    if p == 1:
        return float(np.abs(x).sum())
    return float((np.abs(x) ** p).sum()) ** (1.0 / p)


def _plain(arrays: tuple) -> bool:
    """Whether the arrays can go to a kernel: NumPy arrays of one shape and one float dtype, each
    contiguous (the kernels index them as one flat run); None (an array not passed) is skipped."""
    first = arrays[0]
    dt, shape = first.dtype, first.shape
    if dt.char not in _SCALAR:
        return False
    for a in arrays:
        if a is None:
            continue
        if type(a) is not np.ndarray or a.dtype != dt or a.shape != shape or not a.flags.c_contiguous:
            return False
    return True


def _kernel(symbol: str, dt: Any, argtypes: list) -> Any:
    return native.typed_function("adam", symbol, dt, argtypes)


# the argument types of kernels/rmsprop_adagrad.c's functions, per dtype character
_ADAGRAD_ARGS = {c: [ctypes.c_ssize_t] + [_PTR] * 3 + [v] * 2 for c, v in _SCALAR.items()}
_RMSPROP_ARGS = {c: [ctypes.c_ssize_t] + [_PTR] * 5 + [v] * 5 for c, v in _SCALAR.items()}


def _one_pass(fn: Any, n: int, itemsize: int, ptrs: tuple, scalars: tuple) -> None:
    """``fn(n, *ptrs, *scalars)``: one kernel call over arrays of ``n`` elements at addresses
    ``ptrs`` (None: NULL), cut into element ranges on several threads from ``_THREADED_MIN``."""
    if n < _THREADED_MIN:
        fn(n, *ptrs, *scalars)
        return

    def run(lo: int, hi: int) -> None:  # elements [lo, hi): every array at offset lo
        o = lo * itemsize
        fn(hi - lo, *[None if p is None else p + o for p in ptrs], *scalars)

    _in_ranges(run, n)


class OptimMath:
    @staticmethod
    def total_norm(arrays: list, p: float) -> Any:
        """‖(‖a_1‖_p, ..., ‖a_n‖_p)‖_p, the p-norm of all the arrays' elements taken together, as
        a 0-d float64 array (gradient clipping; one entry, so a compiled plan records one step)."""
        norms = np.array([vector_norm(a, p) for a in arrays], dtype=np.float64)
        return np.asarray(vector_norm(norms, p), dtype=np.float64)

    @staticmethod
    def adam_moments(g: Any, ma: Any, s: Any, s_max: Any, t: Any, b1: Any, one_b1: Any, b2: Any, one_b2: Any,
                     step_size: Any, eps_c: Any) -> None:
        """Adam's moments M (``ma``), S (``s``, and ``s_max`` for AMSGrad, else None) updated in
        place from the gradient ``g``; the step α M̂ / (√Ŝ + ε) left in ``t`` (see the module
        docstring; the scalars are 0-d arrays of the arrays' dtype).

        A caller that passes the same five arrays every step (the flat moments of
        :class:`~chainrule.optim._functional.FlatAdam`) finds them in ``_LAST``, with the kernel
        and the addresses found for them last time: that call pays the kernel's call only (about
        3 µs less on w1's 1,537 parameters).  ``_LAST`` holds the arrays, so they cannot be freed
        and their addresses reused while it names them."""
        c = (float(b1), float(one_b1), float(b2), float(one_b2), float(step_size), float(eps_c))
        last = _LAST[0]
        if last is not None and last[0] is g and last[1] is ma and last[2] is s and last[3] is s_max \
                and last[4] is t and last[5] is g.dtype:
            last[6](*last[7], *c)
            return
        arrays = (g, ma, s, t) if s_max is None else (g, ma, s, s_max, t)
        if g.size >= _KERNEL_MIN and _plain(arrays):
            dt = g.dtype
            fn = _kernel("adam_moments", dt, [ctypes.c_ssize_t] + [_PTR] * 5 + [_SCALAR[dt.char]] * 6)
            if fn is not None:
                at, k = native.address, dt.itemsize
                pg, pm, ps, pt = at(g), at(ma), at(s), at(t)
                px = None if s_max is None else at(s_max)
                if g.size < _THREADED_MIN:
                    _LAST[0] = (g, ma, s, s_max, t, dt, fn, (g.size, pg, pm, ps, px, pt))
                    fn(g.size, pg, pm, ps, px, pt, *c)
                    return

                def run(lo: int, hi: int) -> None:  # elements [lo, hi): every array at offset lo
                    o = lo * k
                    fn(hi - lo, pg + o, pm + o, ps + o, None if px is None else px + o, pt + o, *c)

                _in_ranges(run, g.size)
                return
        adam_moments_twin(g, ma, s, s_max, t, b1, one_b1, b2, one_b2, step_size, eps_c)

    @staticmethod
    def adam_segments(g: Any, ma: Any, s: Any, s_max: Any, ws: list, b1: Any, one_b1: Any, b2: Any, one_b2: Any,
                      step_size: Any, eps_c: Any) -> None:
        """Adam's whole step for parameters ``ws`` whose gradient and moments lie in flat buffers:
        ``g``, M (``ma``), S (``s``; ``s_max`` for AMSGrad, else None) are 1-D, and their k-th
        segment of ``ws[k].size`` elements (in order; the sizes add up to ``g.size``) belongs to
        ``ws[k]``.  M and S are updated as :meth:`adam_moments` updates them, and each parameter
        takes ``w ← w − t`` in place, t its segment of the step α M̂ / (√Ŝ + ε).

        The fast path (one kernel call over every segment, no step array) covers contiguous
        parameters of ``g``'s dtype, float32 or float64, below ``_THREADED_MIN`` elements in all;
        otherwise the moments' entry and one subtraction per parameter, the same bits.  A caller
        that passes the same arrays every step (FlatAdam) pays the kernel's call only: the
        kernel, the segment lengths and the addresses are kept from the last call (``_SEGMENTS_LAST``),
        checked by identity."""
        c = (float(b1), float(one_b1), float(b2), float(one_b2), float(step_size), float(eps_c))
        last = _SEGMENTS_LAST[0]
        if last is not None and last[0] is g and last[1] is ma and last[2] is s and last[3] is s_max \
                and last[4] is g.dtype and len(ws) == len(last[5]) and all(map(is_, ws, last[5])):
            last[6](*last[7], *c)
            return
        dt = g.dtype
        fn = None
        total = sum(w.size for w in ws)
        if total != g.size:
            raise ValueError(f"adam_segments: the parameters have {total} elements in all, the flat gradient "
                             f"{g.size}; expected one segment of the flat buffers per parameter, in order")
        if g.size < _THREADED_MIN and _plain((g, ma, s, s_max)) \
                and all(type(w) is np.ndarray and w.dtype == dt and w.flags.c_contiguous and w.flags.writeable
                        for w in ws):
            scalar = _SCALAR[dt.char]
            fn = _kernel("adam_segments", dt, [ctypes.c_ssize_t, _PTR, _PTR] + [_PTR] * 4 + [scalar] * 6)
        if fn is None:
            t = np.empty_like(g)
            OptimMath.adam_moments(g, ma, s, s_max, t, b1, one_b1, b2, one_b2, step_size, eps_c)
            lo = 0
            for w in ws:
                np.subtract(w, t[lo:lo + w.size].reshape(w.shape), w)
                lo += w.size
            return
        at = native.address
        lengths = (ctypes.c_ssize_t * len(ws))(*[w.size for w in ws])
        pointers = (_PTR * len(ws))(*[at(w) for w in ws])
        px = None if s_max is None else at(s_max)
        args = (len(ws), lengths, pointers, at(g), at(ma), at(s), px)
        _SEGMENTS_LAST[0] = (g, ma, s, s_max, dt, tuple(ws), fn, args)  # (it holds the arrays: see adam_moments)
        fn(*args, *c)

    @staticmethod
    def sgd_momentum(w: Any, g: Any, v: Any, t: Any, mu: Any, lr: Any, nesterov: bool) -> None:
        """SGD's step with a momentum buffer (dampening 0), in place: v ← μ v + g, then
        w ← w − α v (Nesterov: w ← w − α (μ v + g)); ``t`` is scratch shaped like ``w``; the
        scalars are 0-d arrays of the arrays' dtype."""
        if w.size >= _KERNEL_MIN and _plain((w, g, v)):
            dt = w.dtype
            fn = _kernel("sgd_momentum", dt, [ctypes.c_ssize_t] + [_PTR] * 3 + [_SCALAR[dt.char]] * 2 + [ctypes.c_int])
            if fn is not None:
                at, k = native.address, dt.itemsize
                pw, pg, pv = at(w), at(g), at(v)
                c = (float(mu), float(lr), int(bool(nesterov)))
                if w.size < _THREADED_MIN:
                    fn(w.size, pw, pg, pv, *c)
                    return

                def run(lo: int, hi: int) -> None:
                    o = lo * k
                    fn(hi - lo, pw + o, pg + o, pv + o, *c)

                _in_ranges(run, w.size)
                return
        sgd_momentum_twin(w, g, v, t, mu, lr, nesterov)

    @staticmethod
    def adagrad_update(w: Any, g: Any, s: Any, t: Any, clr: Any, eps: Any) -> None:
        """Adagrad's step in place: S ← S + g², then w ← w − (g / (√S + ε)) · α_t (all arrays
        shaped like ``w``; ``t`` is scratch; ``clr`` = α_t and ``eps`` are 0-d arrays of the arrays'
        dtype).  One pass with the compiled kernel, its bits those of ``adagrad_update_twin``."""
        if w.size >= _SHORT_UPDATE_MIN and _plain((w, g, s)):
            fn = native.typed_function("rmsprop_adagrad", "adagrad_update", w.dtype, _ADAGRAD_ARGS[w.dtype.char])
            if fn is not None:
                at = native.address
                _one_pass(fn, w.size, w.itemsize, (at(w), at(g), at(s)), (float(clr), float(eps)))
                return
        adagrad_update_twin(w, g, s, t, clr, eps)

    @staticmethod
    def rmsprop_update(w: Any, g: Any, s: Any, ga: Any, b: Any, t: Any, lr: Any, alpha: Any, one_alpha: Any,
                       eps: Any, mu: Any) -> None:
        """RMSprop's step in place: S ← α S + (1 − α) g², D = √S + ε, w ← w − (g / D) · lr;
        ``ga`` (ḡ, or None) makes it centered: ḡ ← ḡ + (1 − α)(g − ḡ), D = √(S − ḡ²) + ε; ``b``
        (or None) adds momentum: b ← μ b + g / D, w ← w − b · lr.  All arrays shaped like ``w``;
        ``t`` is scratch; the scalars are 0-d arrays of the arrays' dtype.  One pass with the
        compiled kernel, its bits those of ``rmsprop_update_twin``."""
        if w.size >= (_SHORT_UPDATE_MIN if ga is None and b is None else _KERNEL_MIN) and _plain((w, g, s, ga, b)):
            fn = native.typed_function("rmsprop_adagrad", "rmsprop_update", w.dtype, _RMSPROP_ARGS[w.dtype.char])
            if fn is not None:
                at = native.address
                ptrs = (at(w), at(g), at(s), None if ga is None else at(ga), None if b is None else at(b))
                _one_pass(fn, w.size, w.itemsize, ptrs, (float(lr), float(alpha), float(one_alpha), float(eps),
                                                         float(mu)))
                return
        rmsprop_update_twin(w, g, s, ga, b, t, lr, alpha, one_alpha, eps, mu)
