"""Householder QR in LAPACK's representation (``torch.geqrf``, ``torch.linalg.householder_product``
= ``torch.orgqr``, ``torch.ormqr``).

A (*, m, n), k = min(m, n), is stored by ``geqrf`` as one matrix and ``tau`` (*, k): R in the upper
triangle and, below the diagonal of column i, the Householder vector v_i (v_i[i] = 1 implied,
v_i[j] = 0 for j < i).  With H_i = I - tau_i v_i v_iᵀ (an m × m reflector when tau_i = 2 / ‖v_i‖²),
  Q = H_0 H_1 ⋯ H_{k-1}  and  A = Q R.
``householder_product`` returns Q's first n columns, ``ormqr`` multiplies a matrix C by Q or Qᵀ
from either side.  Both apply the reflectors one by one, H C = C - tau v (vᵀ C) (never forming
H), composed from differentiable ops: they are differentiable in the reflectors, ``tau`` and C,
twice.  ``geqrf`` itself is the back end's (LAPACK through NumPy) and, as in PyTorch, has no
gradient.
"""

from __future__ import annotations

from typing import NamedTuple

from chainrule.autograd.grad_mode import is_differentiated
from chainrule.autograd.primitive import table_of
from chainrule.autograd.tensor import Tensor
from chainrule.ops._lift import as_tensor_arg
from chainrule.ops.linalg_ops import _floating

__all__ = ["GeqrfResult", "geqrf", "householder_product", "orgqr", "ormqr"]


class GeqrfResult(NamedTuple):
    a: Tensor
    tau: Tensor


def geqrf(input: Tensor) -> GeqrfResult:
    """(a, tau) of A (*, m, n): LAPACK's Householder QR (see the module); not differentiable."""
    A = _floating(input, "geqrf")
    if is_differentiated(A):
        raise RuntimeError("geqrf: the derivative of geqrf is not implemented (as in PyTorch); "
                           "use linalg.qr for a differentiable QR")
    a, tau = table_of((A,)).geqrf(A._array)
    return GeqrfResult(Tensor._wrap(a), Tensor._wrap(tau))


def _reflectors(A: Tensor, tau: Tensor, rows: int, where: str) -> tuple[Tensor, Tensor]:
    """A and tau checked; V (*, rows, k): the Householder vectors with their unit entries."""
    tau = as_tensor_arg(tau, where)
    if tau.ndim < 1 or tuple(tau.shape[:-1]) != tuple(A.shape[:-2]):
        raise RuntimeError(f"{where}: tau must have shape (*, k) with A's batch {tuple(A.shape[:-2])}, "
                           f"got {tuple(tau.shape)}")
    if tau.dtype != A.dtype:
        raise RuntimeError(f"{where}: input and tau must have the same dtype, got {A.dtype} and {tau.dtype}")
    k = tau.shape[-1]
    if k > A.shape[-1]:
        raise RuntimeError(f"{where}: tau has {k} reflectors but input only {A.shape[-1]} columns")
    eye = Tensor._wrap(table_of((A,)).eye(rows, k, dtype=A.dtype))
    return A[..., :, :k].tril(-1) + eye, tau


def householder_product(A: Tensor, tau: Tensor) -> Tensor:
    """The first n columns of H_0 H_1 ⋯ H_{k-1}, H_i = I - tau_i v_i v_iᵀ, from A (*, m, n)
    (m >= n; v_i below the diagonal of its column i) and tau (*, k), k <= n -> (*, m, n).
    Computed as H_0 (H_1 (⋯ (H_{k-1} E))), E = the first n columns of I."""
    A = _floating(A, "linalg.householder_product")
    m, n = A.shape[-2], A.shape[-1]
    if m < n:
        raise RuntimeError(f"linalg.householder_product: input must have at least as many rows as columns, "
                           f"got shape {tuple(A.shape)}")
    V, tau = _reflectors(A, tau, m, "linalg.householder_product")
    Q = Tensor._wrap(table_of((A,)).eye(m, n, dtype=A.dtype))
    for i in reversed(range(tau.shape[-1])):
        v = V[..., :, i:i + 1]
        Q = Q - tau[..., i, None, None] * (v @ (v.mT @ Q))
    if Q.shape != A.shape:  # no reflector at all: E broadcast to the batch
        Q = Q.expand(*A.shape)
    return Q


def orgqr(input: Tensor, tau: Tensor) -> Tensor:
    """``torch.orgqr`` = :func:`householder_product`."""
    return householder_product(input, tau)


def ormqr(input: Tensor, tau: Tensor, other: Tensor, left: bool = True, transpose: bool = False) -> Tensor:
    """Q C, Qᵀ C (``transpose``), C Q or C Qᵀ (``left=False``) for C = ``other`` (*, r, c), with
    Q = H_0 ⋯ H_{k-1} the full square Householder product of ``input`` (*, q, k') and ``tau`` (*, k),
    q = r when ``left`` else c.  Each reflector is applied as C - tau (v (vᵀ C)) on the left or
    C - tau ((C v) vᵀ) on the right, in the order the product needs."""
    A = _floating(input, "ormqr")
    C = as_tensor_arg(other, "ormqr")
    if C.ndim < 2 or C.dtype != A.dtype:
        raise RuntimeError(f"ormqr: other must be a matrix (*, r, c) of input's dtype {A.dtype}, "
                           f"got shape {tuple(C.shape)} and dtype {C.dtype}")
    q = C.shape[-2] if left else C.shape[-1]
    if A.shape[-2] != q:
        raise RuntimeError(f"ormqr: input has {A.shape[-2]} rows but other has {q} "
                           f"{'rows' if left else 'columns'} (shapes {tuple(A.shape)}, {tuple(C.shape)})")
    V, tau = _reflectors(A, tau, q, "ormqr")
    k = tau.shape[-1]
    forward = left == transpose  # Qᵀ C and C Q apply H_0 first; Q C and C Qᵀ apply H_{k-1} first
    for i in (range(k) if forward else reversed(range(k))):
        v, t = V[..., :, i:i + 1], tau[..., i, None, None]
        C = C - t * (v @ (v.mT @ C)) if left else C - t * ((C @ v) @ v.mT)
    return C
