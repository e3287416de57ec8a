"""Ready-made parametrizations (``torch.nn.utils.parametrizations``), registered with
:func:`chainrule.nn.utils.parametrize.register_parametrization`:

* :func:`orthogonal`: W (…, n, k) kept orthogonal (WᵀW = I for n ≥ k, WWᵀ = I for n < k);
* :func:`spectral_norm`: W / σ(W), σ the largest singular value estimated by power iteration;
* :func:`weight_norm`: W = g · v/‖v‖ with the magnitude g and the direction v trained apart.

The state_dict keys are PyTorch's (``parametrizations.weight.original``,
``parametrizations.weight.0.base``, ``…0._u``, ``…0._v``, ``…original0`` / ``original1``).
"""

from __future__ import annotations

import math
from enum import Enum

import numpy as np

from chainrule.autograd.grad_mode import no_grad
from chainrule.autograd.tensor import Tensor
from chainrule.autograd.version import bump
from chainrule.nn.functional.distance import normalize
from chainrule.nn.module import Module
from chainrule.nn.modules.conv_transpose import ConvTranspose1d, ConvTranspose2d
from chainrule.nn.modules.three_d import ConvTranspose3d
from chainrule.nn.utils import parametrize
from chainrule.nn.utils.weight_norm import _norm_except_dim
from chainrule.ops import creation as cr_creation
from chainrule.ops import shape as sh
from chainrule.ops.elementwise import where
from chainrule.ops.linalg_ops import qr, solve

__all__ = ["orthogonal", "spectral_norm", "weight_norm"]


# --------------------------------------------------------------------------------- orthogonal
class _OrthMaps(Enum):
    matrix_exp = "matrix_exp"
    cayley = "cayley"
    householder = "householder"


def _eye(n: int, k: int, like: Tensor) -> Tensor:
    """The n × k identity (its first k columns), broadcast over ``like``'s batch dimensions."""
    eye = cr_creation.eye(n, k, dtype=like.dtype)
    return sh.broadcast_to(eye, tuple(like.shape[:-2]) + (n, k)) if like.ndim > 2 else eye


def _matrix_exp(A: Tensor) -> Tensor:
    """exp(A) = Σ Aʲ/j! (*, n, n) by scaling and squaring: A/2ˢ with ‖A/2ˢ‖₁ ≤ 1/2, its Taylor
    series to degree 18, squared s times; made of products, so its gradient is exact."""
    norm1 = float(A.detach().abs().sum(-2).amax().item()) if A.numel() else 0.0
    s = max(0, int(math.ceil(math.log2(norm1))) + 1) if norm1 > 0.5 else 0
    X = A / float(2**s)
    term = total = _eye(A.shape[-1], A.shape[-1], A)
    for j in range(1, 19):
        term = term @ X / float(j)
        total = total + term
    for _ in range(s):
        total = total @ total
    return total


def _householder_product(V: Tensor, tau: Tensor) -> Tensor:
    """The first k columns of H₁H₂…Hₖ, Hᵢ = I − τᵢ vᵢvᵢᵀ, vᵢ = V[:, i] (V (*, n, k), τ (*, k))."""
    n, k = V.shape[-2], V.shape[-1]
    Q = _eye(n, k, V)
    for i in reversed(range(k)):
        v = V[..., :, i : i + 1]
        Q = Q - tau[..., i : i + 1].unsqueeze(-1) * (v @ (v.mT @ Q))
    return Q


def _make_orthogonal(A: Tensor) -> Tensor:
    """Q of A = QR with R's diagonal made positive (unique for full-rank A), (*, n, k), n ≥ k."""
    with no_grad():
        Q, R = qr(A)
        return Q * R.diagonal(dim1=-2, dim2=-1).sgn().unsqueeze(-2)


def _is_orthogonal(Q: Tensor) -> bool:
    n, k = Q.shape[-2], Q.shape[-1]
    eps = 10 * n * float(np.finfo(Q.dtype).eps)
    return bool(((Q.mT @ Q) - _eye(k, k, Q)).abs().le(eps).all().item())


def _householder_qr(Q: Tensor) -> Tensor:
    """LAPACK geqrf's packed form of Q (*, n, k), n ≥ k, with the diagonal set as PyTorch's
    ``orthogonal(..., use_trivialization=False)`` stores it: below it the reflectors vᵢ (vᵢ[i] = 1
    implied), above it R, on it sign(Rᵢᵢ), negated where the column needed no reflection (τᵢ = 0).

    Column j: x = A[j:, j], α = x₀, β = −sign(α)‖x‖, v = x/(α − β) with v₀ = 1, τ = (β − α)/β,
    A[j:, j:] ← (I − τ v vᵀ) A[j:, j:] (no reflection, τ = 0, when x below α is zero)."""
    k = Q.shape[-1]
    with no_grad():
        A = Q.detach().clone()
        packed = cr_creation.zeros_like(A)
        one = cr_creation.ones_like(A[..., 0, 0])
        for j in range(k):
            x = A[..., j:, j]
            alpha = x[..., 0]
            reflect = (x[..., 1:] * x[..., 1:]).sum(-1) > 0
            beta = -where(alpha >= 0, one, -one) * (x * x).sum(-1).sqrt()
            v = x / where(reflect, alpha - beta, one).unsqueeze(-1)
            v = sh.cat([one.unsqueeze(-1), v[..., 1:]], dim=-1)
            tau = where(reflect, (beta - alpha) / where(reflect, beta, one), 0.0 * one)
            sub = A[..., j:, j:]
            A[..., j:, j:] = sub - tau.unsqueeze(-1).unsqueeze(-1) * (v.unsqueeze(-1) @ (v.unsqueeze(-2) @ sub))
            r = where(reflect, beta, alpha).sign()
            packed[..., j + 1 :, j] = v[..., 1:]
            packed[..., j, j + 1 :] = A[..., j, j + 1 :]  # R's row j (unused by forward, kept as geqrf does)
            packed[..., j, j] = where(reflect, r, -r)
    return packed


class _Orthogonal(Module):
    """X (*, n, k) ↦ an orthogonal Q of the same shape (see :func:`orthogonal` for the maps)."""

    base: Tensor | None

    def __init__(self, weight: Tensor, orthogonal_map: _OrthMaps, *, use_trivialization: bool = True) -> None:
        super().__init__()
        self.shape = tuple(weight.shape)
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, X: Tensor) -> Tensor:
        n, k = X.shape[-2], X.shape[-1]
        transposed = n < k
        if transposed:
            X, n, k = X.mT, k, n
        if self.orthogonal_map in (_OrthMaps.matrix_exp, _OrthMaps.cayley):
            X = X.tril()
            if n != k:
                X = sh.cat([X, cr_creation.zeros(*X.shape[:-1], n - k, dtype=X.dtype)], dim=-1)
            A = X - X.mT  # skew-symmetric
            if self.orthogonal_map is _OrthMaps.matrix_exp:
                Q = _matrix_exp(A)
            else:  # Cayley: (I − A/2)⁻¹ (I + A/2)
                eye = _eye(n, n, A)
                Q = solve(eye - A * 0.5, eye + A * 0.5)
            if n != k:
                Q = Q[..., :k]
        else:
            A = X.tril(diagonal=-1)
            tau = 2.0 / (1.0 + (A * A).sum(-2))
            Q = _householder_product(A + _eye(n, k, A), tau)
            Q = Q * X.diagonal(dim1=-2, dim2=-1).detach().trunc().unsqueeze(-2)  # (PyTorch's .int(): ±1 or 0)
        if "base" in self._buffers:
            if self.base is None:
                raise RuntimeError("orthogonal: the parametrization's base was never set (call right_inverse first)")
            Q = self.base @ Q
        return Q.mT if transposed else Q

    def right_inverse(self, Q: Tensor) -> Tensor:
        """An X with forward(X) = Q's orthogonalisation: with the trivialization, ``base`` becomes Q
        (made orthogonal by QR, completed by random columns when Q is not square) and X = −I."""
        if tuple(Q.shape) != self.shape:
            raise ValueError(
                f"orthogonal: expected a matrix or batch of matrices of shape {tuple(self.shape)}, got {tuple(Q.shape)}"
            )
        Q_init = Q
        n, k = Q.shape[-2], Q.shape[-1]
        transpose = n < k
        if transpose:
            Q, n, k = Q.mT, k, n
        if "base" not in self._buffers:
            if self.orthogonal_map in (_OrthMaps.matrix_exp, _OrthMaps.cayley):
                raise NotImplementedError(
                    "orthogonal: it is not possible to assign to the matrix exponential or the Cayley "
                    "parametrizations when use_trivialization=False"
                )
            A = _householder_qr(Q)
            return A.mT if transpose else A
        with no_grad():
            if n == k:
                Q = Q.clone() if _is_orthogonal(Q) else _make_orthogonal(Q)
            else:
                N = cr_creation.randn(*(tuple(Q.shape[:-2]) + (n, n - k)), dtype=Q.dtype)
                Q = _make_orthogonal(sh.cat([Q, N], dim=-1))
            self.base = Q
            neg_eye = cr_creation.zeros_like(Q_init)
            neg_eye.diagonal(dim1=-2, dim2=-1).fill_(-1.0)
        return neg_eye


def orthogonal(
    module: Module, name: str = "weight", orthogonal_map: str | None = None, *, use_trivialization: bool = True
) -> Module:
    """Keep ``module.<name>`` (*, n, k) orthogonal: QᵀQ = I (n ≥ k) or QQᵀ = I (n < k).

    The weight X is mapped to an orthogonal matrix through a skew-symmetric A = tril(X) − tril(X)ᵀ
    (padded with zero columns to n × n when n ≠ k, and the first k columns kept):

    * ``"matrix_exp"``: Q = exp(A) (the default for square matrices);
    * ``"cayley"``: Q = (I − A/2)⁻¹ (I + A/2);
    * ``"householder"``: Q = H₁…Hₖ, Hᵢ = I − τᵢvᵢvᵢᵀ with vᵢ = eᵢ + the i-th column of X below
      the diagonal and τᵢ = 2/‖vᵢ‖² (the default for non-square matrices).

    With ``use_trivialization=True`` (the default) the map is applied around a buffer ``base``:
    Q = base · map(X); at registration and at every assignment ``module.<name> = W``, base becomes
    the orthogonal factor of W's QR decomposition (with R's diagonal positive; random columns
    complete a non-square W) and X = −I, so that the module's weight starts as W made orthogonal.

    Args:
        module: the module.
        name: its parameter or buffer to parametrize (at least 2 dimensions).
        orthogonal_map: ``"matrix_exp"``, ``"cayley"``, ``"householder"`` or None (the default choice above).
        use_trivialization: whether to keep the ``base`` buffer.

    Returns:
        The module.
    """
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"orthogonal: module '{type(module).__name__}' has no parameter or buffer with name '{name}'")
    if weight.ndim < 2:
        raise ValueError(
            f"orthogonal: expected a matrix or batch of matrices, got a tensor of {weight.ndim} dimensions"
        )
    if weight.dtype.kind != "f":
        raise TypeError(f"orthogonal: expected a floating-point weight, got {weight.dtype}")
    if orthogonal_map is None:
        orthogonal_map = "matrix_exp" if weight.shape[-2] == weight.shape[-1] else "householder"
    try:
        omap = _OrthMaps(orthogonal_map)
    except ValueError:
        raise ValueError(
            f'orthogonal: orthogonal_map has to be one of "matrix_exp", "cayley", "householder", got {orthogonal_map!r}'
        ) from None
    orth = _Orthogonal(weight, omap, use_trivialization=use_trivialization)
    parametrize.register_parametrization(module, name, orth, unsafe=True)
    return module


# ------------------------------------------------------------------------------ weight norm
class _WeightNorm(Module):
    """(g, v) ↦ g · v/‖v‖, the norm over every dimension except ``dim`` (all of them for dim = -1)."""

    def __init__(self, dim: int | None = 0) -> None:
        super().__init__()
        self.dim = -1 if dim is None else dim

    def _dim(self, ndim: int) -> int:
        return self.dim + ndim if self.dim < -1 else self.dim

    def forward(self, weight_g: Tensor, weight_v: Tensor) -> Tensor:
        return weight_v * (weight_g / _norm_except_dim(weight_v, self._dim(weight_v.ndim)))

    def right_inverse(self, weight: Tensor) -> tuple[Tensor, Tensor]:
        return _norm_except_dim(weight, self._dim(weight.ndim)), weight


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Reparametrise ``module.<name>`` as w = g · v/‖v‖ (Salimans & Kingma 2016).

    ‖v‖ is taken over every dimension except ``dim`` (over all of them for ``dim=None``), so the
    magnitude g (``parametrizations.<name>.original0``: size 1 everywhere except ``dim``) sets each
    slice's norm and the direction v (``original1``, the weight's shape) only its direction.
    At registration g = ‖w‖ and v = w, so the module computes the same function as before.

    Args:
        module: the module.
        name: the parameter to parametrize.
        dim: the dimension that keeps its own norm (None: one norm for the whole tensor).

    Returns:
        The module.
    """
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"weight_norm: module '{type(module).__name__}' has no parameter or buffer with name '{name}'")
    if dim is not None and not -weight.ndim <= dim < max(weight.ndim, 1):
        raise IndexError(f"weight_norm: dim {dim} is out of range for a weight of {weight.ndim} dimensions")
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)
    return module


# ---------------------------------------------------------------------------- spectral norm
def _as_matrix(weight: Tensor, dim: int) -> Tensor:
    """The weight (d₀, …) as a matrix (d_dim, Π others): ``dim`` moved first, the rest flattened."""
    if dim != 0:
        weight = weight.permute(dim, *(d for d in range(weight.ndim) if d != dim))
    return weight.flatten(1)


def _power_iteration(W: Tensor, u: Tensor, v: Tensor, steps: int, eps: float, v_first: bool) -> None:
    """``steps`` rounds of u ← W v/‖W v‖, v ← Wᵀu/‖Wᵀu‖ (v first when ``v_first``), into u and v in place."""
    with no_grad():
        uu, vv = u.detach(), v.detach()
        for _ in range(steps):
            if v_first:
                vv = normalize(W.mT @ uu, dim=0, eps=eps)
                uu = normalize(W @ vv, dim=0, eps=eps)
            else:
                uu = normalize(W @ vv, dim=0, eps=eps)
                vv = normalize(W.mT @ uu, dim=0, eps=eps)
        if steps:
            u._array, v._array = uu._array, vv._array
            bump(u)
            bump(v)


class _SpectralNorm(Module):
    """W ↦ W/σ, σ = uᵀ W_mat v with the buffers u, v from power iteration (a 1-D W: W/‖W‖)."""

    _u: Tensor
    _v: Tensor

    def __init__(self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12) -> None:
        super().__init__()
        ndim = weight.ndim
        if not -ndim <= dim < max(ndim, 1):
            raise IndexError(f"spectral_norm: dim {dim} is out of range for a weight of {ndim} dimensions")
        if n_power_iterations <= 0:
            raise ValueError(f"spectral_norm: n_power_iterations must be positive, got {n_power_iterations}")
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            with no_grad():
                W = _as_matrix(weight.detach(), self.dim)
                h, w = W.shape
                self.register_buffer("_u", normalize(cr_creation.randn(h, dtype=W.dtype), dim=0, eps=eps))
                self.register_buffer("_v", normalize(cr_creation.randn(w, dtype=W.dtype), dim=0, eps=eps))
                _power_iteration(W, self._u, self._v, 15, eps, v_first=False)

    def forward(self, weight: Tensor) -> Tensor:
        if weight.ndim == 1:
            return normalize(weight, dim=0, eps=self.eps)
        W = _as_matrix(weight, self.dim)
        if self.training:
            _power_iteration(W.detach(), self._u, self._v, self.n_power_iterations, self.eps, v_first=False)
        u, v = self._u.clone(), self._v.clone()
        sigma = (u * (W @ v)).sum()
        return weight / sigma

    def right_inverse(self, value: Tensor) -> Tensor:
        return value


def _default_dim(module: Module, dim: int | None) -> int:
    if dim is not None:
        return dim
    return 1 if isinstance(module, (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d)) else 0


def spectral_norm(
    module: Module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12, dim: int | None = None
) -> Module:
    """Divide ``module.<name>`` by its spectral norm σ (Miyato et al. 2018): W_SN = W/σ(W).

    The weight is viewed as a matrix W_mat (d_dim × Π other dimensions, ``dim`` moved first) and
    σ is estimated by power iteration on two buffers (``parametrizations.<name>.0._u`` of size
    d_dim and ``._v`` of size Π others): each forward pass in training mode first runs
    ``n_power_iterations`` rounds of u ← W v/‖W v‖, v ← Wᵀu/‖Wᵀu‖ (‖·‖ clamped below by
    ``eps``), then σ = uᵀ W_mat v; the gradient flows through W in both places, not through u, v.
    In evaluation mode u and v stay as they are. 15 rounds run at registration. A 1-D weight is
    divided by its norm.

    Args:
        module: the module.
        name: the parameter to normalise.
        n_power_iterations: rounds per training forward pass (positive).
        eps: the lower bound of the norms in the power iteration.
        dim: the dimension of W_mat's rows (None: 1 for transposed convolutions, else 0).

    Returns:
        The module.
    """
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(
            f"spectral_norm: module '{type(module).__name__}' has no parameter or buffer with name '{name}'"
        )
    sn = _SpectralNorm(weight, n_power_iterations, _default_dim(module, dim), eps)
    parametrize.register_parametrization(module, name, sn)
    return module
