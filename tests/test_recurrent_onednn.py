"""The LSTM and GRU layers through oneDNN (backend/rnn_onednn.py): float32 LSTM and GRU layers on
the CPU take oneDNN's primitives when the library is installed (the ``onednn`` extra).  Checked against
the definition computed in float64 by the composed cells (``fused=False``, themselves checked by
gradcheck), and against PyTorch where it is installed: the output, the final states and every
gradient, for every option of the layer.  Skipped without oneDNN."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.backend import onednn
from chainrule.backend.rnn_onednn import RecurrentOnednnMath
from chainrule.nn.functional._rnn_kernel import (
    GRUSequence,
    LSTMSequence,
    OnednnGRUSequence,
    OnednnLSTMSequence,
    _Sequence,
)

pytestmark = pytest.mark.skipif(not onednn.available(), reason=onednn.status())

RTOL = 2e-4  # float32 against the float64 definition, relative to the largest value
GATES = {"lstm": 4, "gru": 3}
STATES = {"lstm": 2, "gru": 1}
MODULE = {"lstm": cr.nn.LSTM, "gru": cr.nn.GRU}


def _close(got, want):
    for a, e in zip(got, want):
        assert a.shape == e.shape
        scale = max(np.abs(e).max(), 1e-30)
        assert np.abs(a.astype(np.float64) - e).max() <= RTOL * scale, np.abs(a - e).max() / scale


def _params(rng, I, H, layers, D, bias, gates=4):
    ps = []
    for layer in range(layers):
        for _ in range(D):
            n_in = I if layer == 0 else D * H
            ps += [rng.standard_normal((gates * H, n_in)) * 0.4, rng.standard_normal((gates * H, H)) * 0.4]
            if bias:
                ps += [rng.standard_normal(gates * H) * 0.3, rng.standard_normal(gates * H) * 0.3]
    return ps


def _run(mode, dtype, x, states, params, g_out, g_states, fused, **kw):
    """(output, the final states, and the gradients of x, the states and every parameter) of
    F.lstm or F.gru at ``dtype``, with the given output and final-state gradients."""
    leaves = [cr.tensor(a, dtype=dtype, requires_grad=True) for a in [x, *states, *params]]
    k = 1 + len(states)
    xt, s0, ps = leaves[0], leaves[1:k], leaves[k:]
    if mode == "lstm":
        out, *finals = F.lstm(xt, tuple(s0), ps, fused=fused, **kw)
    else:
        out, *finals = F.gru(xt, s0[0], ps, fused=fused, **kw)
    loss = (out * cr.tensor(g_out, dtype=dtype)).sum()
    for f, g in zip(finals, g_states):
        loss = loss + (f * cr.tensor(g, dtype=dtype)).sum()
    loss.backward()
    return [out.detach().numpy()] + [f.detach().numpy() for f in finals] + [t.grad.numpy() for t in leaves]


CASES = [  # (T, N, I, H, kwargs)
    (5, 3, 4, 6, {}),
    (4, 2, 3, 5, {"bidirectional": True}),
    (3, 4, 5, 4, {"num_layers": 2}),
    (6, 2, 3, 4, {"num_layers": 2, "bidirectional": True, "batch_first": True}),
    (1, 1, 2, 3, {}),  # one step, one sequence
]


@pytest.mark.parametrize("mode", ["lstm", "gru"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_onednn_layer_matches_the_float64_definition(case, bias, mode):
    T, N, I, H, kw = CASES[case]
    layers, D = kw.get("num_layers", 1), 2 if kw.get("bidirectional") else 1
    rng = np.random.default_rng(case)
    x = rng.standard_normal((N, T, I) if kw.get("batch_first") else (T, N, I))
    states = [rng.standard_normal((layers * D, N, H)) for _ in range(STATES[mode])]
    params = _params(rng, I, H, layers, D, bias, GATES[mode])
    g_out = rng.standard_normal(x.shape[:2] + (D * H,))
    g_states = [rng.standard_normal((layers * D, N, H)) for _ in range(STATES[mode])]
    want = _run(mode, cr.float64, x, states, params, g_out, g_states, False, has_biases=bias, **kw)
    got = _run(mode, cr.float32, x, states, params, g_out, g_states, True, has_biases=bias, **kw)
    _close(got, want)


def _sequence_op(layer, x):
    """The type of the fused sequence primitive under ``layer``'s output."""
    t = layer(x)[0]
    while t._op is not None and not isinstance(t._op, _Sequence):
        t = t._parents[0]
    return type(t._op)


def test_the_layer_choice():
    x = cr.randn(5, 2, 3)
    for module, onednn_op, own in ((cr.nn.LSTM, OnednnLSTMSequence, LSTMSequence),
                                   (cr.nn.GRU, OnednnGRUSequence, GRUSequence)):
        layer = module(3, 4)
        assert _sequence_op(layer, x) is onednn_op
        assert _sequence_op(layer.double(), x.double()) is own


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_a_second_backward_gives_the_same_gradients(mode):
    """oneDNN adds the weights' gradients to what their memory holds: each run starts from zero."""
    rng = np.random.default_rng(3)
    T, N, I, H = 4, 3, 2, 5
    G = GATES[mode] * H
    f32 = np.float32
    x = rng.standard_normal((T, N, I)).astype(f32)
    states = [rng.standard_normal((N, H)).astype(f32) for _ in range(STATES[mode])]
    w_ih, w_hh = rng.standard_normal((G, I)).astype(f32), rng.standard_normal((G, H)).astype(f32)
    b = rng.standard_normal(G).astype(f32)
    M = RecurrentOnednnMath
    inputs = (x, *states, w_ih, w_hh, b)
    g = rng.standard_normal((T + (mode == "lstm"), N, H)).astype(f32)
    if mode == "lstm":
        out, workspace = M.lstm_onednn_forward(*inputs, False, True)
        def backward():
            return M.lstm_onednn_backward(*inputs, out, workspace, g, False)
    else:
        out, workspace, *params = M.gru_onednn_forward(x, *states, w_ih, w_hh, b, b[::-1].copy(), False, True)
        def backward():
            return M.gru_onednn_backward(x, *states, *params, out, workspace, g, False)
    first, second = backward(), backward()
    for a, e in zip(first, second):
        np.testing.assert_array_equal(a, e)


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_inference_forward_equals_the_training_forward(mode):
    """Under no_grad the layer runs oneDNN's inference kernel (no workspace): the same numbers to
    float32 rounding (the two kernels sum in different orders)."""
    layer = MODULE[mode](3, 6, num_layers=2)
    x = cr.randn(7, 2, 3)
    trained = layer(x)[0].detach().numpy()
    with cr.no_grad():
        inferred = layer(x)[0].numpy()
    np.testing.assert_allclose(inferred, trained, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_embedding_input_and_a_broadcast_gradient(mode):
    """An embedding's output (which the own loop folds) and ``out.sum()``'s gradient (a broadcast,
    zero strides) are read as they are."""
    def grads(dtype):
        cr.manual_seed(2)
        emb, layer = cr.nn.Embedding(7, 3).to(dtype), MODULE[mode](3, 4, batch_first=True).to(dtype)
        idx = cr.tensor(np.random.default_rng(4).integers(0, 7, (2, 5)))
        layer(emb(idx))[0].sum().backward()
        return [p.grad.numpy() for p in (*emb.parameters(), *layer.parameters())]

    _close(grads(cr.float32), grads(cr.float64))


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_double_backward_rebuilds_the_cells(mode):
    """create_graph: the gradient of a gradient (a penalty on ‖dL/dx‖²) matches float64's."""
    rng = np.random.default_rng(6)
    x, params = rng.standard_normal((3, 2, 2)), _params(rng, 2, 3, 1, 1, True, GATES[mode])

    def second(dtype):
        xt = cr.tensor(x, dtype=dtype, requires_grad=True)
        ps = [cr.tensor(p, dtype=dtype, requires_grad=True) for p in params]
        out = getattr(F, mode)(xt, None, ps)[0]
        (gx,) = cr.autograd.grad((out ** 2).sum(), (xt,), create_graph=True)
        (gx ** 2).sum().backward()
        return [p.grad.numpy() for p in ps]

    _close(second(cr.float32), second(cr.float64))


def test_matches_pytorch_where_installed():
    """PyTorch's CPU LSTM is oneDNN's too: the forward gives the same bits."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x = rng.standard_normal((9, 4, 5)).astype(np.float32)
    ref = torch.nn.LSTM(5, 8, bidirectional=True)
    mine = cr.nn.LSTM(5, 8, bidirectional=True)
    mine.load_state_dict({k: cr.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    np.testing.assert_array_equal(mine(cr.tensor(x))[0].detach().numpy(),
                                  ref(torch.from_numpy(x))[0].detach().numpy())


def test_gru_matches_pytorch_where_installed():
    """PyTorch's CPU GRU is its own loop, not oneDNN's: the output, the last state and every
    gradient agree to float32 rounding, for two layers in both directions."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    x = rng.standard_normal((4, 9, 5)).astype(np.float32)
    g = rng.standard_normal((4, 9, 16)).astype(np.float32)
    ref = torch.nn.GRU(5, 8, num_layers=2, bidirectional=True, batch_first=True)
    mine = cr.nn.GRU(5, 8, num_layers=2, bidirectional=True, batch_first=True)
    mine.load_state_dict({k: cr.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    xt, xm = torch.tensor(x, requires_grad=True), cr.tensor(x, requires_grad=True)
    (out_t, h_t), (out_m, h_m) = ref(xt), mine(xm)
    (out_t * torch.from_numpy(g)).sum().backward()
    (out_m * cr.tensor(g)).sum().backward()
    want = [out_t, h_t, xt.grad] + [p.grad for p in ref.parameters()]
    got = [out_m, h_m, xm.grad] + [p.grad for p in mine.parameters()]
    for a, e in zip(got, want):
        np.testing.assert_allclose(a.detach().numpy(), e.detach().numpy(), rtol=1e-4, atol=2e-5)


def test_switched_off_by_the_environment(monkeypatch):
    monkeypatch.setenv("CHAINRULE_ONEDNN", "0")
    onednn.reset()
    try:
        assert _sequence_op(cr.nn.LSTM(2, 3), cr.randn(4, 1, 2)) is LSTMSequence
        assert _sequence_op(cr.nn.GRU(2, 3), cr.randn(4, 1, 2)) is GRUSequence
    finally:
        monkeypatch.delenv("CHAINRULE_ONEDNN")
        onednn.reset()
    assert onednn.available()


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_a_trained_language_model_follows_the_float64_one(mode):
    """Ten Adam steps of Embedding → 2-layer LSTM (or GRU) → Linear in float32 through oneDNN stay
    with the same steps in float64 (the own loop) to float32 rounding."""
    def train(dtype):
        cr.manual_seed(0)
        emb, rnn, head = cr.nn.Embedding(11, 4), MODULE[mode](4, 6, num_layers=2, batch_first=True), cr.nn.Linear(6, 11)
        params = [p for mod in (emb, rnn, head) for p in mod.to(dtype).parameters()]
        opt = cr.optim.Adam(params, lr=0.01)
        rng = np.random.default_rng(1)
        x, y = cr.tensor(rng.integers(0, 11, (3, 8))), cr.tensor(rng.integers(0, 11, 24))
        for _ in range(10):
            opt.zero_grad()
            loss = F.cross_entropy(head(rnn(emb(x))[0]).reshape(-1, 11), y)
            loss.backward()
            opt.step()
        return [p.detach().numpy() for p in params]

    for a, b in zip(train(cr.float32), train(cr.float64)):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


def test_python_threads_run_onednn_layers_at_once():
    """Two Python threads running different oneDNN primitives at the same time (an LSTM in one, a
    convolution in the other) get what they get one after the other.  Each primitive has its own
    scratch memory (oneDNN's shared one is not safe to use from two threads at once)."""
    import threading

    rng = np.random.default_rng(8)
    lstm, conv = cr.nn.LSTM(16, 32), cr.nn.Conv2d(8, 8, 3, padding=1)
    xs = cr.tensor(rng.standard_normal((20, 4, 16)).astype(np.float32))
    xc = cr.tensor(rng.standard_normal((4, 8, 24, 24)).astype(np.float32))
    with cr.no_grad():
        want = {"lstm": lstm(xs)[0].numpy(), "conv": conv(xc).numpy()}
    got: dict = {"lstm": [], "conv": []}

    def run(name, fn):
        for _ in range(40):
            with cr.no_grad():
                got[name].append(fn().numpy())

    threads = [threading.Thread(target=run, args=("lstm", lambda: lstm(xs)[0])),
               threading.Thread(target=run, args=("conv", lambda: conv(xc)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name in want:
        assert len(got[name]) == 40
        for a in got[name]:
            np.testing.assert_array_equal(a, want[name])


def test_scratch_memory_is_one_buffer_per_thread():
    """An LSTM's forward and backward each need oneDNN scratch memory of about the workspace's
    size; the thread holds one buffer for both (the larger need), not one per step."""
    onednn._STEPS.clear()  # (what earlier tests left: steps, and this thread's grown buffer)
    onednn._PER_THREAD.scratch = None
    lstm = cr.nn.LSTM(4, 64)
    out, _ = lstm(cr.randn(30, 8, 4))
    out.sum().backward()
    steps = [s for key, s in onednn.kept() if key[0].startswith("lstm")]
    assert steps and all(s.scratch_bytes > 0 for s in steps)
    held = onednn._PER_THREAD.scratch.nbytes
    assert held == max(s.scratch_bytes for _, s in onednn.kept())
    assert all(sum(b.nbytes for b in s.keep) < s.scratch_bytes for s in steps)


def test_no_input_fold_is_prepared_for_a_onednn_layer(monkeypatch):
    """oneDNN projects a GRU's embedding input itself: the fold's distinct rows (a count over every
    index, a copy of the rows used) are not computed for it, and still are for the own loop.  An
    LSTM after an embedding takes the own loop with the fold at either precision (faster than
    oneDNN's LSTM there: docs/performance.md#lstm-fold-onednn)."""
    from chainrule.nn.functional import _rnn_kernel as K

    made = []
    real = K.InputFold.__init__
    monkeypatch.setattr(K.InputFold, "__init__", lambda self, *a: made.append(1) or real(self, *a))
    idx = cr.tensor(np.random.default_rng(9).integers(0, 7, (2, 5)))
    for module, f32_folds in ((cr.nn.LSTM, 1), (cr.nn.GRU, 0)):
        for dtype, folds in ((cr.float32, f32_folds), (cr.float64, 1)):
            made.clear()
            emb, layer = cr.nn.Embedding(7, 3).to(dtype), module(3, 4, batch_first=True).to(dtype)
            layer(emb(idx))[0].sum().backward()
            assert len(made) == folds, (module, dtype)


@pytest.mark.parametrize("module", [cr.nn.LSTM, cr.nn.GRU])
def test_a_packed_batch_makes_no_onednn_step(module):
    """A PackedSequence runs one pass per distinct length, each of its own shape and used once per
    batch: a oneDNN primitive made for each (about a millisecond) cost more than the pass itself
    (a packed BiLSTM classifier in tests/corpus: 17 s -> 4.6 s), so the groups take chainrule's
    own loop.  The packed outputs stay those of the padded batch run sequence by sequence."""
    from chainrule.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    onednn._STEPS.clear()
    layer = module(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    lengths = [7, 5, 5, 3, 2]
    x = cr.randn(len(lengths), 7, 3)
    packed = pack_padded_sequence(x, cr.tensor(lengths), batch_first=True, enforce_sorted=False)
    out, _ = layer(packed)
    padded, _ = pad_packed_sequence(out, batch_first=True)
    padded.sum().backward()
    assert not [key for key, _ in onednn.kept() if key[0].startswith(("lstm", "gru"))]
    for b, n in enumerate(lengths):  # each sequence alone, unpacked: the same rows
        alone, _ = layer(x[b:b + 1, :n])
        np.testing.assert_allclose(padded[b, :n].detach().numpy(), alone[0].detach().numpy(), rtol=1e-5, atol=1e-6)
    layer(x)[0].sum().backward()  # a plain batch still runs on oneDNN
    assert [key for key, _ in onednn.kept() if key[0].startswith(("lstm", "gru"))]
