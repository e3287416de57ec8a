"""chainrule.distributions: values and gradients against torch.distributions (float64), samples, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.distributions as D
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck

torch = pytest.importorskip("torch")
TD = torch.distributions

RNG = np.random.default_rng(7)


def _pair(arr, grad=True):
    """The same float64 array as a chainrule leaf and a torch leaf."""
    return (cr.tensor(arr.copy(), dtype=cr.float64, requires_grad=grad),
            torch.tensor(arr.copy(), dtype=torch.float64, requires_grad=grad))


def _compare(c_out, t_out, c_params, t_params, rtol=1e-10, atol=1e-12):
    """Same values, and same gradients of Σ w·out for random weights w."""
    np.testing.assert_allclose(c_out.detach().numpy(), t_out.detach().numpy(), rtol=rtol, atol=atol)
    if not c_params:
        return
    w = RNG.standard_normal(c_out.shape)
    # retain_graph: the distribution's parameters (expanded, normalised) are shared by several outputs
    c_grads = cr.autograd.grad((c_out * cr.tensor(w, dtype=cr.float64)).sum(), c_params, allow_unused=True,
                               retain_graph=True)
    t_grads = torch.autograd.grad((t_out * torch.tensor(w)).sum(), t_params, allow_unused=True, retain_graph=True)
    for cg, tg in zip(c_grads, t_grads):
        if tg is None:
            assert cg is None or np.all(cg.numpy() == 0)
            continue
        np.testing.assert_allclose(cg.numpy(), tg.numpy(), rtol=rtol, atol=atol)


# --------------------------------------------------------------------------- Normal, Uniform

@pytest.mark.parametrize("loc_shape,scale_shape,value_shape", [
    ((3,), (3,), (3,)), ((2, 1), (4,), (5, 2, 4)), ((), (), (6,)), ((0,), (1,), (0,)),
])
def test_normal_matches_torch(loc_shape, scale_shape, value_shape):
    c_loc, t_loc = _pair(RNG.standard_normal(loc_shape))
    c_scale, t_scale = _pair(RNG.uniform(0.5, 2.0, scale_shape))
    c_x, t_x = _pair(RNG.standard_normal(value_shape))
    c, t = D.Normal(c_loc, c_scale), TD.Normal(t_loc, t_scale)
    assert c.batch_shape == tuple(t.batch_shape) and c.event_shape == tuple(t.event_shape)
    params = ([c_loc, c_scale, c_x], [t_loc, t_scale, t_x])
    _compare(c.log_prob(c_x), t.log_prob(t_x), *params)
    for name in ("entropy",):
        _compare(getattr(c, name)(), getattr(t, name)(), *params[:1], *params[1:])
    for name in ("mean", "variance", "stddev", "mode"):
        _compare(getattr(c, name), getattr(t, name), params[0][:2], params[1][:2])


def test_normal_log_prob_gradcheck_and_gradgradcheck():
    loc = cr.tensor(RNG.standard_normal((2, 3)), dtype=cr.float64, requires_grad=True)
    scale = cr.tensor(RNG.uniform(0.5, 2, (3,)), dtype=cr.float64, requires_grad=True)
    x = cr.tensor(RNG.standard_normal((4, 2, 3)), dtype=cr.float64, requires_grad=True)

    def f(loc, scale, x):
        return D.Normal(loc, scale).log_prob(x)

    assert gradcheck(f, (loc, scale, x))
    assert gradgradcheck(f, (loc, scale, x))
    assert gradcheck(lambda loc, scale: D.Normal(loc, scale).entropy(), (loc, scale))


def test_normal_rsample_gradient_by_finite_differences():
    """x = μ + σ ε: with the noise fixed by the seed, dx/dμ = 1 and dx/dσ = ε; checked by central differences."""
    loc = cr.tensor([0.3, -1.0], dtype=cr.float64, requires_grad=True)
    scale = cr.tensor([0.7, 2.0], dtype=cr.float64, requires_grad=True)

    def f(loc, scale):
        cr.manual_seed(3)
        return D.Normal(loc, scale).rsample((5,))

    assert gradcheck(f, (loc, scale))
    assert D.Normal(loc, scale).rsample().requires_grad
    assert not D.Normal(loc, scale).sample().requires_grad


def test_normal_samples_shapes_and_moments():
    cr.manual_seed(0)
    d = D.Normal(cr.tensor([1.0, -2.0], dtype=cr.float64), cr.tensor([0.5, 3.0], dtype=cr.float64))
    s = d.sample((20000,))
    assert s.shape == (20000, 2) and s.dtype == cr.float64
    # the standard error of the mean is σ/√n: 0.0035 and 0.021; 5 of them
    se = np.array([0.5, 3.0]) / math.sqrt(20000)
    assert np.all(np.abs(s.numpy().mean(0) - [1.0, -2.0]) < 5 * se), s.numpy().mean(0)
    np.testing.assert_allclose(s.numpy().std(0), [0.5, 3.0], rtol=0.03)
    assert d.sample().shape == (2,) and d.rsample((3, 4)).shape == (3, 4, 2)
    assert D.Normal(0.0, 1.0).sample((2,)).dtype == cr.get_default_dtype()


def test_uniform_matches_torch():
    c_lo, t_lo = _pair(RNG.uniform(-2, 0, (4,)))
    c_hi, t_hi = _pair(RNG.uniform(0.5, 3, (3, 1)))
    x = RNG.uniform(0, 0.5, (2, 3, 4))
    c_x, t_x = _pair(x, grad=False)
    c, t = D.Uniform(c_lo, c_hi), TD.Uniform(t_lo, t_hi)
    assert c.batch_shape == tuple(t.batch_shape) == (3, 4)
    _compare(c.log_prob(c_x), t.log_prob(t_x), [c_lo, c_hi], [t_lo, t_hi])
    _compare(c.cdf(c_x), t.cdf(t_x), [c_lo, c_hi], [t_lo, t_hi])
    _compare(c.entropy(), t.entropy(), [c_lo, c_hi], [t_lo, t_hi])
    for name in ("mean", "variance", "stddev"):
        _compare(getattr(c, name), getattr(t, name), [c_lo, c_hi], [t_lo, t_hi])
    # outside the support: log 0 = −∞ without validation, an error with it
    out = D.Uniform(c_lo, c_hi, validate_args=False).log_prob(cr.tensor([[5.0]], dtype=cr.float64))
    assert np.all(out.detach().numpy() == -np.inf)
    with pytest.raises(ValueError, match="support"):
        c.log_prob(cr.tensor([[5.0]], dtype=cr.float64))


def test_uniform_rsample_gradient_and_moments():
    lo = cr.tensor([0.0, -1.0], dtype=cr.float64, requires_grad=True)
    hi = cr.tensor([1.0, 3.0], dtype=cr.float64, requires_grad=True)

    def f(lo, hi):
        cr.manual_seed(5)
        return D.Uniform(lo, hi).rsample((4,))

    assert gradcheck(f, (lo, hi))
    cr.manual_seed(1)
    s = D.Uniform(lo, hi).sample((20000,)).numpy()
    assert s.shape == (20000, 2)
    assert np.all(s >= [0.0, -1.0]) and np.all(s < [1.0, 3.0])
    # mean (lo + hi)/2, standard error (hi − lo)/√(12 n)
    se = np.array([1.0, 4.0]) / math.sqrt(12 * 20000)
    assert np.all(np.abs(s.mean(0) - [0.5, 1.0]) < 5 * se), s.mean(0)


# --------------------------------------------------------------------------- Bernoulli

@pytest.mark.parametrize("given", ["probs", "logits"])
def test_bernoulli_matches_torch(given):
    arr = RNG.uniform(0.05, 0.95, (2, 3)) if given == "probs" else RNG.standard_normal((2, 3)) * 3
    arr[0, 0] = 0.5 if given == "probs" else 0.0  # the point where |x| has a kink
    c_p, t_p = _pair(arr)
    c, t = D.Bernoulli(**{given: c_p}), TD.Bernoulli(**{given: t_p})
    c_x, t_x = _pair(RNG.integers(0, 2, (4, 2, 3)).astype(float), grad=False)
    _compare(c.log_prob(c_x), t.log_prob(t_x), [c_p], [t_p])
    _compare(c.entropy(), t.entropy(), [c_p], [t_p])
    for name in ("mean", "variance", "probs", "logits"):
        _compare(getattr(c, name), getattr(t, name), [c_p], [t_p])
    np.testing.assert_array_equal(c.enumerate_support().numpy(), t.enumerate_support().numpy())


def test_bernoulli_gradcheck_and_samples():
    logits = cr.tensor(RNG.standard_normal(4), dtype=cr.float64, requires_grad=True)
    x = cr.tensor([0.0, 1.0, 1.0, 0.0], dtype=cr.float64)
    assert gradcheck(lambda lg: D.Bernoulli(logits=lg).log_prob(x), (logits,))
    assert gradgradcheck(lambda lg: D.Bernoulli(logits=lg).entropy(), (logits,))
    probs = cr.tensor([0.1, 0.5, 0.9], dtype=cr.float64, requires_grad=True)
    assert gradcheck(lambda p: D.Bernoulli(probs=p).entropy(), (probs,))
    cr.manual_seed(2)
    s = D.Bernoulli(probs=probs).sample((20000,)).numpy()
    assert s.shape == (20000, 3) and set(np.unique(s)) <= {0.0, 1.0}
    np.testing.assert_allclose(s.mean(0), [0.1, 0.5, 0.9], atol=5 * 0.5 / math.sqrt(20000))


# --------------------------------------------------------------------------- Categorical

@pytest.mark.parametrize("given", ["probs", "logits"])
@pytest.mark.parametrize("batch", [(), (3,), (2, 3)])
def test_categorical_matches_torch(given, batch):
    arr = RNG.uniform(0.1, 2.0, batch + (5,)) if given == "probs" else RNG.standard_normal(batch + (5,)) * 2
    c_p, t_p = _pair(arr)
    c, t = D.Categorical(**{given: c_p}), TD.Categorical(**{given: t_p})
    assert c.batch_shape == tuple(t.batch_shape) and c.param_shape == tuple(t.param_shape)
    for vshape in [batch, (4,) + batch, (1,) * len(batch)]:
        v = RNG.integers(0, 5, vshape)
        _compare(c.log_prob(cr.tensor(v)), t.log_prob(torch.tensor(v)), [c_p], [t_p])
    _compare(c.entropy(), t.entropy(), [c_p], [t_p])
    _compare(c.probs, t.probs, [c_p], [t_p])
    _compare(c.logits, t.logits, [c_p], [t_p])
    np.testing.assert_array_equal(c.mean.numpy(), t.mean.numpy())  # all NaN, of the batch shape
    np.testing.assert_array_equal(c.mode.numpy(), t.mode.numpy())
    np.testing.assert_array_equal(c.enumerate_support().numpy(), t.enumerate_support().numpy())
    np.testing.assert_array_equal(c.enumerate_support(False).numpy(), t.enumerate_support(False).numpy())


def test_categorical_with_a_zero_probability():
    """p = (0, 0.25, 0.75): entropy counts 0·log 0 as 0, the zero class is never sampled."""
    c_p, t_p = _pair(np.array([0.0, 0.25, 0.75]))
    c, t = D.Categorical(probs=c_p), TD.Categorical(probs=t_p)
    want = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert float(c.entropy()) == pytest.approx(want, rel=1e-12)
    _compare(c.entropy(), t.entropy(), [c_p], [t_p])
    cr.manual_seed(4)
    s = c.sample((30000,)).numpy()
    assert s.dtype == np.int64 and s.shape == (30000,)
    assert not np.any(s == 0)
    np.testing.assert_allclose(np.bincount(s, minlength=3) / 30000, [0, 0.25, 0.75], atol=5 * 0.433 / math.sqrt(30000))


def test_categorical_gradcheck_and_sample_frequencies():
    logits = cr.tensor(RNG.standard_normal((2, 4)), dtype=cr.float64, requires_grad=True)
    v = cr.tensor([[3, 0], [1, 1], [2, 3]])
    assert gradcheck(lambda lg: D.Categorical(logits=lg).log_prob(v), (logits,))
    assert gradgradcheck(lambda lg: D.Categorical(logits=lg).entropy(), (logits,))
    probs = cr.tensor(RNG.uniform(0.2, 1, (2, 4)), dtype=cr.float64, requires_grad=True)
    assert gradcheck(lambda p: D.Categorical(probs=p).log_prob(v), (probs,))
    cr.manual_seed(6)
    d = D.Categorical(logits=logits)
    s = d.sample((40000,)).numpy()
    assert s.shape == (40000, 2)
    p = d.probs.detach().numpy()
    for b in range(2):
        np.testing.assert_allclose(np.bincount(s[:, b], minlength=4) / 40000, p[b], atol=5 * 0.5 / math.sqrt(40000))


def test_one_hot_categorical_matches_torch():
    c_p, t_p = _pair(RNG.uniform(0.1, 1.0, (3, 4)))
    c, t = D.OneHotCategorical(probs=c_p), TD.OneHotCategorical(probs=t_p)
    assert c.batch_shape == (3,) and c.event_shape == (4,) == tuple(t.event_shape)
    v = np.eye(4)[RNG.integers(0, 4, (5, 3))]
    _compare(c.log_prob(cr.tensor(v, dtype=cr.float64)), t.log_prob(torch.tensor(v)), [c_p], [t_p])
    _compare(c.entropy(), t.entropy(), [c_p], [t_p])
    _compare(c.mean, t.mean, [c_p], [t_p])
    _compare(c.variance, t.variance, [c_p], [t_p])
    np.testing.assert_array_equal(c.enumerate_support().numpy(), t.enumerate_support().numpy())
    s = c.sample((7,)).numpy()
    assert s.shape == (7, 3, 4) and np.all(s.sum(-1) == 1)


# --------------------------------------------------------------------------- kl_divergence, expand, checks

def test_kl_divergence_matches_torch():
    a, ta = _pair(RNG.standard_normal((2, 3)))
    b, tb = _pair(RNG.uniform(0.3, 2, (3,)))
    c, tc = _pair(RNG.standard_normal((3,)))
    d, td = _pair(RNG.uniform(0.3, 2, (2, 3)))
    _compare(D.kl_divergence(D.Normal(a, b), D.Normal(c, d)), TD.kl_divergence(TD.Normal(ta, tb), TD.Normal(tc, td)),
             [a, b, c, d], [ta, tb, tc, td])
    p, tp = _pair(RNG.uniform(0.1, 1, (2, 5)))
    q, tq = _pair(RNG.standard_normal((5,)))
    _compare(D.kl_divergence(D.Categorical(probs=p), D.Categorical(logits=q)),
             TD.kl_divergence(TD.Categorical(probs=tp), TD.Categorical(logits=tq)), [p, q], [tp, tq])
    _compare(D.kl_divergence(D.OneHotCategorical(probs=p), D.OneHotCategorical(logits=q)),
             TD.kl_divergence(TD.OneHotCategorical(probs=tp), TD.OneHotCategorical(logits=tq)), [p, q], [tp, tq])
    r, tr = _pair(RNG.uniform(0.05, 0.95, (4,)))
    s, ts = _pair(RNG.standard_normal((4,)))
    _compare(D.kl_divergence(D.Bernoulli(probs=r), D.Bernoulli(logits=s)),
             TD.kl_divergence(TD.Bernoulli(probs=tr), TD.Bernoulli(logits=ts)), [r, s], [tr, ts])
    lo, tlo = _pair(np.array([0.0, -1.0]))
    hi, thi = _pair(np.array([1.0, 0.5]))
    lo2, tlo2 = _pair(np.array([-1.0, -0.5]))
    hi2, thi2 = _pair(np.array([2.0, 2.0]))
    _compare(D.kl_divergence(D.Uniform(lo, hi), D.Uniform(lo2, hi2)),
             TD.kl_divergence(TD.Uniform(tlo, thi), TD.Uniform(tlo2, thi2)), [lo, hi, lo2, hi2],
             [tlo, thi, tlo2, thi2])


def test_kl_formulas_and_edge_cases():
    """KL(p‖p) = 0; KL(N(0,1)‖N(1,1)) = ½; a zero q-probability where p > 0 gives +∞; a zero p-probability counts 0."""
    n = D.Normal(cr.tensor(0.0, dtype=cr.float64), cr.tensor(1.0, dtype=cr.float64))
    assert float(D.kl_divergence(n, n)) == 0.0
    assert float(D.kl_divergence(n, D.Normal(cr.tensor(1.0, dtype=cr.float64), 1.0))) == pytest.approx(0.5)
    p = D.Categorical(probs=cr.tensor([0.0, 0.5, 0.5], dtype=cr.float64))
    q = D.Categorical(probs=cr.tensor([0.5, 0.0, 0.5], dtype=cr.float64))
    assert float(D.kl_divergence(p, q)) == math.inf
    q2 = D.Categorical(probs=cr.tensor([0.2, 0.4, 0.4], dtype=cr.float64))
    assert float(D.kl_divergence(p, q2)) == pytest.approx(math.log(0.5 / 0.4), rel=1e-12)
    with pytest.raises(NotImplementedError, match="Normal.*Categorical"):
        D.kl_divergence(n, p)


def test_expand():
    loc = cr.tensor([0.0, 1.0], dtype=cr.float64, requires_grad=True)
    d = D.Normal(loc, cr.tensor([1.0, 2.0], dtype=cr.float64)).expand((3, 2))
    assert d.batch_shape == (3, 2) and d.sample().shape == (3, 2)
    td = TD.Normal(torch.tensor([0.0, 1.0], dtype=torch.float64), torch.tensor([1.0, 2.0], dtype=torch.float64))
    x = np.linspace(-1, 1, 6).reshape(3, 2)
    np.testing.assert_allclose(d.log_prob(cr.tensor(x, dtype=cr.float64)).detach().numpy(),
                               td.expand((3, 2)).log_prob(torch.tensor(x)).numpy(), rtol=1e-12)
    d.log_prob(cr.tensor(x, dtype=cr.float64)).sum().backward()
    assert loc.grad is not None and loc.grad.shape == (2,)
    c = D.Categorical(logits=cr.tensor([0.0, 1.0, 2.0])).expand((4,))
    assert c.batch_shape == (4,) and c.sample().shape == (4,) and c.log_prob(cr.tensor([0, 1, 2, 2])).shape == (4,)
    o = D.OneHotCategorical(logits=cr.tensor([0.0, 1.0, 2.0])).expand((4,))
    assert o.batch_shape == (4,) and o.sample().shape == (4, 3)
    with pytest.raises(ValueError, match="cannot be expanded"):
        D.Normal(loc, 1.0).expand((3,))


def test_validation_errors():
    with pytest.raises(ValueError, match="scale .*GreaterThan"):
        D.Normal(cr.tensor([0.0]), cr.tensor([-1.0]))
    D.Normal(cr.tensor([0.0]), cr.tensor([-1.0]), validate_args=False)  # allowed when asked
    with pytest.raises(ValueError, match="either `probs` or `logits`"):
        D.Categorical()
    with pytest.raises(ValueError, match="either `probs` or `logits`"):
        D.Bernoulli(probs=cr.tensor([0.5]), logits=cr.tensor([0.0]))
    with pytest.raises(ValueError, match="probs .*Interval"):
        D.Bernoulli(probs=cr.tensor([1.5]))
    with pytest.raises(ValueError, match="probs .*Simplex"):
        D.Categorical(probs=cr.tensor([0.5, -0.1]))
    with pytest.raises(ValueError, match="support"):
        D.Categorical(logits=cr.zeros(3)).log_prob(cr.tensor([3]))
    with pytest.raises(ValueError, match="support"):
        D.Bernoulli(probs=cr.tensor([0.3])).log_prob(cr.tensor([0.5]))
    with pytest.raises(ValueError, match="must be a Tensor"):
        D.Normal(0.0, 1.0).log_prob(0.5)
    with pytest.raises(ValueError, match="does not broadcast"):
        D.Normal(cr.zeros(3), 1.0).log_prob(cr.zeros(2))
    with pytest.raises(ValueError, match="low < high"):
        D.Uniform(1.0, 0.0)
    with pytest.raises(ValueError, match="at least one-dimensional"):
        D.Categorical(probs=cr.tensor(1.0))
    with pytest.raises(NotImplementedError, match="rsample"):
        D.Categorical(logits=cr.zeros(3)).rsample()


def test_one_hot_categorical_validates_its_parameter():
    """As in PyTorch: probabilities off the simplex are refused (with validation on), like Categorical's."""
    with pytest.raises(ValueError, match="probs .*Simplex"):
        TD.OneHotCategorical(probs=torch.tensor([-1.0, 2.0]))
    with pytest.raises(ValueError, match="probs .*Simplex"):
        D.OneHotCategorical(probs=cr.tensor([-1.0, 2.0]))
    with pytest.raises(ValueError, match="probs .*Simplex"):
        D.OneHotCategoricalStraightThrough(probs=cr.tensor([-1.0, 2.0]))
    D.OneHotCategorical(probs=cr.tensor([-1.0, 2.0]), validate_args=False)  # allowed when asked


def test_reinforce_gradient_is_the_score_function():
    """d/dlogits log softmax(l)_a = onehot(a) − softmax(l) (mathematics)."""
    logits = cr.tensor([0.2, -0.5, 1.0], dtype=cr.float64, requires_grad=True)
    D.Categorical(logits=logits).log_prob(cr.tensor(2)).backward()
    p = np.exp([0.2, -0.5, 1.0])
    p /= p.sum()
    np.testing.assert_allclose(logits.grad.numpy(), np.eye(3)[2] - p, rtol=1e-12)


def test_repr_names_the_given_parameter():
    c = D.Categorical(logits=cr.zeros(2, 3))
    assert c.probs.shape == (2, 3)  # computed from the logits on first use
    assert repr(c) == "Categorical(logits: Size([2, 3]))"
    assert repr(D.Bernoulli(probs=cr.tensor(0.25))) == "Bernoulli(probs: 0.25)"
    assert repr(D.Normal(cr.zeros(2), 1.0)) == "Normal(loc: Size([2]), scale: Size([2]))"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.func's own import warns about torch.jit
@pytest.mark.parametrize("family", ["normal", "categorical", "bernoulli", "uniform"])
def test_forward_mode_matches_torch_func_jvp(family):
    """Forward mode (cr.func.jvp) through log_prob and entropy equals torch.func.jvp."""
    from chainrule import func

    if family == "normal":
        prims = [RNG.standard_normal(3), RNG.uniform(0.5, 2, 3)]
        x = RNG.standard_normal((2, 3))

        def build(lib, dist, a, b):
            return dist.Normal(a, b).log_prob(lib.tensor(x, dtype=lib.float64)) + dist.Normal(a, b).entropy()
    elif family == "categorical":
        prims = [RNG.standard_normal((2, 4))]
        v = RNG.integers(0, 4, (3, 2))

        def build(lib, dist, a):
            c = dist.Categorical(logits=a)
            return c.log_prob(lib.tensor(v)).sum(0) + c.entropy()
    elif family == "bernoulli":
        prims = [RNG.uniform(0.1, 0.9, 3)]
        v = np.array([1.0, 0.0, 1.0])

        def build(lib, dist, a):
            b = dist.Bernoulli(probs=a)
            return b.log_prob(lib.tensor(v, dtype=lib.float64)) + b.entropy()
    else:
        prims = [RNG.uniform(-1, 0, 2), RNG.uniform(1, 2, 2)]

        def build(lib, dist, a, b):
            u = dist.Uniform(a, b)
            return u.entropy() + u.mean + u.variance
    tangents = [RNG.standard_normal(p.shape) for p in prims]
    c_out, c_tan = func.jvp(lambda *a: build(cr, D, *a), tuple(cr.tensor(p, dtype=cr.float64) for p in prims),
                            tuple(cr.tensor(t, dtype=cr.float64) for t in tangents))
    t_out, t_tan = torch.func.jvp(lambda *a: build(torch, TD, *a), tuple(torch.tensor(p) for p in prims),
                                  tuple(torch.tensor(t) for t in tangents))
    np.testing.assert_allclose(c_out.numpy(), t_out.numpy(), rtol=1e-10)
    np.testing.assert_allclose(c_tan.numpy(), t_tan.numpy(), rtol=1e-10, atol=1e-12)


def test_empty_batches():
    """A batch of zero distributions gives empty samples, log-probabilities and entropies."""
    c = D.Categorical(logits=cr.zeros(0, 3, dtype=cr.float64))
    assert c.sample((2,)).shape == (2, 0)
    assert c.entropy().shape == (0,) and c.log_prob(cr.zeros(0, dtype=cr.int64)).shape == (0,)
    b = D.Bernoulli(logits=cr.zeros(0, dtype=cr.float64))
    assert b.sample((3,)).shape == (3, 0) and b.entropy().shape == (0,)
    u = D.Uniform(cr.zeros(0, dtype=cr.float64), cr.ones(0, dtype=cr.float64))
    assert u.rsample((4,)).shape == (4, 0) and u.log_prob(cr.zeros(0, dtype=cr.float64)).shape == (0,)
