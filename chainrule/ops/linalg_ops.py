"""Matrix decompositions and inverses with their matrix-calculus rules (``torch.linalg``).

Every function takes a batch of matrices ``A`` (*, m, n) (square where it must be).  Notation:
Ḡ = dL/dY for an output Y, Aᵀ = the matrix transpose (the last two axes), A⁻ᵀ = (A⁻¹)ᵀ.

* ``inv``:        Y = A⁻¹;          Ā = -Yᵀ Ḡ Yᵀ;                     Ẏ = -Y Ȧ Y
* ``det``:        y = det A;        Ā = ḡ y A⁻ᵀ;                       ẏ = y tr(A⁻¹ Ȧ)
* ``logabsdet``:  y = log|det A|;   Ā = ḡ A⁻ᵀ;                         ẏ = tr(A⁻¹ Ȧ)
* ``solve``:      X = A⁻¹ B;        B̄ = A⁻ᵀ Ḡ,  Ā = -B̄ Xᵀ;              Ẋ = A⁻¹(Ḃ - Ȧ X)
* ``cholesky``:   A = L Lᵀ;         Ā = ½ (S + Sᵀ), S = L⁻ᵀ Φ(Lᵀ L̄) L⁻¹ (Φ: the lower triangle,
  its diagonal halved) — Murray (2016), "Differentiation of the Cholesky decomposition".
* ``eigh``:       A = V diag(w) Vᵀ; Ā = V (diag(w̄) + F ∘ (Vᵀ V̄)) Vᵀ, F_ij = 1/(w_j - w_i) (i ≠ j),
  not symmetrised (as PyTorch's; a loss through A + Aᵀ sees the same gradient).
* ``svd`` (reduced): A = U diag(s) Vᵀ, k = min(m, n), E_ij = s_j² - s_i² (i ≠ j):
  Ā = U [ (skew(UᵀŪ) diag(s) + diag(s) skew(VᵀV̄)) / E + diag(s̄) ] Vᵀ
      + (I - U Uᵀ) Ū diag(s)⁻¹ Vᵀ  (m > k)  +  U diag(s)⁻¹ V̄ᵀ (I - V Vᵀ)  (n > k),
  skew(X) = X - Xᵀ (the standard real SVD rule, e.g. Townsend 2016).  Like PyTorch's it is
  undefined where singular values repeat or (for U/V) vanish.

The decompositions with several outputs (eigh, svd, qr) pack them in the primitive's one output
array, which the public functions unpack with differentiable indexing, so a rule receives every Ḡ
at once.  The rules use ``m``'s operations only, so ``create_graph=True`` differentiates them again.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.grad_mode import is_differentiated
from chainrule.autograd.primitive import Primitive, apply, kernel, table_of
from chainrule.autograd.tensor import Tensor
from chainrule.ops._lift import as_tensor_arg, lift
from chainrule.ops.elementwise import where
from chainrule.ops.shape import cat


class LinAlgError(RuntimeError):
    """A matrix the function cannot handle: singular for an inverse, not positive-definite for
    a Cholesky factor (``torch.linalg.LinAlgError``, a RuntimeError as PyTorch's)."""


def _mT(m: Any, x: Any) -> Any:
    return m.swapaxes(x, -1, -2)


def _eye(m: Any, n: int, like: Any) -> Any:
    """The n×n identity in ``like``'s dtype, on its device (a constant)."""
    return m.const(table_of((m.raw(like),)).eye(n, dtype=like.dtype), like)


def _lower(m: Any, n: int, like: Any, k: int = 0) -> Any:
    """The n×n 0/1 mask of the lower triangle (below diagonal ``k``) in ``like``'s dtype, on its device."""
    a = table_of((m.raw(like),))
    return m.const(a.tril(a.ones((n, n), like.dtype), k), like)


def _rows(m: Any, t: Any, *rows: Any) -> tuple:
    """The packed output ``t`` cut along its rows (axis -2): one piece per index or slice in ``rows``."""
    return tuple(m.getitem(t, (Ellipsis, r, slice(None))) for r in rows)


def _square(A: Any, where: str) -> Tensor:
    """A as a Tensor, checked to be a batch of floating-point square matrices (*, n, n)."""
    A = as_tensor_arg(A, where)
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"{where}: A must be a batch of square matrices (*, n, n), got shape {tuple(A.shape)}")
    return _floating(A, where)


def _floating(A: Any, where: str) -> Tensor:
    """A as a Tensor, checked to be a batch of floating-point matrices (*, m, n)."""
    A = as_tensor_arg(A, where)
    if A.dtype.kind != "f":
        raise RuntimeError(f"{where}: expected a floating-point tensor, got dtype {A.dtype}")
    if A.ndim < 2:
        raise RuntimeError(f"{where}: A must have at least 2 dimensions (*, m, n), got shape {tuple(A.shape)}")
    return A


class Inv(Primitive):
    name = "linalg_inv"
    saves_inputs = ()

    def forward(self, m, a):
        return m.inv(a)

    def vjp(self, m, need, g, y, a):
        yt = _mT(m, y)
        return (-(yt @ g @ yt),)

    def jvp(self, m, dxs, y, a):
        return -(y @ dxs[0] @ y)


class Det(Primitive):
    """(Needs A invertible where the gradient is taken.)"""

    name = "linalg_det"

    def forward(self, m, a):
        return m.asarray(m.det(a))

    def vjp(self, m, need, g, y, a):
        return (m.expand_dims(m.expand_dims(g * y, -1), -1) * _mT(m, m.inv(a)),)

    def jvp(self, m, dxs, y, a):
        return y * m.sum(_mT(m, m.inv(a)) * dxs[0], (-2, -1))


class LogAbsDet(Primitive):
    name = "linalg_logabsdet"
    saves_output = False

    def forward(self, m, a):
        return m.asarray(m.slogdet(a)[1])

    def vjp(self, m, need, g, y, a):
        return (m.expand_dims(m.expand_dims(g, -1), -1) * _mT(m, m.inv(a)),)

    def jvp(self, m, dxs, y, a):
        return m.sum(_mT(m, m.inv(a)) * dxs[0], (-2, -1))


class Solve(Primitive):
    """B: (*, n, k)."""

    name = "linalg_solve"
    saves_inputs = (0,)

    def forward(self, m, a, b):
        return m.solve(a, b)

    def vjp(self, m, need, g, y, a, b):
        gb = m.solve(_mT(m, a), g)
        return (-(gb @ _mT(m, y)) if need[0] else None), gb

    def jvp(self, m, dxs, y, a, b):
        return m.solve(a, dxs[1] - dxs[0] @ y)


class Cholesky(Primitive):
    name = "linalg_cholesky"
    saves_inputs = ()

    def forward(self, m, a):
        try:
            return m.cholesky(a)
        except m.LinAlgError:
            raise LinAlgError("linalg.cholesky: the input is not positive-definite") from None

    def _phi(self, m, y):
        """Φ's mask (the lower triangle, its diagonal halved) and L⁻¹."""
        n = y.shape[-1]
        return _lower(m, n, y) - 0.5 * _eye(m, n, y), m.inv(y)

    def vjp(self, m, need, g, y, a):
        low, linv = self._phi(m, y)
        s = _mT(m, linv) @ ((_mT(m, y) @ g) * low) @ linv
        return (0.5 * (s + _mT(m, s)),)

    def jvp(self, m, dxs, y, a):  # L̇ = L Φ(L⁻¹ Ȧ L⁻ᵀ)
        low, linv = self._phi(m, y)
        return y @ ((linv @ dxs[0] @ _mT(m, linv)) * low)


class Eigh(Primitive):
    """A = V diag(w) Vᵀ (A symmetric, its lower triangle read); the output packs w over V:
    (*, n + 1, n), row 0 = w (ascending), rows 1.. = V."""

    name = "linalg_eigh"
    saves_inputs = ()

    def __init__(self, uplo: str = "L") -> None:
        self.uplo = uplo

    def forward(self, m, a):
        w, v = m.eigh(a, UPLO=self.uplo)
        return m.concatenate([w[..., None, :], v], axis=-2)

    def vjp(self, m, need, g, y, a):
        n = y.shape[-1]
        w, v = _rows(m, y, 0, slice(1, None))
        gw, gv = _rows(m, g, 0, slice(1, None))
        eye = _eye(m, n, y)
        diff = m.expand_dims(w, -2) - m.expand_dims(w, -1) + eye  # E_ij = w_j - w_i (1 on the diagonal)
        f = (1 - eye) / diff
        inner = (_mT(m, v) @ gv) * f + m.expand_dims(gw, -1) * eye
        return (v @ inner @ _mT(m, v),)

    def jvp(self, m, dxs, y, a):
        """P = Vᵀ Ȧ V:  ẇ = diag P,  V̇ = V (F ∘ P), F_ij = 1/(w_j - w_i) off the diagonal, 0 on it
        (Ȧ as given, symmetric for a symmetric input, as PyTorch's rule)."""
        n = y.shape[-1]
        w, v = _rows(m, y, 0, slice(1, None))
        eye = _eye(m, n, y)
        p = _mT(m, v) @ dxs[0] @ v
        f = (1 - eye) / (m.expand_dims(w, -2) - m.expand_dims(w, -1) + eye)
        dw = m.sum(p * eye, -2)  # diag P
        return m.concatenate([m.expand_dims(dw, -2), v @ (p * f)], axis=-2)


class Svd(Primitive):
    """Reduced SVD A = U diag(s) Vh, packed: (*, m + 1 + n, k) = [U; s; Vhᵀ] (k = min(m, n))."""

    name = "linalg_svd"
    saves_inputs = ()

    def forward(self, m, a):
        u, s, vh = m.svd(a, full_matrices=False)
        return m.concatenate([u, s[..., None, :], m.swapaxes(vh, -1, -2)], axis=-2)

    def vjp(self, m, need, g, y, a):
        rows, cols, k = a.shape[-2], a.shape[-1], y.shape[-1]
        u, s, v = _rows(m, y, slice(0, rows), rows, slice(rows + 1, None))
        gu, gs, gv = _rows(m, g, slice(0, rows), rows, slice(rows + 1, None))
        eye = _eye(m, k, y)
        s2 = s * s
        e = m.expand_dims(s2, -2) - m.expand_dims(s2, -1) + eye  # E_ij = s_j² - s_i²
        utgu = _mT(m, u) @ gu
        vtgv = _mT(m, v) @ gv
        inner = ((utgu - _mT(m, utgu)) * m.expand_dims(s, -2) + m.expand_dims(s, -1) * (vtgv - _mT(m, vtgv)))
        inner = inner * (1 - eye) / e + m.expand_dims(gs, -1) * eye
        ga = u @ inner @ _mT(m, v)
        sinv = 1 / m.expand_dims(s, -2)
        if rows > k:  # the part of Ū outside U's span
            gus = gu * sinv
            ga = ga + (gus - u @ (_mT(m, u) @ gus)) @ _mT(m, v)
        if cols > k:  # the part of V̄ outside V's span
            gvs = gv * sinv
            ga = ga + u @ _mT(m, gvs - v @ (_mT(m, v) @ gvs))
        return (ga,)

    def jvp(self, m, dxs, y, a):
        """P = Uᵀ Ȧ V:  ṡ = diag P,  U̇ = U (F ∘ (P S + S Pᵀ)) + (I - U Uᵀ) Ȧ V S⁻¹,
        V̇ = V (F ∘ (S P + Pᵀ S)) + (I - V Vᵀ) Ȧᵀ U S⁻¹, F_ij = 1/(s_j² - s_i²) off the diagonal."""
        rows, cols, k = a.shape[-2], a.shape[-1], y.shape[-1]
        u, s, v = _rows(m, y, slice(0, rows), rows, slice(rows + 1, None))
        da = dxs[0]
        eye = _eye(m, k, y)
        s2 = s * s
        f = (1 - eye) / (m.expand_dims(s2, -2) - m.expand_dims(s2, -1) + eye)
        dav = da @ v
        p = _mT(m, u) @ dav
        pt = _mT(m, p)
        sr, sc = m.expand_dims(s, -2), m.expand_dims(s, -1)  # s along a row (s_j), along a column (s_i)
        du = u @ (f * (p * sr + sc * pt))
        dv = v @ (f * (sc * p + pt * sr))
        if rows > k:  # the part of U̇ outside U's span
            dvs = dav / sr
            du = du + dvs - u @ (_mT(m, u) @ dvs)
        if cols > k:  # the part of V̇ outside V's span
            dus = (_mT(m, da) @ u) / sr
            dv = dv + dus - v @ (_mT(m, v) @ dus)
        return m.concatenate([du, m.expand_dims(m.sum(p * eye, -2), -2), dv], axis=-2)


class Qr(Primitive):
    """Reduced QR A = Q R (A (*, m, n), m >= n: Q (*, m, n), R (*, n, n)), packed [Q; R]:
    (*, m + n, n).  Ā = [Q̄ + Q copyltu(M)] R⁻ᵀ, M = R R̄ᵀ - Q̄ᵀ Q, copyltu(M) = tril(M) +
    tril(M, -1)ᵀ (Walter & Lehmann 2018; the rule PyTorch uses for m >= n)."""

    name = "linalg_qr"
    saves_inputs = ()

    def forward(self, m, a):
        q, r = m.qr(a, mode="reduced")
        return m.concatenate([q, r], axis=-2)

    def vjp(self, m, need, g, y, a):
        rows, n = a.shape[-2], a.shape[-1]
        q, r = _rows(m, y, slice(0, rows), slice(rows, None))
        gq, gr = _rows(m, g, slice(0, rows), slice(rows, None))
        mm = r @ _mT(m, gr) - _mT(m, gq) @ q
        sym = mm * _lower(m, n, y) + _mT(m, mm * _lower(m, n, y, -1))
        return (_mT(m, m.solve(r, _mT(m, gq + q @ sym))),)  # (X R⁻ᵀ = (R⁻¹ Xᵀ)ᵀ)

    def jvp(self, m, dxs, y, a):
        """C = Qᵀ Ȧ R⁻¹ = Ω + Ṙ R⁻¹ with Ω = Qᵀ Q̇ skew and Ṙ R⁻¹ upper-triangular, so
        Ω = tril(C, -1) - tril(C, -1)ᵀ,  Ṙ = (C - Ω) R,  Q̇ = Ȧ R⁻¹ - Q (C - Ω)."""
        rows, n = a.shape[-2], a.shape[-1]
        q, r = _rows(m, y, slice(0, rows), slice(rows, None))
        dar = _mT(m, m.solve(_mT(m, r), _mT(m, dxs[0])))  # Ȧ R⁻¹ = (R⁻ᵀ Ȧᵀ)ᵀ
        c = _mT(m, q) @ dar
        low = c * _lower(m, n, y, -1)
        upper = c - low + _mT(m, low)  # C - Ω
        return m.concatenate([dar - q @ upper, upper @ r], axis=-2)


_INV, _DET, _LOGABSDET, _SOLVE, _CHOLESKY, _SVD, _QR = Inv(), Det(), LogAbsDet(), Solve(), Cholesky(), Svd(), Qr()


def inv(A: Tensor) -> Tensor:
    """A⁻¹ of a batch of square matrices (*, n, n).  Raises on a singular matrix."""
    A = _square(A, "linalg.inv")
    try:
        return apply(_INV, A)
    except table_of((A,)).LinAlgError:
        raise LinAlgError("linalg.inv: the input is singular (not invertible)") from None


def det(A: Tensor) -> Tensor:
    """det A of a batch of square matrices (*, n, n) -> (*)."""
    return apply(_DET, _square(A, "linalg.det"))


def slogdet(A: Tensor) -> tuple[Tensor, Tensor]:
    """(sign, log|det A|) of (*, n, n) -> two (*) tensors; only logabsdet carries a gradient."""
    A = _square(A, "linalg.slogdet")
    return kernel("slogdet_sign", A), apply(_LOGABSDET, A)


def logdet(A: Tensor) -> Tensor:
    """log det A: nan where det A < 0, -inf where it is 0 (as PyTorch's)."""
    sign, logabs = slogdet(A)
    bad = where(sign < 0, lift(np.nan, A), lift(-np.inf, A))
    return where(sign > 0, logabs, bad)


def solve(A: Tensor, B: Tensor, *, left: bool = True) -> Tensor:
    """X with A X = B (``left=False``: X A = B).  A (*, n, n); B (*, n, k) or (n,) (a vector:
    when B.ndim == 1 or B is A's batch of vectors (*, n))."""
    A = _square(A, "linalg.solve")
    B = as_tensor_arg(B, "linalg.solve")
    if not left:
        return solve(A.mT, B.mT).mT
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))
    Bm = B.unsqueeze(-1) if vector else B
    if Bm.shape[-2] != A.shape[-1]:
        raise RuntimeError(f"linalg.solve: A {tuple(A.shape)} and B {tuple(B.shape)} do not fit (A X = B)")
    if A.dtype != B.dtype:
        raise RuntimeError(f"linalg.solve: A and B must have the same dtype, got {A.dtype} and {B.dtype}")
    batch = np.broadcast_shapes(tuple(A.shape[:-2]), tuple(Bm.shape[:-2]))
    A2 = A.expand(*batch, *A.shape[-2:]) if tuple(A.shape[:-2]) != batch else A
    B2 = Bm.expand(*batch, *Bm.shape[-2:]) if tuple(Bm.shape[:-2]) != batch else Bm
    try:
        X = apply(_SOLVE, A2, B2)
    except table_of((A,)).LinAlgError:
        raise LinAlgError("linalg.solve: the input A is singular (not invertible)") from None
    return X.squeeze(-1) if vector else X


def cholesky(A: Tensor, *, upper: bool = False) -> Tensor:
    """L lower-triangular with A = L Lᵀ for A symmetric positive-definite (*, n, n); ``upper``:
    U = Lᵀ (A = Uᵀ U)."""
    L = apply(_CHOLESKY, _square(A, "linalg.cholesky"))
    return L.mT if upper else L


def eigh(A: Tensor, UPLO: str = "L") -> tuple[Tensor, Tensor]:
    """(eigenvalues ascending (*, n), eigenvectors as columns (*, n, n)) of a symmetric A, read
    from its lower (``UPLO='L'``) or upper triangle."""
    A = _square(A, "linalg.eigh")
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"linalg.eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    packed = apply(Eigh(UPLO), A)
    return packed[..., 0, :], packed[..., 1:, :]


def svd(A: Tensor, full_matrices: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """(U, S, Vh) with A = U diag(S) Vh; A (*, m, n), k = min(m, n): U (*, m, k), S (*, k),
    Vh (*, k, n).  ``full_matrices=True`` (U (*, m, m), Vh (*, n, n)) is computed without a
    gradient, as the extra columns are not unique (PyTorch refuses its backward too)."""
    A = _floating(A, "linalg.svd")
    rows = A.shape[-2]
    if full_matrices and A.shape[-1] != A.shape[-2]:
        if is_differentiated(A):
            raise RuntimeError("linalg.svd: the gradient of full_matrices=True is not defined for a "
                               f"non-square input {tuple(A.shape)} (its extra singular vectors are not unique); "
                               "use full_matrices=False")
        u, s, vh = table_of((A,)).svd(A._array, full_matrices=True)  # (constants: no gradient)
        return Tensor._wrap(u), Tensor._wrap(s), Tensor._wrap(vh)
    packed = apply(_SVD, A)
    return packed[..., :rows, :], packed[..., rows, :], packed[..., rows + 1:, :].mT


def qr(A: Tensor, mode: str = "reduced") -> tuple[Tensor, Tensor]:
    """(Q, R) with A = Q R, Q orthonormal columns, R upper-triangular.  A (*, m, n), k = min(m, n):
    'reduced' Q (*, m, k), R (*, k, n); 'complete' Q (*, m, m), R (*, m, n); 'r' (empty Q, R).
    Differentiable (both modes) for 'reduced', and for 'complete' with m <= n, as PyTorch's."""
    A = _floating(A, "linalg.qr")
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"linalg.qr: mode must be 'reduced', 'complete' or 'r', got {mode!r}")
    rows, cols = A.shape[-2], A.shape[-1]
    if mode == "reduced" and rows >= cols:
        packed = apply(_QR, A)
        return packed[..., :rows, :], packed[..., rows:, :]
    if mode != "r" and rows < cols and is_differentiated(A):
        # m < n (both modes give Q (*, m, m)): Householder QR works column by column, so Q and R's
        # first m columns are the QR of A's first m columns, and R's others are Qᵀ A₂; derivatives
        # through the square rule (PyTorch's for m < n)
        q, r1 = qr(A[..., :rows], mode="reduced")
        return q, cat([r1, q.mT @ A[..., rows:]], -1)
    if is_differentiated(A):
        raise RuntimeError(f"linalg.qr: no gradient for mode={mode!r} with A of shape {tuple(A.shape)} "
                           "(use mode='reduced', or 'complete' with m <= n)")
    m = table_of((A,))
    q, r = m.qr(A._array, mode="complete" if mode == "complete" else "reduced")  # (constants: no gradient)
    return Tensor._wrap(m.empty((0,), A.dtype) if mode == "r" else q), Tensor._wrap(r)
