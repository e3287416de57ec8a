"""torch.lobpcg: extreme eigenpairs of A x = λ B x, compared with the full eigendecomposition
(NumPy/SciPy), finite differences (gradcheck, float64) and PyTorch's lobpcg."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd.gradcheck import gradcheck

R = np.random.default_rng(7)
M = 9
_Q, _ = np.linalg.qr(R.standard_normal((M, M)))
D = np.array([1.0, 2.0, 3.0, 5.0, 7.0, 8.0, 10.0, 13.0, 17.0])
A0 = _Q @ np.diag(D) @ _Q.T  # symmetric positive definite, known spectrum
_G = R.standard_normal((M, M))
B0 = _G @ _G.T + M * np.eye(M)  # symmetric positive definite
X0 = R.standard_normal((M, 2))


def _gen_eigh(A, B):
    """Generalised eigenpairs by Cholesky: B = L Lᵀ, C = L⁻¹ A L⁻ᵀ."""
    L = np.linalg.cholesky(B)
    Li = np.linalg.inv(L)
    w, V = np.linalg.eigh(Li @ A @ Li.T)
    return w, Li.T @ V


@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("k,n", [(1, None), (2, None), (2, 3)])
def test_eigenpairs_of_a_known_spectrum(largest, k, n):
    cr.manual_seed(0)
    E, U = cr.lobpcg(cr.tensor(A0), k=k, n=n, largest=largest, tol=1e-12)
    want = D[::-1][:k] if largest else D[:k]
    assert E.shape == (k,) and U.shape == (M, k)
    assert np.allclose(E.numpy(), want, rtol=1e-10)
    Un = U.numpy()
    assert np.allclose(Un.T @ Un, np.eye(k), atol=1e-12)
    assert np.allclose(A0 @ Un, Un * want, atol=1e-9)


@pytest.mark.parametrize("largest", [True, False])
def test_generalised_problem_matches_the_cholesky_reduction(largest):
    E, U = cr.lobpcg(cr.tensor(A0), k=2, B=cr.tensor(B0), X=cr.tensor(X0), largest=largest, tol=1e-12)
    w, V = _gen_eigh(A0, B0)
    idx = [-1, -2] if largest else [0, 1]
    assert np.allclose(E.numpy(), w[idx], rtol=1e-10)
    Un = U.numpy()
    assert np.allclose(Un.T @ B0 @ Un, np.eye(2), atol=1e-12)  # B-orthonormal
    assert np.allclose(np.abs(Un), np.abs(V[:, idx]), atol=1e-8)
    assert np.allclose(A0 @ Un, B0 @ Un * w[idx], atol=1e-9)


def test_batches_and_a_preconditioner():
    A = np.stack([A0, 2 * A0, A0 + 3 * np.eye(M)])
    E, U = cr.lobpcg(cr.tensor(A), k=2, largest=False, tol=1e-12)
    assert E.shape == (3, 2) and U.shape == (3, M, 2)
    assert np.allclose(E.numpy(), [D[:2], 2 * D[:2], D[:2] + 3], rtol=1e-10)
    iK = cr.tensor(np.linalg.inv(A0))  # the ideal preconditioner for the smallest eigenvalues
    E2, _ = cr.lobpcg(cr.tensor(A0), k=2, iK=iK, largest=False, tol=1e-12)
    assert np.allclose(E2.numpy(), D[:2], rtol=1e-10)


def test_tracker_sees_each_step_and_can_stop_it():
    steps = []

    def tracker(state):
        steps.append((state.ivars["istep"], state.ivars["converged_count"], tuple(state.X.shape)))
        assert state.tvars["rerr"].shape == (2,) and state.E.shape == (2,)
        if state.ivars["istep"] == 3:
            state.bvars["force_stop"] = True

    cr.lobpcg(cr.tensor(A0), k=2, X=cr.tensor(X0), tol=1e-300, tracker=tracker)
    assert [s[0] for s in steps] == [1, 2, 3] and steps[0][2] == (M, 2)
    seen = []
    cr.lobpcg(cr.tensor(A0), k=2, X=cr.tensor(X0), niter=2, tracker=lambda s: seen.append(s.ivars["istep"]))
    assert seen == [1, 2]


def test_no_graph_without_requires_grad():
    E, U = cr.lobpcg(cr.tensor(A0), k=2)
    assert not E.requires_grad and not U.requires_grad
    with cr.no_grad():
        E, U = cr.lobpcg(cr.tensor(A0, requires_grad=True), k=2)
    assert not E.requires_grad


@pytest.mark.parametrize("largest", [True, False])
def test_gradients_in_a_by_finite_differences(largest):
    f = lambda A: cr.lobpcg(A, k=2, X=cr.tensor(X0), tol=1e-13, largest=largest)  # noqa: E731
    assert gradcheck(lambda A: f(A)[0], (cr.tensor(A0, requires_grad=True),))
    assert gradcheck(lambda A: f(A)[1], (cr.tensor(A0, requires_grad=True),))


def test_gradients_of_the_generalised_problem_in_a_and_b():
    f = lambda A, B: cr.lobpcg(A, k=2, B=B, X=cr.tensor(X0), tol=1e-13)  # noqa: E731
    inputs = (cr.tensor(A0, requires_grad=True), cr.tensor(B0, requires_grad=True))
    assert gradcheck(lambda A, B: f(A, B)[0], inputs)
    assert gradcheck(lambda A, B: f(A, B)[1], inputs)


def test_eigenvalue_gradient_is_the_projector_and_symmetric():
    A = cr.tensor(A0, requires_grad=True)
    E, U = cr.lobpcg(A, k=2, tol=1e-13)
    E[0].backward()  # dλ/dA = u uᵀ (Hellmann–Feynman)
    u = U[:, 0].detach().numpy()
    assert np.allclose(A.grad.numpy(), np.outer(u, u), atol=1e-10)


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"A": np.zeros((3, 3))}, TypeError, "A must be a Tensor"),
    ({"A": cr.zeros(9, 8)}, ValueError, "square"),
    ({"A": cr.zeros(9, 9, dtype=cr.int64)}, TypeError, "floating-point"),
    ({"A": cr.zeros(9, 9, dtype=cr.float16)}, TypeError, "float32 or float64"),
    ({"k": 4}, ValueError, "smaller than 3 x the number of requested eigenpairs"),
    ({"k": 3, "n": 2}, ValueError, "k <= n"),
    ({"B": cr.eye(8, dtype=cr.float64)}, ValueError, "B must have shape"),
    ({"X": cr.zeros(8, 2, dtype=cr.float64)}, ValueError, "X must have shape"),
    ({"iK": cr.eye(3, dtype=cr.float64)}, ValueError, "iK must have shape"),
    ({"method": "fast"}, ValueError, "method"),
    ({"X": cr.ones(9, 2, dtype=cr.float64)}, ValueError, "linearly dependent"),
])
def test_errors(kwargs, exc, match):
    args = {"A": cr.tensor(A0), **kwargs}
    with pytest.raises(exc, match=match):
        cr.lobpcg(**args)


def test_matches_pytorch_values_and_gradients():
    torch = pytest.importorskip("torch")
    W = R.standard_normal((M, 2))
    out = []
    for lib in (cr, torch):
        A = lib.tensor(A0, requires_grad=True)
        E, U = lib.lobpcg(A, k=2, X=lib.tensor(X0), tol=1e-13)
        # a loss invariant to each eigenvector's sign (PyTorch's sign depends on its iterates)
        loss = (E * lib.tensor([1.0, -0.5], dtype=lib.float64)).sum() + ((U * lib.tensor(W)).sum(0) ** 2).sum()
        loss.backward()
        out.append((E.detach().numpy(), np.abs(U.detach().numpy()), A.grad.numpy()))
    (e1, u1, g1), (e2, u2, g2) = out
    assert np.allclose(e1, e2, rtol=1e-10) and np.allclose(u1, u2, atol=1e-8)
    assert np.allclose(g1, g2, atol=1e-8)
    assert np.allclose(g1, g1.T, atol=1e-12)


@pytest.mark.parametrize("largest", [True, False])
def test_matches_pytorch_generalised_and_batched(largest):
    torch = pytest.importorskip("torch")
    A = np.stack([A0, A0 + np.eye(M)])
    B = np.stack([B0, np.eye(M)])
    E, U = cr.lobpcg(cr.tensor(A), k=2, B=cr.tensor(B), largest=largest, tol=1e-12)
    tE, tU = torch.lobpcg(torch.tensor(A), k=2, B=torch.tensor(B), largest=largest, tol=1e-12)
    assert np.allclose(E.numpy(), tE.numpy(), rtol=1e-9)
    assert np.allclose(np.abs(U.numpy()), np.abs(tU.numpy()), atol=1e-6)
