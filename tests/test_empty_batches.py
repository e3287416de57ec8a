"""Empty batches (N = 0) and small inputs through the layers, with PyTorch as the oracle (issue 10, item 4).

A batch of 0 samples must go forward and backward through every layer as in PyTorch: the
output has PyTorch's shape (and no values), the parameter gradients are PyTorch's (zeros of
the parameter's shape: a sum over no samples), and where PyTorch raises, chainrule raises.
The compiled kernels must not see the empty batch with sizes they cannot handle, so the
layer tests run twice: with the kernels and with ``CHAINRULE_NATIVE=0``.

Pooling with ``ceil_mode=True`` may take inputs smaller than the kernel: PyTorch's size is
out = floor((n + 2p - δ(k-1) - 1 + s - 1) / s) + 1, less one when that last window would
start in the right padding (at or after n + p), and an error only when out < 1.  The grid
test compares shapes, values and gradients with PyTorch over sizes, kernels, strides,
paddings and dilations.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule.autograd.gradcheck import gradcheck
from chainrule.backend import native

RNG = np.random.default_rng(10)


@pytest.fixture
def torch():
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: torch's thread pool only waits on a loaded machine (6 ms a call)
    yield torch
    torch.set_num_threads(threads)


@pytest.fixture(params=["compiled", "numpy"])
def native_path(request, monkeypatch):
    """Run the test with the compiled kernels (where they build) and with CHAINRULE_NATIVE=0."""
    if request.param == "numpy":
        monkeypatch.setenv("CHAINRULE_NATIVE", "0")
    native.reset()
    if request.param == "numpy":
        assert native.load("lstm_cell") is None and native.load("rows") is None
    yield request.param
    monkeypatch.undo()
    native.reset()


# ----------------------------------------------------------------------------- helpers
def _flat(out) -> list:
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flat(o)]
    return [] if out is None else [out]


def _copy_params(cmod, tmod) -> list:
    """Give the chainrule module the torch module's parameter values; the (name, ours, theirs) triples."""
    cp, tp = dict(cmod.named_parameters()), dict(tmod.named_parameters())
    assert sorted(cp) == sorted(tp)
    for name, p in cp.items():
        p.data[...] = tp[name].detach().numpy()
    return [(name, cp[name], tp[name]) for name in sorted(cp)]


def _np_dtype(t) -> np.dtype:
    return np.dtype(str(t.dtype).replace("torch.", ""))


def _compare(torch, cfn, tfn, arrays, params=(), rtol=2e-5, atol=1e-6) -> None:
    """Run ``cfn`` on chainrule tensors and ``tfn`` on torch tensors made from the same arrays,
    backpropagate the sum of all float outputs, compare outputs (shape, dtype, values), the
    inputs' gradients and the (name, ours, theirs) parameter gradients.  Where torch raises,
    chainrule must raise too."""
    t_in = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    c_in = [cr.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    try:
        t_out = _flat(tfn(*t_in))
    except (RuntimeError, ValueError, IndexError) as err:
        with pytest.raises((RuntimeError, ValueError, IndexError)):
            cfn(*c_in)
        return err
    c_out = _flat(cfn(*c_in))
    assert len(c_out) == len(t_out)
    for c, t in zip(c_out, t_out):
        assert tuple(c.shape) == tuple(t.shape)
        assert c.dtype == _np_dtype(t)
        np.testing.assert_allclose(c.detach().numpy(), t.detach().numpy(), rtol=rtol, atol=atol, equal_nan=True)
    t_float = [t for t in t_out if t.requires_grad]
    c_float = [c for c in c_out if c.requires_grad]
    assert len(c_float) == len(t_float)
    if not t_float:
        return None
    sum(t.sum() for t in t_float).backward()
    sum(c.sum() for c in c_float).backward()
    for c, t in zip(c_in, t_in):
        if t.grad is None:
            continue
        assert c.grad is not None and tuple(c.grad.shape) == tuple(t.grad.shape)
        np.testing.assert_allclose(c.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=atol, equal_nan=True)
    for name, cp, tp in params:
        assert cp.grad is not None, name
        assert tuple(cp.grad.shape) == tuple(tp.shape), name
        np.testing.assert_allclose(cp.grad.numpy(), tp.grad.numpy(), rtol=rtol, atol=atol, err_msg=name)
    return None


def _module_case(torch, make, shape, batch, train=True, call=None):
    """Build ``make(nn)`` in both libraries (same parameters), run ``call(module, x)`` on a
    (batch, ...) input of ``shape`` with the batch at the position of the 0 in ``shape``."""
    torch.manual_seed(0)
    tmod, cmod = make(torch.nn), make(nn)
    tmod.train(train)
    cmod.train(train)
    params = _copy_params(cmod, tmod)
    # each case its own seeded draw: the data (and float32 rounding, e.g. LayerNorm's input
    # gradient, zero in exact arithmetic) must not depend on which tests ran before in the worker
    rng = np.random.default_rng(batch + 101 * len(shape))
    x = rng.standard_normal(tuple(batch if s == 0 else s for s in shape)).astype(np.float32)
    call = call or (lambda m, lib, x: m(x))
    _compare(torch, lambda x: call(cmod, cr, x), lambda x: call(tmod, torch, x), [x], params, rtol=1e-4, atol=1e-5)
    return cmod, tmod


# ----------------------------------------------------------------------------- layers at batch 0 (and 2)
LAYERS = {
    "linear": (lambda nn: nn.Linear(3, 4), (0, 3)),
    "linear-3d": (lambda nn: nn.Linear(3, 4), (0, 2, 3)),
    "linear-no-bias": (lambda nn: nn.Linear(3, 4, bias=False), (0, 3)),
    "conv1d": (lambda nn: nn.Conv1d(4, 6, 3), (0, 4, 7)),
    "conv1d-pad-stride-dil-groups": (lambda nn: nn.Conv1d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2),
                                     (0, 4, 9)),
    "conv1d-same": (lambda nn: nn.Conv1d(4, 6, 4, padding="same"), (0, 4, 7)),
    "conv2d": (lambda nn: nn.Conv2d(4, 6, 3), (0, 4, 7, 6)),
    "conv2d-padding": (lambda nn: nn.Conv2d(4, 6, 3, padding=1), (0, 4, 5, 5)),
    "conv2d-stride": (lambda nn: nn.Conv2d(4, 6, (3, 2), stride=(2, 1)), (0, 4, 7, 6)),
    "conv2d-dilation": (lambda nn: nn.Conv2d(4, 6, 3, dilation=2), (0, 4, 7, 7)),
    "conv2d-groups": (lambda nn: nn.Conv2d(4, 6, 3, groups=2, bias=False), (0, 4, 5, 5)),
    "conv2d-depthwise": (lambda nn: nn.Conv2d(4, 4, 3, groups=4, padding=1), (0, 4, 5, 5)),
    "conv2d-same": (lambda nn: nn.Conv2d(4, 6, 3, padding="same"), (0, 4, 5, 5)),
    "maxpool1d": (lambda nn: nn.MaxPool1d(2), (0, 3, 5)),
    "maxpool1d-ceil": (lambda nn: nn.MaxPool1d(2, ceil_mode=True), (0, 3, 5)),
    "maxpool2d": (lambda nn: nn.MaxPool2d(3, stride=2, padding=1), (0, 3, 6, 5)),
    "maxpool2d-ceil": (lambda nn: nn.MaxPool2d(2, ceil_mode=True), (0, 3, 5, 5)),
    "maxpool2d-ceil-small": (lambda nn: nn.MaxPool2d(3, ceil_mode=True), (0, 3, 2, 2)),
    "maxpool2d-indices": (lambda nn: nn.MaxPool2d(2, return_indices=True), (0, 3, 5, 4)),
    "avgpool1d": (lambda nn: nn.AvgPool1d(3, stride=2, padding=1), (0, 3, 6)),
    "avgpool1d-ceil": (lambda nn: nn.AvgPool1d(2, ceil_mode=True), (0, 3, 5)),
    "avgpool2d": (lambda nn: nn.AvgPool2d(2), (0, 3, 5, 5)),
    "avgpool2d-ceil-nopad": (lambda nn: nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
                             (0, 3, 5, 4)),
    "avgpool2d-ceil-small": (lambda nn: nn.AvgPool2d(3, ceil_mode=True), (0, 3, 2, 2)),
    "adaptive-avgpool1d": (lambda nn: nn.AdaptiveAvgPool1d(3), (0, 3, 5)),
    "adaptive-avgpool2d": (lambda nn: nn.AdaptiveAvgPool2d((3, 2)), (0, 3, 5, 5)),
    "adaptive-avgpool2d-1": (lambda nn: nn.AdaptiveAvgPool2d(1), (0, 3, 5, 5)),
    "batchnorm1d": (lambda nn: nn.BatchNorm1d(3), (0, 3)),
    "batchnorm1d-3d": (lambda nn: nn.BatchNorm1d(3), (0, 3, 4)),
    "batchnorm1d-no-affine": (lambda nn: nn.BatchNorm1d(3, affine=False), (0, 3)),
    "batchnorm1d-untracked": (lambda nn: nn.BatchNorm1d(3, track_running_stats=False), (0, 3, 2)),
    "batchnorm2d": (lambda nn: nn.BatchNorm2d(3), (0, 3, 4, 4)),
    "batchnorm2d-momentum-none": (lambda nn: nn.BatchNorm2d(3, momentum=None), (0, 3, 2, 3)),
    "layernorm": (lambda nn: nn.LayerNorm(3), (0, 3)),
    "layernorm-2d": (lambda nn: nn.LayerNorm((5, 3)), (0, 5, 3)),
    "flatten": (lambda nn: nn.Sequential(nn.Conv2d(2, 3, 2), nn.Flatten(), nn.Linear(27, 2)), (0, 2, 4, 4)),
    "unflatten": (lambda nn: nn.Sequential(nn.Linear(6, 6), nn.Unflatten(1, (2, 3))), (0, 6)),
    "unfold": (lambda nn: nn.Sequential(nn.Conv2d(2, 3, 1), nn.Unfold(2, padding=1, stride=2)), (0, 2, 4, 5)),
    "fold": (lambda nn: nn.Sequential(nn.Linear(4, 4), nn.Fold((3, 3), 2)), (0, 4, 4)),
    "bilinear": (lambda nn: nn.Bilinear(3, 2, 4), (0, 3)),
    "rnn-cell": (lambda nn: nn.RNNCell(3, 4), (0, 3)),
    "rnn-cell-relu": (lambda nn: nn.RNNCell(3, 4, nonlinearity="relu"), (0, 3)),
    "lstm-cell": (lambda nn: nn.LSTMCell(3, 4), (0, 3)),
    "gru-cell": (lambda nn: nn.GRUCell(3, 4), (0, 3)),
}


def _call_bilinear(m, lib, x):
    return m(x, x[:, :2] * 2.0)


def _call_cell_with_state(m, lib, x):
    h = lib.ones(x.shape[0], 4) * 0.5
    return m(x, (h, h * 2.0)) if m.__class__.__name__ == "LSTMCell" else m(x, h)


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's note on even kernels
@pytest.mark.parametrize("batch", [0, 2])
@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("case", sorted(LAYERS))
def test_layer_empty_batch_matches_torch(torch, native_path, case, train, batch):
    make, shape = LAYERS[case]
    call = _call_bilinear if case == "bilinear" else None
    _module_case(torch, make, shape, batch, train, call)


@pytest.mark.parametrize("batch", [0, 3])
@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_with_state_empty_batch(torch, native_path, kind, batch):
    _module_case(torch, lambda nn: getattr(nn, kind)(3, 4), (0, 3), batch, True, _call_cell_with_state)


def test_dropout_empty_batch(torch):
    for make, shape in [(lambda nn: nn.Dropout(0.5), (0, 3)), (lambda nn: nn.Dropout1d(0.5), (0, 3, 4)),
                        (lambda nn: nn.Dropout2d(0.5), (0, 3, 2, 2)), (lambda nn: nn.Dropout(0.5), (4, 0))]:
        for train in (True, False):
            _module_case(torch, make, shape, 0, train)


@pytest.mark.parametrize("batch", [0, 2])
def test_embedding_empty_batch(torch, native_path, batch):
    for kw in ({}, {"padding_idx": 1}, {"max_norm": 1.0}):
        torch.manual_seed(0)
        tmod, cmod = torch.nn.Embedding(6, 3, **kw), nn.Embedding(6, 3, **kw)
        params = _copy_params(cmod, tmod)
        idx = RNG.integers(0, 6, (batch, 4))
        _compare(torch, cmod, tmod, [idx], params)


RNN_CASES = list(itertools.product(["RNN", "LSTM", "GRU"], [False, True], [False, True], [False, True]))


@pytest.mark.parametrize("batch", [0, 2])
@pytest.mark.parametrize("kind, batch_first, bidirectional, with_state", RNN_CASES)
def test_recurrent_empty_batch_matches_torch(torch, native_path, kind, batch_first, bidirectional, with_state,
                                             batch):
    """Two layers, both batch layouts, one or two directions, with and without (h0[, c0])."""
    D = 2 if bidirectional else 1

    def make(lib_nn):
        return getattr(lib_nn, kind)(3, 4, num_layers=2, batch_first=batch_first, bidirectional=bidirectional)

    def call(m, lib, x):
        if not with_state:
            return m(x)
        n = x.shape[0] if batch_first else x.shape[1]
        h0 = lib.ones(2 * D, n, 4) * 0.25
        return m(x, (h0, h0 * -1.0)) if kind == "LSTM" else m(x, h0)

    _module_case(torch, make, (0, 5, 3) if batch_first else (5, 0, 3), batch, True, call)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_recurrent_empty_batch_relu_no_bias_unbatched(torch, native_path, kind):
    kw = {"nonlinearity": "relu"} if kind == "RNN" else {}
    _module_case(torch, lambda lib_nn: getattr(lib_nn, kind)(3, 4, bias=False, **kw), (5, 0, 3), 0)
    # a sequence of length 0 is an error in both
    _module_case(torch, lambda lib_nn: getattr(lib_nn, kind)(3, 4), (0, 2, 3), 0)


@pytest.mark.parametrize("batch", [0, 2])
@pytest.mark.parametrize("masks", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_multihead_attention_empty_batch(torch, batch_first, masks, batch):
    def call(m, lib, x):
        if not masks:
            return m(x, x, x)
        n = x.shape[0] if batch_first else x.shape[1]
        pad = np.zeros((n, 5), bool)
        pad[:, -1] = True
        causal = np.triu(np.ones((5, 5), bool), 1)
        return m(x, x, x, key_padding_mask=lib.tensor(pad), attn_mask=lib.tensor(causal),
                 average_attn_weights=False)

    _module_case(torch, lambda lib_nn: lib_nn.MultiheadAttention(4, 2, batch_first=batch_first),
                 (0, 5, 4) if batch_first else (5, 0, 4), batch, True, call)


def test_conv_empty_batch_with_chunked_products(torch, monkeypatch):
    """The column-chunked products (CHUNK_GEMMS) also take 0 columns."""
    from chainrule.nn.functional import conv as conv_mod

    monkeypatch.setattr(conv_mod, "CHUNK_GEMMS", True)
    for batch in (0, 3):
        _module_case(torch, lambda nn: nn.Conv2d(3, 4, 3, padding=1, groups=1), (0, 3, 6, 6), batch)


def test_causal_conv1d_empty_batch():
    """No PyTorch twin: the output is (0, C_out, L) and the parameter gradients are sums over no
    samples, zeros."""
    m = nn.CausalConv1d(2, 3, 3, dilation=2)
    x = cr.zeros(0, 2, 7, requires_grad=True)
    y = m(x)
    assert tuple(y.shape) == (0, 3, 7)
    y.sum().backward()
    assert tuple(x.grad.shape) == (0, 2, 7)
    for _, p in m.named_parameters():
        np.testing.assert_array_equal(p.grad.numpy(), np.zeros(p.shape, np.float32))


DOUBLE = {
    "conv2d": (lambda nn: nn.Conv2d(2, 3, 3, padding=1, stride=2), (0, 2, 5, 5)),
    "batchnorm2d": (lambda nn: nn.BatchNorm2d(2), (0, 2, 3, 3)),
    "lstm": (lambda nn: nn.LSTM(3, 4, num_layers=2), (4, 0, 3)),
    "gru": (lambda nn: nn.GRU(3, 4, bidirectional=True), (4, 0, 3)),
    "rnn": (lambda nn: nn.RNN(3, 4, batch_first=True), (0, 4, 3)),
    "maxpool-ceil-small": (lambda nn: nn.Sequential(nn.Conv2d(2, 2, 1), nn.MaxPool2d(3, ceil_mode=True)),
                           (0, 2, 2, 2)),
    "avgpool-ceil-small": (lambda nn: nn.Sequential(nn.Conv2d(2, 2, 1), nn.AvgPool2d(3, 2, 1, ceil_mode=True)),
                           (0, 2, 2, 2)),
}


@pytest.mark.parametrize("case", sorted(DOUBLE))
def test_double_backward_and_forward_mode_empty_batch(torch, native_path, case):
    """create_graph=True through a batch of 0: the gradient of Σ (dL/dθ)² with L = Σ y² (zeros of
    every parameter's shape, as PyTorch); forward mode gives a tangent of the output's shape."""
    from chainrule import func

    make, shape = DOUBLE[case]
    torch.manual_seed(0)
    tmod, cmod = make(torch.nn), make(nn)
    params = _copy_params(cmod, tmod)
    x = np.zeros(shape, np.float32)

    def first(y):
        return y[0] if isinstance(y, tuple) else y

    for lib, mod, xin in ((torch, tmod, torch.tensor(x, requires_grad=True)),
                          (cr, cmod, cr.tensor(x, requires_grad=True))):
        y = first(mod(xin))
        ps = [p for _, p in sorted(mod.named_parameters())]
        grads = lib.autograd.grad((y * y).sum(), [xin] + ps, create_graph=True, allow_unused=True)
        total = sum((g * g).sum() for g in grads if g is not None)
        if total.requires_grad:
            total.backward()
    for name, cp, tp in params:
        tgrad = np.zeros(tuple(tp.shape), np.float32) if tp.grad is None else tp.grad.numpy()
        cgrad = np.zeros(cp.shape, np.float32) if cp.grad is None else cp.grad.numpy()
        np.testing.assert_array_equal(cgrad, tgrad, err_msg=name)
    y, dy = func.jvp(lambda t: first(cmod(t)), (cr.tensor(x),), (cr.tensor(np.ones(shape, np.float32)),))
    assert tuple(dy.shape) == tuple(y.shape) == tuple(first(tmod(torch.tensor(x))).shape)


# ----------------------------------------------------------------------------- batch norm: running statistics
@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("shape", [(0, 3), (0, 3, 4), (0, 3, 2, 2)])
def test_batch_norm_train_empty_batch_keeps_running_stats(torch, shape, momentum):
    """PyTorch returns the empty output without touching running_mean/var (a mean over no
    values is undefined), and the module still counts the batch in num_batches_tracked."""
    kind = "BatchNorm2d" if len(shape) == 4 else "BatchNorm1d"
    tmod, cmod = getattr(torch.nn, kind)(3, momentum=momentum), getattr(nn, kind)(3, momentum=momentum)
    for m in (tmod, cmod):
        m.running_mean.data[...] = m.running_mean.data * 0 + 0.5
        m.running_var.data[...] = m.running_var.data * 0 + 2.0
    params = _copy_params(cmod, tmod)
    x = np.zeros(shape, np.float32)
    _compare(torch, cmod, tmod, [x], params)
    np.testing.assert_array_equal(cmod.running_mean.numpy(), tmod.running_mean.numpy())
    np.testing.assert_array_equal(cmod.running_var.numpy(), tmod.running_var.numpy())
    assert int(cmod.num_batches_tracked.numpy()) == int(tmod.num_batches_tracked) == 1
    # a later non-empty batch updates them as PyTorch does (cumulative average for momentum=None)
    x = RNG.standard_normal((4,) + shape[1:]).astype(np.float32)
    _compare(torch, cmod, tmod, [x], (), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(cmod.running_mean.numpy(), tmod.running_mean.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cmod.running_var.numpy(), tmod.running_var.numpy(), rtol=1e-5, atol=1e-6)


def test_batch_norm_functional_empty_and_single_value(torch):
    """Empty input trains to an empty output (no error); one value per channel is PyTorch's ValueError."""
    for shape in [(0, 3), (0, 3, 5), (2, 0), (2, 0, 3)]:
        c = shape[1]
        # (PyTorch's empty path reads weight[0]: an IndexError for 0 channels; not copied here)
        for affine in (False, True) if c else (False,):
            w = RNG.standard_normal(c).astype(np.float32)
            b = RNG.standard_normal(c).astype(np.float32)
            x = np.zeros(shape, np.float32)
            extra = [w, b] if affine else []

            def cfn(x, *wb):
                return F.batch_norm(x, None, None, *wb, training=True)

            def tfn(x, *wb):
                return torch.nn.functional.batch_norm(x, None, None, *wb, training=True)

            _compare(torch, cfn, tfn, [x] + extra)
    for shape in [(1, 3), (1, 3, 1), (1, 3, 1, 1)]:
        with pytest.raises(ValueError, match="more than 1 value per channel"):
            torch.nn.functional.batch_norm(torch.zeros(shape), None, None, training=True)
        with pytest.raises(ValueError, match="more than 1 value per channel"):
            F.batch_norm(cr.zeros(*shape), None, None, training=True)


# ----------------------------------------------------------------------------- reshape paths
def test_flatten_and_reshape_empty_batch(torch):
    cases = [
        (lambda x: x.reshape(-1, 12), (0, 3, 2, 2)),
        (lambda x: x.reshape(0, -1), (0, 3, 2, 2)),  # ambiguous: an error in both
        (lambda x: x.reshape(x.shape[0], 12), (0, 3, 2, 2)),
        (lambda x: x.flatten(1), (0, 3, 2, 2)),
        (lambda x: x.flatten(), (0, 3, 2, 2)),
        (lambda x: x.view(0, 3, 4), (0, 3, 2, 2)),
        (lambda x: x.transpose(0, 1).reshape(3, -1), (0, 3, 2, 2)),
        (lambda x: x.permute(1, 0, 2).unsqueeze(0).squeeze(0), (0, 3, 2)),
    ]
    for fn, shape in cases:
        _compare(torch, fn, fn, [np.zeros(shape, np.float32)])


# ----------------------------------------------------------------------------- losses at batch 0
def _losses(lib, F_):
    """(name, fn(x) -> loss) for each loss and reduction; ``lib`` makes the integer targets."""
    def idx(*shape):
        return lib.tensor(np.zeros(shape, np.int64))

    w3 = lib.tensor(np.array([0.5, 1.0, 2.0], np.float32))
    out = []
    for red in ("mean", "sum", "none"):
        out += [
            (f"mse-{red}", lambda x, r=red: F_.mse_loss(x, x.detach() * 0.5, reduction=r)),
            (f"l1-{red}", lambda x, r=red: F_.l1_loss(x, x.detach() * 0.5, reduction=r)),
            (f"huber-{red}", lambda x, r=red: F_.huber_loss(x, x.detach() * 0.5, reduction=r, delta=0.5)),
            (f"smooth-l1-{red}", lambda x, r=red: F_.smooth_l1_loss(x, x.detach() * 0.5, reduction=r, beta=0.5)),
            (f"bce-{red}", lambda x, r=red: F_.binary_cross_entropy(x.sigmoid(), x.detach().sigmoid(), reduction=r)),
            (f"bce-logits-{red}", lambda x, r=red: F_.binary_cross_entropy_with_logits(
                x, x.detach().sigmoid(), reduction=r, pos_weight=w3)),
            (f"ce-{red}", lambda x, r=red: F_.cross_entropy(x, idx(x.shape[0]), reduction=r)),
            (f"ce-weight-{red}", lambda x, r=red: F_.cross_entropy(x, idx(x.shape[0]), weight=w3, reduction=r)),
            (f"ce-smooth-{red}", lambda x, r=red: F_.cross_entropy(x, idx(x.shape[0]), reduction=r,
                                                                   label_smoothing=0.1)),
            (f"ce-probs-{red}", lambda x, r=red: F_.cross_entropy(x, x.detach().softmax(1), reduction=r)),
            (f"nll-{red}", lambda x, r=red: F_.nll_loss(x, idx(x.shape[0]), reduction=r)),
            (f"nll-weight-{red}", lambda x, r=red: F_.nll_loss(x, idx(x.shape[0]), weight=w3, reduction=r)),
            (f"kl-{red}", lambda x, r=red: F_.kl_div(x, x.detach().softmax(1), reduction=r)),
            (f"kl-log-target-{red}", lambda x, r=red: F_.kl_div(x, x.detach(), reduction=r, log_target=True)),
        ]
    out.append(("kl-batchmean", lambda x: F_.kl_div(x, x.detach().softmax(1), reduction="batchmean")))
    out.append(("ce-4d", lambda x: F_.cross_entropy(x.reshape(x.shape[0], 3, 1, 1), idx(x.shape[0], 1, 1))))
    return out


@pytest.mark.filterwarnings("ignore")  # torch warns about kl_div's 'mean'; NumPy about means of nothing
@pytest.mark.parametrize("batch", [0, 4])
def test_losses_empty_batch_match_torch(torch, batch):
    """'sum' and 'none' of no samples: 0 and an empty tensor; 'mean' (and 'batchmean') is 0/0 = NaN in
    PyTorch; the input gradient is empty either way."""
    x = RNG.standard_normal((batch, 3)).astype(np.float32)
    ours, theirs = _losses(cr, F), _losses(torch, torch.nn.functional)
    for (name, cfn), (_, tfn) in zip(ours, theirs):
        try:
            _compare(torch, cfn, tfn, [x], rtol=1e-5, atol=1e-6)
        except AssertionError as err:
            raise AssertionError(f"{name}: {err}") from err


def test_loss_modules_after_empty_network(torch, native_path):
    """A whole batch-0 step: conv -> pool -> flatten -> linear -> cross-entropy (sum), parameters get zeros."""
    def make(lib_nn):
        return lib_nn.Sequential(lib_nn.Conv2d(1, 2, 3, padding=1), lib_nn.ReLU(), lib_nn.MaxPool2d(2, ceil_mode=True),
                                 lib_nn.BatchNorm2d(2), lib_nn.Flatten(), lib_nn.Linear(18, 3))

    def call(m, lib, x):
        target = lib.tensor(np.zeros(x.shape[0], np.int64))
        loss_fn = (lib.nn.CrossEntropyLoss if lib is torch else nn.CrossEntropyLoss)(reduction="sum")
        return loss_fn(m(x), target)

    cmod, _ = _module_case(torch, make, (0, 1, 5, 5), 0, True, call)
    for _, p in cmod.named_parameters():
        np.testing.assert_array_equal(p.grad.numpy(), np.zeros(p.shape, np.float32))


# ----------------------------------------------------------------------------- pooling: ceil_mode and small inputs
def _pool_fns(torch, d, kind, k, s, p, dil, ceil, cip):
    tf = torch.nn.functional
    if kind == "max":  # with the argmax indices (an int64 output compared as values)
        return (lambda x: getattr(F, f"max_pool{d}d")(x, k, s, p, dil, ceil, True),
                lambda x: getattr(tf, f"max_pool{d}d")(x, k, s, p, dil, ceil, True))
    return (lambda x: getattr(F, f"avg_pool{d}d")(x, k, s, p, ceil, cip),
            lambda x: getattr(tf, f"avg_pool{d}d")(x, k, s, p, ceil, cip))


def _window_in_padding_only(torch, tfn, x) -> bool:
    """A dilated window can hold padding only (n=1, k=2, δ=2, p=1): its max is -inf and PyTorch's
    gradient for it is not defined (it lands on varying elements), so the grid leaves it out."""
    try:
        return bool(torch.isinf(tfn(torch.tensor(x))[0]).any())
    except RuntimeError:
        return False


@pytest.mark.parametrize("d", [1, 2])
def test_pooling_grid_matches_torch(torch, d):
    """Output shape, values, input gradient (or the error) for every size/kernel/stride/padding
    (and dilation for max, count_include_pad for avg), with and without ceil_mode, including
    inputs smaller than the kernel."""
    configs = 0
    errors = 0
    for n, k, s, ceil in itertools.product(range(1, 7), range(1, 5), range(1, 4), (False, True)):
        for p in range(0, k // 2 + 1):
            variants = [("max", dil, True) for dil in (1, 2)]
            # (without padding count_include_pad changes nothing: the ceil_mode overhang never counts)
            variants += [("avg", 1, cip) for cip in ((True, False) if p else (True,))]
            for kind, dil, cip in variants:
                shape = (2, 2, n) if d == 1 else (1, 2, n, n + 1)
                x = RNG.standard_normal(shape)
                kk = k if d == 1 else (k, max(k - 1, 1))
                cfn, tfn = _pool_fns(torch, d, kind, kk, s, p, dil, ceil, cip)
                if kind == "max" and _window_in_padding_only(torch, tfn, x):
                    continue
                try:
                    err = _compare(torch, cfn, tfn, [x], rtol=1e-12, atol=1e-12)
                except AssertionError as e:
                    raise AssertionError(f"{kind}_pool{d}d n={n} k={kk} s={s} p={p} dil={dil} ceil={ceil} "
                                         f"count_include_pad={cip}: {e}") from e
                configs += 1
                errors += err is not None
    assert configs > 400 and 0 < errors < configs  # the grid covers both outcomes


@pytest.mark.parametrize("batch", [0, 2])
def test_adaptive_avg_pool_grid_matches_torch(torch, batch):
    """Every input size against every output size, smaller and larger than the input."""
    for n, o in itertools.product(range(1, 6), range(1, 7)):
        x1 = RNG.standard_normal((batch, 2, n))
        _compare(torch, lambda t: F.adaptive_avg_pool1d(t, o),
                 lambda t: torch.nn.functional.adaptive_avg_pool1d(t, o), [x1], rtol=1e-12, atol=1e-12)
        x2 = RNG.standard_normal((batch, 2, n, 3))
        for size in ((o, 2), (o, None), o):
            _compare(torch, lambda t: F.adaptive_avg_pool2d(t, size),
                     lambda t: torch.nn.functional.adaptive_avg_pool2d(t, size), [x2], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape, k, s, p, ceil", [
    ((1, 2, 2, 2), 3, 3, 0, True),       # input smaller than the kernel: one window, clipped
    ((1, 1, 1, 1), 2, 2, 0, True),
    ((2, 1, 2, 3), 3, 2, 1, True),
    ((1, 2, 1, 4), (3, 2), 2, (1, 0), True),
    ((1, 1, 2, 5), 4, 3, 1, True),
])
def test_small_input_ceil_mode_shapes_and_gradcheck(shape, k, s, p, ceil):
    """Sizes from the formula above; gradients by finite differences (float64)."""
    kk = (k, k) if isinstance(k, int) else k
    pp = (p, p) if isinstance(p, int) else p
    want = []
    for n, ki, pi in zip(shape[2:], kk, pp):
        out = (n + 2 * pi - (ki - 1) - 1 + s - 1) // s + 1
        if (out - 1) * s >= n + pi:
            out -= 1
        want.append(out)
    x = cr.tensor(RNG.standard_normal(shape), requires_grad=True)
    for fn in (lambda t: F.max_pool2d(t, k, s, p, ceil_mode=ceil),
               lambda t: F.avg_pool2d(t, k, s, p, ceil_mode=ceil),
               lambda t: F.avg_pool2d(t, k, s, p, ceil_mode=ceil, count_include_pad=False)):
        assert tuple(fn(x).shape) == shape[:2] + tuple(want)
        assert gradcheck(fn, (x,))
    x1 = cr.tensor(RNG.standard_normal(shape[1:]), requires_grad=True)  # unbatched (C, H, W)
    assert tuple(F.max_pool2d(x1, k, s, p, ceil_mode=ceil).shape) == shape[1:2] + tuple(want)


def test_small_input_ceil_mode_single_window_values():
    """A 2×2 map under a 3×3 kernel with ceil_mode: the one window is the whole map, so max and
    mean of the four values (PyTorch divides by the window clipped to the input, here 4)."""
    x = RNG.standard_normal((1, 1, 2, 2))
    xt = cr.tensor(x)
    np.testing.assert_allclose(F.max_pool2d(xt, 3, ceil_mode=True).numpy(), x.max().reshape(1, 1, 1, 1))
    np.testing.assert_allclose(F.avg_pool2d(xt, 3, ceil_mode=True).numpy(), x.mean().reshape(1, 1, 1, 1))
    with pytest.raises(ValueError, match="too small"):
        F.max_pool2d(xt, 3, stride=1, ceil_mode=True)  # out = floor((2 - 3 + 0) / 1) + 1 = 0
    with pytest.raises(ValueError, match="too small"):
        F.avg_pool2d(xt, 3)  # without ceil_mode: floor(-1 / 3) + 1 = 0


# ----------------------------------------------------------------------------- gradcheck of the changed ops (float64)
def test_changed_ops_gradcheck_float64(native_path):
    """conv (its product helpers), batch norm (train), LSTM/GRU/RNN sequences still pass gradcheck."""
    x = cr.tensor(RNG.standard_normal((2, 2, 5, 4)), requires_grad=True)
    w = cr.tensor(RNG.standard_normal((4, 1, 3, 2)), requires_grad=True)
    b = cr.tensor(RNG.standard_normal(4), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, groups=2), (x, w, b))
    g = cr.tensor(RNG.standard_normal(2), requires_grad=True)
    assert gradcheck(lambda x, g, b: F.batch_norm(x, None, None, g, b[:2], training=True), (x, g, b))
    xs = cr.tensor(RNG.standard_normal((3, 2, 3)), requires_grad=True)
    for kind, gates in (("lstm", 4), ("gru", 3), ("rnn_tanh", 1)):
        wi = cr.tensor(RNG.standard_normal((gates * 2, 3)) * 0.5, requires_grad=True)
        wh = cr.tensor(RNG.standard_normal((gates * 2, 2)) * 0.5, requires_grad=True)
        h0 = cr.zeros(1, 2, 2)
        hx = (h0, h0) if kind == "lstm" else h0

        def fn(xs, wi, wh, kind=kind, hx=hx):
            return getattr(F, kind)(xs, hx, [wi, wh], False, 1, 0.0, True, False, False)[0]

        assert gradcheck(fn, (xs, wi, wh))
