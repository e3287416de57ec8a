"""``torch.lobpcg``: a few extreme eigenpairs of A x = λ B x (A symmetric, B symmetric positive
definite) by the Locally Optimal Block Preconditioned Conjugate Gradient method.

The iteration (Knyazev 2001; the basis kept well conditioned as in Duersch, Shao, Yang & Gu 2018):

1. X (m, n): n starting vectors (random normal draws unless ``X`` is given), made B-orthonormal;
   Rayleigh–Ritz on span(X): H = Xᵀ A X = C diag(θ) Cᵀ, X ← X C, E ← θ (the n largest or smallest).
2. Each step: the residuals R = A X − B X diag(E), preconditioned W = iK R (iK = I by default);
   the basis S = [X, W, P] (P: the last step's new direction, X's part removed) is made B-orthonormal
   by SVQB (Gram matrix G = Sᵀ B S scaled to unit diagonal, G = V diag(w) Vᵀ, directions with
   w ≲ ε dropped, S ← S D V diag(w)^-½; twice), and Rayleigh–Ritz on span(S) gives the new X, E.
3. Stop when the first k pairs have converged (PyTorch's backward-stable criterion,
   ‖r_i‖ / (‖x_i‖ (‖A‖ + |λ_i| ‖B‖)) < tol, the norms estimated from the starting X), after
   ``niter`` steps, or when the ``tracker`` sets ``bvars["force_stop"]``.

Each eigenvector's sign (arbitrary in PyTorch, where it depends on the random start) is fixed:
its entry of largest magnitude is positive, so the result is a continuous function of A.

``method`` "ortho" (the default) and "basic" run this same iteration: both of PyTorch's methods
compute the same eigenpairs to ``tol``, only their bases and iterates differ.

**Gradients.** When A (or B) requires grad, A is symmetrised first, (A + Aᵀ)/2 (and B), as in
PyTorch, and the eigenpairs found carry the derivative of the exact eigenpairs of a symmetric
matrix with distinct eigenvalues: for C = L⁻¹ A L⁻ᵀ (B = L Lᵀ; C = A when B is None) with
orthonormal eigenvectors V = Lᵀ U (k of them) and eigenvalues E,

    C̄ = V (diag(Ē) + F ∘ (Vᵀ V̄)) Vᵀ + Q (Y) Vᵀ,    F_ji = 1/(E_i − E_j) (j ≠ i), 0 on the diagonal,

where Q (m, m−k) is an orthonormal basis of span(V)'s complement and column i of Y solves
(E_i I − Qᵀ C Q) y_i = Qᵀ v̄_i: the part of the eigenvector's derivative outside span(V) (PyTorch
writes the same Sylvester solution through a characteristic polynomial).  C and U = L⁻ᵀ V are
differentiable ops, so gradients reach A, and B too (PyTorch raises for B); X and iK get none.
The derivative assumes the k eigenvalues are distinct and separated from the other m − k, and
that the iteration converged (a result stopped by ``niter`` is differentiated as if it were exact).
"""

from __future__ import annotations

import math
from typing import Any, Callable

from chainrule import ops as _ops
from chainrule.autograd.function import Function
from chainrule.autograd.grad_mode import is_grad_enabled, no_grad
from chainrule.autograd.tensor import Tensor
from chainrule.ops import linalg_ops as _la

__all__ = ["lobpcg"]

_EPS = {"float32": 1.2e-07, "float64": 2.23e-16}  # PyTorch's feps (tol = feps ** 0.5 by default)


class LOBPCGState:
    """What ``tracker`` receives after each step (PyTorch's worker's attributes): ``iparams``,
    ``fparams``, ``bparams`` (the settings), ``ivars`` (``istep``, ``converged_count``,
    ``iterations_left``), ``fvars`` (``A_norm``, ``B_norm``, ``X_norm``), ``bvars`` (set
    ``bvars["force_stop"] = True`` to stop), ``tvars`` (``rerr``), and the tensors ``A``, ``B``,
    ``iK``, ``X`` (m, n), ``E`` (n,), ``R`` (m, n), ``S`` (the last basis).  Copy what you keep."""

    def __init__(self, A: Tensor, B: Tensor | None, iK: Tensor | None, iparams: dict, fparams: dict,
                 bparams: dict) -> None:
        self.A, self.B, self.iK = A, B, iK
        self.iparams, self.fparams, self.bparams = iparams, fparams, bparams
        self.ivars: dict[str, int] = {"istep": 0}
        self.fvars: dict[str, float] = {}
        self.bvars: dict[str, bool] = {}
        self.tvars: dict[str, Tensor] = {}
        self.X: Any = None
        self.E: Any = None
        self.R: Any = None
        self.S: Any = None


def _svqb(S: Tensor, B: Tensor | None, eps: float) -> Tensor:
    """Columns spanning (numerically) what S's do, B-orthonormal: SVQB, dependent directions dropped."""
    for _ in range(2):
        BS = S if B is None else B @ S
        G = S.mT @ BS
        G = (G + G.mT) / 2
        d = _ops.clamp_min(_ops.diagonal(G), 1e-300) ** -0.5
        w, V = _la.eigh(d[:, None] * G * d[None, :])
        drop = int((w <= float(w[-1]) * eps * 10 * max(S.shape[-1], 1)).sum())
        w, V = w[drop:], V[:, drop:]
        S = S @ (d[:, None] * V * w[None, :] ** -0.5)
    return S


def _rayleigh_ritz(A: Tensor, S: Tensor, n: int, largest: bool) -> tuple[Tensor, Tensor]:
    """The n largest (or smallest) Ritz pairs of A on span(S) (S B-orthonormal): (θ (n,), S C (m, n))."""
    H = S.mT @ (A @ S)
    theta, C = _la.eigh((H + H.mT) / 2)
    if largest:
        theta, C = _ops.flip(theta, 0), _ops.flip(C, -1)
    return theta[:n], S @ C[:, :n]


def _iterate(A: Tensor, B: Tensor | None, X: Tensor, iK: Tensor | None, iparams: dict, fparams: dict,
             bparams: dict, tracker: Callable | None) -> tuple[Tensor, Tensor]:
    """One matrix's LOBPCG iteration (no graph): (E (k,), X (m, k)), X B-orthonormal."""
    n, k, eps = iparams["n"], iparams["k"], fparams["eps"]
    tol, largest = fparams["tol"], bparams["largest"]
    st = LOBPCGState(A, B, iK, iparams, fparams, bparams)

    def bmul(V: Tensor) -> Tensor:
        return V if B is None else B @ V

    x_norm = float(_ops.norm(X))
    st.fvars["X_norm"] = x_norm
    st.fvars["A_norm"] = float(_ops.norm(A @ X)) / x_norm
    st.fvars["B_norm"] = float(_ops.norm(bmul(X))) / x_norm
    st.ivars["iterations_left"] = iparams["niter"]
    st.ivars["converged_count"] = 0

    S = _svqb(X, B, eps)
    if S.shape[-1] < n:
        raise ValueError(f"lobpcg: the starting vectors X (shape {tuple(X.shape)}) are linearly dependent; "
                         f"their span has dimension {S.shape[-1]} < n = {n}")
    P: Tensor | None = None
    while True:
        E, Xn = _rayleigh_ritz(A, S, n, largest)
        if st.X is not None:  # the new direction: the step's change, X's part removed (B-inner product)
            P = Xn - st.X @ (st.X.mT @ bmul(Xn))
        st.X, st.E, st.S = Xn, E, S
        st.R = A @ Xn - bmul(Xn) * E[None, :]
        rerr = _ops.norm(st.R, dim=0) / (_ops.norm(Xn, dim=0) * (st.fvars["A_norm"] + E.abs() * st.fvars["B_norm"]))
        st.tvars["rerr"] = rerr
        count = 0
        for c in (rerr < tol).tolist():
            if not c:
                break
            count += 1
        st.ivars["converged_count"] = count
        st.ivars["iterations_left"] -= 1
        st.ivars["istep"] += 1
        if tracker is not None:
            tracker(st)
        if st.bvars.get("force_stop", False) or st.ivars["iterations_left"] == 0 or count >= k:
            break
        W = st.R if iK is None else iK @ st.R
        W = W - Xn @ (Xn.mT @ bmul(W))
        parts = [Xn, W] if P is None else [Xn, W, P]
        S = _svqb(_ops.cat(parts, dim=1), B, eps)
    U = st.X[:, :k]
    # a sign for each eigenvector (eigh's is arbitrary): its entry of largest magnitude positive
    big = _ops.argmax(U.abs(), dim=0)
    sign = _ops.where(U[big, _ops.arange(k)] < 0, -1.0, 1.0).to(U.dtype)
    return st.E[:k], U * sign[None, :]


def _sym_eig_grad(C: Tensor, E: Tensor, V: Tensor, gE: Tensor, gV: Tensor) -> Tensor:
    """C̄ for k orthonormal eigenpairs (E, V) of the symmetric C (the module docstring's formula)."""
    m, k = V.shape
    eye_k = _ops.eye(k, dtype=E.dtype).bool()
    F = E[None, :] - E[:, None]  # F[j, i] = E_i - E_j
    F = 1.0 / _ops.where(eye_k, _ops.ones_like(F), F)
    F = _ops.where(eye_k, _ops.zeros_like(F), F)
    G = V @ (_ops.diag_embed(gE) + F * (V.mT @ gV)) @ V.mT
    if k < m:
        _, Q = _la.eigh(_ops.eye(m, dtype=V.dtype) - V @ V.mT)
        Q = Q[:, k:]  # eigenvalue 1 of the projector: the complement of span(V)
        Cq = Q.mT @ C @ Q
        M = E[:, None, None] * _ops.eye(m - k, dtype=E.dtype)[None] - Cq[None]  # (k, m-k, m-k)
        Y = _la.solve(M, (Q.mT @ gV).mT[..., None])[..., 0].mT  # (m-k, k)
        G = G + Q @ Y @ V.mT
    return G


class _EigenPairs(Function):
    """(E, V) of the symmetric C, computed beforehand; backward: ``_sym_eig_grad``."""

    @staticmethod
    def forward(ctx: Any, C: Tensor, pairs: tuple) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        E, V = pairs
        ctx.save_for_backward(C, E, V)
        return E.clone(), V.clone()

    @staticmethod
    def backward(ctx: Any, gE: Tensor, gV: Tensor) -> tuple:
        C, E, V = ctx.saved_tensors
        return _sym_eig_grad(C, E, V, gE, gV), None


def _check(name: str, T: Any, shape: tuple | None, A: Tensor) -> None:
    if T is None:
        return
    if not isinstance(T, Tensor):
        raise TypeError(f"lobpcg: {name} must be a Tensor, got {type(T).__name__}")
    if shape is not None and tuple(T.shape) != shape:
        raise ValueError(f"lobpcg: {name} must have shape {shape} (A has shape {tuple(A.shape)}), got {tuple(T.shape)}")
    if not T.is_floating_point():
        raise TypeError(f"lobpcg: {name} must be a floating-point tensor, got {T.dtype}")


def lobpcg(
    A: Tensor,
    k: int | None = None,
    B: Tensor | None = None,
    X: Tensor | None = None,
    n: int | None = None,
    iK: Tensor | None = None,
    niter: int | None = None,
    tol: float | None = None,
    largest: bool | None = None,
    method: str | None = None,
    tracker: Callable | None = None,
    ortho_iparams: dict[str, int] | None = None,
    ortho_fparams: dict[str, float] | None = None,
    ortho_bparams: dict[str, bool] | None = None,
) -> tuple[Tensor, Tensor]:
    """The k largest (or smallest) eigenpairs of A x = λ B x (see the module docstring).

    Args:
        A: (*, m, m) symmetric.
        k: the number of eigenpairs wanted (default: X's columns, or 1).
        B: (*, m, m) symmetric positive definite (default: the identity).
        X: (*, m, n) starting vectors, k <= n (default: n normal draws from the default generator).
        n: the block size when X is not given (default k); ignored when X is given.
        iK: (m, m) preconditioner applied to the residuals (default: none).
        niter: the most steps (default 1000; -1: until converged).
        tol: the residual tolerance (default: the dtype's ε ** 0.5).
        largest: True (default) for the largest eigenvalues, False for the smallest.
        method: "ortho" (default) or "basic"; both run the same iteration here.
        tracker: called with the iteration's state (``LOBPCGState``) after each step.
        ortho_iparams: accepted for PyTorch compatibility (the "ortho" method's inner settings).
        ortho_fparams: likewise.
        ortho_bparams: likewise.

    Returns:
        (E (*, k), X (*, m, k)): the eigenvalues, largest first (smallest first when
        ``largest=False``), and B-orthonormal eigenvectors (Xᵀ B X = I) as columns.

    Raises:
        ValueError: shapes that do not fit (A not square, B or X of another size, k > n), or
            m < 3n (PyTorch's limit), or an unknown ``method``.
        TypeError: arguments that are not floating-point Tensors.
    """
    if not isinstance(A, Tensor):
        raise TypeError(f"lobpcg: A must be a Tensor, got {type(A).__name__}")
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise ValueError(f"lobpcg: A must be square matrices of shape (*, m, m), got {tuple(A.shape)}")
    _check("A", A, None, A)
    m = A.shape[-1]
    batch = tuple(A.shape[:-2])
    _check("B", B, tuple(A.shape), A)
    _check("iK", iK, (m, m), A)
    if X is not None:
        _check("X", X, None, A)
        if X.ndim != A.ndim or tuple(X.shape[:-2]) != batch or X.shape[-2] != m:
            raise ValueError(f"lobpcg: X must have shape {(*batch, m, 'n')} for A of shape {tuple(A.shape)}, "
                             f"got {tuple(X.shape)}")
    k = (1 if X is None else X.shape[-1]) if k is None else int(k)
    n = (k if n is None else int(n)) if X is None else X.shape[-1]
    if k < 1 or k > n:
        raise ValueError(f"lobpcg: k must satisfy 1 <= k <= n (the block size), got k={k}, n={n}")
    if m < 3 * n:
        raise ValueError(
            f"LOBPCG algorithm is not applicable when the number of A rows (={m}) is smaller than 3 x the number "
            f"of requested eigenpairs (={n})"
        )
    method = "ortho" if method is None else method
    if method not in ("ortho", "basic"):
        raise ValueError(f"lobpcg: method must be 'ortho' or 'basic', got {method!r}")
    for name, d in (("ortho_iparams", ortho_iparams), ("ortho_fparams", ortho_fparams),
                    ("ortho_bparams", ortho_bparams)):
        if d is not None and not isinstance(d, dict):
            raise TypeError(f"lobpcg: {name} must be a dict, got {type(d).__name__}")
    eps = _EPS.get(str(A.dtype).replace("chainrule.", "").replace("torch.", ""))
    if eps is None:
        raise TypeError(f"lobpcg: A must be float32 or float64 (PyTorch's dtypes for it), got {A.dtype}")
    iparams = {"m": m, "n": n, "k": k, "niter": 1000 if niter is None else int(niter), **(ortho_iparams or {})}
    fparams = {"tol": eps ** 0.5 if tol is None else float(tol), "eps": eps, **(ortho_fparams or {})}
    bparams = {"largest": True if largest is None else bool(largest), **(ortho_bparams or {})}

    graph = is_grad_enabled() and (A.requires_grad or (B is not None and B.requires_grad))
    if graph:  # PyTorch's map: the gradient is then symmetric, so A - t Ā stays symmetric
        A = (A + A.mT) / 2
        B = None if B is None else (B + B.mT) / 2
    n_batch = math.prod(batch)
    A2 = A.reshape(n_batch, m, m)
    B2 = None if B is None else B.reshape(n_batch, m, m)
    X2 = None if X is None else X.reshape(n_batch, m, n)
    Es, Us = [], []
    for i in range(n_batch):
        with no_grad():
            Ai, Bi = A2[i].detach(), None if B2 is None else B2[i].detach()
            Ai = (Ai + Ai.mT) / 2
            Bi = None if Bi is None else (Bi + Bi.mT) / 2
            Xi = _ops.randn(m, n, dtype=A.dtype) if X2 is None else X2[i].detach().to(A.dtype)
            iparams["batch_index"] = i
            E, U = _iterate(Ai, Bi, Xi, None if iK is None else iK.detach(), iparams, fparams, bparams, tracker)
        if graph:
            if B2 is None:
                E, U = _EigenPairs.apply(A2[i], (E, U))
            else:
                L = _la.cholesky(B2[i])
                from chainrule.linalg import solve_triangular

                C = solve_triangular(L, solve_triangular(L, A2[i], upper=False).mT, upper=False)
                with no_grad():
                    V = L.detach().mT @ U
                E, V = _EigenPairs.apply(C, (E, V))
                U = solve_triangular(L.mT, V, upper=True)
        Es.append(E)
        Us.append(U)
    return _ops.stack(Es).reshape(*batch, k), _ops.stack(Us).reshape(*batch, m, k)
