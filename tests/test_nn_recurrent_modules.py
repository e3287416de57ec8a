"""nn.RNN / LSTM / GRU and the cells: PyTorch's parameter layout, shapes, options, NumPy references, gradcheck."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("chainrule.nn.module", reason="nn.Module (nn-core) has not landed yet")
from test_nn_recurrent_functional import np_gru_cell, np_lstm_cell, np_rnn_cell, np_sequence

import chainrule as cr
from chainrule import nn
from chainrule.autograd.gradcheck import gradcheck

KINDS = {"RNN": "rnn_tanh", "LSTM": "lstm", "GRU": "gru"}


def as64(module):
    for p in module.parameters():
        p.data = p._array.astype(np.float64)
    return module


def np_params(module):
    return [p._array.copy() for p in module._flat_weights]


def test_parameter_names_shapes_and_init_bounds():
    lstm = nn.LSTM(5, 7, num_layers=2, bidirectional=True)
    shapes = {n: tuple(p.shape) for n, p in lstm.named_parameters()}
    assert shapes == {
        "weight_ih_l0": (28, 5), "weight_hh_l0": (28, 7), "bias_ih_l0": (28,), "bias_hh_l0": (28,),
        "weight_ih_l0_reverse": (28, 5), "weight_hh_l0_reverse": (28, 7),
        "bias_ih_l0_reverse": (28,), "bias_hh_l0_reverse": (28,),
        "weight_ih_l1": (28, 14), "weight_hh_l1": (28, 7), "bias_ih_l1": (28,), "bias_hh_l1": (28,),
        "weight_ih_l1_reverse": (28, 14), "weight_hh_l1_reverse": (28, 7),
        "bias_ih_l1_reverse": (28,), "bias_hh_l1_reverse": (28,),
    }
    # PyTorch's _flat_weights order: layer by layer, direction by direction, ih, hh, b_ih, b_hh
    assert list(shapes) == [n for n, _ in lstm.named_parameters()]
    bound = 1 / math.sqrt(7)
    for p in lstm.parameters():
        assert np.all(np.abs(p._array) <= bound) and p._array.std() > bound / 4
        assert p.dtype == np.float32
    assert {n for n, _ in nn.GRU(3, 4, bias=False).named_parameters()} == {"weight_ih_l0", "weight_hh_l0"}
    assert nn.GRU(3, 4).weight_ih_l0.shape == (12, 3)
    assert nn.RNN(3, 4).weight_hh_l0.shape == (4, 4)
    cell = nn.LSTMCell(3, 4)
    assert [n for n, _ in cell.named_parameters()] == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    assert cell.weight_ih.shape == (16, 3)
    assert nn.GRUCell(3, 4, bias=False).bias_ih is None


def test_constructor_errors():
    with pytest.raises(ValueError, match="proj_size"):  # (proj_size < hidden_size: tests/test_lstm_proj_size.py)
        nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="only supported for LSTM"):
        nn.GRU(3, 4, proj_size=2)
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="dropout"):
        nn.LSTM(3, 4, dropout=1.5)
    with pytest.raises(ValueError, match="hidden_size"):
        nn.GRU(3, 0)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("num_layers,bidirectional,batch_first", [(1, False, False), (2, True, False), (2, False, True),
                                                                  (1, True, True)])
def test_modules_match_numpy(kind, num_layers, bidirectional, batch_first):
    rng = np.random.default_rng(0)
    T, N, I, H = 4, 3, 2, 3
    D = 2 if bidirectional else 1
    m = as64(getattr(nn, kind)(I, H, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first))
    x = rng.standard_normal((T, N, I))
    h0 = rng.standard_normal((num_layers * D, N, H))
    c0 = rng.standard_normal((num_layers * D, N, H))
    mode = KINDS[kind]
    ref_out, ref_h, ref_c = np_sequence(mode, x, h0, c0 if kind == "LSTM" else None, np_params(m), num_layers,
                                        bidirectional)
    xin = cr.tensor(x.transpose(1, 0, 2) if batch_first else x, dtype=cr.float64)
    hx = (cr.tensor(h0), cr.tensor(c0)) if kind == "LSTM" else cr.tensor(h0)
    out, hn = m(xin, hx)
    got = out._array.transpose(1, 0, 2) if batch_first else out._array
    np.testing.assert_allclose(got, ref_out, atol=1e-12)
    if kind == "LSTM":
        np.testing.assert_allclose(hn[0]._array, ref_h, atol=1e-12)
        np.testing.assert_allclose(hn[1]._array, ref_c, atol=1e-12)
    else:
        np.testing.assert_allclose(hn._array, ref_h, atol=1e-12)


def test_relu_rnn_and_unbatched_input():
    rng = np.random.default_rng(1)
    m = as64(nn.RNN(3, 4, nonlinearity="relu", num_layers=2))
    x = rng.standard_normal((5, 3))
    out, h = m(cr.tensor(x))
    assert out.shape == (5, 4) and h.shape == (2, 4)
    ref_out, ref_h, _ = np_sequence("rnn_relu", x[:, None], np.zeros((2, 1, 4)), None, np_params(m), 2, False)
    np.testing.assert_allclose(out._array, ref_out[:, 0], atol=1e-12)
    np.testing.assert_allclose(h._array, ref_h[:, 0], atol=1e-12)
    lstm = nn.LSTM(3, 4, batch_first=True)
    out, (h, c) = lstm(cr.tensor(x.astype(np.float32)), (cr.zeros(1, 4), cr.zeros(1, 4)))
    assert out.shape == (5, 4) and h.shape == c.shape == (1, 4)


def test_identity_rnn_with_eye_init():
    """The notes' IRNN: ReLU recurrence with W_hh = I and zero biases carries a positive state unchanged."""
    rnn = nn.RNN(2, 3, nonlinearity="relu")
    if hasattr(nn.init, "eye_"):
        nn.init.eye_(rnn.weight_hh_l0)
    else:  # pragma: no cover - nn.init not there yet
        rnn.weight_hh_l0._array[...] = np.eye(3)
    np.testing.assert_array_equal(rnn.weight_hh_l0._array, np.eye(3))
    rnn.bias_ih_l0._array[...] = 0.0
    rnn.bias_hh_l0._array[...] = 0.0
    h0 = cr.tensor(np.array([[[0.5, 1.0, 2.0]]], dtype=np.float32))
    out, h = rnn(cr.zeros(6, 1, 2), h0)
    np.testing.assert_allclose(out._array, np.broadcast_to(h0._array[0], (6, 1, 3)))
    # gradients through 6 identity steps are neither damped nor amplified
    h0.requires_grad_(True)
    out, h = rnn(cr.zeros(6, 1, 2), h0)
    h.sum().backward()
    np.testing.assert_allclose(h0.grad._array, np.ones((1, 1, 3)))


def test_shape_errors_name_the_layer():
    lstm = nn.LSTM(3, 4, num_layers=2)
    with pytest.raises(ValueError, match=r"LSTM: input.size\(-1\) must be equal to input_size: expected 3"):
        lstm(cr.zeros(5, 2, 4))
    with pytest.raises(ValueError, match=r"LSTM: expected h_0 of shape \(2, 2, 4\), got \(1, 2, 4\)"):
        lstm(cr.zeros(5, 2, 3), (cr.zeros(1, 2, 4), cr.zeros(2, 2, 4)))
    with pytest.raises(ValueError, match=r"LSTM: expected c_0 of shape \(2, 2, 4\)"):
        lstm(cr.zeros(5, 2, 3), (cr.zeros(2, 2, 4), cr.zeros(2, 2, 5)))
    with pytest.raises(TypeError, match="tuple"):
        lstm(cr.zeros(5, 2, 3), cr.zeros(2, 2, 4))
    with pytest.raises(ValueError, match="GRU: expected input of shape"):
        nn.GRU(3, 4)(cr.zeros(3))
    with pytest.raises(ValueError, match=r"GRUCell: expected input of shape \(N, 3\)"):
        nn.GRUCell(3, 4)(cr.zeros(2, 5))


def test_dropout_between_layers_only_in_training():
    cr.manual_seed(0)
    m = nn.LSTM(3, 4, num_layers=3, dropout=0.5)
    x = cr.randn(5, 2, 3)
    m.eval()
    a, _ = m(x)
    b, _ = m(x)
    np.testing.assert_array_equal(a._array, b._array)
    ref = np_sequence("lstm", x._array.astype(np.float64), np.zeros((3, 2, 4)), np.zeros((3, 2, 4)),
                      [p.astype(np.float64) for p in np_params(m)], 3, False)[0]
    np.testing.assert_allclose(a._array, ref, atol=1e-5)
    m.train()
    c, _ = m(x)
    assert not np.allclose(c._array, a._array)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_module_gradcheck_with_initial_states(kind):
    rng = np.random.default_rng(2)
    T, N, I, H = 3, 2, 2, 3
    m = as64(getattr(nn, kind)(I, H, num_layers=2, bidirectional=True, batch_first=True))
    x = cr.tensor(rng.standard_normal((N, T, I)), requires_grad=True)
    h0 = cr.tensor(rng.standard_normal((4, N, H)), requires_grad=True)
    c0 = cr.tensor(rng.standard_normal((4, N, H)), requires_grad=True)

    def fn(x, h0, c0):
        out, hn = m(x, (h0, c0) if kind == "LSTM" else h0)
        return (out, *hn) if kind == "LSTM" else (out, hn)

    assert gradcheck(fn, (x, h0, c0) if kind == "LSTM" else (x, h0, c0.detach()))
    # parameter gradients: the module's .grad equals the functional form's, which the
    # functional tests check against finite differences
    w = rng.standard_normal((N, T, 2 * H))
    out, _ = m(x, (h0, c0) if kind == "LSTM" else h0)
    (out * cr.tensor(w)).sum().backward()
    ps = [cr.tensor(p._array.copy(), requires_grad=True) for p in m._flat_weights]
    fn_ = getattr(cr.nn.functional, KINDS[kind])
    out2 = fn_(x.detach(), (h0.detach(), c0.detach()) if kind == "LSTM" else h0.detach(), ps,
               num_layers=2, bidirectional=True, batch_first=True, fused=False)[0]
    (out2 * cr.tensor(w)).sum().backward()
    for p, q in zip(m._flat_weights, ps):
        np.testing.assert_allclose(p.grad._array, q.grad._array, atol=1e-10)


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_match_numpy_and_gradcheck(kind):
    rng = np.random.default_rng(3)
    cell = as64(getattr(nn, kind)(3, 2))
    w = [cell.weight_ih._array, cell.weight_hh._array, cell.bias_ih._array, cell.bias_hh._array]
    x = rng.standard_normal((4, 3))
    h = rng.standard_normal((4, 2))
    c = rng.standard_normal((4, 2))
    if kind == "LSTMCell":
        h2, c2 = cell(cr.tensor(x), (cr.tensor(h), cr.tensor(c)))
        rh, rc = np_lstm_cell(x, h, c, *w)
        np.testing.assert_allclose(h2._array, rh, atol=1e-12)
        np.testing.assert_allclose(c2._array, rc, atol=1e-12)
        h0, c0 = cell(cr.tensor(x))
        np.testing.assert_allclose(h0._array, np_lstm_cell(x, 0 * h, 0 * c, *w)[0], atol=1e-12)
    elif kind == "GRUCell":
        np.testing.assert_allclose(cell(cr.tensor(x), cr.tensor(h))._array, np_gru_cell(x, h, *w), atol=1e-12)
    else:
        np.testing.assert_allclose(cell(cr.tensor(x), cr.tensor(h))._array, np_rnn_cell(x, h, *w, "tanh"), atol=1e-12)
        relu = as64(nn.RNNCell(3, 2, nonlinearity="relu"))
        wr = [relu.weight_ih._array, relu.weight_hh._array, relu.bias_ih._array, relu.bias_hh._array]
        np.testing.assert_allclose(relu(cr.tensor(x), cr.tensor(h))._array, np_rnn_cell(x, h, *wr, "relu"), atol=1e-12)
    xt = cr.tensor(x[:2], requires_grad=True)
    ht = cr.tensor(h[:2], requires_grad=True)
    if kind == "LSTMCell":
        ct = cr.tensor(c[:2], requires_grad=True)
        assert gradcheck(lambda x, h, c: cell(x, (h, c)), (xt, ht, ct))
    else:
        assert gradcheck(lambda x, h: cell(x, h), (xt, ht))


def test_backward_reaches_all_parameters_and_state_dict_roundtrip():
    m = nn.GRU(3, 4, num_layers=2, bidirectional=True)
    out, h = m(cr.randn(5, 2, 3))
    (out.sum() + h.sum()).backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, name
        assert np.any(p.grad._array != 0), name
    m2 = nn.GRU(3, 4, num_layers=2, bidirectional=True)
    m2.load_state_dict(m.state_dict())
    x = cr.randn(5, 2, 3)
    np.testing.assert_array_equal(m(x)[0]._array, m2(x)[0]._array)
