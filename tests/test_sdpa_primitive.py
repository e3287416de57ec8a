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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fully_masked_row_is_nan(dtype, monkeypatch):
    rng = np.random.default_rng(6)
    q, k, v = (rng.standard_normal(s).astype(dtype) for s in ((2, 3, 4), (2, 5, 4), (2, 5, 3)))
    m = np.ones((3, 5), dtype=bool)
    m[1] = False
    res = []
    for fused in (True, False):
        with monkeypatch.context() as mp:
            if not fused:
                mp.setattr(attention, "_fits", lambda *a: False)
            ts = [cr.tensor(x, requires_grad=True) for x in (q, k, v)]
            out = F.scaled_dot_product_attention(*ts, attn_mask=cr.tensor(m))
            out.sum().backward()
            res.append([out.detach().numpy()] + [t.grad.numpy() for t in ts])
    out = res[0][0]
    assert np.isnan(out[:, 1]).all() and np.isfinite(out[:, [0, 2]]).all()
    for a, b in zip(*res):
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))


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


@pytest.mark.parametrize("causal", [False, True])
def test_compiled_step_replays_eager_bits(causal):
    """The compiled mode records the primitive's table calls (shifted_exp, einsum, out=) and replays them."""
    rng = np.random.default_rng(12)
    batches = [cr.tensor(rng.standard_normal((3, 6, 8)).astype(np.float32)) for _ in range(6)]
    mask = nn.Transformer.generate_square_subsequent_mask(6) if causal else None

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


# ------------------------------------------------------------------ PyTorch as oracle
torch = pytest.importorskip("torch")


@pytest.mark.parametrize("kind", ["none", "bool", "float", "causal"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_torch_sdpa(kind, dtype):
    rng = np.random.default_rng(8)
    L, S = (16, 16) if kind == "causal" else (16, 24)
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


def test_torch_multihead_attention_no_weights():
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
def test_torch_encoder_layer_float32(causal, monkeypatch):
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
    """A boolean mask makes the forward ask whether a row is fully masked (NaN): under compile
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
    full[1] = False  # query 1 sees no key: its row is NaN
    masks.insert(1, full)
    compiled = cr.compile(step)
    for mask in masks + masks:
        eager = step(cr.tensor(mask)).numpy(), [t.grad.numpy().copy() for t in (q, k, v)]
        replay = compiled(cr.tensor(mask)).numpy(), [t.grad.numpy().copy() for t in (q, k, v)]
        assert np.isnan(eager[0]).any() == (mask is full)
        assert np.array_equal(eager[0], replay[0], equal_nan=True)
        for a, b in zip(eager[1], replay[1]):
            assert np.array_equal(a, b, equal_nan=True)
