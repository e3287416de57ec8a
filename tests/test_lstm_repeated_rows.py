"""The LSTM's folded input projection: when the input rows repeat (the layer follows an
embedding), [X | 1] [W_ih | b]ᵀ is computed once per distinct row and dW_ih = Sᵀ X_u, with S
the gate adjoints summed per distinct row (kernels/rows.c).  Same numbers as the plain path."""

from __future__ import annotations

import numpy as np
import pytest
from test_backend_native import lstm_reference, lstm_run, use_numpy_loop

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.autograd.gradcheck import gradcheck
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


@pytest.mark.parametrize("case", ["distinct", "narrow", "few"])
def test_repeated_rows_declines(case):
    """No fold for rows that mostly differ, rows under 16 wide, or under 64 rows."""
    rng = np.random.default_rng(1)
    if case == "distinct":
        xo = rng.standard_normal((256, 32))
    elif case == "narrow":
        xo, _ = _token_rows(rng, 5, 15, 256)
    else:
        xo, _ = _token_rows(rng, 5, 32, 63)
    assert K._repeated_rows(xo) is None


@pytest.mark.parametrize("distinct, expect_fold", [(128, True), (129, False)])
def test_repeated_rows_folds_up_to_half_distinct(distinct, expect_fold):
    """256 rows: folded with 128 distinct values, not with 129.  The first 128 rows are 64 values
    twice each (so the look at the first rows goes on); the last 128 hold the other values."""
    rng = np.random.default_rng(3)
    table = rng.standard_normal((distinct, 32))
    head = np.repeat(np.arange(64), 2)
    tail = np.arange(64, distinct)
    tail = np.concatenate([tail, tail[: 128 - tail.size]])  # repeat the first ones to fill 128 rows
    got = K._repeated_rows(table[np.concatenate([head, tail])])
    assert (got is not None) == expect_fold
    if expect_fold:
        assert got[0].size == distinct


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


@pytest.fixture
def folds(monkeypatch):
    """The results of every _repeated_rows call (None: not folded), in order."""
    seen = []
    real = K._repeated_rows
    monkeypatch.setattr(K, "_repeated_rows", lambda xo: seen.append(real(xo)) or seen[-1])
    return seen


@needs_kernels
@pytest.mark.parametrize("dtype, tol", [(np.float32, 2e-6), (np.float64, 1e-12)])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_folded_lstm_matches_the_numpy_loop(monkeypatch, dtype, tol, reverse, bias):
    """The fold happens (op.rows is set) and gives the NumPy loop's outputs and every gradient."""
    case = _case(np.random.default_rng(3), bias=bias)
    op, y_f, g_f = lstm_run(*case, reverse, dtype)
    assert op.rows is not None and op.saved[1].shape[0] == 5  # [X_u | 1]: one row per distinct input
    use_numpy_loop(monkeypatch)
    _, y_n, g_n = lstm_run(*case, reverse, dtype)
    np.testing.assert_allclose(y_f, y_n, rtol=tol, atol=tol)
    for a, b in zip(g_f, g_n):
        np.testing.assert_allclose(a, b, rtol=10 * tol, atol=10 * tol)


@needs_kernels
def test_folded_lstm_matches_the_equations_and_finite_differences():
    """Forward: every h_t and c_n against the LSTM equations in float64.  Backward: the folded
    dW_ih and db against central differences of the same loss, sum(h²) + sum(c_n), computed from
    the equations (the fold changes exactly these two gradients)."""
    x, h0, c0, ps = _case(np.random.default_rng(4))
    op, y, g = lstm_run(x, h0, c0, ps, False, np.float64)
    assert op.rows is not None
    ref_out, ref_c = lstm_reference(x, h0, c0, *ps, reverse=False)
    np.testing.assert_allclose(y[:-1], ref_out, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(y[-1], ref_c, rtol=1e-13, atol=1e-13)

    def loss(p):
        out, c = lstm_reference(x, h0, c0, *p, reverse=False)
        return (out**2).sum() + c.sum()

    eps = 1e-6
    for j, entries in ((0, [(0, 0), (5, 7), (23, 15)]), (2, [(1,), (12,), (22,)])):  # W_ih, b_ih
        for e in entries:
            plus = [q.copy() for q in ps]
            minus = [q.copy() for q in ps]
            plus[j][e] += eps
            minus[j][e] -= eps
            fd = (loss(plus) - loss(minus)) / (2 * eps)
            np.testing.assert_allclose(g[3 + j][e], fd, rtol=1e-6, atol=1e-8)


@needs_kernels
def test_folded_lstm_with_frozen_input_weights_still_gives_the_bias_gradient(monkeypatch):
    """W_ih frozen: the bias gradient Σ δz comes from dZ directly; the NumPy loop gives the same."""
    case = _case(np.random.default_rng(5))
    op, _, g = lstm_run(*case, False, np.float64, frozen=(3,))
    assert op.rows is not None and g[3] is None
    use_numpy_loop(monkeypatch)
    _, _, g_loop = lstm_run(*case, False, np.float64, frozen=(3,))
    for j in (5, 6):
        np.testing.assert_allclose(g[j], g_loop[j], rtol=1e-12, atol=1e-12)


@needs_kernels
def test_embedding_then_lstm_gradcheck(folds):
    """Finite differences through an embedding -> LSTM (both directions, folded), float64."""
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
    op, y, _ = lstm_run(x, h0, c0, ps, False, np.float32)
    assert op.rows is None
    hit = np.isnan(x[..., 0])
    first = np.argmax(hit.any(axis=1))  # the first step with a NaN input row
    assert np.isnan(y[first][hit[first]]).all() and not np.isnan(y[first][~hit[first]]).any()
    assert not np.isnan(y[:first]).any()


@needs_kernels
def test_folded_lstm_without_grad_gives_the_same_output(monkeypatch, folds):
    """Under no_grad (nothing saved for a backward pass) the fold still runs and gives the plain output."""
    rng = np.random.default_rng(8)
    cr.manual_seed(0)
    emb, lstm = cr.nn.Embedding(6, 16), cr.nn.LSTM(16, 5, batch_first=True)
    tokens = cr.tensor(rng.integers(0, 6, (8, 12)))
    with cr.no_grad():
        out, (h, c) = lstm(emb(tokens))
    assert folds and folds[-1] is not None
    use_numpy_loop(monkeypatch)
    with cr.no_grad():
        ref, (h_ref, c_ref) = lstm(emb(tokens))
    for a, b in ((out, ref), (h, h_ref), (c, c_ref)):
        np.testing.assert_allclose(a.data, b.data, rtol=2e-6, atol=2e-6)
