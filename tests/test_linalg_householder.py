"""Householder QR (torch.geqrf, linalg.householder_product = orgqr, ormqr): mathematics (Q orthogonal,
A = Q R), gradients by finite differences, PyTorch as oracle."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck

SHAPES = [(4, 3), (2, 5, 3), (3, 3), (0, 4, 2), (1, 1)]


def _t(a: np.ndarray, grad: bool = False) -> cr.Tensor:
    return cr.tensor(a, dtype=cr.float64, requires_grad=grad)


@pytest.mark.parametrize("shape", SHAPES)
def test_q_is_orthonormal_and_reproduces_a(shape):
    a = np.random.default_rng(1).standard_normal(shape)
    qr, tau = cr.geqrf(_t(a))
    n = shape[-1]
    Q = cr.linalg.householder_product(qr, tau).numpy()
    R = np.triu(qr.numpy())
    np.testing.assert_allclose(np.swapaxes(Q, -1, -2) @ Q, np.broadcast_to(np.eye(n), shape[:-2] + (n, n)), atol=1e-12)
    np.testing.assert_allclose(Q @ R[..., :n, :], a, atol=1e-12)
    np.testing.assert_allclose(cr.orgqr(qr, tau).numpy(), Q)
    np.testing.assert_allclose(qr.orgqr(tau).numpy(), Q)


@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("transpose", [True, False])
def test_ormqr_multiplies_by_the_full_q(left, transpose):
    rng = np.random.default_rng(2)
    a = rng.standard_normal((2, 4, 3))
    qr, tau = _t(a).geqrf()
    # the full 4 × 4 Q: Q applied to the identity
    Q = cr.ormqr(qr, tau, _t(np.broadcast_to(np.eye(4), (2, 4, 4)).copy())).numpy()
    np.testing.assert_allclose(np.swapaxes(Q, -1, -2) @ Q, np.broadcast_to(np.eye(4), (2, 4, 4)), atol=1e-12)
    np.testing.assert_allclose(Q[..., :, :3], cr.linalg.householder_product(qr, tau).numpy(), atol=1e-12)
    c = rng.standard_normal((2, 4, 2) if left else (2, 2, 4))
    Qm = np.swapaxes(Q, -1, -2) if transpose else Q
    want = Qm @ c if left else c @ Qm
    np.testing.assert_allclose(qr.ormqr(tau, _t(c), left, transpose).numpy(), want, atol=1e-12)


def test_bad_input_and_no_geqrf_gradient():
    with pytest.raises(RuntimeError, match="not implemented"):
        cr.geqrf(_t(np.eye(3), grad=True))
    with pytest.raises(RuntimeError, match="at least as many rows"):
        cr.linalg.householder_product(_t(np.ones((2, 3))), _t(np.ones(2)))
    with pytest.raises(RuntimeError, match="reflectors"):
        cr.linalg.householder_product(_t(np.ones((3, 2))), _t(np.ones(3)))
    with pytest.raises(RuntimeError, match="tau must have shape"):
        cr.linalg.householder_product(_t(np.ones((2, 3, 2))), _t(np.ones(2)))
    with pytest.raises(RuntimeError, match="rows"):
        cr.ormqr(_t(np.ones((3, 2))), _t(np.ones(2)), _t(np.ones((4, 2))))


@pytest.mark.parametrize("shape,k", [((4, 3), 3), ((2, 4, 2), 2), ((3, 3), 2), ((0, 3, 2), 2)])
def test_householder_product_gradients(shape, k):
    rng = np.random.default_rng(3)
    a = _t(rng.standard_normal(shape), grad=True)
    tau = _t(rng.uniform(0.5, 1.5, shape[:-2] + (k,)), grad=True)
    assert gradcheck(cr.linalg.householder_product, (a, tau))
    assert gradgradcheck(cr.linalg.householder_product, (a, tau))


@pytest.mark.parametrize("left,transpose", [(True, False), (True, True), (False, False), (False, True)])
def test_ormqr_gradients(left, transpose):
    rng = np.random.default_rng(4)
    a = _t(rng.standard_normal((2, 3, 2)), grad=True)
    tau = _t(rng.uniform(0.5, 1.5, (2, 2)), grad=True)
    c = _t(rng.standard_normal((2, 3, 2) if left else (2, 2, 3)), grad=True)

    def f(x, t, y):
        return cr.ormqr(x, t, y, left, transpose)

    assert gradcheck(f, (a, tau, c))
    assert gradgradcheck(f, (a, tau, c))


# -- PyTorch as oracle ------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_against_torch(shape):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    a = rng.standard_normal(shape)
    qr, tau = cr.geqrf(_t(a))
    tqr, ttau = torch.geqrf(torch.tensor(a))
    np.testing.assert_allclose(qr.numpy(), tqr.numpy(), atol=1e-12)
    np.testing.assert_allclose(tau.numpy(), ttau.numpy(), atol=1e-12)
    np.testing.assert_allclose(cr.linalg.householder_product(qr, tau).numpy(),
                               torch.linalg.householder_product(tqr, ttau).numpy(), atol=1e-12)
    c = rng.standard_normal(shape[:-2] + (2, shape[-2]))
    np.testing.assert_allclose(cr.ormqr(qr, tau, _t(c), left=False, transpose=True).numpy(),
                               torch.ormqr(tqr, ttau, torch.tensor(c), left=False, transpose=True).numpy(), atol=1e-12)


def test_gradients_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    a, tau, c = rng.standard_normal((2, 4, 3)), rng.uniform(0.5, 1.5, (2, 3)), rng.standard_normal((2, 4, 2))
    g, gc = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 4, 2))
    x, t = _t(a, grad=True), _t(tau, grad=True)
    tx, tt = torch.tensor(a, requires_grad=True), torch.tensor(tau, requires_grad=True)
    cr.linalg.householder_product(x, t).backward(_t(g))
    torch.linalg.householder_product(tx, tt).backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(t.grad.numpy(), tt.grad.numpy(), atol=1e-10)
    x, t, y = _t(a, grad=True), _t(tau, grad=True), _t(c, grad=True)
    tx, tt, ty = (torch.tensor(v, requires_grad=True) for v in (a, tau, c))
    cr.ormqr(x, t, y, True, True).backward(_t(gc))
    torch.ormqr(tx, tt, ty, True, True).backward(torch.tensor(gc))
    for mine, theirs in ((x, tx), (t, tt), (y, ty)):
        np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), atol=1e-10)
