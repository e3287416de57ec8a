"""nn.AdaptiveLogSoftmaxWithLoss: probabilities from mathematics (they sum to 1 over all classes;
forward's output is log_prob at the target), gradients by finite differences (float64), and
PyTorch as the oracle for values and gradients where it is installed."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck
from chainrule.func import functional_call

R = np.random.default_rng(20261207)


def _layer(head_bias: bool = True) -> nn.AdaptiveLogSoftmaxWithLoss:
    cr.manual_seed(3)
    return nn.AdaptiveLogSoftmaxWithLoss(6, 11, [3, 5, 8], div_value=2.0, head_bias=head_bias).double()


def test_structure_follows_cutoffs_and_div_value():
    m = _layer()
    assert m.cutoffs == [3, 5, 8, 11] and m.shortlist_size == 3 and m.n_clusters == 3 and m.head_size == 6
    assert tuple(m.head.weight.shape) == (6, 6) and tuple(m.head.bias.shape) == (6,)
    # cluster i: in -> floor(in / div^(i+1)) -> size of the cluster, no biases
    assert [tuple(s[0].weight.shape) for s in m.tail] == [(3, 6), (1, 6), (0, 6)]
    assert [tuple(s[1].weight.shape) for s in m.tail] == [(2, 3), (3, 1), (3, 0)]
    assert all(s[0].bias is None and s[1].bias is None for s in m.tail)
    assert _layer(head_bias=False).head.bias is None


def test_probabilities_sum_to_one_and_output_is_log_prob_at_target():
    m = _layer()
    x = cr.tensor(R.standard_normal((7, 6)))
    lp = m.log_prob(x).detach().numpy()
    assert lp.shape == (7, 11)
    np.testing.assert_allclose(np.exp(lp).sum(1), 1.0, rtol=1e-12)
    y = np.array([0, 2, 3, 4, 5, 9, 10])
    out, loss = m(x, cr.tensor(y))
    np.testing.assert_allclose(out.detach().numpy(), lp[np.arange(7), y], rtol=1e-12)
    np.testing.assert_allclose(float(loss), -lp[np.arange(7), y].mean(), rtol=1e-12)
    np.testing.assert_array_equal(m.predict(x).numpy(), lp.argmax(1))
    # the shortlist's log-probabilities are the head's log-softmax columns
    h = m.head(x).detach().numpy()
    hl = h - np.log(np.exp(h).sum(1, keepdims=True))
    np.testing.assert_allclose(lp[:, :3], hl[:, :3], rtol=1e-12)


def test_unbatched_input():
    m = _layer()
    x = R.standard_normal(6)
    out, loss = m(cr.tensor(x), cr.tensor(7))
    full = m.log_prob(cr.tensor(x)).detach().numpy()
    assert out.shape == () and full.shape == (11,)
    np.testing.assert_allclose(float(out), full[7], rtol=1e-12)
    np.testing.assert_allclose(float(loss), -full[7], rtol=1e-12)
    assert int(m.predict(cr.tensor(x))) == int(full.argmax())


def test_gradients_by_finite_differences():
    m = _layer()
    y = cr.tensor(np.array([1, 4, 6, 9, 3]))
    x = cr.tensor(R.standard_normal((5, 6)), requires_grad=True)
    names = [n for n, _ in m.named_parameters() if _.numel()]
    params = [cr.tensor(dict(m.named_parameters())[n].detach().numpy(), requires_grad=True) for n in names]

    def out(x, *ps):
        return functional_call(m, dict(zip(names, ps, strict=True)), (x, y)).output

    assert gradcheck(out, [x, *params])
    assert gradgradcheck(lambda x, *ps: out(x, *ps).sum() ** 2, [x, *params])
    assert gradcheck(lambda x: m.log_prob(x), [x])


def test_empty_batch():
    m = _layer()
    x = cr.tensor(np.zeros((0, 6)), requires_grad=True)
    out, loss = m(x, cr.tensor(np.zeros(0, dtype=np.int64)))
    assert out.shape == (0,) and tuple(m.log_prob(x).shape) == (0, 11)
    out.sum().backward()
    assert tuple(x.grad.shape) == (0, 6)


@pytest.mark.parametrize("cutoffs", [[], [5, 3], [0, 4], [3, 11], [3, 3], [2.5]])
def test_bad_cutoffs(cutoffs):
    with pytest.raises(ValueError, match="AdaptiveLogSoftmaxWithLoss: cutoffs"):
        nn.AdaptiveLogSoftmaxWithLoss(6, 11, cutoffs)


def test_bad_input():
    m = _layer()
    with pytest.raises(RuntimeError, match=r"target values should be in \[0, 10\]"):
        m(cr.tensor(np.zeros((2, 6))), cr.tensor([0, 11]))
    with pytest.raises(RuntimeError, match="same size in the batch dimension"):
        m(cr.tensor(np.zeros((2, 6))), cr.tensor([0, 1, 2]))
    with pytest.raises(RuntimeError, match="6 features"):
        m.log_prob(cr.tensor(np.zeros((2, 5))))
    with pytest.raises(RuntimeError, match="1-D or 2-D"):
        m.predict(cr.tensor(np.zeros((1, 2, 6))))


def test_against_pytorch():
    torch = pytest.importorskip("torch")
    m = _layer()
    tm = torch.nn.AdaptiveLogSoftmaxWithLoss(6, 11, [3, 5, 8], div_value=2.0, head_bias=True).double()
    assert list(tm.state_dict()) == list(m.state_dict())
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in m.state_dict().items()})
    xn, yn = R.standard_normal((9, 6)), np.array([0, 1, 2, 3, 4, 5, 7, 8, 10])
    x = cr.tensor(xn, requires_grad=True)
    tx = torch.tensor(xn, requires_grad=True)
    out, loss = m(x, cr.tensor(yn))
    tout, tloss = tm(tx, torch.tensor(yn))
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(float(loss), tloss.item(), rtol=1e-12)
    (out.sum() + 3 * loss).backward()
    (tout.sum() + 3 * tloss).backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    for (n, p), (tn, tp) in zip(m.named_parameters(), tm.named_parameters(), strict=True):
        assert n == tn
        g = np.zeros(tuple(p.shape)) if p.grad is None else p.grad.numpy()
        tg = np.zeros(tuple(tp.shape)) if tp.grad is None else tp.grad.numpy()
        np.testing.assert_allclose(g, tg, rtol=1e-10, atol=1e-12, err_msg=n)
    np.testing.assert_allclose(m.log_prob(x).detach().numpy(), tm.log_prob(tx).detach().numpy(), rtol=1e-12)
    np.testing.assert_array_equal(m.predict(x).numpy(), tm.predict(tx).numpy())


def test_reset_parameters_redraws_every_linear():
    m = _layer()
    before = {n: p.detach().numpy().copy() for n, p in m.named_parameters() if p.numel()}
    m.reset_parameters()
    for n, p in m.named_parameters():
        if p.numel():
            assert p.shape == before[n].shape and not np.array_equal(p.detach().numpy(), before[n]), n
