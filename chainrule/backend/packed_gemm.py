"""Products with one operand packed once: a recurrent layer's h_{t-1} W_hhᵀ and δz_t W_hh.

An LSTM's time loop multiplies every step's (N, H) state by the same weight.  A BLAS call
repacks that weight into cache-sized panels on every call; for w4's (32 × 256) @ (256 × 1024),
16.8 MFLOP a step, that copy of 1 MiB is a large part of the call.  ``kernels/packed_gemm.c``
packs B once per sequence and each step's product only reads the panels (it says how).

The fast path covers float32 2-D NumPy operands where the kernel is built with AVX2 and FMA,
A's rows of unit stride (a step's state, or its gate adjoints with padded rows), B of any
strides, ``out`` C-contiguous; and only at the thread count chainrule's kernels may use where
nothing else holds the cores: while oneDNN holds the threads (its GNU OpenMP team, which the
kernel shares), or at one intra-op thread.  Elsewhere OpenBLAS's workers hold the cores, and
its own product stays (:func:`bound` returns None).

Each element of the result is one fused multiply-add chain over k in order, so it agrees with
``a @ b`` to rounding and does not depend on the thread count.
"""

from __future__ import annotations

import ctypes
from typing import Any, Callable

import numpy as np

from chainrule.backend import native, onednn, threads

_PANEL = 16  # columns of a packed panel (kernels/packed_gemm.c's NR)
_S, _P = ctypes.c_ssize_t, ctypes.c_void_p


def _functions() -> tuple | None:
    """(pack, product) of the kernel, or None where it is not built with AVX2 and FMA (or not at
    all).  ``native`` keeps what it loaded, so a second ask is two dictionary lookups."""
    lib = native.load("packed_gemm")
    if lib is None or not lib.packed_gemm_available():
        return None
    pack = native.typed_function("packed_gemm", "pack_panels", np.float32, [ctypes.c_int, _S, _S, _P, _S, _S, _P])
    product = native.typed_function("packed_gemm", "gemm_panels", np.float32,
                                    [ctypes.c_int, _S, _S, _S, _P, _S, _P, _P, _S])
    return pack, product


def packed_size(k: int, n: int) -> int:
    """Floats of a packed (K, N) operand: ceil(N / 16) panels of K × 16."""
    return -(-n // _PANEL) * k * _PANEL


def free_threads() -> int | None:
    """The thread count chainrule's own kernels may use for products, or None where OpenBLAS's
    workers hold the cores (the module docstring says when)."""
    count = threads.intra_threads()
    if count == 1 or onednn.holds_threads():
        return count
    return None


def bound(a: Any, b: Any, out: Any, empty: Callable = np.empty) -> Callable[[int], None] | None:
    """For a loop of products a_t @ b into ``out``, every a_t of ``a``'s shape, dtype and strides:
    a function of a_t's address that runs the product on ``b`` packed once (into an array that
    ``empty(shape, dtype)`` gives, asked only when the call is covered), or None where the fast
    path does not cover the call (the module docstring says which calls it covers).
    ``b`` may change after this call without effect; ``out`` must stay alive (the function
    holds it and the panels)."""
    fns = _functions()
    nt = free_threads()
    if fns is None or nt is None:
        return None
    if not all(type(x) is np.ndarray and x.dtype == np.float32 and x.ndim == 2 for x in (a, b, out)):
        return None
    (m, k), (k2, n) = a.shape, b.shape
    if k != k2 or out.shape != (m, n) or not out.flags.c_contiguous or a.strides[1] != 4 or a.strides[0] % 4:
        return None
    if b.strides[0] % 4 or b.strides[1] % 4:
        return None
    panels = empty((packed_size(k, n),), np.float32)
    pack, product = fns
    pack(nt, k, n, native.address(b) if b.size else 0, b.strides[0] // 4, b.strides[1] // 4, native.address(panels))
    lda, pp, pout = max(a.strides[0] // 4, 1), native.address(panels), native.address(out)

    def run(address: int) -> None:
        product(nt, m, n, k, address, lda, pp, pout, n)

    run.keep = (panels, out)  # type: ignore[attr-defined]
    return run
