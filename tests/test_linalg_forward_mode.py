"""Forward mode through the decompositions: linalg.eigh, linalg.svd and linalg.qr, and the
functions built on them (eigvalsh, svdvals, pinv, lstsq, cond, matrix_norm, torch.svd, torch.qr).

The tangents are checked against central differences (float64), against reverse mode
(<u, J v> = <Jᵀ u, v>) and against ``torch.func.jvp``.  Eigen- and singular vectors are
defined up to sign, so the vectors are compared after a sign normalisation that makes the
first row positive (a function with the same derivative, whichever sign LAPACK picks).  For
eigh the tangent is symmetric (the input is a symmetric matrix; PyTorch's rule too uses Ȧ as
given)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import func
from chainrule.autograd.gradcheck import gradcheck

R = np.random.default_rng(2207)


def t64(a) -> cr.Tensor:
    return cr.tensor(np.asarray(a, dtype=np.float64))


def _sym(shape) -> np.ndarray:
    a = R.standard_normal(shape)
    return a + np.swapaxes(a, -1, -2)


def _signs(lib, x):
    """+1/-1 per column of x (the sign of its first row), as a constant."""
    return lib.sign(x[..., :1, :]).detach()


def eigh_fixed(lib):
    def f(a):
        w, v = lib.linalg.eigh(a)
        return w, v * _signs(lib, v)
    return f


def svd_fixed(lib):
    def f(a):
        u, s, vh = lib.linalg.svd(a, full_matrices=False)
        sg = _signs(lib, u)
        return u * sg, s, vh * sg.mT
    return f


def qr_fn(lib):
    return lambda a: lib.linalg.qr(a)


def _tall(*shape):
    return R.standard_normal(shape)


# name -> (function of the library (chainrule or torch), input, tangent)
CASES = {
    "eigh": (eigh_fixed, _sym((4, 4)), _sym((4, 4))),
    "eigh_batched": (eigh_fixed, _sym((2, 3, 3)), _sym((2, 3, 3))),
    "eigh_upper": (lambda lib: (lambda a: lib.linalg.eigh(a, UPLO="U")[0]), _sym((3, 3)), _sym((3, 3))),
    "eigvalsh": (lambda lib: lib.linalg.eigvalsh, _sym((4, 4)), _sym((4, 4))),
    "svd_square": (svd_fixed, _tall(3, 3), _tall(3, 3)),
    "svd_tall": (svd_fixed, _tall(5, 3), _tall(5, 3)),
    "svd_wide": (svd_fixed, _tall(2, 4), _tall(2, 4)),
    "svd_batched": (svd_fixed, _tall(2, 4, 3), _tall(2, 4, 3)),
    "svdvals": (lambda lib: lib.linalg.svdvals, _tall(4, 3), _tall(4, 3)),
    "pinv": (lambda lib: lib.linalg.pinv, _tall(4, 3), _tall(4, 3)),
    "pinv_hermitian": (lambda lib: (lambda a: lib.linalg.pinv(a, hermitian=True)), _sym((3, 3)), _sym((3, 3))),
    "cond": (lambda lib: lib.linalg.cond, _tall(3, 3), _tall(3, 3)),
    "matrix_norm_2": (lambda lib: (lambda a: lib.linalg.matrix_norm(a, 2)), _tall(3, 4), _tall(3, 4)),
    "pinverse": (lambda lib: lib.pinverse, _tall(3, 4), _tall(3, 4)),
    "qr_square": (qr_fn, _tall(3, 3), _tall(3, 3)),
    "qr_tall": (qr_fn, _tall(5, 3), _tall(5, 3)),
    "qr_batched": (qr_fn, _tall(2, 4, 2), _tall(2, 4, 2)),
    "qr_wide": (qr_fn, _tall(3, 5), _tall(3, 5)),
    "qr_wide_complete": (lambda lib: (lambda a: lib.linalg.qr(a, mode="complete")), _tall(2, 2, 4), _tall(2, 2, 4)),
    "torch_qr": (lambda lib: lib.qr, _tall(4, 3), _tall(4, 3)),
}


def _outs(res) -> list:
    return list(res) if isinstance(res, (tuple, list)) else [res]


@pytest.mark.parametrize("name", list(CASES))
def test_jvp_matches_finite_differences(name):
    make, a, v = CASES[name]
    fn = make(cr)
    outs, tangents = func.jvp(lambda x: tuple(_outs(fn(x))), (t64(a),), (t64(v),))
    eps = 1e-6
    plus, minus = _outs(fn(t64(a + eps * v))), _outs(fn(t64(a - eps * v)))
    for o, d, p, q in zip(outs, tangents, plus, minus):
        assert d.shape == o.shape
        np.testing.assert_allclose(d.numpy(), (p.numpy() - q.numpy()) / (2 * eps), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", list(CASES))
def test_jvp_matches_reverse_mode(name):
    make, a, v = CASES[name]
    fn = make(cr)
    _, jv = func.jvp(lambda x: tuple(_outs(fn(x))), (t64(a),), (t64(v),))
    us = [R.standard_normal(tuple(d.shape)) for d in jv]
    _, pull = func.vjp(lambda x: tuple(_outs(fn(x))), t64(a))
    (jtu,) = pull(tuple(t64(u) for u in us))
    lhs = sum(float((u * d.numpy()).sum()) for u, d in zip(us, jv))
    assert lhs == pytest.approx(float((jtu.numpy() * v).sum()), rel=1e-9, abs=1e-11)


@pytest.mark.parametrize("name", list(CASES))
def test_against_torch_func_jvp(name):
    torch = pytest.importorskip("torch")
    make, a, v = CASES[name]
    _, ours = func.jvp(lambda x: tuple(_outs(make(cr)(x))), (t64(a),), (t64(v),))
    tfn = make(torch)
    _, ref = torch.func.jvp(lambda x: tuple(_outs(tfn(x))), (torch.tensor(a),), (torch.tensor(v),))
    assert len(ours) == len(ref)
    for d, r in zip(ours, ref):
        np.testing.assert_allclose(d.numpy(), r.numpy(), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("name", ["eigh", "svd_tall", "svd_wide", "qr_tall", "qr_wide", "svdvals", "pinv"])
def test_gradcheck_with_forward_mode(name):
    make, a, _ = CASES[name]
    fn = make(cr)
    if name == "eigh":  # a symmetric function of the input: read A's symmetric part
        inner = fn
        fn = lambda x: inner(0.5 * (x + x.mT))  # noqa: E731
    x = t64(a).requires_grad_()
    assert gradcheck(lambda x: tuple(_outs(fn(x))), (x,), check_forward_ad=True)


def test_forward_mode_refuses_what_reverse_mode_refuses():
    """No rule for svd(full_matrices=True) of a non-square matrix, for qr(mode='complete') of a
    tall one or for mode='r' (as PyTorch): a tangent raises, as requires_grad does, instead of
    being dropped."""
    with pytest.raises(RuntimeError, match="full_matrices"):
        func.jvp(lambda x: cr.linalg.svd(x)[0], (t64(_tall(3, 4)),), (t64(_tall(3, 4)),))
    for mode in ("complete", "r"):
        with pytest.raises(RuntimeError, match="no gradient for mode"):
            func.jvp(lambda x: cr.linalg.qr(x, mode=mode)[1], (t64(_tall(4, 3)),), (t64(_tall(4, 3)),))
        x = t64(_tall(4, 3)).requires_grad_()
        with pytest.raises(RuntimeError, match="no gradient for mode"):
            cr.linalg.qr(x, mode=mode)
    # square: full_matrices makes no difference and keeps the rule
    _, d = func.jvp(lambda x: cr.linalg.svd(x)[1], (t64(_tall(3, 3)),), (t64(_tall(3, 3)),))
    assert np.isfinite(d.numpy()).all()


def test_wide_qr_values_equal_lapacks():
    """m < n: differentiated, Q and R come from the QR of the first m columns and R's other
    columns are Qᵀ A₂; the same numbers (to rounding) as LAPACK's QR of the whole matrix."""
    a = _tall(2, 3, 5)
    q0, r0 = cr.linalg.qr(t64(a))
    q1, r1 = cr.linalg.qr(t64(a).requires_grad_())
    np.testing.assert_allclose(q1.detach().numpy(), q0.numpy(), rtol=0, atol=1e-14)
    np.testing.assert_allclose(r1.detach().numpy(), r0.numpy(), rtol=0, atol=1e-14)
    (q1.sum() + r1.sum()).backward()  # reverse mode too
