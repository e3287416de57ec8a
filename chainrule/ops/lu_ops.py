"""LU factorisation with partial pivoting and its solves (``torch.linalg.lu_factor``, ``lu``,
``lu_solve``, ``torch.lu_unpack``), with the LU rule.

A (*, m, n) = P L U, k = min(m, n): P (*, m, m) a permutation, L (*, m, k) unit lower-triangular,
U (*, k, n) upper-triangular.  ``LU`` packs L's strict lower part and U in one (*, m, n) matrix;
``pivots`` (*, k) int32 are LAPACK's 1-based row swaps (row j was swapped with row pivots[j] - 1,
in order j = 0..k-1).  The factorisation itself is the back end's ``lu_factor``
(``backend/lu_math.py``).

The rule (square A; Ḡ = dL/dLU, L̄ = its strict lower part, Ū = its upper part):
  Ā = P L⁻ᵀ [ tril₋₁(Lᵀ L̄) + triu(Ū Uᵀ) ] U⁻ᵀ
(from dA = P (dL U + L dU): L⁻¹ Pᵀ dA U⁻¹ = L⁻¹ dL + dU U⁻¹, strictly lower plus upper).
Tall A (m > n, L = [L₁; L₂]): the square rule on the top block with Ū - L₂ᵀ L̄₂ U⁻ᵀ in place of Ū,
and L̄₂ U⁻ᵀ for the bottom rows.  Wide A (m < n, U = [U₁ U₂]): the square rule with
L̄ - L⁻ᵀ Ū₂ U₂ᵀ in place of L̄, and L⁻ᵀ Ū₂ for the right columns.  Like PyTorch's, it needs the
leading k × k block of L U invertible (full rank).
Forward mode (jvp): L̇ = L tril₋₁(X), U̇ = triu(X) U with X = L⁻¹ Pᵀ Ȧ U⁻¹ on the leading blocks.

``lu_solve`` and ``lu_unpack`` are composed from triangular solves, masks and products, so they
are differentiable in ``LU`` and ``B`` through those.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from chainrule.autograd.primitive import Primitive, apply, table_of
from chainrule.autograd.tensor import Tensor
from chainrule.ops._lift import as_tensor_arg
from chainrule.ops.linalg_ops import LinAlgError, _eye, _floating, _lower, _mT

__all__ = ["LUFactorResult", "LUFactorExResult", "LUResult", "lu_factor", "lu_factor_ex", "lu", "lu_unpack",
           "lu_solve", "lu_permutation"]


class LUFactorResult(NamedTuple):
    LU: Tensor
    pivots: Tensor


class LUFactorExResult(NamedTuple):
    LU: Tensor
    pivots: Tensor
    info: Tensor


class LUResult(NamedTuple):
    P: Tensor
    L: Tensor
    U: Tensor


def _cols(m: Any, t: Any, s: slice) -> Any:
    return m.getitem(t, (Ellipsis, slice(None), s))


def _rowsl(m: Any, t: Any, s: slice) -> Any:
    return m.getitem(t, (Ellipsis, s, slice(None)))


def _square_rule(m: Any, L: Any, U: Any, gL: Any, gU: Any) -> Any:
    """L⁻ᵀ [tril₋₁(Lᵀ L̄) + triu(Ū Uᵀ)] U⁻ᵀ for square k × k L (unit lower) and U (upper)."""
    k = L.shape[-1]
    strict = _lower(m, k, L, -1)
    inner = (_mT(m, L) @ gL) * strict + (gU @ _mT(m, U)) * (1 - strict)
    x = m.solve(_mT(m, L), inner)               # L⁻ᵀ inner
    return _mT(m, m.solve(U, _mT(m, x)))        # (L⁻ᵀ inner) U⁻ᵀ


class LUFactor(Primitive):
    """Packed output (*, m + 1, n): rows 0..m-1 = LU, row m = the pivots (as floats, first k entries)."""

    name = "linalg_lu_factor"
    saves_inputs = ()

    def forward(self, m, a):
        return m.lu_factor_packed(a)

    def vjp(self, m, need, g, y, a):
        rows, cols = a.shape[-2], a.shape[-1]
        k = min(rows, cols)
        raw = m.raw(y)
        P = m.const(table_of((raw,)).lu_permutation(raw[..., rows, :k], rows, raw.dtype), y)
        lu, glu = _rowsl(m, y, slice(0, rows)), _rowsl(m, g, slice(0, rows))
        big = max(rows, cols)
        strict = m.getitem(_lower(m, big, y, -1), (slice(0, rows), slice(0, cols)))  # L's part of LU
        upper = 1 - strict                                                          # U's part
        L = _cols(m, lu * strict, slice(0, k)) + _cols(m, _eye(m, rows, y), slice(0, k))
        U = _rowsl(m, lu * upper, slice(0, k))
        gL = _cols(m, glu * strict, slice(0, k))
        gU = _rowsl(m, glu * upper, slice(0, k))
        if rows > k:  # tall: L = [L₁; L₂]
            L1, L2 = _rowsl(m, L, slice(0, k)), _rowsl(m, L, slice(k, None))
            gL1, gL2 = _rowsl(m, gL, slice(0, k)), _rowsl(m, gL, slice(k, None))
            bottom = _mT(m, m.solve(U, _mT(m, gL2)))          # L̄₂ U⁻ᵀ
            top = _square_rule(m, L1, U, gL1, gU - _mT(m, L2) @ bottom)
            return (P @ m.concatenate([top, bottom], -2),)
        if cols > k:  # wide: U = [U₁ U₂]
            U1, U2 = _cols(m, U, slice(0, k)), _cols(m, U, slice(k, None))
            gU1, gU2 = _cols(m, gU, slice(0, k)), _cols(m, gU, slice(k, None))
            right = m.solve(_mT(m, L), gU2)                    # L⁻ᵀ Ū₂
            left = _square_rule(m, L, U1, gL - right @ _mT(m, U2), gU1)
            return (P @ m.concatenate([left, right], -1),)
        return (P @ _square_rule(m, L, U, gL, gU),)

    def jvp(self, m, dxs, y, a):
        """With B = Pᵀ Ȧ and X = L₁⁻¹ B₁ U₁⁻¹ on the leading k × k blocks: L̇₁ = L₁ tril₋₁(X),
        U̇₁ = triu(X) U₁; tall: L̇₂ = (B₂ - L₂ U̇) U⁻¹; wide: U̇₂ = L⁻¹ (B₂ - L̇ U₂)."""
        rows, cols = a.shape[-2], a.shape[-1]
        k = min(rows, cols)
        raw = m.raw(y)
        P = m.const(table_of((raw,)).lu_permutation(raw[..., rows, :k], rows, raw.dtype), y)
        lu = _rowsl(m, y, slice(0, rows))
        big = max(rows, cols)
        strict = m.getitem(_lower(m, big, y, -1), (slice(0, rows), slice(0, cols)))
        L = _cols(m, lu * strict, slice(0, k)) + _cols(m, _eye(m, rows, y), slice(0, k))
        U = _rowsl(m, lu * (1 - strict), slice(0, k))
        B = _mT(m, P) @ dxs[0]
        L1, U1 = _rowsl(m, L, slice(0, k)), _cols(m, U, slice(0, k))
        B1 = _cols(m, _rowsl(m, B, slice(0, k)), slice(0, k))
        X = _mT(m, m.solve(_mT(m, U1), _mT(m, m.solve(L1, B1))))  # L₁⁻¹ B₁ U₁⁻¹
        low = _lower(m, k, y, -1)
        dL1, dU1 = L1 @ (X * low), (X * (1 - low)) @ U1
        if rows > k:
            dL2 = _mT(m, m.solve(_mT(m, U1), _mT(m, _rowsl(m, B, slice(k, None)) - _rowsl(m, L, slice(k, None)) @ dU1)))
            dlu = m.concatenate([dL1 + dU1, dL2], -2)
        elif cols > k:
            dU2 = m.solve(L1, _cols(m, B, slice(k, None)) - dL1 @ _cols(m, U, slice(k, None)))
            dlu = m.concatenate([dL1 + dU1, dU2], -1)
        else:
            dlu = dL1 + dU1
        return m.concatenate([dlu, m.zeros_like(_rowsl(m, y, slice(rows, None)))], -2)


def lu_permutation(pivots: Tensor, m: int, dtype: Any) -> Tensor:
    """The permutation matrix P (*, m, m) with A = P L U from LAPACK pivots (*, k) (a constant)."""
    piv = as_tensor_arg(pivots, "lu_unpack")
    return Tensor._wrap(table_of((piv,)).lu_permutation(piv._array, m, dtype))


def lu_factor_ex(A: Tensor, *, pivot: bool = True, check_errors: bool = False) -> LUFactorExResult:
    """(LU, pivots, info) of A (*, m, n) with partial pivoting: A = P L U (see the module).  ``info``
    (*) int32 is 0, or i where U[i-1, i-1] is the first exact zero of U's diagonal (A singular);
    ``check_errors`` raises then.  ``pivot=False`` is refused, as on PyTorch's CPU."""
    A = _floating(A, "linalg.lu_factor_ex")
    if not pivot:
        raise RuntimeError("linalg.lu_factor: LU without pivoting is not implemented on the CPU")
    rows, k = A.shape[-2], min(A.shape[-2], A.shape[-1])
    packed = apply(LUFactor(), A)
    LU = packed[..., :rows, :]
    pivots = packed.detach()[..., rows, :k].to("int32")
    diag = LU.detach().diagonal(dim1=-2, dim2=-1) == 0
    first = diag.int().argmax(dim=-1) + 1 if k else diag.int().sum(dim=-1)
    info = (first * diag.any(dim=-1).int()).to("int32")
    if check_errors and bool(info.any()):
        raise LinAlgError(f"linalg.lu_factor_ex: U is singular (info = {info.tolist()})")
    return LUFactorExResult(LU, pivots, info)


def lu_factor(A: Tensor, *, pivot: bool = True) -> LUFactorResult:
    """(LU, pivots) of A (*, m, n): :func:`lu_factor_ex`, raising where U has a zero on its
    diagonal (as PyTorch's: solving with it would divide by zero)."""
    LU, pivots, info = lu_factor_ex(A, pivot=pivot)
    if bool(info.any()):
        bad = int(info.flatten()[(info.flatten() != 0).int().argmax()])
        raise LinAlgError(f"linalg.lu_factor: U[{bad - 1},{bad - 1}] is zero (A is singular); "
                          "use linalg.lu_factor_ex or linalg.lu to factorise it anyway")
    return LUFactorResult(LU, pivots)


def lu_unpack(LU_data: Tensor, LU_pivots: Tensor, unpack_data: bool = True,
              unpack_pivots: bool = True) -> LUResult:
    """(P, L, U) from the packed LU (*, m, n) and pivots (*, k): P (*, m, m), L (*, m, k) with a
    unit diagonal, U (*, k, n).  L and U are differentiable in ``LU_data``; what is not unpacked
    is an empty tensor."""
    LU = _floating(LU_data, "lu_unpack")
    piv = as_tensor_arg(LU_pivots, "lu_unpack")
    rows, cols = LU.shape[-2], LU.shape[-1]
    k = min(rows, cols)
    if tuple(piv.shape) != tuple(LU.shape[:-2]) + (k,):
        raise RuntimeError(f"lu_unpack: LU_pivots must have shape {tuple(LU.shape[:-2]) + (k,)} for LU_data "
                           f"{tuple(LU.shape)}, got {tuple(piv.shape)}")
    if piv.dtype.kind not in "iu":
        raise RuntimeError(f"lu_unpack: LU_pivots must be an integer tensor, got dtype {piv.dtype}")
    empty = Tensor._wrap(table_of((LU,)).empty((0,), LU.dtype))
    if unpack_data:
        eye = Tensor._wrap(table_of((LU,)).eye(rows, k, dtype=LU.dtype))
        L = LU[..., :, :k].tril(-1) + eye
        U = LU[..., :k, :].triu()
    else:
        L = U = empty
    P = lu_permutation(piv, rows, LU.dtype) if unpack_pivots else empty
    return LUResult(P, L, U)


def lu(A: Tensor, *, pivot: bool = True) -> LUResult:
    """(P, L, U) with A = P L U, A (*, m, n): :func:`lu_factor_ex` then :func:`lu_unpack`
    (singular A is factorised too).  Differentiable in A (the LU rule)."""
    LU, pivots, _ = lu_factor_ex(_floating(A, "linalg.lu"), pivot=pivot)
    return lu_unpack(LU, pivots)


def lu_solve(LU: Tensor, pivots: Tensor, B: Tensor, *, left: bool = True, adjoint: bool = False) -> Tensor:
    """X with A X = B from A's factors (A = P L U square (*, n, n), B (*, n, k)):
    X = U⁻¹ L⁻¹ Pᵀ B; ``adjoint``: Aᵀ X = B, X = P L⁻ᵀ U⁻ᵀ B; ``left=False``: X A = B (or X Aᵀ = B),
    solved as its transpose.  Batch dimensions broadcast.  Differentiable in ``LU`` and ``B``."""
    LU = _floating(LU, "linalg.lu_solve")
    B = as_tensor_arg(B, "linalg.lu_solve")
    n = LU.shape[-1]
    if LU.shape[-2] != n:
        raise RuntimeError(f"linalg.lu_solve: LU must be a batch of square matrices, got shape {tuple(LU.shape)}")
    if B.ndim < 2:
        raise RuntimeError(f"linalg.lu_solve: B must have at least 2 dimensions, got shape {tuple(B.shape)}")
    if B.dtype != LU.dtype:
        raise RuntimeError(f"linalg.lu_solve: LU and B must have the same dtype, got {LU.dtype} and {B.dtype}")
    if not left:
        return lu_solve(LU, pivots, B.mT, left=True, adjoint=not adjoint).mT
    if B.shape[-2] != n:
        raise RuntimeError(f"linalg.lu_solve: LU {tuple(LU.shape)} and B {tuple(B.shape)} do not fit (A X = B)")
    from chainrule.linalg import solve_triangular

    P, L, U = lu_unpack(LU, pivots)
    if (U.diagonal(dim1=-2, dim2=-1)._array == 0).any():
        raise LinAlgError("linalg.lu_solve: U is singular (a zero on its diagonal)")
    if adjoint:  # Aᴴ X = B: Uᵀ Lᵀ Pᵀ X = B
        Y = solve_triangular(U.mT, B, upper=False)
        return P @ solve_triangular(L.mT, Y, upper=True, unitriangular=True)
    return solve_triangular(U, solve_triangular(L, P.mT @ B, upper=False, unitriangular=True), upper=True)

