"""``chainrule.linalg``: the norms of ``torch.linalg``, composed from differentiable ops.

* :func:`vector_norm` — ‖x‖_p = (Σ |x_i|^p)^(1/p) over ``dim`` (all elements for None);
  p = ∞ gives max |x_i|, -∞ min |x_i|, 0 the number of non-zeros.
* :func:`matrix_norm` — over the two dims ``dim`` (rows i = dim[0], columns j = dim[1]):
  'fro' √(Σ a_ij²), 1 max_j Σ_i |a_ij|, -1 the min of the same, ∞ max_i Σ_j |a_ij|, -∞ its min.
  The spectral and nuclear norms (2, -2, 'nuc') need a singular value decomposition, which
  chainrule does not have: they raise NotImplementedError.
* :func:`norm` — either of the two, chosen as ``torch.linalg.norm`` chooses.

Gradients (and forward-mode tangents) come from the ops they are built from; at a point where
the norm is not differentiable (x = 0 for p ≤ 1, ties of a max) the gradient is the one those
ops give (0 at the origin, as PyTorch's).
"""

from __future__ import annotations

import math
from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.ops import abs as _abs
from chainrule.ops import amax, amin
from chainrule.ops import norm as _norm
from chainrule.ops import sum as _sum

__all__ = ["matrix_norm", "norm", "vector_norm"]


def vector_norm(x: Tensor, ord: float = 2, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """The vector ``ord``-norm of ``x`` over ``dim`` (an int, a tuple, or None: every element).

    Shapes: ``x`` (*) -> the shape of ``x`` without ``dim`` (kept as size 1 with ``keepdim``)."""
    if isinstance(ord, str):
        raise RuntimeError(f"linalg.vector_norm: ord must be a number, got {ord!r} (matrix norms: matrix_norm)")
    return _norm(x, p=float(ord), dim=dim, keepdim=keepdim, dtype=dtype)


def _two_dims(dim: Any, ndim: int, where: str) -> tuple[int, int]:
    if isinstance(dim, int) or len(dim) != 2:
        raise RuntimeError(f"{where}: dim must be a 2-tuple of ints, got {dim!r}")
    if ndim < 2:
        raise RuntimeError(f"{where}: the input must have at least 2 dimensions, got {ndim}")
    d0, d1 = (int(d) for d in dim)
    for d in (d0, d1):
        if not -ndim <= d < ndim:
            raise IndexError(f"{where}: dim {d} is out of range for a {ndim}-d input")
    d0, d1 = d0 % ndim, d1 % ndim
    if d0 == d1:
        raise RuntimeError(f"{where}: dims must be different, got ({d0}, {d1})")
    return d0, d1


def matrix_norm(A: Tensor, ord: Any = "fro", dim: tuple[int, int] = (-2, -1), keepdim: bool = False, *,
                dtype: Any = None) -> Tensor:
    """The matrix ``ord``-norm of ``A`` over the dims ``dim`` (the matrices' rows and columns).

    Shapes: ``A`` (*, m, n) -> (*) (with ``keepdim``: (*, 1, 1)).  ``ord``: 'fro', 1, -1, inf,
    -inf; 2, -2 and 'nuc' raise NotImplementedError (no SVD in chainrule)."""
    if not isinstance(A, Tensor):
        raise TypeError(f"linalg.matrix_norm: expected a Tensor, got {type(A).__name__}")
    r, c = _two_dims(dim, A.ndim, "linalg.matrix_norm")
    if dtype is not None:
        A = A.to(dtype)
    if A._array.dtype.kind != "f":
        raise RuntimeError(f"linalg.matrix_norm: expected a floating point input, got {A.dtype}")
    if ord == "fro":
        return _norm(A, p=2.0, dim=(r, c), keepdim=keepdim)
    if ord in ("nuc", 2, -2):
        raise NotImplementedError(
            f"linalg.matrix_norm: ord={ord!r} needs the singular values, and chainrule has no SVD; "
            "'fro', 1, -1, inf and -inf are available"
        )
    if ord in (1, -1, math.inf, -math.inf):
        # 1/-1: sum over rows (down each column), then max/min over columns; inf/-inf: the transpose
        along, across = (r, c) if abs(ord) == 1 else (c, r)
        for d in (along, across):
            if A.shape[d] == 0:
                raise RuntimeError(f"linalg.matrix_norm: ord={ord} of an empty matrix (shape {tuple(A.shape)}) "
                                   "has no identity")
        sums = _sum(_abs(A), dim=along, keepdim=True)
        pick = amax if ord > 0 else amin
        out = pick(sums, dim=across, keepdim=True)
        return out if keepdim else out.squeeze((r, c))
    raise RuntimeError(f"linalg.matrix_norm: order {ord!r} not supported (expected 'fro', 'nuc', ±1, ±2 or ±inf)")


def norm(A: Tensor, ord: Any = None, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """``torch.linalg.norm``: a vector or a matrix norm, as ``dim`` and ``A.ndim`` decide.

    * ``dim`` an int (or a 1-tuple): :func:`vector_norm` (``ord`` default 2);
    * ``dim`` a 2-tuple: :func:`matrix_norm` (``ord`` default 'fro');
    * ``dim`` None: ``ord`` None gives the 2-norm of all elements; otherwise ``A`` must be 1-d
      (vector norm) or 2-d (matrix norm)."""
    if not isinstance(A, Tensor):
        raise TypeError(f"linalg.norm: expected a Tensor, got {type(A).__name__}")
    if dim is None:
        if ord is None:
            return vector_norm(A, 2, None, keepdim, dtype=dtype)
        if A.ndim == 1:
            return vector_norm(A, ord, None, keepdim, dtype=dtype)
        if A.ndim == 2:
            return matrix_norm(A, ord, (0, 1), keepdim, dtype=dtype)
        raise RuntimeError(f"linalg.norm: with ord={ord!r} and no dim, the input must be 1-D or 2-D, "
                           f"got {A.ndim}-D (shape {tuple(A.shape)})")
    if isinstance(dim, int) or len(dim) == 1:
        return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)
    if len(dim) == 2:
        return matrix_norm(A, "fro" if ord is None else ord, tuple(dim), keepdim, dtype=dtype)
    raise RuntimeError(f"linalg.norm: dim must be an int or a tuple of 1 or 2 ints, got {dim!r}")
