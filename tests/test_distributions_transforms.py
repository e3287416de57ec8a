"""Transforms, TransformedDistribution, biject_to/transform_to: inverses, log |det J| against
autograd's Jacobian, change-of-variables densities that integrate to 1, and PyTorch as oracle."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.distributions as D
from chainrule.distributions import constraints
from chainrule.distributions import transforms as T

RNG = np.random.default_rng(13)
F64 = cr.float64


def _t(arr, grad=False):
    return cr.tensor(np.asarray(arr, dtype=float), dtype=F64, requires_grad=grad)


ELEMENTWISE = [
    (T.ExpTransform(), lambda s: RNG.standard_normal(s)),
    (T.AffineTransform(1.5, -2.0), lambda s: RNG.standard_normal(s)),
    (T.AffineTransform(_t([0.5, -1.0, 2.0]), _t([2.0, 0.3, -1.5])), lambda s: RNG.standard_normal(s)),
    (T.SigmoidTransform(), lambda s: RNG.standard_normal(s) * 3),
    (T.TanhTransform(), lambda s: RNG.standard_normal(s)),
    (T.PowerTransform(2.5), lambda s: RNG.uniform(0.2, 3, s)),
    (T.PowerTransform(-0.5), lambda s: RNG.uniform(0.2, 3, s)),
    (T.ComposeTransform([T.ExpTransform(), T.AffineTransform(1.0, 3.0)]), lambda s: RNG.standard_normal(s)),
    (T.ExpTransform().inv, lambda s: RNG.uniform(0.2, 3, s)),
    (T.SigmoidTransform().inv, lambda s: RNG.uniform(0.05, 0.95, s)),
    (T.SoftplusTransform(), lambda s: RNG.standard_normal(s) * 3),
    (T.SoftplusTransform().inv, lambda s: RNG.uniform(0.05, 4, s)),
]


def _id(v):
    return repr(v).split("(")[0] if isinstance(v, T.Transform) else ""


@pytest.mark.parametrize("t,draw", ELEMENTWISE, ids=_id)
def test_inverse_and_log_abs_det_jacobian(t, draw):
    """t⁻¹(t(x)) = x, and log |dy/dx| equals the log of autograd's derivative of t."""
    x = _t(draw((4, 3)), grad=True)
    y = t(x)
    np.testing.assert_allclose(t.inv(y).detach().numpy(), x.detach().numpy(), rtol=1e-9, atol=1e-12)
    (dy,) = cr.autograd.grad(y.sum(), [x])
    ladj = t.log_abs_det_jacobian(x, y)
    np.testing.assert_allclose(ladj.detach().numpy(), np.log(np.abs(dy.numpy())), rtol=1e-9, atol=1e-12)
    assert t.bijective
    assert np.all(t.codomain.check(y)) and np.all(t.domain.check(x))


def test_softmax_and_abs_transforms():
    x = _t(RNG.standard_normal((2, 4)))
    y = T.SoftmaxTransform()(x)
    np.testing.assert_allclose(y.numpy().sum(-1), 1.0)
    assert np.all(constraints.simplex.check(y))
    np.testing.assert_allclose(T.SoftmaxTransform()(T.SoftmaxTransform().inv(y)).numpy(), y.numpy())
    assert not T.SoftmaxTransform().bijective and T.SoftmaxTransform().event_dim == 1
    a = T.AbsTransform()
    np.testing.assert_array_equal(a(x).numpy(), np.abs(x.numpy()))
    np.testing.assert_array_equal(a.inv(a(x)).numpy(), np.abs(x.numpy()))


def test_stick_breaking_is_a_bijection_with_its_log_det():
    """y = t(x) on the simplex, t⁻¹(y) = x, and log |det ∂y[:-1]/∂x| by central differences."""
    t = T.StickBreakingTransform()
    x = RNG.standard_normal((2, 4))
    y = t(_t(x))
    assert y.shape == (2, 5) and np.all(constraints.simplex.check(y))
    np.testing.assert_allclose(t.inv(y).numpy(), x, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(t(_t(np.zeros(4))).numpy(), np.full(5, 0.2), rtol=1e-12)  # x = 0: the centre
    h = 1e-6
    for row in range(2):
        jac = np.empty((4, 4))
        for j in range(4):
            e = np.zeros(4)
            e[j] = h
            jac[:, j] = (t(_t(x[row] + e)).numpy()[:-1] - t(_t(x[row] - e)).numpy()[:-1]) / (2 * h)
        want = np.log(abs(np.linalg.det(jac)))
        np.testing.assert_allclose(t.log_abs_det_jacobian(_t(x[row]), y[row]).numpy(), want, rtol=1e-6)
    assert t.forward_shape((3, 4)) == (3, 5) and t.inverse_shape((3, 5)) == (3, 4)
    # a Dirichlet through the inverse map: a TransformedDistribution over unconstrained vectors
    d = D.TransformedDistribution(D.Dirichlet(_t([2.0, 3.0, 4.0])), t.inv)
    assert d.event_shape == (2,) and d.sample((6,)).shape == (6, 2)


def test_cumulative_distribution_transform():
    """y = F(x) is uniform for x ~ the distribution; log |dy/dx| = log p(x); the inverse is the icdf."""
    base = D.Normal(_t(0.5), _t(2.0))
    t = D.CumulativeDistributionTransform(base)
    x = _t(RNG.standard_normal(6) * 2, grad=True)
    y = t(x)
    (dy,) = cr.autograd.grad(y.sum(), [x])
    np.testing.assert_allclose(t.log_abs_det_jacobian(x, y).detach().numpy(), np.log(dy.numpy()), rtol=1e-10)
    np.testing.assert_allclose(t.inv(y).detach().numpy(), x.detach().numpy(), rtol=1e-8)
    cr.manual_seed(0)
    u = D.TransformedDistribution(base, t).sample((20000,)).numpy()
    np.testing.assert_allclose([u.mean(), u.var()], [0.5, 1 / 12], atol=5 * 0.3 / math.sqrt(20000))


def test_logistic_normal():
    loc, scale = _t(RNG.standard_normal((2, 3))), _t(RNG.uniform(0.5, 1.5, 3))
    d = D.LogisticNormal(loc, scale)
    assert d.batch_shape == (2,) and d.event_shape == (4,)
    y = d.sample((5,))
    assert y.shape == (5, 2, 4) and np.all(constraints.simplex.check(y))
    # the density is the Gaussian's at the stick-breaking inverse, less the log-determinant
    x = T.StickBreakingTransform().inv(y)
    want = D.Normal(loc, scale).log_prob(x).sum(-1) - T.StickBreakingTransform().log_abs_det_jacobian(x, y)
    np.testing.assert_allclose(d.log_prob(y).numpy(), want.numpy(), rtol=1e-10)
    assert D.LogisticNormal(0.0, 1.0).event_shape == (2,)
    torch = pytest.importorskip("torch")
    t = torch.distributions.LogisticNormal(torch.tensor(loc.numpy()), torch.tensor(scale.numpy()))
    np.testing.assert_allclose(d.log_prob(y).numpy(), t.log_prob(torch.tensor(y.numpy())).numpy(), rtol=1e-9)


def test_lower_cholesky_transform():
    x = _t(RNG.standard_normal((2, 3, 3)))
    y = T.LowerCholeskyTransform()(x)
    assert np.all(constraints.lower_cholesky.check(y))
    np.testing.assert_allclose(np.tril(T.LowerCholeskyTransform().inv(y).numpy()), np.tril(x.numpy()), rtol=1e-12)
    assert isinstance(D.transform_to(constraints.lower_cholesky), T.LowerCholeskyTransform)


def test_reshape_and_positive_definite_transforms():
    r = T.ReshapeTransform((2, 3), (6,))
    x = _t(RNG.standard_normal((5, 2, 3)))
    y = r(x)
    assert y.shape == (5, 6) and r.inv(y).shape == (5, 2, 3)
    np.testing.assert_array_equal(y.numpy(), x.numpy().reshape(5, 6))
    assert r.log_abs_det_jacobian(x, y).shape == (5,) and np.all(r.log_abs_det_jacobian(x, y).numpy() == 0)
    assert r.forward_shape((4, 2, 3)) == (4, 6) and r.inverse_shape((4, 6)) == (4, 2, 3)
    with pytest.raises(ValueError, match="elements"):
        T.ReshapeTransform((2, 3), (5,))
    # an Independent Normal over (2, 3) matrices, flattened: the same log density
    base = D.Independent(D.Normal(_t(np.zeros((2, 3))), 1.0), 2)
    flat = D.TransformedDistribution(base, r)
    assert flat.event_shape == (6,)
    np.testing.assert_allclose(flat.log_prob(y).numpy(), base.log_prob(x).numpy(), rtol=1e-12)
    p = D.transform_to(constraints.positive_definite)
    assert isinstance(p, T.PositiveDefiniteTransform)
    m = _t(RNG.standard_normal((4, 3, 3)))
    pd = p(m)
    assert np.all(constraints.positive_definite.check(pd))
    np.testing.assert_allclose(p(p.inv(pd)).numpy(), pd.numpy(), rtol=1e-10)


def test_cat_and_stack_transforms():
    """Blockwise transforms: each block's own map, inverse and log-derivative (checked with autograd)."""
    cat = T.CatTransform([T.ExpTransform(), T.AffineTransform(1.0, -2.0), T.SigmoidTransform()], dim=1,
                         lengths=[2, 1, 2])
    x = _t(RNG.standard_normal((4, 5)), grad=True)
    y = cat(x)
    want = np.concatenate([np.exp(x.detach().numpy()[:, :2]), 1 - 2 * x.detach().numpy()[:, 2:3],
                           1 / (1 + np.exp(-x.detach().numpy()[:, 3:]))], 1)
    np.testing.assert_allclose(y.detach().numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(cat.inv(y).detach().numpy(), x.detach().numpy(), rtol=1e-9, atol=1e-12)
    (dy,) = cr.autograd.grad(y.sum(), [x])
    np.testing.assert_allclose(cat.log_abs_det_jacobian(x, y).detach().numpy(), np.log(np.abs(dy.numpy())), rtol=1e-9)
    assert np.all(cat.codomain.check(y)) and cat.bijective and cat.event_dim == 0
    stack = T.StackTransform([T.ExpTransform(), T.TanhTransform()], dim=-1)
    z = _t(RNG.standard_normal((3, 2)), grad=True)
    w = stack(z)
    np.testing.assert_allclose(w.detach().numpy(), np.stack([np.exp(z.detach().numpy()[:, 0]),
                                                             np.tanh(z.detach().numpy()[:, 1])], -1))
    (dw,) = cr.autograd.grad(w.sum(), [z])
    np.testing.assert_allclose(stack.log_abs_det_jacobian(z, w).detach().numpy(), np.log(dw.numpy()), rtol=1e-9)
    np.testing.assert_allclose(stack.inv(w).detach().numpy(), z.detach().numpy(), rtol=1e-9)
    # the constraints and the registries
    c = constraints.cat([constraints.positive, constraints.real], dim=0, lengths=[2, 1])
    np.testing.assert_array_equal(c.check(_t([1.0, -1.0, -3.0])), [True, False, True])
    t = D.biject_to(c)
    assert isinstance(t, T.CatTransform) and np.all(c.check(t(_t([0.3, -2.0, 5.0]))))
    s2 = constraints.stack([constraints.unit_interval, constraints.positive], dim=1)
    assert np.all(s2.check(D.transform_to(s2)(_t(RNG.standard_normal((4, 2))))))
    with pytest.raises(ValueError, match="lengths"):
        T.CatTransform([T.ExpTransform()], lengths=[1, 2])


def test_cat_and_stack_match_torch():
    torch = pytest.importorskip("torch")
    TT = torch.distributions.transforms
    x = RNG.standard_normal((4, 5))
    for c, t in [
        (T.CatTransform([T.IndependentTransform(T.ExpTransform(), 1), T.SigmoidTransform()], dim=-1, lengths=[2, 3]),
         TT.CatTransform([TT.IndependentTransform(TT.ExpTransform(), 1), TT.SigmoidTransform()], dim=-1,
                         lengths=[2, 3])),
        (T.CatTransform([T.ExpTransform(), T.AffineTransform(0.0, 2.0)], dim=0, lengths=[1, 3]),
         TT.CatTransform([TT.ExpTransform(), TT.AffineTransform(0.0, 2.0)], dim=0, lengths=[1, 3])),
    ]:
        cy, ty = c(_t(x)), t(torch.tensor(x))
        np.testing.assert_allclose(cy.numpy(), ty.numpy(), rtol=1e-12)
        np.testing.assert_allclose(c.log_abs_det_jacobian(_t(x), cy).numpy(),
                                   t.log_abs_det_jacobian(torch.tensor(x), ty).numpy(), rtol=1e-10)
    s, ts = T.StackTransform([T.ExpTransform(), T.SoftplusTransform()], 0), TT.StackTransform(
        [TT.ExpTransform(), TT.SoftplusTransform()], 0)
    x2 = x[:2]
    np.testing.assert_allclose(s.log_abs_det_jacobian(_t(x2), s(_t(x2))).numpy(),
                               ts.log_abs_det_jacobian(torch.tensor(x2), ts(torch.tensor(x2))).numpy(), rtol=1e-10)


def test_corr_cholesky_transform():
    """Rows of unit length, t⁻¹(t(x)) = x, and log |det J| of x ↦ the strict lower triangle by
    central differences."""
    t = D.CorrCholeskyTransform()
    assert isinstance(D.biject_to(constraints.corr_cholesky), D.CorrCholeskyTransform)
    x = RNG.standard_normal((2, 6))
    y = t(_t(x))
    assert y.shape == (2, 4, 4) and np.all(constraints.corr_cholesky.check(y))
    np.testing.assert_allclose(np.linalg.norm(y.numpy(), axis=-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(t.inv(y).numpy(), x, rtol=1e-9, atol=1e-12)
    rows, cols = np.tril_indices(4, -1)
    h = 1e-6
    for b in range(2):
        jac = np.empty((6, 6))
        for j in range(6):
            e = np.zeros(6)
            e[j] = h
            jac[:, j] = (t(_t(x[b] + e)).numpy()[rows, cols] - t(_t(x[b] - e)).numpy()[rows, cols]) / (2 * h)
        np.testing.assert_allclose(t.log_abs_det_jacobian(_t(x[b]), y[b]).numpy(), np.log(abs(np.linalg.det(jac))),
                                   rtol=1e-6)
    assert t.forward_shape((3, 6)) == (3, 4, 4) and t.inverse_shape((3, 4, 4)) == (3, 6)
    with pytest.raises(ValueError, match="n\\(n − 1\\)/2"):
        t(_t(np.zeros(5)))
    torch = pytest.importorskip("torch")
    tt = torch.distributions.transforms.CorrCholeskyTransform()
    ty = tt(torch.tensor(x))
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(t.log_abs_det_jacobian(_t(x), y).numpy(),
                               tt.log_abs_det_jacobian(torch.tensor(x), ty).numpy(), rtol=1e-12)


def test_affine_with_event_dim_sums_the_jacobian():
    t = T.AffineTransform(0.0, _t([2.0, 3.0, 0.5]), event_dim=1)
    x = _t(RNG.standard_normal((5, 3)))
    ladj = t.log_abs_det_jacobian(x, t(x))
    assert ladj.shape == (5,)
    np.testing.assert_allclose(ladj.numpy(), math.log(3.0))


def test_cache_returns_the_input_itself():
    t = T.ExpTransform().with_cache(1)
    x = _t([0.1, 0.2], grad=True)
    y = t(x)
    assert t.inv(y) is x and t(x) is y
    assert T.identity_transform(x) is x


def test_compose_and_signs():
    c = T.ComposeTransform([T.AffineTransform(0.0, -1.0), T.ExpTransform()])
    assert c.sign == -1 and c.inv.sign == -1 and T.ExpTransform().sign == 1
    assert c == T.ComposeTransform([T.AffineTransform(0.0, -1.0), T.ExpTransform()])
    assert c.inv.inv is c
    assert T.ExpTransform() == T.ExpTransform() and T.ExpTransform() != T.SigmoidTransform()


@pytest.mark.parametrize("constraint,draw", [
    (constraints.real, lambda: RNG.standard_normal(6)),
    (constraints.positive, lambda: RNG.standard_normal(6)),
    (constraints.nonnegative, lambda: RNG.standard_normal(6)),
    (constraints.greater_than(2.0), lambda: RNG.standard_normal(6)),
    (constraints.less_than(-1.0), lambda: RNG.standard_normal(6)),
    (constraints.unit_interval, lambda: RNG.standard_normal(6) * 3),
    (constraints.interval(-2.0, 5.0), lambda: RNG.standard_normal(6) * 3),
    (constraints.half_open_interval(0.0, 3.0), lambda: RNG.standard_normal(6)),
    (constraints.real_vector, lambda: RNG.standard_normal((2, 3))),
    (constraints.independent(constraints.positive, 1), lambda: RNG.standard_normal((2, 3))),
])
def test_biject_to_and_transform_to_land_in_the_constraint(constraint, draw):
    x = _t(draw())
    for registry in (D.biject_to, D.transform_to):
        t = registry(constraint)
        y = t(x)
        assert np.all(constraint.check(y))
        np.testing.assert_allclose(t.inv(y).numpy(), x.numpy(), rtol=1e-8, atol=1e-10)
    y = D.transform_to(constraints.simplex)(_t(RNG.standard_normal((2, 4))))
    assert np.all(constraints.simplex.check(y))
    assert isinstance(D.biject_to(constraints.simplex), T.StickBreakingTransform)
    with pytest.raises(NotImplementedError):
        D.biject_to(constraints.lower_cholesky)


def test_registry_register():
    class _Odd(constraints.Constraint):
        pass

    registry = D.transform_to
    registry.register(_Odd, lambda c: T.ExpTransform())
    assert isinstance(registry(_Odd()), T.ExpTransform)


# --------------------------------------------------------------------------- TransformedDistribution

def test_transformed_density_integrates_to_one():
    """Y = 1 + 3 e^X with X ~ N(0.2, 0.5²): ∫ p_Y = 1, and its cdf matches the integral of p_Y."""
    base = D.Normal(_t([0.2]), _t([0.5]))
    d = D.TransformedDistribution(base, [T.ExpTransform(), T.AffineTransform(1.0, 3.0)])
    y = np.linspace(1 + 1e-9, 80, 400001)
    p = d.log_prob(_t(y[:, None])).exp().numpy()[:, 0]
    trap = np.trapezoid if hasattr(np, "trapezoid") else np.trapz
    np.testing.assert_allclose(trap(p, y), 1.0, atol=1e-6)
    mid = 5.0
    y = np.linspace(1 + 1e-9, mid, 200001)
    p = d.log_prob(_t(y[:, None])).exp().numpy()[:, 0]
    np.testing.assert_allclose(d.cdf(_t([mid])).numpy(), trap(p, y), atol=1e-7)
    np.testing.assert_allclose(d.icdf(d.cdf(_t([mid]))).numpy(), [mid], rtol=1e-9)
    assert np.all(d.support.check(d.sample((50,))))


def test_decreasing_transform_cdf():
    """Y = −X, X ~ Exponential(2): F_Y(y) = e^{2y} for y ≤ 0."""
    d = D.TransformedDistribution(D.Exponential(_t(2.0)), T.AffineTransform(0.0, -1.0))
    y = _t([-2.0, -0.5, -0.1])
    np.testing.assert_allclose(d.cdf(y).numpy(), np.exp(2 * y.numpy()), rtol=1e-12)
    np.testing.assert_allclose(d.icdf(d.cdf(y)).numpy(), y.numpy(), rtol=1e-9)


def test_event_shapes_through_transforms():
    base = D.Normal(_t(np.zeros((2, 3))), _t(np.ones((2, 3))))
    d = D.TransformedDistribution(base, T.SoftmaxTransform())
    assert d.batch_shape == (2,) and d.event_shape == (3,)
    assert isinstance(d.base_dist, D.Independent)
    e = D.TransformedDistribution(base, T.ExpTransform())
    assert e.batch_shape == (2, 3) and e.event_shape == ()
    assert e.expand((4, 2, 3)).sample().shape == (4, 2, 3)
    assert e.rsample((5,)).shape == (5, 2, 3)


def test_rsample_gradient_flows_through_transforms():
    loc = _t([0.1, -0.3], grad=True)
    d = D.TransformedDistribution(D.Normal(loc, 1.0), [T.TanhTransform()])
    d.rsample((7,)).sum().backward()
    assert loc.grad is not None and np.all(loc.grad.numpy() > 0)


def test_matches_torch():
    torch = pytest.importorskip("torch")
    TD, TT = torch.distributions, torch.distributions.transforms
    loc, scale = RNG.standard_normal(3), RNG.uniform(0.3, 1.5, 3)
    for make_c, make_t in [
        (lambda: [T.TanhTransform()], lambda: [TT.TanhTransform()]),
        (lambda: [T.SigmoidTransform(), T.AffineTransform(-1.0, 4.0)], lambda: [TT.SigmoidTransform(),
                                                                                 TT.AffineTransform(-1.0, 4.0)]),
        (lambda: [T.ExpTransform(), T.PowerTransform(0.5)], lambda: [TT.ExpTransform(), TT.PowerTransform(0.5)]),
        (lambda: [T.SoftplusTransform()], lambda: [TT.SoftplusTransform()]),
    ]:
        c_loc = _t(loc, grad=True)
        t_loc = torch.tensor(loc, requires_grad=True)
        c = D.TransformedDistribution(D.Normal(c_loc, _t(scale)), make_c())
        t = TD.TransformedDistribution(TD.Normal(t_loc, torch.tensor(scale)), make_t())
        x = t.sample((4,)).detach()
        c_lp, t_lp = c.log_prob(_t(x.numpy())), t.log_prob(x)
        np.testing.assert_allclose(c_lp.detach().numpy(), t_lp.detach().numpy(), rtol=1e-7)
        (cg,) = cr.autograd.grad(c_lp.sum(), [c_loc])
        (tg,) = torch.autograd.grad(t_lp.sum(), [t_loc])
        np.testing.assert_allclose(cg.numpy(), tg.numpy(), rtol=1e-6)
    # LogNormal and the Softmax transform's constraint handling
    c, t = D.LogNormal(_t(loc), _t(scale)), TD.LogNormal(torch.tensor(loc), torch.tensor(scale))
    assert c.batch_shape == tuple(t.batch_shape) and isinstance(c, D.TransformedDistribution)
    cs = D.TransformedDistribution(D.Normal(_t(np.zeros(3)), 1.0), T.SoftmaxTransform())
    ts = TD.TransformedDistribution(TD.Normal(torch.zeros(3, dtype=torch.float64), 1.0), TT.SoftmaxTransform())
    assert cs.event_shape == tuple(ts.event_shape) and cs.batch_shape == tuple(ts.batch_shape)
    for cc, tc in [(constraints.positive, TD.constraints.positive),
                   (constraints.interval(-2.0, 5.0), TD.constraints.interval(-2.0, 5.0)),
                   (constraints.simplex, TD.constraints.simplex)]:
        x = RNG.standard_normal(5)
        np.testing.assert_allclose(D.biject_to(cc)(_t(x)).numpy(), TD.biject_to(tc)(torch.tensor(x)).numpy())
        cy, ty = D.biject_to(cc)(_t(x)), TD.biject_to(tc)(torch.tensor(x))
        np.testing.assert_allclose(D.biject_to(cc).log_abs_det_jacobian(_t(x), cy).numpy(),
                                   TD.biject_to(tc).log_abs_det_jacobian(torch.tensor(x), ty).numpy(), rtol=1e-9)


def test_bad_arguments():
    with pytest.raises(ValueError, match="transforms"):
        D.TransformedDistribution(D.Normal(0.0, 1.0), "exp")
    with pytest.raises(ValueError, match="cache_size"):
        T.ExpTransform(cache_size=2)
    with pytest.raises(ValueError, match="support"):
        D.TransformedDistribution(D.Normal(0.0, 1.0), T.ExpTransform()).log_prob(cr.tensor(-1.0))
