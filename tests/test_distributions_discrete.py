"""Poisson, Binomial, Geometric, Multinomial: against torch.distributions (float64), and from
mathematics (probabilities sum to 1, seeded sample moments, support and parameter checks)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.distributions as D
from chainrule.autograd.gradcheck import gradcheck

RNG = np.random.default_rng(12)
F64 = cr.float64


def _t(arr, grad=True):
    return cr.tensor(np.asarray(arr, dtype=float), dtype=F64, requires_grad=grad)


def _torch():
    return pytest.importorskip("torch")


def _compare(c_out, t_out, c_params, t_params, rtol=1e-9, atol=1e-11, grad_rtol=1e-6):
    torch = _torch()
    np.testing.assert_allclose(c_out.detach().numpy(), t_out.detach().numpy(), rtol=rtol, atol=atol)
    if not c_params or not c_out.requires_grad or not t_out.requires_grad:
        return
    w = RNG.standard_normal(c_out.shape)
    c_grads = cr.autograd.grad((c_out * cr.tensor(w, dtype=F64)).sum(), c_params, allow_unused=True,
                               retain_graph=True)
    t_grads = torch.autograd.grad((t_out * torch.tensor(w)).sum(), t_params, allow_unused=True, retain_graph=True)
    for cg, tg in zip(c_grads, t_grads):
        if tg is None:
            assert cg is None or np.all(cg.numpy() == 0)
            continue
        np.testing.assert_allclose(cg.numpy(), tg.numpy(), rtol=grad_rtol, atol=atol)


@pytest.mark.parametrize("name,given", [
    ("Poisson", "rate"), ("Binomial", "probs"), ("Binomial", "logits"), ("Geometric", "probs"),
    ("Geometric", "logits"),
])
def test_matches_torch(name, given):
    torch = _torch()
    if given == "rate":
        arr = RNG.uniform(0.5, 5, (2, 3))
    elif given == "probs":
        arr = RNG.uniform(0.05, 0.95, (2, 3))
    else:
        arr = RNG.standard_normal((2, 3)) * 2
    c_p, t_p = _t(arr), torch.tensor(arr, requires_grad=True)
    kwargs_c = {given: c_p} if given != "rate" else {}
    kwargs_t = {given: t_p} if given != "rate" else {}
    args_c, args_t = ([c_p], [t_p]) if given == "rate" else ([], [])
    if name == "Binomial":
        kwargs_c["total_count"], kwargs_t["total_count"] = 6, 6
    c = getattr(D, name)(*args_c, **kwargs_c)
    t = getattr(torch.distributions, name)(*args_t, **kwargs_t)
    assert c.batch_shape == tuple(t.batch_shape) == (2, 3)
    k = RNG.integers(0, 7, (4, 2, 3)).astype(float)
    _compare(c.log_prob(_t(k, False)), t.log_prob(torch.tensor(k)), [c_p], [t_p])
    for attr in ("mean", "variance", "stddev", "mode"):
        _compare(getattr(c, attr), getattr(t, attr), [c_p], [t_p])
    if name != "Poisson":
        _compare(c.entropy(), t.entropy(), [c_p], [t_p])
    if name == "Binomial":
        np.testing.assert_array_equal(c.enumerate_support().numpy(), t.enumerate_support().numpy())
        np.testing.assert_array_equal(c.enumerate_support(False).numpy(), t.enumerate_support(False).numpy())


@pytest.mark.parametrize("given", ["probs", "logits"])
def test_multinomial_matches_torch(given):
    torch = _torch()
    arr = RNG.uniform(0.1, 1, (2, 4)) if given == "probs" else RNG.standard_normal((2, 4))
    c_p, t_p = _t(arr), torch.tensor(arr, requires_grad=True)
    c, t = D.Multinomial(5, **{given: c_p}), torch.distributions.Multinomial(5, **{given: t_p})
    assert c.batch_shape == (2,) and c.event_shape == (4,)
    x = RNG.multinomial(5, [0.25] * 4, (3, 2)).astype(float)
    _compare(c.log_prob(_t(x, False)), t.log_prob(torch.tensor(x)), [c_p], [t_p])
    # PyTorch's log n! is a float32 number (5e-8 off): the entropy agrees to 1e-7
    _compare(c.entropy(), t.entropy(), [c_p], [t_p], atol=1e-7)
    for attr in ("mean", "variance"):
        _compare(getattr(c, attr), getattr(t, attr), [c_p], [t_p])


def test_edge_probabilities_match_torch():
    torch = _torch()
    p = np.array([1.0, 0.5, 1e-3])
    k = np.array([0.0, 3.0, 2.0])
    c, t = D.Geometric(_t(p, False)), torch.distributions.Geometric(torch.tensor(p))
    np.testing.assert_allclose(c.log_prob(_t(k, False)).numpy(), t.log_prob(torch.tensor(k)).numpy())
    pm = np.array([0.0, 0.5, 0.5])
    x = np.array([0.0, 1.0, 3.0])
    cm, tm = D.Multinomial(4, _t(pm, False)), torch.distributions.Multinomial(4, torch.tensor(pm))
    np.testing.assert_allclose(cm.log_prob(_t(x, False)).numpy(), tm.log_prob(torch.tensor(x)).numpy())
    cb, tb = D.Binomial(5, _t([0.0, 1.0], False)), torch.distributions.Binomial(
        5, torch.tensor([0.0, 1.0], dtype=torch.float64))
    np.testing.assert_allclose(cb.log_prob(_t([0.0, 5.0], False)).numpy(),
                               tb.log_prob(torch.tensor([0.0, 5.0], dtype=torch.float64)).numpy(), atol=1e-12)


# --------------------------------------------------------------------------- mathematics, no torch

def test_probabilities_sum_to_one_and_give_the_moments():
    k = _t(np.arange(200.0)[:, None], False)
    # parameters without ties between two most likely values
    for d in (D.Poisson(_t([0.5, 7.3], False)), D.Binomial(9, _t([0.23, 0.67], False)),
              D.Geometric(_t([0.3, 0.9], False))):
        d._validate_args = False
        p = d.log_prob(k).exp().numpy()
        if isinstance(d, D.Binomial):
            p = p[:10]
        kk = np.arange(len(p))[:, None]
        np.testing.assert_allclose(p.sum(0), 1.0, rtol=1e-10)
        np.testing.assert_allclose((p * kk).sum(0), d.mean.numpy(), rtol=1e-9)
        np.testing.assert_allclose((p * (kk - d.mean.numpy()) ** 2).sum(0), d.variance.numpy(), rtol=1e-9)
        if not isinstance(d, D.Poisson):
            np.testing.assert_allclose(-(p * np.log(p)).sum(0), d.entropy().numpy(), rtol=1e-9)
        np.testing.assert_array_equal(d.mode.numpy(), np.argmax(p, 0))


def test_multinomial_probabilities_sum_to_one():
    n, probs = 4, np.array([0.2, 0.3, 0.5])
    d = D.Multinomial(n, _t(probs, False))
    xs = np.array([(a, b, n - a - b) for a in range(n + 1) for b in range(n + 1 - a)], dtype=float)
    p = d.log_prob(_t(xs, False)).exp().numpy()
    np.testing.assert_allclose(p.sum(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(-(p * np.log(p)).sum(), d.entropy().numpy(), rtol=1e-10)
    np.testing.assert_allclose((p[:, None] * xs).sum(0), n * probs, rtol=1e-12)


@pytest.mark.parametrize("make", [
    lambda: D.Poisson(_t([0.5, 7.0], False)),
    lambda: D.Binomial(_t([3.0, 20.0], False), _t([0.2, 0.7], False)),
    lambda: D.Binomial(10, logits=_t([-1.0, 2.0], False)),
    lambda: D.Geometric(_t([0.3, 0.9], False)),
])
def test_sample_moments_within_standard_errors(make):
    cr.manual_seed(0)
    d = make()
    n = 40000
    s = d.sample((n,)).numpy()
    assert s.shape == (n, 2) and np.all(s == np.floor(s)) and np.all(s >= 0)
    assert np.all(np.abs(s.mean(0) - d.mean.numpy()) < 5 * np.sqrt(d.variance.numpy() / n))
    np.testing.assert_allclose(s.var(0), d.variance.numpy(), rtol=0.06)
    cr.manual_seed(0)
    np.testing.assert_array_equal(make().sample((n,)).numpy(), s)


def test_multinomial_samples():
    cr.manual_seed(1)
    probs = np.array([[0.2, 0.3, 0.5], [0.6, 0.4, 0.0]])
    d = D.Multinomial(7, _t(probs, False))
    s = d.sample((20000,)).numpy()
    assert s.shape == (20000, 2, 3)
    np.testing.assert_array_equal(s.sum(-1), 7)
    assert np.all(s[:, 1, 2] == 0)
    se = np.sqrt(7 * probs * (1 - probs) / 20000)
    assert np.all(np.abs(s.mean(0) - 7 * probs) <= 5 * se + 1e-12)


def test_log_prob_gradcheck():
    k = _t([0.0, 2.0, 5.0], False)
    assert gradcheck(lambda r: D.Poisson(r).log_prob(k), (_t([0.5, 2.0, 4.0]),))
    assert gradcheck(lambda lg: D.Binomial(6, logits=lg).log_prob(k), (_t([-1.0, 0.3, 2.0]),))
    assert gradcheck(lambda p: D.Geometric(p).log_prob(k), (_t([0.2, 0.5, 0.8]),))
    assert gradcheck(lambda p: D.Geometric(p).entropy(), (_t([0.2, 0.5, 0.8]),))
    x = _t([[1.0, 2.0, 3.0]], False)
    assert gradcheck(lambda lg: D.Multinomial(6, logits=lg).log_prob(x), (_t([[0.1, -0.5, 0.7]]),))


def test_shapes_and_expand():
    d = D.Binomial(_t([[3.0], [5.0]], False), _t([0.2, 0.4, 0.6], False))
    assert d.batch_shape == (2, 3) and d.sample((4,)).shape == (4, 2, 3)
    e = D.Poisson(_t([1.0, 2.0], False)).expand((3, 2))
    assert e.batch_shape == (3, 2) and e.sample().shape == (3, 2)
    m = D.Multinomial(3, _t([0.5, 0.5], False)).expand((4,))
    assert m.batch_shape == (4,) and m.sample((2,)).shape == (2, 4, 2)


@pytest.mark.parametrize("make", [
    lambda: D.Poisson(-1.0), lambda: D.Binomial(3, _t([1.5], False)), lambda: D.Binomial(2.5, _t([0.5], False)),
    lambda: D.Geometric(_t([1.2], False)), lambda: D.Geometric(_t([0.0], False)),
    lambda: D.Multinomial(3, _t([0.5, -0.1], False)),
])
def test_bad_parameters_raise(make):
    with pytest.raises(ValueError):
        make()


def test_values_outside_the_support_raise():
    with pytest.raises(ValueError, match="support"):
        D.Poisson(1.0).log_prob(cr.tensor(1.5))
    with pytest.raises(ValueError, match="support"):
        D.Binomial(3, _t([0.5], False)).log_prob(_t([4.0], False))
    with pytest.raises(ValueError, match="support"):
        D.Geometric(_t([0.5], False)).log_prob(_t([-1.0], False))
    with pytest.raises(ValueError, match="support"):
        D.Multinomial(3, _t([0.5, 0.5], False)).log_prob(_t([2.0, 2.0], False))
    with pytest.raises(ValueError, match="probs.*logits|logits.*probs"):
        D.Binomial(3)
