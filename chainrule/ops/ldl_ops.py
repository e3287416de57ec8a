"""LDLᵀ factorisation of symmetric matrices (``torch.linalg.ldl_factor``, ``ldl_factor_ex``,
``ldl_solve``), with Bunch–Kaufman pivoting as LAPACK's ``sytrf`` (``backend/ldl_math.py``).

A (*, n, n) symmetric (its lower triangle read) = P L D Lᵀ Pᵀ, D block-diagonal with 1 × 1 and
2 × 2 blocks, the permutations interleaved with the elimination.  ``LD`` packs L below the diagonal
and D's blocks; ``pivots`` (*, n) int32 follow LAPACK (positive: a 1 × 1 block and its row swap,
1-based; negative at both rows of a 2 × 2 block).  As in PyTorch these functions have no gradient;
they refuse an input that requires one.  ``hermitian`` is accepted and means the same as symmetric
for the real dtypes chainrule has.
"""

from __future__ import annotations

from typing import NamedTuple

from chainrule.autograd.grad_mode import is_grad_enabled
from chainrule.autograd.primitive import table_of
from chainrule.autograd.tensor import Tensor
from chainrule.ops._lift import as_tensor_arg
from chainrule.ops.arrange import broadcast_shapes
from chainrule.ops.linalg_ops import LinAlgError, _square

__all__ = ["LDLFactorResult", "LDLFactorExResult", "ldl_factor", "ldl_factor_ex", "ldl_solve"]


class LDLFactorResult(NamedTuple):
    LD: Tensor
    pivots: Tensor


class LDLFactorExResult(NamedTuple):
    LD: Tensor
    pivots: Tensor
    info: Tensor


def _no_grad(where: str, *ts: Tensor) -> None:
    if is_grad_enabled() and any(t.requires_grad for t in ts):
        raise RuntimeError(f"{where}: the derivative is not implemented (as in PyTorch); detach the input")


def ldl_factor_ex(A: Tensor, *, hermitian: bool = False, check_errors: bool = False) -> LDLFactorExResult:
    """(LD, pivots, info) of the symmetric A (*, n, n); ``info`` (*) int32 is 0, or k + 1 where D's
    column k is exactly zero (A singular; ``check_errors`` raises then)."""
    A = _square(A, "linalg.ldl_factor_ex")
    _no_grad("linalg.ldl_factor", A)
    ld, piv, info = table_of((A,)).ldl_factor(A._array)
    out = LDLFactorExResult(Tensor._wrap(ld), Tensor._wrap(piv), Tensor._wrap(info))
    if check_errors and bool(out.info.any()):
        raise LinAlgError(f"linalg.ldl_factor_ex: D is singular (info = {out.info.tolist()})")
    return out


def ldl_factor(A: Tensor, *, hermitian: bool = False) -> LDLFactorResult:
    """(LD, pivots) of the symmetric A (*, n, n); raises where D is singular."""
    LD, pivots, info = ldl_factor_ex(A, hermitian=hermitian)
    if bool(info.any()):
        raise LinAlgError(f"linalg.ldl_factor: the factorisation found a zero pivot (D is singular; "
                          f"info = {info.tolist()})")
    return LDLFactorResult(LD, pivots)


def ldl_solve(LD: Tensor, pivots: Tensor, B: Tensor, *, hermitian: bool = False) -> Tensor:
    """X with A X = B from :func:`ldl_factor`'s (LD (*, n, n), pivots (*, n)); B (*, n, k), batch
    dimensions broadcast."""
    LD = _square(LD, "linalg.ldl_solve")
    piv = as_tensor_arg(pivots, "linalg.ldl_solve")
    B = as_tensor_arg(B, "linalg.ldl_solve")
    _no_grad("linalg.ldl_solve", LD, B)
    n = LD.shape[-1]
    if B.ndim < 2 or B.shape[-2] != n:
        raise RuntimeError(f"linalg.ldl_solve: B must be (*, {n}, k) for LD {tuple(LD.shape)}, got {tuple(B.shape)}")
    if piv.dtype.kind not in "iu" or tuple(piv.shape) != tuple(LD.shape[:-1]):
        raise RuntimeError(f"linalg.ldl_solve: pivots must be integers of shape {tuple(LD.shape[:-1])}, "
                           f"got {piv.dtype} {tuple(piv.shape)}")
    if B.dtype != LD.dtype:
        raise RuntimeError(f"linalg.ldl_solve: LD and B must have the same dtype, got {LD.dtype} and {B.dtype}")
    batch = tuple(broadcast_shapes(tuple(LD.shape[:-2]), tuple(B.shape[:-2])))
    LDb = LD.expand(*batch, n, n)
    pb = piv.expand(*batch, n)
    Bb = B.expand(*batch, *B.shape[-2:])
    x = table_of((LD,)).ldl_solve(LDb._array, pb._array, Bb._array)
    return Tensor._wrap(x)
