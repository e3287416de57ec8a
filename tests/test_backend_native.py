"""Compiled kernels (chainrule.backend.native): how they are found, built and switched off, and the
compiled LSTM cell against the NumPy time loop and against the LSTM equations (np_lstm_cell)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from test_nn_recurrent_functional import np_lstm_cell

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.autograd.gradcheck import gradcheck
from chainrule.backend import native, recurrent_math
from chainrule.nn.functional import _rnn_kernel as K

HAVE_LSTM_KERNEL = native.load("lstm_cell") is not None
needs_kernel = pytest.mark.skipif(not HAVE_LSTM_KERNEL, reason=f"compiled LSTM cell: {native.status('lstm_cell')}")


@pytest.fixture
def fresh_native(monkeypatch, tmp_path):
    """An empty kernel cache in tmp_path and no remembered loads; the real state is restored afterwards."""
    monkeypatch.setenv("CHAINRULE_CACHE", str(tmp_path))
    monkeypatch.delenv("CHAINRULE_NATIVE", raising=False)
    native.reset()
    yield tmp_path
    monkeypatch.undo()
    native.reset()
    native.load("lstm_cell")


@pytest.fixture
def numpy_loop(monkeypatch):
    """Make the LSTM kernel run its NumPy time loop (as on a machine without a C compiler)."""
    use_numpy_loop(monkeypatch)


# ------------------------------------------------------------------------------ loading
def test_switched_off_by_environment(fresh_native, monkeypatch):
    monkeypatch.setenv("CHAINRULE_NATIVE", "0")
    assert native.load("lstm_cell") is None
    assert "CHAINRULE_NATIVE=0" in native.status("lstm_cell")
    assert list(fresh_native.iterdir()) == []  # nothing was built


def test_missing_compiler_leaves_kernel_off(fresh_native, monkeypatch):
    monkeypatch.setenv("CC", "no-such-compiler-xyz")
    assert native.load("lstm_cell") is None
    assert "no C compiler" in native.status("lstm_cell")


def test_failing_compiler_leaves_kernel_off_and_no_debris(fresh_native, monkeypatch):
    monkeypatch.setenv("CC", "false")  # exits 1 without output
    assert native.load("lstm_cell") is None
    assert native.status("lstm_cell").startswith("not available:")
    assert [p for p in fresh_native.iterdir()] == []  # the temporary build folder is gone


@needs_kernel
def test_built_once_then_taken_from_the_cache(fresh_native):
    lib = native.load("lstm_cell")
    assert lib is not None and native.status("lstm_cell").startswith("compiled:")
    built = list(fresh_native.glob("lstm_cell-*.so"))
    assert len(built) == 1
    assert [p for p in fresh_native.iterdir() if p.name.startswith(".build-")] == []
    stamp = os.stat(built[0]).st_mtime_ns
    native.reset()
    assert native.load("lstm_cell") is not None
    assert os.stat(built[0]).st_mtime_ns == stamp  # loaded, not rebuilt


# ------------------------------------------------------------------- the LSTM cell kernel
def use_numpy_loop(monkeypatch) -> None:
    """From here on, the LSTM primitive runs its NumPy time loop (as without a C compiler)."""
    monkeypatch.setattr(recurrent_math, "lstm_kernels", lambda dt: None)


def lstm_reference(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse):
    """(outputs (T, N, H), c_n): PyTorch's LSTM equations step by step in float64 (np_lstm_cell)."""
    h, c = h0.astype(np.float64), c0.astype(np.float64)
    out = np.zeros((x.shape[0],) + h.shape)
    for t in range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0]):
        h, c = np_lstm_cell(x[t], h, c, w_ih, w_hh, b_ih, b_hh)
        out[t] = h
    return out, c


def lstm_run(x, h0, c0, ps, reverse, dtype, frozen=()):
    """(op, output, gradients) of sum(out²) + sum(c_n) through one fused LSTM direction; the inputs
    numbered in ``frozen`` (0 = x, 1 = h0, 2 = c0, 3.. = weights) do not require grad (gradient None)."""
    ts = [cr.tensor(a.astype(dtype), requires_grad=k not in frozen) for k, a in enumerate((x, h0, c0, *ps))]
    op = K.LSTMSequence(reverse=reverse, has_bias=len(ps) == 4)
    y = cr.autograd.primitive.apply(op, *ts)
    T = x.shape[0]
    ((y[:T] * y[:T]).sum() + y[T].sum()).backward()
    return op, y._array, [None if t.grad is None else t.grad._array for t in ts]


def _case(rng, T=5, N=3, I=4, H=6, scale=0.7, bias=True):
    x = rng.standard_normal((T, N, I))
    h0, c0 = rng.standard_normal((N, H)) * 0.5, rng.standard_normal((N, H))
    ps = [rng.standard_normal((4 * H, I)) * scale, rng.standard_normal((4 * H, H)) * scale]
    if bias:
        ps += [rng.standard_normal(4 * H) * scale, rng.standard_normal(4 * H) * scale]
    return x, h0, c0, ps


@pytest.mark.parametrize("path", ["compiled", "numpy"])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("T", [1, 5])
def test_lstm_sequence_matches_the_equations_float64(monkeypatch, path, reverse, bias, T):
    """The primitive itself, on each path, against the equations: every h_t and c_n (float64)."""
    if path == "compiled" and not HAVE_LSTM_KERNEL:
        pytest.skip(f"compiled LSTM cell: {native.status('lstm_cell')}")
    if path == "numpy":
        use_numpy_loop(monkeypatch)
    x, h0, c0, ps = _case(np.random.default_rng(1), T=T, bias=bias)
    b_ih, b_hh = (ps[2], ps[3]) if bias else (0.0, 0.0)
    ref_out, ref_c = lstm_reference(x, h0, c0, ps[0], ps[1], b_ih, b_hh, reverse)
    with cr.no_grad():
        y = cr.autograd.primitive.apply(K.LSTMSequence(reverse, bias), *[cr.tensor(a) for a in (x, h0, c0, *ps)])
    np.testing.assert_allclose(y._array[:T], ref_out, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(y._array[T], ref_c, rtol=1e-13, atol=1e-13)


@needs_kernel
@pytest.mark.parametrize("dtype, tol", [(np.float32, 2e-6), (np.float64, 1e-13)])
@pytest.mark.parametrize("reverse", [False, True])
def test_kernel_matches_numpy_loop(monkeypatch, dtype, tol, reverse):
    """Same outputs and gradients (of every input) from the compiled cell and the NumPy loop."""
    case = _case(np.random.default_rng(2))
    _, y_c, g_c = lstm_run(*case, reverse, dtype)
    use_numpy_loop(monkeypatch)
    _, y_n, g_n = lstm_run(*case, reverse, dtype)
    assert y_c.dtype == dtype
    np.testing.assert_allclose(y_c, y_n, rtol=tol, atol=tol)
    for a, b in zip(g_c, g_n):
        np.testing.assert_allclose(a, b, rtol=10 * tol, atol=10 * tol)


@needs_kernel
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_saturated_gates(dtype):
    """Pre-activations of ±200: σ is 0 or 1 and tanh ±1 (no inf/nan from e^z), gradients vanish there."""
    x, h0, c0, ps = _case(np.random.default_rng(3), T=3, scale=0.0)
    H = h0.shape[-1]
    b = np.zeros(4 * H)
    b[:H], b[H : 2 * H], b[2 * H : 3 * H], b[3 * H :] = 200.0, -200.0, 200.0, 200.0  # i = 1, f = 0, g = 1, o = 1
    ps[2], ps[3] = b, np.zeros(4 * H)
    _, y, grads = lstm_run(x, h0, c0, ps, False, dtype)
    assert np.all(np.isfinite(y)) and all(np.all(np.isfinite(g)) for g in grads)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(y[:3], np.tanh(1.0), rtol=tol)  # c = 0·c_prev + 1·1 = 1, h = tanh 1
    np.testing.assert_allclose(y[3], 1.0, rtol=tol)
    # W_hh: every gate saturated, so its gradient vanishes to working precision (the vector tanhf
    # of 200 may be 1 - 2^-24 rather than 1)
    np.testing.assert_allclose(grads[4], 0.0, atol=2e-6 if dtype == np.float32 else 1e-14)


def test_numpy_loop_gradcheck(numpy_loop):
    """The NumPy time loop (the fallback) is checked by finite differences too, both directions."""
    rng = np.random.default_rng(4)
    T, N, I, H = 3, 2, 2, 3
    for bi in (False, True):
        D = 2 if bi else 1
        ps = []
        for _ in range(D):
            ps += [rng.standard_normal((4 * H, I)) * 0.5, rng.standard_normal((4 * H, H)) * 0.5,
                   rng.standard_normal(4 * H) * 0.5, rng.standard_normal(4 * H) * 0.5]
        ts = [cr.tensor(p, dtype=cr.float64, requires_grad=True) for p in ps]
        x = cr.tensor(rng.standard_normal((T, N, I)), dtype=cr.float64, requires_grad=True)
        h0 = cr.tensor(rng.standard_normal((D, N, H)), dtype=cr.float64, requires_grad=True)
        c0 = cr.tensor(rng.standard_normal((D, N, H)), dtype=cr.float64, requires_grad=True)

        def fn(x, h0, c0, *p):
            return F.lstm(x, (h0, c0), list(p), bidirectional=bi)

        assert gradcheck(fn, (x, h0, c0, *ts))


def test_lstm_layer_same_with_and_without_kernel(monkeypatch):
    """nn.LSTM in float32 gives the same numbers (to rounding) on either path; without a compiler it still runs."""
    rng = np.random.default_rng(5)
    cr.manual_seed(0)
    lstm = cr.nn.LSTM(4, 8, num_layers=2, batch_first=True, bidirectional=True)
    x = rng.standard_normal((3, 7, 4)).astype(np.float32)
    results = []
    for use_kernel in (True, False):
        if not use_kernel:
            use_numpy_loop(monkeypatch)
        lstm.zero_grad()
        out, (h, c) = lstm(cr.tensor(x))
        (out.sum() + c.sum()).backward()
        results.append([out._array, h._array, c._array] + [p.grad._array for p in lstm.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["float64", "transposed"])
def test_initial_cell_state_of_another_dtype_or_layout(kind):
    """c0 as a non-contiguous view: converted and held for the whole time loop (the compiled cell
    reads it through a raw address), same numbers as the equations.  c0 as float64 for a float32
    layer is refused, as PyTorch's LSTM refuses it (RuntimeError), instead of being converted."""
    rng = np.random.default_rng(9)
    cr.manual_seed(0)
    lstm = cr.nn.LSTM(8, 256)  # c0 big enough (32 KiB) that a freed copy is soon overwritten
    x = rng.standard_normal((6, 32, 8)).astype(np.float32)
    h0 = rng.standard_normal((1, 32, 256)).astype(np.float32)
    c0 = rng.standard_normal((1, 32, 256))
    if kind == "float64":
        with pytest.raises(RuntimeError, match="LSTM: c_0 dtype float64 does not match the weight's float32"):
            lstm(cr.tensor(x), (cr.tensor(h0), cr.tensor(c0)))
        return
    c0_arg = cr.tensor(np.ascontiguousarray(c0[0].T).astype(np.float32)).t()[None]  # a view of (256, 32)
    out, (h, c) = lstm(cr.tensor(x), (cr.tensor(h0), c0_arg))
    ps = [p._array.astype(np.float64) for p in lstm.parameters()]
    ref_out, ref_c = lstm_reference(x, h0[0], c0[0], *ps, reverse=False)
    np.testing.assert_allclose(out._array, ref_out, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(c._array[0], ref_c, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("path", ["compiled", "numpy"])
def test_nan_in_w_hh_reaches_the_output_with_a_zero_initial_state(monkeypatch, path):
    """0 · NaN = NaN: a zero h0 does not hide a NaN (or inf) in W_hh at the first step."""
    if path == "numpy":
        use_numpy_loop(monkeypatch)
    x, h0, c0, ps = _case(np.random.default_rng(10), T=1)
    ps[1] = ps[1].copy()
    ps[1][0, 0] = np.nan  # row 0: the input gate of unit 0
    _, y, grads = lstm_run(x, np.zeros_like(h0), c0, ps, False, np.float32)
    assert np.isnan(y[0, :, 0]).all() and not np.isnan(y[0, :, 1:]).any()
    assert np.isnan(grads[4][0]).all()  # dW_hh row 0 = Σ δz_i0 h0ᵀ = NaN · 0


# --------------------------------------------- pooled outputs and gradients (backend.pool)
def test_pooled_outputs_kept_by_the_caller_are_not_recycled():
    """linear / cross-entropy / embedding / reshape write big results into pooled arrays: one the
    caller still holds is never handed out again by a later call."""
    rng = np.random.default_rng(6)
    w = cr.tensor(rng.standard_normal((300, 256)).astype(np.float32), requires_grad=True)
    emb = cr.tensor(rng.standard_normal((50, 256)).astype(np.float32))
    x = cr.tensor(rng.standard_normal((400, 256)).astype(np.float32))
    y = F.linear(x, w)  # 400·300 floats: pooled
    e = F.embedding(cr.tensor(rng.integers(0, 50, (400,))), emb)  # pooled
    r = cr.tensor(rng.standard_normal((256, 400)).astype(np.float32)).transpose(0, 1).reshape(-1)  # copy: pooled
    kept = [(t, t._array.copy()) for t in (y, e, r)]
    for _ in range(3):
        z = F.linear(cr.tensor(rng.standard_normal((400, 256)).astype(np.float32)), w)
        F.cross_entropy(z, cr.tensor(rng.integers(0, 300, (400,)))).backward()
        F.embedding(cr.tensor(rng.integers(0, 50, (400,))), emb)
        cr.tensor(rng.standard_normal((256, 400)).astype(np.float32)).transpose(0, 1).reshape(-1)
    for t, saved in kept:
        np.testing.assert_array_equal(t._array, saved)


def test_lstm_weight_gradients_are_separate_arrays_and_accumulate():
    """The LSTM hands the engine new arrays as gradients (kept without a copy): b_ih and b_hh get
    distinct ones, and a second backward adds to each exactly once."""
    cr.manual_seed(1)
    lstm = cr.nn.LSTM(3, 5)
    x = cr.randn(4, 2, 3)
    lstm(x)[0].sum().backward()
    once = {n: p.grad._array.copy() for n, p in lstm.named_parameters()}
    assert lstm.bias_ih_l0.grad._array is not lstm.bias_hh_l0.grad._array
    np.testing.assert_array_equal(once["bias_ih_l0"], once["bias_hh_l0"])  # same formula: Σ δz
    lstm(x)[0].sum().backward()
    for n, p in lstm.named_parameters():
        np.testing.assert_allclose(p.grad._array, 2 * once[n], rtol=1e-6, err_msg=n)


def test_reshape_of_a_large_transposed_tensor_copies_in_row_major_order():
    """A reshape that needs a copy (strides allow no view) takes the elements in row-major order of
    the view, into a pooled array; its vjp reshapes back (large enough for the pool: 40,000 elements)."""
    rng = np.random.default_rng(7)
    a = rng.standard_normal((200, 200))
    x = cr.tensor(a, dtype=cr.float64, requires_grad=True)
    y = x.transpose(0, 1).reshape(-1)
    np.testing.assert_array_equal(y._array, a.T.ravel())
    c = rng.standard_normal(40000)
    (y * cr.tensor(c, dtype=cr.float64)).sum().backward()
    np.testing.assert_array_equal(x.grad._array, c.reshape(200, 200).T)
    v = x.reshape(400, 100)  # contiguous: a view, as NumPy (and torch.reshape) give
    assert np.shares_memory(v._array, x._array)


@needs_kernel
@pytest.mark.parametrize("gate", [0, 1, 3])  # i, f, o: the sigmoid gates, whose -a the kernel clamps
def test_kernel_keeps_nans_like_the_numpy_loop(monkeypatch, gate):
    """No fast-math in the kernel: a NaN pre-activation of one unit's sigmoid gate gives NaN where
    the equations put it (that unit at the first step, then everything through W_hh), on both paths."""
    x, h0, c0, ps = _case(np.random.default_rng(8), T=4, N=3)
    H = h0.shape[-1]
    ps[2] = ps[2].copy()
    ps[2][gate * H + 1] = np.nan
    _, y_c, _ = lstm_run(x, h0, c0, ps, False, np.float32)
    use_numpy_loop(monkeypatch)
    _, y_n, _ = lstm_run(x, h0, c0, ps, False, np.float32)
    np.testing.assert_array_equal(np.isnan(y_c), np.isnan(y_n))
    assert np.isnan(y_c[0, :, 1]).all() and not np.isnan(np.delete(y_c[0], 1, axis=1)).any()
    assert np.isnan(y_c[1:4]).all()


@needs_kernel
def test_portable_flags_when_the_tuned_ones_fail(fresh_native, monkeypatch, tmp_path):
    """A compiler that rejects -march=native (as some cross or older compilers do) still builds the
    kernel with the portable flags."""
    import shutil

    real = shutil.which(os.environ.get("CC", "cc"))
    wrapper = tmp_path / "picky-cc"
    reject = 'for a in "$@"; do case "$a" in -march=*|-mcpu=*) exit 1;; esac; done'
    wrapper.write_text(f'#!/bin/sh\n{reject}\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("CC", str(wrapper))
    assert native.load("lstm_cell") is not None
    assert native.status("lstm_cell").startswith("compiled:")
