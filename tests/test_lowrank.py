"""torch.svd_lowrank / pca_lowrank: randomised, so checked by what defines them (orthonormal factors,
the exact SVD for inputs of rank <= q, the centring of PCA), with gradients under a fixed seed."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd.gradcheck import gradcheck


def _low_rank(shape: tuple[int, ...], r: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    *batch, m, n = shape
    return rng.standard_normal((*batch, m, r)) @ rng.standard_normal((*batch, r, n))


def _orthonormal(X: np.ndarray) -> None:
    q = X.shape[-1]
    np.testing.assert_allclose(np.swapaxes(X, -1, -2) @ X, np.broadcast_to(np.eye(q), X.shape[:-2] + (q, q)),
                               atol=1e-10)


@pytest.mark.parametrize("shape", [(8, 5), (5, 8), (2, 7, 6), (0, 6, 4)])
@pytest.mark.parametrize("niter", [0, 2])
def test_exact_for_rank_at_most_q(shape, niter):
    a = _low_rank(shape, 3)
    U, S, V = cr.svd_lowrank(cr.tensor(a), q=4, niter=niter)
    m, n = shape[-2:]
    assert U.shape == shape[:-2] + (m, 4) and S.shape == shape[:-2] + (4,) and V.shape == shape[:-2] + (n, 4)
    _orthonormal(U.numpy())
    _orthonormal(V.numpy())
    np.testing.assert_allclose(((U * S.unsqueeze(-2)) @ V.mT).numpy(), a, atol=1e-10)
    np.testing.assert_allclose(S.numpy()[..., :3], np.linalg.svd(a, compute_uv=False)[..., :3], atol=1e-10)
    np.testing.assert_allclose(S.numpy()[..., 3], 0, atol=1e-10)
    assert np.all(np.diff(S.numpy(), axis=-1) <= 1e-12)  # descending


def test_m_is_subtracted_and_power_iterations_help():
    rng = np.random.default_rng(1)
    a = _low_rank((30, 20), 3) + 1e-3 * rng.standard_normal((30, 20))
    M = rng.standard_normal((1, 20))
    U, S, V = cr.svd_lowrank(cr.tensor(a + M), q=3, niter=3, M=cr.tensor(M))
    np.testing.assert_allclose(S.numpy(), np.linalg.svd(a, compute_uv=False)[:3], rtol=1e-6)
    full = cr.tensor(rng.standard_normal((40, 30)))
    exact = np.linalg.svd(full.numpy(), compute_uv=False)[0]
    cr.manual_seed(0)
    s0 = cr.svd_lowrank(full, q=5, niter=0)[1].numpy()[0]
    cr.manual_seed(0)
    s4 = cr.svd_lowrank(full, q=5, niter=4)[1].numpy()[0]
    assert s0 <= exact + 1e-12 and s4 <= exact + 1e-12 and abs(exact - s4) <= abs(exact - s0) + 1e-12


def test_pca_lowrank_centres():
    a = _low_rank((20, 6), 2) + np.arange(6.0)  # a column offset the centring removes
    U, S, V = cr.pca_lowrank(cr.tensor(a), q=3)
    c = a - a.mean(axis=0)
    np.testing.assert_allclose(((U * S.unsqueeze(-2)) @ V.mT).numpy(), c, atol=1e-10)
    np.testing.assert_allclose(S.numpy()[:2], np.linalg.svd(c, compute_uv=False)[:2], atol=1e-10)
    assert cr.pca_lowrank(cr.tensor(a))[1].shape == (6,)  # q = min(6, m, n)
    U, S, V = cr.pca_lowrank(cr.tensor(a), q=2, center=False)
    np.testing.assert_allclose(S.numpy(), np.linalg.svd(a, compute_uv=False)[:2], rtol=1e-3)


def test_bad_arguments():
    with pytest.raises(ValueError, match="q must be"):
        cr.svd_lowrank(cr.tensor(np.ones((3, 2))), q=3)
    with pytest.raises(ValueError, match="niter"):
        cr.svd_lowrank(cr.tensor(np.ones((3, 2))), q=1, niter=-1)
    with pytest.raises(ValueError, match="q must be"):
        cr.pca_lowrank(cr.tensor(np.ones((3, 2))), q=0)


def test_gradients_with_a_fixed_seed():
    a = cr.tensor(np.random.default_rng(2).standard_normal((5, 4)), requires_grad=True)

    def f(x):
        cr.manual_seed(0)
        U, S, V = cr.svd_lowrank(x, q=3, niter=1)
        return S, (U * S.unsqueeze(-2)) @ V.mT

    assert gradcheck(f, (a,))


def test_singular_values_match_torch_for_low_rank_input():
    torch = pytest.importorskip("torch")
    a = _low_rank((2, 9, 7), 3, seed=3)
    S = cr.svd_lowrank(cr.tensor(a), q=3)[1].numpy()
    np.testing.assert_allclose(S, torch.svd_lowrank(torch.tensor(a), q=3)[1].numpy(), atol=1e-10)
    S = cr.pca_lowrank(cr.tensor(a), q=3)[1].numpy()
    np.testing.assert_allclose(S, torch.pca_lowrank(torch.tensor(a), q=3)[1].numpy(), atol=1e-10)
