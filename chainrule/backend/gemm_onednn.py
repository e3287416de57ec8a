"""float32 matrix products on oneDNN's sgemm, on the threads oneDNN holds.

oneDNN (an optional extra) runs chainrule's float32 convolutions and LSTM layers on its GNU
OpenMP threads, and once it runs NumPy's BLAS runs on one thread (``onednn.take_threads`` says
why: two pools of spinning workers on the same cores stall each other).  Its own
``dnnl_sgemm`` runs on the same threads, so the products go there too: one pool for
everything, as in PyTorch.  A large float32 product takes the threads itself, as a convolution
does, where no oneDNN layer has yet, so that a product sums the same whatever the process ran
before it.  At two threads each, oneDNN's sgemm is as fast as OpenBLAS's or faster on the
shapes of real models (µs: (128, 512) @ (512, 512) 520 → 330, (512, 128) @ (128, 512) 660 →
318, (1024, 2048) @ (2048, 256) 5,700 both), and models without a convolution went about 11 %
faster against PyTorch, for about 18 MiB more resident memory (the two libraries loaded;
docs/performance.md#sgemm-always).  Against
OpenBLAS on one thread, once a layer holds the threads: w4's output products (2048, 256) @
(256, 65) 740 → 407 µs, (65, 2048) @ (2048, 256) 747 → 316; but (64, 64) @ (64, 64) 5.6 → 8.9,
where a call's start costs more than the threads save.  Hence the fast path covers:

* 2-D float32 NumPy arrays, each with one axis of unit stride (C order or a transposed view;
  anything else is copied first), M·N·K of at least ``_MIN_MACS``; and stacks of products
  (3 or more dimensions, :func:`batched`), on oneDNN's matmul primitive;
* while oneDNN holds the threads (:func:`onednn.holds_threads`), and such a product takes them
  (:func:`_takes_threads`) where oneDNN is installed, chainrule has more than one intra-op
  thread and the process is not a forked child (a DataLoader worker, where GNU OpenMP must not
  start).  With one thread, or without oneDNN, OpenBLAS keeps every product.

Row-major ``C = op(A) op(B)`` with op the identity or the transpose, as ``dnnl_sgemm`` takes it,
except where B is a transposed view (a Linear layer's ``x @ Wᵀ``): ``dnnl_sgemm`` is slow on
that layout, and oneDNN's matmul primitive runs it instead (:func:`_primitive_product`).  Their
sums run in another order than OpenBLAS's, so the results agree with ``a @ b`` to rounding.
"""

from __future__ import annotations

import ctypes
import math
from typing import Any

import numpy as np

from chainrule.backend import native, onednn, threads

_MIN_MACS = 1 << 20  # multiply-adds from which sgemm on the threads beats OpenBLAS on one
_DOT_BELOW = 1 << 18  # multiply-adds below which np.dot's call costs less than matmul's (measured to 2^20)
_I64, _P, _F = ctypes.c_int64, ctypes.c_void_p, ctypes.c_float
_FN: list = []  # dnnl_sgemm with its argument types, once looked up
_HELD = onednn.HELD  # (module globals: this runs on every product)
_np_matmul = np.matmul
_np_dot = np.dot
_ndarray = np.ndarray


def _sgemm() -> Any:
    if not _FN:
        fn = onednn.library().dnnl_sgemm
        fn.argtypes = [ctypes.c_char, ctypes.c_char, _I64, _I64, _I64, _F, _P, _I64, _P, _I64, _F, _P, _I64]
        fn.restype = ctypes.c_int
        _FN.append(fn)
    return _FN[0]


def _operand(a: np.ndarray) -> tuple:
    """(b'N' or b'T', leading dimension, the array) describing 2-D ``a`` to a row-major GEMM:
    rows of unit stride as they are, a transposed view as the transpose of its C-ordered base,
    anything else copied to C order."""
    rows, cols = a.shape
    s0, s1 = a.strides
    k = a.itemsize
    if s1 == k and s0 % k == 0 and s0 >= k * max(cols, 1):
        return b"N", s0 // k, a
    if s0 == k and s1 % k == 0 and s1 >= k * max(rows, 1):
        return b"T", s1 // k, a
    a = np.ascontiguousarray(a)
    return b"N", max(cols, 1), a


def _covered(a: Any, b: Any, out: Any) -> tuple | None:
    """(m, k, n) when the fast path covers ``a @ b`` into ``out`` (None: a new array), else None
    (the module docstring says which calls it covers)."""
    if not onednn.holds_threads():
        return None
    return _shapes_covered(a, b, out)


def _shapes_covered(a: Any, b: Any, out: Any) -> tuple | None:
    """(m, k, n) when the operands are ones the fast path covers, whoever holds the threads."""
    if type(a) is not np.ndarray or type(b) is not np.ndarray or a.ndim != 2 or b.ndim != 2:
        return None
    if a.dtype != np.float32 or b.dtype != np.float32:
        return None
    (m, k), (k2, n) = a.shape, b.shape
    if k != k2 or m * n * k < _MIN_MACS:
        return None
    if out is not None and (type(out) is not np.ndarray or out.shape != (m, n) or out.dtype != np.float32
                            or not out.flags.c_contiguous):
        return None
    return m, k, n


def sgemm(a: Any, b: Any, out: Any = None) -> Any:
    """a (M, K) @ b (K, N) -> (M, N) float32 through ``dnnl_sgemm`` (into ``out`` when given, a
    C-contiguous (M, N) float32 array), or None when the fast path does not cover the call (the
    module docstring says which calls it covers)."""
    mkn = _covered(a, b, out)
    if mkn is None:
        return None
    m, k, n = mkn
    if out is None:
        out = np.empty((m, n), np.float32)
    onednn.take_threads()  # (OpenMP's thread count is the calling thread's setting)
    ta, lda, a = _operand(a)
    tb, ldb, b = _operand(b)
    if tb == b"T" and _primitive_product(a, b, out):  # (a transposed right operand: see _primitive_product)
        return out
    at = native.address
    onednn.check(_sgemm()(ta, tb, m, n, k, 1.0, at(a), lda, at(b), ldb, 0.0, at(out), max(n, 1)), "dnnl_sgemm")
    return out


def _primitive_product(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> bool:
    """out = a @ b on oneDNN's matmul primitive; False (nothing done) where oneDNN has only its
    reference kernel for these operands (the caller computes the product otherwise).

    For a 2-D right operand ``b`` that is a transposed view (a Linear layer's x @ Wᵀ), where
    ``dnnl_sgemm`` is slow: at two threads, µs, sgemm with b transposed / the primitive / sgemm
    on a C-ordered copy of b: (128, 512) @ (512, 512) 520 / 340 / 313, (128, 784) @ (784, 512)
    637 / 531 / 522, (64, 1024) @ (1024, 64) 146 / 72 / 52; and for stacks of products
    (:func:`batched`).  The operands may have any strides of one sign (the caller copies the
    others) and the same number of dimensions, ``out`` is C-ordered.  The primitive is made for
    the operands' shapes and strides (kept in ``onednn.cached``; a new shape costs about 0.5 ms
    once, oneDNN compiling its kernel), and reads the operands where they are: nothing is
    copied (docs/performance.md#matmul-primitive)."""
    key = ("matmul", a.shape, onednn.layout(a), b.shape, onednn.layout(b))

    def make() -> onednn.Step | None:
        shapes = {"src": (a.shape, onednn.layout(a)), "weights": (b.shape, onednn.layout(b)),
                  "dst": (out.shape, onednn.layout(out))}
        mds = {name: onednn.plain_md(*shape) for name, shape in shapes.items()}
        pd = _P()
        onednn.check(onednn.library().dnnl_matmul_primitive_desc_create(
            ctypes.byref(pd), onednn.engine(), mds["src"], mds["weights"], None, mds["dst"], onednn.attr()),
            "matmul")
        onednn.destroy(*mds.values())
        if onednn.implementation(pd).startswith("ref"):
            onednn.library().dnnl_primitive_desc_destroy(pd)
            return None
        return onednn.Step(pd, {name: (onednn.ARG[name], shape, strides, name == "dst")
                                for name, (shape, strides) in shapes.items()})

    step = onednn.cached(key, make)
    if step is None:
        return False
    step.run({"src": a, "weights": b, "dst": out})
    return True


def _stack_covered(a: Any, b: Any, out: Any) -> tuple | None:
    """(a, b, the result's shape) for a stack of products :func:`batched` takes, the operand of
    fewer dimensions given leading dimensions of 1 (a view); else None.  Covered: float32 NumPy
    arrays of at least 2 dimensions, one of them at least 3; batch dimensions equal or 1 on one
    side (broadcast); no empty dimension; M·N·K times the batch at least ``_MIN_MACS``; ``out``
    None or a C-ordered float32 array of the result's shape."""
    if type(a) is not np.ndarray or type(b) is not np.ndarray or a.dtype != np.float32 or b.dtype != np.float32:
        return None
    nd = max(a.ndim, b.ndim)
    if min(a.ndim, b.ndim) < 2 or nd < 3:
        return None
    a = a.reshape((1,) * (nd - a.ndim) + a.shape)
    b = b.reshape((1,) * (nd - b.ndim) + b.shape)
    if a.shape[-1] != b.shape[-2]:
        return None
    batch = []
    for x, y in zip(a.shape[:-2], b.shape[:-2]):
        if x != y and x != 1 and y != 1:
            return None
        batch.append(max(x, y))
    shape = (*batch, a.shape[-2], b.shape[-1])
    if math.prod(shape) * a.shape[-1] < _MIN_MACS:  # (also: an empty dimension)
        return None
    if out is not None and (type(out) is not np.ndarray or out.shape != shape or out.dtype != np.float32
                            or not out.flags.c_contiguous):
        return None
    return a, b, shape


def batched(a: Any, b: Any, out: Any = None) -> Any:
    """A stack of products ``np.matmul(a, b)`` (3 or more dimensions: attention's Q Kᵀ and A V,
    a batched Linear) on oneDNN's matmul primitive, or None where it does not cover the call
    (:func:`_stack_covered`, oneDNN holding the threads, and an optimised kernel for the
    operands' layout).  With the threads held, NumPy's matmul runs a stack on BLAS's one thread;
    the primitive spreads it over the team: µs at two threads, (64, 64, 32) @ (64, 32, 64) with
    the right operand a transposed view 270 → 102, (32, 128, 64) @ (32, 64, 128) 824 → 336,
    (16, 256, 64) @ (16, 64, 256) 1,600 → 750 (docs/performance.md#matmul-primitive)."""
    if not onednn.holds_threads():
        return None
    covered = _stack_covered(a, b, out)
    if covered is None:
        return None
    a, b, shape = covered
    a, b = onednn.readable(a), onednn.readable(b)
    if out is None:
        out = np.empty(shape, np.float32)
    return out if _primitive_product(a, b, out) else None  # (the step takes the threads as it runs)


def bound(a: Any, b: Any, out: Any) -> Any:
    """For a loop of products a_t @ b into ``out``, every a_t of ``a``'s shape, dtype and strides
    (a recurrent layer's steps): a function of a_t's address that runs :func:`sgemm` with every
    other argument fixed once, or None where :func:`sgemm` does not cover the call, or would
    copy a_t first (call :func:`matmul` then).  It skips the checks and argument conversions
    of a call: 64 of w4's products (32 × 256)·(256 × 1024) took 9.9 ms against 10.6.  ``b`` and
    ``out`` must stay alive and unchanged in shape while the function is used; it holds them."""
    mkn = None if out is None else _covered(a, b, out)
    if mkn is None:
        return None
    m, k, n = mkn
    ta, lda, a_ok = _operand(a)
    if a_ok is not a:  # (a layout the product would copy: each a_t would need the copy too)
        return None
    tb, ldb, b = _operand(b)
    fn, pb, pout, ldc, check = _sgemm(), native.address(b), native.address(out), max(n, 1), onednn.check
    onednn.take_threads()

    def product(address: int) -> None:
        check(fn(ta, tb, m, n, k, 1.0, address, lda, pb, ldb, 0.0, pout, ldc), "dnnl_sgemm")

    product.keep = (b, out)  # type: ignore[attr-defined]
    return product


def matmul(a: Any, b: Any, out: Any = None) -> Any:
    """``np.matmul(a, b, out=out)``, through :func:`sgemm` where it covers the call (the table's
    ``matmul``; a product the fast path covers takes the threads for oneDNN where it may,
    :func:`_takes_threads`).

    Two 2-D NumPy arrays of fewer than ``_DOT_BELOW`` multiply-adds go through ``np.dot``, which
    is the same product for them and calls BLAS with less machinery than matmul's generalised
    ufunc: (64, 13) @ (13, 32) 2.65 → 2.15 µs, (64, 1) @ (1, 32) 4.5 → 1.5 µs (one thread).
    Larger ones stay with matmul, which hands transposed operands to BLAS as they are (np.dot
    took 845 µs against 720 for (128, 512)ᵀ @ (128, 784)).  Its sums are BLAS's either way.
    An outer product (K = 1: the input gradient of a Linear layer with one output) goes through
    ``np.dot`` at every size: matmul's loop for it is slower, (3200, 1) @ (1, 128) 650–950 µs
    against 120–130, (2048, 1) @ (1, 1024) 3.2 ms against 0.7–1.5 (one or two threads)."""
    if _HELD[0] is not None and type(a) is _ndarray and type(b) is _ndarray:
        y = sgemm(a, b, out) if a.ndim == 2 and b.ndim == 2 else batched(a, b, out)
        if y is not None:
            return y
    if type(a) is _ndarray and type(b) is _ndarray and _dot_covers(a.shape, b.shape):
        if out is None:
            return _np_dot(a, b)
        try:
            return _np_dot(a, b, out=out)
        except ValueError:  # (np.dot takes only a C-contiguous out of the result's exact dtype)
            pass
    elif _takes_threads(a, b, out):
        y = sgemm(a, b, out) if a.ndim == 2 and b.ndim == 2 else batched(a, b, out)
        if y is not None:
            return y
    return _np_matmul(a, b) if out is None else _np_matmul(a, b, out=out)


def _takes_threads(a: Any, b: Any, out: Any) -> bool:
    """Whether product ``a @ b`` hands the threads to oneDNN (and did: ``onednn.take_threads``),
    while oneDNN does not hold them under the current setting (not yet, or not since the count
    was set): one the fast path covers, with more than one intra-op thread, oneDNN installed,
    not in a forked child (the module docstring says why)."""
    if (_shapes_covered(a, b, out) is None and _stack_covered(a, b, out) is None) or threads.intra_threads() <= 1 \
            or onednn.holds_threads() or threads.in_forked_child() or not onednn.available():
        return False
    onednn.take_threads()
    return onednn.holds_threads()


def matmul_for(a_shape: tuple | None, b_shape: tuple | None, dtype: Any) -> Any:
    """``np.dot`` when :func:`matmul` on NumPy arrays of these shapes, with a C-contiguous ``out``
    of ``dtype``, is always ``np.dot`` (2-D operands :func:`_dot_covers` and too small for oneDNN's
    sgemm to take); else None.  A compiled plan, whose shapes are guarded, then calls NumPy's
    product without this module's checks."""
    if a_shape is None or b_shape is None:
        return None
    small = len(a_shape) == 2 and len(b_shape) == 2 and a_shape[0] * a_shape[1] * b_shape[1] < _MIN_MACS
    return _np_dot if small and _dot_covers(a_shape, b_shape) else None


def _dot_covers(a_shape: tuple, b_shape: tuple) -> bool:
    """Whether :func:`matmul` takes ``np.dot`` for NumPy arrays of these shapes (when oneDNN's
    sgemm does not): both 2-D, with fewer than ``_DOT_BELOW`` multiply-adds or K = 1."""
    if len(a_shape) != 2 or len(b_shape) != 2:
        return False
    return a_shape[1] == 1 or a_shape[0] * a_shape[1] * b_shape[1] < _DOT_BELOW

