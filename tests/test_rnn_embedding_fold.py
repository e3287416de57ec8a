"""The recurrent input fold, decided from the graph (issue 11 item 6).

When the input of a recurrent layer is the output of an embedding lookup x = E[idx], the
input projection of every step is (E W_ihᵀ + b)[idx]: computed once per distinct index and
read by index, and dW_ih = Sᵀ E_u, db = Σ S, with S the gate adjoints summed per distinct
index.  These tests compare the folded layer with the same layer on an input that is not an
embedding output (``emb_out.clone()``: the same values, so the unfolded path runs), in
float64, for outputs and every gradient; check the folded stack by finite differences; and
check when the fold is taken and when not (never from the values of the input rows).
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.autograd.gradcheck import gradcheck
from chainrule.backend import native, recurrent_math
from chainrule.nn.functional import _rnn_kernel as K
from chainrule.nn.functional import recurrent as R

FUNCS = {"LSTM": F.lstm, "GRU": F.gru, "RNN_TANH": F.rnn_tanh, "RNN_RELU": F.rnn_relu}
GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}
HAVE_LSTM_KERNEL = native.load("lstm_cell") is not None


@pytest.fixture
def ops(monkeypatch):
    """Every fused sequence primitive the layer functions apply, in order."""
    seen: list = []
    real = R.apply

    def spy(op, *xs):
        if isinstance(op, K._Sequence):
            seen.append(op)
        return real(op, *xs)

    monkeypatch.setattr(R, "apply", spy)
    return seen


def folded(op) -> bool:
    return getattr(op, "fold", None) is not None


def use_numpy_loop(monkeypatch) -> None:
    monkeypatch.setattr(recurrent_math, "lstm_kernels", lambda dt: None)


def _params(rng, mode, I, H, layers=1, D=1, bias=True, dtype=cr.float64):
    G = GATES[mode] * H
    ps = []
    for layer in range(layers):
        for _ in range(D):
            n_in = I if layer == 0 else D * H
            ps += [rng.standard_normal((G, n_in)) * 0.4, rng.standard_normal((G, H)) * 0.4]
            if bias:
                ps += [rng.standard_normal(G) * 0.4, rng.standard_normal(G) * 0.4]
    return [cr.tensor(p, dtype=dtype, requires_grad=True) for p in ps]


def _states(rng, mode, layers, D, N, H, dtype=cr.float64):
    n = 2 if mode == "LSTM" else 1
    return [cr.tensor(rng.standard_normal((layers * D, N, H)) * 0.5, dtype=dtype, requires_grad=True)
            for _ in range(n)]


def _run(mode, x, states, ps, **kw):
    """(output, [h_n, (c_n)]) of FUNCS[mode]."""
    hx = (states[0], states[1]) if mode == "LSTM" else states[0]
    res = FUNCS[mode](x, hx, ps, has_biases=len(ps) % 4 == 0 and len(ps[2].shape) == 1, **kw)
    return res[0], list(res[1:])


def _loss(out, finals):
    loss = (out * out).sum()
    for k, f in enumerate(finals):
        loss = loss + (f * (k + 1.5)).sum()
    return loss


def _grads(leaves):
    return [None if t.grad is None else t.grad._array.copy() for t in leaves]


def _compare(mode, *, tokens_shape=(9, 6), V=7, I=5, H=4, layers=1, D=1, bias=True, batch_first=False,
             padding_idx=None, freeze_E=False, seed=0, tol=1e-12):
    """Run the layer on emb(tokens) (folded) and on emb(tokens).clone() (not folded): the
    outputs, final states and the gradients of E, h0, c0 and every weight agree to rounding."""
    rng = np.random.default_rng(seed)
    tokens = cr.tensor(rng.integers(0, V, tokens_shape))
    E = cr.tensor(rng.standard_normal((V, I)), dtype=cr.float64, requires_grad=not freeze_E)
    ps = _params(rng, mode, I, H, layers, D, bias)
    N = tokens_shape[0] if batch_first else tokens_shape[1]
    states = _states(rng, mode, layers, D, N, H)
    leaves = [E, *states, *ps]
    results = []
    for clone in (False, True):
        for t in leaves:
            t.grad = None
        x = F.embedding(tokens, E, padding_idx=padding_idx)
        if clone:
            x = x.clone()
        out, finals = _run(mode, x, states, ps, num_layers=layers, bidirectional=D == 2,
                           batch_first=batch_first)
        _loss(out, finals).backward()
        results.append(([out._array.copy()] + [f._array.copy() for f in finals], _grads(leaves)))
    (vals_f, grads_f), (vals_u, grads_u) = results
    for a, b in zip(vals_f, vals_u):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    for a, b in zip(grads_f, grads_u):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    return grads_f


# ------------------------------------------------------------------ folded == unfolded
@pytest.mark.parametrize("mode", list(FUNCS))
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("D", [1, 2])
@pytest.mark.parametrize("batch_first", [False, True])
def test_fold_matches_unfolded_path_float64(ops, mode, bias, D, batch_first):
    _compare(mode, bias=bias, D=D, batch_first=batch_first)
    assert len(ops) == 2 * D and all(folded(op) for op in ops[:D]) and not any(folded(op) for op in ops[D:])


@pytest.mark.skipif(not HAVE_LSTM_KERNEL, reason=f"compiled LSTM cell: {native.status('lstm_cell')}")
@pytest.mark.parametrize("path", ["compiled", "numpy"])
def test_lstm_fold_on_both_paths(monkeypatch, ops, path):
    """The compiled cell and the NumPy loop each fold, and each agrees with its unfolded run."""
    if path == "numpy":
        use_numpy_loop(monkeypatch)
    _compare("LSTM", D=2)
    state, _, _ = ops[0].saved  # the time loop's state starts with "the compiled cell ran"
    assert folded(ops[0]) and state[0] == (path == "compiled")


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_fold_with_padding_idx_and_more_rows_than_positions(ops, mode):
    """V = 40 > T·N = 12 (the distinct indices are found by np.unique) and a padding row:
    E's padding row gets no gradient, as without the fold."""
    g = _compare(mode, tokens_shape=(3, 4), V=40, padding_idx=3, seed=1)
    np.testing.assert_array_equal(g[0][3], 0.0)
    assert folded(ops[0])


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN_TANH"])
def test_fold_with_frozen_table(ops, mode):
    """E does not require grad: no node is recorded for the lookup, and the layer still folds."""
    g = _compare(mode, freeze_E=True, D=2)
    assert g[0] is None and folded(ops[0]) and folded(ops[1])


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN_RELU"])
def test_fold_under_no_grad_gives_the_unfolded_output(ops, mode):
    rng = np.random.default_rng(2)
    tokens = cr.tensor(rng.integers(0, 6, (8, 12)))
    E = cr.tensor(rng.standard_normal((6, 5)), dtype=cr.float64, requires_grad=True)
    ps, states = _params(rng, mode, 5, 3), _states(rng, mode, 1, 1, 8, 3)
    with cr.no_grad():
        out_f, fin_f = _run(mode, F.embedding(tokens, E), states, ps, batch_first=True)
        out_u, fin_u = _run(mode, F.embedding(tokens, E).clone(), states, ps, batch_first=True)
    assert folded(ops[0]) and not folded(ops[1])
    for a, b in zip([out_f, *fin_f], [out_u, *fin_u]):
        np.testing.assert_allclose(a._array, b._array, rtol=1e-13, atol=1e-13)


def test_multi_layer_folds_the_first_layer_only(ops):
    _compare("LSTM", layers=2, D=2)
    assert [folded(op) for op in ops[:8]] == [True, True, False, False] + [False] * 4


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_fold_with_frozen_input_weights(ops, mode):
    """W_ih frozen: no dW_ih, the biases' gradients still right (the sum of S is Σ dZ)."""
    rng = np.random.default_rng(5)
    tokens = cr.tensor(rng.integers(0, 5, (7, 4)))
    E = cr.tensor(rng.standard_normal((5, 6)), dtype=cr.float64, requires_grad=True)
    ps = _params(rng, mode, 6, 3)
    ps[0].requires_grad_(False)
    states = _states(rng, mode, 1, 1, 4, 3)
    grads = []
    for clone in (False, True):
        for t in (E, *ps):
            t.grad = None
        x = F.embedding(tokens, E)
        out, fin = _run(mode, x.clone() if clone else x, states, ps)
        _loss(out, fin).backward()
        grads.append(_grads([E, *ps]))
    assert grads[0][1] is None
    for a, b in zip(*grads):
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert folded(ops[0])


# ------------------------------------------------------------------ finite differences
@pytest.mark.parametrize("mode", list(FUNCS))
def test_embedding_then_recurrent_gradcheck(ops, mode):
    """Finite differences through Embedding -> layer (both directions folded), float64."""
    rng = np.random.default_rng(6)
    V, I, H, N, T = 4, 5, 3, 3, 4
    tokens = cr.tensor(rng.integers(0, V, (N, T)))
    E = cr.tensor(rng.standard_normal((V, I)), dtype=cr.float64, requires_grad=True)
    ps = _params(rng, mode, I, H, D=2)
    states = _states(rng, mode, 1, 2, N, H)

    def fn(E, *rest):
        st, p = list(rest[: len(states)]), list(rest[len(states):])
        # (no padding_idx here: its row gets no gradient by definition, which differences do not see)
        out, fin = _run(mode, F.embedding(tokens, E), st, p, bidirectional=True, batch_first=True)
        return _loss(out, fin)

    assert gradcheck(fn, (E, *states, *ps))
    assert ops and all(folded(op) for op in ops)


def test_embedding_lstm_module_stack_gradcheck(ops):
    """nn.Embedding -> nn.LSTM (eval-mode dropout between: the identity) against finite differences."""
    cr.manual_seed(0)
    emb = cr.nn.Embedding(6, 4, dtype=cr.float64)
    lstm = cr.nn.LSTM(4, 3, batch_first=True, dtype=cr.float64)
    drop = cr.nn.Dropout(0.5).eval()
    tokens = cr.tensor(np.random.default_rng(7).integers(0, 6, (2, 5)))
    params = [emb.weight, *lstm.parameters()]

    def fn(E, *ws):  # the modules' computation on the (float64 copies of the) parameters
        x = drop(F.embedding(tokens, E))
        out, h, c = F.lstm(x, None, list(ws), batch_first=True)
        return (out * out).sum() + c.sum()

    assert gradcheck(fn, tuple(params))
    assert all(folded(op) for op in ops)


# ------------------------------------------------------------------ when the fold is taken
def test_rows_equal_to_embedding_rows_but_not_from_a_lookup_are_not_folded(ops):
    """The decision is the graph's: an input whose rows are embedding rows by value (here
    copied from the table, 72 rows of 5 distinct values) but that did not come from a lookup
    is not folded (the values are never looked at)."""
    rng = np.random.default_rng(3)
    E = rng.standard_normal((5, 16))
    idx = rng.integers(0, 5, (9, 8))
    x = cr.tensor(E[idx], requires_grad=True)
    ps = _params(rng, "LSTM", 16, 6)
    states = _states(rng, "LSTM", 1, 1, 8, 6)
    out, fin = _run("LSTM", x, states, ps)
    _loss(out, fin).backward()
    op = ops[0]
    assert not folded(op) and getattr(op, "rows", None) is None


def test_hash_is_gone():
    assert not hasattr(K, "_repeated_rows") and not hasattr(K, "_HASH_WEIGHTS")


def test_fold_projection_is_one_row_per_distinct_index(monkeypatch, ops):
    """The projection table has one row per distinct index (3 of a table of 50)."""
    tables: list = []
    real = K.InputFold.table

    def spy(self, w, b, dt):
        t = real(self, w, b, dt)
        tables.append(t.shape)
        return t

    monkeypatch.setattr(K.InputFold, "table", spy)
    rng = np.random.default_rng(4)
    tokens = cr.tensor(rng.choice([2, 17, 40], size=(6, 5)))
    E = cr.tensor(rng.standard_normal((50, 8)), dtype=cr.float64, requires_grad=True)
    for mode in FUNCS:
        tables.clear()
        ps, states = _params(rng, mode, 8, 4), _states(rng, mode, 1, 1, 5, 4)
        out, fin = _run(mode, F.embedding(tokens, E), states, ps)
        assert tables == [(3, GATES[mode] * 4)]


def test_output_used_elsewhere_keeps_every_gradient(ops):
    """The embedding output also feeds another loss term and keeps its own .grad (retain_grad):
    E's gradient and that .grad are those of the unfolded run."""
    rng = np.random.default_rng(8)
    tokens = cr.tensor(rng.integers(0, 6, (5, 4)))
    E = cr.tensor(rng.standard_normal((6, 5)), dtype=cr.float64, requires_grad=True)
    ps, states = _params(rng, "LSTM", 5, 3), _states(rng, "LSTM", 1, 1, 4, 3)
    res = []
    for clone in (False, True):
        E.grad = None
        x = F.embedding(tokens, E)
        x.retain_grad()
        out, fin = _run("LSTM", x.clone() if clone else x, states, ps)
        (_loss(out, fin) + (x * x * x).sum()).backward(retain_graph=True)
        gx = cr.autograd.grad(_loss(*_run("LSTM", x, states, ps)), x)[0]
        res.append((E.grad._array.copy(), x.grad._array.copy(), gx._array.copy()))
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert [folded(op) for op in ops] == [True, True, False, True]  # (the clone's run is the third)


def test_table_changed_in_place_after_the_lookup_is_not_folded(ops):
    """E modified in place between the lookup and the layer: the layer reads the lookup's values
    (not E's new ones), so it does not fold; the same for an input modified in place."""
    rng = np.random.default_rng(9)
    tokens = cr.tensor(rng.integers(0, 6, (5, 4)))
    E = cr.tensor(rng.standard_normal((6, 5)), dtype=cr.float64)
    ps, states = _params(rng, "GRU", 5, 3), _states(rng, "GRU", 1, 1, 4, 3)
    x = F.embedding(tokens, E)
    ref = x.clone()
    E.mul_(3.0)
    out, _ = _run("GRU", x, states, ps)
    out_ref, _ = _run("GRU", ref, states, ps)
    np.testing.assert_allclose(out._array, out_ref._array, rtol=1e-13, atol=1e-13)
    assert not folded(ops[0])
    x2 = F.embedding(tokens, E)
    x2.mul_(0.5)
    out2, _ = _run("GRU", x2, states, ps)
    out2_ref, _ = _run("GRU", x2.clone(), states, ps)
    np.testing.assert_allclose(out2._array, out2_ref._array, rtol=1e-13, atol=1e-13)
    assert not folded(ops[2])


def test_training_dropout_and_packed_sequences_are_not_folded(ops):
    """Dropout in training mode changes the rows (no fold); a packed sequence runs per length
    group on slices of the padded input (no fold)."""
    cr.manual_seed(1)
    emb = cr.nn.Embedding(6, 4)
    lstm = cr.nn.LSTM(4, 3)
    tokens = cr.tensor(np.random.default_rng(10).integers(0, 6, (5, 3)))
    lstm(cr.nn.functional.dropout(emb(tokens), 0.3, training=True))
    assert not folded(ops[-1])
    packed = cr.nn.utils.rnn.pack_padded_sequence(emb(tokens), cr.tensor([5, 4, 2]))
    n = len(ops)
    lstm(packed)
    assert len(ops) > n and not any(folded(op) for op in ops[n:])


def test_nan_in_an_unused_table_row_does_not_reach_the_weight_gradients():
    """Only the rows the indices use take part: a NaN in another row of E changes nothing."""
    rng = np.random.default_rng(11)
    tokens = cr.tensor(rng.integers(0, 4, (6, 5)))
    E_np = rng.standard_normal((6, 5))
    E_np[5] = np.nan
    E = cr.tensor(E_np, requires_grad=True)
    ps, states = _params(rng, "LSTM", 5, 3), _states(rng, "LSTM", 1, 1, 5, 3)
    out, fin = _run("LSTM", F.embedding(tokens, E), states, ps)
    _loss(out, fin).backward()
    assert np.isfinite(out._array).all()
    assert all(np.isfinite(p.grad._array).all() for p in ps)
    assert np.isfinite(E.grad._array[:4]).all() and (E.grad._array[4:] == 0).all()


def test_unused_table_rows_get_a_zero_gradient_whatever_w_ih_holds():
    """The whole table folded (V ≤ T·N): the rows idx does not use have S = 0, and 0 · inf would
    be NaN; their gradient is 0, as the lookup's own backward gives it."""
    rng = np.random.default_rng(13)
    tokens = cr.tensor(rng.integers(0, 4, (6, 5)))
    E = cr.tensor(rng.standard_normal((6, 5)), requires_grad=True)
    ps, states = _params(rng, "LSTM", 5, 3), _states(rng, "LSTM", 1, 1, 5, 3)
    w = ps[0]._array.copy()
    w[2, 1] = np.inf
    ps[0] = cr.tensor(w, requires_grad=True)
    out, fin = _run("LSTM", F.embedding(tokens, E), states, ps)
    _loss(out, fin).backward()
    assert (E.grad._array[4:] == 0).all()


def test_nan_in_a_used_table_row_reaches_the_positions_that_read_it():
    """A NaN row of E that idx uses: NaN at the positions that read it from that step on,
    finite before, as in the equations (the fold computes the same row once)."""
    rng = np.random.default_rng(12)
    tokens = rng.integers(1, 4, (6, 5))
    tokens[2, 3] = 0  # row 0 of E is read once, at step 2 of sequence 3
    E_np = rng.standard_normal((4, 5))
    E_np[0, 1] = np.nan
    E = cr.tensor(E_np)
    ps, states = _params(rng, "LSTM", 5, 3), _states(rng, "LSTM", 1, 1, 5, 3)
    out, _ = _run("LSTM", F.embedding(cr.tensor(tokens), E), states, ps)
    y = out._array
    assert np.isfinite(y[:2]).all() and np.isfinite(np.delete(y, 3, axis=1)).all()
    assert np.isnan(y[2:, 3]).all()


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_fold_float32_matches_unfolded_path(mode, monkeypatch, ops):
    """float32, w4's layout (batch_first, V < T·N): folded and unfolded agree to float32 rounding.
    oneDNN, which takes float32 LSTM and GRU layers where it is installed and folds nothing, is
    switched off, so that the own loop's folded float32 path runs."""
    from chainrule.backend import onednn

    monkeypatch.setenv("CHAINRULE_ONEDNN", "0")
    onednn.reset()
    try:
        _compare_f32(mode)
    finally:
        monkeypatch.delenv("CHAINRULE_ONEDNN")
        onednn.reset()
    assert len(ops) == 2 and folded(ops[0]) and not folded(ops[1])


def _compare_f32(mode):
    rng = np.random.default_rng(13)
    tokens = cr.tensor(rng.integers(0, 11, (4, 24)))
    E = cr.tensor(rng.standard_normal((11, 16)), dtype=cr.float32, requires_grad=True)
    ps = _params(rng, mode, 16, 8, dtype=cr.float32)
    states = _states(rng, mode, 1, 1, 4, 8, dtype=cr.float32)
    res = []
    for clone in (False, True):
        for t in (E, *states, *ps):
            t.grad = None
        x = F.embedding(tokens, E)
        out, fin = _run(mode, x.clone() if clone else x, states, ps, batch_first=True)
        _loss(out, fin).backward()
        res.append([out._array.copy()] + _grads([E, *states, *ps]))
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5)


def test_lookup_whose_graph_was_freed_is_not_folded(ops):
    """After a backward pass frees the lookup's node (its parents are gone), the layer still
    runs on the embedding output, unfolded, with the same values."""
    rng = np.random.default_rng(14)
    tokens = cr.tensor(rng.integers(0, 6, (5, 4)))
    E = cr.tensor(rng.standard_normal((6, 5)), dtype=cr.float64, requires_grad=True)
    ps, states = _params(rng, "LSTM", 5, 3), _states(rng, "LSTM", 1, 1, 4, 3)
    x = F.embedding(tokens, E)
    _loss(*_run("LSTM", x, states, ps)).backward()
    with cr.no_grad():
        out, _ = _run("LSTM", x, states, ps)
        ref, _ = _run("LSTM", x.clone(), states, ps)
    np.testing.assert_allclose(out._array, ref._array, rtol=1e-13, atol=1e-13)
    assert [folded(op) for op in ops] == [True, False, False]


# ------------------------------------------------ x's gradient given to the table directly
@pytest.fixture
def lookup_vjps(monkeypatch):
    """How many times the embedding lookup's vjp ran (the route of x's gradient to E).  Clears
    ``HOOKS`` first: a hooked tensor of an earlier test, alive until the garbage collector runs,
    would keep every backward on the engine's general walk."""
    import gc

    from chainrule.autograd import grad_mode

    gc.collect()
    monkeypatch.setattr(grad_mode.HOOKS, "any", False)
    monkeypatch.setattr(grad_mode.HOOKS, "live", 0)
    import sys

    emb = sys.modules["chainrule.nn.functional.embedding"]  # (the package's name `embedding` is the function)
    calls: list = []
    real = emb.EmbeddingLookup.vjp

    def counted(self, *a):
        calls.append(1)
        return real(self, *a)

    monkeypatch.setattr(emb.EmbeddingLookup, "vjp", counted)
    return calls


def _stack(seed, mode="LSTM", T=5, N=3, V=6, I=5, H=3):
    """(tokens (T, N), E (V, I) float64, the layer's weights, its initial states) for one layer."""
    rng = np.random.default_rng(seed)
    tokens = cr.tensor(rng.integers(0, V, (T, N)))
    E = cr.tensor(rng.standard_normal((V, I)), dtype=cr.float64, requires_grad=True)
    return tokens, E, _params(rng, mode, I, H), _states(rng, mode, 1, 1, N, H)


@pytest.mark.parametrize("mode", list(FUNCS))
@pytest.mark.parametrize("D", [1, 2])
def test_plain_backward_gives_the_table_its_share_directly(lookup_vjps, ops, mode, D):
    """With nobody watching x's gradient, the layer gives E its share, (Σ dZ per row) W_ih, and
    the lookup's vjp does not run (no (T·N, I) product, no scatter); E's gradient and every
    other one equal the unfolded run's (``_compare``: its clone run takes the lookup's route)."""
    _compare(mode, D=D, padding_idx=2)
    assert len(lookup_vjps) == 1  # the clone's run only


@pytest.mark.parametrize("watch", ["hook", "retain_grad", "autograd.grad", "hook elsewhere"])
def test_a_watched_input_keeps_its_gradient(lookup_vjps, ops, watch):
    """A hook or retain_grad on x, x among autograd.grad's inputs, or a hook on any tensor at all
    (the engine's general walk): x's gradient is computed and goes through the lookup, and what
    the watcher sees equals the unfolded run's."""
    tokens, E, ps, states = _stack(11, T=7, H=4)
    other = cr.zeros(2, requires_grad=True)
    res = []
    for clone in (False, True):
        E.grad = None
        seen: list = []
        x = F.embedding(tokens, E)
        if watch == "hook":
            x.register_hook(lambda g: seen.append(g._array.copy()))
        elif watch == "retain_grad":
            x.retain_grad()
        elif watch == "hook elsewhere":
            handle = other.register_hook(lambda g: None)
        loss = _loss(*_run("LSTM", x.clone() if clone else x, states, ps))
        if watch == "autograd.grad":
            gx, gE = cr.autograd.grad(loss, [x, E])
            seen += [gx._array.copy(), gE._array.copy()]
        else:
            loss.backward()
            seen.append(E.grad._array.copy())
            if watch == "retain_grad":
                seen.append(x.grad._array.copy())
            if watch == "hook elsewhere":
                handle.remove()
        res.append(seen)
    assert len(res[0]) == len(res[1]) > 0
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert len(lookup_vjps) == 2 and all(folded(op) for op in ops[::2])


def test_a_lookup_without_a_graph_gives_the_table_no_gradient(ops):
    """A lookup under no_grad recorded no path from x to E: the folded layer after it (grad mode
    on again) must not open one."""
    tokens, E, ps, states = _stack(12, N=2)
    with cr.no_grad():
        x = F.embedding(tokens, E)
    _loss(*_run("LSTM", x, states, ps)).backward()
    assert folded(ops[0]) and E.grad is None and ps[0].grad is not None


def test_a_post_accumulate_hook_on_the_table_sees_its_whole_gradient(ops):
    """E read by the folded layer and by a second term: its post-accumulate-grad hook runs once,
    with both shares in .grad (those of the unfolded run)."""
    tokens, E, ps, states = _stack(13)
    seen: list = []
    handle = E.register_post_accumulate_grad_hook(lambda p: seen.append(p.grad._array.copy()))
    for clone in (False, True):
        E.grad = None
        x = F.embedding(tokens, E)
        (_loss(*_run("LSTM", x.clone() if clone else x, states, ps)) + (x * x).sum() + (E * E).sum()).backward()
    handle.remove()
    assert len(seen) == 2
    np.testing.assert_allclose(seen[0], seen[1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", list(FUNCS))
def test_the_direct_table_gradient_matches_finite_differences(lookup_vjps, mode):
    """E's gradient by the direct route (plain backward) against central differences of the loss
    in every entry of E, float64, a padding row included (its gradient 0)."""
    tokens, E, ps, states = _stack(14, mode, T=6, V=5, I=4)

    def loss():
        return _loss(*_run(mode, F.embedding(tokens, E, padding_idx=1), states, ps))

    loss().backward()
    assert not lookup_vjps
    numeric = np.zeros(E.shape)
    h = 1e-6
    for i in np.ndindex(*E.shape):
        keep = E._array[i]
        E._array[i] = keep + h
        up = loss().item()
        E._array[i] = keep - h
        down = loss().item()
        E._array[i] = keep
        numeric[i] = (up - down) / (2 * h)
    numeric[1] = 0.0  # the padding row: no gradient, whatever the loss does
    np.testing.assert_allclose(E.grad._array, numeric, rtol=1e-6, atol=1e-7)


def test_a_computed_table_passes_its_direct_gradient_on(lookup_vjps, ops):
    """E computed from a leaf (E = 2 W): the share the layer gives E goes on through E's own
    node to W, as the lookup's route would take it."""
    tokens, W, ps, states = _stack(15, "GRU", I=4)
    grads = []
    for clone in (False, True):
        W.grad = None
        x = F.embedding(tokens, W * 2.0)
        _loss(*_run("GRU", x.clone() if clone else x, states, ps)).backward()
        grads.append(W.grad._array.copy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12, atol=1e-12)
    assert len(lookup_vjps) == 1 and folded(ops[0])


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
@pytest.mark.parametrize("dtype", [cr.float32, cr.float64])
def test_compiled_fold_replays_whatever_rows_a_batch_uses(mode, dtype):
    """A table of fewer rows than a batch has positions (a character model), of which each batch
    uses another number: the fold takes the whole table, so a compiled training step replays
    every batch (no count of distinct rows to guard) and gives eager's numbers bit for bit (the
    plan without fused loops)."""
    V, I, H, B, T = 24, 6, 5, 4, 7

    def build():
        cr.manual_seed(3)
        emb = cr.nn.Embedding(V, I).to(dtype)
        rnn = getattr(cr.nn, mode)(I, H, batch_first=True).to(dtype)
        head = cr.nn.Linear(H, V).to(dtype)
        params = [*emb.parameters(), *rnn.parameters(), *head.parameters()]
        opt = cr.optim.Adam(params, lr=1e-2)

        def step(x, y):
            opt.zero_grad()
            out, _ = rnn(emb(x))
            loss = F.cross_entropy(head(out).reshape(-1, V), y.reshape(-1))
            loss.backward()
            opt.step()
            return loss

        return step, params

    eager, p_eager = build()
    step, p_comp = build()
    compiled = cr.compile(step, options={"fusion": False})
    rng = np.random.default_rng(4)
    counts = set()
    for _ in range(8):
        x = rng.integers(0, V, (B, T))
        counts.add(len(np.unique(x)))
        x, y = cr.tensor(x), cr.tensor(rng.integers(0, V, (B, T)))
        assert np.array_equal(compiled(x, y).detach().numpy(), eager(x, y).detach().numpy())
    assert len(counts) > 3  # (the batches do use different numbers of rows)
    for a, b in zip(p_comp, p_eager):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())
    assert compiled.stats == {"captures": 2, "replays": 6, "eager": 0, "diverged": 0}
