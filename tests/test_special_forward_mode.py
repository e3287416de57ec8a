"""Forward mode through torch.special's scaled Bessel functions, the incomplete gamma functions
and the Hurwitz zeta function (i0e, i1e, gammainc/gammaincc = igamma/igammac, zeta).

Each tangent is checked against central differences (float64), against reverse mode
(<u, J v> = <Jᵀ u, v>, and J v = vᵀJ elementwise), through the dual-tensor API
(``forward_ad.make_dual``) as well as ``func.jvp``, and against PyTorch: ``torch.func.jvp``
for i0e/i1e, and, where PyTorch has no forward-mode rule (igamma, igammac, zeta), its
reverse-mode gradient.  As PyTorch, gammainc/gammaincc are differentiable in x only and
zeta in q only: a tangent on the other argument raises NotImplementedError."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.autograd.forward_ad as fwAD
from chainrule import func
from chainrule import special as S
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck

R = np.random.default_rng(7001)
F64 = cr.float64


def t64(a) -> cr.Tensor:
    return cr.tensor(np.asarray(a, dtype=np.float64))


# x includes 0 (the 1/x of I1e's derivative), negatives, and |x| > 30 (the asymptotic series)
X_BESSEL = np.array([-40.0, -3.0, -0.7, 0.0, 0.4, 2.0, 29.5, 35.0])
A_GAMMA = np.array([0.5, 2.0, 7.0, 3.0, 12.0])
X_GAMMA = np.array([0.3, 2.5, 6.0, 9.0, 4.0])  # both sides of x = a + 1 (series / continued fraction)
S_ZETA = np.array([2.0, 3.5, 1.5, 4.0, 2.5])
Q_ZETA = np.array([0.5, 1.0, 2.5, 7.0, 30.0])

# name -> (function of the differentiated tensor, its float64 value)
CASES = {
    "i0e": (S.i0e, X_BESSEL),
    "i1e": (S.i1e, X_BESSEL),
    "gammainc": (lambda x: S.gammainc(t64(A_GAMMA), x), X_GAMMA),
    "gammaincc": (lambda x: S.gammaincc(t64(A_GAMMA), x), X_GAMMA),
    "igamma": (lambda x: cr.igamma(t64(A_GAMMA), x), X_GAMMA),
    "igammac": (lambda x: t64(A_GAMMA).igammac(x), X_GAMMA),
    "zeta": (lambda q: S.zeta(t64(S_ZETA), q), Q_ZETA),
    "gammainc_broadcast": (lambda x: S.gammainc(t64(A_GAMMA[:, None]), x), X_GAMMA[:3]),
    "zeta_broadcast": (lambda q: S.zeta(t64(S_ZETA[:, None]), q), Q_ZETA[:2]),
    "zeta_scalar_s": (lambda q: S.zeta(3.0, q), Q_ZETA),
}


def _central(fn, x: np.ndarray, v: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    return (fn(t64(x + eps * v)).numpy() - fn(t64(x - eps * v)).numpy()) / (2 * eps)


@pytest.mark.parametrize("name", list(CASES))
def test_jvp_matches_finite_differences(name):
    fn, x = CASES[name]
    v = R.standard_normal(x.shape)
    out, tangent = func.jvp(fn, (t64(x),), (t64(v),))
    np.testing.assert_array_equal(out.numpy(), fn(t64(x)).numpy())
    assert tangent.dtype == F64 and tangent.shape == out.shape
    # (rtol: the central difference of i1e at 0, where its second derivative jumps, is off by eps·v/2)
    np.testing.assert_allclose(tangent.numpy(), _central(fn, x, v), rtol=1e-5, atol=1e-10)


@pytest.mark.parametrize("name", list(CASES))
def test_dual_tensors_match_reverse_mode(name):
    fn, x = CASES[name]
    v = R.standard_normal(x.shape)
    with fwAD.dual_level():
        y = fn(fwAD.make_dual(t64(x), t64(v)))
        jv = fwAD.unpack_dual(y).tangent.numpy()
    # <u, J v> = <Jᵀ u, v> for a random u
    u = R.standard_normal(jv.shape)
    _, pull = func.vjp(fn, t64(x))
    (jtu,) = pull(t64(u))
    assert float((u * jv).sum()) == pytest.approx(float((jtu.numpy() * v).sum()), rel=1e-12, abs=1e-14)
    # the whole Jacobian both ways: forward mode's columns are reverse mode's rows transposed
    jf = func.jacfwd(fn)(t64(x)).numpy().reshape(jv.size, x.size)
    jr = func.jacrev(fn)(t64(x)).numpy().reshape(jv.size, x.size)
    np.testing.assert_allclose(jf, jr, rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("name", ["i0e", "i1e"])
def test_against_torch_func_jvp(name):
    torch = pytest.importorskip("torch")
    fn, x = CASES[name]
    v = R.standard_normal(x.shape)
    _, ours = func.jvp(fn, (t64(x),), (t64(v),))
    _, ref = torch.func.jvp(getattr(torch.special, name), (torch.tensor(x),), (torch.tensor(v),))
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("name", ["gammainc", "gammaincc", "zeta"])
def test_against_torch_reverse_mode(name):
    """PyTorch has no forward-mode rule for these: J v = (dy/dx)·v elementwise, dy/dx from its backward."""
    torch = pytest.importorskip("torch")
    fn, x = CASES[name]
    first = {"gammainc": A_GAMMA, "gammaincc": A_GAMMA, "zeta": S_ZETA}[name]
    v = R.standard_normal(x.shape)
    _, ours = func.jvp(fn, (t64(x),), (t64(v),))
    xt = torch.tensor(x, requires_grad=True)
    getattr(torch.special, name)(torch.tensor(first), xt).sum().backward()
    np.testing.assert_allclose(ours.numpy(), xt.grad.numpy() * v, rtol=1e-11, atol=1e-300)


@pytest.mark.parametrize("name", ["i0e", "i1e", "gammainc", "gammaincc", "zeta"])
def test_gradcheck_with_forward_mode(name):
    fn, x = CASES[name]
    smooth = x[x != 0]  # (e^(-|x|) has a kink at 0)
    assert gradcheck(fn, (t64(x).requires_grad_(),), check_forward_ad=True)
    assert gradgradcheck(fn, (t64(smooth).requires_grad_(),))


@pytest.mark.parametrize("name", ["i0e", "i1e", "gammainc", "zeta"])
def test_hessian_forward_over_reverse(name):
    """jacfwd(jacrev(f)): tangents pushed through the recorded backward pass (the derivative's
    own functions need forward-mode rules too), against differences of the gradient."""
    fn, x = CASES[name]
    x = x[x != 0]
    if name.startswith("i"):
        fn = S.i0e if name == "i0e" else S.i1e
    h = func.hessian(lambda t: fn(t).sum())(t64(x)).numpy()
    eps = 1e-6
    g = func.grad(lambda t: fn(t).sum())
    diag = (g(t64(x + eps)).numpy() - g(t64(x - eps)).numpy()) / (2 * eps)
    np.testing.assert_allclose(h, np.diag(diag), rtol=1e-5, atol=1e-9)


def test_float32_tangents_stay_float32():
    a = cr.tensor([0.5, 2.0, 7.0])  # float32
    x32 = cr.tensor([0.3, 2.5, 6.0])
    for fn in (S.i0e, S.i1e, lambda x: S.gammainc(a, x), lambda x: S.gammaincc(a, x), lambda q: S.zeta(a + 1.5, q)):
        y, dy = func.jvp(fn, (x32,), (cr.ones(3),))
        assert y.dtype == cr.float32 and dy.dtype == cr.float32


@pytest.mark.parametrize("fn, match", [
    (lambda a, x: S.gammainc(a, x), "igamma: input"),
    (lambda a, x: S.gammaincc(a, x), "igammac: input"),
    (lambda a, x: cr.igamma(a, x), "igamma: input"),
    (lambda s, q: S.zeta(s, q), "zeta"),
])
def test_tangent_of_the_first_argument_raises_as_pytorch(fn, match):
    a, x = t64([2.0, 3.0]), t64([1.0, 4.0])
    with pytest.raises(NotImplementedError, match=match):
        func.jvp(lambda a: fn(a, x), (a,), (cr.ones(2, dtype=F64),))
    with pytest.raises(NotImplementedError, match=match), fwAD.dual_level():
        fn(fwAD.make_dual(a, cr.zeros(2, dtype=F64)), fwAD.make_dual(x, cr.ones(2, dtype=F64)))
    # a tangent on the second argument alone is fine
    _, d = func.jvp(lambda x: fn(a, x), (x,), (cr.ones(2, dtype=F64),))
    assert np.isfinite(d.numpy()).all()
