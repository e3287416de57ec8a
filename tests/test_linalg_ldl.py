"""LDLᵀ (linalg.ldl_factor / ldl_factor_ex / ldl_solve): mathematics (the factors rebuild A, the
solve solves), Bunch–Kaufman's 2 × 2 blocks, errors and infos, PyTorch as oracle (LAPACK's sytrf)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr


def _t(a: np.ndarray, grad: bool = False) -> cr.Tensor:
    return cr.tensor(a, dtype=cr.float64, requires_grad=grad)


def _sym(rng: np.random.Generator, shape: tuple[int, ...], zero_diag: bool = False) -> np.ndarray:
    a = rng.standard_normal(shape)
    a = a + np.swapaxes(a, -1, -2)
    if zero_diag:  # forces 2 × 2 pivots
        a = a - np.eye(shape[-1]) * np.diagonal(a, 0, -2, -1)[..., None, :]
    return a


def _rebuild(ld: np.ndarray, piv: np.ndarray) -> np.ndarray:
    """A from (LD, pivots) by the definition: A = M D Mᵀ with M = P_0 L_0 P_1 L_1 ⋯ (each step's swap
    then its elimination), written independently of the code under test."""
    n = ld.shape[0]
    M, D = np.eye(n), np.zeros((n, n))
    k = 0
    while k < n:
        s = 1 if piv[k] > 0 else 2
        kp = abs(int(piv[k])) - 1
        kk = k + s - 1
        Pk = np.eye(n)
        Pk[[kk, kp]] = Pk[[kp, kk]]
        Lk = np.eye(n)
        Lk[k + s:, k:k + s] = ld[k + s:, k:k + s]
        D[k:k + s, k:k + s] = np.tril(ld[k:k + s, k:k + s]) + np.tril(ld[k:k + s, k:k + s], -1).T
        M = M @ Pk @ Lk
        k += s
    return M @ D @ M.T


@pytest.mark.parametrize("zero_diag", [False, True])
def test_factors_rebuild_a_and_solve(zero_diag):
    rng = np.random.default_rng(1)
    a = _sym(rng, (3, 5, 5), zero_diag)
    LD, piv = cr.linalg.ldl_factor(_t(a))
    assert piv.dtype == cr.int32 and LD.shape == (3, 5, 5)
    if zero_diag:
        assert (piv.numpy() < 0).any()  # a zero diagonal needs 2 × 2 blocks
    for i in range(3):
        np.testing.assert_allclose(_rebuild(LD.numpy()[i], piv.numpy()[i]), a[i], atol=1e-10)
    b = rng.standard_normal((3, 5, 2))
    np.testing.assert_allclose(a @ cr.linalg.ldl_solve(LD, piv, _t(b)).numpy(), b, atol=1e-10)
    b1 = rng.standard_normal((5, 2))  # broadcast over the batch
    np.testing.assert_allclose(a @ cr.linalg.ldl_solve(LD, piv, _t(b1), hermitian=True).numpy(),
                               np.broadcast_to(b1, (3, 5, 2)), atol=1e-10)


def test_only_the_lower_triangle_is_read_and_empty_batches():
    a = _sym(np.random.default_rng(2), (4, 4))
    junk = np.tril(a) + np.triu(np.full((4, 4), 7.0), 1)
    np.testing.assert_array_equal(cr.linalg.ldl_factor(_t(junk)).LD.numpy(), cr.linalg.ldl_factor(_t(a)).LD.numpy())
    LD, piv, info = cr.linalg.ldl_factor_ex(_t(np.zeros((0, 3, 3))))
    assert LD.shape == (0, 3, 3) and piv.shape == (0, 3) and info.shape == (0,)


def test_singular_and_bad_input():
    z = np.zeros((2, 2, 2))
    z[1] = np.eye(2)
    LD, piv, info = cr.linalg.ldl_factor_ex(_t(z))
    assert info.tolist() == [1, 0]
    with pytest.raises(cr.linalg.LinAlgError, match="singular"):
        cr.linalg.ldl_factor(_t(z))
    with pytest.raises(cr.linalg.LinAlgError):
        cr.linalg.ldl_factor_ex(_t(z), check_errors=True)
    with pytest.raises(RuntimeError, match="square"):
        cr.linalg.ldl_factor(_t(np.ones((2, 3))))
    with pytest.raises(RuntimeError, match="derivative"):
        cr.linalg.ldl_factor(_t(np.eye(2), grad=True))
    LD, piv = cr.linalg.ldl_factor(_t(np.eye(3)))
    with pytest.raises(RuntimeError, match="B must be"):
        cr.linalg.ldl_solve(LD, piv, _t(np.ones((2, 1))))
    with pytest.raises(RuntimeError, match="pivots"):
        cr.linalg.ldl_solve(LD, LD, _t(np.ones((3, 1))))


@pytest.mark.parametrize("zero_diag", [False, True])
def test_against_torch(zero_diag):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 6):
        a = _sym(rng, (4, n, n), zero_diag and n > 1)
        LD, piv, info = cr.linalg.ldl_factor_ex(_t(a))
        tLD, tpiv, tinfo = torch.linalg.ldl_factor_ex(torch.tensor(a))
        np.testing.assert_allclose(LD.numpy(), tLD.numpy(), atol=1e-12)
        np.testing.assert_array_equal(piv.numpy(), tpiv.numpy())
        np.testing.assert_array_equal(info.numpy(), tinfo.numpy())
        b = rng.standard_normal((4, n, 2))
        np.testing.assert_allclose(cr.linalg.ldl_solve(LD, piv, _t(b)).numpy(),
                                   torch.linalg.ldl_solve(tLD, tpiv, torch.tensor(b)).numpy(), atol=1e-10)
