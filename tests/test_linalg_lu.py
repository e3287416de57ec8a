"""LU factorisation (linalg.lu_factor / lu_factor_ex / lu / lu_solve, torch.lu, lu_solve, lu_unpack):
mathematics (P L U = A, the solves), gradients by finite differences, PyTorch as oracle."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck

SHAPES = [(3, 3), (2, 4, 4), (5, 3), (3, 5), (2, 4, 2), (0, 3, 3), (1, 1)]


def _t(a: np.ndarray, grad: bool = False) -> cr.Tensor:
    return cr.tensor(a, dtype=cr.float64, requires_grad=grad)


@pytest.mark.parametrize("shape", SHAPES)
def test_p_l_u_reconstructs_a(shape):
    a = np.random.default_rng(1).standard_normal(shape)
    P, L, U = cr.linalg.lu(_t(a))
    k = min(shape[-2:])
    assert P.shape == shape[:-1] + (shape[-2],) and L.shape == shape[:-1] + (k,)
    assert U.shape == shape[:-2] + (k, shape[-1])
    np.testing.assert_allclose((P @ L @ U).numpy(), a, atol=1e-12)
    Ln, Un, Pn = L.numpy(), U.numpy(), P.numpy()
    assert np.all(np.triu(Ln, 1) == 0) and np.all(np.diagonal(Ln, 0, -2, -1) == 1) and np.all(np.tril(Un, -1) == 0)
    assert np.all(np.abs(Ln) <= 1)  # partial pivoting: every multiplier is at most 1 in magnitude
    np.testing.assert_array_equal(Pn.sum(-1), 1)
    np.testing.assert_array_equal(Pn.sum(-2), 1)


def test_pivots_are_1_based_int32_swaps():
    a = np.array([[0.0, 1.0], [2.0, 3.0]])  # the first pivot must come from row 2
    LU, piv = cr.linalg.lu_factor(_t(a))
    assert piv.dtype == cr.int32 and piv.tolist() == [2, 2]
    np.testing.assert_allclose(LU.numpy(), [[2.0, 3.0], [0.0, 1.0]])


@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("adjoint", [True, False])
def test_lu_solve_solves(left, adjoint):
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((2, 4, 4)), rng.standard_normal((2, 4, 3) if left else (2, 3, 4))
    LU, piv = cr.linalg.lu_factor(_t(a))
    X = cr.linalg.lu_solve(LU, piv, _t(b), left=left, adjoint=adjoint).numpy()
    M = np.swapaxes(a, -1, -2) if adjoint else a
    np.testing.assert_allclose(M @ X if left else X @ M, b, atol=1e-10)


def test_old_api_and_methods():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((3, 3)), rng.standard_normal((3, 2))
    LU, piv = cr.lu(_t(a))
    np.testing.assert_allclose(cr.lu_solve(_t(b), LU, piv).numpy(), np.linalg.solve(a, b), atol=1e-12)
    np.testing.assert_allclose(_t(b).lu_solve(*_t(a).lu()).numpy(), np.linalg.solve(a, b), atol=1e-12)
    LU2, piv2, info = _t(a).lu(get_infos=True)
    assert info.tolist() == 0 and info.dtype == cr.int32
    P, L, U = cr.lu_unpack(LU, piv)
    np.testing.assert_allclose((P @ L @ U).numpy(), a, atol=1e-12)
    P, L, U = cr.lu_unpack(LU, piv, unpack_data=False)
    assert L.numel() == 0 and U.numel() == 0 and P.shape == (3, 3)


def test_singular_input_infos_and_errors():
    a = np.array([[[1.0, 2.0], [2.0, 4.0]], [[1.0, 0.0], [0.0, 1.0]]])
    LU, piv, info = cr.linalg.lu_factor_ex(_t(a))
    assert info.tolist() == [2, 0]
    with pytest.raises(cr.linalg.LinAlgError, match="singular"):
        cr.linalg.lu_factor(_t(a))
    with pytest.raises(cr.linalg.LinAlgError):
        cr.linalg.lu_factor_ex(_t(a), check_errors=True)
    np.testing.assert_array_equal(cr.lu(_t(a))[0].numpy(), LU.numpy())  # torch.lu does not raise
    P, L, U = cr.linalg.lu(_t(a))  # factorised anyway
    np.testing.assert_allclose((P @ L @ U).numpy(), a, atol=1e-12)
    with pytest.raises(RuntimeError, match="without pivoting"):
        cr.linalg.lu_factor(_t(a), pivot=False)
    with pytest.raises(RuntimeError, match="square"):
        cr.linalg.lu_solve(_t(np.ones((2, 3))), cr.tensor([1, 2], dtype=cr.int32), _t(np.ones((2, 1))))
    with pytest.raises(RuntimeError, match="LU_pivots must have shape"):
        cr.lu_unpack(_t(np.eye(3)), cr.tensor([1, 2], dtype=cr.int32))


@pytest.mark.parametrize("shape", [(3, 3), (2, 3, 3), (4, 2), (2, 4), (0, 2, 2)])
def test_lu_factor_and_lu_gradients(shape):
    a = _t(np.random.default_rng(4).standard_normal(shape), grad=True)
    assert gradcheck(lambda x: cr.linalg.lu_factor(x).LU, (a,), check_forward_ad=True)
    assert gradgradcheck(lambda x: cr.linalg.lu_factor(x).LU, (a,))
    assert gradcheck(lambda x: tuple(cr.linalg.lu(x))[1:], (a,))


@pytest.mark.parametrize("left,adjoint", [(True, False), (True, True), (False, False), (False, True)])
def test_lu_solve_gradients(left, adjoint):
    rng = np.random.default_rng(5)
    a = rng.standard_normal((2, 3, 3)) + 3 * np.eye(3)
    LU0, piv = cr.linalg.lu_factor(_t(a))
    LU = _t(LU0.numpy(), grad=True)
    B = _t(rng.standard_normal((2, 3, 2) if left else (2, 2, 3)), grad=True)

    def f(lu, b):
        return cr.linalg.lu_solve(lu, piv, b, left=left, adjoint=adjoint)

    assert gradcheck(f, (LU, B))
    assert gradgradcheck(f, (LU, B))


# -- PyTorch as oracle ------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_against_torch(shape):
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(6).standard_normal(shape)
    LU, piv, info = cr.linalg.lu_factor_ex(_t(a))
    tLU, tpiv, tinfo = torch.linalg.lu_factor_ex(torch.tensor(a))
    np.testing.assert_allclose(LU.numpy(), tLU.numpy(), atol=1e-12)
    np.testing.assert_array_equal(piv.numpy(), tpiv.numpy())
    np.testing.assert_array_equal(info.numpy(), tinfo.numpy())
    for mine, theirs in zip(cr.lu_unpack(LU, piv), torch.lu_unpack(tLU, tpiv)):
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), atol=1e-12)


def test_gradients_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    for shape in [(2, 3, 3), (4, 3), (3, 4)]:
        a, g = rng.standard_normal(shape), rng.standard_normal(shape)
        x, tx = _t(a, grad=True), torch.tensor(a, requires_grad=True)
        cr.linalg.lu_factor(x).LU.backward(_t(g))
        torch.linalg.lu_factor(tx).LU.backward(torch.tensor(g))
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), atol=1e-10)
    a, b, g = rng.standard_normal((3, 3)), rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    LU, piv = cr.linalg.lu_factor(_t(a))
    lu, bb = _t(LU.numpy(), grad=True), _t(b, grad=True)
    tlu, tb = torch.tensor(LU.numpy(), requires_grad=True), torch.tensor(b, requires_grad=True)
    cr.linalg.lu_solve(lu, piv, bb, adjoint=True).backward(_t(g))
    torch.linalg.lu_solve(tlu, torch.tensor(piv.numpy()), tb, adjoint=True).backward(torch.tensor(g))
    np.testing.assert_allclose(lu.grad.numpy(), tlu.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(bb.grad.numpy(), tb.grad.numpy(), atol=1e-10)


def test_lu_solve_broadcasts_batches():
    rng = np.random.default_rng(8)
    a, b = rng.standard_normal((2, 3, 3)), rng.standard_normal((3, 2))
    LU, piv = cr.linalg.lu_factor(_t(a))
    np.testing.assert_allclose(cr.linalg.lu_solve(LU, piv, _t(b)).numpy(), np.linalg.solve(a, b), atol=1e-10)
    b2 = rng.standard_normal((2, 3, 2))
    np.testing.assert_allclose(cr.linalg.lu_solve(LU[0], piv[0], _t(b2)).numpy(), np.linalg.solve(a[0], b2),
                               atol=1e-10)
