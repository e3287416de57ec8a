"""MultivariateNormal, Independent, MixtureSameFamily, the relaxed distributions and the new
kl_divergence pairs: against torch.distributions (float64) and from mathematics."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.distributions as D
from chainrule.autograd.gradcheck import gradcheck

RNG = np.random.default_rng(14)
F64 = cr.float64


def _t(arr, grad=False):
    return cr.tensor(np.asarray(arr, dtype=float), dtype=F64, requires_grad=grad)


def _torch():
    return pytest.importorskip("torch")


def _spd(batch, d):
    a = RNG.standard_normal(batch + (d, d))
    return a @ np.swapaxes(a, -1, -2) + d * np.eye(d)


def _close(c, t, rtol=1e-9, atol=1e-11):
    np.testing.assert_allclose(c.detach().numpy(), t.detach().numpy(), rtol=rtol, atol=atol)


# --------------------------------------------------------------------------- MultivariateNormal

@pytest.mark.parametrize("given", ["covariance_matrix", "precision_matrix", "scale_tril"])
def test_mvn_matches_torch(given):
    torch = _torch()
    cov = _spd((2,), 3)
    mat = {"covariance_matrix": cov, "precision_matrix": np.linalg.inv(cov),
           "scale_tril": np.linalg.cholesky(cov)}[given]
    loc = RNG.standard_normal((4, 1, 3))
    c_loc, c_mat = _t(loc, True), _t(mat, True)
    t_loc, t_mat = torch.tensor(loc, requires_grad=True), torch.tensor(mat, requires_grad=True)
    c = D.MultivariateNormal(c_loc, **{given: c_mat})
    t = torch.distributions.MultivariateNormal(t_loc, **{given: t_mat})
    assert c.batch_shape == tuple(t.batch_shape) == (4, 2) and c.event_shape == (3,)
    x = RNG.standard_normal((5, 4, 2, 3))
    c_lp, t_lp = c.log_prob(_t(x)), t.log_prob(torch.tensor(x))
    _close(c_lp, t_lp, rtol=1e-8)
    _close(c.entropy(), t.entropy(), rtol=1e-8)
    for attr in ("mean", "variance", "covariance_matrix", "precision_matrix", "scale_tril", "mode"):
        _close(getattr(c, attr), getattr(t, attr), rtol=1e-8, atol=1e-10)
    cg = cr.autograd.grad(c_lp.sum(), [c_loc, c_mat])
    tg = torch.autograd.grad(t_lp.sum(), [t_loc, t_mat])
    np.testing.assert_allclose(cg[0].numpy(), tg[0].numpy(), rtol=1e-8)
    if given == "scale_tril":  # (the symmetric matrices' gradients differ by how each library symmetrises)
        np.testing.assert_allclose(np.tril(cg[1].numpy()), np.tril(tg[1].numpy()), rtol=1e-7, atol=1e-10)


def test_mvn_samples_and_rsample_gradient():
    cov = np.array([[2.0, 0.6], [0.6, 0.5]])
    loc = np.array([1.0, -1.0])
    cr.manual_seed(0)
    d = D.MultivariateNormal(_t(loc), covariance_matrix=_t(cov))
    s = d.sample((40000,)).numpy()
    assert s.shape == (40000, 2)
    assert np.all(np.abs(s.mean(0) - loc) < 5 * np.sqrt(np.diag(cov) / 40000))
    np.testing.assert_allclose(np.cov(s.T), cov, atol=0.05)
    L = _t(np.linalg.cholesky(cov), True)
    mu = _t(loc, True)

    def f(mu, L):
        cr.manual_seed(2)
        # unvalidated: the finite differences also move L's upper triangle
        return D.MultivariateNormal(mu, scale_tril=L, validate_args=False).rsample((3,))

    assert gradcheck(f, (mu, L))


def test_mvn_density_integrates_to_one():
    d = D.MultivariateNormal(_t([0.3, -0.2]), covariance_matrix=_t([[1.0, 0.4], [0.4, 0.6]]))
    g = np.linspace(-8, 8, 801)
    xx, yy = np.meshgrid(g, g, indexing="ij")
    pts = np.stack([xx, yy], -1)
    p = d.log_prob(_t(pts)).exp().numpy()
    h = g[1] - g[0]
    np.testing.assert_allclose(p.sum() * h * h, 1.0, atol=1e-6)
    np.testing.assert_allclose(-(p * np.log(np.maximum(p, 1e-300))).sum() * h * h, d.entropy().numpy(), atol=1e-5)


def test_mvn_bad_arguments():
    with pytest.raises(ValueError, match="Exactly one"):
        D.MultivariateNormal(_t([0.0, 0.0]))
    with pytest.raises(ValueError, match="Exactly one"):
        D.MultivariateNormal(_t([0.0, 0.0]), covariance_matrix=_t(np.eye(2)), scale_tril=_t(np.eye(2)))
    with pytest.raises(ValueError, match="constraint"):
        D.MultivariateNormal(_t([0.0, 0.0]), covariance_matrix=_t([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match="constraint"):
        D.MultivariateNormal(_t([0.0, 0.0]), scale_tril=_t([[1.0, 1.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="do not fit"):
        D.MultivariateNormal(_t([0.0, 0.0, 0.0]), covariance_matrix=_t(np.eye(2)))
    e = D.MultivariateNormal(_t([0.0, 0.0]), covariance_matrix=_t(np.eye(2))).expand((3,))
    assert e.batch_shape == (3,) and e.sample((2,)).shape == (2, 3, 2)


# --------------------------------------------------------------------------- Independent

def test_independent():
    loc, scale = _t(RNG.standard_normal((4, 3)), True), _t(RNG.uniform(0.5, 2, (4, 3)), True)
    base = D.Normal(loc, scale)
    d = D.Independent(base, 1)
    assert d.batch_shape == (4,) and d.event_shape == (3,) and d.has_rsample
    x = _t(RNG.standard_normal((2, 4, 3)))
    np.testing.assert_allclose(d.log_prob(x).detach().numpy(), base.log_prob(x).detach().numpy().sum(-1), rtol=1e-12)
    np.testing.assert_allclose(d.entropy().detach().numpy(), base.entropy().detach().numpy().sum(-1), rtol=1e-12)
    assert d.sample((5,)).shape == (5, 4, 3) and d.expand((2, 4)).sample().shape == (2, 4, 3)
    assert D.Independent(base, 2).event_shape == (4, 3) and D.Independent(base, 2).batch_shape == ()
    with pytest.raises(ValueError, match="reinterpreted_batch_ndims"):
        D.Independent(base, 3)
    e = D.Independent(D.Exponential(_t([1.0, 2.0])), 1)
    assert not e.support.check(_t([1.0, -1.0])) and e.support.check(_t([1.0, 1.0]))
    with pytest.raises(ValueError, match="support"):
        e.log_prob(_t([1.0, -1.0]))


def test_independent_matches_torch_and_kl():
    torch = _torch()
    loc, scale = RNG.standard_normal((4, 3)), RNG.uniform(0.5, 2, (4, 3))
    c = D.Independent(D.Normal(_t(loc), _t(scale)), 1)
    t = torch.distributions.Independent(torch.distributions.Normal(torch.tensor(loc), torch.tensor(scale)), 1)
    x = RNG.standard_normal((2, 4, 3))
    _close(c.log_prob(_t(x)), t.log_prob(torch.tensor(x)))
    q = D.Independent(D.Normal(_t(loc * 0), _t(scale * 0 + 1)), 1)
    tq = torch.distributions.Independent(torch.distributions.Normal(torch.tensor(loc * 0),
                                                                    torch.tensor(scale * 0 + 1)), 1)
    _close(D.kl_divergence(c, q), torch.distributions.kl_divergence(t, tq))


# --------------------------------------------------------------------------- MixtureSameFamily

def _mixture(lib, logits, loc, scale):
    return lib.MixtureSameFamily(lib.Categorical(logits=logits), lib.Normal(loc, scale))


def test_mixture_matches_torch():
    torch = _torch()
    logits, loc, scale = RNG.standard_normal((2, 3)), RNG.standard_normal((2, 3)) * 3, RNG.uniform(0.5, 2, (2, 3))
    c_args = [_t(a, True) for a in (logits, loc, scale)]
    t_args = [torch.tensor(a, requires_grad=True) for a in (logits, loc, scale)]
    c, t = _mixture(D, *c_args), _mixture(torch.distributions, *t_args)
    assert c.batch_shape == (2,) and c.event_shape == ()
    x = RNG.standard_normal((4, 2)) * 3
    c_lp, t_lp = c.log_prob(_t(x)), t.log_prob(torch.tensor(x))
    _close(c_lp, t_lp)
    for cg, tg in zip(cr.autograd.grad(c_lp.sum(), c_args), torch.autograd.grad(t_lp.sum(), t_args)):
        np.testing.assert_allclose(cg.numpy(), tg.numpy(), rtol=1e-9, atol=1e-12)
    for attr in ("mean", "variance"):
        _close(getattr(c, attr), getattr(t, attr))
    _close(c.cdf(_t(x)), t.cdf(torch.tensor(x)))
    # components over vectors: Independent Normals
    cc = D.MixtureSameFamily(D.Categorical(logits=_t(logits)),
                             D.Independent(D.Normal(_t(RNG.standard_normal((2, 3, 4))), 1.0), 1))
    assert cc.batch_shape == (2,) and cc.event_shape == (4,) and cc.sample((5,)).shape == (5, 2, 4)
    assert cc.log_prob(_t(RNG.standard_normal((5, 2, 4)))).shape == (5, 2)


def test_mixture_samples_and_density():
    cr.manual_seed(0)
    d = _mixture(D, _t(np.log([0.3, 0.7])), _t([-2.0, 3.0]), _t([0.5, 1.0]))
    s = d.sample((40000,)).numpy()
    assert s.shape == (40000,)
    var = d.variance.numpy()
    np.testing.assert_allclose(d.mean.numpy(), 0.3 * -2 + 0.7 * 3)
    np.testing.assert_allclose(var, 0.3 * 0.25 + 0.7 * 1 + 0.3 * 0.7 * 25)  # total variance, two components
    assert abs(s.mean() - d.mean.numpy()) < 5 * math.sqrt(var / 40000)
    g = np.linspace(-15, 20, 100001)
    p = d.log_prob(_t(g)).exp().numpy()
    np.testing.assert_allclose(p.sum() * (g[1] - g[0]), 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="Categorical"):
        D.MixtureSameFamily(D.Normal(0.0, 1.0), D.Normal(_t([0.0]), 1.0))
    with pytest.raises(ValueError, match="component"):
        D.MixtureSameFamily(D.Categorical(logits=_t([0.0, 0.0])), D.Normal(_t([0.0, 1.0, 2.0]), 1.0))


# --------------------------------------------------------------------------- relaxed

def test_relaxed_match_torch():
    torch = _torch()
    TD = torch.distributions
    logits = RNG.standard_normal((2, 3))
    c = D.RelaxedBernoulli(_t(0.7), logits=_t(logits))
    t = TD.RelaxedBernoulli(torch.tensor(0.7, dtype=torch.float64), logits=torch.tensor(logits))
    x = RNG.uniform(0.05, 0.95, (4, 2, 3))
    _close(c.log_prob(_t(x)), t.log_prob(torch.tensor(x)), rtol=1e-8)
    c = D.RelaxedOneHotCategorical(_t(0.5), probs=_t(np.exp(logits)))
    t = TD.RelaxedOneHotCategorical(torch.tensor(0.5, dtype=torch.float64), probs=torch.tensor(np.exp(logits)))
    y = RNG.dirichlet(np.ones(3), (4, 2))
    assert c.batch_shape == (2,) and c.event_shape == (3,)
    _close(c.log_prob(_t(y)), t.log_prob(torch.tensor(y)), rtol=1e-8)


def test_relaxed_densities_integrate_and_samples():
    # (λ ≥ 1: for λ < 1 the density has integrable poles x^(λ−1) at 0 and 1)
    d = D.RelaxedBernoulli(_t([1.0, 2.0]), probs=_t([0.3, 0.8]))
    g = np.linspace(1e-7, 1 - 1e-7, 400001)
    p = d.log_prob(_t(g[:, None])).exp().numpy()
    trap = np.trapezoid if hasattr(np, "trapezoid") else np.trapz
    np.testing.assert_allclose(trap(p, g, axis=0), 1.0, atol=2e-3)
    cr.manual_seed(0)
    probs = _t([0.2, 0.3, 0.5], True)
    r = D.RelaxedOneHotCategorical(_t(0.1), probs=probs).rsample((20000,))
    np.testing.assert_allclose(r.detach().numpy().sum(-1), 1.0, rtol=1e-12)
    # at a low temperature the argmax of a sample is a Categorical(p) draw (Gumbel-max)
    counts = np.bincount(r.detach().numpy().argmax(-1), minlength=3) / 20000
    np.testing.assert_allclose(counts, [0.2, 0.3, 0.5], atol=5 * 0.5 / math.sqrt(20000))
    r[:, 2].sum().backward()
    assert probs.grad is not None and np.all(np.isfinite(probs.grad.numpy()))
    b = D.RelaxedBernoulli(_t(0.05), probs=_t([0.25])).sample((20000,)).numpy()
    np.testing.assert_allclose((b > 0.5).mean(), 0.25, atol=5 * 0.433 / math.sqrt(20000))


# --------------------------------------------------------------------------- KL

KL_PAIRS = [
    ("Exponential", lambda: [RNG.uniform(0.5, 2, 3)]),
    ("Laplace", lambda: [RNG.standard_normal(3), RNG.uniform(0.5, 2, 3)]),
    ("Gamma", lambda: [RNG.uniform(0.5, 3, 3), RNG.uniform(0.5, 2, 3)]),
    ("Beta", lambda: [RNG.uniform(0.5, 3, 3), RNG.uniform(0.5, 2, 3)]),
    ("Dirichlet", lambda: [RNG.uniform(0.5, 3, (2, 4))]),
    ("Poisson", lambda: [RNG.uniform(0.5, 5, 3)]),
    ("Gumbel", lambda: [RNG.standard_normal(3), RNG.uniform(0.5, 2, 3)]),
    ("Cauchy", lambda: [RNG.standard_normal(3), RNG.uniform(0.5, 2, 3)]),
    ("Geometric", lambda: [RNG.uniform(0.1, 0.9, 3)]),
    ("HalfNormal", lambda: [RNG.uniform(0.5, 2, 3)]),
    ("LogNormal", lambda: [RNG.standard_normal(3), RNG.uniform(0.5, 2, 3)]),
]


@pytest.mark.parametrize("name,make", KL_PAIRS, ids=[n for n, _ in KL_PAIRS])
def test_kl_matches_torch(name, make):
    torch = _torch()
    pa, qa = make(), make()
    c_p = [_t(a, True) for a in pa]
    t_p = [torch.tensor(a, requires_grad=True) for a in pa]
    c_kl = D.kl_divergence(getattr(D, name)(*c_p), getattr(D, name)(*[_t(a) for a in qa]))
    t_kl = torch.distributions.kl_divergence(getattr(torch.distributions, name)(*t_p),
                                             getattr(torch.distributions, name)(*[torch.tensor(a) for a in qa]))
    _close(c_kl, t_kl, rtol=1e-9)
    for cg, tg in zip(cr.autograd.grad(c_kl.sum(), c_p), torch.autograd.grad(t_kl.sum(), t_p)):
        np.testing.assert_allclose(cg.numpy(), tg.numpy(), rtol=1e-6)


def test_kl_binomial_matches_torch_and_refuses_unequal_counts():
    torch = _torch()
    p, q = RNG.uniform(0.1, 0.9, 3), RNG.uniform(0.1, 0.9, 3)
    c = D.kl_divergence(D.Binomial(5, _t(p)), D.Binomial(5, _t(q)))
    t = torch.distributions.kl_divergence(torch.distributions.Binomial(5, torch.tensor(p)),
                                          torch.distributions.Binomial(5, torch.tensor(q)))
    _close(c, t)
    with pytest.raises(NotImplementedError):
        D.kl_divergence(D.Binomial(5, _t(p)), D.Binomial(6, _t(q)))
    with pytest.raises(NotImplementedError):
        D.kl_divergence(D.HalfCauchy(_t(p)), D.HalfCauchy(_t(q)))  # |x| is not a bijection


def test_kl_mvn_matches_torch():
    torch = _torch()
    TD = torch.distributions
    lp, lq = RNG.standard_normal((2, 3)), RNG.standard_normal(3)
    cp, cq = _spd((2,), 3), _spd((), 3)
    c = D.kl_divergence(D.MultivariateNormal(_t(lp), covariance_matrix=_t(cp)),
                        D.MultivariateNormal(_t(lq), covariance_matrix=_t(cq)))
    t = TD.kl_divergence(TD.MultivariateNormal(torch.tensor(lp), covariance_matrix=torch.tensor(cp)),
                         TD.MultivariateNormal(torch.tensor(lq), covariance_matrix=torch.tensor(cq)))
    _close(c, t, rtol=1e-8)


@pytest.mark.parametrize("p,q", [
    (lambda: D.Exponential(_t([0.7])), lambda: D.Exponential(_t([2.0]))),
    (lambda: D.Laplace(_t([0.3]), _t([0.7])), lambda: D.Laplace(_t([-1.0]), _t([2.0]))),
    (lambda: D.Gamma(_t([2.5]), _t([1.5])), lambda: D.Gamma(_t([1.2]), _t([0.7]))),
    (lambda: D.Beta(_t([2.5]), _t([1.5])), lambda: D.Beta(_t([1.2]), _t([3.0]))),
    (lambda: D.Poisson(_t([3.0])), lambda: D.Poisson(_t([4.5]))),
    (lambda: D.Gumbel(_t([0.3]), _t([0.7])), lambda: D.Gumbel(_t([-1.0]), _t([2.0]))),
    (lambda: D.Cauchy(_t([0.3]), _t([0.7])), lambda: D.Cauchy(_t([-1.0]), _t([2.0]))),
    (lambda: D.Geometric(_t([0.3])), lambda: D.Geometric(_t([0.6]))),
    (lambda: D.Binomial(7, _t([0.3])), lambda: D.Binomial(7, _t([0.6]))),
    (lambda: D.HalfNormal(_t([0.7])), lambda: D.HalfNormal(_t([1.5]))),
    (lambda: D.LogNormal(_t([0.3]), _t([0.7])), lambda: D.LogNormal(_t([-1.0]), _t([1.2]))),
    (lambda: D.MultivariateNormal(_t([0.0, 1.0]), covariance_matrix=_t([[1.0, 0.3], [0.3, 0.5]])),
     lambda: D.MultivariateNormal(_t([0.5, 0.0]), covariance_matrix=_t([[2.0, -0.2], [-0.2, 1.0]]))),
])
def test_kl_is_the_monte_carlo_expectation(p, q):
    """KL(p‖q) = E_p[log p − log q]: the sample mean over 40000 draws within 5 standard errors."""
    cr.manual_seed(0)
    pd, qd = p(), q()
    x = pd.sample((40000,))
    ratio = (pd.log_prob(x) - qd.log_prob(x)).numpy()
    kl = D.kl_divergence(pd, qd).numpy()
    assert np.all(np.abs(ratio.mean(0) - kl) < 5 * ratio.std(0) / math.sqrt(40000) + 1e-12)
    assert np.all(D.kl_divergence(pd, p()).numpy() == pytest.approx(0.0, abs=1e-12))


# --------------------------------------------------------------------------- LowRankMultivariateNormal

def test_low_rank_mvn_matches_the_full_one_and_torch():
    """Woodbury and the determinant lemma give the dense MultivariateNormal's numbers."""
    loc, w, diag = RNG.standard_normal((2, 5)), RNG.standard_normal((2, 5, 2)), RNG.uniform(0.5, 2, (2, 5))
    c_loc, c_w, c_d = _t(loc, True), _t(w, True), _t(diag, True)
    c = D.LowRankMultivariateNormal(c_loc, c_w, c_d)
    assert c.batch_shape == (2,) and c.event_shape == (5,)
    cov = w @ np.swapaxes(w, -1, -2) + np.stack([np.diag(v) for v in diag])
    full = D.MultivariateNormal(_t(loc), covariance_matrix=_t(cov))
    x = _t(RNG.standard_normal((3, 2, 5)))
    _close(c.log_prob(x), full.log_prob(x))
    _close(c.entropy(), full.entropy())
    for attr in ("covariance_matrix", "precision_matrix", "scale_tril", "variance"):
        _close(getattr(c, attr), getattr(full, attr), rtol=1e-9, atol=1e-12)
    assert gradcheck(lambda m, f, dg: D.LowRankMultivariateNormal(m, f, dg).log_prob(x),
                     (c_loc, c_w, c_d))
    torch = _torch()
    t_args = [torch.tensor(a, requires_grad=True) for a in (loc, w, diag)]
    t = torch.distributions.LowRankMultivariateNormal(*t_args)
    c_lp, t_lp = c.log_prob(x), t.log_prob(torch.tensor(x.numpy()))
    _close(c_lp, t_lp)
    for cg, tg in zip(cr.autograd.grad(c_lp.sum(), [c_loc, c_w, c_d]), torch.autograd.grad(t_lp.sum(), t_args)):
        np.testing.assert_allclose(cg.numpy(), tg.numpy(), rtol=1e-8, atol=1e-11)


def test_low_rank_mvn_samples_and_arguments():
    cr.manual_seed(0)
    w, diag = np.array([[1.0], [0.5], [-0.5]]), np.array([0.3, 0.2, 0.5])
    d = D.LowRankMultivariateNormal(_t([1.0, 0.0, -1.0]), _t(w), _t(diag))
    s = d.sample((40000,)).numpy()
    assert s.shape == (40000, 3)
    np.testing.assert_allclose(np.cov(s.T), w @ w.T + np.diag(diag), atol=0.04)
    assert d.expand((4,)).sample((2,)).shape == (2, 4, 3) and d.rsample().shape == (3,)
    with pytest.raises(ValueError, match="cov_factor"):
        D.LowRankMultivariateNormal(_t([0.0, 0.0]), _t(np.ones((3, 1))), _t([1.0, 1.0]))
    with pytest.raises(ValueError, match="constraint"):
        D.LowRankMultivariateNormal(_t([0.0, 0.0]), _t(np.ones((2, 1))), _t([1.0, -1.0]))


# --------------------------------------------------------------------------- Wishart

@pytest.mark.parametrize("given", ["covariance_matrix", "precision_matrix", "scale_tril"])
def test_wishart_matches_torch(given):
    torch = _torch()
    cov = _spd((2,), 3)
    mat = {"covariance_matrix": cov, "precision_matrix": np.linalg.inv(cov),
           "scale_tril": np.linalg.cholesky(cov)}[given]
    df = np.array([4.5, 7.0])
    c_df, c_mat = _t(df, True), _t(mat, True)
    t_df, t_mat = torch.tensor(df, requires_grad=True), torch.tensor(mat, requires_grad=True)
    c = D.Wishart(c_df, **{given: c_mat})
    t = torch.distributions.Wishart(t_df, **{given: t_mat})
    assert c.batch_shape == tuple(t.batch_shape) == (2,) and c.event_shape == (3, 3)
    x = np.stack([_spd((2,), 3) for _ in range(4)])
    for co, to in [(c.log_prob(_t(x)), t.log_prob(torch.tensor(x))), (c.entropy(), t.entropy())]:
        _close(co, to, rtol=1e-9)
        (cg,) = cr.autograd.grad(co.sum(), [c_df], retain_graph=True)
        (tg,) = torch.autograd.grad(to.sum(), [t_df], retain_graph=True)
        np.testing.assert_allclose(cg.numpy(), tg.numpy(), rtol=1e-6)
    for attr in ("mean", "mode", "variance"):
        _close(getattr(c, attr), getattr(t, attr), rtol=1e-9)


def test_wishart_samples_and_gradients():
    """E[X] = νΣ and Var[Xᵢⱼ] = ν(Σᵢⱼ² + ΣᵢᵢΣⱼⱼ) from seeded Bartlett draws; the rsample gradient in ν
    estimates dE[X]/dν = Σ."""
    cov = np.array([[2.0, 0.5], [0.5, 1.0]])
    df = _t([5.0], True)
    d = D.Wishart(df, covariance_matrix=_t(cov))
    cr.manual_seed(0)
    n = 20000
    s = d.rsample((n,))
    arr = s.detach().numpy()
    assert arr.shape == (n, 1, 2, 2) and np.all(D.constraints.positive_definite.check(arr))
    se = np.sqrt(d.variance.detach().numpy() / n)
    assert np.all(np.abs(arr.mean(0) - d.mean.detach().numpy()) < 5 * se)
    np.testing.assert_allclose(arr.var(0), d.variance.detach().numpy(), rtol=0.1)
    s[..., 0, 0].mean().backward()  # d/dν E[X₀₀] = Σ₀₀ = 2
    assert abs(df.grad.numpy()[0] - 2.0) < 0.1
    cr.manual_seed(0)
    np.testing.assert_array_equal(D.Wishart(_t([5.0]), covariance_matrix=_t(cov)).sample((n,)).numpy(), arr)
    assert d.expand((3,)).sample((2,)).shape == (2, 3, 2, 2)
    with pytest.raises(ValueError, match="constraint"):
        D.Wishart(_t(0.5), covariance_matrix=_t(cov))          # ν must exceed p − 1 = 1
    with pytest.raises(ValueError, match="Exactly one"):
        D.Wishart(_t(3.0))


# --------------------------------------------------------------------------- LKJCholesky

def _cholesky_of_rows(w10, w20, w21):
    """The 3 × 3 correlation Cholesky factor with the given free entries (arrays of one shape)."""
    one, zero = np.ones_like(w10), np.zeros_like(w10)
    rows = [[one, zero, zero], [w10, np.sqrt(1 - w10**2), zero], [w20, w21, np.sqrt(1 - w20**2 - w21**2)]]
    return np.stack([np.stack(r, -1) for r in rows], -2)


def test_lkj_density_is_normalised():
    """The density factorises over the rows of L: ∫ over row 1 times ∫ over row 2 equals p(I)
    (= 1/Z), for d = 3; for d = 2 the one free entry integrates to 1.  (η ≥ 1: below, the density
    has integrable poles at the rims, which the trapezoid rule does not resolve.)"""
    for eta in (1.0, 1.8, 2.5):
        d3 = D.LKJCholesky(3, _t(eta))
        g = np.linspace(-1, 1, 20001)[1:-1]
        trap = np.trapezoid if hasattr(np, "trapezoid") else np.trapz
        row1 = trap(np.exp(d3.log_prob(_t(_cholesky_of_rows(g, 0 * g, 0 * g))).numpy()), g)
        r = np.linspace(0, 1, 2001)[:-1]
        th = np.linspace(0, 2 * np.pi, 721)
        rr, tt = np.meshgrid(r, th, indexing="ij")
        lp = d3.log_prob(_t(_cholesky_of_rows(0 * rr, rr * np.cos(tt), rr * np.sin(tt)))).numpy()
        row2 = trap(trap(np.exp(lp) * rr, th, axis=1), r)
        at_identity = float(np.exp(d3.log_prob(_t(np.eye(3))).numpy()))
        np.testing.assert_allclose(row1 * row2, at_identity, rtol=2e-3)
        d2 = D.LKJCholesky(2, _t(eta))
        L2 = np.stack([np.stack([np.ones_like(g), 0 * g], -1), np.stack([g, np.sqrt(1 - g**2)], -1)], -2)
        np.testing.assert_allclose(trap(np.exp(d2.log_prob(_t(L2)).numpy()), g), 1.0, rtol=2e-3)


@pytest.mark.parametrize("dim,eta", [(3, 1.0), (4, 0.6), (4, 3.0)])
def test_lkj_samples_have_the_marginal_law(dim, eta):
    """Each correlation ρᵢⱼ of LKJ(η) in d dimensions has (ρ + 1)/2 ~ Beta(b, b), b = η − 1 + d/2,
    so E[ρ²] = 1/(2b + 1) for every pair (PyTorch 2.13's sampler gives 0.30 instead of 0.25 for
    the pairs in the third row at d = 3, η = 1)."""
    cr.manual_seed(0)
    n = 40000
    L = D.LKJCholesky(dim, _t(eta)).sample((n,)).numpy()
    assert L.shape == (n, dim, dim) and np.all(D.constraints.corr_cholesky.check(L))
    C = L @ np.swapaxes(L, -1, -2)
    rows, cols = np.tril_indices(dim, -1)
    rho2 = C[:, rows, cols] ** 2
    want = 1 / (2 * (eta - 1 + dim / 2) + 1)
    assert np.all(np.abs(rho2.mean(0) - want) < 5 * rho2.std(0) / math.sqrt(n)), (rho2.mean(0), want)


def test_lkj_matches_torch_and_validates():
    torch = _torch()
    eta = np.array([0.5, 1.0, 3.0])
    c_eta, t_eta = _t(eta, True), torch.tensor(eta, requires_grad=True)
    c, t = D.LKJCholesky(4, c_eta), torch.distributions.LKJCholesky(4, t_eta)
    assert c.batch_shape == (3,) and c.event_shape == (4, 4)
    x = D.LKJCholesky(4, _t(eta)).sample((5,)).numpy()
    c_lp, t_lp = c.log_prob(_t(x)), t.log_prob(torch.tensor(x))
    _close(c_lp, t_lp, rtol=1e-10)
    (cg,) = cr.autograd.grad(c_lp.sum(), [c_eta])
    (tg,) = torch.autograd.grad(t_lp.sum(), [t_eta])
    np.testing.assert_allclose(cg.numpy(), tg.numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="dim"):
        D.LKJCholesky(1)
    with pytest.raises(ValueError, match="constraint"):
        D.LKJCholesky(3, -1.0)
    with pytest.raises(ValueError, match="support"):
        D.LKJCholesky(2).log_prob(_t([[1.0, 0.0], [0.5, 0.5]]))
    assert D.LKJCholesky(3, _t([1.0])).expand((2, 1)).sample().shape == (2, 1, 3, 3)
