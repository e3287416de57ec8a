"""Scaled dot-product attention as one primitive (nn/functional/_sdpa.py).

Against the composition it replaces (softmax(Q Kᵀ·scale + M) V as Tensor ops, values and every
gradient in float64), gradcheck/gradgradcheck and forward mode, fully masked rows, and PyTorch
as oracle (F.scaled_dot_product_attention, nn.MultiheadAttention, nn.TransformerEncoderLayer).
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck
from chainrule.nn.functional import attention
from chainrule.nn.functional._sdpa import ScaledDotProductAttention

pytestmark = pytest.mark.filterwarnings("ignore:enable_nested_tensor")


def t64(a, grad=False):
    return cr.tensor(np.asarray(a, dtype=np.float64), dtype=cr.float64, requires_grad=grad)


def _case(kind, rng, batch_q=(2, 3), batch_k=(3,), L=5, S=7, E=4, Ev=6):
    q = rng.standard_normal(batch_q + (L, E))
    k = rng.standard_normal(batch_k + (S, E))
    v = rng.standard_normal(batch_k + (S, Ev))
    kw = {}
    if kind == "bool":
        m = rng.random((L, S)) > 0.4
        m[:, 0] = True  # no fully masked row
        kw["attn_mask"] = cr.tensor(m)
    elif kind == "float":
        kw["attn_mask"] = t64(rng.standard_normal((3, L, S)))
    elif kind == "float_inf":
        m = np.where(rng.random((L, S)) > 0.4, 0.0, -np.inf)
        m[:, 1] = 0.0
        kw["attn_mask"] = t64(m)
    elif kind == "causal":
        kw["is_causal"] = True
    elif kind == "scale":
        kw["scale"] = 0.37
    return q, k, v, kw


def _run(q, k, v, kw, fused, monkeypatch, mask_grad=False):
    with monkeypatch.context() as mp:
        if not fused:
            mp.setattr(attention, "_fits", lambda *a: False)
        ts = [t64(x, True) for x in (q, k, v)]
        if mask_grad:
            kw = dict(kw, attn_mask=t64(kw["attn_mask"].numpy(), True))
        out = F.scaled_dot_product_attention(*ts, **kw)
        assert isinstance(out._op, ScaledDotProductAttention) == fused
        w = np.random.default_rng(9).standard_normal(out.shape)
        (out * t64(w)).sum().backward()
        grads = [t.grad.numpy() for t in ts]
        if mask_grad:
            grads.append(kw["attn_mask"].grad.numpy())
        return [out.detach().numpy()] + grads


KINDS = ["none", "bool", "float", "float_inf", "causal", "scale"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batch", [((2, 3), (3,)), ((4,), (4,)), ((1, 2), (3, 1))])
def test_matches_composition(kind, batch, monkeypatch):
    rng = np.random.default_rng(0)
    L, S = (6, 6) if kind == "causal" else (5, 7)
    q, k, v, kw = _case(kind, rng, batch[0], batch[1], L, S)
    if kind == "float":
        kw["attn_mask"] = t64(rng.standard_normal((L, S)))
    fused = _run(q, k, v, kw, True, monkeypatch)
    composed = _run(q, k, v, kw, False, monkeypatch)
    for a, b in zip(fused, composed):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


def test_float_mask_gradient(monkeypatch):
    rng = np.random.default_rng(1)
    q, k, v, kw = _case("float", rng)
    fused = _run(q, k, v, kw, True, monkeypatch, mask_grad=True)
    composed = _run(q, k, v, kw, False, monkeypatch, mask_grad=True)
    for a, b in zip(fused, composed):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


def test_only_some_gradients(monkeypatch):
    rng = np.random.default_rng(2)
    q, k, v, _ = _case("none", rng)
    for want in range(3):
        ts = [t64(x, i == want) for i, x in enumerate((q, k, v))]
        out = F.scaled_dot_product_attention(*ts)
        assert isinstance(out._op, ScaledDotProductAttention)
        (g,) = cr.autograd.grad(out.sum(), [ts[want]])
        with monkeypatch.context() as mp:
            mp.setattr(attention, "_fits", lambda *a: False)
            (g2,) = cr.autograd.grad(F.scaled_dot_product_attention(*ts).sum(), [ts[want]])
        np.testing.assert_allclose(g.numpy(), g2.numpy(), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kind", KINDS)
def test_gradcheck_gradgradcheck_forward_mode(kind):
    rng = np.random.default_rng(3)
    L, S = (3, 3) if kind == "causal" else (3, 4)
    q, k, v, kw = _case(kind, rng, (2, 1), (3,), L, S, 2, 3)
    if kind == "float":
        kw["attn_mask"] = t64(rng.standard_normal((L, S)))

    def f(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, **kw)

    ins = tuple(t64(x, True) for x in (q, k, v))
    assert isinstance(f(*ins)._op, ScaledDotProductAttention)
    assert gradcheck(f, ins, check_forward_ad=True)
    assert gradgradcheck(f, ins)


def test_gradcheck_float_mask_input():
    rng = np.random.default_rng(4)
    q, k, v, _ = _case("none", rng, (2,), (2,), 3, 4, 2, 2)
    m = rng.standard_normal((3, 4))
    ins = tuple(t64(x, True) for x in (q, k, v, m))
    f = lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m)  # noqa: E731
    assert isinstance(f(*ins)._op, ScaledDotProductAttention)
    assert gradcheck(f, ins, check_forward_ad=True)
    assert gradgradcheck(f, ins)


def test_func_jvp_matches_composition(monkeypatch):
    rng = np.random.default_rng(5)
    q, k, v, kw = _case("bool", rng)
    prim = tuple(t64(x) for x in (q, k, v))
    tan = tuple(t64(rng.standard_normal(x.shape)) for x in (q, k, v))
    f = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, **kw)  # noqa: E731
    _, d1 = cr.func.jvp(f, prim, tan)
    with monkeypatch.context() as mp:
        mp.setattr(attention, "_fits", lambda *a: False)
        _, d2 = cr.func.jvp(f, prim, tan)
    np.testing.assert_allclose(d1.numpy(), d2.numpy(), rtol=1e-12, atol=1e-13)


def _fully_masked_case(dtype, kind):
    """q (2, 3, 4), k (2, 5, 4), v (2, 5, 3) and a mask under which query 1 sees no key."""
    rng = np.random.default_rng(6)
    q, k, v = (rng.standard_normal(s).astype(dtype) for s in ((2, 3, 4), (2, 5, 4), (2, 5, 3)))
    m = np.ones((3, 5), dtype=bool)
    m[1] = False
    mask = m if kind == "bool" else np.where(m, 0.0, -np.inf).astype(dtype)
    return q, k, v, mask


@pytest.mark.parametrize("kind", ["bool", "float"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_fully_masked_row_is_zero_with_zero_gradients(dtype, kind, monkeypatch):
    """PyTorch's scaled_dot_product_attention gives a query that sees no key a zero row (its safe
    softmax), on the fused primitive and on the composition alike, and no NaN in any gradient."""
    q, k, v, mask = _fully_masked_case(dtype, kind)
    res = []
    for fused in (True, False):
        with monkeypatch.context() as mp:
            if not fused:
                mp.setattr(attention, "_fits", lambda *a: False)
            ts = [cr.tensor(x, requires_grad=True) for x in (q, k, v)]
            out = F.scaled_dot_product_attention(*ts, attn_mask=cr.tensor(mask))
            out.square().sum().backward()
            res.append([out.detach().numpy()] + [t.grad.numpy() for t in ts])
    for out, gq, gk, gv in res:
        np.testing.assert_array_equal(out[:, 1], 0.0)
        assert np.isfinite(out).all() and all(np.isfinite(g).all() for g in (gq, gk, gv))
        np.testing.assert_array_equal(gq[:, 1], 0.0)
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    torch = pytest.importorskip("torch")
    tt = [torch.tensor(x, requires_grad=True) for x in (q, k, v)]
    out_t = torch.nn.functional.scaled_dot_product_attention(*tt, attn_mask=torch.tensor(mask))
    out_t.square().sum().backward()
    for a, b in zip(res[0], [out_t.detach().numpy()] + [t.grad.numpy() for t in tt]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_a_fully_masked_row_is_zero_under_dropout_and_double_backward():
    q, k, v, mask = _fully_masked_case(np.float64, "bool")
    ts = [t64(x, True) for x in (q, k, v)]
    out = F.scaled_dot_product_attention(*ts, attn_mask=cr.tensor(mask), dropout_p=0.5)
    np.testing.assert_array_equal(out.detach().numpy()[:, 1], 0.0)
    out = F.scaled_dot_product_attention(*ts, attn_mask=cr.tensor(mask))
    (gq,) = cr.autograd.grad(out.square().sum(), ts[0], create_graph=True)
    (ggk,) = cr.autograd.grad(gq.sum(), ts[1])
    assert np.isfinite(gq.detach().numpy()).all() and np.isfinite(ggk.numpy()).all()
    assert gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, attn_mask=cr.tensor(mask)),
                     [t64(x, True) for x in (q, k, v)])


def test_multihead_attention_keeps_nan_where_it_returns_the_weights_as_pytorch():
    """nn.MultiheadAttention: with need_weights=True PyTorch's plain softmax gives a query with no
    key NaN; with need_weights=False it runs scaled_dot_product_attention, which gives zeros."""
    cr.manual_seed(0)
    mha = nn.MultiheadAttention(4, 2, batch_first=True)
    x = cr.randn(2, 3, 4)
    kpm = cr.tensor(np.array([[False] * 3, [True] * 3]))
    out_w, w = mha(x, x, x, key_padding_mask=kpm, need_weights=True)
    out_n, _ = mha(x, x, x, key_padding_mask=kpm, need_weights=False)
    assert np.isnan(out_w.detach().numpy()[1]).all() and np.isnan(w.detach().numpy()[1]).all()
    np.testing.assert_allclose(out_n.detach().numpy()[1], np.broadcast_to(mha.out_proj.bias.detach().numpy(), (3, 4)))
    np.testing.assert_allclose(out_n.detach().numpy()[0], out_w.detach().numpy()[0], rtol=1e-5, atol=1e-6)


def test_dropout_and_weights_keep_the_composition():
    rng = np.random.default_rng(7)
    q, k, v = (t64(rng.standard_normal((2, 3, 4)), True) for _ in range(3))
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    assert not isinstance(out._op, ScaledDotProductAttention)
    mha = nn.MultiheadAttention(4, 2).double()
    x = t64(rng.standard_normal((3, 2, 4)), True)
    out, w = mha(x, x, x, need_weights=True)
    assert w is not None and w.requires_grad
    w.sum().backward()  # the weights stay differentiable


@pytest.mark.parametrize("causal, L", [(False, 6), (True, 6), (True, 40)])
def test_compiled_step_replays_eager_bits(causal, L):
    """The compiled mode records the primitive's table calls (shifted_exp, einsum, out=; the
    causal form's row blocks, written into slices) and replays them."""
    rng = np.random.default_rng(12)
    batches = [cr.tensor(rng.standard_normal((3, L, 8)).astype(np.float32)) for _ in range(6)]
    mask = nn.Transformer.generate_square_subsequent_mask(L) if causal else None

    def run(compiled):
        cr.manual_seed(0)
        layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
        opt = cr.optim.SGD(layer.parameters(), lr=0.1)

        def step(x):
            opt.zero_grad()
            loss = layer(x, src_mask=mask, is_causal=causal).square().mean()
            loss.backward()
            opt.step()
            return loss.detach()

        fn = cr.compile(step) if compiled else step
        losses = [fn(x).numpy().copy() for x in batches]
        return losses, [p.detach().numpy().copy() for p in layer.parameters()], fn

    eager, comp = run(False), run(True)
    assert comp[2].stats["replays"] >= 4, comp[2].stats
    assert len({float(x) for x in eager[0]}) > 1
    for a, b in zip(eager[0] + eager[1], comp[0] + comp[1]):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ causal attention in row blocks
@pytest.mark.parametrize("L, S", [(70, 70), (33, 33), (64, 40), (40, 100), (300, 300)])
def test_causal_blocks_match_the_masked_composition(L, S, monkeypatch):
    """Causal attention skips the scores above the diagonal, a block of rows at a time (several
    blocks here: 32 rows, or L/8): values and every gradient as the masked composition's."""
    from chainrule.nn.functional._sdpa import CAUSAL, causal_blocks

    blocks = causal_blocks(L, S)
    assert len(blocks) > 1 and blocks[0][:2] == (0, blocks[0][1]) and blocks[-1][1] == L
    assert all(cols == min(r1, S) for _, r1, cols in blocks)
    rng = np.random.default_rng(L + S)
    q, k, v = (rng.standard_normal(s) for s in ((2, 1, L, 5), (1, 3, S, 5), (1, 3, S, 4)))
    fused = _run(q, k, v, {"is_causal": True}, True, monkeypatch)
    composed = _run(q, k, v, {"is_causal": True}, False, monkeypatch)
    for a, b in zip(fused, composed):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)
    out = F.scaled_dot_product_attention(*(t64(x, True) for x in (q, k, v)), is_causal=True)
    assert out._op.mask_kind == CAUSAL


def test_causal_blocks_gradcheck_gradgradcheck_forward_mode():
    rng = np.random.default_rng(13)
    ins = tuple(t64(rng.standard_normal(s), True) for s in ((1, 40, 2), (1, 35, 2), (1, 35, 2)))

    def f(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)

    assert f(*ins)._op.mask_kind == "causal"
    assert gradcheck(f, ins, check_forward_ad=True)
    assert gradgradcheck(f, ins)


def _mha_pair(rng, L=40, E=8, heads=2):
    mha = nn.MultiheadAttention(E, heads, batch_first=True).double()
    x = t64(rng.standard_normal((3, L, E)), True)
    return mha, x


def test_mha_is_causal_hint_is_taken_only_where_the_mask_is_causal(monkeypatch):
    """nn.MultiheadAttention(is_causal=True) with the causal mask runs the primitive's causal
    form (no mask input); with a mask that is not causal, the mask decides, whatever the hint."""
    kinds = []
    init = ScaledDotProductAttention.__init__

    def spy(self, scale, kind):
        kinds.append(kind)
        init(self, scale, kind)

    monkeypatch.setattr(ScaledDotProductAttention, "__init__", spy)
    rng = np.random.default_rng(14)
    mha, x = _mha_pair(rng)
    causal = nn.Transformer.generate_square_subsequent_mask(40, dtype=cr.float64)
    bool_causal = cr.tensor(np.triu(np.ones((40, 40), bool), 1))  # True = masked, as PyTorch's MHA
    other = causal.numpy().copy()
    other[5, 20] = 0.0  # one position more: no longer causal
    other = t64(other)

    def run(**kw):
        out, _ = mha(x, x, x, need_weights=False, **kw)
        (g,) = cr.autograd.grad(out.square().sum(), [x])
        return out.detach().numpy(), g.numpy()

    reference = run(attn_mask=causal)
    assert kinds[-1] == "add"
    for mask in (causal, bool_causal, None):
        got = run(attn_mask=mask, is_causal=True)
        assert kinds[-1] == "causal"
        for a, b in zip(got, reference):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)
    wrong_hint = run(attn_mask=other, is_causal=True)
    assert kinds[-1] == "add"
    for a, b in zip(wrong_hint, run(attn_mask=other)):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(wrong_hint[0], reference[0])
    # a key padding mask or the weights asked for: the mask is kept
    kpm = cr.tensor(np.zeros((3, 40), bool))
    run(attn_mask=causal, is_causal=True, key_padding_mask=kpm)
    assert kinds[-1] == "add"


def test_encoder_finds_the_causal_mask_when_is_causal_is_none(monkeypatch):
    """TransformerEncoder(is_causal=None), PyTorch's default, with the causal mask: the layers run
    causal attention (the same numbers as with the mask applied)."""
    kinds = []
    init = ScaledDotProductAttention.__init__
    monkeypatch.setattr(ScaledDotProductAttention, "__init__",
                        lambda self, scale, kind: (kinds.append(kind), init(self, scale, kind))[1])
    rng = np.random.default_rng(15)
    cr.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True).double()
    enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    x = t64(rng.standard_normal((2, 36, 8)))
    mask = nn.Transformer.generate_square_subsequent_mask(36, dtype=cr.float64)
    found = enc(x, mask=mask).detach().numpy()
    assert kinds == ["causal", "causal"]
    kinds.clear()
    told_not = enc(x, mask=mask, is_causal=False).detach().numpy()
    assert kinds == ["add", "add"]
    np.testing.assert_allclose(found, told_not, rtol=1e-12, atol=1e-13)


# ------------------------------------------------------------------ PyTorch as oracle
@pytest.fixture
def torch():
    """PyTorch as oracle: the tests that take it skip where it is not installed (the others run)."""
    return pytest.importorskip("torch")


@pytest.mark.parametrize("kind", ["none", "bool", "float", "causal", "causal_long", "causal_wide"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_torch_sdpa(kind, dtype, torch):
    rng = np.random.default_rng(8)
    L, S = {"causal": (16, 16), "causal_long": (100, 100), "causal_wide": (70, 90)}.get(kind, (16, 24))
    if kind.startswith("causal"):
        kind = "causal"  # (PyTorch's is_causal for L != S: key j for query i where j <= i, as here)
    q, k, v = (rng.standard_normal(s).astype(dtype) for s in ((2, 4, L, 8), (2, 4, S, 8), (2, 4, S, 8)))
    w = rng.standard_normal((2, 4, L, 8)).astype(dtype)
    kc, kt = {}, {}
    if kind == "bool":
        m = rng.random((L, S)) > 0.5
        m[:, 0] = True
        kc["attn_mask"], kt["attn_mask"] = cr.tensor(m), torch.tensor(m)
    elif kind == "float":
        m = rng.standard_normal((4, L, S)).astype(dtype)
        kc["attn_mask"], kt["attn_mask"] = cr.tensor(m), torch.tensor(m)
    elif kind == "causal":
        kc["is_causal"] = kt["is_causal"] = True
    cs = [cr.tensor(x, requires_grad=True) for x in (q, k, v)]
    ts = [torch.tensor(x, requires_grad=True) for x in (q, k, v)]
    oc = F.scaled_dot_product_attention(*cs, **kc)
    assert isinstance(oc._op, ScaledDotProductAttention)
    ot = torch.nn.functional.scaled_dot_product_attention(*ts, **kt)
    (oc * cr.tensor(w)).sum().backward()
    (ot * torch.tensor(w)).sum().backward()
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(oc.detach().numpy(), ot.detach().numpy(), **tol)
    for a, b in zip(cs, ts):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), **tol)


def _load(cm, tm):
    cm.load_state_dict({k: cr.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()}, strict=True)


def test_torch_multihead_attention_no_weights(torch):
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(16, 4, batch_first=True)
    cm = nn.MultiheadAttention(16, 4, batch_first=True)
    _load(cm, tm)
    rng = np.random.default_rng(10)
    x = rng.standard_normal((3, 10, 16)).astype(np.float32)
    kpm = np.zeros((3, 10), dtype=bool)
    kpm[1, 7:] = True
    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    oc, wc = cm(xc, xc, xc, key_padding_mask=cr.tensor(kpm), need_weights=False)
    ot, _ = tm(xt, xt, xt, key_padding_mask=torch.tensor(kpm), need_weights=False)
    assert wc is None
    oc.square().sum().backward()
    ot.square().sum().backward()
    np.testing.assert_allclose(oc.detach().numpy(), ot.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-4)
    for (n, p), (_, pt) in zip(cm.named_parameters(), tm.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), pt.grad.numpy(), rtol=1e-4, atol=1e-4, err_msg=n)


@pytest.mark.parametrize("causal", [False, True])
def test_torch_encoder_layer_float32(causal, monkeypatch, torch):
    calls = []
    init = ScaledDotProductAttention.__init__

    def spy(self, *a):
        calls.append(1)
        init(self, *a)

    monkeypatch.setattr(ScaledDotProductAttention, "__init__", spy)
    torch.manual_seed(0)
    kw = dict(dim_feedforward=64, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
    tm = torch.nn.TransformerEncoderLayer(32, 4, **kw)
    cm = nn.TransformerEncoderLayer(32, 4, **kw)
    _load(cm, tm)
    x = np.random.default_rng(11).standard_normal((4, 12, 32)).astype(np.float32)
    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    mask_c = nn.Transformer.generate_square_subsequent_mask(12) if causal else None
    mask_t = torch.nn.Transformer.generate_square_subsequent_mask(12) if causal else None
    oc = cm(xc, src_mask=mask_c, is_causal=causal)
    ot = tm(xt, src_mask=mask_t, is_causal=causal)
    assert calls
    oc.square().sum().backward()
    ot.square().sum().backward()
    np.testing.assert_allclose(oc.detach().numpy(), ot.detach().numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), rtol=1e-3, atol=1e-3)
    for (n, p), (_, pt) in zip(cm.named_parameters(), tm.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), pt.grad.numpy(), rtol=1e-3, atol=1e-3, err_msg=n)


def test_compiled_boolean_masks_follow_eager_also_with_a_fully_masked_row():
    """A boolean mask makes the forward ask whether a row is fully masked (zeroed): under compile
    a new mask, with or without such a row, must never replay a stale plan."""
    rng = np.random.default_rng(0)
    shapes = ((2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 4))
    q, k, v = (cr.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes)

    def step(mask):
        for t in (q, k, v):
            t.grad = None
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out.sum().backward()
        return out.detach()

    masks = [rng.random((5, 6)) > 0.3 for _ in range(2)]
    full = masks[0].copy()
    full[1] = False  # query 1 sees no key: its row is zero
    masks.insert(1, full)
    compiled = cr.compile(step)
    for mask in masks + masks:
        eager = step(cr.tensor(mask)).numpy(), [t.grad.numpy().copy() for t in (q, k, v)]
        replay = compiled(cr.tensor(mask)).numpy(), [t.grad.numpy().copy() for t in (q, k, v)]
        assert not np.isnan(eager[0]).any() and (mask is not full or not eager[0][:, :, 1].any())
        assert np.array_equal(eager[0], replay[0], equal_nan=True)
        for a, b in zip(eager[1], replay[1]):
            assert np.array_equal(a, b, equal_nan=True)
