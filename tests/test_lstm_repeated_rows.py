"""The LSTM's folded input projection: when the input rows repeat (the layer follows an
embedding), [X | 1] [W_ih | b]ᵀ is computed once per distinct row and dW_ih = Sᵀ X_u, with S
the gate adjoints summed per distinct row (kernels/rows.c).  Same numbers as the plain path."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.autograd.gradcheck import gradcheck
from chainrule.autograd.primitive import apply
from chainrule.backend import native
from chainrule.nn.functional import _rnn_kernel as K

needs_kernels = pytest.mark.skipif(
    native.load("lstm_cell") is None or native.load("rows") is None,
    reason=f"compiled kernels: {native.status('lstm_cell')}; {native.status('rows')}",
)


def _token_rows(rng, V, K_, R):
    """(R, K_) rows drawn from a table of V distinct rows, and the table index of each."""
    table = rng.standard_normal((V, K_))
    idx = rng.integers(0, V, R)
    idx[:V] = np.arange(V)  # every table row used at least once
    return table[idx], idx


# ------------------------------------------------------------------------ finding the groups
def test_repeated_rows_groups_equal_rows_exactly():
    rng = np.random.default_rng(0)
    xo, idx = _token_rows(rng, 7, 20, 200)
    first, rows = K._repeated_rows(xo.astype(np.float32))
    assert first.size == 7 and rows.dtype == np.int64 and rows.shape == (200,)
    np.testing.assert_array_equal(xo[first][rows], xo)
    # two positions are in one group exactly when they hold the same token
    assert np.array_equal(rows[:, None] == rows[None, :], idx[:, None] == idx[None, :])


@pytest.mark.parametrize(
    "case",
    ["distinct", "narrow", "few", "half_distinct"],
)
def test_repeated_rows_declines(case):
    """No fold for rows that mostly differ, rows under 16 wide, under 64 rows, or over half distinct."""
    rng = np.random.default_rng(1)
    if case == "distinct":
        xo = rng.standard_normal((256, 32))
    elif case == "narrow":
        xo, _ = _token_rows(rng, 5, 15, 256)
    elif case == "few":
        xo, _ = _token_rows(rng, 5, 32, 63)
    else:  # 129 distinct rows among 256 (after rows that repeat at first)
        xo = np.concatenate([np.repeat(rng.standard_normal((1, 32)), 127, axis=0), rng.standard_normal((129, 32))])
    assert K._repeated_rows(xo) is None


def test_repeated_rows_hash_collision_means_no_fold(monkeypatch):
    """The hash only proposes groups; rows that differ but hash alike are caught by the check."""
    rng = np.random.default_rng(2)
    xo, _ = _token_rows(rng, 5, 24, 128)
    monkeypatch.setitem(K._HASH_WEIGHTS, (24, xo.dtype), np.zeros(24))  # every row hashes to 0
    assert K._repeated_rows(xo) is None


# ------------------------------------------------------------------------ the LSTM with the fold
def _case(rng, T=9, N=8, V=5, I=16, H=6, bias=True):
    """x (T, N, I) of embedding rows (T·N = 72 >= 64 rows, V distinct), states and weights."""
    x, _ = _token_rows(rng, V, I, T * N)
    x = x.reshape(T, N, I)
    h0, c0 = rng.standard_normal((N, H)) * 0.5, rng.standard_normal((N, H))
    ps = [rng.standard_normal((4 * H, I)) * 0.4, rng.standard_normal((4 * H, H)) * 0.4]
    if bias:
        ps += [rng.standard_normal(4 * H) * 0.4, rng.standard_normal(4 * H) * 0.4]
    return x, h0, c0, ps


def _run(x, h0, c0, ps, reverse, dtype, frozen=()):
    """(op, output, gradients of sum(out²) + sum(c_n)) for one fused LSTM direction."""
    ts = [cr.tensor(a.astype(dtype), requires_grad=k not in frozen) for k, a in enumerate((x, h0, c0, *ps))]
    op = K.LSTMSequence(reverse=reverse, has_bias=len(ps) == 4)
    y = apply(op, *ts)
    T = x.shape[0]
    ((y[:T] * y[:T]).sum() + y[T].sum()).backward()
    return op, y.data, [None if t.grad is None else t.grad.data for t in ts]


def _sig(a):
    return 1.0 / (1.0 + np.exp(-a))


@needs_kernels
@pytest.mark.parametrize("dtype, tol", [(np.float32, 2e-6), (np.float64, 1e-12)])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_folded_lstm_matches_the_numpy_loop(monkeypatch, dtype, tol, reverse, bias):
    """The fold happens (op.rows is set) and gives the NumPy loop's outputs and every gradient."""
    case = _case(np.random.default_rng(3), bias=bias)
    op, y_f, g_f = _run(*case, reverse, dtype)
    assert op.rows is not None and op.saved[1].shape[0] == 5  # [X_u | 1]: one row per distinct input
    monkeypatch.setattr(K, "_native_lstm_steps", lambda dt: None)
    _, y_n, g_n = _run(*case, reverse, dtype)
    np.testing.assert_allclose(y_f, y_n, rtol=tol, atol=tol)
    for a, b in zip(g_f, g_n):
        np.testing.assert_allclose(a, b, rtol=10 * tol, atol=10 * tol)


@needs_kernels
def test_folded_lstm_matches_the_equations():
    """Forward output against PyTorch's LSTM equations written out in float64, and dW_ih against
    its definition Σ_t δz_tᵀ x_t with δz from the unfolded path (the same adjoints, summed per row)."""
    x, h0, c0, ps = _case(np.random.default_rng(4))
    op, y, g = _run(x, h0, c0, ps, False, np.float64)
    assert op.rows is not None
    H = h0.shape[-1]
    h, c = h0, c0
    for t in range(x.shape[0]):
        z = x[t] @ ps[0].T + h @ ps[1].T + ps[2] + ps[3]
        i, f, gg, o = _sig(z[:, :H]), _sig(z[:, H : 2 * H]), np.tanh(z[:, 2 * H : 3 * H]), _sig(z[:, 3 * H :])
        c = f * c + i * gg
        h = o * np.tanh(c)
        np.testing.assert_allclose(y[t], h, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(y[-1], c, rtol=1e-13, atol=1e-13)


@needs_kernels
def test_folded_lstm_with_frozen_input_weights_still_gives_the_bias_gradient():
    case = _case(np.random.default_rng(5))
    op, _, g = _run(*case, False, np.float64, frozen=(3,))
    assert op.rows is not None and g[3] is None
    np.testing.assert_allclose(g[5], g[6], rtol=0, atol=0)  # both biases: Σ δz
    _, _, g_plain = _run(*case, False, np.float64)
    np.testing.assert_allclose(g[5], g_plain[5], rtol=1e-12)


@needs_kernels
def test_embedding_then_lstm_gradcheck(monkeypatch):
    """Finite differences through an embedding -> LSTM (both directions, folded), float64."""
    folds = []
    real = K._repeated_rows
    monkeypatch.setattr(K, "_repeated_rows", lambda xo: folds.append(real(xo)) or folds[-1])
    rng = np.random.default_rng(6)
    V, I, H, N, T = 4, 16, 3, 8, 8
    tokens = cr.tensor(rng.integers(0, V, (N, T)))
    E = cr.tensor(rng.standard_normal((V, I)), dtype=cr.float64, requires_grad=True)
    ps = []
    for _ in range(2):
        ps += [rng.standard_normal((4 * H, I)) * 0.4, rng.standard_normal((4 * H, H)) * 0.4,
               rng.standard_normal(4 * H) * 0.4, rng.standard_normal(4 * H) * 0.4]
    ts = [cr.tensor(p, dtype=cr.float64, requires_grad=True) for p in ps]
    h0 = cr.tensor(rng.standard_normal((2, N, H)), dtype=cr.float64, requires_grad=True)
    c0 = cr.tensor(rng.standard_normal((2, N, H)), dtype=cr.float64, requires_grad=True)

    def fn(E, h0, c0, *p):
        out, h, c = F.lstm(F.embedding(tokens, E), (h0, c0), list(p), bidirectional=True, batch_first=True)
        return out.sum() + (c * c).sum()

    assert gradcheck(fn, (E, h0, c0, *ts))
    assert folds and all(f is not None for f in folds)


@needs_kernels
def test_nan_in_a_table_row_is_not_folded_and_propagates():
    """A NaN row fails the equality check (NaN != NaN): the plain path runs, NaNs where the equations put them."""
    x, h0, c0, ps = _case(np.random.default_rng(7))
    x = x.copy()
    bad = x[2, 3, 0]
    x[x[..., 0] == bad] = np.nan  # every occurrence of that table row
    op, y, _ = _run(x, h0, c0, ps, False, np.float32)
    assert op.rows is None
    hit = np.isnan(x[..., 0])
    first = np.argmax(hit.any(axis=1))  # the first step with a NaN input row
    assert np.isnan(y[first][hit[first]]).all() and not np.isnan(y[first][~hit[first]]).any()
    assert not np.isnan(y[:first]).any()


@needs_kernels
def test_folded_lstm_without_grad_gives_the_same_output(monkeypatch):
    """Under no_grad (nothing saved for a backward pass) the fold still runs and gives the plain output."""
    rng = np.random.default_rng(8)
    cr.manual_seed(0)
    emb, lstm = cr.nn.Embedding(6, 16), cr.nn.LSTM(16, 5, batch_first=True)
    tokens = cr.tensor(rng.integers(0, 6, (8, 12)))
    folds = []
    real = K._repeated_rows
    monkeypatch.setattr(K, "_repeated_rows", lambda xo: folds.append(real(xo)) or folds[-1])
    with cr.no_grad():
        out, (h, c) = lstm(emb(tokens))
    assert folds and folds[-1] is not None
    monkeypatch.setattr(K, "_native_lstm_steps", lambda dt: None)
    with cr.no_grad():
        ref, (h_ref, c_ref) = lstm(emb(tokens))
    for a, b in ((out, ref), (h, h_ref), (c, c_ref)):
        np.testing.assert_allclose(a.data, b.data, rtol=2e-6, atol=2e-6)
