"""Randomised low-rank SVD and PCA (``torch.svd_lowrank``, ``torch.pca_lowrank``), after Halko,
Martinsson & Tropp (2011), "Finding structure with randomness", composed from differentiable ops
(matmul, ``linalg.qr``, ``linalg.svd``), so they carry gradients through them.

For A (*, m, n) (minus ``M`` when given), q columns and ``niter`` subspace iterations:
  1. (m < n: work on Aᵀ, and swap U and V at the end);
  2. Q = orth(A Ω), Ω (n, q) standard normal draws (the default generator); then ``niter`` times
     Q = orth(Aᵀ Q), Q = orth(A Q) (each orth is a reduced QR's Q) — the range of A's top q
     singular vectors, sharpened by each power iteration;
  3. B = Qᵀ A (*, q, n) = Û S Vᵀ (an exact SVD of the small matrix), U = Q Û.
For A of rank ≤ q the result is A's exact SVD (U S Vᵀ = A); otherwise an approximation whose
error shrinks with ``niter`` and with q beyond the rank of interest.
"""

from __future__ import annotations

from typing import Any

from chainrule import ops as _ops
from chainrule.autograd.tensor import Tensor
from chainrule.ops import linalg_ops as _la
from chainrule.ops._lift import as_tensor_arg

__all__ = ["svd_lowrank", "pca_lowrank"]


def _basis(A: Tensor, q: int, niter: int) -> Tensor:
    """Q (*, m, q) with orthonormal columns spanning (approximately) A's top-q left singular vectors."""
    omega = _ops.randn(A.shape[-1], q, dtype=A.dtype)
    Q = _la.qr(A @ omega)[0]
    for _ in range(niter):
        Q = _la.qr(A.mT @ Q)[0]
        Q = _la.qr(A @ Q)[0]
    return Q


def svd_lowrank(A: Tensor, q: int | None = 6, niter: int = 2, M: Any = None) -> tuple[Tensor, Tensor, Tensor]:
    """(U (*, m, q), S (*, q), V (*, n, q)) with A - M ≈ U diag(S) Vᵀ (the module's algorithm);
    q <= min(m, n) (default 6), ``niter`` >= 0 subspace iterations, ``M`` (broadcast to A) subtracted
    first.  Random: draws from the default generator (``manual_seed`` makes it repeatable)."""
    A = _la._floating(as_tensor_arg(A, "svd_lowrank"), "svd_lowrank")
    q = 6 if q is None else int(q)
    m, n = A.shape[-2], A.shape[-1]
    if not 0 < q <= min(m, n):
        raise ValueError(f"svd_lowrank: q must be in [1, min(m, n)] = [1, {min(m, n)}] for A of shape "
                         f"{tuple(A.shape)}, got {q}")
    if niter < 0:
        raise ValueError(f"svd_lowrank: niter must be non-negative, got {niter}")
    if M is not None:
        A = A - as_tensor_arg(M, "svd_lowrank").to(A.dtype)
    wide = m < n
    X = A.mT if wide else A
    Q = _basis(X, q, niter)
    Uh, S, Vh = _la.svd(Q.mT @ X, full_matrices=False)
    U, V = Q @ Uh, Vh.mT
    return (V, S, U) if wide else (U, S, V)


def pca_lowrank(A: Tensor, q: int | None = None, center: bool = True,
                niter: int = 2) -> tuple[Tensor, Tensor, Tensor]:
    """(U, S, V) of the (column-centred, with ``center``) data A (*, m, n) by :func:`svd_lowrank`:
    the principal directions are V's columns, the projections A V; q defaults to min(6, m, n)."""
    A = _la._floating(as_tensor_arg(A, "pca_lowrank"), "pca_lowrank")
    m, n = A.shape[-2], A.shape[-1]
    q = min(6, m, n) if q is None else int(q)
    if not 0 < q <= min(m, n):
        raise ValueError(f"pca_lowrank: q must be in [1, min(m, n)] = [1, {min(m, n)}], got {q}")
    if center:
        A = A - A.mean(dim=-2, keepdim=True)
    return svd_lowrank(A, q, niter=niter)
