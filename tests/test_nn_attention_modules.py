"""nn.MultiheadAttention (PyTorch's layout and options) and nn.AdditiveAttention (the notes) vs NumPy."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("chainrule.nn.module", reason="nn.Module (nn-core) has not landed yet")
from test_nn_attention_functional import np_additive, np_softmax

import chainrule as cr
from chainrule import nn
from chainrule.autograd.gradcheck import gradcheck


def as64(module):
    for p in module.parameters():
        p.data = p._array.astype(np.float64)
    return module


def np_mha_module(m, query, key, value, add_mask=None):
    """Sequence-first NumPy multi-head attention from the module's parameters; (out, per-head weights)."""
    E, h = m.embed_dim, m.num_heads
    d = E // h
    if m.in_proj_weight is not None:
        wq, wk, wv = np.split(m.in_proj_weight._array, 3)
    else:
        wq, wk, wv = m.q_proj_weight._array, m.k_proj_weight._array, m.v_proj_weight._array
    bq, bk, bv = np.split(m.in_proj_bias._array, 3) if m.in_proj_bias is not None else (0.0, 0.0, 0.0)
    L, N, _ = query.shape
    S = key.shape[0]
    q, k, v = query @ wq.T + bq, key @ wk.T + bk, value @ wv.T + bv

    def split(x, n):
        return x.reshape(n, N, h, d).transpose(1, 2, 0, 3)

    s = split(q, L) @ np.swapaxes(split(k, S), -1, -2) / np.sqrt(d)
    if add_mask is not None:
        s = s + add_mask
    a = np_softmax(s)
    o = (a @ split(v, S)).transpose(2, 0, 1, 3).reshape(L, N, E)
    out = o @ m.out_proj.weight._array.T
    if m.out_proj.bias is not None:
        out = out + m.out_proj.bias._array
    return out, a


def test_parameter_layout_and_init():
    m = nn.MultiheadAttention(8, 2)
    names = {n: tuple(p.shape) for n, p in m.named_parameters()}
    assert names == {"in_proj_weight": (24, 8), "in_proj_bias": (24,), "out_proj.weight": (8, 8),
                     "out_proj.bias": (8,)}
    assert m.q_proj_weight is None and m.head_dim == 4
    np.testing.assert_array_equal(m.in_proj_bias._array, 0.0)
    np.testing.assert_array_equal(m.out_proj.bias._array, 0.0)
    bound = np.sqrt(6 / (8 + 24))
    assert np.abs(m.in_proj_weight._array).max() <= bound
    m2 = nn.MultiheadAttention(8, 2, kdim=3, vdim=5, bias=False)
    names = {n: tuple(p.shape) for n, p in m2.named_parameters()}
    assert names == {"q_proj_weight": (8, 8), "k_proj_weight": (8, 3), "v_proj_weight": (8, 5),
                     "out_proj.weight": (8, 8)}
    assert m2.in_proj_weight is None and m2.in_proj_bias is None
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(6, 4)


@pytest.mark.parametrize("batch_first", [False, True])
def test_mha_matches_numpy_with_masks(batch_first):
    rng = np.random.default_rng(0)
    L, S, N, E, h = 3, 4, 2, 6, 3
    m = as64(nn.MultiheadAttention(E, h, batch_first=batch_first))
    m.in_proj_bias._array[...] = rng.standard_normal(3 * E)
    m.out_proj.bias._array[...] = rng.standard_normal(E)
    q, k, v = rng.standard_normal((L, N, E)), rng.standard_normal((S, N, E)), rng.standard_normal((S, N, E))
    kpm = np.array([[False, False, False, True], [False, True, False, False]])
    am = np.triu(np.ones((L, S), bool), 2)  # bool: True = not allowed
    fm = rng.standard_normal((L, S))  # float: added
    add = np.where(kpm[:, None, None, :] | am, -np.inf, 0.0) + fm

    def bf(x):
        return cr.tensor(x.transpose(1, 0, 2) if batch_first else x)

    out, w = m(bf(q), bf(k), bf(v), key_padding_mask=cr.tensor(kpm), attn_mask=cr.tensor(am))
    out_f, _ = m(bf(q), bf(k), bf(v), key_padding_mask=cr.tensor(kpm),
                 attn_mask=cr.tensor(np.where(am, -np.inf, 0.0) + fm))
    ref_out, ref_a = np_mha_module(m, q, k, v, np.where(kpm[:, None, None, :] | am, -np.inf, 0.0))
    ref_out_f, _ = np_mha_module(m, q, k, v, add)
    got = out._array.transpose(1, 0, 2) if batch_first else out._array
    np.testing.assert_allclose(got, ref_out, atol=1e-12)
    got_f = out_f._array.transpose(1, 0, 2) if batch_first else out_f._array
    np.testing.assert_allclose(got_f, ref_out_f, atol=1e-12)
    # weights averaged over heads by default; per head on request
    np.testing.assert_allclose(w._array, ref_a.mean(1), atol=1e-12)
    _, wh = m(bf(q), bf(k), bf(v), key_padding_mask=cr.tensor(kpm), attn_mask=cr.tensor(am),
              average_attn_weights=False)
    np.testing.assert_allclose(wh._array, ref_a, atol=1e-12)
    assert np.all(wh._array[0, :, :, 3] == 0) and np.all(wh._array[1, :, :, 1] == 0)
    out2, none = m(bf(q), bf(k), bf(v), need_weights=False)
    assert none is None


def test_mha_causal_kdim_vdim_and_unbatched():
    rng = np.random.default_rng(1)
    L, N, E = 4, 2, 4
    m = as64(nn.MultiheadAttention(E, 2, kdim=3, vdim=5))
    q, k, v = rng.standard_normal((L, N, E)), rng.standard_normal((L, N, 3)), rng.standard_normal((L, N, 5))
    causal = np.where(np.triu(np.ones((L, L), bool), 1), -np.inf, 0.0)
    out, w = m(cr.tensor(q), cr.tensor(k), cr.tensor(v), attn_mask=cr.tensor(causal), is_causal=True)
    ref_out, ref_a = np_mha_module(m, q, k, v, causal)
    np.testing.assert_allclose(out._array, ref_out, atol=1e-12)
    np.testing.assert_allclose(w._array, ref_a.mean(1), atol=1e-12)
    out_c, _ = m(cr.tensor(q), cr.tensor(k), cr.tensor(v), is_causal=True)  # causal mask built when none given
    np.testing.assert_allclose(out_c._array, ref_out, atol=1e-12)
    out_u, w_u = m(cr.tensor(q[:, 0]), cr.tensor(k[:, 0]), cr.tensor(v[:, 0]), attn_mask=cr.tensor(causal))
    assert out_u.shape == (L, E) and w_u.shape == (L, L)
    np.testing.assert_allclose(out_u._array, ref_out[:, 0], atol=1e-12)


def test_mha_dropout_only_in_training_and_errors():
    cr.manual_seed(0)
    m = nn.MultiheadAttention(4, 2, dropout=0.5)
    x = cr.randn(3, 2, 4)
    m.eval()
    a, _ = m(x, x, x)
    b, _ = m(x, x, x)
    np.testing.assert_array_equal(a._array, b._array)
    m.train()
    c, _ = m(x, x, x)
    assert not np.allclose(a._array, c._array)
    with pytest.raises(ValueError, match="key_padding_mask must have shape"):
        m(x, x, x, key_padding_mask=cr.tensor(np.zeros((3, 3), bool)))
    with pytest.raises(ValueError, match="attn_mask must have shape"):
        m(x, x, x, attn_mask=cr.tensor(np.zeros((2, 2), bool)))


def test_mha_gradcheck():
    rng = np.random.default_rng(2)
    m = as64(nn.MultiheadAttention(4, 2, add_bias_kv=True, add_zero_attn=True))
    q = cr.tensor(rng.standard_normal((2, 2, 4)), requires_grad=True)
    kv = cr.tensor(rng.standard_normal((3, 2, 4)), requires_grad=True)
    kpm = cr.tensor(np.array([[False, True, False], [False, False, False]]))
    assert gradcheck(lambda q, kv: m(q, kv, kv, key_padding_mask=kpm, average_attn_weights=False), (q, kv))
    out, _ = m(q, kv, kv)
    out.sum().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, name


def test_additive_attention_module():
    rng = np.random.default_rng(3)
    N, T, Dq, Dk, A = 3, 5, 4, 6, 7
    att = as64(nn.AdditiveAttention(Dq, Dk, A))
    assert {n: tuple(p.shape) for n, p in att.named_parameters()} == {"W_a": (A, Dq), "U_a": (A, Dk), "v_a": (A,)}
    s, hk = rng.standard_normal((N, Dq)), rng.standard_normal((N, T, Dk))
    pad = np.zeros((N, T), bool)
    pad[1, 2:] = True
    ctx, a = att(cr.tensor(s), cr.tensor(hk), mask=cr.tensor(pad))
    rc, ra = np_additive(s[:, None], hk, hk, att.W_a._array, att.U_a._array, att.v_a._array, pad[:, None, :])
    np.testing.assert_allclose(ctx._array, rc[:, 0], atol=1e-12)
    np.testing.assert_allclose(a._array, ra[:, 0], atol=1e-12)
    np.testing.assert_allclose(a._array.sum(-1), 1.0, atol=1e-12)
    assert np.all(a._array[1, 2:] == 0.0)
    assert ctx.shape == (N, Dk) and a.shape == (N, T)
    s_t = cr.tensor(s, requires_grad=True)
    h_t = cr.tensor(hk, requires_grad=True)
    assert gradcheck(lambda s, h: att(s, h, mask=cr.tensor(pad)), (s_t, h_t))
    ctx, _ = att(s_t, h_t)
    ctx.sum().backward()
    for name, p in att.named_parameters():
        assert p.grad is not None and np.any(p.grad._array != 0), name
