"""The LSTM's own time loop on oneDNN's threads: the compiled cell's rows shared among OpenMP
threads, the gate adjoints in padded rows, and the embedding-fed LSTM taking that loop (with
the input fold) where oneDNN is installed.  Checked against the NumPy time loop (float64), the
one-thread cell (bit for bit), oneDNN's own LSTM, a rerun of the same training steps, and
PyTorch (skipped where it is not installed)."""

from __future__ import annotations

import ctypes
import os

import numpy as np
import pytest
from test_backend_native import lstm_run, use_numpy_loop

import chainrule as cr
from chainrule.backend import gemm_onednn, native, onednn, packed_gemm, recurrent_math
from chainrule.nn.functional import recurrent as R

HAVE_LSTM_KERNEL = native.load("lstm_cell") is not None
needs_kernel = pytest.mark.skipif(not HAVE_LSTM_KERNEL, reason=f"compiled LSTM cell: {native.status('lstm_cell')}")
needs_onednn = pytest.mark.skipif(not onednn.available(), reason=f"oneDNN: {onednn.status()}")


@pytest.mark.parametrize("width, itemsize, want", [
    (1024, 4, 1040), (512, 4, 528), (256, 8, 264), (1024, 8, 1032),  # rows of 4, 2, 2 and 8 KiB
    (300, 4, 300), (24, 4, 24), (256, 4, 256), (0, 4, 0)])
def test_padded_row(width, itemsize, want):
    """Rows whose byte length is a multiple of 2 KiB get 64 bytes more; others stay as they are."""
    assert recurrent_math.padded_row(width, itemsize) == want


@needs_kernel
@pytest.mark.parametrize("dtype, H, tol", [(np.float32, 128, 2e-6), (np.float64, 64, 1e-13)])
@pytest.mark.parametrize("reverse", [False, True])
def test_padded_gate_adjoints_match_the_numpy_loop(monkeypatch, dtype, H, tol, reverse):
    """Sizes whose gate rows are padded (4H·itemsize = 2 KiB): outputs and every gradient, dW_hh
    (the product that reads the padded rows down their columns) included, equal the NumPy
    time loop's, which keeps its adjoints in another layout altogether."""
    assert recurrent_math.padded_row(4 * H, np.dtype(dtype).itemsize) > 4 * H
    rng = np.random.default_rng(7)
    T, N, I = 4, 3, 5
    x = rng.standard_normal((T, N, I))
    h0, c0 = rng.standard_normal((N, H)) * 0.5, rng.standard_normal((N, H))
    ps = [rng.standard_normal((4 * H, I)) * 0.3, rng.standard_normal((4 * H, H)) * 0.1,
          rng.standard_normal(4 * H) * 0.3, rng.standard_normal(4 * H) * 0.3]
    _, y_c, g_c = lstm_run(x, h0, c0, ps, reverse, dtype)
    use_numpy_loop(monkeypatch)
    _, y_n, g_n = lstm_run(x, h0, c0, ps, reverse, dtype)
    np.testing.assert_allclose(y_c, y_n, rtol=tol, atol=tol)
    for a, b in zip(g_c, g_n):
        np.testing.assert_allclose(a, b, rtol=10 * tol, atol=10 * tol)


def _cell_args(rng, dt, N, H):
    """Fresh arrays for one forward and one backward step of the compiled cell."""
    G = 4 * H
    return {k: rng.standard_normal(shape).astype(dt) for k, shape in (
        ("zin", (N, G)), ("rec", (N, G)), ("c_prev", (N, H)), ("dh_out", (N, H)), ("dh_rec", (N, H)),
        ("dc_next", (N, H)))}


@needs_kernel
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_cell_on_two_threads_equals_one(dt):
    """The rows of a step are independent: shared among two OpenMP threads (or run on one where
    the kernel was built without OpenMP), the cell gives the same bits as on one thread."""
    _check_cell_threads(dt)


def _check_cell_threads(dt):
    """One forward and one backward step of the cell at one and at two threads: the same bits."""
    fwd, bwd = recurrent_math.lstm_kernels(np.dtype(dt))
    N, H = 37, 24
    ld = 4 * H + 8  # the adjoints' rows padded, as the loop does for some sizes
    results = []
    for threads in (1, 2):
        a = _cell_args(np.random.default_rng(3), dt, N, H)
        z, c, tc, h = (np.empty(s, dt) for s in ((N, 4 * H), (N, H), (N, H), (N, H)))
        fwd(threads, N, H, a["zin"].ctypes.data, None, z.ctypes.data, a["rec"].ctypes.data,
            a["c_prev"].ctypes.data, c.ctypes.data, tc.ctypes.data, h.ctypes.data)
        d = np.full((N, ld), -7.0, dt)
        bwd(threads, N, H, d.ctypes.data, ld, z.ctypes.data, tc.ctypes.data, a["c_prev"].ctypes.data,
            a["dh_out"].ctypes.data, a["dh_rec"].ctypes.data, a["dc_next"].ctypes.data)
        assert np.all(d[:, 4 * H:] == -7.0)  # the padding is not written
        results.append((z, c, tc, h, d, a["dc_next"]))
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)


def _lm(seed: int, V: int = 11, E: int = 16, H: int = 32):
    """Embedding(V, E) -> LSTM(E, H) -> Linear(H, V) with Adam, as w4 at a smaller size."""
    cr.manual_seed(seed)
    emb, lstm, head = cr.nn.Embedding(V, E), cr.nn.LSTM(E, H, batch_first=True), cr.nn.Linear(H, V)
    params = [*emb.parameters(), *lstm.parameters(), *head.parameters()]
    return emb, lstm, head, params, cr.optim.Adam(params, lr=1e-2)


def _train(seed: int, steps: int, V: int, E: int, H: int) -> list:
    emb, lstm, head, params, opt = _lm(seed, V, E, H)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        x, y = cr.tensor(rng.integers(0, V, (4, 32))), cr.tensor(rng.integers(0, V, 4 * 32))
        opt.zero_grad()
        out, _ = lstm(emb(x))
        cr.nn.functional.cross_entropy(head(out).reshape(-1, V), y).backward()
        opt.step()
    return [p._array.copy() for p in params]


@needs_onednn
@needs_kernel
def test_embedding_lstm_takes_the_own_loop_on_onednn_threads(two_threads, monkeypatch):
    """An LSTM fed by an embedding runs chainrule's loop with the fold: the whole loop in one
    call each way (``lstm_forward_seq``/``lstm_backward_seq``) where the kernel is built with
    AVX2, else every recurrent product on the weight packed once (``packed_gemm.py``) where that
    kernel is built, else offered to oneDNN's sgemm (which takes those of 2^20 multiply-adds and
    more), the cell on two threads; outputs and gradients as oneDNN's own LSTM gives them for
    the same layer without the fold (to float32 rounding)."""
    emb, lstm, _, params, _ = _lm(0)
    params = [*emb.parameters(), *lstm.parameters()]
    idx = cr.tensor(np.random.default_rng(1).integers(0, 11, (4, 24)))
    ops, cells, sgemms, packed, whole = [], [], [], [], []
    real_apply, real_threads, real_sgemm = R.apply, recurrent_math._threads, gemm_onednn.sgemm
    real_packed, real_sequence = packed_gemm.bound, recurrent_math.sequence_kernels
    monkeypatch.setattr(recurrent_math, "sequence_kernels",
                        lambda dt: whole.append(real_sequence(dt) is not None) or real_sequence(dt))
    monkeypatch.setattr(packed_gemm, "bound", lambda a, b, *r: packed.append(b.shape) or real_packed(a, b, *r))
    monkeypatch.setattr(R, "apply", lambda op, *a: ops.append(type(op).__name__) or real_apply(op, *a))
    monkeypatch.setattr(recurrent_math, "_threads", lambda dt: cells.append(real_threads(dt)) or cells[-1])
    monkeypatch.setattr(gemm_onednn, "sgemm", lambda a, b, out=None: sgemms.append(a.shape) or real_sgemm(a, b, out))
    results = []
    for clone in (False, True):  # a clone of the lookup's output is not a lookup: no fold, oneDNN's LSTM
        for p in params:
            p.grad = None
        x = emb(idx)
        out, (h, c) = lstm(x.clone() if clone else x)
        (out.square().sum() + c.sum()).backward()
        results.append([out._array, h._array, c._array] + [p.grad._array for p in params])
        if not clone:
            assert "LSTMSequence" in ops and "OnednnLSTMSequence" not in ops
            assert onednn.holds_threads() and set(cells) == {2}
            # h_{t-1} W_hhᵀ forward, δz_t W_hh backward (the last only for dh0, not needed here)
            if all(whole):  # one call forward, one backward: no product of its own
                assert whole == [True, True] and packed == [] and (4, 32) not in sgemms and (4, 128) not in sgemms
            elif packed_gemm._functions() is not None:  # W_hhᵀ packed forward, W_hh backward
                assert packed == [(32, 128), (128, 32)] and (4, 32) not in sgemms and (4, 128) not in sgemms
            else:
                assert (sgemms.count((4, 32)), sgemms.count((4, 128))) == (24, 23)
    assert "OnednnLSTMSequence" in ops
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5)


@needs_onednn
def test_first_training_step_is_the_same_as_any_later_one(two_threads):
    """The loop hands the threads to oneDNN before its layer's first product, so that the first
    step's products run where every later step's do: training from the same start gives the same
    bits, whether or not a layer has taken the threads before."""
    onednn.reset()  # nothing has taken the threads yet (as in a fresh process)
    # sizes at which the fold's table (64 rows × 65 × 1,024) and the recurrent products reach
    # 2^20 multiply-adds, so that oneDNN's sgemm, not OpenBLAS, takes them once it holds the threads
    first = _train(5, 2, V=64, E=64, H=256)
    again = _train(5, 2, V=64, E=64, H=256)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)


@needs_kernel
def test_cell_builds_without_openmp(monkeypatch, tmp_path):
    """A compiler without OpenMP (it rejects -fopenmp) still builds the cell, whose rows then run
    on the calling thread with the same results."""
    import shutil

    monkeypatch.setenv("CHAINRULE_CACHE", str(tmp_path))
    real = shutil.which(os.environ.get("CC", "cc"))
    wrapper = tmp_path / "no-openmp-cc"
    wrapper.write_text(f'#!/bin/sh\nfor a in "$@"; do [ "$a" = -fopenmp ] && exit 1; done\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("CC", str(wrapper))
    native.reset()
    try:
        assert native.load("lstm_cell") is not None
        lib = ctypes.CDLL(native.status("lstm_cell").partition("compiled: ")[2])
        assert not hasattr(lib, "GOMP_parallel") and "gomp" not in open(lib._name, "rb").read().decode("latin-1")
        _check_cell_threads(np.float32)
        if lib.lstm_sequence_available():  # the one-call loop, asked for two threads, runs on one: same bits
            from test_lstm_sequence_kernel import _run

            monkeypatch.setattr(packed_gemm, "free_threads", lambda: 2)
            whole = _run(3, 4, 7, 20, False, True, True)
            monkeypatch.setattr(recurrent_math, "sequence_kernels", lambda dt: None)
            for a, b in zip(whole, _run(3, 4, 7, 20, False, True, True)):
                np.testing.assert_array_equal(a, b)
    finally:
        monkeypatch.undo()
        native.reset()
        native.load("lstm_cell")


@pytest.mark.parametrize("bidirectional", [False, True])
def test_embedding_lstm_against_pytorch(two_threads, bidirectional):
    """PyTorch as the oracle: Embedding → 2-layer LSTM (H = 128: the gate adjoints' rows padded),
    outputs, final states and every parameter's gradient, float32, both directions."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    V, E, H = 40, 24, 128
    torch.manual_seed(0)
    t_emb, t_lstm = torch.nn.Embedding(V, E), torch.nn.LSTM(E, H, 2, batch_first=True, bidirectional=bidirectional)
    c_emb, c_lstm = cr.nn.Embedding(V, E), cr.nn.LSTM(E, H, 2, batch_first=True, bidirectional=bidirectional)
    for c, t in ((c_emb, t_emb), (c_lstm, t_lstm)):
        c.load_state_dict({k: cr.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})
    idx = rng.integers(0, V, (4, 12))
    t_out, (t_h, t_c) = t_lstm(t_emb(torch.tensor(idx)))
    (t_out.square().sum() + t_c.sum()).backward()
    c_out, (c_h, c_c) = c_lstm(c_emb(cr.tensor(idx)))
    (c_out.square().sum() + c_c.sum()).backward()
    for c, t in ((c_out, t_out), (c_h, t_h), (c_c, t_c)):
        np.testing.assert_allclose(c.detach().numpy(), t.detach().numpy(), rtol=1e-5, atol=1e-6)
    params = zip([*c_emb.parameters(), *c_lstm.parameters()], [*t_emb.parameters(), *t_lstm.parameters()])
    for c, t in params:
        scale = float(np.abs(t.grad.numpy()).max())
        np.testing.assert_allclose(c.grad.numpy(), t.grad.numpy(), rtol=0, atol=2e-6 * max(scale, 1.0))
