"""What scripts/audit_forward_mode.py found besides torch.special and the decompositions:
functions whose derivative was lost in both modes (a tangent of 0, a gradient of None) because
their result was made from host arrays: ``masked_fill`` with a 0-d Tensor ``value``,
``frexp``'s mantissa and ``nextafter``.  Each against finite differences (float64), reverse mode
and PyTorch (``torch.func.jvp`` and its backward)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.autograd.forward_ad as fwAD
from chainrule import func
from chainrule.autograd.gradcheck import gradcheck

R = np.random.default_rng(3303)
MASK = np.array([[True, False, True], [False, False, True]])


def t64(a) -> cr.Tensor:
    return cr.tensor(np.asarray(a, dtype=np.float64))


def _fd(fn, xs, vs, eps=1e-6):
    plus = fn(*[t64(x + eps * v) for x, v in zip(xs, vs)]).numpy()
    minus = fn(*[t64(x - eps * v) for x, v in zip(xs, vs)]).numpy()
    return (plus - minus) / (2 * eps)


def masked_fill_fn(lib):
    mask = (lib.tensor if lib is not cr else cr.tensor)(MASK)
    return lambda x, value: x.masked_fill(mask, value)


def frexp_fn(lib):
    return lambda x: lib.frexp(x)[0]


def nextafter_fn(lib):
    return lambda x, y: lib.nextafter(x, y)


X = R.uniform(-3, 3, (2, 3))
# name -> (function of the library, inputs); the frexp inputs stay inside one binade each
CASES = {
    "masked_fill_tensor_value": (masked_fill_fn, [X, np.array(0.7)]),
    "frexp_mantissa": (frexp_fn, [np.array([0.3, 1.7, -5.2, 100.0, -0.01])]),
    "nextafter": (nextafter_fn, [X, np.zeros((2, 3))]),
    "nextafter_broadcast": (nextafter_fn, [X, np.array([5.0])]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_jvp_matches_finite_differences_and_reverse_mode(name):
    make, xs = CASES[name]
    fn = make(cr)
    vs = [R.standard_normal(np.shape(x)) for x in xs]
    out, jv = func.jvp(fn, tuple(t64(x) for x in xs), tuple(t64(v) for v in vs))
    np.testing.assert_allclose(jv.numpy(), _fd(fn, xs, vs), rtol=1e-6, atol=1e-9)
    u = R.standard_normal(tuple(out.shape))
    _, pull = func.vjp(fn, *[t64(x) for x in xs])
    grads = pull(t64(u))
    rhs = sum(float((g.numpy() * v).sum()) for g, v in zip(grads, vs) if g is not None)
    assert float((u * jv.numpy()).sum()) == pytest.approx(rhs, rel=1e-12)


@pytest.mark.parametrize("name", list(CASES))
def test_against_torch(name):
    torch = pytest.importorskip("torch")
    make, xs = CASES[name]
    vs = [R.standard_normal(np.shape(x)) for x in xs]
    _, ours = func.jvp(make(cr), tuple(t64(x) for x in xs), tuple(t64(v) for v in vs))
    _, ref = torch.func.jvp(make(torch), tuple(torch.tensor(x) for x in xs), tuple(torch.tensor(v) for v in vs))
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-12, atol=0)
    # reverse mode: the same gradients as PyTorch's (for nextafter 1 in x, 0 in the direction)
    ins = [t64(x).requires_grad_() for x in xs]
    tins = [torch.tensor(x, requires_grad=True) for x in xs]
    u = R.standard_normal(tuple(ours.shape))
    (make(cr)(*ins) * t64(u)).sum().backward()
    (make(torch)(*tins) * torch.tensor(u)).sum().backward()
    for a, b in zip(ins, tins):
        want = np.zeros(b.shape) if b.grad is None else b.grad.numpy()
        got = np.zeros(tuple(a.shape)) if a.grad is None else a.grad.numpy()
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck_both_modes(name):
    make, xs = CASES[name]
    assert gradcheck(make(cr), tuple(t64(x).requires_grad_() for x in xs), check_forward_ad=True)


def test_masked_fill_value_checks_and_dtypes():
    x = t64(X)
    with pytest.raises(RuntimeError, match="0-dimensional value tensor, but got tensor with 1 dimension"):
        x.masked_fill(cr.tensor(MASK), cr.ones(3, dtype=cr.float64))
    # an integer 0-d value takes the input's dtype; a float value into an integer tensor is truncated
    assert x.masked_fill(cr.tensor(MASK), cr.tensor(2)).dtype == cr.float64
    ints = cr.tensor([1, 2, 3]).masked_fill(cr.tensor([True, False, True]), cr.tensor(2.5))
    assert ints.dtype == cr.int64 and ints.tolist() == [2, 2, 2]
    # the in-place form keeps the value's gradient too
    v = t64(0.7).requires_grad_()
    y = t64(X).requires_grad_() * 1.0
    y.masked_fill_(cr.tensor(MASK), v)
    y.sum().backward()
    assert v.grad.item() == MASK.sum()
    with fwAD.dual_level():
        d = x.masked_fill(cr.tensor(MASK), fwAD.make_dual(t64(0.7), t64(2.0)))
        np.testing.assert_array_equal(fwAD.unpack_dual(d).tangent.numpy(), np.where(MASK, 2.0, 0.0))


def test_frexp_and_nextafter_values_unchanged():
    x = np.array([0.0, -0.0, 5e-324, 1e308, np.inf, -np.inf, np.nan, 0.75, -3.0])
    m, e = cr.frexp(t64(x))
    nm, ne = np.frexp(x)
    np.testing.assert_array_equal(m.numpy(), nm)
    np.testing.assert_array_equal(e.numpy(), ne)
    assert e.dtype == cr.int32 and not e.requires_grad
    y = np.array([1.0, -1.0, 0.0, np.inf, 0.0, 0.0, 1.0, 0.75, 7.0])
    np.testing.assert_array_equal(cr.nextafter(t64(x), t64(y)).numpy(), np.nextafter(x, y))
    f32 = cr.nextafter(cr.tensor([1.0, 2.0]), 3.0)
    assert f32.dtype == cr.float32
    np.testing.assert_array_equal(f32.numpy(), np.nextafter(np.float32([1.0, 2.0]), np.float32(3.0)))


def _audit_script():
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "audit_forward_mode.py"
    spec = importlib.util.spec_from_file_location("audit_forward_mode", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("which", ["special_cases", "extra_cases", "distribution_cases"])
def test_the_audits_own_lists_pass(which):
    """The audit's lists: chainrule.special, the functions PyTorch's database lacks (recurrent
    layers, attention, CTC, grid sampling, ...) and the distributions' log_prob, cdf, icdf,
    entropy, mean and variance: forward mode against finite differences and reverse mode,
    without PyTorch."""
    audit = _audit_script()
    cases = getattr(audit, which)()
    assert len(cases) > 30
    assert audit.run_cases(cases) == {}


def test_gamma_cdf_forward_mode():
    """Gamma.cdf (distributions.utils.gamma_cdf, differentiable in the concentration too, by the
    implicit-gradient series): the tangent against finite differences and reverse mode."""
    conc, rate, value = np.array([0.7, 2.0, 5.0]), np.array([1.5, 0.5, 2.0]), np.array([0.4, 3.0, 2.2])

    def cdf(a, r, x):
        return cr.distributions.Gamma(a, r).cdf(x)

    xs = [conc, rate, value]
    vs = [R.standard_normal(3) for _ in xs]
    _, jv = func.jvp(cdf, tuple(t64(x) for x in xs), tuple(t64(v) for v in vs))
    np.testing.assert_allclose(jv.numpy(), _fd(cdf, xs, vs), rtol=1e-6, atol=1e-10)
    u = R.standard_normal(3)
    _, pull = func.vjp(cdf, *[t64(x) for x in xs])
    rhs = sum(float((g.numpy() * v).sum()) for g, v in zip(pull(t64(u)), vs))
    assert float((u * jv.numpy()).sum()) == pytest.approx(rhs, rel=1e-12)


RANDOM_IN_PLACE = {"bernoulli_", "cauchy_", "exponential_", "geometric_", "log_normal_", "normal_", "random_",
                   "uniform_"}


def test_in_place_methods_carry_the_tangent_of_their_out_of_place_form():
    """y = x·1; y.f_(*args) has the tangent of x.f(*args), for every Tensor method f_ whose f
    runs on a (3, 4) float64 input with no argument, a tensor or a number (detach_ drops it, as
    detach and as PyTorch's)."""
    x0 = R.uniform(0.2, 1.5, (3, 4))
    v = t64(R.standard_normal((3, 4)))
    other = t64(R.uniform(0.5, 1.5, (3, 4)))
    checked, bad = 0, []
    names = [n for n in dir(cr.Tensor) if n.endswith("_") and not n.startswith("_") and n not in RANDOM_IN_PLACE]
    for name in names:
        if not hasattr(cr.Tensor, name[:-1]):
            continue
        for args in [(), (other,), (0.7,)]:
            try:
                with np.errstate(all="ignore"):
                    ref = getattr(t64(x0), name[:-1])(*args)
                    if not isinstance(ref, cr.Tensor) or ref.dtype != cr.float64 or tuple(ref.shape) != (3, 4):
                        break
                    _, want = func.jvp(lambda x: getattr(x, name[:-1])(*args), (t64(x0),), (v,))
            except Exception:
                continue

            def in_place(x):
                y = x * 1.0
                getattr(y, name)(*args)
                return y

            with np.errstate(all="ignore"):
                _, got = func.jvp(in_place, (t64(x0),), (v,))
            checked += 1
            if not np.allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=0, equal_nan=True):
                bad.append(name)
            break
    assert checked > 80
    assert bad == []


@pytest.mark.parametrize("fn", ["softmax", "log_softmax", "softmin"])
@pytest.mark.parametrize("dim", [0, -1])
def test_softmax_of_a_zero_dimensional_tensor_in_both_modes(fn, dim):
    """A 0-d input (one element along dim 0 or -1, as PyTorch allows): value 1 (0 for log_softmax),
    tangent and gradient 0, where the rules summed along an axis the 0-d array does not have."""
    import chainrule.nn.functional as F

    f = getattr(F, fn)
    x = t64(0.3)
    out, tangent = func.jvp(lambda t: f(t, dim), (x,), (t64(1.0),))
    assert out.shape == () and out.item() == (0.0 if fn == "log_softmax" else 1.0)
    assert tangent.shape == () and tangent.item() == 0.0
    w = t64(0.3).requires_grad_()
    f(w, dim).backward()
    assert w.grad.item() == 0.0
    assert gradcheck(lambda t: f(t, dim), (t64(0.3).requires_grad_(),), check_forward_ad=True)
