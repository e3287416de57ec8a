"""The recurrent layers through the back-end table (issue 11, item 1): RNN, LSTM and GRU (fused
sequence kernels, compiled LSTM cell and its NumPy twin, the embedding fold, double backward),
the cells, and the packed-sequence utilities, run on the strict test back end
(tests/strict_backend.py: arrays NumPy refuses) and compared with the same run on the CPU in
float64.  Any array operation that bypasses the table fails loudly on the strict device."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from strict_backend import DEVICE, StrictArray
from strict_backend import host as _host

import chainrule as cr
import chainrule.nn as nn
from chainrule.autograd import forward_ad as fwAD
from chainrule.autograd.primitive import apply
from chainrule.backend import ArrayMath, recurrent_math
from chainrule.nn.functional import _rnn_kernel as K
from chainrule.nn.utils import rnn as U

TOL = dict(rtol=1e-12, atol=1e-12)



@pytest.fixture(params=["default", "numpy"])
def lstm_path(request, monkeypatch):
    """The LSTM as it runs here (the compiled cell where ``native`` has it), and its NumPy twin
    forced (as without a C compiler)."""
    if request.param == "numpy":
        monkeypatch.setattr(recurrent_math, "lstm_kernels", lambda dt: None)
    return request.param



def _leaves(*arrays: np.ndarray, device: str | None = None) -> list:
    out = []
    for a in arrays:
        t = cr.tensor(a, dtype=cr.float64)
        out.append((t if device is None else t.to(device)).requires_grad_())
    return out


def _loss(outs: list) -> cr.Tensor:
    """Σ_k Σ w_k ⊙ out_k with fixed weights w_k = sin(1 + index): every output element gets its own
    adjoint (a plain sum would hide a permuted or transposed gradient)."""
    total = None
    for o in outs:
        w = cr.tensor(np.sin(1.0 + np.arange(o.numel()).reshape(tuple(o.shape))), dtype=o.dtype).to(o.device)
        term = (o * w).sum()
        total = term if total is None else total + term
    return total


def _flat(res) -> list:
    """The tensors in a layer's result ((out, h) or (out, (h, c)), PackedSequence data included)."""
    if isinstance(res, U.PackedSequence):
        return [res.data]
    if isinstance(res, cr.Tensor):
        return [res]
    return [t for r in res for t in _flat(r)]


def _check_module(module: nn.Module, inputs: list, call, strict_device: str = DEVICE) -> None:
    """Run ``call(module, *inputs)`` on the CPU and on the strict device, backward through a
    weighted sum of every output; outputs, parameter gradients and input gradients agree."""
    dev_module = copy.deepcopy(module).to(strict_device)
    cpu_in = _leaves(*inputs)
    dev_in = _leaves(*inputs, device=strict_device)
    want = _flat(call(module, *cpu_in))
    got = _flat(call(dev_module, *dev_in))
    assert all(o.device == strict_device for o in got)
    for g, w in zip(got, want):
        np.testing.assert_allclose(_host(g), _host(w), **TOL)
    _loss(want).backward()
    _loss(got).backward()
    for (name, p), q in zip(module.named_parameters(), dev_module.parameters()):
        assert q.grad is not None and q.grad.device == strict_device, name
        np.testing.assert_allclose(_host(q.grad), _host(p.grad), err_msg=name, **TOL)
    for a, b in zip(dev_in, cpu_in):
        np.testing.assert_allclose(_host(a.grad), _host(b.grad), **TOL)


def _seq(rng, T, N, I, batch_first):
    return rng.standard_normal((N, T, I) if batch_first else (T, N, I))


# ------------------------------------------------------------------------------ the layers
LAYERS = {
    "LSTM": lambda *a, **k: nn.LSTM(*a, **k),
    "GRU": lambda *a, **k: nn.GRU(*a, **k),
    "RNN_TANH": lambda *a, **k: nn.RNN(*a, **k),
    "RNN_RELU": lambda *a, **k: nn.RNN(*a, nonlinearity="relu", **k),
}
SHAPES = [  # (num_layers, bidirectional, batch_first, bias)
    (1, False, False, True),
    (2, True, True, True),
    (1, True, False, False),
    (2, False, True, False),
]


@pytest.mark.parametrize("num_layers, bidirectional, batch_first, bias", SHAPES)
@pytest.mark.parametrize("mode", list(LAYERS))
def test_layer_on_strict(strict, lstm_path, mode, num_layers, bidirectional, batch_first, bias):
    if mode != "LSTM" and lstm_path == "numpy":
        pytest.skip("the NumPy twin is the LSTM's")
    rng = np.random.default_rng(0)
    cr.manual_seed(1)
    layer = LAYERS[mode](3, 4, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first,
                         bias=bias, dtype=cr.float64)
    x = _seq(rng, 5, 2, 3, batch_first)
    D = 2 if bidirectional else 1
    h0 = rng.standard_normal((num_layers * D, 2, 4))
    if mode == "LSTM":
        c0 = rng.standard_normal((num_layers * D, 2, 4))
        _check_module(layer, [x, h0, c0], lambda m, x, h, c: m(x, (h, c)))
    else:
        _check_module(layer, [x, h0], lambda m, x, h: m(x, h))
    _check_module(layer, [x], lambda m, x: m(x))  # zero initial states, made on the input's device


SEQUENCES = {"LSTM": K.LSTMSequence, "GRU": K.GRUSequence, "RNN": K.RNNSequence}


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("mode", list(SEQUENCES))
def test_fold_in_the_sequence_primitive_on_strict(strict, lstm_path, mode, reverse):
    """The fused primitive with an input fold (x = E[idx], projection per distinct index),
    given E and idx as arrays of the strict device: outputs and every gradient as on the CPU."""
    if mode != "LSTM" and lstm_path == "numpy":
        pytest.skip("the NumPy twin is the LSTM's")
    rng = np.random.default_rng(14)
    T, N, I, H, V = 4, 3, 3, 5, 9
    G = {"LSTM": 4, "GRU": 3, "RNN": 1}[mode] * H
    E, idx = rng.standard_normal((V, I)), rng.integers(0, V, (T, N))
    states = [rng.standard_normal((N, H)) for _ in range(2 if mode == "LSTM" else 1)]
    ws = [rng.standard_normal((G, I)), rng.standard_normal((G, H)), rng.standard_normal(G), rng.standard_normal(G)]
    res = {}
    for dev, table, move in (("cpu", ArrayMath, lambda a: a), (DEVICE, strict.math, StrictArray)):
        ts = _leaves(E[idx], *states, *ws, device=None if dev == "cpu" else dev)
        op = SEQUENCES[mode](reverse, True)
        op.fold = K.InputFold(table, move(E), move(idx))
        y = apply(op, *ts)
        _loss([y]).backward()
        res[dev] = [_host(y)] + [_host(t.grad) for t in ts]
    for a, b in zip(res[DEVICE], res["cpu"]):
        np.testing.assert_allclose(a, b, **TOL)


@pytest.mark.parametrize("mode", list(LAYERS))
def test_embedding_fold_on_strict(strict, lstm_path, mode):
    """x = E[idx] into the first layer: the projection per distinct index (the fold), on the strict device."""
    if mode != "LSTM" and lstm_path == "numpy":
        pytest.skip("the NumPy twin is the LSTM's")
    rng = np.random.default_rng(2)
    cr.manual_seed(3)

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(7, 3, dtype=cr.float64)
            self.rnn = LAYERS[mode](3, 4, num_layers=2, bidirectional=True, dtype=cr.float64)

        def forward(self, tokens):
            return self.rnn(self.emb(tokens))

    model = Model()
    tokens = cr.tensor(rng.integers(0, 7, (6, 3)))
    dev_model = copy.deepcopy(model).to(DEVICE)
    want = _flat(model(tokens))
    got = _flat(dev_model(tokens.to(DEVICE)))
    for g, w in zip(got, want):
        np.testing.assert_allclose(_host(g), _host(w), **TOL)
    _loss(want).backward()
    _loss(got).backward()
    for (name, p), q in zip(model.named_parameters(), dev_model.parameters()):
        np.testing.assert_allclose(_host(q.grad), _host(p.grad), err_msg=name, **TOL)


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN_TANH"])
def test_double_backward_on_strict(strict, mode):
    """create_graph=True through the fused kernels (the recorded re-run of the layer), then the
    gradient of a function of the gradients."""
    rng = np.random.default_rng(4)
    cr.manual_seed(5)
    layer = LAYERS[mode](2, 3, dtype=cr.float64)
    x = rng.standard_normal((3, 2, 2))
    res = {}
    for dev in ("cpu", DEVICE):
        m = copy.deepcopy(layer).to(dev)
        xt = _leaves(x, device=None if dev == "cpu" else dev)[0]
        out = _flat(m(xt))
        (gx,) = cr.autograd.grad(_loss(out), [xt], create_graph=True)
        (gx * gx).sum().backward()
        res[dev] = [_host(gx), _host(xt.grad)] + [_host(p.grad) for p in m.parameters()]
    for a, b in zip(res[DEVICE], res["cpu"]):
        np.testing.assert_allclose(a, b, **TOL)


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN_TANH"])
def test_forward_mode_on_strict(strict, mode):
    """Forward mode (the layer functions run the composed cells then): tangents agree."""
    rng = np.random.default_rng(6)
    cr.manual_seed(7)
    layer = LAYERS[mode](2, 3, dtype=cr.float64)
    x, dx = rng.standard_normal((3, 2, 2)), rng.standard_normal((3, 2, 2))
    res = {}
    for dev in ("cpu", DEVICE):
        m = copy.deepcopy(layer).to(dev)
        with fwAD.dual_level():
            xd = fwAD.make_dual(cr.tensor(x).to(dev), cr.tensor(dx).to(dev))
            out = _flat(m(xd))
            res[dev] = [_host(fwAD.unpack_dual(o).tangent) for o in out] + [_host(o) for o in out]
    for a, b in zip(res[DEVICE], res["cpu"]):
        np.testing.assert_allclose(a, b, **TOL)


# ------------------------------------------------------------------------------ the cells
CELLS = {
    "LSTMCell": lambda: nn.LSTMCell(3, 4, dtype=cr.float64),
    "GRUCell": lambda: nn.GRUCell(3, 4, dtype=cr.float64),
    "RNNCell": lambda: nn.RNNCell(3, 4, dtype=cr.float64),
    "RNNCell_relu_nobias": lambda: nn.RNNCell(3, 4, bias=False, nonlinearity="relu", dtype=cr.float64),
}


@pytest.mark.parametrize("name", list(CELLS))
def test_cell_on_strict(strict, name):
    rng = np.random.default_rng(8)
    cr.manual_seed(9)
    cell = CELLS[name]()
    x, h = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    if name == "LSTMCell":
        c = rng.standard_normal((2, 4))
        _check_module(cell, [x, h, c], lambda m, x, h, c: m(x, (h, c)))
    else:
        _check_module(cell, [x, h], lambda m, x, h: m(x, h))
    _check_module(cell, [x], lambda m, x: m(x))  # zero states on the input's device
    _check_module(cell, [x[0]], lambda m, x: m(x))  # unbatched


# ------------------------------------------------------------------------------ packed sequences
def test_pack_padded_through_lstm_on_strict(strict, lstm_path):
    rng = np.random.default_rng(10)
    cr.manual_seed(11)
    lstm = nn.LSTM(3, 4, bidirectional=True, dtype=cr.float64)
    x = rng.standard_normal((5, 3, 3))

    def call(m, x):
        packed = U.pack_padded_sequence(x, [3, 5, 2], enforce_sorted=False)
        out, (h, c) = m(packed)
        padded, lens = U.pad_packed_sequence(out, padding_value=-1.0, total_length=6)
        assert lens.tolist() == [3, 5, 2]
        return padded, h, c

    _check_module(lstm, [x], call)


def test_pad_and_pack_sequence_through_lstm_on_strict(strict, lstm_path):
    rng = np.random.default_rng(12)
    cr.manual_seed(13)
    lstm = nn.LSTM(3, 4, batch_first=True, dtype=cr.float64)
    seqs = [rng.standard_normal((n, 3)) for n in (4, 2, 3)]

    def call(m, a, b, c):
        padded = U.pad_sequence([a, b, c], batch_first=True, padding_value=0.5)
        left = U.pad_sequence([a, b, c], padding_side="left")
        out, (h, _) = m(U.pack_sequence([a, c, b]))
        back = U.unpack_sequence(out)
        return [m(padded)[0], left, h, *back]

    _check_module(lstm, seqs, call)
