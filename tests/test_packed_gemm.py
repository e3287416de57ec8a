"""Products on an operand packed once (backend/packed_gemm.py, kernels/packed_gemm.c): against
float64 products for ragged shapes (rows not a multiple of the 6-row block, columns not a
multiple of the 16-column panel, depths across the 256-deep chunks, an empty depth), operand
strides, NaN and inf as BLAS gives them, the same bits at one and two threads, the cases it
leaves to the BLAS, and the LSTM time loop taking it."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.backend import native, onednn, packed_gemm, recurrent_math, threads

pytestmark = pytest.mark.skipif(packed_gemm._functions() is None,
                                reason=f"packed product (AVX2 and FMA): {native.status('packed_gemm')}")


def _product(a: np.ndarray, b: np.ndarray, nt: int) -> np.ndarray:
    """a @ b through the kernel's two functions at ``nt`` threads."""
    pack, product = packed_gemm._functions()
    (m, k), n = a.shape, b.shape[1]
    panels = np.full(packed_gemm.packed_size(k, n), np.nan, np.float32)  # (pack must write every float)
    pack(nt, k, n, b.ctypes.data, b.strides[0] // 4, b.strides[1] // 4, panels.ctypes.data)
    out = np.full((m, n), np.nan, np.float32)
    product(nt, m, n, k, a.ctypes.data, a.strides[0] // 4, panels.ctypes.data, out.ctypes.data, n)
    return out


def _bound(a64: np.ndarray, b64: np.ndarray) -> np.ndarray:
    """|a @ b - exact| allowed: K rounding errors of the partial sums, each at most eps·Σ|a||b|."""
    k = a64.shape[1]
    return (k + 1) * np.finfo(np.float32).eps * (np.abs(a64) @ np.abs(b64)) + 1e-30


@pytest.mark.parametrize("m, k, n", [(32, 256, 1024), (32, 1024, 256), (1, 1, 1), (5, 7, 15), (7, 257, 17),
                                     (13, 600, 33), (6, 256, 16), (33, 3, 40), (4, 0, 9)])
def test_ragged_shapes_give_the_product(m, k, n):
    rng = np.random.default_rng(m * 1000 + k + n)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    got = _product(a, b, 1)
    assert np.all(np.abs(got - a64 @ b64) <= _bound(a64, b64))
    if k == 0:
        assert np.array_equal(got, np.zeros((m, n), np.float32))


@pytest.mark.parametrize("m", range(1, 18))
def test_each_row_sums_the_same_in_every_register_block(m):
    """Every element is one multiply-add chain over k in order, whichever register block (of up
    to 6 or 8 rows, gemm_panels.h's MR) its row falls in: each row of an (m, K) product equals
    that row's product alone, bit for bit (m up to 17 covers every block size and remainder)."""
    rng = np.random.default_rng(m)
    a = rng.standard_normal((m, 300)).astype(np.float32)  # (K over one chunk of 256: accumulated blocks too)
    b = rng.standard_normal((300, 40)).astype(np.float32)
    whole = _product(a, b, 1)
    for i in range(m):
        np.testing.assert_array_equal(whole[i], _product(a[i:i + 1], b, 1)[0])


def test_strided_operands():
    """B as a transposed view (an LSTM's W_hhᵀ), A in rows padded past K (its gate adjoints)."""
    rng = np.random.default_rng(1)
    w = rng.standard_normal((48, 20)).astype(np.float32)
    wide = rng.standard_normal((9, 56)).astype(np.float32)
    a = wide[:, :48]
    got = _product(a, w, 2)
    assert np.all(np.abs(got - a.astype(np.float64) @ w.astype(np.float64)) <= _bound(a.astype(np.float64), w))
    wt = np.ascontiguousarray(w.T)  # (20, 48); its transposed view is (48, 20) with strides (4, 192)
    got_t = _product(a, wt.T, 2)
    assert np.array_equal(got_t, got)  # the same numbers, packed from either layout


def test_the_same_bits_at_every_thread_count():
    """Each element is one chain of fused multiply-adds over k in order, on one thread."""
    rng = np.random.default_rng(2)
    a = rng.standard_normal((32, 300)).astype(np.float32)
    b = rng.standard_normal((300, 200)).astype(np.float32)
    one = _product(a, b, 1)
    for nt in (2, 3, 8):
        assert np.array_equal(_product(a, b, nt), one)


def test_nan_and_inf_as_blas_gives_them():
    """0 · inf is NaN, so a zero state times a weight holding an inf is NaN where BLAS says so."""
    a = np.zeros((3, 4), np.float32)
    b = np.ones((4, 5), np.float32)
    b[2, 1] = np.inf
    b[0, 3] = np.nan
    got = _product(a, b, 2)
    with np.errstate(invalid="ignore"):
        assert np.array_equal(np.isnan(got), np.isnan(a @ b))
    assert np.isnan(got[:, 1]).all() and np.isnan(got[:, 3]).all() and not np.isnan(got[:, [0, 2, 4]]).any()


def test_bound_runs_the_product_and_repacks_nothing(monkeypatch):
    """``bound`` packs B once: changing B afterwards changes nothing; each call reads a new a_t."""
    rng = np.random.default_rng(3)
    states = rng.standard_normal((3, 8, 24)).astype(np.float32)
    w = rng.standard_normal((40, 24)).astype(np.float32)
    out = np.empty((8, 40), np.float32)
    monkeypatch.setattr(packed_gemm, "free_threads", lambda: 1)
    run = packed_gemm.bound(states[0], w.T, out)
    assert run is not None
    w64 = w.T.astype(np.float64)
    w[...] = 0
    for s in states:
        run(native.address(s))
        s64 = s.astype(np.float64)
        assert np.all(np.abs(out - s64 @ w64) <= _bound(s64, w64))


def test_bound_leaves_other_calls_to_the_blas(monkeypatch):
    f32 = np.zeros((4, 6), np.float32), np.zeros((6, 5), np.float32), np.zeros((4, 5), np.float32)
    monkeypatch.setattr(packed_gemm, "free_threads", lambda: 2)
    assert packed_gemm.bound(*f32) is not None
    a, b, out = f32
    assert packed_gemm.bound(a.astype(np.float64), b.astype(np.float64), out.astype(np.float64)) is None
    assert packed_gemm.bound(np.zeros((6, 4), np.float32).T, b, out) is None  # a's rows not of unit stride
    assert packed_gemm.bound(a, b, np.zeros((5, 4), np.float32).T) is None  # out not C-contiguous
    assert packed_gemm.bound(a, b[:5], out) is None  # shapes that do not chain
    monkeypatch.setattr(packed_gemm, "free_threads", lambda: None)  # OpenBLAS's workers hold the cores
    assert packed_gemm.bound(*f32) is None


def test_threads_only_where_nothing_else_holds_the_cores(monkeypatch):
    monkeypatch.setattr(threads, "intra_threads", lambda: 1)
    assert packed_gemm.free_threads() == 1
    monkeypatch.setattr(threads, "intra_threads", lambda: 2)
    monkeypatch.setattr(onednn, "holds_threads", lambda: False)
    assert packed_gemm.free_threads() is None
    monkeypatch.setattr(onednn, "holds_threads", lambda: True)
    assert packed_gemm.free_threads() == 2


@pytest.mark.skipif(recurrent_math.lstm_kernels(np.float32) is None, reason=native.status("lstm_cell"))
@pytest.mark.parametrize("reverse", [False, True])
def test_the_lstm_loop_takes_it(monkeypatch, reverse):
    """Both products of the float32 step loop go through the packed operand (W_hhᵀ forward, W_hh
    backward); its outputs equal PyTorch's LSTM equations in float64 and its gradients the
    float64 layer's (which takes no packed product) to float32 rounding.  (Where the one-call
    loop runs, it takes the float32 loop: switched off here, it has tests of its own.)"""
    from test_backend_native import lstm_reference, lstm_run

    monkeypatch.setattr(packed_gemm, "free_threads", lambda: 1)
    monkeypatch.setattr(recurrent_math, "sequence_kernels", lambda dt: None)
    rng = np.random.default_rng(4)
    T, N, I, H = 5, 7, 3, 24
    x = rng.standard_normal((T, N, I))
    h0, c0 = rng.standard_normal((N, H)) * 0.5, rng.standard_normal((N, H))
    ps = [rng.standard_normal((4 * H, I)) * 0.5, rng.standard_normal((4 * H, H)) * 0.2,
          rng.standard_normal(4 * H) * 0.3, rng.standard_normal(4 * H) * 0.3]
    calls: list = []
    real = packed_gemm.bound
    monkeypatch.setattr(packed_gemm, "bound", lambda *a: calls.append(a[1].shape) or real(*a))
    _, y32, g32 = lstm_run(x, h0, c0, ps, reverse, np.float32)
    assert calls == [(H, 4 * H), (4 * H, H)]
    ref_out, ref_c = lstm_reference(x, h0, c0, ps[0], ps[1], ps[2], ps[3], reverse)
    np.testing.assert_allclose(y32[:T], ref_out, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y32[T], ref_c, rtol=1e-5, atol=1e-5)
    calls.clear()
    _, _, g64 = lstm_run(x, h0, c0, ps, reverse, np.float64)
    assert calls == [(H, 4 * H), (4 * H, H)]  # (offered, and declined: float64)
    for a, b in zip(g32, g64):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
