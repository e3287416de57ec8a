"""torch.nn.attention (chainrule.nn.attention): SDPBackend, sdpa_kernel, the causal biases, and
scaled_dot_product_attention's enable_gqa."""

import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.backends import cuda as flags
from chainrule.nn.attention import SDPBackend, sdpa_kernel
from chainrule.nn.attention.bias import CausalBias, CausalVariant, causal_lower_right, causal_upper_left


def _all_enabled():
    return (flags.math_sdp_enabled(), flags.flash_sdp_enabled(), flags.mem_efficient_sdp_enabled(),
            flags.cudnn_sdp_enabled())


def test_backend_enum():
    assert [(b.name, int(b)) for b in SDPBackend] == [
        ("ERROR", -1), ("MATH", 0), ("FLASH_ATTENTION", 1), ("EFFICIENT_ATTENTION", 2), ("CUDNN_ATTENTION", 3),
        ("OVERRIDEABLE", 4)]
    assert cr.nn.attention.SDPBackend is SDPBackend


def test_sdpa_kernel_sets_and_restores_the_flags():
    assert _all_enabled() == (True, True, True, True)
    with sdpa_kernel(SDPBackend.MATH) as ctx:
        assert ctx == {}
        assert _all_enabled() == (True, False, False, False)
        with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION]):
            assert _all_enabled() == (False, True, False, True)
        assert _all_enabled() == (True, False, False, False)
    assert _all_enabled() == (True, True, True, True)
    with pytest.raises(KeyError), sdpa_kernel([]):
        assert _all_enabled() == (False, False, False, False)
        raise KeyError("restored on exception too")
    assert _all_enabled() == (True, True, True, True)


def test_sdpa_kernel_priority():
    before = list(flags.SDP_PRIORITY)
    assert before == [1, 2, 0, 3, 4]
    with sdpa_kernel([SDPBackend.MATH, SDPBackend.CUDNN_ATTENTION], set_priority=True):
        assert flags.SDP_PRIORITY == [0, 3, 1, 2, 4]
    assert flags.SDP_PRIORITY == before


@pytest.mark.parametrize("bad", [(SDPBackend.MATH,), "math", None, 0, {SDPBackend.MATH}])
def test_sdpa_kernel_rejects_what_is_not_a_backend_or_a_list(bad):
    with pytest.raises(AssertionError, match="Backend must be an instance of SDPBackend"), sdpa_kernel(bad):
        pass
    assert _all_enabled() == (True, True, True, True)


def test_the_choice_does_not_change_results_and_no_cpu_backend_raises():
    cr.manual_seed(0)
    q, k, v = cr.randn(2, 3, 5, 4), cr.randn(2, 3, 6, 4), cr.randn(2, 3, 6, 4)
    ref = F.scaled_dot_product_attention(q, k, v)
    for chosen in (SDPBackend.MATH, SDPBackend.FLASH_ATTENTION, [SDPBackend.MATH, SDPBackend.EFFICIENT_ATTENTION]):
        with sdpa_kernel(chosen):
            np.testing.assert_array_equal(F.scaled_dot_product_attention(q, k, v)._array, ref._array)
    for chosen in (SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION, SDPBackend.ERROR, []):
        with sdpa_kernel(chosen), pytest.raises(RuntimeError, match="No viable backend"):
            F.scaled_dot_product_attention(q, k, v)


def _tril(L, S, d=0):
    return np.tril(np.ones((L, S), dtype=bool), d)


@pytest.mark.parametrize("L,S", [(3, 3), (3, 5), (5, 3), (1, 4)])
def test_causal_bias_masks(L, S):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lr, ul = causal_lower_right(L, S), causal_upper_left(L, S)
    assert lr.variant is CausalVariant.LOWER_RIGHT and (lr.seq_len_q, lr.seq_len_kv) == (L, S)
    np.testing.assert_array_equal(ul._materialize()._array, _tril(L, S))
    np.testing.assert_array_equal(lr._materialize()._array, _tril(L, S, S - L))
    assert repr(ul) == repr(ul._materialize())


def test_causal_bias_checks():
    with pytest.warns(UserWarning, match="NaNs"):
        causal_lower_right(4, 2)
    with pytest.raises(AssertionError):
        causal_upper_left(2, 3, 4)
    with pytest.raises(AssertionError):
        causal_lower_right(2)
    with pytest.raises(AssertionError, match="CausalVariant"):
        CausalBias(1, 2, 2)
    q = cr.randn(1, 2, 4)
    with pytest.raises(ValueError, match="causal=True"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=causal_upper_left(2, 2), is_causal=True)


@pytest.mark.parametrize("L,S", [(3, 3), (3, 6), (6, 6), (2, 7)])
def test_causal_bias_in_attention_equals_its_mask(L, S):
    cr.manual_seed(1)
    q, k, v = cr.randn(2, 2, L, 4), cr.randn(2, 2, S, 4), cr.randn(2, 2, S, 3)
    for bias, mask in ((causal_upper_left(L, S), _tril(L, S)), (causal_lower_right(L, S), _tril(L, S, S - L))):
        got = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        want = F.scaled_dot_product_attention(q, k, v, attn_mask=cr.tensor(mask))
        np.testing.assert_allclose(got._array, want._array, rtol=1e-6, atol=1e-6)


def test_enable_gqa_repeats_the_key_heads():
    cr.manual_seed(2)
    q, k, v = cr.randn(2, 6, 3, 4), cr.randn(2, 2, 5, 4), cr.randn(2, 2, 5, 3)
    got = F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    want = F.scaled_dot_product_attention(q, k.repeat_interleave(3, dim=1), v.repeat_interleave(3, dim=1))
    np.testing.assert_allclose(got._array, want._array, rtol=1e-6)
    with pytest.raises(RuntimeError, match="heads"):
        F.scaled_dot_product_attention(q, cr.randn(2, 4, 5, 4), cr.randn(2, 4, 5, 3), enable_gqa=True)


def test_against_torch():
    torch = pytest.importorskip("torch")
    from torch.nn.attention import SDPBackend as TB
    from torch.nn.attention import bias as tbias

    assert [(n, int(getattr(TB, n))) for n in TB.__members__] == [(b.name, int(b)) for b in SDPBackend]
    assert [(v.name, int(v)) for v in tbias.CausalVariant] == [(v.name, int(v)) for v in CausalVariant]
    rng = np.random.default_rng(0)
    for L, S in ((3, 5), (4, 4), (5, 2)):
        qa, ka, va = (rng.standard_normal(shape) for shape in ((2, 4, L, 8), (2, 2, S, 8), (2, 2, S, 8)))
        pairs = ((causal_upper_left, tbias.causal_upper_left), (causal_lower_right, tbias.causal_lower_right))
        for ours, theirs in pairs:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                b_ours, b_theirs = ours(L, S), theirs(L, S)
            np.testing.assert_array_equal(b_ours._materialize()._array, b_theirs._materialize().numpy())
            tq = torch.tensor(qa, requires_grad=True)
            tk, tv = torch.tensor(ka, requires_grad=True), torch.tensor(va, requires_grad=True)
            cq, ck, cv = (cr.tensor(a, requires_grad=True) for a in (qa, ka, va))
            t_out = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=b_theirs, enable_gqa=True)
            c_out = F.scaled_dot_product_attention(cq, ck, cv, attn_mask=b_ours, enable_gqa=True)
            # (rows that see no key, lower right with L > S: zeros in both)
            np.testing.assert_allclose(c_out._array, t_out.detach().numpy(), rtol=1e-10, atol=1e-15)
            t_out.sum().backward()
            c_out.sum().backward()
            for c, t in ((cq, tq), (ck, tk), (cv, tv)):
                np.testing.assert_allclose(c.grad._array, t.grad.numpy(), rtol=1e-9, atol=1e-12)
    for bad in ((TB.MATH,), "math"):
        with pytest.raises(AssertionError), torch.nn.attention.sdpa_kernel(bad):
            pass
