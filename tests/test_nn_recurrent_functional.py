"""Functional recurrent cells and sequences against NumPy references written from PyTorch's equations."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck

GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


# ----------------------------------------------------------------- NumPy references
def sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_rnn_cell(x, h, w_ih, w_hh, b_ih, b_hh, act):
    a = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh
    return np.tanh(a) if act == "tanh" else np.maximum(a, 0.0)


def np_lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh):
    H = h.shape[-1]
    z = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh
    i, f, g, o = sig(z[..., :H]), sig(z[..., H : 2 * H]), np.tanh(z[..., 2 * H : 3 * H]), sig(z[..., 3 * H :])
    c2 = f * c + i * g
    return o * np.tanh(c2), c2


def np_gru_cell(x, h, w_ih, w_hh, b_ih, b_hh):
    H = h.shape[-1]
    gi = x @ w_ih.T + b_ih
    gh = h @ w_hh.T + b_hh
    r = sig(gi[..., :H] + gh[..., :H])
    z = sig(gi[..., H : 2 * H] + gh[..., H : 2 * H])
    n = np.tanh(gi[..., 2 * H :] + r * gh[..., 2 * H :])
    return (1 - z) * n + z * h


def np_sequence(mode, x, h0, c0, params, num_layers, bidirectional, has_bias=True):
    """x (T, N, I); params as numpy arrays in _flat_weights order; returns (out, h_n, c_n)."""
    D = 2 if bidirectional else 1
    per = 4 if has_bias else 2
    T = x.shape[0]
    hn, cn = [], []
    inp = x
    for layer in range(num_layers):
        outs = []
        for d in range(D):
            k = layer * D + d
            w = params[k * per : (k + 1) * per]
            w_ih, w_hh = w[0], w[1]
            G = w_hh.shape[0]
            b_ih, b_hh = (w[2], w[3]) if has_bias else (np.zeros(G), np.zeros(G))
            h, c = h0[k], (c0[k] if c0 is not None else None)
            out = np.zeros((T,) + h.shape)
            for t in range(T) if d == 0 else range(T - 1, -1, -1):
                if mode == "lstm":
                    h, c = np_lstm_cell(inp[t], h, c, w_ih, w_hh, b_ih, b_hh)
                elif mode == "gru":
                    h = np_gru_cell(inp[t], h, w_ih, w_hh, b_ih, b_hh)
                else:
                    h = np_rnn_cell(inp[t], h, w_ih, w_hh, b_ih, b_hh, mode[4:])
                out[t] = h
            outs.append(out)
            hn.append(h)
            cn.append(c)
        inp = np.concatenate(outs, axis=-1)
    return inp, np.stack(hn), (np.stack(cn) if mode == "lstm" else None)


def make_params(rng, mode, I, H, num_layers, D, has_bias=True, scale=0.5):
    G = GATES[mode]
    ps = []
    for layer in range(num_layers):
        for _ in range(D):
            ins = I if layer == 0 else D * H
            ps.append(rng.standard_normal((G * H, ins)) * scale)
            ps.append(rng.standard_normal((G * H, H)) * scale)
            if has_bias:
                ps.append(rng.standard_normal(G * H) * scale)
                ps.append(rng.standard_normal(G * H) * scale)
    return ps


def t64(a, requires_grad=False):
    return cr.tensor(np.asarray(a, dtype=np.float64), dtype=cr.float64, requires_grad=requires_grad)


def run(mode, x, h0, c0, params, **kw):
    fn = getattr(F, mode)
    hx = (h0, c0) if mode == "lstm" else h0
    if mode == "lstm" and h0 is None:
        hx = None
    out = fn(x, hx, params, **kw)
    return out


# ----------------------------------------------------------------------------- cells
@pytest.mark.parametrize("batched", [True, False])
def test_cells_match_numpy(batched):
    rng = np.random.default_rng(0)
    I, H, N = 3, 4, 2
    shp = (N,) if batched else ()
    x = rng.standard_normal(shp + (I,))
    h = rng.standard_normal(shp + (H,))
    c = rng.standard_normal(shp + (H,))
    for mode in ("rnn_tanh", "rnn_relu", "lstm", "gru"):
        w_ih, w_hh, b_ih, b_hh = make_params(rng, mode, I, H, 1, 1)
        args = [t64(a) for a in (w_ih, w_hh, b_ih, b_hh)]
        if mode == "lstm":
            h2, c2 = F.lstm_cell(t64(x), (t64(h), t64(c)), *args)
            rh, rc = np_lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh)
            np.testing.assert_allclose(h2._array, rh, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(c2._array, rc, rtol=1e-12, atol=1e-12)
        elif mode == "gru":
            out = F.gru_cell(t64(x), t64(h), *args)
            np.testing.assert_allclose(out._array, np_gru_cell(x, h, w_ih, w_hh, b_ih, b_hh), atol=1e-12)
        else:
            out = getattr(F, mode + "_cell")(t64(x), t64(h), *args)
            np.testing.assert_allclose(
                out._array, np_rnn_cell(x, h, w_ih, w_hh, b_ih, b_hh, mode[4:]), atol=1e-12
            )


def test_cells_without_bias():
    rng = np.random.default_rng(1)
    w_ih, w_hh = make_params(rng, "gru", 2, 3, 1, 1, has_bias=False)
    x, h = rng.standard_normal((2, 2)), rng.standard_normal((2, 3))
    out = F.gru_cell(t64(x), t64(h), t64(w_ih), t64(w_hh))
    np.testing.assert_allclose(out._array, np_gru_cell(x, h, w_ih, w_hh, 0.0, 0.0), atol=1e-12)


@pytest.mark.parametrize("mode", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
def test_cells_gradcheck(mode):
    rng = np.random.default_rng(2)
    I, H, N = 2, 3, 2
    ws = [t64(a, True) for a in make_params(rng, mode, I, H, 1, 1)]
    x = t64(rng.standard_normal((N, I)), True)
    h = t64(rng.standard_normal((N, H)) + 0.3, True)  # away from ReLU kinks
    c = t64(rng.standard_normal((N, H)), True)
    if mode == "lstm":
        assert gradcheck(lambda x, h, c, *w: F.lstm_cell(x, (h, c), *w), (x, h, c, *ws))
    else:
        fn = getattr(F, mode + "_cell")
        assert gradcheck(lambda x, h, *w: fn(x, h, *w), (x, h, *ws))


def test_lstm_cell_double_backward():
    rng = np.random.default_rng(3)
    ws = [t64(a, True) for a in make_params(rng, "lstm", 2, 2, 1, 1)]
    x = t64(rng.standard_normal((1, 2)), True)
    h = t64(rng.standard_normal((1, 2)), True)
    c = t64(rng.standard_normal((1, 2)), True)
    assert gradgradcheck(lambda x, h, c, w1, w2: F.lstm_cell(x, (h, c), w1, w2, ws[2], ws[3]), (x, h, c, *ws[:2]))


def test_cell_shape_errors_name_the_cell():
    w_ih, w_hh = t64(np.zeros((8, 3))), t64(np.zeros((8, 2)))
    with pytest.raises(ValueError, match="lstm_cell.*input"):
        F.lstm_cell(t64(np.zeros((1, 4))), (t64(np.zeros((1, 2))), t64(np.zeros((1, 2)))), w_ih, w_hh)
    with pytest.raises(ValueError, match="gru_cell"):
        F.gru_cell(t64(np.zeros((1, 3))), t64(np.zeros((1, 2))), w_ih, w_hh)
    with pytest.raises(ValueError, match=r"lstm_cell: expected hidden state of shape \(1, 2\)"):
        F.lstm_cell(t64(np.zeros((1, 3))), (t64(np.zeros((1, 3))), t64(np.zeros((1, 2)))), w_ih, w_hh)


# ------------------------------------------------------------------------- sequences
CONFIGS = [(L, bi, bf) for L in (1, 2) for bi in (False, True) for bf in (False, True)]


@pytest.mark.parametrize("mode", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("fused", [True, False])
def test_sequences_match_numpy(mode, fused):
    rng = np.random.default_rng(4)
    T, N, I, H = 4, 3, 2, 3
    for L, bi, bf in CONFIGS:
        D = 2 if bi else 1
        ps = make_params(rng, mode, I, H, L, D)
        x = rng.standard_normal((T, N, I))
        h0 = rng.standard_normal((L * D, N, H))
        c0 = rng.standard_normal((L * D, N, H))
        ref_out, ref_h, ref_c = np_sequence(mode, x, h0, c0 if mode == "lstm" else None, ps, L, bi)
        xin = x.transpose(1, 0, 2) if bf else x
        res = run(mode, t64(xin), t64(h0), t64(c0), [t64(p) for p in ps],
                  num_layers=L, bidirectional=bi, batch_first=bf, fused=fused)
        out = res[0]._array.transpose(1, 0, 2) if bf else res[0]._array
        assert out.shape == (T, N, D * H)
        np.testing.assert_allclose(out, ref_out, atol=1e-12)
        np.testing.assert_allclose(res[1]._array, ref_h, atol=1e-12)
        if mode == "lstm":
            np.testing.assert_allclose(res[2]._array, ref_c, atol=1e-12)


def test_default_zero_state_and_no_bias():
    rng = np.random.default_rng(5)
    T, N, I, H = 3, 2, 2, 3
    for mode in GATES:
        ps = make_params(rng, mode, I, H, 2, 2, has_bias=False)
        x = rng.standard_normal((T, N, I))
        z = np.zeros((4, N, H))
        ref = np_sequence(mode, x, z, z if mode == "lstm" else None, ps, 2, True, has_bias=False)
        res = run(mode, t64(x), None, None, [t64(p) for p in ps], num_layers=2, bidirectional=True,
                  has_biases=False)
        np.testing.assert_allclose(res[0]._array, ref[0], atol=1e-12)
        np.testing.assert_allclose(res[1]._array, ref[1], atol=1e-12)


def test_h_n_layout_is_last_step_of_each_direction():
    rng = np.random.default_rng(6)
    T, N, I, H = 5, 2, 3, 4
    ps = [t64(p) for p in make_params(rng, "lstm", I, H, 2, 2)]
    out, h_n, c_n = F.lstm(t64(rng.standard_normal((T, N, I))), None, ps, num_layers=2, bidirectional=True)
    assert h_n.shape == c_n.shape == (4, N, H)
    # last layer: forward direction ends at t = T-1, backward direction at t = 0
    np.testing.assert_array_equal(h_n._array[2], out._array[-1, :, :H])
    np.testing.assert_array_equal(h_n._array[3], out._array[0, :, H:])


@pytest.mark.parametrize("mode", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
def test_sequences_gradcheck_all_inputs(mode):
    rng = np.random.default_rng(7)
    T, N, I, H = 3, 2, 2, 3
    for L, bi, bf in [(1, False, False), (2, True, True)]:
        D = 2 if bi else 1
        ps = [t64(p, True) for p in make_params(rng, mode, I, H, L, D)]
        x = t64(rng.standard_normal((N, T, I) if bf else (T, N, I)), True)
        h0 = t64(rng.standard_normal((L * D, N, H)) * 0.5 + 0.5, True)
        c0 = t64(rng.standard_normal((L * D, N, H)), True)

        def fn(x, h0, c0, *p):
            return run(mode, x, h0, c0, list(p), num_layers=L, bidirectional=bi, batch_first=bf)

        inputs = (x, h0, c0, *ps) if mode == "lstm" else (x, h0, c0.detach(), *ps)
        assert gradcheck(fn, inputs)


def test_fused_gradients_match_composed_float32():
    rng = np.random.default_rng(8)
    T, N, I, H = 6, 3, 4, 5
    for mode in GATES:
        ps = make_params(rng, mode, I, H, 2, 2)
        x = rng.standard_normal((N, T, I)).astype(np.float32)
        grads = []
        for fused in (True, False):
            pt = [cr.tensor(p.astype(np.float32), requires_grad=True) for p in ps]
            xt = cr.tensor(x, requires_grad=True)
            res = run(mode, xt, None, None, pt, num_layers=2, bidirectional=True, batch_first=True, fused=fused)
            assert res[0].dtype == np.float32
            loss = (res[0] * res[0]).sum() + res[1].sum()
            loss.backward()
            assert xt.grad.dtype == np.float32
            grads.append([xt.grad._array] + [p.grad._array for p in pt])
        for a, b in zip(*grads):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
def test_fused_double_backward_by_composed_fallback(mode):
    """create_graph=True through the fused kernel: its vjp rebuilds the layer from the cells."""
    rng = np.random.default_rng(9)
    ps = [t64(p, True) for p in make_params(rng, mode, 1, 2, 1, 2)]
    x = t64(rng.standard_normal((2, 1, 1)), True)
    h0 = t64(rng.standard_normal((2, 1, 2)), True)

    def fn(x, h0, w):
        hx = (h0, h0 * 0.5) if mode == "lstm" else h0
        res = run(mode, x, hx if mode != "lstm" else hx[0], hx[1] if mode == "lstm" else None,
                  [w, *ps[1:]], bidirectional=True)
        return res[0]

    assert gradgradcheck(fn, (x, h0, ps[0]))


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
def test_recorded_gradient_when_one_input_is_computed_from_another(mode):
    """h0 (and c0) computed from x: the recorded vjp (create_graph=True) gives the partial
    derivatives of the layer's own inputs, so dL/dx is the same number as without
    create_graph and as through the composed cells (it was counted twice: the rebuilt layer
    was differentiated through h0 back into x, and the outer walk added that share again)."""
    rng = np.random.default_rng(11)
    ps = [t64(p, True) for p in make_params(rng, mode, 3, 3, 1, 1)]
    x = t64(rng.standard_normal((3, 2, 3)), True)

    def grad_x(create_graph, fused):
        h0 = (x[0] * 0.5)[None]
        c = (h0 * h0,) if mode == "lstm" else ()
        out = getattr(F, mode)(x, (h0, *c) if c else h0, ps, fused=fused)[0]
        (gx,) = cr.autograd.grad((out * out).sum(), [x], create_graph=create_graph)
        return gx.detach().numpy()

    want = grad_x(False, False)
    np.testing.assert_allclose(grad_x(False, True), want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad_x(True, True), want, rtol=1e-12, atol=1e-12)


def test_recorded_gradient_runs_no_hook_before_the_layer():
    """The recorded vjp of a fused layer differentiates its rebuilt graph only up to the layer's
    inputs: a hook and retain_grad on a tensor before the layer see its gradient once."""
    rng = np.random.default_rng(12)
    ps = [t64(p, True) for p in make_params(rng, "lstm", 2, 3, 2, 1)]
    inp = t64(rng.standard_normal((3, 2, 2)), True)
    x = inp * 2.0
    x.retain_grad()
    seen = []
    x.register_hook(lambda g: seen.append(g.detach().numpy().copy()))
    out = F.lstm(x, None, ps, num_layers=2)[0]
    gx, gw = cr.autograd.grad((out * out).sum(), [x, ps[0]], create_graph=True)
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], gx.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.detach().numpy(), gx.detach().numpy(), rtol=1e-12)


def test_composed_sequence_supports_double_backward():
    rng = np.random.default_rng(10)
    ps = [t64(p, True) for p in make_params(rng, "gru", 2, 2, 1, 1)]
    x = t64(rng.standard_normal((2, 1, 2)), True)
    assert gradgradcheck(lambda x, w: F.gru(x, None, [w, *ps[1:]], fused=False)[0], (x, ps[0]))


def test_dropout_between_layers():
    rng = np.random.default_rng(11)
    T, N, I, H = 4, 2, 3, 3
    ps = make_params(rng, "rnn_tanh", I, H, 2, 1)
    x = rng.standard_normal((T, N, I))
    z = np.zeros((2, N, H))
    pt = [t64(p) for p in ps]
    ref = np_sequence("rnn_tanh", x, z, None, ps, 2, False)[0]
    # dropout is off unless train=True
    out = F.rnn_tanh(t64(x), None, pt, num_layers=2, dropout=1.0, train=False)[0]
    np.testing.assert_allclose(out._array, ref, atol=1e-12)
    # p = 1 in training zeroes the second layer's input: layer 2 then sees x = 0
    out = F.rnn_tanh(t64(x), None, pt, num_layers=2, dropout=1.0, train=True)[0]
    ref2 = np_sequence("rnn_tanh", np.zeros((T, N, H)), z[1:], None, ps[4:], 1, False)[0]
    np.testing.assert_allclose(out._array, ref2, atol=1e-12)
    # 0 < p < 1: some outputs change, and the last layer is never dropped
    cr.manual_seed(0)
    out = F.rnn_tanh(t64(x), None, pt, num_layers=2, dropout=0.5, train=True)[0]
    assert not np.allclose(out._array, ref)


def test_sequence_errors():
    rng = np.random.default_rng(12)
    ps = [t64(p) for p in make_params(rng, "lstm", 3, 2, 1, 1)]
    with pytest.raises(ValueError, match=r"lstm: layer 0 direction 0: expected weight_ih \(8, 4\)"):
        F.lstm(t64(np.zeros((2, 1, 4))), None, ps)
    with pytest.raises(ValueError, match=r"lstm: expected h0 of shape \(1, 1, 2\)"):
        F.lstm(t64(np.zeros((2, 1, 3))), (t64(np.zeros((1, 2, 2))), t64(np.zeros((1, 1, 2)))), ps)
    with pytest.raises(ValueError, match="expected 8 weight tensors"):
        F.lstm(t64(np.zeros((2, 1, 3))), None, ps, bidirectional=True)
    with pytest.raises(ValueError, match="3-D input"):
        F.lstm(t64(np.zeros((2, 3))), None, ps)


def test_no_grad_forward_matches_and_records_nothing():
    rng = np.random.default_rng(13)
    ps = [t64(p, True) for p in make_params(rng, "lstm", 2, 3, 2, 2)]
    x = t64(rng.standard_normal((4, 2, 2)))
    with_grad = F.lstm(x, None, ps, num_layers=2, bidirectional=True)
    with cr.no_grad():
        without = F.lstm(x, None, ps, num_layers=2, bidirectional=True)
    for a, b in zip(with_grad, without):
        np.testing.assert_array_equal(a._array, b._array)
        assert not b.requires_grad
