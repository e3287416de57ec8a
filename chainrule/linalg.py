"""``chainrule.linalg``: ``torch.linalg`` — norms, inverses, solvers and decompositions.

The decompositions and inverses (inv, det, slogdet, solve, cholesky, qr, eigh, svd) are
primitives with their matrix-calculus rules in ``ops/linalg_ops.py``, LU (lu_factor, lu, lu_solve)
in ``ops/lu_ops.py``; everything else here is composed from them and other differentiable ops,
so it gets its gradient from theirs.

* :func:`vector_norm` — ‖x‖_p = (Σ |x_i|^p)^(1/p) over ``dim`` (all elements for None);
  p = ∞ gives max |x_i|, -∞ min |x_i|, 0 the number of non-zeros.
* :func:`matrix_norm` — over the two dims ``dim`` (rows i = dim[0], columns j = dim[1]):
  'fro' √(Σ a_ij²), 1 max_j Σ_i |a_ij|, -1 the min of the same, ∞ max_i Σ_j |a_ij|, -∞ its min.
  2 / -2 the largest / smallest singular value, 'nuc' their sum.
* :func:`norm` — either of the two, chosen as ``torch.linalg.norm`` chooses.
* :func:`lu_factor` / :func:`lu_factor_ex` / :func:`lu` / :func:`lu_solve` — A = P L U with partial
  pivoting, PyTorch's packed ``LU`` and 1-based int32 ``pivots`` (``ops/lu_ops.py``).
* :func:`householder_product` — Q = H_0 ⋯ H_{k-1} from LAPACK's Householder vectors and tau
  (``ops/householder.py``, with ``torch.geqrf`` and ``torch.ormqr``).
* :func:`ldl_factor` / :func:`ldl_factor_ex` / :func:`ldl_solve` — A = P L D Lᵀ Pᵀ with Bunch–Kaufman
  pivoting, LAPACK's ``sytrf`` layout (``ops/ldl_ops.py``; no gradient, as in PyTorch).

Gradients (and forward-mode tangents) come from the ops they are built from; at a point where
the norm is not differentiable (x = 0 for p ≤ 1, ties of a max) the gradient is the one those
ops give (0 at the origin, as PyTorch's).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.ops import abs as _abs
from chainrule.ops import amax, amin, where
from chainrule.ops import cross as _cross
from chainrule.ops import diagonal as _diagonal
from chainrule.ops import matmul as _matmul
from chainrule.ops import norm as _norm
from chainrule.ops import sum as _sum
from chainrule.ops._lift import as_tensor_arg
from chainrule.ops.householder import householder_product
from chainrule.ops.ldl_ops import ldl_factor, ldl_factor_ex, ldl_solve
from chainrule.ops.linalg_ops import LinAlgError, cholesky, det, eigh, inv, qr, slogdet, solve, svd
from chainrule.ops.lu_ops import lu, lu_factor, lu_factor_ex, lu_solve

__all__ = [
    "LinAlgError", "cholesky", "cholesky_ex", "cond", "cross", "det", "diagonal", "eigh", "eigvalsh",
    "householder_product", "inv",
    "inv_ex", "ldl_factor", "ldl_factor_ex", "ldl_solve", "lstsq", "lu", "lu_factor", "lu_factor_ex", "lu_solve",
    "matmul", "matrix_exp", "matrix_norm", "matrix_power", "matrix_rank", "multi_dot", "norm", "pinv", "qr",
    "slogdet", "solve", "solve_ex", "solve_triangular", "svd", "svdvals", "tensorinv", "tensorsolve", "vander",
    "vecdot", "vector_norm",
]


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

    Shapes: ``A`` (*, m, n) -> (*) (with ``keepdim``: (*, 1, 1)).  ``ord``: 'fro', 'nuc', ±1,
    ±2, ±inf."""
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
        sv = svdvals(A.permute(*[d for d in range(A.ndim) if d not in (r, c)], r, c))
        out = sv.sum(-1) if ord == "nuc" else (amax(sv, dim=-1) if ord == 2 else amin(sv, dim=-1))
        if keepdim:
            for d in sorted((r, c)):
                out = out.unsqueeze(d)
        return out
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


# -- composed from the primitives of ops/linalg_ops.py ---------------------------------------------


def _info(A: Tensor) -> Tensor:
    """LAPACK's ``info`` of the ``*_ex`` functions: 0 for every matrix of the batch (a failure raises)."""
    return Tensor._wrap(np.zeros(tuple(A.shape[:-2]), dtype=np.int32))


def inv_ex(A: Tensor, *, check_errors: bool = False) -> tuple[Tensor, Tensor]:
    """(inverse, info): :func:`inv` and a zero ``info`` (a singular matrix raises here)."""
    return inv(A), _info(A)


def cholesky_ex(A: Tensor, *, upper: bool = False, check_errors: bool = False) -> tuple[Tensor, Tensor]:
    """(L, info): :func:`cholesky` and a zero ``info`` (a matrix that is not positive-definite raises here)."""
    return cholesky(A, upper=upper), _info(A)


def solve_ex(A: Tensor, B: Tensor, *, left: bool = True, check_errors: bool = False) -> tuple[Tensor, Tensor]:
    """(X, info): :func:`solve` and a zero ``info``."""
    return solve(A, B, left=left), _info(A)


def svdvals(A: Tensor) -> Tensor:
    """The singular values (*, min(m, n)), descending; gradient U diag(s̄) Vᵀ."""
    return svd(A, full_matrices=False)[1]


def eigvalsh(A: Tensor, UPLO: str = "L") -> Tensor:
    """The eigenvalues (*, n), ascending, of the symmetric A; gradient V diag(w̄) Vᵀ."""
    return eigh(A, UPLO)[0]


def _eye_like(A: Tensor) -> Tensor:
    n = A.shape[-1]
    return Tensor._wrap(np.broadcast_to(np.eye(n, dtype=A.dtype), tuple(A.shape)).copy())


def matrix_power(A: Tensor, n: int) -> Tensor:
    """Aⁿ for an integer n (*, m, m): repeated squaring; n = 0 gives I, n < 0 (A⁻¹)^|n|."""
    A = as_tensor_arg(A, "linalg.matrix_power")
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"linalg.matrix_power: A must be a batch of square matrices, got shape {tuple(A.shape)}")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise TypeError(f"linalg.matrix_power: n must be an int, got {type(n).__name__}")
    n = int(n)
    if n == 0:
        return _eye_like(A)
    if n < 0:
        A, n = inv(A), -n
    result: Tensor | None = None
    base = A
    while True:  # binary powering: ~2 log2(n) products
        if n & 1:
            result = base if result is None else result @ base
        n >>= 1
        if not n:
            return result  # type: ignore[return-value]
        base = base @ base


def matrix_exp(A: Tensor) -> Tensor:
    """exp(A) = Σ Aᵏ/k! of square matrices (*, n, n), by scaling and squaring: A/2ˢ with
    ‖A/2ˢ‖₁ ≤ 1/2, its Taylor series to degree 18 (remainder < 1e-20 relative), squared s times.
    Composed of products, so the gradient is the exact derivative of that computation."""
    A = as_tensor_arg(A, "linalg.matrix_exp")
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"linalg.matrix_exp: A must be a batch of square matrices, got shape {tuple(A.shape)}")
    if A.dtype.kind != "f":
        raise RuntimeError(f"linalg.matrix_exp: expected a floating-point tensor, got {A.dtype}")
    if A.numel() == 0:
        return A.clone()
    norm1 = float(np.abs(A._array).sum(-2).max()) if A.numel() else 0.0
    s = max(0, int(math.ceil(math.log2(norm1))) + 1) if norm1 > 0.5 else 0
    X = A / float(2**s)
    eye = _eye_like(A)
    term, total = eye, eye
    for k in range(1, 19):
        term = term @ X / float(k)
        total = total + term
    for _ in range(s):
        total = total @ total
    return total




def _tolerance(sv: Tensor, A: Tensor, atol: Any, rtol: Any) -> np.ndarray:
    """max(atol, rtol σ₁) per matrix; rtol's default max(m, n) ε when neither is given (PyTorch's rule)."""
    smax = sv._array[..., :1] if sv.shape[-1] else np.zeros(tuple(sv.shape[:-1]) + (1,), dtype=sv.dtype)
    a = 0.0 if atol is None else (atol._array[..., None] if isinstance(atol, Tensor) else float(atol))
    if rtol is None:
        r = max(A.shape[-2], A.shape[-1]) * np.finfo(A.dtype).eps if (atol is None or np.all(np.asarray(a) <= 0)) \
            else 0.0
    else:
        r = rtol._array[..., None] if isinstance(rtol, Tensor) else float(rtol)
    return np.maximum(a, r * smax)


def pinv(A: Tensor, *, atol: Any = None, rtol: Any = None, hermitian: bool = False) -> Tensor:
    """The Moore-Penrose pseudo-inverse (*, n, m) of A (*, m, n): V diag(1/σ) Uᵀ over the
    singular values σ above max(atol, rtol σ₁) (rtol default max(m, n) ε); gradient through the SVD."""
    A = as_tensor_arg(A, "linalg.pinv")
    if hermitian:
        w, V = eigh(A)
        tol = _tolerance(Tensor._wrap(np.sort(np.abs(w._array), -1)[..., ::-1].copy()), A, atol, rtol)
        keep = Tensor._wrap(np.abs(w._array) > tol)
        winv = where(keep, 1 / where(keep, w, 1.0), 0.0)
        return (V * winv.unsqueeze(-2)) @ V.mT
    U, S, Vh = svd(A, full_matrices=False)
    keep = Tensor._wrap(S._array > _tolerance(S, A, atol, rtol))
    sinv = where(keep, 1 / where(keep, S, 1.0), 0.0)  # (the inner where keeps 1/0 out of the gradient)
    return (Vh.mT * sinv.unsqueeze(-2)) @ U.mT


def matrix_rank(A: Tensor, *, atol: Any = None, rtol: Any = None, hermitian: bool = False) -> Tensor:
    """The number of singular values above max(atol, rtol σ₁) (int64, (*)); not differentiable."""
    A = as_tensor_arg(A, "linalg.matrix_rank")
    S = Tensor._wrap(np.linalg.svd(A._array, compute_uv=False))
    return Tensor._wrap((S._array > _tolerance(S, A, atol, rtol)).sum(-1).astype(np.int64))


def cond(A: Tensor, p: Any = None) -> Tensor:
    """The condition number ‖A‖_p ‖A⁻¹‖_p; p None or 2: σ_max / σ_min (any shape), -2: σ_min / σ_max."""
    A = as_tensor_arg(A, "linalg.cond")
    if p is None or p in (2, -2):
        sv = svdvals(A)
        r = amax(sv, dim=-1) / amin(sv, dim=-1)
        return r if p != -2 else 1 / r
    return matrix_norm(A, p) * matrix_norm(inv(A), p)


class _Lstsq(tuple):
    """(solution, residuals, rank, singular_values), with the names as attributes."""

    @property
    def solution(self) -> Tensor:
        return self[0]

    @property
    def residuals(self) -> Tensor:
        return self[1]

    @property
    def rank(self) -> Tensor:
        return self[2]

    @property
    def singular_values(self) -> Tensor:
        return self[3]


def lstsq(A: Tensor, B: Tensor, rcond: float | None = None, *, driver: str | None = None) -> _Lstsq:
    """The least-squares solution X = argmin ‖A X - B‖ (minimum norm) = pinv(A) B, A (*, m, n),
    B (*, m, k) or (*, m).  The other three results follow PyTorch's CPU drivers:

    * ``rank`` (*) int64: 'gelsy' (the default), 'gelsd', 'gelss'; empty for 'gels'.
    * ``singular_values`` (*, min(m, n)): 'gelsd' and 'gelss'; empty otherwise.
    * ``residuals`` (*, k), Σ_i (A X - B)²_i per column (k = 1 for a vector B): when m > n, for
      'gels' always and for 'gelsd' / 'gelss' when every matrix has full rank n; empty otherwise
      (always for 'gelsy').

    Differentiable in A and B (the solution through pinv; the residuals through it)."""
    A = as_tensor_arg(A, "linalg.lstsq")
    B = as_tensor_arg(B, "linalg.lstsq")
    if driver not in (None, "gels", "gelsy", "gelsd", "gelss"):
        raise RuntimeError(f"linalg.lstsq: driver must be one of gels, gelsy, gelsd, gelss, got {driver!r}")
    driver = driver or "gelsy"
    vector = B.ndim == A.ndim - 1
    Bm = B.unsqueeze(-1) if vector else B
    if Bm.shape[-2] != A.shape[-2]:
        raise RuntimeError(f"linalg.lstsq: A {tuple(A.shape)} and B {tuple(B.shape)} need the same number of rows")
    m, n = A.shape[-2], A.shape[-1]
    X = pinv(A, rtol=rcond) @ Bm
    empty = Tensor._wrap(np.empty((0,), dtype=A.dtype))
    rank = Tensor._wrap(np.empty((0,), dtype=np.int64)) if driver == "gels" else matrix_rank(A, rtol=rcond)
    sv = svdvals(A) if driver in ("gelsd", "gelss") else empty
    residuals = empty
    if m > n and driver != "gelsy" and (driver == "gels" or bool((rank._array == n).all())):
        residuals = _sum((A @ X - Bm) ** 2, dim=-2)  # (*, k): PyTorch keeps k = 1 for a vector B
    return _Lstsq((X.squeeze(-1) if vector else X, residuals, rank, sv))


def solve_triangular(A: Tensor, B: Tensor, *, upper: bool, left: bool = True, unitriangular: bool = False) -> Tensor:
    """X with A X = B (``left=False``: X A = B) for triangular A (*, n, n) — only its upper or
    lower triangle is read (and not its diagonal when ``unitriangular``); the gradient reaches
    that triangle only."""
    A = as_tensor_arg(A, "linalg.solve_triangular")
    T = A.triu() if upper else A.tril()
    if unitriangular:
        T = T.triu(1) if upper else T.tril(-1)
        T = T + _eye_like(A)
    if B.ndim < 2:
        raise RuntimeError(f"linalg.solve_triangular: B must have at least 2 dimensions, got shape {tuple(B.shape)}")
    return solve(T, B, left=left)


def multi_dot(tensors: Any) -> Tensor:
    """A₁ A₂ ⋯ A_k; the first may be 1-D (a row) and the last 1-D (a column)."""
    ts = list(tensors)
    if len(ts) < 2:
        raise RuntimeError(f"linalg.multi_dot: expected at least 2 tensors, got {len(ts)}")
    for i, t in enumerate(ts):
        if t.ndim != 2 and not (t.ndim == 1 and i in (0, len(ts) - 1)):
            raise RuntimeError(f"linalg.multi_dot: tensor {i} must be 2-D (1-D allowed first and last), "
                               f"got shape {tuple(t.shape)}")
    out = ts[0]
    for t in ts[1:]:
        out = _matmul(out, t)
    return out


def cross(input: Tensor, other: Tensor, *, dim: int = -1) -> Tensor:
    """The cross product along ``dim`` (size 3), broadcasting the others (default dim -1)."""
    return _cross(input, other, dim=dim)


def diagonal(A: Tensor, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """The diagonals of the matrices (dims -2, -1 by default)."""
    return _diagonal(A, offset=offset, dim1=dim1, dim2=dim2)


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """``chainrule.matmul``."""
    return _matmul(input, other)


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1) -> Tensor:
    """Σ_i x_i y_i along ``dim`` (broadcast)."""
    return _sum(x * y, dim=dim)


def vander(x: Tensor, *, N: int | None = None) -> Tensor:
    """The Vandermonde matrix (*, n, N) with columns x⁰, x¹, ..., x^(N-1) (increasing powers, unlike
    ``chainrule.vander``'s default)."""
    from chainrule.ops import stack

    x = as_tensor_arg(x, "linalg.vander")
    if x.ndim < 1:
        raise RuntimeError("linalg.vander: x must have at least 1 dimension")
    N = x.shape[-1] if N is None else N
    if N < 1:
        raise RuntimeError(f"linalg.vander: N must be at least 1, got {N}")
    cols = [x * 0 + 1]
    for _ in range(1, N):
        cols.append(cols[-1] * x)
    return stack(cols, dim=-1)


def tensorinv(A: Tensor, ind: int = 2) -> Tensor:
    """The inverse of A seen as a linear map from its last dims to its first ``ind`` dims."""
    A = as_tensor_arg(A, "linalg.tensorinv")
    out_shape, in_shape = tuple(A.shape[:ind]), tuple(A.shape[ind:])
    p, q = int(np.prod(out_shape)), int(np.prod(in_shape))
    if p != q:
        raise RuntimeError(f"linalg.tensorinv: prod(A.shape[:ind]) = {p} must equal prod(A.shape[ind:]) = {q}")
    return inv(A.reshape(p, q)).reshape(*in_shape, *out_shape)


def tensorsolve(A: Tensor, B: Tensor, dims: Any = None) -> Tensor:
    """X with tensordot(A, X, X.ndim) = B (``dims``: A's dims moved to the end first)."""
    A = as_tensor_arg(A, "linalg.tensorsolve")
    if dims is not None:
        nd = A.ndim
        dims = [d % nd for d in dims]
        A = A.permute(*[d for d in range(nd) if d not in dims], *dims)
    x_shape = tuple(A.shape[B.ndim:])
    n = int(np.prod(x_shape))
    return solve(A.reshape(-1, n), B.reshape(-1)).reshape(*x_shape)
