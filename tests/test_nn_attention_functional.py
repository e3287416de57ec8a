"""Functional attention against NumPy formulas: softmax(Q Kᵀ·scale + M) V, multi-head, additive."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck


def t64(a, requires_grad=False):
    return cr.tensor(np.asarray(a, dtype=np.float64), dtype=cr.float64, requires_grad=requires_grad)


def np_softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_sdpa(q, k, v, add=None, scale=None):
    scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ np.swapaxes(k, -1, -2) * scale
    if add is not None:
        s = s + add
    return np_softmax(s) @ v


# ------------------------------------------------------------ scaled dot-product attention
def test_sdpa_plain_and_scale():
    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 6))
    out = F.scaled_dot_product_attention(t64(q), t64(k), t64(v))
    np.testing.assert_allclose(out._array, np_sdpa(q, k, v), atol=1e-12)
    out = F.scaled_dot_product_attention(t64(q), t64(k), t64(v), scale=0.3)
    np.testing.assert_allclose(out._array, np_sdpa(q, k, v, scale=0.3), atol=1e-12)


def test_sdpa_bool_and_float_masks():
    rng = np.random.default_rng(1)
    q, k, v = rng.standard_normal((2, 2, 3, 4)), rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((2, 2, 5, 3))
    keep = rng.random((3, 5)) > 0.4
    keep[:, 0] = True  # every row keeps at least one key
    out = F.scaled_dot_product_attention(t64(q), t64(k), t64(v), attn_mask=cr.tensor(keep))
    np.testing.assert_allclose(out._array, np_sdpa(q, k, v, np.where(keep, 0.0, -np.inf)), atol=1e-12)
    bias = rng.standard_normal((2, 1, 3, 5))
    out = F.scaled_dot_product_attention(t64(q), t64(k), t64(v), attn_mask=t64(bias))
    np.testing.assert_allclose(out._array, np_sdpa(q, k, v, bias), atol=1e-12)


def test_sdpa_causal():
    rng = np.random.default_rng(2)
    q, k, v = rng.standard_normal((4, 3)), rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    out = F.scaled_dot_product_attention(t64(q), t64(k), t64(v), is_causal=True)
    causal = np.where(np.tril(np.ones((4, 4), bool)), 0.0, -np.inf)
    np.testing.assert_allclose(out._array, np_sdpa(q, k, v, causal), atol=1e-12)
    # the first query sees only the first key
    np.testing.assert_allclose(out._array[0], v[0], atol=1e-12)
    with pytest.raises(ValueError, match="not both"):
        F.scaled_dot_product_attention(t64(q), t64(k), t64(v), attn_mask=t64(causal), is_causal=True)


def test_sdpa_dropout_all_dropped_gives_zero():
    rng = np.random.default_rng(3)
    q = t64(rng.standard_normal((2, 3)))
    out = F.scaled_dot_product_attention(q, q, q, dropout_p=1.0)
    np.testing.assert_array_equal(out._array, 0.0)


def test_sdpa_errors():
    a = t64(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="same feature size"):
        F.scaled_dot_product_attention(a, t64(np.zeros((2, 4))), t64(np.zeros((2, 4))))
    with pytest.raises(ValueError, match="does not broadcast"):
        F.scaled_dot_product_attention(a, a, a, attn_mask=t64(np.zeros((3, 3))))


def test_sdpa_gradcheck_with_masks():
    rng = np.random.default_rng(4)
    q, k, v = (t64(rng.standard_normal(s), True) for s in ((2, 3, 2), (2, 4, 2), (2, 4, 3)))
    keep = cr.tensor(np.array([[1, 1, 0, 1], [1, 0, 1, 1], [0, 1, 1, 1]], dtype=bool))
    assert gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=keep), (q, k, v))
    assert gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), (q, k, v))
    bias = t64(rng.standard_normal((3, 4)), True)
    assert gradcheck(lambda q, b: F.scaled_dot_product_attention(q, k, v, attn_mask=b), (q, bias))
    assert gradgradcheck(lambda q, k: F.scaled_dot_product_attention(q, k, v), (q, k))


# ------------------------------------------------------------------- multi-head (functional)
def np_mha(query, key, value, h, w_in, b_in, w_o, b_o, add_mask=None):
    """Sequence-first (L, N, E); add_mask (N, h, L, S) additive.  Returns (out, per-head weights)."""
    L, N, E = query.shape
    S = key.shape[0]
    d = E // h
    q = query @ w_in[:E].T + b_in[:E]
    k = key @ w_in[E : 2 * E].T + b_in[E : 2 * E]
    v = value @ w_in[2 * E :].T + b_in[2 * E :]

    def split(x, n):  # (n, N, E) -> (N, h, n, d)
        return x.reshape(n, N, h, d).transpose(1, 2, 0, 3)

    s = split(q, L) @ np.swapaxes(split(k, S), -1, -2) / np.sqrt(d)
    if add_mask is not None:
        s = s + add_mask
    a = np_softmax(s)
    o = (a @ split(v, S)).transpose(2, 0, 1, 3).reshape(L, N, E)
    return o @ w_o.T + b_o, a


def test_mha_functional_matches_numpy_with_masks():
    rng = np.random.default_rng(5)
    L, S, N, E, h = 3, 4, 2, 4, 2
    query, key, value = rng.standard_normal((L, N, E)), rng.standard_normal((S, N, E)), rng.standard_normal((S, N, E))
    w_in, b_in = rng.standard_normal((3 * E, E)), rng.standard_normal(3 * E)
    w_o, b_o = rng.standard_normal((E, E)), rng.standard_normal(E)
    kpm = np.zeros((N, S), bool)
    kpm[1, 2:] = True
    am = np.zeros((L, S), bool)
    am[0, 1] = True
    add = np.where(kpm[:, None, None, :] | am[None, None], -np.inf, 0.0)
    ref_out, ref_a = np_mha(query, key, value, h, w_in, b_in, w_o, b_o, add)
    out, w = F.multi_head_attention_forward(
        t64(query), t64(key), t64(value), E, h, t64(w_in), t64(b_in), None, None, False, 0.0, t64(w_o), t64(b_o),
        key_padding_mask=cr.tensor(kpm), attn_mask=cr.tensor(am), average_attn_weights=False,
    )
    np.testing.assert_allclose(out._array, ref_out, atol=1e-12)
    np.testing.assert_allclose(w._array, ref_a, atol=1e-12)
    assert np.all(w._array[1, :, :, 2:] == 0.0)


def test_mha_functional_gradcheck():
    rng = np.random.default_rng(6)
    L, S, N, E, h = 2, 3, 2, 4, 2
    ts = [t64(rng.standard_normal(s), True) for s in ((L, N, E), (S, N, E), (3 * E, E), (3 * E,), (E, E), (E,))]
    kpm = cr.tensor(np.array([[False, False, True], [False, False, False]]))

    def fn(q, kv, w, b, wo, bo):
        return F.multi_head_attention_forward(q, kv, kv, E, h, w, b, None, None, False, 0.0, wo, bo,
                                              key_padding_mask=kpm, is_causal=True)

    assert gradcheck(fn, tuple(ts))


# ----------------------------------------------------------------------------- additive
def np_additive(s, hk, hv, w_a, u_a, v_a, pad=None):
    e = np.tanh((s @ w_a.T)[:, :, None, :] + (hk @ u_a.T)[:, None, :, :]) @ v_a  # (N, Tq, T)
    if pad is not None:
        e = np.where(pad, -np.inf, e)
    a = np_softmax(e)
    return a @ hv, a


def test_additive_attention_matches_notes_equations():
    rng = np.random.default_rng(7)
    N, T, Tq, Dq, Dk, Dv, A = 2, 5, 3, 3, 4, 2, 6
    s, hk, hv = rng.standard_normal((N, Tq, Dq)), rng.standard_normal((N, T, Dk)), rng.standard_normal((N, T, Dv))
    w_a, u_a, v_a = rng.standard_normal((A, Dq)), rng.standard_normal((A, Dk)), rng.standard_normal(A)
    pad = np.zeros((N, T), bool)
    pad[0, 3:] = True
    ctx, a = F.additive_attention(t64(s), t64(hk), t64(w_a), t64(u_a), t64(v_a), values=t64(hv), mask=cr.tensor(pad))
    rc, ra = np_additive(s, hk, hv, w_a, u_a, v_a, pad[:, None, :])
    np.testing.assert_allclose(ctx._array, rc, atol=1e-12)
    np.testing.assert_allclose(a._array, ra, atol=1e-12)
    np.testing.assert_allclose(a._array.sum(-1), 1.0, atol=1e-12)
    assert np.all(a._array[0, :, 3:] == 0.0)
    # one decoder state (N, Dq): context (N, Dk) with values defaulting to the keys
    ctx1, a1 = F.additive_attention(t64(s[:, 0]), t64(hk), t64(w_a), t64(u_a), t64(v_a))
    rc1, ra1 = np_additive(s[:, :1], hk, hk, w_a, u_a, v_a)
    np.testing.assert_allclose(ctx1._array, rc1[:, 0], atol=1e-12)
    np.testing.assert_allclose(a1._array, ra1[:, 0], atol=1e-12)


def test_additive_attention_gradcheck_and_errors():
    rng = np.random.default_rng(8)
    N, T, Dq, Dk, A = 2, 3, 2, 3, 2
    ts = [t64(rng.standard_normal(s), True) for s in ((N, Dq), (N, T, Dk), (A, Dq), (A, Dk), (A,))]
    pad = cr.tensor(np.array([[False, False, True], [False, False, False]]))
    assert gradcheck(lambda *a: F.additive_attention(*a, mask=pad), tuple(ts))
    with pytest.raises(ValueError, match=r"additive_attention: expected W_a \(2, 2\)"):
        F.additive_attention(ts[0], ts[1], ts[3], ts[3], ts[4])
    with pytest.raises(ValueError, match="keys must be"):
        F.additive_attention(ts[0], ts[0], ts[2], ts[3], ts[4])
