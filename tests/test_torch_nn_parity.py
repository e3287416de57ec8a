"""PyTorch parity of the nn modules and nn.utils that everyday programs use (issue 12, item 4).

PyTorch is the oracle: its state_dict is loaded into the chainrule module (same parameter
names), both run in float64 on the same inputs, and outputs and every parameter's gradient
must agree.  Dropout is off (eval mode) where the comparison needs it.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = [
    pytest.mark.filterwarnings("ignore:Support for mismatched"),  # torch: bool padding mask with a float mask
    pytest.mark.filterwarnings("ignore:enable_nested_tensor"),
    pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths"),  # torch's note
]

import chainrule as cr
from chainrule import nn

torch = pytest.importorskip("torch")

RTOL, ATOL = 1e-9, 1e-10


def load_from_torch(cm, tm):
    """Copy torch module ``tm``'s state_dict into chainrule module ``cm`` (names must match exactly)."""
    cm.double()
    sd = {k: cr.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()}
    cm.load_state_dict(sd, strict=True)
    return cm


def c(a, grad=False):
    return cr.tensor(np.array(a, dtype=np.float64), requires_grad=grad)


def t(a, grad=False):
    return torch.tensor(np.array(a, dtype=np.float64), requires_grad=grad)


def close(a, b, rtol=RTOL, atol=ATOL):
    a = a.detach().numpy() if isinstance(a, cr.Tensor) else np.asarray(a)
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def compare_grads(cm, tm, rtol=1e-8, atol=1e-10):
    tg = {n: p.grad for n, p in tm.named_parameters()}
    cg = {n: p.grad for n, p in cm.named_parameters()}
    assert set(tg) == set(cg)
    for n in tg:
        if tg[n] is None:
            assert cg[n] is None or np.all(cg[n].numpy() == 0), n
            continue
        assert cg[n] is not None, n
        np.testing.assert_allclose(cg[n].numpy(), tg[n].numpy(), rtol=rtol, atol=atol, err_msg=n)


# ------------------------------------------------------------------------------ Transformer
def _pair(cls_c, cls_t, *args, **kw):
    torch.manual_seed(0)
    tm = cls_t(*args, **kw).double().eval()
    cm = cls_c(*args, **kw)
    load_from_torch(cm, tm)
    cm.eval()
    return cm, tm


def _run_both(cm, tm, c_inputs, t_inputs, kw_c=None, kw_t=None):
    yc = cm(*c_inputs, **(kw_c or {}))
    yt = tm(*t_inputs, **(kw_t or {}))
    close(yc, yt)
    rng = np.random.default_rng(1)
    w = rng.standard_normal(tuple(yt.shape))
    (yc * c(w)).sum().backward()
    (yt * t(w)).sum().backward()
    compare_grads(cm, tm)
    for ci, ti in zip(c_inputs, t_inputs):
        if isinstance(ci, cr.Tensor) and ci.requires_grad:
            close(ci.grad, ti.grad, 1e-8, 1e-10)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_matches_torch(batch_first, norm_first, activation):
    cm, tm = _pair(nn.TransformerEncoderLayer, torch.nn.TransformerEncoderLayer, 8, 2, dim_feedforward=16,
                   activation=activation, batch_first=batch_first, norm_first=norm_first)
    assert set(dict(cm.named_parameters())) == set(dict(tm.named_parameters()))
    rng = np.random.default_rng(0)
    S, N = 5, 3
    x = rng.standard_normal((N, S, 8) if batch_first else (S, N, 8))
    mask = np.triu(np.full((S, S), -np.inf), 1)
    kpm = np.zeros((N, S), dtype=bool)
    kpm[1, 3:] = True
    _run_both(cm, tm, [c(x, True)], [t(x, True)],
              dict(src_mask=c(mask), src_key_padding_mask=cr.tensor(kpm)),
              dict(src_mask=t(mask), src_key_padding_mask=torch.tensor(kpm)))


def test_encoder_layer_callable_activation_no_bias_bool_mask_unbatched():
    cm, tm = _pair(nn.TransformerEncoderLayer, torch.nn.TransformerEncoderLayer, 6, 3, 12, 0.0, bias=False,
                   layer_norm_eps=1e-3)
    cm.activation = cr.tanh
    tm.activation = torch.tanh
    x = np.random.default_rng(2).standard_normal((4, 6))
    mask = np.array([[False, True, True, True], [False, False, True, True], [False] * 4, [False] * 4])
    _run_both(cm, tm, [c(x, True)], [t(x, True)], dict(src_mask=cr.tensor(mask)),
              dict(src_mask=torch.tensor(mask)))


def test_encoder_is_causal_equals_causal_mask():
    cm, tm = _pair(nn.TransformerEncoderLayer, torch.nn.TransformerEncoderLayer, 8, 2, 16, batch_first=True)
    x = np.random.default_rng(3).standard_normal((2, 5, 8))
    m = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)
    ref = tm(t(x), src_mask=m, is_causal=True)
    close(cm(c(x), is_causal=True), ref)
    close(cm(c(x), src_mask=nn.Transformer.generate_square_subsequent_mask(5, dtype=cr.float64), is_causal=True),
          ref)


def test_generate_square_subsequent_mask():
    got = nn.Transformer.generate_square_subsequent_mask(4)
    want = torch.nn.Transformer.generate_square_subsequent_mask(4)
    assert got.dtype == cr.float32
    np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_matches_torch(batch_first, norm_first):
    cm, tm = _pair(nn.TransformerDecoderLayer, torch.nn.TransformerDecoderLayer, 8, 2, 16, activation="gelu",
                   batch_first=batch_first, norm_first=norm_first)
    rng = np.random.default_rng(4)
    T, S, N = 4, 6, 2
    shp = (lambda L: (N, L, 8)) if batch_first else (lambda L: (L, N, 8))
    x, mem = rng.standard_normal(shp(T)), rng.standard_normal(shp(S))
    tmask = np.triu(np.full((T, T), -np.inf), 1)
    mkpm = np.zeros((N, S))
    mkpm[0, 4:] = -np.inf  # a float key padding mask
    tkpm = np.zeros((N, T), dtype=bool)
    tkpm[1, 3] = True
    _run_both(cm, tm, [c(x, True), c(mem, True)], [t(x, True), t(mem, True)],
              dict(tgt_mask=c(tmask), tgt_key_padding_mask=cr.tensor(tkpm), memory_key_padding_mask=c(mkpm)),
              dict(tgt_mask=t(tmask), tgt_key_padding_mask=torch.tensor(tkpm), memory_key_padding_mask=t(mkpm)))


def test_encoder_and_decoder_stacks_with_norm():
    torch.manual_seed(0)
    tl = torch.nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
    tm = torch.nn.TransformerEncoder(tl, 2, norm=torch.nn.LayerNorm(8), enable_nested_tensor=False).double().eval()
    cm = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 2, norm=nn.LayerNorm(8),
                               enable_nested_tensor=False)
    assert list(cm.state_dict()) == list(tm.state_dict())
    load_from_torch(cm, tm).eval()
    # the copies are independent: changing one layer leaves the other alone
    assert cm.layers[0].linear1.weight is not cm.layers[1].linear1.weight
    x = np.random.default_rng(5).standard_normal((3, 5, 8))
    kpm = np.zeros((3, 5), dtype=bool)
    kpm[2, 2:] = True
    _run_both(cm, tm, [c(x, True)], [t(x, True)], dict(src_key_padding_mask=cr.tensor(kpm)),
              dict(src_key_padding_mask=torch.tensor(kpm)))

    torch.manual_seed(1)
    td = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(8, 2, 16), 3).double().eval()
    cd = load_from_torch(nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16), 3), td).eval()
    y, mem = np.random.default_rng(6).standard_normal((2, 4, 3, 8))
    _run_both(cd, td, [c(y, True), c(mem, True)], [t(y, True), t(mem, True)],
              dict(tgt_is_causal=True, tgt_mask=nn.Transformer.generate_square_subsequent_mask(4, dtype=cr.float64)),
              dict(tgt_is_causal=True, tgt_mask=torch.nn.Transformer.generate_square_subsequent_mask(
                  4, dtype=torch.float64)))


def _encoder_pair(**kw):
    torch.manual_seed(0)
    tm = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 2,
                                     norm=torch.nn.LayerNorm(8), **kw).double().eval()
    cm = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 2, norm=nn.LayerNorm(8),
                               **kw)
    return load_from_torch(cm, tm).eval(), tm


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")  # torch's own note on its path
@pytest.mark.parametrize("float_mask", [False, True])
def test_encoder_inference_leaves_padded_positions_zero_as_torch(float_mask):
    """PyTorch's encoder in inference (eval, no gradient wanted, batch_first, a right-padded key
    padding mask) runs the batch as a nested tensor and pads its output back with zeros: the padded
    positions are 0 (then the final norm's bias), not computed.  Programs that pool without the
    mask see those zeros."""
    cm, tm = _encoder_pair()
    x = np.random.default_rng(5).standard_normal((3, 5, 8))
    kpm = np.zeros((3, 5), dtype=bool)
    kpm[1, 3:] = True
    kpm[2, 1:] = True
    mc, mt = (c(np.where(kpm, -np.inf, 0.0)), t(np.where(kpm, -np.inf, 0.0))) if float_mask else (
        cr.tensor(kpm), torch.tensor(kpm))
    with torch.no_grad():
        want = tm(t(x), src_key_padding_mask=mt)
    with cr.no_grad():
        got = cm(c(x), src_key_padding_mask=mc)
    np.testing.assert_allclose(want.numpy()[2, 1:], np.broadcast_to(tm.norm.bias.detach().numpy(), (4, 8)))
    close(got, want)
    # with gradients wanted, in training mode, or with the nested path off: every position computed
    _run_both(cm, tm, [c(x, True)], [t(x, True)], dict(src_key_padding_mask=mc), dict(src_key_padding_mask=mt))
    cm.train(), tm.train()
    cm.layers[0].dropout.p = cm.layers[1].dropout.p = 0.0
    cm.layers[0].dropout1.p = cm.layers[1].dropout1.p = cm.layers[0].dropout2.p = cm.layers[1].dropout2.p = 0.0
    with cr.no_grad():
        assert (cm(c(x), src_key_padding_mask=mc)[2, 1:] - cm.norm.bias).abs().max().item() > 0.1
    cm.eval(), tm.eval()
    off, _ = _encoder_pair(enable_nested_tensor=False)
    with cr.no_grad():
        assert (off(c(x), src_key_padding_mask=mc)[2, 1:] - off.norm.bias).abs().max().item() > 0.1
    # a mask that is not right-padded (a padded position before a real one): computed, as torch
    kpm[0, 1] = True
    with torch.no_grad():
        want = tm(t(x), src_key_padding_mask=torch.tensor(kpm))
    with cr.no_grad():
        close(cm(c(x), src_key_padding_mask=cr.tensor(kpm)), want)


def test_encoder_warns_as_torch_when_the_nested_path_cannot_run():
    with pytest.warns(UserWarning, match="enable_nested_tensor is True, but self.use_nested_tensor is False "
                                         "because encoder_layer.self_attn.batch_first was not True"):
        m = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 1)
    assert m.use_nested_tensor is False
    with pytest.warns(UserWarning, match="encoder_layer.norm_first was True"):
        nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True, norm_first=True), 1)
    with pytest.warns(UserWarning, match="encoder_layer.self_attn.num_heads is odd"):
        nn.TransformerEncoder(nn.TransformerEncoderLayer(9, 3, 16, batch_first=True), 1)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 1).use_nested_tensor
        nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 1, enable_nested_tensor=False)


@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_matches_torch(batch_first):
    kw = dict(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=12,
              batch_first=batch_first)
    cm, tm = _pair(nn.Transformer, torch.nn.Transformer, **kw)
    assert list(cm.state_dict()) == list(tm.state_dict())
    rng = np.random.default_rng(7)
    N, S, T = 2, 5, 4
    src = rng.standard_normal((N, S, 8) if batch_first else (S, N, 8))
    tgt = rng.standard_normal((N, T, 8) if batch_first else (T, N, 8))
    skpm = np.array([[False] * 5, [False, False, False, True, True]])
    _run_both(cm, tm, [c(src, True), c(tgt, True)], [t(src, True), t(tgt, True)],
              dict(tgt_mask=nn.Transformer.generate_square_subsequent_mask(T, dtype=cr.float64),
                   src_key_padding_mask=cr.tensor(skpm), memory_key_padding_mask=cr.tensor(skpm)),
              dict(tgt_mask=torch.nn.Transformer.generate_square_subsequent_mask(T, dtype=torch.float64),
                   src_key_padding_mask=torch.tensor(skpm), memory_key_padding_mask=torch.tensor(skpm)))


def test_transformer_init_and_errors():
    m = nn.Transformer(8, 2, 1, 1, 16)
    # Xavier-uniform on every matrix: |w| <= sqrt(6 / (fan_in + fan_out))
    w = m.encoder.layers[0].linear1.weight.detach().numpy()
    assert np.abs(w).max() <= np.sqrt(6 / (8 + 16)) and np.abs(w).max() > 0.5 * np.sqrt(6 / (8 + 16))
    with pytest.raises(RuntimeError, match="relu/gelu"):
        nn.TransformerEncoderLayer(8, 2, activation="swish")
    with pytest.raises(ValueError, match="divisible"):
        nn.TransformerEncoderLayer(8, 3)
    layer = nn.TransformerEncoderLayer(8, 2, 16)
    with pytest.raises(ValueError, match=r"TransformerEncoderLayer: expected src.*\(5, 3, 7\)"):
        layer(cr.randn(5, 3, 7))
    with pytest.raises(RuntimeError, match="batch number"):
        m(cr.randn(5, 2, 8), cr.randn(4, 3, 8))


def test_transformer_dropout_active_in_training():
    m = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.5)
    x = cr.randn(4, 2, 8)
    m.train()
    with cr.no_grad():
        a, b = m(x).numpy(), m(x).numpy()
        assert not np.allclose(a, b)
        m.eval()
        np.testing.assert_array_equal(m(x).numpy(), m(x).numpy())


# ------------------------------------------------------------------------------ nn.utils.rnn
from chainrule.nn.utils import rnn as crnn  # noqa: E402

trnn = torch.nn.utils.rnn


def _seqs(lengths, feat=(3,), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n,) + feat) for n in lengths]


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_pad_sequence_matches_torch_with_grad(batch_first, padding_side):
    arrs = _seqs([2, 5, 1, 5], (2, 3))
    cs, ts = [c(a, True) for a in arrs], [t(a, True) for a in arrs]
    yc = crnn.pad_sequence(cs, batch_first=batch_first, padding_value=-7.5, padding_side=padding_side)
    yt = trnn.pad_sequence(ts, batch_first=batch_first, padding_value=-7.5, padding_side=padding_side)
    close(yc, yt, 0, 0)
    w = np.random.default_rng(1).standard_normal(tuple(yt.shape))
    (yc * c(w)).sum().backward()
    (yt * t(w)).sum().backward()
    for a, b in zip(cs, ts):
        close(a.grad, b.grad, 0, 0)


def test_pad_sequence_integer_tokens_and_errors():
    seqs = [cr.tensor([1, 2, 3]), cr.tensor([4])]
    got = crnn.pad_sequence(seqs, batch_first=True)
    want = trnn.pad_sequence([torch.tensor([1, 2, 3]), torch.tensor([4])], batch_first=True)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert got.dtype == cr.int64
    with pytest.raises(RuntimeError, match="pad_sequence: every sequence needs the same trailing shape"):
        crnn.pad_sequence([cr.zeros(2, 3), cr.zeros(2, 4)])
    with pytest.raises(ValueError, match="padding_side"):
        crnn.pad_sequence(seqs, padding_side="middle")


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("as_tensor", [False, True])
def test_pack_padded_round_trip_matches_torch(batch_first, enforce_sorted, as_tensor):
    lengths = [5, 3, 2, 1] if enforce_sorted else [2, 5, 1, 3]
    arrs = _seqs(lengths)
    padded = trnn.pad_sequence([t(a) for a in arrs], batch_first=batch_first).numpy()
    xc, xt = c(padded, True), t(padded, True)
    lc = cr.tensor(lengths) if as_tensor else lengths
    lt = torch.tensor(lengths) if as_tensor else lengths
    pc = crnn.pack_padded_sequence(xc, lc, batch_first=batch_first, enforce_sorted=enforce_sorted)
    pt = trnn.pack_padded_sequence(xt, lt, batch_first=batch_first, enforce_sorted=enforce_sorted)
    assert isinstance(pc, tuple) and len(pc) == 4
    close(pc.data, pt.data, 0, 0)
    np.testing.assert_array_equal(pc.batch_sizes.numpy(), pt.batch_sizes.numpy())
    for a, b in ((pc.sorted_indices, pt.sorted_indices), (pc.unsorted_indices, pt.unsorted_indices)):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    yc, lenc = crnn.pad_packed_sequence(pc, batch_first=batch_first, padding_value=2.5, total_length=7)
    yt, lent = trnn.pad_packed_sequence(pt, batch_first=batch_first, padding_value=2.5, total_length=7)
    close(yc, yt, 0, 0)
    np.testing.assert_array_equal(lenc.numpy(), lent.numpy())
    assert lenc.dtype == cr.int64
    w = np.random.default_rng(2).standard_normal(tuple(yt.shape))
    (yc * c(w)).sum().backward()
    (yt * t(w)).sum().backward()
    close(xc.grad, xt.grad, 0, 0)


def test_pack_sequence_unpack_and_errors():
    arrs = _seqs([1, 4, 2], (2,))
    pc = crnn.pack_sequence([c(a) for a in arrs], enforce_sorted=False)
    pt = trnn.pack_sequence([t(a) for a in arrs], enforce_sorted=False)
    close(pc.data, pt.data, 0, 0)
    for got, a in zip(crnn.unpack_sequence(pc), arrs):
        close(got, a, 0, 0)
    padded, lens = crnn.pad_packed_sequence(pc)
    for got, a in zip(crnn.unpad_sequence(padded, lens), arrs):
        close(got, a, 0, 0)
    with pytest.raises(RuntimeError, match="sorted in decreasing order"):
        crnn.pack_sequence([c(a) for a in arrs])
    with pytest.raises(RuntimeError, match="greater than 0"):
        crnn.pack_padded_sequence(cr.zeros(3, 2, 1), [3, 0])
    with pytest.raises(ValueError, match="expected 2 lengths"):
        crnn.pack_padded_sequence(cr.zeros(3, 2, 1), [3, 2, 1])
    with pytest.raises(ValueError, match="total_length"):
        crnn.pad_packed_sequence(pc, total_length=2)


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_rnn_on_packed_sequence_matches_torch(mode, bidirectional, enforce_sorted):
    torch.manual_seed(0)
    tm = getattr(torch.nn, mode)(3, 4, num_layers=2, bidirectional=bidirectional).double()
    cm = load_from_torch(getattr(nn, mode)(3, 4, num_layers=2, bidirectional=bidirectional), tm)
    lengths = [5, 3, 3, 1] if enforce_sorted else [3, 5, 1, 3]
    arrs = _seqs(lengths, seed=3)
    cs, ts = [c(a, True) for a in arrs], [t(a, True) for a in arrs]
    pc = crnn.pack_sequence(cs, enforce_sorted=enforce_sorted)
    pt = trnn.pack_sequence(ts, enforce_sorted=enforce_sorted)
    D = 2 if bidirectional else 1
    h0 = np.random.default_rng(4).standard_normal((2 * D, 4, 4))
    if mode == "LSTM":
        hc, ht = (c(h0, True), c(h0 * 0.5, True)), (t(h0, True), t(h0 * 0.5, True))
    else:
        hc, ht = c(h0, True), t(h0, True)
    oc, hnc = cm(pc, hc)
    ot, hnt = tm(pt, ht)
    assert isinstance(oc, crnn.PackedSequence)
    close(oc.data, ot.data)
    np.testing.assert_array_equal(oc.batch_sizes.numpy(), ot.batch_sizes.numpy())
    hnc = hnc if mode == "LSTM" else (hnc,)
    hnt = hnt if mode == "LSTM" else (hnt,)
    for a, b in zip(hnc, hnt):
        close(a, b)
    # padded output: zero past each sequence's end, as torch
    yc, _ = crnn.pad_packed_sequence(oc, batch_first=True)
    yt, _ = trnn.pad_packed_sequence(ot, batch_first=True)
    close(yc, yt)
    rng = np.random.default_rng(5)
    w1 = rng.standard_normal(tuple(yt.shape))
    w2 = [rng.standard_normal(tuple(h.shape)) for h in hnt]
    loss_c = (yc * c(w1)).sum() + sum((h * c(w)).sum() for h, w in zip(hnc, w2))
    loss_t = (yt * t(w1)).sum() + sum((h * t(w)).sum() for h, w in zip(hnt, w2))
    loss_c.backward()
    loss_t.backward()
    compare_grads(cm, tm)
    for a, b in zip(cs, ts):
        close(a.grad, b.grad, 1e-8, 1e-10)
    for a, b in zip(hc if mode == "LSTM" else (hc,), ht if mode == "LSTM" else (ht,)):
        close(a.grad, b.grad, 1e-8, 1e-10)


def test_rnn_packed_without_h0_batch_first_module_and_errors():
    torch.manual_seed(1)
    tm = torch.nn.GRU(3, 2, batch_first=True).double()
    cm = load_from_torch(nn.GRU(3, 2, batch_first=True), tm)
    arrs = _seqs([4, 2, 3], seed=6)
    padded = trnn.pad_sequence([t(a) for a in arrs], batch_first=True).numpy()
    pc = crnn.pack_padded_sequence(c(padded), [4, 2, 3], batch_first=True, enforce_sorted=False)
    pt = trnn.pack_padded_sequence(t(padded), [4, 2, 3], batch_first=True, enforce_sorted=False)
    oc, hc = cm(pc)
    ot, ht = tm(pt)
    close(oc.data, ot.data)
    close(hc, ht)
    with pytest.raises(ValueError, match=r"GRU: expected PackedSequence data of shape \(\*, 3\)"):
        cm(crnn.pack_sequence([cr.zeros(2, 5, dtype=cr.float64)]))
    with pytest.raises(ValueError, match="h_0"):
        cm(pc, cr.zeros(1, 2, 2, dtype=cr.float64))


def test_rnn_attributes_programs_touch():
    m = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    tm = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    m.flatten_parameters()
    assert m._flat_weights_names == tm._flat_weights_names
    assert [[tuple(w.shape) for w in ws] for ws in m.all_weights] == \
        [[tuple(w.shape) for w in ws] for ws in tm.all_weights]
    assert tuple(m.weight_ih_l0.shape) == tuple(tm.weight_ih_l0.shape)
    assert tuple(m.weight_hh_l1_reverse.shape) == tuple(tm.weight_hh_l1_reverse.shape)


# ------------------------------------------------------------------------------ nn.utils
def _params_with_grads(scale=1.0):
    rng = np.random.default_rng(8)
    shapes = [(3, 4), (4,), (2, 2, 2)]
    vals = [rng.standard_normal(s) for s in shapes]
    grads = [rng.standard_normal(s) * scale for s in shapes]
    cp, tp = [c(v, True) for v in vals], [t(v, True) for v in vals]
    for p, g in zip(cp, grads):
        p.grad = c(g)
    for p, g in zip(tp, grads):
        p.grad = t(g)
    return cp, tp


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    cp, tp = _params_with_grads()
    nc = nn.utils.clip_grad_norm_(cp, max_norm, norm_type=norm_type, error_if_nonfinite=True, foreach=None)
    nt = torch.nn.utils.clip_grad_norm_(tp, max_norm, norm_type=norm_type, error_if_nonfinite=True, foreach=None)
    close(nc, nt)
    for a, b in zip(cp, tp):
        close(a.grad, b.grad)
    close(nn.utils.get_total_norm([p.grad for p in cp], norm_type),
          torch.nn.utils.get_total_norm([p.grad for p in tp], norm_type))


def test_clip_grads_with_norm_and_value_match_torch():
    cp, tp = _params_with_grads(3.0)
    nn.utils.clip_grads_with_norm_(cp, 2.0, nn.utils.get_total_norm([p.grad for p in cp]))
    torch.nn.utils.clip_grads_with_norm_(tp, 2.0, torch.nn.utils.get_total_norm([p.grad for p in tp]))
    for a, b in zip(cp, tp):
        close(a.grad, b.grad)
    nn.utils.clip_grad_value_(cp, 0.3, foreach=None)
    torch.nn.utils.clip_grad_value_(tp, 0.3, foreach=None)
    for a, b in zip(cp, tp):
        close(a.grad, b.grad, 0, 0)
    cp[0].grad.data[0, 0] = np.inf
    with pytest.raises(RuntimeError, match=r"^The total norm of order 2\.0 .*non-finite"):
        nn.utils.clip_grad_norm_(cp, 1.0, error_if_nonfinite=True)


def test_parameters_vector_round_trip_matches_torch():
    torch.manual_seed(0)
    tm = torch.nn.Linear(3, 2).double()
    cm = load_from_torch(nn.Linear(3, 2), tm)
    vc = nn.utils.parameters_to_vector(cm.parameters())
    vt = torch.nn.utils.parameters_to_vector(tm.parameters())
    close(vc, vt, 0, 0)
    w = np.arange(8.0)
    (vc * c(w)).sum().backward()
    (vt * t(w)).sum().backward()
    compare_grads(cm, tm)
    new = np.linspace(-1, 1, 8)
    nn.utils.vector_to_parameters(c(new), cm.parameters())
    torch.nn.utils.vector_to_parameters(t(new), tm.parameters())
    close(cm.weight, tm.weight, 0, 0)
    close(cm.bias, tm.bias, 0, 0)
    with pytest.raises(ValueError, match="vector_to_parameters: vec must be 1-D with 8 elements"):
        nn.utils.vector_to_parameters(c(np.zeros(7)), cm.parameters())


# ------------------------------------------------------------------------------ functional names
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck  # noqa: E402
from chainrule.nn import functional as F  # noqa: E402

TF = torch.nn.functional


def oracle(cfn, tfn, arrays, *, grad=True, smooth=True, jvp=True, rtol=1e-9, atol=1e-10, gc=True, grtol=1e-8,
           n_grad=None):
    """Compare cfn(*arrays) with tfn(*arrays) in float64 (values and gradients), then gradcheck cfn
    (with forward mode when ``jvp``) and gradgradcheck it when ``smooth``.  Only the first
    ``n_grad`` arrays (default all) require grad."""
    n_grad = len(arrays) if n_grad is None else n_grad
    cs = [c(a, grad and k < n_grad) for k, a in enumerate(arrays)]
    ts = [t(a, grad and k < n_grad) for k, a in enumerate(arrays)]
    yc, yt = cfn(*cs), tfn(*ts)
    close(yc, yt, rtol, atol)
    if not grad:
        return
    w = np.random.default_rng(11).standard_normal(tuple(yt.shape))
    (yc * c(w)).sum().backward()
    (yt * t(w)).sum().backward()
    for a, b in zip(cs[:n_grad], ts[:n_grad]):
        close(a.grad, b.grad, grtol, 1e-10)
    if gc:
        assert gradcheck(cfn, tuple(c(a, True) for a in arrays), check_forward_ad=jvp)
        if smooth:
            assert gradgradcheck(cfn, tuple(c(a, True) for a in arrays))


def away_from(x, points, gap=0.05):
    """Move entries of x that lie within ``gap`` of a kink so that finite differences are valid."""
    x = np.array(x)
    for p in points:
        near = np.abs(x - p) < gap
        x[near] = p + gap * 2 * np.sign(x[near] - p + 1e-12)
    return x


R = np.random.default_rng(20)


@pytest.mark.parametrize("case", ["glu", "glu0", "celu", "softmin", "tanhshrink", "softshrink", "hardshrink",
                                  "threshold", "rrelu_eval", "prelu1", "prelu_c", "logsigmoid", "softsign",
                                  "hardtanh", "mish", "gelu_tanh", "silu", "softplus", "elu", "selu", "hardswish",
                                  "leaky_relu", "relu6", "hardsigmoid"])
@pytest.mark.parametrize("shape", [(3, 4, 2), (0, 4)])
def test_activation_functions_match_torch(case, shape):
    x = away_from(R.standard_normal(shape) * 3, [0.0, 0.5, -0.5, 1.0, -1.0, 3.0, -3.0, 6.0, 0.3])
    table = {
        "glu": (lambda a: F.glu(a), lambda a: TF.glu(a), True),
        "glu0": (lambda a: F.glu(a[:2] if a.shape[0] >= 2 else a, 0), lambda a: TF.glu(a[:2] if a.shape[0] >= 2
                                                                                      else a, 0), True),
        "celu": (lambda a: F.celu(a, 0.5), lambda a: TF.celu(a, 0.5), False),  # torch rounds 1/alpha to float32
        "softmin": (lambda a: F.softmin(a, 1), lambda a: TF.softmin(a, 1), True),
        "tanhshrink": (F.tanhshrink, TF.tanhshrink, True),
        "softshrink": (lambda a: F.softshrink(a, 0.5), lambda a: TF.softshrink(a, 0.5), False),
        "hardshrink": (lambda a: F.hardshrink(a, 0.5), lambda a: TF.hardshrink(a, 0.5), False),
        "threshold": (lambda a: F.threshold(a, 0.3, -2.0), lambda a: TF.threshold(a, 0.3, -2.0), False),
        "rrelu_eval": (lambda a: F.rrelu(a), lambda a: TF.rrelu(a), False),
        "prelu1": (lambda a: F.prelu(a, c([0.25])), lambda a: TF.prelu(a, t([0.25])), False),
        "prelu_c": (lambda a: F.prelu(a, c(np.linspace(0.1, 0.4, 4))),
                    lambda a: TF.prelu(a, t(np.linspace(0.1, 0.4, 4))), False),
        "logsigmoid": (F.logsigmoid, TF.logsigmoid, True),
        "softsign": (F.softsign, TF.softsign, False),
        "hardtanh": (lambda a: F.hardtanh(a, -1.0, 1.0), lambda a: TF.hardtanh(a, -1.0, 1.0), False),
        "mish": (F.mish, TF.mish, True),
        "gelu_tanh": (lambda a: F.gelu(a, approximate="tanh"), lambda a: TF.gelu(a, approximate="tanh"), True),
        "silu": (F.silu, TF.silu, True),
        "softplus": (lambda a: F.softplus(a, 2.0, 5.0), lambda a: TF.softplus(a, 2.0, 5.0), False),
        "elu": (F.elu, TF.elu, False),
        "selu": (F.selu, TF.selu, False),
        "hardswish": (F.hardswish, TF.hardswish, False),
        "leaky_relu": (lambda a: F.leaky_relu(a, 0.2), lambda a: TF.leaky_relu(a, 0.2), False),
        "relu6": (F.relu6, TF.relu6, False),
        "hardsigmoid": (F.hardsigmoid, TF.hardsigmoid, False),
    }
    cf, tf, smooth = table[case]
    # torch's hardsigmoid/hardswish backward use 1/6 rounded to float32
    oracle(cf, tf, [x], smooth=smooth, grtol=1e-7 if case in ("hardsigmoid", "hardswish") else 1e-8)


def test_prelu_weight_gradient_and_activation_errors():
    x = away_from(R.standard_normal((2, 3, 4)), [0.0])
    oracle(F.prelu, TF.prelu, [x, np.array([0.1, 0.2, 0.3])], smooth=False)
    with pytest.raises(RuntimeError, match=r"prelu: weight must have 1 element or one per channel \(3"):
        F.prelu(c(x), c([0.1, 0.2]))
    with pytest.raises(RuntimeError, match="glu: Halving dimension must be even"):
        F.glu(c(np.zeros((2, 3))))
    with pytest.raises(RuntimeError, match="softshrink: lambda must be greater or equal to 0"):
        F.softshrink(c(x), -1.0)


def test_rrelu_training_slopes_in_range():
    x = c(-np.ones((1000,)))
    y = F.rrelu(x, 0.1, 0.3, training=True).numpy()
    assert np.all((y <= -0.1) & (y >= -0.3)) and y.std() > 0.03
    np.testing.assert_array_equal(F.rrelu(c(np.ones(5)), training=True).numpy(), 1.0)


@pytest.mark.parametrize("kw", [{}, {"p": 1.0}, {"p": 3.0, "eps": 0.0, "keepdim": True}])
def test_pairwise_distance_matches_torch(kw):
    a, b = R.standard_normal((2, 5, 3))
    oracle(lambda x, y: F.pairwise_distance(x, y, **kw), lambda x, y: TF.pairwise_distance(x, y, **kw), [a, b])
    oracle(lambda x, y: F.pairwise_distance(x, y, **kw), lambda x, y: TF.pairwise_distance(x, y, **kw),
           [a, b[:1]])  # broadcasting


@pytest.mark.parametrize("dim", [1, 0, -1])
def test_cosine_similarity_matches_torch(dim):
    a, b = R.standard_normal((2, 4, 3))
    oracle(lambda x, y: F.cosine_similarity(x, y, dim), lambda x, y: TF.cosine_similarity(x, y, dim), [a, b])
    z = np.zeros((4, 3))
    oracle(lambda x, y: F.cosine_similarity(x, y, dim), lambda x, y: TF.cosine_similarity(x, y, dim), [a, z],
           gc=False)


@pytest.mark.parametrize("kw", [{}, {"p": 1.0, "dim": 0}, {"dim": -1}])
def test_normalize_matches_torch(kw):
    x = R.standard_normal((3, 4))
    oracle(lambda a: F.normalize(a, **kw), lambda a: TF.normalize(a, **kw), [x], smooth=kw.get("p", 2) == 2)


def test_one_hot_matches_torch():
    idx = np.array([[0, 3], [2, 1]])
    np.testing.assert_array_equal(F.one_hot(cr.tensor(idx)).numpy(), TF.one_hot(torch.tensor(idx)).numpy())
    got = F.one_hot(cr.tensor(idx), 6)
    assert got.dtype == cr.int64 and tuple(got.shape) == (2, 2, 6)
    np.testing.assert_array_equal(got.numpy(), TF.one_hot(torch.tensor(idx), 6).numpy())
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        F.one_hot(cr.tensor(idx), 3)


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("pads", [(1, 2), (2, 0, 1, 1), (0, 1, 2, 1)])
def test_pad_modes_match_torch(mode, pads):
    x = R.standard_normal((2, 3, 4, 5) if len(pads) == 4 else (3, 4, 5))  # torch's shapes per mode
    kw = {"value": 1.5} if mode == "constant" else {}
    oracle(lambda a: F.pad(a, pads, mode, **kw), lambda a: TF.pad(a, pads, mode, **kw), [x], smooth=True)


def test_pad_negative_crop_and_errors():
    x = R.standard_normal((2, 3, 4))
    oracle(lambda a: F.pad(a, (-1, 2, 1, -2)), lambda a: TF.pad(a, (-1, 2, 1, -2)), [x])
    with pytest.raises(RuntimeError, match="pad: Padding size should be less than"):
        F.pad(c(x), (4, 0), "reflect")
    with pytest.raises(NotImplementedError, match="unknown padding mode"):
        F.pad(c(x), (1, 1), "mirror")


@pytest.mark.parametrize("mode,ac,shape,kw", [
    ("nearest", None, (2, 3, 5), {"size": 8}),
    ("nearest", None, (2, 3, 4, 5), {"scale_factor": 2}),
    ("nearest", None, (1, 2, 6, 5), {"size": (4, 3)}),
    ("nearest-exact", None, (1, 2, 5, 6), {"size": (7, 4)}),
    ("nearest", None, (1, 2, 5, 4), {"scale_factor": 1.7}),
    ("linear", False, (2, 3, 5), {"size": 9}),
    ("linear", True, (2, 3, 5), {"size": 9}),
    ("bilinear", False, (2, 2, 4, 5), {"scale_factor": 2}),
    ("bilinear", True, (2, 2, 4, 5), {"size": (7, 3)}),
    ("bilinear", False, (1, 2, 6, 5), {"size": (4, 3)}),
    ("bilinear", False, (1, 1, 4, 5), {"scale_factor": (1.5, 0.6)}),
    ("trilinear", False, (1, 1, 3, 4, 2), {"size": (5, 3, 4)}),
    ("area", None, (1, 2, 6, 5), {"size": (3, 2)}),
    # bicubic: the ViT position-embedding resize (3 x 3 grid to 5 x 5), down, and both corner rules
    ("bicubic", False, (1, 4, 3, 3), {"size": (5, 5)}),
    ("bicubic", None, (2, 2, 4, 5), {"scale_factor": 2}),
    ("bicubic", True, (2, 2, 4, 5), {"size": (7, 3)}),
    ("bicubic", False, (1, 2, 7, 6), {"size": (3, 4)}),
    ("bicubic", False, (1, 1, 4, 5), {"scale_factor": (1.5, 0.6)}),
    ("bicubic", False, (1, 1, 4, 4), {"size": (4, 4)}),
])
def test_interpolate_matches_torch(mode, ac, shape, kw):
    x = R.standard_normal(shape)
    oracle(lambda a: F.interpolate(a, mode=mode, align_corners=ac, **kw),
           lambda a: TF.interpolate(a, mode=mode, align_corners=ac, **kw), [x], smooth=True)


def test_interpolate_errors():
    x = c(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="exactly one of size or scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="'linear' needs 3-D input"):
        F.interpolate(x, size=3, mode="linear")
    with pytest.raises(ValueError, match="align_corners option can only be set"):
        F.interpolate(x, size=3, align_corners=True)
    with pytest.raises(ValueError, match="'bicubic' needs 4-D input"):
        F.interpolate(c(np.zeros((1, 1, 4))), size=3, mode="bicubic")


@pytest.mark.parametrize("shape,r", [((2, 8, 3, 2), 2), ((18, 2, 3), 3), ((1, 2, 4, 2, 2), 1)])
def test_pixel_shuffle_and_unshuffle_match_torch(shape, r):
    x = R.standard_normal(shape)
    oracle(lambda a: F.pixel_shuffle(a, r), lambda a: TF.pixel_shuffle(a, r), [x])
    y = R.standard_normal(shape[:-3] + (shape[-3] // (r * r), shape[-2] * r, shape[-1] * r))
    oracle(lambda a: F.pixel_unshuffle(a, r), lambda a: TF.pixel_unshuffle(a, r), [y])
    with pytest.raises(RuntimeError, match="pixel_shuffle: expected the channel dimension"):
        F.pixel_shuffle(c(np.zeros((1, 3, 2, 2))), 2)


# ------------------------------------------------------------------------------ losses
def _pm1(shape, seed=30):
    return np.where(np.random.default_rng(seed).random(shape) > 0.5, 1.0, -1.0)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_ranking_and_margin_losses_match_torch(reduction):
    x1, x2 = R.standard_normal((2, 6))
    x1 = away_from(x1, [0.0])
    y = _pm1(6)
    kw = dict(reduction=reduction)
    oracle(lambda a, b: F.margin_ranking_loss(a, b, c(y), 0.3, **kw),
           lambda a, b: TF.margin_ranking_loss(a, b, t(y), 0.3, **kw), [x1, x2 + 0.5], smooth=False)
    d = np.abs(R.standard_normal(6)) + 0.1
    oracle(lambda a: F.hinge_embedding_loss(a, c(y), 1.5, **kw),
           lambda a: TF.hinge_embedding_loss(a, t(y), 1.5, **kw), [away_from(d, [1.5])], smooth=False)
    oracle(lambda a: F.soft_margin_loss(a, c(y), **kw), lambda a: TF.soft_margin_loss(a, t(y), **kw), [x1])


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("batched", [True, False])
def test_cosine_embedding_and_triplet_losses_match_torch(reduction, batched):
    shape = (5, 4) if batched else (4,)
    a, b, n = R.standard_normal((3,) + shape)
    y = _pm1(shape[:-1], 31)
    oracle(lambda u, v: F.cosine_embedding_loss(u, v, c(y), 0.1, reduction=reduction),
           lambda u, v: TF.cosine_embedding_loss(u, v, t(y), 0.1, reduction=reduction), [a, b], smooth=False)
    for swap in (False, True):
        for p in (2.0, 1.0):
            oracle(lambda u, v, w: F.triplet_margin_loss(u, v, w, 2.0, p, swap=swap, reduction=reduction),
                   lambda u, v, w: TF.triplet_margin_loss(u, v, w, 2.0, p, swap=swap, reduction=reduction),
                   [a, b, n], smooth=False, gc=p == 2.0)


@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("full", [True, False])
def test_poisson_nll_loss_matches_torch(log_input, full):
    x = R.standard_normal((3, 4)) if log_input else np.abs(R.standard_normal((3, 4))) + 0.2
    y = np.random.default_rng(3).poisson(2.0, (3, 4)).astype(float)
    for reduction in ("mean", "sum", "none"):
        oracle(lambda a: F.poisson_nll_loss(a, c(y), log_input, full, reduction=reduction),
               lambda a: TF.poisson_nll_loss(a, t(y), log_input, full, reduction=reduction), [x])


@pytest.mark.parametrize("var_shape", [(4, 3), (4, 1), (4,)])
@pytest.mark.parametrize("full", [True, False])
def test_gaussian_nll_loss_matches_torch(var_shape, full):
    x, y = R.standard_normal((2, 4, 3))
    v = np.abs(R.standard_normal(var_shape)) + 0.1
    for reduction in ("mean", "sum", "none"):
        oracle(lambda a, b, s: F.gaussian_nll_loss(a, b, s, full, reduction=reduction),
               lambda a, b, s: TF.gaussian_nll_loss(a, b, s, full, reduction=reduction), [x, y, v])
    # below eps the clamp passes var's gradient through, as torch
    v0 = np.full(var_shape, 1e-9)
    oracle(lambda a, b, s: F.gaussian_nll_loss(a, b, s, full), lambda a, b, s: TF.gaussian_nll_loss(a, b, s, full),
           [x, y, v0], gc=False, rtol=1e-8)
    with pytest.raises(ValueError, match="var is of incorrect size"):
        F.gaussian_nll_loss(c(x), c(y), c(np.ones((4, 2))))


def test_multilabel_soft_margin_loss_matches_torch():
    x = R.standard_normal((4, 5)) * 3
    y = (np.random.default_rng(4).random((4, 5)) > 0.5).astype(float)
    w = np.linspace(0.5, 2.0, 5)
    for reduction in ("mean", "sum", "none"):
        oracle(lambda a: F.multilabel_soft_margin_loss(a, c(y), reduction=reduction),
               lambda a: TF.multilabel_soft_margin_loss(a, t(y), reduction=reduction), [x])
        oracle(lambda a: F.multilabel_soft_margin_loss(a, c(y), c(w), reduction=reduction),
               lambda a: TF.multilabel_soft_margin_loss(a, t(y), t(w), reduction=reduction), [x])


# ------------------------------------------------------------------------------ the layer forms
MODULES = [
    ("PReLU", (), (2, 3, 4)), ("PReLU", (3, 0.1), (2, 3, 4)), ("GLU", (), (2, 4)), ("GLU", (1,), (2, 4, 3)),
    ("RReLU", (), (3, 4)), ("CELU", (0.5,), (3, 4)), ("Softmin", (1,), (3, 4)), ("Softmax2d", (), (2, 3, 2, 2)),
    ("Threshold", (0.1, 20.0), (3, 4)), ("Tanhshrink", (), (3, 4)), ("Softshrink", (0.3,), (3, 4)),
    ("Hardshrink", (), (3, 4)),
    ("ZeroPad1d", (2,), (2, 3, 4)), ("ZeroPad2d", ((1, 0, 2, 1),), (2, 3, 4, 4)), ("ZeroPad3d", (1,), (1, 2, 2, 2, 2)),
    ("ConstantPad1d", ((1, 2), 3.5), (2, 3, 4)), ("ConstantPad2d", (1, -1.0), (3, 4, 4)),
    ("ConstantPad3d", ((1, 0, 0, 1, 1, 0), 2.0), (1, 1, 2, 2, 2)),
    ("ReflectionPad1d", (2,), (2, 3, 4)), ("ReflectionPad2d", ((1, 2, 0, 1),), (2, 3, 4, 4)),
    ("ReflectionPad3d", (1,), (1, 1, 3, 3, 3)),
    ("ReplicationPad1d", (3,), (2, 3, 4)), ("ReplicationPad2d", (2,), (1, 3, 4, 4)),
    ("ReplicationPad3d", ((1, 0, 2, 0, 0, 1),), (1, 1, 2, 3, 2)),
    ("CircularPad1d", (2,), (2, 3, 4)), ("CircularPad2d", ((1, 2, 2, 0),), (1, 3, 4, 4)),
    ("CircularPad3d", (1,), (1, 1, 2, 3, 2)),
    ("Upsample", (None, 2, "nearest"), (1, 2, 3, 3)), ("Upsample", ((5, 4), None, "bilinear", False), (1, 2, 3, 3)),
    ("Upsample", (7, None, "linear", True), (2, 2, 4)), ("UpsamplingNearest2d", (None, 3), (1, 1, 2, 3)),
    ("UpsamplingBilinear2d", ((4, 5),), (1, 2, 3, 3)),
    ("PixelShuffle", (2,), (1, 8, 2, 3)), ("PixelUnshuffle", (2,), (1, 2, 4, 6)),
]


@pytest.mark.parametrize("name,args,shape", MODULES, ids=[f"{m[0]}{i}" for i, m in enumerate(MODULES)])
def test_layers_match_torch(name, args, shape):
    tm = getattr(torch.nn, name)(*args).double().eval()
    cm = load_from_torch(getattr(nn, name)(*args), tm).eval()
    x = away_from(R.standard_normal(shape) * 2, [0.0, 0.1, 0.3, -0.3, 0.5, -0.5])
    xc, xt = c(x, True), t(x, True)
    yc, yt = cm(xc), tm(xt)
    close(yc, yt)
    w = R.standard_normal(tuple(yt.shape))
    (yc * c(w)).sum().backward()
    (yt * t(w)).sum().backward()
    close(xc.grad, xt.grad, 1e-8, 1e-10)
    compare_grads(cm, tm)


@pytest.mark.parametrize("name,args,n_in", [
    ("CosineSimilarity", (), 2), ("CosineSimilarity", (0, 1e-6), 2), ("PairwiseDistance", (), 2),
    ("PairwiseDistance", (1.0, 1e-6, True), 2), ("MarginRankingLoss", (0.2,), 3), ("HingeEmbeddingLoss", (), 2),
    ("SoftMarginLoss", (), 2), ("CosineEmbeddingLoss", (0.1,), 3), ("TripletMarginLoss", (1.0, 2.0, 1e-6, True), 3),
    ("PoissonNLLLoss", (True, True), 2), ("GaussianNLLLoss", (), 3), ("MultiLabelSoftMarginLoss", (), 2),
])
def test_distance_and_loss_layers_match_torch(name, args, n_in):
    tm = getattr(torch.nn, name)(*args)
    cm = getattr(nn, name)(*args)
    rng = np.random.default_rng(12)
    if name in ("CosineSimilarity", "PairwiseDistance", "TripletMarginLoss"):
        arrays = list(rng.standard_normal((n_in, 4, 3)))
    elif name in ("MarginRankingLoss", "CosineEmbeddingLoss"):
        shp = (4,) if name == "MarginRankingLoss" else (4, 3)
        arrays = list(rng.standard_normal((2,) + shp)) + [_pm1((4,), 13)]
    elif name in ("HingeEmbeddingLoss", "SoftMarginLoss"):
        arrays = [np.abs(rng.standard_normal(5)) + 0.1, _pm1((5,), 14)]
    elif name == "PoissonNLLLoss":
        arrays = [rng.standard_normal(5), rng.poisson(3.0, 5).astype(float)]
    elif name == "GaussianNLLLoss":
        arrays = [rng.standard_normal((4, 2)), rng.standard_normal((4, 2)), np.abs(rng.standard_normal((4, 1))) + 0.1]
    else:
        arrays = [rng.standard_normal((3, 4)), (rng.random((3, 4)) > 0.5).astype(float)]
    n_grad = len(arrays) - (name in ("MarginRankingLoss", "CosineEmbeddingLoss", "HingeEmbeddingLoss",
                                      "SoftMarginLoss", "MultiLabelSoftMarginLoss"))  # the ±1 / 0-1 targets
    oracle(cm, tm, arrays, gc=False, n_grad=n_grad)


# ------------------------------------------------------------------------------ norms, conv-transpose, pools
@pytest.mark.parametrize("shape,groups", [((2, 6, 5), 3), ((2, 4, 3, 3), 2), ((3, 4), 4), ((2, 6, 2, 2), 1)])
def test_group_norm_matches_torch(shape, groups):
    x = R.standard_normal(shape) * 2 + 1
    C = shape[1]
    w, b = R.standard_normal((2, C))
    oracle(lambda a, u, v: F.group_norm(a, groups, u, v, 1e-5), lambda a, u, v: TF.group_norm(a, groups, u, v, 1e-5),
           [x, w, b])
    oracle(lambda a: F.group_norm(a, groups), lambda a: TF.group_norm(a, groups), [x], gc=False)


@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 4, 3)])
def test_instance_norm_matches_torch(shape):
    x = R.standard_normal(shape) * 2 + 1
    w, b = R.standard_normal((2, shape[1]))
    oracle(lambda a, u, v: F.instance_norm(a, weight=u, bias=v), lambda a, u, v: TF.instance_norm(a, weight=u, bias=v),
           [x, w, b])
    rm_c, rv_c = c(np.zeros(shape[1])), c(np.ones(shape[1]))
    rm_t, rv_t = t(np.zeros(shape[1])), t(np.ones(shape[1]))
    F.instance_norm(c(x), rm_c, rv_c, momentum=0.3)
    TF.instance_norm(t(x), rm_t, rv_t, momentum=0.3)
    close(rm_c, rm_t)
    close(rv_c, rv_t)
    oracle(lambda a: F.instance_norm(a, rm_c, rv_c, use_input_stats=False),
           lambda a: TF.instance_norm(a, rm_t, rv_t, use_input_stats=False), [x])


@pytest.mark.parametrize("name,args,shape", [
    ("GroupNorm", (2, 4), (3, 4, 5)), ("GroupNorm", (1, 4, 1e-3, False), (3, 4, 2, 2)),
    ("InstanceNorm1d", (3,), (2, 3, 5)), ("InstanceNorm1d", (3, 1e-5, 0.1, True, True), (2, 3, 5)),
    ("InstanceNorm2d", (3, 1e-5, 0.1, True), (2, 3, 3, 4)), ("InstanceNorm2d", (3,), (3, 3, 4)),
    ("RMSNorm", (4,), (2, 3, 4)), ("RMSNorm", ((3, 4), 1e-4), (2, 3, 4)), ("RMSNorm", (4, None, False), (5, 4)),
])
def test_norm_layers_match_torch_train_and_eval(name, args, shape):
    torch.manual_seed(0)
    tm = getattr(torch.nn, name)(*args).double()
    cm = getattr(nn, name)(*args)
    for p in tm.parameters():  # not the default ones and zeros, so that a swapped weight/bias shows
        p.data.uniform_(0.5, 1.5)
    load_from_torch(cm, tm)
    assert list(cm.state_dict()) == list(tm.state_dict())
    for mode in ("train", "eval"):
        getattr(cm, mode)()
        getattr(tm, mode)()
        x = R.standard_normal(shape) * 2 + 0.5
        xc, xt = c(x, True), t(x, True)
        yc, yt = cm(xc), tm(xt)
        close(yc, yt)
        w = R.standard_normal(tuple(yt.shape))
        (yc * c(w)).sum().backward()
        (yt * t(w)).sum().backward()
        close(xc.grad, xt.grad, 1e-8, 1e-10)
        compare_grads(cm, tm)
        for k, v in tm.state_dict().items():
            close(cm.state_dict()[k], v)
        cm.zero_grad()
        tm.zero_grad()


def test_rms_norm_gradgrad_and_errors():
    x = R.standard_normal((3, 4))
    oracle(lambda a, w: F.rms_norm(a, (4,), w, 1e-6), lambda a, w: TF.rms_norm(a, (4,), w, 1e-6),
           [x, R.standard_normal(4)])
    with pytest.raises(RuntimeError, match=r"rms_norm: expected input with shape \(\*, 5\)"):
        F.rms_norm(c(x), 5)
    with pytest.raises(RuntimeError, match="group_norm: Expected number of channels in input"):
        F.group_norm(c(np.zeros((2, 3, 4))), 2)


@pytest.mark.parametrize("kw", [
    {}, {"stride": 2}, {"stride": 2, "padding": 1, "output_padding": 1}, {"dilation": 2, "padding": 2},
    {"groups": 2}, {"stride": 3, "padding": 3, "groups": 2, "dilation": 2, "output_padding": 1},
])
def test_conv_transpose1d_matches_torch(kw):
    x = R.standard_normal((2, 4, 5))
    w = R.standard_normal((4, 3, 3))
    b = R.standard_normal(3 * kw.get("groups", 1))
    oracle(lambda a, u, v: F.conv_transpose1d(a, u, v, **kw), lambda a, u, v: TF.conv_transpose1d(a, u, v, **kw),
           [x, w, b])


@pytest.mark.parametrize("kw", [
    {}, {"stride": 2}, {"stride": (2, 1), "padding": (1, 0), "output_padding": (1, 0)},
    {"dilation": (1, 2), "groups": 2}, {"padding": (3, 2)},
])
def test_conv_transpose2d_matches_torch(kw):
    x = R.standard_normal((2, 2, 6, 7) if kw.get("padding") == (3, 2) else (2, 2, 4, 3))  # padding > kernel: crop
    w = R.standard_normal((2, 3, 3, 2))
    oracle(lambda a, u: F.conv_transpose2d(a, u, None, **kw), lambda a, u: TF.conv_transpose2d(a, u, None, **kw),
           [x, w], smooth=False)
    oracle(lambda a, u: F.conv_transpose2d(a, u, None, **kw), lambda a, u: TF.conv_transpose2d(a, u, None, **kw),
           [x[0], w], gc=False)  # unbatched


@pytest.mark.parametrize("cls,kw,shape", [
    ("ConvTranspose1d", dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, groups=2), (2, 4, 5)),
    ("ConvTranspose2d", dict(in_channels=3, out_channels=2, kernel_size=(3, 2), stride=2, padding=1,
                             output_padding=1), (2, 3, 4, 4)),
    ("ConvTranspose2d", dict(in_channels=3, out_channels=2, kernel_size=2, bias=False, dilation=2), (1, 3, 3, 3)),
])
def test_conv_transpose_layers_match_torch(cls, kw, shape):
    torch.manual_seed(0)
    tm = getattr(torch.nn, cls)(**kw).double()
    cm = load_from_torch(getattr(nn, cls)(**kw), tm)
    # default init has PyTorch's bound 1/sqrt(fan_in), fan_in = out_channels/groups * prod(kernel)
    fresh = getattr(nn, cls)(**kw).weight.detach().numpy()
    bound = 1 / np.sqrt(kw["out_channels"] // kw.get("groups", 1) * np.prod(tm.kernel_size))
    assert np.abs(fresh).max() <= bound and np.abs(fresh).max() > 0.5 * bound
    x = R.standard_normal(shape)
    xc, xt = c(x, True), t(x, True)
    yc, yt = cm(xc), tm(xt)
    close(yc, yt)
    w = R.standard_normal(tuple(yt.shape))
    (yc * c(w)).sum().backward()
    (yt * t(w)).sum().backward()
    close(xc.grad, xt.grad, 1e-8, 1e-10)
    compare_grads(cm, tm)


def test_conv_transpose_output_size():
    tm = torch.nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1).double()
    cm = load_from_torch(nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1), tm)
    x = R.standard_normal((1, 1, 4, 4))
    close(cm(c(x), output_size=(8, 8)), tm(t(x), output_size=(8, 8)))
    close(cm(c(x), output_size=[1, 1, 7, 8]), tm(t(x), output_size=[1, 1, 7, 8]))
    with pytest.raises(ValueError, match="valid sizes range from 7 to 8"):
        cm(c(x), output_size=(9, 9))


@pytest.mark.parametrize("shape,out", [((2, 3, 7), 3), ((2, 3, 8), 4), ((3, 5), 2), ((2, 3, 7), 7)])
def test_adaptive_max_pool1d_matches_torch(shape, out):
    x = R.standard_normal(shape)
    oracle(lambda a: F.adaptive_max_pool1d(a, out), lambda a: TF.adaptive_max_pool1d(a, out), [x], smooth=False)
    _, ic = F.adaptive_max_pool1d(c(x), out, return_indices=True)
    _, it = TF.adaptive_max_pool1d(t(x), out, return_indices=True)
    np.testing.assert_array_equal(ic.numpy(), it.numpy())


@pytest.mark.parametrize("shape,out", [((2, 3, 7, 5), (3, 2)), ((2, 3, 4, 4), 1), ((3, 6, 5), (None, 2))])
def test_adaptive_max_pool2d_matches_torch(shape, out):
    x = R.standard_normal(shape)
    oracle(lambda a: F.adaptive_max_pool2d(a, out), lambda a: TF.adaptive_max_pool2d(a, out), [x], smooth=False)
    _, ic = F.adaptive_max_pool2d(c(x), out, return_indices=True)
    _, it = TF.adaptive_max_pool2d(t(x), out, return_indices=True)
    np.testing.assert_array_equal(ic.numpy(), it.numpy())
    tm = torch.nn.AdaptiveMaxPool2d(out)
    close(nn.AdaptiveMaxPool2d(out)(c(x)), tm(t(x)))


def test_parameter_dict_like_torch():
    tm = torch.nn.Module()
    tm.p = torch.nn.ParameterDict({"b": torch.nn.Parameter(torch.zeros(2, dtype=torch.float64)),
                                   "a": torch.nn.Parameter(torch.ones(3, dtype=torch.float64))})
    cm = nn.Module()
    cm.p = nn.ParameterDict({"b": nn.Parameter(cr.zeros(2, dtype=cr.float64)),
                             "a": nn.Parameter(cr.ones(3, dtype=cr.float64))})
    assert list(cm.state_dict()) == list(tm.state_dict()) == ["p.a", "p.b"]  # a plain dict is sorted
    load_from_torch(cm, tm)
    cm.p["c"] = cr.tensor([1.0, 2.0])
    assert isinstance(cm.p["c"], nn.Parameter) and cm.p["c"].requires_grad
    assert "c" in cm.p and len(cm.p) == 3 and list(cm.p.keys()) == ["a", "b", "c"]
    assert len(list(cm.parameters())) == 3
    del cm.p["b"]
    assert list(dict(cm.named_parameters())) == ["p.a", "p.c"]
    from collections import OrderedDict
    assert list(nn.ParameterDict(OrderedDict(z=nn.Parameter(cr.zeros(1)), y=nn.Parameter(cr.zeros(1))))) == ["z", "y"]


# ------------------------------------------------------------------------------ existing names, checked against torch
@pytest.mark.parametrize("kw", [{}, {"padding_idx": 1}, {"padding_idx": -1}, {"max_norm": 1.0},
                                {"max_norm": 0.5, "norm_type": 1.0, "padding_idx": 0}])
def test_embedding_matches_torch(kw):
    torch.manual_seed(0)
    tm = torch.nn.Embedding(6, 3, **kw).double()
    cm = load_from_torch(nn.Embedding(6, 3, **kw), tm)
    idx = np.array([[0, 1, 5], [1, 1, 2]])
    yc, yt = cm(cr.tensor(idx)), tm(torch.tensor(idx))
    close(yc, yt)
    close(cm.weight, tm.weight)  # max_norm renormalises the looked-up rows in place
    w = R.standard_normal(tuple(yt.shape))
    (yc * c(w)).sum().backward()
    (yt * t(w)).sum().backward()
    compare_grads(cm, tm)
    close(F.embedding(cr.tensor(idx), cm.weight.detach(), **kw), TF.embedding(torch.tensor(idx), tm.weight.detach(),
                                                                             **kw))


@pytest.mark.parametrize("mask", ["none", "bool", "float", "causal", "scale"])
def test_scaled_dot_product_attention_matches_torch(mask):
    q = R.standard_normal((2, 3, 4, 5))
    k = R.standard_normal((2, 3, 6, 5))
    v = R.standard_normal((2, 3, 6, 2))
    kw_c, kw_t = {}, {}
    if mask == "bool":
        m = R.random((4, 6)) > 0.3
        m[:, 0] = True
        kw_c, kw_t = {"attn_mask": cr.tensor(m)}, {"attn_mask": torch.tensor(m)}
    elif mask == "float":
        m = R.standard_normal((2, 1, 4, 6))
        kw_c, kw_t = {"attn_mask": c(m)}, {"attn_mask": t(m)}
    elif mask == "causal":
        kw_c = kw_t = {"is_causal": True}
    elif mask == "scale":
        kw_c = kw_t = {"scale": 0.3}
    oracle(lambda a, b, d: F.scaled_dot_product_attention(a, b, d, **kw_c),
           lambda a, b, d: TF.scaled_dot_product_attention(a, b, d, **kw_t), [q, k, v], gc=False)


@pytest.mark.parametrize("kw", [{}, {"bias": False}, {"add_bias_kv": True}, {"add_zero_attn": True},
                                {"kdim": 3, "vdim": 5}, {"batch_first": True}])
def test_multihead_attention_matches_torch(kw):
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(6, 2, **kw).double()
    cm = load_from_torch(nn.MultiheadAttention(6, 2, **kw), tm)
    assert list(cm.state_dict()) == list(tm.state_dict())
    bf = kw.get("batch_first", False)
    L, S, N = 4, 5, 2
    shp = (lambda n, d: (N, n, d)) if bf else (lambda n, d: (n, N, d))
    q = R.standard_normal(shp(L, 6))
    k = R.standard_normal(shp(S, kw.get("kdim", 6)))
    v = R.standard_normal(shp(S, kw.get("vdim", 6)))
    kpm = np.zeros((N, S), dtype=bool)
    kpm[1, 3:] = True
    am = np.triu(np.full((L, S), -np.inf), 2)
    for avg in (True, False):
        cs = [c(a, True) for a in (q, k, v)]
        ts = [t(a, True) for a in (q, k, v)]
        oc, wc = cm(*cs, key_padding_mask=cr.tensor(kpm), attn_mask=c(am), average_attn_weights=avg)
        ot, wt = tm(*ts, key_padding_mask=torch.tensor(kpm), attn_mask=t(am), average_attn_weights=avg)
        close(oc, ot)
        close(wc, wt)
        g = R.standard_normal(tuple(ot.shape))
        ((oc * c(g)).sum() + wc.sum() * 0.5).backward()
        ((ot * t(g)).sum() + wt.sum() * 0.5).backward()
        compare_grads(cm, tm)
        for a, b in zip(cs, ts):
            close(a.grad, b.grad, 1e-8, 1e-10)
        cm.zero_grad()
        tm.zero_grad()


@pytest.mark.parametrize("name,args,shape", [
    ("GELU", ("tanh",), (3, 4)), ("GELU", (), (3, 4)), ("SiLU", (), (3, 4)), ("Mish", (), (3, 4)),
    ("Hardtanh", (-2.0, 1.5), (3, 4)), ("Softplus", (2.0, 3.0), (3, 4)), ("LogSoftmax", (1,), (3, 4)),
    ("Softmax", (-1,), (3, 4)), ("ELU", (0.7,), (3, 4)), ("LeakyReLU", (0.2,), (3, 4)), ("Identity", (), (3, 4)),
    ("Flatten", (), (2, 3, 4)), ("Flatten", (0, 1), (2, 3, 4)), ("Unflatten", (1, (2, 2)), (3, 4)),
    ("AdaptiveAvgPool2d", ((2, 3),), (1, 2, 5, 7)), ("MaxPool2d", (2, 1, 1), (1, 2, 4, 4)),
    ("AvgPool2d", (3, 2, 1, False, False), (1, 2, 5, 5)), ("LayerNorm", ((4,), 1e-3, True, False), (2, 4)),
])
def test_existing_layers_match_torch(name, args, shape):
    tm = getattr(torch.nn, name)(*args).double()
    cm = load_from_torch(getattr(nn, name)(*args), tm)
    x = away_from(R.standard_normal(shape) * 2, [0.0, -2.0, 1.5])
    xc, xt = c(x, True), t(x, True)
    yc, yt = cm(xc), tm(xt)
    close(yc, yt)
    w = R.standard_normal(tuple(yt.shape))
    (yc * c(w)).sum().backward()
    (yt * t(w)).sum().backward()
    close(xc.grad, xt.grad, 1e-8, 1e-10)
    compare_grads(cm, tm)


@pytest.mark.parametrize("name,kw", [("SmoothL1Loss", {"beta": 0.5}), ("HuberLoss", {"delta": 0.7}),
                                     ("SmoothL1Loss", {"reduction": "sum"}), ("KLDivLoss", {"reduction": "batchmean"}),
                                     ("KLDivLoss", {"log_target": True, "reduction": "sum"})])
def test_existing_losses_match_torch(name, kw):
    x, y = R.standard_normal((2, 4, 3))
    if name == "KLDivLoss":
        x = np.log(np.exp(x) / np.exp(x).sum(-1, keepdims=True))
        y = np.exp(y) / np.exp(y).sum(-1, keepdims=True)
        y = np.log(y) if kw.get("log_target") else y
    oracle(getattr(nn, name)(**kw), getattr(torch.nn, name)(**kw), [away_from(x, [0.0]), y], gc=False)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("layout", ["2d", "offsets", "last_offset", "padding"])
def test_embedding_bag_matches_torch(mode, layout):
    torch.manual_seed(0)
    kw = {"mode": mode}
    if layout == "last_offset":
        kw["include_last_offset"] = True
    if layout == "padding":
        kw["padding_idx"] = 2
    tm = torch.nn.EmbeddingBag(7, 3, **kw).double()
    cm = load_from_torch(nn.EmbeddingBag(7, 3, **kw), tm)
    if layout == "2d":
        idx, off = np.array([[1, 2, 4], [4, 3, 6]]), None
    else:
        idx = np.array([1, 2, 4, 5, 2, 2, 6, 0])
        off = np.array([0, 2, 2, 5, 8] if layout == "last_offset" else [0, 2, 2, 5])  # bag 1 is empty
    args_c = (cr.tensor(idx),) + (() if off is None else (cr.tensor(off),))
    args_t = (torch.tensor(idx),) + (() if off is None else (torch.tensor(off),))
    yc, yt = cm(*args_c), tm(*args_t)
    close(yc, yt)
    w = R.standard_normal(tuple(yt.shape))
    (yc * c(w)).sum().backward()
    (yt * t(w)).sum().backward()
    compare_grads(cm, tm)


def test_embedding_bag_per_sample_weights_and_errors():
    torch.manual_seed(1)
    tm = torch.nn.EmbeddingBag(5, 2, mode="sum").double()
    cm = load_from_torch(nn.EmbeddingBag(5, 2, mode="sum"), tm)
    idx, off = np.array([0, 4, 4, 1, 3]), np.array([0, 3])
    psw = R.standard_normal(5)
    pc, pt = c(psw, True), t(psw, True)
    yc = cm(cr.tensor(idx), cr.tensor(off), per_sample_weights=pc)
    yt = tm(torch.tensor(idx), torch.tensor(off), per_sample_weights=pt)
    close(yc, yt)
    yc.sum().backward()
    yt.sum().backward()
    close(pc.grad, pt.grad)
    compare_grads(cm, tm)
    with pytest.raises(NotImplementedError, match="per_sample_weights is only supported for mode='sum'"):
        F.embedding_bag(cr.tensor(idx), cm.weight, cr.tensor(off), per_sample_weights=pc, mode="mean")
    with pytest.raises(ValueError, match="offsets has to be a 1-D Tensor but got None"):
        cm(cr.tensor(idx))


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_multi_margin_loss_matches_torch(p, weighted, reduction):
    x = R.standard_normal((5, 4))
    y = np.array([0, 3, 1, 1, 2])
    w = np.linspace(0.5, 2, 4) if weighted else None
    kw = dict(p=p, margin=0.7, reduction=reduction)
    oracle(lambda a: F.multi_margin_loss(a, cr.tensor(y), weight=None if w is None else c(w), **kw),
           lambda a: TF.multi_margin_loss(a, torch.tensor(y), weight=None if w is None else t(w), **kw), [x],
           smooth=False)
    close(nn.MultiMarginLoss(p, 0.7, None if w is None else c(w), reduction=reduction)(c(x[0]), cr.tensor(y[0])),
          torch.nn.MultiMarginLoss(p, 0.7, None if w is None else t(w), reduction=reduction)(t(x[0]),
                                                                                           torch.tensor(y[0])))


def test_gumbel_softmax_soft_hard_and_distribution():
    logits = c(np.log([0.1, 0.2, 0.7]))
    cr.manual_seed(0)
    draws = F.gumbel_softmax(cr.tensor(np.tile(logits.numpy(), (20000, 1))), tau=0.5, hard=True)
    d = draws.numpy()
    assert set(np.unique(d)) == {0.0, 1.0} and np.all(d.sum(1) == 1)
    # the Gumbel-max trick: argmax(logits + g) ~ Categorical(softmax(logits)); 3 sigma of a binomial
    np.testing.assert_allclose(d.mean(0), [0.1, 0.2, 0.7], atol=3 * np.sqrt(0.7 * 0.3 / 20000))
    x = c(R.standard_normal((4, 5)), True)
    cr.manual_seed(3)
    soft = F.gumbel_softmax(x, tau=0.7)
    np.testing.assert_allclose(soft.detach().numpy().sum(1), 1.0, rtol=1e-12)
    w = c(R.standard_normal((4, 5)))
    (soft * w).sum().backward()
    g_soft = x.grad.numpy().copy()
    x.grad = None
    cr.manual_seed(3)
    hard = F.gumbel_softmax(x, tau=0.7, hard=True)  # the same noise: straight-through = soft's gradient
    np.testing.assert_array_equal(hard.detach().numpy().argmax(1), soft.detach().numpy().argmax(1))
    (hard * w).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), g_soft, rtol=1e-12)


def test_dropout3d_and_alpha_dropout():
    cr.manual_seed(0)
    x = c(np.ones((4, 6, 2, 2, 2)))
    y = F.dropout3d(x, 0.5).numpy()
    per_map = y.reshape(4, 6, -1)
    assert np.all((per_map == 0).all(-1) | (per_map == 2.0).all(-1))  # whole maps zeroed, others scaled by 2
    assert F.dropout3d(x, 0.5, training=False) is x
    # alpha dropout keeps standardised SELU activations at mean 0, variance 1
    z = c(np.random.default_rng(5).standard_normal(400000))
    for p in (0.2, 0.5):
        a = F.alpha_dropout(z, p, training=True).numpy()
        assert abs(a.mean()) < 0.01 and abs(a.var() - 1) < 0.01
        alpha = 1.6732632423543772 * 1.0507009873554805
        scale = 1 / np.sqrt((1 - p) * (1 + p * alpha ** 2))
        dropped = np.isclose(a, -alpha * scale * (1 - p))
        assert abs(dropped.mean() - p) < 0.01
        np.testing.assert_allclose(a[~dropped], scale * z.numpy()[~dropped] + alpha * scale * p)
    assert F.alpha_dropout(z, 0.5) is z  # PyTorch's default training=False
    f = F.feature_alpha_dropout(c(np.zeros((3, 8, 5))), 0.5, training=True).numpy()
    assert np.all(f.std(-1) == 0)  # one value per channel
    m = nn.AlphaDropout(0.3)
    m.eval()
    assert m(z) is z
    assert isinstance(nn.Dropout3d(0.1), nn.Module) and isinstance(nn.FeatureAlphaDropout(0.1), nn.Module)


@pytest.mark.filterwarnings("error::RuntimeWarning")  # no NumPy "mean of empty slice" on an empty batch
@pytest.mark.parametrize("case", [
    ("pad", lambda m, x: m.pad(x, (1, 1), "reflect"), (0, 3, 4)),
    ("interpolate", lambda m, x: m.interpolate(x, size=5, mode="linear"), (0, 3, 4)),
    ("group_norm", lambda m, x: m.group_norm(x, 1), (0, 2, 3)),
    ("instance_norm", lambda m, x: m.instance_norm(x), (0, 2, 3)),
    ("glu", lambda m, x: m.glu(x), (0, 4)),
    ("pixel_shuffle", lambda m, x: m.pixel_shuffle(x, 2), (0, 4, 2, 2)),
    ("normalize", lambda m, x: m.normalize(x), (0, 4)),
    ("cosine_similarity", lambda m, x: m.cosine_similarity(x, x), (0, 4)),
    ("rms_norm", lambda m, x: m.rms_norm(x, (4,)), (0, 4)),
    ("adaptive_max_pool1d", lambda m, x: m.adaptive_max_pool1d(x, 2), (0, 2, 4)),
], ids=lambda cse: cse[0] if isinstance(cse, tuple) else str(cse))
def test_empty_batches_match_torch(case):
    _, fn, shape = case
    x = c(np.zeros(shape), True)
    y = fn(F, x)
    assert tuple(y.shape) == tuple(fn(TF, t(np.zeros(shape))).shape)
    y.sum().backward()
    assert x.grad is not None and tuple(x.grad.shape) == shape


def test_transformer_layer_gradcheck_and_forward_mode():
    cr.manual_seed(0)
    layer = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, activation="gelu").double()
    x = c(R.standard_normal((3, 2, 4)), True)
    mask = nn.Transformer.generate_square_subsequent_mask(3, dtype=cr.float64)
    assert gradcheck(lambda a: layer(a, src_mask=mask), (x,), check_forward_ad=True)
    dec = nn.TransformerDecoderLayer(4, 2, 6, dropout=0.0, norm_first=True).double()
    mem = c(R.standard_normal((2, 2, 4)), True)
    assert gradcheck(lambda a, m: dec(a, m), (x, mem), check_forward_ad=True)


def test_packed_lstm_gradcheck():
    cr.manual_seed(1)
    lstm = nn.LSTM(2, 3, bidirectional=True).double()
    seqs = [c(R.standard_normal((n, 2)), True) for n in (3, 1, 2)]

    def run(*ss):
        out, (h, _) = lstm(crnn.pack_sequence(list(ss), enforce_sorted=False))
        return out.data.sum() + (h * h).sum()

    assert gradcheck(run, tuple(seqs))


def test_batch_norm3d_matches_torch():
    torch.manual_seed(0)
    tm = torch.nn.BatchNorm3d(3).double()
    cm = load_from_torch(nn.BatchNorm3d(3), tm)
    for mode in ("train", "eval"):
        getattr(cm, mode)()
        getattr(tm, mode)()
        x = R.standard_normal((2, 3, 2, 3, 2))
        xc, xt = c(x, True), t(x, True)
        yc, yt = cm(xc), tm(xt)
        close(yc, yt)
        (yc * c(x)).sum().backward()
        (yt * t(x)).sum().backward()
        close(xc.grad, xt.grad, 1e-8, 1e-10)
        compare_grads(cm, tm)
        for k, v in tm.state_dict().items():
            close(cm.state_dict()[k], v)


@pytest.mark.filterwarnings("ignore:`torch.nn.utils.weight_norm` is deprecated")
@pytest.mark.parametrize("layer,dim", [("linear", 0), ("linear", 1), ("linear", None), ("conv", 0)])
def test_weight_norm_matches_torch(layer, dim):
    torch.manual_seed(0)
    if layer == "linear":
        tm, cm, shape = torch.nn.Linear(4, 3).double(), nn.Linear(4, 3), (5, 4)
    else:
        tm, cm, shape = torch.nn.Conv1d(2, 3, 3).double(), nn.Conv1d(2, 3, 3), (2, 2, 6)
    tm = torch.nn.utils.weight_norm(tm, dim=dim)
    cm = nn.utils.weight_norm(cm, dim=dim)
    assert list(cm.state_dict()) == list(tm.state_dict())
    assert tuple(cm.weight_g.shape) == tuple(tm.weight_g.shape)
    with torch.no_grad():
        tm.weight_g.mul_(1.5)  # a magnitude that differs from ‖v‖, so that g matters
    load_from_torch(cm, tm)
    x = R.standard_normal(shape)
    xc, xt = c(x, True), t(x, True)
    yc, yt = cm(xc), tm(xt)
    close(yc, yt)
    w = R.standard_normal(tuple(yt.shape))
    (yc * c(w)).sum().backward()
    (yt * t(w)).sum().backward()
    compare_grads(cm, tm)
    close(xc.grad, xt.grad, 1e-8, 1e-10)
    nn.utils.remove_weight_norm(cm)
    torch.nn.utils.remove_weight_norm(tm)
    assert list(dict(cm.named_parameters())) == list(dict(tm.named_parameters()))
    close(cm.weight, tm.weight)
    with pytest.raises(ValueError, match="weight_norm of 'weight' not found"):
        nn.utils.remove_weight_norm(cm)


@pytest.mark.parametrize("case", [
    ("conv3d", lambda m, x, w: m.conv3d(x, w, stride=(1, 2, 1), padding=(1, 0, 1), dilation=(1, 1, 2)),
     (2, 3, 4, 5, 5), (4, 3, 2, 3, 2)),
    ("conv3d_groups_same", lambda m, x, w: m.conv3d(x, w, padding="same", groups=3), (1, 3, 3, 4, 3), (6, 1, 3, 2, 3)),
    ("conv_transpose3d", lambda m, x, w: m.conv_transpose3d(x, w, stride=2, padding=1, output_padding=1),
     (1, 2, 2, 3, 2), (2, 3, 3, 3, 2)),
], ids=lambda cse: cse[0] if isinstance(cse, tuple) else str(cse))
def test_3d_convolutions_match_torch(case):
    _, fn, xs, ws = case
    oracle(lambda a, b: fn(F, a, b), lambda a, b: fn(TF, a, b), [R.standard_normal(xs), R.standard_normal(ws)],
           smooth=False)


@pytest.mark.parametrize("case", [
    ("max_pool3d", lambda m, x: m.max_pool3d(x, 2, stride=1, padding=1)),
    ("max_pool3d_ceil", lambda m, x: m.max_pool3d(x, (2, 3, 2), ceil_mode=True)),
    ("avg_pool3d", lambda m, x: m.avg_pool3d(x, 2, stride=(1, 2, 1), padding=1, count_include_pad=False)),
    ("adaptive_avg_pool3d", lambda m, x: m.adaptive_avg_pool3d(x, (2, None, 3))),
    ("adaptive_max_pool3d", lambda m, x: m.adaptive_max_pool3d(x, (2, 3, 1))),
], ids=lambda cse: cse[0] if isinstance(cse, tuple) else str(cse))
def test_3d_pooling_matches_torch(case):
    _, fn = case
    oracle(lambda a: fn(F, a), lambda a: fn(TF, a), [R.standard_normal((2, 2, 4, 5, 4))], smooth=False)


@pytest.mark.parametrize("name,args,shape", [
    ("Conv3d", (2, 4, 3), (1, 2, 4, 4, 4)), ("Conv3d", (2, 4, (1, 2, 3), 1, 1, 1, 2, False), (2, 2, 3, 4, 5)),
    ("ConvTranspose3d", (2, 3, 2, 2), (1, 2, 2, 2, 3)), ("MaxPool3d", (2,), (1, 2, 4, 4, 4)),
    ("AvgPool3d", (2, 1), (1, 2, 3, 4, 3)), ("AdaptiveAvgPool3d", (2,), (1, 2, 5, 4, 3)),
    ("AdaptiveMaxPool3d", ((1, 2, 2),), (1, 2, 5, 4, 3)),
])
def test_3d_layers_match_torch(name, args, shape):
    torch.manual_seed(0)
    tm = getattr(torch.nn, name)(*args).double()
    cm = load_from_torch(getattr(nn, name)(*args), tm)
    x = R.standard_normal(shape)
    xc, xt = c(x, True), t(x, True)
    yc, yt = cm(xc), tm(xt)
    close(yc, yt)
    w = R.standard_normal(tuple(yt.shape))
    (yc * c(w)).sum().backward()
    (yt * t(w)).sum().backward()
    close(xc.grad, xt.grad, 1e-8, 1e-10)
    compare_grads(cm, tm)


@pytest.mark.parametrize("name,args", [("elu_", (0.7,)), ("leaky_relu_", (0.2,)), ("hardtanh_", (-0.5, 0.8)),
                                       ("selu_", ()), ("celu_", (0.5,)), ("threshold_", (0.1, -3.0)),
                                       ("rrelu_", ())])
def test_inplace_activations_match_torch(name, args):
    x = away_from(R.standard_normal((3, 4)) * 2, [0.0, 0.1, -0.5, 0.8])
    xc, xt = c(x, True), t(x, True)
    hc, ht = xc * 2.0, xt * 2.0  # non-leaf tensors, changed in place while recording
    rc = getattr(F, name)(hc, *args)
    assert getattr(TF, name)(ht, *args) is ht
    assert rc is hc
    close(hc, ht)
    (hc * c(x)).sum().backward()
    (ht * t(x)).sum().backward()
    close(xc.grad, xt.grad, 1e-8, 1e-10)
    plain = c(x)
    with cr.no_grad():
        assert getattr(F, name)(plain, *args) is plain
    close(plain, getattr(TF, name)(t(x), *args))
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        getattr(F, name)(c(x, True), *args)


@pytest.mark.parametrize("case", [
    ("lp_pool1d", lambda m, x: m.lp_pool1d(x, 2.0, 3, 2), (2, 3, 7)),
    ("lp_pool2d", lambda m, x: m.lp_pool2d(x, 3.0, (2, 3), ceil_mode=True), (1, 2, 5, 7)),
    ("lp_pool3d", lambda m, x: m.lp_pool3d(x, 1.5, 2), (1, 2, 4, 4, 4)),
    ("local_response_norm", lambda m, x: m.local_response_norm(x, 3, 0.1, 0.75, 2.0), (2, 5, 3, 3)),
    ("local_response_norm_even", lambda m, x: m.local_response_norm(x, 4), (2, 6, 4)),
], ids=lambda cse: cse[0] if isinstance(cse, tuple) else str(cse))
def test_lp_pool_and_local_response_norm_match_torch(case):
    _, fn, shape = case
    x = np.abs(R.standard_normal(shape)) + 0.1  # p-th powers of positive values (torch's domain for odd p)
    oracle(lambda a: fn(F, a), lambda a: fn(TF, a), [x], smooth=True)


def test_with_indices_aliases_and_lppool_lrn_layers():
    x = R.standard_normal((2, 3, 6, 5))
    for cf, tf, args in ((F.max_pool2d_with_indices, TF.max_pool2d_with_indices, (2,)),
                         (F.adaptive_max_pool2d_with_indices, TF.adaptive_max_pool2d_with_indices, ((3, 2),))):
        (yc, ic), (yt, it) = cf(c(x), *args), tf(t(x), *args)
        close(yc, yt)
        np.testing.assert_array_equal(ic.numpy(), it.numpy())
    xp = np.abs(x) + 0.1
    for name, args in (("LPPool2d", (2, 2)), ("LocalResponseNorm", (2,))):
        close(getattr(nn, name)(*args)(c(xp)), getattr(torch.nn, name)(*args)(t(xp)))


def test_triplet_with_distance_multilabel_margin_pdist_channel_shuffle_match_torch():
    a, p_, n = R.standard_normal((3, 4, 5))
    oracle(lambda u, v, w: F.triplet_margin_with_distance_loss(u, v, w, margin=1.5, swap=True),
           lambda u, v, w: TF.triplet_margin_with_distance_loss(u, v, w, margin=1.5, swap=True), [a, p_, n],
           smooth=False)
    cos_c = lambda u, v: 1 - F.cosine_similarity(u, v)  # noqa: E731
    cos_t = lambda u, v: 1 - TF.cosine_similarity(u, v)  # noqa: E731
    oracle(nn.TripletMarginWithDistanceLoss(distance_function=cos_c, reduction="sum"),
           torch.nn.TripletMarginWithDistanceLoss(distance_function=cos_t, reduction="sum"), [a, p_, n], gc=False)
    x = R.standard_normal((3, 4))
    y = np.array([[3, 0, -1, 1], [1, 2, 3, 0], [-1, 0, 0, 0]])  # labels end at the first -1
    for reduction in ("mean", "none"):
        oracle(lambda u: F.multilabel_margin_loss(u, cr.tensor(y), reduction=reduction),
               lambda u: TF.multilabel_margin_loss(u, torch.tensor(y), reduction=reduction), [x], smooth=False)
    close(nn.MultiLabelMarginLoss()(c(x[0]), cr.tensor(y[0])),
          torch.nn.MultiLabelMarginLoss()(t(x[0]), torch.tensor(y[0])))
    oracle(F.pdist, TF.pdist, [R.standard_normal((5, 3))])
    oracle(lambda u: F.pdist(u, 1.0), lambda u: TF.pdist(u, 1.0), [R.standard_normal((4, 3))], smooth=False)
    z = R.standard_normal((2, 6, 3, 2))
    oracle(lambda u: F.channel_shuffle(u, 3), lambda u: TF.channel_shuffle(u, 3), [z])
    close(nn.ChannelShuffle(2)(c(z)), torch.nn.ChannelShuffle(2)(t(z)))
    perm = np.array([2, 0, 3, 1])
    np.testing.assert_array_equal(crnn.invert_permutation(cr.tensor(perm)).numpy(),
                                  trnn.invert_permutation(torch.tensor(perm)).numpy())
