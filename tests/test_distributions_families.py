"""Weibull, Pareto, InverseGamma, Kumaraswamy, FisherSnedecor, NegativeBinomial and
OneHotCategoricalStraightThrough: against torch.distributions (float64) and from mathematics."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.distributions as D
from chainrule.autograd.gradcheck import gradcheck

RNG = np.random.default_rng(15)
F64 = cr.float64


def _t(arr, grad=False):
    return cr.tensor(np.asarray(arr, dtype=float), dtype=F64, requires_grad=grad)


def _torch():
    return pytest.importorskip("torch")


CASES = {
    # name: (parameters, values in the support, has entropy, has cdf)
    "Weibull": (lambda: [RNG.uniform(0.5, 2, (2, 3)), RNG.uniform(0.6, 3, (2, 3))],
                lambda s: RNG.uniform(0.1, 3, s), True, True),
    "Pareto": (lambda: [RNG.uniform(0.5, 1, (2, 3)), RNG.uniform(0.5, 4, (2, 3))],
               lambda s: RNG.uniform(1.0, 4, s), True, True),
    "InverseGamma": (lambda: [RNG.uniform(0.5, 4, (2, 3)), RNG.uniform(0.5, 2, (2, 3))],
                     lambda s: RNG.uniform(0.1, 3, s), True, False),
    "Kumaraswamy": (lambda: [RNG.uniform(0.5, 4, (2, 3)), RNG.uniform(0.5, 4, (2, 3))],
                    lambda s: RNG.uniform(0.05, 0.95, s), True, False),
    "FisherSnedecor": (lambda: [RNG.uniform(0.5, 8, (2, 3)), RNG.uniform(0.5, 8, (2, 3))],
                       lambda s: RNG.uniform(0.1, 3, s), False, False),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch(name):
    torch = _torch()
    make, values, has_entropy, has_cdf = CASES[name]
    arrays = make()
    c_params = [_t(a, True) for a in arrays]
    t_params = [torch.tensor(a, requires_grad=True) for a in arrays]
    c, t = getattr(D, name)(*c_params), getattr(torch.distributions, name)(*t_params)
    assert c.batch_shape == tuple(t.batch_shape) and c.has_rsample == t.has_rsample
    x = values((4, 2, 3))
    outs = [(c.log_prob(_t(x)), t.log_prob(torch.tensor(x)))]
    if has_entropy:
        outs.append((c.entropy(), t.entropy()))
    if has_cdf:
        outs.append((c.cdf(_t(x)), t.cdf(torch.tensor(x))))
        p = RNG.uniform(0.05, 0.95, (4, 2, 3))
        outs.append((c.icdf(_t(p)), t.icdf(torch.tensor(p))))
    for attr in ("mean", "variance") + (("mode",) if name != "Kumaraswamy" else ()):
        outs.append((getattr(c, attr), getattr(t, attr)))
    for co, to in outs:
        np.testing.assert_allclose(co.detach().numpy(), to.detach().numpy(), rtol=1e-8, atol=1e-11)
        if to.requires_grad and np.all(np.isfinite(to.detach().numpy())):
            cg = cr.autograd.grad(co.sum(), c_params, allow_unused=True, retain_graph=True)
            tg = torch.autograd.grad(to.sum(), t_params, allow_unused=True, retain_graph=True)
            for a, b in zip(cg, tg):
                if b is not None:
                    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-10)


def test_kumaraswamy_mode_is_the_density_maximum():
    """PyTorch's Kumaraswamy.mode is nan wherever b > 1 (it takes log(1 − b)); here it is
    ((a − 1)/(ab − 1))^(1/a), the maximum of the density, checked on a grid."""
    a, b = np.array([2.0, 3.0, 1.5]), np.array([3.0, 1.5, 5.0])
    d = D.Kumaraswamy(_t(a), _t(b))
    g = np.linspace(1e-6, 1 - 1e-6, 200001)
    p = d.log_prob(_t(g[:, None])).numpy()
    np.testing.assert_allclose(d.mode.numpy(), g[p.argmax(0)], atol=1e-5)
    assert np.all(np.isnan(D.Kumaraswamy(_t([0.5, 2.0]), _t([2.0, 0.5])).mode.numpy()))


@pytest.mark.parametrize("given", ["probs", "logits"])
def test_negative_binomial_matches_torch(given):
    torch = _torch()
    r = RNG.uniform(0.5, 6, (2, 3))
    arr = RNG.uniform(0.05, 0.9, (2, 3)) if given == "probs" else RNG.standard_normal((2, 3))
    c_r, c_p = _t(r, True), _t(arr, True)
    t_r, t_p = torch.tensor(r, requires_grad=True), torch.tensor(arr, requires_grad=True)
    c = D.NegativeBinomial(c_r, **{given: c_p})
    t = torch.distributions.NegativeBinomial(t_r, **{given: t_p})
    k = RNG.integers(0, 12, (4, 2, 3)).astype(float)
    np.testing.assert_array_equal(c.mode.numpy(), t.mode.detach().numpy())
    for co, to in [(c.log_prob(_t(k)), t.log_prob(torch.tensor(k))), (c.mean, t.mean), (c.variance, t.variance)]:
        np.testing.assert_allclose(co.detach().numpy(), to.detach().numpy(), rtol=1e-9, atol=1e-12)
        if to.requires_grad:
            cg = cr.autograd.grad(co.sum(), [c_r, c_p], retain_graph=True)
            tg = torch.autograd.grad(to.sum(), [t_r, t_p], retain_graph=True)
            for a, b in zip(cg, tg):
                np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-10)


# --------------------------------------------------------------------------- mathematics, no torch

@pytest.mark.parametrize("make,lo,hi", [
    (lambda: D.Weibull(_t([1.0, 2.0]), _t([0.8, 3.0])), 1e-9, 60.0),
    (lambda: D.Pareto(_t([0.5, 0.5]), _t([3.0, 5.0])), 0.5, 4000.0),
    (lambda: D.InverseGamma(_t([3.0, 4.0]), _t([1.0, 2.0])), 1e-6, 400.0),
    (lambda: D.Kumaraswamy(_t([2.0, 1.5]), _t([3.0, 2.0])), 1e-9, 1.0),
    (lambda: D.FisherSnedecor(_t([5.0, 8.0]), _t([9.0, 12.0])), 1e-9, 400.0),
])
def test_density_integrates_to_one_with_its_mean(make, lo, hi):
    d = make()
    x = np.geomspace(lo, hi, 400001)
    with np.errstate(divide="ignore"):  # log 0 at Kumaraswamy's x = 1
        p = d.log_prob(_t(x[:, None])).exp().numpy()
    trap = np.trapezoid if hasattr(np, "trapezoid") else np.trapz
    np.testing.assert_allclose(trap(p, x, axis=0), 1.0, atol=2e-3)
    np.testing.assert_allclose(trap(p * x[:, None], x, axis=0), d.mean.numpy(), rtol=5e-3)
    if not isinstance(d, D.FisherSnedecor):
        logp = np.log(np.maximum(p, 1e-300))
        np.testing.assert_allclose(-trap(p * logp, x, axis=0), d.entropy().numpy(), rtol=5e-3, atol=5e-3)


@pytest.mark.parametrize("make", [
    lambda: D.Weibull(_t([1.0, 2.0]), _t([0.8, 3.0])),
    lambda: D.Pareto(_t([1.0, 0.5]), _t([5.0, 6.0])),
    lambda: D.InverseGamma(_t([5.0, 6.0]), _t([1.0, 2.0])),
    lambda: D.Kumaraswamy(_t([2.0, 0.7]), _t([3.0, 2.0])),
    lambda: D.FisherSnedecor(_t([5.0, 8.0]), _t([12.0, 15.0])),
    lambda: D.NegativeBinomial(_t([3.0, 0.7]), _t([0.4, 0.8])),
])
def test_sample_means_within_standard_errors(make):
    cr.manual_seed(0)
    d = make()
    n = 40000
    s = d.sample((n,)).numpy()
    assert s.shape == (n, 2)
    assert np.all(np.abs(s.mean(0) - d.mean.numpy()) < 5 * np.sqrt(d.variance.numpy() / n)), (s.mean(0), d.mean)
    cr.manual_seed(0)
    np.testing.assert_array_equal(make().sample((n,)).numpy(), s)


def test_negative_binomial_sums_to_one():
    d = D.NegativeBinomial(_t([3.0, 0.7]), _t([0.4, 0.8]))
    k = np.arange(600.0)[:, None]
    p = d.log_prob(_t(k)).exp().numpy()
    np.testing.assert_allclose(p.sum(0), 1.0, rtol=1e-10)
    np.testing.assert_allclose((p * k).sum(0), d.mean.numpy(), rtol=1e-9)
    np.testing.assert_allclose((p * (k - d.mean.numpy()) ** 2).sum(0), d.variance.numpy(), rtol=1e-9)


def test_rsample_gradients():
    def weibull(scale, k):
        cr.manual_seed(1)
        return D.Weibull(scale, k).rsample((3,))

    assert gradcheck(weibull, (_t([1.0, 2.0], True), _t([0.8, 3.0], True)))

    def pareto(scale, alpha):
        cr.manual_seed(1)
        return D.Pareto(scale, alpha).rsample((3,))

    assert gradcheck(pareto, (_t([1.0, 2.0], True), _t([2.0, 3.0], True)))

    def kumaraswamy(a, b):
        cr.manual_seed(1)
        return D.Kumaraswamy(a, b).rsample((3,))

    assert gradcheck(kumaraswamy, (_t([1.5, 2.0], True), _t([2.0, 3.0], True)))
    # InverseGamma: E[x] = β/(α − 1), so the mean gradient in β estimates 1/(α − 1)
    cr.manual_seed(2)
    beta = _t([2.0], True)
    D.InverseGamma(_t([4.0]), beta).rsample((20000,)).mean().backward()
    assert abs(beta.grad.numpy()[0] - 1 / 3) < 0.01


def test_straight_through():
    probs = _t([[0.2, 0.3, 0.5]], True)
    d = D.OneHotCategoricalStraightThrough(probs=probs)
    cr.manual_seed(0)
    s = d.rsample((4,))
    assert set(np.unique(s.detach().numpy())) <= {0.0, 1.0} and np.all(s.detach().numpy().sum(-1) == 1)
    w = _t([1.0, 2.0, 3.0])
    (s * w).sum().backward()
    # the gradient of Σ w·(sample + p − p.detach()) with respect to p: w for each of the 4 samples
    np.testing.assert_allclose(probs.grad.numpy(), 4 * np.array([[1.0, 2.0, 3.0]]) - 4 * (0.2 + 0.6 + 1.5), atol=1e-12)


@pytest.mark.parametrize("make", [
    lambda: D.Weibull(-1.0, 1.0), lambda: D.Weibull(1.0, 0.0), lambda: D.Pareto(1.0, -2.0),
    lambda: D.InverseGamma(-1.0, 1.0), lambda: D.Kumaraswamy(1.0, -1.0), lambda: D.FisherSnedecor(0.0, 1.0),
    lambda: D.NegativeBinomial(-1.0, _t([0.5])), lambda: D.NegativeBinomial(2.0, _t([1.0])),
])
def test_bad_parameters_raise(make):
    with pytest.raises(ValueError):
        make()


def test_values_outside_the_support_raise():
    with pytest.raises(ValueError, match="support"):
        D.Pareto(_t([1.0]), _t([2.0])).log_prob(_t([0.5]))
    with pytest.raises(ValueError, match="support"):
        D.Weibull(1.0, 1.0).log_prob(cr.tensor(-0.5))
    with pytest.raises(ValueError, match="support"):
        D.NegativeBinomial(2.0, _t([0.5])).log_prob(_t([1.5]))
    assert D.Weibull(_t([1.0, 2.0]), _t([1.0, 2.0])).expand((3, 2)).sample().shape == (3, 2)
    assert math.isfinite(D.FisherSnedecor(2.0, 3.0).log_prob(cr.tensor(1.0)).item())


# --------------------------------------------------------------------------- VonMises

def test_von_mises_matches_torch():
    """PyTorch's log Iₙ are polynomial approximations (about 1e-8 relative; its circular variance
    is 3e-7 off at κ = 800, where 1 − I₁/I₀ = 6.2519556e-4); ours are the series and the asymptotic
    expansion (1e-15, checked against the moments by quadrature below), hence the tolerances."""
    torch = _torch()
    loc, k = np.array([0.5, 1.0, -2.0, 0.0]), np.array([0.3, 800.0, 5.0, 40.0])
    c_loc, c_k = _t(loc, True), _t(k, True)
    t_loc, t_k = torch.tensor(loc, requires_grad=True), torch.tensor(k, requires_grad=True)
    c, t = D.VonMises(c_loc, c_k), torch.distributions.VonMises(t_loc, t_k)
    x = RNG.uniform(-math.pi, math.pi, (3, 4))
    for co, to in [(c.log_prob(_t(x)), t.log_prob(torch.tensor(x))), (c.variance, t.variance)]:
        np.testing.assert_allclose(co.detach().numpy(), to.detach().numpy(), rtol=1e-6, atol=1e-6)
        cg = cr.autograd.grad(co.sum(), [c_loc, c_k], retain_graph=True, allow_unused=True)
        tg = torch.autograd.grad(to.sum(), [t_loc, t_k], retain_graph=True, allow_unused=True)
        for a, b in zip(cg, tg):
            assert (a is None) == (b is None)
            if b is not None:
                np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_von_mises_density_moments_and_samples():
    d = D.VonMises(_t([0.5, 2.5, -1.0]), _t([0.2, 4.0, 700.0]))
    g = np.linspace(-math.pi, math.pi, 200001)
    p = d.log_prob(_t(g[:, None])).exp().numpy()
    trap = np.trapezoid if hasattr(np, "trapezoid") else np.trapz
    np.testing.assert_allclose(trap(p, g, axis=0), 1.0, rtol=1e-9)
    # E[cos(x − μ)] = I₁(κ)/I₀(κ) = 1 − variance
    resultant = trap(p * np.cos(g[:, None] - d.loc.numpy()), g, axis=0)
    np.testing.assert_allclose(1 - d.variance.numpy(), resultant, rtol=1e-8)
    cr.manual_seed(0)
    n = 20000
    s = d.sample((n,)).numpy()
    assert s.shape == (n, 3) and np.all(s >= -math.pi) and np.all(s < math.pi)
    c = np.cos(s - d.loc.numpy())
    assert np.all(np.abs(c.mean(0) - resultant) < 5 * c.std(0) / math.sqrt(n))
    assert np.all(np.abs(np.sin(s - d.loc.numpy()).mean(0)) < 5 / math.sqrt(n))
    cr.manual_seed(0)
    np.testing.assert_array_equal(D.VonMises(_t([0.5, 2.5, -1.0]), _t([0.2, 4.0, 700.0])).sample((n,)).numpy(), s)
    assert gradcheck(lambda m, k: D.VonMises(m, k).log_prob(_t([0.3, 2.0, -1.2])),
                     (_t([0.5, 2.5, -1.0], True), _t([0.2, 4.0, 35.0], True)))
    with pytest.raises(ValueError):
        D.VonMises(0.0, -1.0)
    assert D.VonMises(_t([0.0]), _t([1.0])).expand((2, 1)).sample().shape == (2, 1)


# --------------------------------------------------------------------------- ContinuousBernoulli

CB_PROBS = np.array([0.05, 0.3, 0.4995, 0.5, 0.5008, 0.8, 0.99])


def test_continuous_bernoulli_matches_torch():
    torch = _torch()
    for given, arr in (("probs", CB_PROBS), ("logits", np.log(CB_PROBS / (1 - CB_PROBS)))):
        c_p, t_p = _t(arr, True), torch.tensor(arr, requires_grad=True)
        c = D.ContinuousBernoulli(**{given: c_p})
        t = torch.distributions.ContinuousBernoulli(**{given: t_p})
        x = RNG.uniform(0.01, 0.99, (3, len(arr)))
        outs = [(c.log_prob(_t(x)), t.log_prob(torch.tensor(x))), (c.entropy(), t.entropy()), (c.mean, t.mean),
                (c.variance, t.variance), (c.cdf(_t(x)), t.cdf(torch.tensor(x))),
                (c.icdf(_t(x)), t.icdf(torch.tensor(x)))]
        for co, to in outs:
            np.testing.assert_allclose(co.detach().numpy(), to.detach().numpy(), rtol=1e-9, atol=1e-12)
            (cg,) = cr.autograd.grad(co.sum(), [c_p], retain_graph=True)
            (tg,) = torch.autograd.grad(to.sum(), [t_p], retain_graph=True)
            np.testing.assert_allclose(cg.numpy(), tg.numpy(), rtol=1e-7, atol=1e-10)


def test_continuous_bernoulli_from_its_density():
    """The density integrates to 1 with the documented mean, variance, entropy and cdf, on both
    sides of the Taylor region around λ = ½."""
    d = D.ContinuousBernoulli(_t(CB_PROBS))
    g = np.linspace(0, 1, 200001)
    p = d.log_prob(_t(g[:, None])).exp().numpy()
    trap = np.trapezoid if hasattr(np, "trapezoid") else np.trapz
    np.testing.assert_allclose(trap(p, g, axis=0), 1.0, rtol=1e-9)
    mean = trap(p * g[:, None], g, axis=0)
    np.testing.assert_allclose(d.mean.numpy(), mean, rtol=1e-8)
    np.testing.assert_allclose(d.variance.numpy(), trap(p * (g[:, None] - mean) ** 2, g, axis=0), rtol=1e-7)
    np.testing.assert_allclose(d.entropy().numpy(), -trap(p * np.log(p), g, axis=0), rtol=1e-7, atol=1e-10)
    # F(0.3) by quadrature, outside the Taylor region (inside it PyTorch's F(x) = x is kept: the
    # uniform cdf, off by at most about |λ − ½|/2)
    g3 = np.linspace(0, 0.3, 60001)
    p3 = d.log_prob(_t(g3[:, None])).exp().numpy()
    outside = np.abs(CB_PROBS - 0.5) > 0.001
    np.testing.assert_allclose(d.cdf(_t([0.3])).numpy()[outside], trap(p3, g3, axis=0)[outside], rtol=1e-9)
    u = _t(RNG.uniform(0.01, 0.99, (4, len(CB_PROBS))))
    np.testing.assert_allclose(d.cdf(d.icdf(u)).numpy(), u.numpy(), rtol=1e-9)
    # the Taylor forms and the closed forms agree a little away from ½ (closer in, the closed forms
    # lose digits to cancellation, which is why the Taylor forms are used there)
    for edge in (0.497, 0.503):
        inside = D.ContinuousBernoulli(_t([edge]), lims=(0.49, 0.51))
        outside = D.ContinuousBernoulli(_t([edge]), lims=(0.4999, 0.5001))
        for attr in ("mean", "variance"):
            np.testing.assert_allclose(getattr(inside, attr).numpy(), getattr(outside, attr).numpy(), rtol=1e-8)
        np.testing.assert_allclose(inside.entropy().numpy(), outside.entropy().numpy(), atol=1e-10)


def test_continuous_bernoulli_samples_and_rsample_gradient():
    cr.manual_seed(0)
    d = D.ContinuousBernoulli(_t(CB_PROBS))
    n = 40000
    s = d.sample((n,)).numpy()
    assert s.shape == (n, len(CB_PROBS)) and np.all((s >= 0) & (s <= 1))
    assert np.all(np.abs(s.mean(0) - d.mean.numpy()) < 5 * np.sqrt(d.variance.numpy() / n))

    def f(p):
        cr.manual_seed(1)
        return D.ContinuousBernoulli(p, validate_args=False).rsample((3,))

    assert gradcheck(f, (_t([0.2, 0.45, 0.7], True),))
    with pytest.raises(ValueError):
        D.ContinuousBernoulli(_t([1.5]))


# --------------------------------------------------------------------------- GeneralizedPareto

GPD = [np.array([0.0, 1.0, 0.5, -1.0]), np.array([1.0, 2.0, 0.7, 1.5]), np.array([0.3, -0.2, 0.0, 0.45])]


def test_generalized_pareto_matches_torch():
    torch = _torch()
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # PyTorch's GeneralizedPareto compares with a default-dtype 0.0
    try:
        c_args = [_t(a, True) for a in GPD]
        t_args = [torch.tensor(a, requires_grad=True) for a in GPD]
        c, t = D.GeneralizedPareto(*c_args), torch.distributions.GeneralizedPareto(*t_args)
        x = np.array([[0.5, 2.0, 1.3, 0.0], [0.1, 4.0, 0.6, 3.0]])
        p = RNG.uniform(0.05, 0.95, (2, 4))
        outs = [(c.log_prob(_t(x)), t.log_prob(torch.tensor(x))), (c.cdf(_t(x)), t.cdf(torch.tensor(x))),
                (c.icdf(_t(p)), t.icdf(torch.tensor(p))), (c.entropy(), t.entropy()), (c.mean, t.mean),
                (c.variance, t.variance)]
        for co, to in outs:
            np.testing.assert_allclose(co.detach().numpy(), to.detach().numpy(), rtol=1e-10, atol=1e-12)
            cg = cr.autograd.grad(co.sum(), c_args, retain_graph=True, allow_unused=True)
            tg = torch.autograd.grad(to.sum(), t_args, retain_graph=True, allow_unused=True)
            for a, b in zip(cg, tg):
                if b is not None and a is not None:
                    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-8, atol=1e-10)
    finally:
        torch.set_default_dtype(old)


def test_generalized_pareto_from_its_density():
    d = D.GeneralizedPareto(*[_t(a) for a in GPD])
    # ξ = −0.2 has the finite support [1, 11]; the others run to ∞ (integrated far enough out)
    g = np.concatenate([np.linspace(-1.0, 11.0, 400001)[:-1], np.geomspace(11.0, 1e6, 400001)])
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = D.GeneralizedPareto(*[_t(a) for a in GPD], validate_args=False).log_prob(_t(g[:, None])).numpy()
    upper = np.where(GPD[2] < 0, GPD[0] - GPD[1] / np.where(GPD[2] < 0, GPD[2], -1.0), np.inf)
    inside = (g[:, None] >= GPD[0]) & (g[:, None] <= upper)
    p = np.where(inside, np.exp(np.where(inside, lp, 0.0)), 0.0)
    trap = np.trapezoid if hasattr(np, "trapezoid") else np.trapz
    np.testing.assert_allclose(trap(p, g, axis=0), 1.0, atol=2e-4)
    np.testing.assert_allclose(trap(p * g[:, None], g, axis=0), d.mean.numpy(), rtol=2e-3)
    u = _t(RNG.uniform(0.01, 0.99, (5, 4)))
    np.testing.assert_allclose(d.cdf(d.icdf(u)).numpy(), u.numpy(), rtol=1e-10)
    cr.manual_seed(0)
    s = d.sample((40000,)).numpy()
    assert np.all(d.support.check(_t(s)))
    ok = GPD[2] < 0.5  # finite variance
    assert np.all(np.abs(s.mean(0) - d.mean.numpy())[ok] < 5 * np.sqrt(d.variance.numpy()[ok] / 40000))

    def f(loc, scale, xi):
        cr.manual_seed(1)
        return D.GeneralizedPareto(loc, scale, xi).rsample((3,))

    assert gradcheck(f, (_t([0.0, 1.0], True), _t([1.0, 2.0], True), _t([0.3, -0.2], True)))
    with pytest.raises(ValueError, match="support"):
        d.log_prob(_t([0.5, 12.0, 1.0, 0.0]))
    with pytest.raises(ValueError):
        D.GeneralizedPareto(0.0, -1.0, 0.1)
