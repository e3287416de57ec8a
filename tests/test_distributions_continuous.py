"""The continuous families: values and gradients against torch.distributions (float64), and
tests from mathematics that need no torch (densities integrate to 1, seeded sample moments,
reparameterised gradients by finite differences and by E[dx/dθ] = dE[x]/dθ)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.distributions as D
from chainrule.autograd.gradcheck import gradcheck
from chainrule.distributions.utils import _gamma_dx_dalpha

RNG = np.random.default_rng(11)
F64 = cr.float64


def _t(arr, grad=True):
    return cr.tensor(np.asarray(arr, dtype=float), dtype=F64, requires_grad=grad)


def _torch():
    return pytest.importorskip("torch")


def _compare(c_out, t_out, c_params, t_params, rtol=1e-9, atol=1e-11, grad_rtol=1e-6):
    """Same values (NaN where torch has NaN), and same gradients of Σ w·out for random weights w
    (to 1e-6: the two libraries' trigamma functions, in the gradients of lgamma and digamma, agree
    to about 1e-7)."""
    torch = _torch()
    np.testing.assert_allclose(c_out.detach().numpy(), t_out.detach().numpy(), rtol=rtol, atol=atol)
    if not c_params or not c_out.requires_grad:
        return
    w = RNG.standard_normal(c_out.shape)
    finite = np.isfinite(c_out.detach().numpy())
    w = np.where(finite, w, 0.0)
    c_grads = cr.autograd.grad((c_out * cr.tensor(w, dtype=F64)).sum(), c_params, allow_unused=True,
                               retain_graph=True)
    t_grads = torch.autograd.grad((t_out * torch.tensor(w)).sum(), t_params, allow_unused=True, retain_graph=True)
    for cg, tg in zip(c_grads, t_grads):
        if tg is None:
            assert cg is None or np.all(cg.numpy() == 0)
            continue
        np.testing.assert_allclose(cg.numpy(), tg.numpy(), rtol=grad_rtol, atol=atol)


# name -> (parameter arrays, value sampler in the support, extra methods)
CASES = {
    "Exponential": (lambda: [RNG.uniform(0.5, 2, (2, 3))], lambda s: RNG.exponential(1.0, s), ("cdf", "icdf")),
    "Laplace": (lambda: [RNG.standard_normal((2, 3)), RNG.uniform(0.5, 2, (3,))], lambda s: RNG.standard_normal(s) * 2,
                ("cdf", "icdf")),
    "Cauchy": (lambda: [RNG.standard_normal((2, 3)), RNG.uniform(0.5, 2, (3,))], lambda s: RNG.standard_normal(s) * 2,
               ("cdf", "icdf")),
    "Gumbel": (lambda: [RNG.standard_normal((2, 3)), RNG.uniform(0.5, 2, (3,))], lambda s: RNG.standard_normal(s) * 2,
               ("cdf", "icdf")),
    "Gamma": (lambda: [RNG.uniform(0.3, 4, (2, 3)), RNG.uniform(0.5, 2, (3,))], lambda s: RNG.gamma(2.0, 1.0, s),
              ("cdf",)),
    "Chi2": (lambda: [RNG.uniform(0.5, 6, (2, 3))], lambda s: RNG.gamma(2.0, 1.0, s), ("cdf",)),
    "Beta": (lambda: [RNG.uniform(0.3, 4, (2, 3)), RNG.uniform(0.3, 4, (3,))],
             lambda s: RNG.uniform(0.05, 0.95, s), ()),
    "StudentT": (lambda: [RNG.uniform(0.5, 6, (2, 3)), RNG.standard_normal((3,)), RNG.uniform(0.5, 2, (2, 1))],
                 lambda s: RNG.standard_normal(s) * 2, ()),
    "LogNormal": (lambda: [RNG.standard_normal((2, 3)), RNG.uniform(0.3, 1.5, (3,))], lambda s: RNG.lognormal(0, 1, s),
                  ("cdf", "icdf")),
    "Normal": (lambda: [RNG.standard_normal((2, 3)), RNG.uniform(0.5, 2, (3,))], lambda s: RNG.standard_normal(s),
               ("cdf", "icdf")),
    "HalfNormal": (lambda: [RNG.uniform(0.5, 2, (2, 3))], lambda s: RNG.exponential(1.0, s), ("cdf", "icdf")),
    "HalfCauchy": (lambda: [RNG.uniform(0.5, 2, (2, 3))], lambda s: RNG.exponential(1.0, s), ("cdf", "icdf")),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch(name):
    torch = _torch()
    make_params, values, extra = CASES[name]
    arrays = make_params()
    c_params = [_t(a) for a in arrays]
    t_params = [torch.tensor(a, requires_grad=True) for a in arrays]
    c, t = getattr(D, name)(*c_params), getattr(torch.distributions, name)(*t_params)
    assert c.batch_shape == tuple(t.batch_shape) == (2, 3) and c.event_shape == tuple(t.event_shape)
    x = values((4, 2, 3))
    _compare(c.log_prob(_t(x, False)), t.log_prob(torch.tensor(x)), c_params, t_params)
    _compare(c.entropy(), t.entropy(), c_params, t_params)
    for attr in ("mean", "variance", "stddev", "mode"):
        _compare(getattr(c, attr), getattr(t, attr), c_params, t_params)
    if "cdf" in extra:
        # (PyTorch's Gamma.cdf has no gradient in the concentration: compare the gradients with
        # respect to the other parameters there; gradcheck covers it below)
        grad_params = (c_params[1:], t_params[1:]) if name == "Gamma" else (c_params, t_params)
        if name == "Chi2":
            grad_params = ([], [])
        _compare(c.cdf(_t(x, False)), t.cdf(torch.tensor(x)), *grad_params)
    if "icdf" in extra:
        p = RNG.uniform(0.02, 0.98, (4, 2, 3))
        _compare(c.icdf(_t(p, False)), t.icdf(torch.tensor(p)), c_params, t_params)
    assert type(c.support).__name__.lstrip("_") in type(t.support).__name__ or repr(c.support) == repr(t.support)
    assert c.has_rsample == t.has_rsample


def test_moments_with_undefined_cases_match_torch():
    """StudentT's mean/variance for ν ≤ 1 and ν ≤ 2, Cauchy's, Beta's and Dirichlet's modes below 1."""
    torch = _torch()
    df = np.array([0.5, 1.5, 2.0, 3.0])
    c, t = D.StudentT(_t(df, False)), torch.distributions.StudentT(torch.tensor(df))
    np.testing.assert_array_equal(c.mean.numpy(), t.mean.numpy())
    np.testing.assert_array_equal(c.variance.numpy(), t.variance.numpy())
    np.testing.assert_array_equal(D.Cauchy(0.0, 1.0).mean.numpy(), np.nan)
    a = np.array([[0.5, 0.7, 0.3], [0.5, 2.0, 3.0]])
    np.testing.assert_allclose(D.Dirichlet(_t(a, False)).mode.numpy(),
                               torch.distributions.Dirichlet(torch.tensor(a)).mode.numpy())
    np.testing.assert_allclose(D.Beta(_t([0.5, 2.0, 3.0], False), _t([2.0, 0.5, 3.0], False)).mode.numpy(),
                               torch.distributions.Beta(torch.tensor([0.5, 2.0, 3.0]),
                                                        torch.tensor([2.0, 0.5, 3.0])).mode.numpy())


def test_dirichlet_matches_torch():
    torch = _torch()
    a = RNG.uniform(0.3, 3, (2, 4))
    c_a, t_a = _t(a), torch.tensor(a, requires_grad=True)
    c, t = D.Dirichlet(c_a), torch.distributions.Dirichlet(t_a)
    assert c.batch_shape == (2,) and c.event_shape == (4,)
    x = RNG.dirichlet(np.ones(4), (3, 2))
    _compare(c.log_prob(_t(x, False)), t.log_prob(torch.tensor(x)), [c_a], [t_a])
    _compare(c.entropy(), t.entropy(), [c_a], [t_a])
    for attr in ("mean", "variance", "mode"):
        _compare(getattr(c, attr), getattr(t, attr), [c_a], [t_a])


def test_implicit_gamma_gradient_against_torch():
    """dx/dα agrees with PyTorch's _standard_gamma_grad (an approximation good to ~1e-3)."""
    torch = _torch()
    for a in (0.1, 1.0, 7.0, 300.0):
        x = RNG.standard_gamma(a, 200)
        mine = _gamma_dx_dalpha(x, np.full_like(x, a))
        ref = torch._standard_gamma_grad(torch.tensor(np.full_like(x, a)), torch.tensor(x)).numpy()
        np.testing.assert_allclose(mine, ref, rtol=5e-3)


# --------------------------------------------------------------------------- mathematics, no torch

def _grid_integral(logp, lo, hi, n=200001):
    x = np.linspace(lo, hi, n)
    p = np.exp(logp(_t(x[:, None], False)).detach().numpy())
    return np.trapezoid(p, x, axis=0) if hasattr(np, "trapezoid") else np.trapz(p, x, axis=0)


@pytest.mark.parametrize("dist,lo,hi", [
    (D.Exponential(_t([0.5, 2.0], False)), 0.0, 80.0),
    (D.Laplace(_t([0.0, 1.0], False), _t([0.5, 2.0], False)), -80.0, 80.0),
    (D.Gumbel(_t([0.0, 1.0], False), _t([0.5, 2.0], False)), -20.0, 80.0),
    (D.Gamma(_t([2.0, 5.0], False), _t([1.0, 3.0], False)), 1e-9, 60.0),
    (D.Beta(_t([2.0, 3.5], False), _t([1.5, 2.0], False)), 0.0, 1.0),
    (D.StudentT(_t([4.0, 9.0], False), _t([0.0, 1.0], False), _t([1.0, 0.5], False)), -400.0, 400.0),
    (D.LogNormal(_t([0.0, 0.5], False), _t([0.5, 0.3], False)), 1e-9, 60.0),
    (D.HalfNormal(_t([0.5, 2.0], False)), 0.0, 40.0),
])
def test_density_integrates_to_one_and_matches_moments(dist, lo, hi):
    dist._validate_args = False
    lp = dist.log_prob
    x = np.linspace(lo, hi, 200001)
    with np.errstate(divide="ignore"):  # log 0 at a closed end of the support
        p = np.exp(lp(_t(x[:, None], False)).detach().numpy())
    trap = np.trapezoid if hasattr(np, "trapezoid") else np.trapz
    np.testing.assert_allclose(trap(p, x, axis=0), 1.0, atol=2e-4)
    np.testing.assert_allclose(trap(p * x[:, None], x, axis=0), dist.mean.numpy(), rtol=2e-3, atol=2e-3)
    # entropy −∫ p log p
    logp = np.log(np.maximum(p, 1e-300))
    np.testing.assert_allclose(-trap(p * logp, x, axis=0), dist.entropy().numpy(), rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("make", [
    lambda: D.Exponential(_t([0.5, 2.0], False)),
    lambda: D.Laplace(_t([0.0, 1.0], False), _t([0.5, 2.0], False)),
    lambda: D.Gumbel(_t([0.0, 1.0], False), _t([0.5, 2.0], False)),
    lambda: D.Gamma(_t([0.5, 5.0], False), _t([1.0, 3.0], False)),
    lambda: D.Chi2(_t([1.0, 6.0], False)),
    lambda: D.Beta(_t([0.5, 3.5], False), _t([1.5, 2.0], False)),
    lambda: D.StudentT(_t([5.0, 9.0], False), _t([0.0, 1.0], False), _t([1.0, 0.5], False)),
    lambda: D.LogNormal(_t([0.0, 0.5], False), _t([0.5, 0.3], False)),
    lambda: D.HalfNormal(_t([0.5, 2.0], False)),
])
def test_sample_moments_within_standard_errors(make):
    cr.manual_seed(0)
    d = make()
    n = 40000
    s = d.sample((n,)).numpy()
    assert s.shape == (n, 2) and s.dtype == np.float64
    mean, var = d.mean.numpy(), d.variance.numpy()
    assert np.all(np.abs(s.mean(0) - mean) < 5 * np.sqrt(var / n)), (s.mean(0), mean)
    if isinstance(d, D.StudentT):
        return  # its sample variance converges too slowly (4th moment finite only for ν > 4)
    np.testing.assert_allclose(s.var(0), var, rtol=0.08)
    cr.manual_seed(0)
    np.testing.assert_array_equal(make().sample((n,)).numpy(), s)  # the seed fixes the draws


def test_cauchy_samples_by_quantiles():
    cr.manual_seed(1)
    s = D.Cauchy(1.0, 2.0).sample((40000,)).numpy()
    # quartiles of Cauchy(1, 2): 1 ± 2; the sample median's standard error is πγ/(2√n)
    np.testing.assert_allclose(np.median(s), 1.0, atol=5 * math.pi * 2 / (2 * math.sqrt(40000)))
    np.testing.assert_allclose(np.quantile(s, [0.25, 0.75]), [-1.0, 3.0], atol=0.1)


@pytest.mark.parametrize("name", ["Exponential", "Laplace", "Cauchy", "Gumbel", "Normal"])
def test_cdf_and_icdf_are_inverse(name):
    params = {"Exponential": [_t([0.5, 2.0], False)]}.get(name, [_t([0.0, 1.0], False), _t([0.5, 2.0], False)])
    d = getattr(D, name)(*params)
    p = _t(RNG.uniform(0.01, 0.99, (5, 2)), False)
    np.testing.assert_allclose(d.cdf(d.icdf(p)).numpy(), p.numpy(), rtol=1e-10)


@pytest.mark.parametrize("name", ["Exponential", "Laplace", "Cauchy", "Gumbel", "LogNormal", "HalfNormal",
                                  "HalfCauchy"])
def test_explicit_rsample_gradient_by_finite_differences(name):
    one = name in ("Exponential", "HalfNormal", "HalfCauchy")
    params = [_t([0.7, 2.0])] if one else [_t([0.3, -1.0]), _t([0.7, 2.0])]

    def f(*ps):
        cr.manual_seed(3)
        return getattr(D, name)(*ps).rsample((4,))

    assert gradcheck(f, tuple(params))


@pytest.mark.parametrize("a", [0.05, 0.5, 1.0, 3.0, 40.0, 2000.0])
def test_implicit_gamma_gradient_by_finite_differences(a):
    """dx/dα = −(∂F/∂α)/p: with F(x; α) by quadrature of the density, central differences in α."""
    x = np.quantile(RNG.standard_gamma(a, 4000), [0.05, 0.3, 0.5, 0.8, 0.97])

    def cdf(alpha, xs):
        # F(x) = ∫₀ˣ t^(α−1) e^(−t) / Γ(α) dt by the trapezoid rule; for α < 2 in u = t^α, where
        # the integrand e^(−t)/Γ(α + 1) is smooth at 0
        out = []
        for xv in xs:
            if alpha < 2:
                u = np.linspace(0, xv**alpha, 40001)
                f = np.exp(-(u ** (1 / alpha)) - math.lgamma(alpha + 1))
            else:
                u = np.linspace(0, xv, 40001)
                with np.errstate(divide="ignore"):
                    f = np.exp((alpha - 1) * np.log(u) - u - math.lgamma(alpha))
            out.append(np.trapezoid(f, u) if hasattr(np, "trapezoid") else np.trapz(f, u))
        return np.array(out)

    def log_pdf(alpha, xs):
        return (alpha - 1) * np.log(xs) - xs - math.lgamma(alpha)

    h = 1e-5 * a
    dF = (cdf(a + h, x) - cdf(a - h, x)) / (2 * h)
    want = -dF / np.exp(log_pdf(a, x))
    np.testing.assert_allclose(_gamma_dx_dalpha(x, np.full_like(x, a)), want, rtol=2e-4)


@pytest.mark.parametrize("a,b", [(0.4, 1.0), (3.0, 2.0)])
def test_gamma_rsample_gradient_is_unbiased(a, b):
    """E[x] = α/β, so the mean of dx/dα over draws estimates 1/β and of dx/dβ estimates −α/β²."""
    cr.manual_seed(5)
    alpha, beta = _t([a]), _t([b])
    n = 20000
    x = D.Gamma(alpha, beta).rsample((n,))
    x.sum().backward()
    da, db = alpha.grad.numpy()[0] / n, beta.grad.numpy()[0] / n
    xs = x.detach().numpy()[:, 0]
    # the standard errors from the per-draw derivatives: dx/dβ = −x/β; dx/dα varies like x/α
    se_b = xs.std() / b / math.sqrt(n)
    assert abs(db - (-a / b**2)) < 5 * se_b
    per_draw = _gamma_dx_dalpha(xs * b, np.full(n, a)) / b
    assert abs(da - 1 / b) < 5 * per_draw.std() / math.sqrt(n)
    np.testing.assert_allclose(per_draw.mean(), da, rtol=1e-10)


def test_beta_and_dirichlet_rsample_gradients_are_unbiased():
    """d/da E[x] for Beta(a, b) is b/(a + b)²; the sample mean of the gradient estimates it."""
    cr.manual_seed(6)
    a, b = _t([2.0]), _t([3.0])
    n = 20000
    x = D.Beta(a, b).rsample((n,))
    x.mean().backward()
    assert abs(a.grad.numpy()[0] - 3 / 25) < 0.01 and abs(b.grad.numpy()[0] + 2 / 25) < 0.01
    conc = _t([1.0, 2.0, 3.0])
    y = D.Dirichlet(conc).rsample((n,))
    np.testing.assert_allclose(y.detach().numpy().sum(-1), 1.0, rtol=1e-12)
    y[:, 0].mean().backward()  # E[x₀] = α₀/Σα: d/dα = (Σα − α₀, −α₀, −α₀)/(Σα)²
    np.testing.assert_allclose(conc.grad.numpy(), np.array([5.0, -1.0, -1.0]) / 36, atol=0.01)


def test_student_t_rsample_reaches_all_parameters():
    df, loc, scale = _t([4.0]), _t([1.0]), _t([2.0])
    x = D.StudentT(df, loc, scale).rsample((10,))
    x.sum().backward()
    assert df.grad is not None and np.isfinite(df.grad.numpy()).all()
    np.testing.assert_allclose(loc.grad.numpy(), [10.0])


def test_gamma_cdf_by_closed_forms_quadrature_and_gradcheck():
    """F(x) against closed forms (α = ½: erf √(βx); α = 2: 1 − e^(−βx)(1 + βx)) and the trapezoid
    rule; the derivatives in α, β and x by finite differences."""
    x = np.array([0.01, 0.7, 3.0, 30.0])
    half = D.Gamma(_t(0.5, False), _t(2.0, False)).cdf(_t(x, False)).numpy()
    np.testing.assert_allclose(half, [math.erf(math.sqrt(2 * v)) for v in x], rtol=1e-13)
    two = D.Gamma(_t(2.0, False), _t(0.5, False)).cdf(_t(x, False)).numpy()
    np.testing.assert_allclose(two, 1 - np.exp(-0.5 * x) * (1 + 0.5 * x), rtol=1e-9)  # (cancellation near 0)
    np.testing.assert_allclose(D.Chi2(_t([2.0], False)).cdf(_t([3.0], False)).numpy(), [1 - math.exp(-1.5)],
                               rtol=1e-13)  # χ²(2) is Exponential(½)
    d = D.Gamma(_t([3.0, 40.0], False), _t([2.0, 0.5], False))
    upper = np.array([1.1, 85.0])
    want = []
    for i in range(2):
        g = np.linspace(0, upper[i], 400001)
        with np.errstate(divide="ignore"):  # log 0 at the grid's first point
            lp = D.Gamma(_t(d.concentration.numpy()[i], False), _t(d.rate.numpy()[i], False),
                         validate_args=False).log_prob(_t(g, False)).numpy()
        p = np.exp(lp)
        want.append(np.trapezoid(p, g) if hasattr(np, "trapezoid") else np.trapz(p, g))
    np.testing.assert_allclose(d.cdf(_t(upper, False)).numpy(), want, rtol=1e-8)
    assert gradcheck(lambda a, b, v: D.Gamma(a, b).cdf(v),
                     (_t([0.5, 3.0, 40.0], True), _t([1.0, 2.0, 0.5], True), _t([0.7, 1.1, 85.0], True)))


def test_log_prob_gradcheck():
    x = _t(RNG.uniform(0.1, 0.9, (3, 2)))
    for make in (lambda a, b: D.Gamma(a, b), lambda a, b: D.Beta(a, b), lambda a, b: D.StudentT(a, 0.0, b),
                 lambda a, b: D.Gumbel(a, b), lambda a, b: D.Laplace(a, b)):
        assert gradcheck(lambda a, b, v: make(a, b).log_prob(v), (_t([1.5, 2.5]), _t([0.8, 1.2]), x))
        assert gradcheck(lambda a, b: make(a, b).entropy(), (_t([1.5, 2.5]), _t([0.8, 1.2])))


# --------------------------------------------------------------------------- shapes, validation

def test_shapes_and_expand():
    d = D.Gamma(_t(np.ones((3, 1)), False), _t(np.ones(4), False))
    assert d.batch_shape == (3, 4) and d.sample((2,)).shape == (2, 3, 4)
    e = d.expand((5, 3, 4))
    assert e.batch_shape == (5, 3, 4) and e.sample().shape == (5, 3, 4)
    assert e.log_prob(_t(np.ones((5, 3, 4)), False)).shape == (5, 3, 4)
    dd = D.Dirichlet(_t(np.ones((2, 3)), False))
    assert dd.sample((4,)).shape == (4, 2, 3) and dd.expand((5, 2)).sample().shape == (5, 2, 3)
    c = D.Chi2(_t([1.0, 2.0], False)).expand((3, 2))
    assert c.batch_shape == (3, 2) and c.df.shape == (3, 2)


@pytest.mark.parametrize("make", [
    lambda: D.Exponential(-1.0), lambda: D.Laplace(0.0, 0.0), lambda: D.Cauchy(0.0, -1.0),
    lambda: D.Gumbel(0.0, -2.0), lambda: D.Gamma(-1.0, 1.0), lambda: D.Gamma(1.0, 0.0), lambda: D.Chi2(0.0),
    lambda: D.Beta(1.0, -1.0), lambda: D.Dirichlet(cr.tensor([1.0, -1.0])), lambda: D.StudentT(-1.0),
    lambda: D.LogNormal(0.0, -1.0), lambda: D.StudentT(1.0, 0.0, float("nan")), lambda: D.HalfNormal(-1.0),
    lambda: D.HalfCauchy(0.0),
])
def test_bad_parameters_raise(make):
    with pytest.raises(ValueError, match="constraint|positive"):
        make()


def test_values_outside_the_support_raise():
    with pytest.raises(ValueError, match="support"):
        D.Exponential(1.0).log_prob(cr.tensor(-1.0))
    with pytest.raises(ValueError, match="support"):
        D.Beta(1.0, 1.0).log_prob(cr.tensor(1.5))
    with pytest.raises(ValueError, match="support"):
        D.Dirichlet(cr.tensor([1.0, 1.0])).log_prob(cr.tensor([0.3, 0.3]))
    with pytest.raises(ValueError, match="support"):
        D.LogNormal(0.0, 1.0).log_prob(cr.tensor(-2.0))
    with pytest.raises(ValueError, match="support"):
        D.HalfNormal(1.0).log_prob(cr.tensor(-2.0))
    assert D.HalfCauchy(1.0, validate_args=False).log_prob(cr.tensor(-2.0)).item() == -math.inf
    assert np.isfinite(D.Exponential(1.0, validate_args=False).log_prob(cr.tensor(-1.0)).item())
    with pytest.raises(ValueError, match="one-dimensional"):
        D.Dirichlet(cr.tensor(1.0))


# --------------------------------------------------------------------------- ExponentialFamily

@pytest.mark.parametrize("make", [
    lambda: D.Normal(_t([0.3, -1.0], False), _t([0.7, 2.0], False)),
    lambda: D.Exponential(_t([0.5, 2.0], False)),
    lambda: D.Gamma(_t([0.5, 4.0], False), _t([1.5, 0.3], False)),
    lambda: D.Beta(_t([0.5, 4.0], False), _t([1.5, 3.0], False)),
    lambda: D.Dirichlet(_t([[0.5, 4.0, 2.0], [1.0, 1.0, 3.0]], False)),
    lambda: D.Bernoulli(logits=_t([0.5, -2.0], False)),
    lambda: D.ContinuousBernoulli(logits=_t([0.5, -2.0, 1e-4], False)),
])
def test_exponential_family_entropy_is_the_closed_form(make):
    """A(η) − ηᵀ∇A(η) − E[log h], with ∇A by autograd, equals each family's own entropy."""
    d = make()
    assert isinstance(d, D.ExponentialFamily)
    np.testing.assert_allclose(D.ExponentialFamily.entropy(d).detach().numpy(), d.entropy().numpy(), rtol=1e-10,
                               atol=1e-14)


def test_exponential_family_membership_matches_torch():
    torch = _torch()
    for name in ("Normal", "Exponential", "Gamma", "Beta", "Dirichlet", "Bernoulli", "Poisson", "Laplace",
                 "Categorical", "Binomial", "StudentT", "ContinuousBernoulli"):
        assert (issubclass(getattr(D, name), D.ExponentialFamily)
                == issubclass(getattr(torch.distributions, name), torch.distributions.ExponentialFamily)), name
    with pytest.raises(NotImplementedError):
        D.ExponentialFamily.entropy(D.Poisson(_t([1.0], False)))
