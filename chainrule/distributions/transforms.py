"""Invertible maps between spaces (PyTorch's ``torch.distributions.transforms``).

A ``Transform`` t maps x ∈ ``domain`` to y = t(x) ∈ ``codomain``; ``t.inv`` is the inverse
map, and ``log_abs_det_jacobian(x, y)`` is log |det ∂y/∂x|, one value per element for
elementwise transforms (``event_dim`` 0) or per event of ``event_dim`` dimensions.  These are
what ``TransformedDistribution`` needs for the change of variables
log p_Y(y) = log p_X(t⁻¹(y)) − log |det ∂t/∂x|.
"""

from __future__ import annotations

import math
import numbers
import weakref
from typing import Any, Sequence

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.distributions import constraints
from chainrule.distributions.utils import sum_rightmost

__all__ = [
    "Transform",
    "ComposeTransform",
    "ExpTransform",
    "AffineTransform",
    "SigmoidTransform",
    "TanhTransform",
    "SoftmaxTransform",
    "PowerTransform",
    "AbsTransform",
    "IndependentTransform",
    "SoftplusTransform",
    "StickBreakingTransform",
    "LowerCholeskyTransform",
    "CumulativeDistributionTransform",
    "ReshapeTransform",
    "PositiveDefiniteTransform",
    "CatTransform",
    "StackTransform",
    "CorrCholeskyTransform",
    "identity_transform",
]


def _softplus(x: Tensor) -> Tensor:
    from chainrule.distributions.discrete import _softplus as sp

    return sp(x)


class Transform:
    """Base class: subclasses give ``_call`` (x → y), ``_inverse`` (y → x) and ``log_abs_det_jacobian``.

    ``cache_size`` 1 keeps the last (x, y) pair, so that ``t.inv(t(x))`` returns ``x`` itself
    (and its graph); 0 keeps nothing.
    """

    bijective = False
    domain: constraints.Constraint = constraints.real
    codomain: constraints.Constraint = constraints.real

    def __init__(self, cache_size: int = 0) -> None:
        if cache_size not in (0, 1):
            raise ValueError(f"Transform: cache_size must be 0 or 1, got {cache_size}")
        self._cache_size = cache_size
        self._cached_x_y: tuple[Any, Any] = (None, None)
        self._inv: Any = None

    @property
    def event_dim(self) -> int:
        if self.domain.event_dim == self.codomain.event_dim:
            return self.domain.event_dim
        raise ValueError("Please use either .domain.event_dim or .codomain.event_dim")

    @property
    def sign(self) -> int:
        """+1 for an increasing map, −1 for a decreasing one (elementwise bijections only)."""
        raise NotImplementedError(f"{type(self).__name__}.sign is not defined")

    @property
    def inv(self) -> Transform:
        """The inverse transform (computed with ``_inverse``)."""
        inv = self._inv() if self._inv is not None else None
        if inv is None:
            inv = _InverseTransform(self)
            self._inv = weakref.ref(inv)
        return inv

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        if type(self).__init__ is Transform.__init__:
            return type(self)(cache_size=cache_size)
        raise NotImplementedError(f"{type(self)}.with_cache is not implemented")

    def __call__(self, x: Tensor) -> Tensor:
        if self._cache_size == 0:
            return self._call(x)
        x_old, y_old = self._cached_x_y
        if x is x_old:
            return y_old
        y = self._call(x)
        self._cached_x_y = (x, y)
        return y

    def _inv_call(self, y: Tensor) -> Tensor:
        if self._cache_size == 0:
            return self._inverse(y)
        x_old, y_old = self._cached_x_y
        if y is y_old:
            return x_old
        x = self._inverse(y)
        self._cached_x_y = (x, y)
        return x

    def _call(self, x: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no forward map")

    def _inverse(self, y: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no inverse")

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        """log |det ∂y/∂x| at the pair (x, y = t(x))."""
        raise NotImplementedError(f"{type(self).__name__}.log_abs_det_jacobian is not implemented")

    def forward_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        """The shape of t(x) for x of ``shape`` (the same, for most transforms)."""
        return tuple(shape)

    def inverse_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        """The shape of t⁻¹(y) for y of ``shape``."""
        return tuple(shape)

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return type(self).__name__ + "()"


class _InverseTransform(Transform):
    """t⁻¹, sharing t's cache."""

    def __init__(self, transform: Transform) -> None:
        super().__init__(cache_size=transform._cache_size)
        self._inv_transform = transform

    @property
    def domain(self) -> constraints.Constraint:  # type: ignore[override]
        return self._inv_transform.codomain

    @property
    def codomain(self) -> constraints.Constraint:  # type: ignore[override]
        return self._inv_transform.domain

    @property
    def bijective(self) -> bool:  # type: ignore[override]
        return self._inv_transform.bijective

    @property
    def sign(self) -> int:
        return self._inv_transform.sign

    @property
    def inv(self) -> Transform:
        return self._inv_transform

    def __call__(self, x: Tensor) -> Tensor:
        return self._inv_transform._inv_call(x)

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        return -self._inv_transform.log_abs_det_jacobian(y, x)

    def forward_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        return self._inv_transform.inverse_shape(shape)

    def inverse_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        return self._inv_transform.forward_shape(shape)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _InverseTransform) and self._inv_transform == other._inv_transform

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"{self._inv_transform!r}.inv"


class ComposeTransform(Transform):
    """The transforms applied in order, t = tₙ ∘ … ∘ t₁; log |det J| is the sum of the parts'
    (each summed over the event dimensions the composition adds after it)."""

    def __init__(self, parts: Sequence[Transform], cache_size: int = 0) -> None:
        if cache_size:
            parts = [part.with_cache(cache_size) for part in parts]
        super().__init__(cache_size=cache_size)
        self.parts = list(parts)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ComposeTransform) and self.parts == other.parts

    __hash__ = object.__hash__

    @property
    def domain(self) -> constraints.Constraint:  # type: ignore[override]
        if not self.parts:
            return constraints.real
        domain = self.parts[0].domain
        event_dim = self.parts[-1].codomain.event_dim  # the event dims the whole map needs
        for part in reversed(self.parts):
            event_dim += part.domain.event_dim - part.codomain.event_dim
            event_dim = max(event_dim, part.domain.event_dim)
        if event_dim > domain.event_dim:
            domain = constraints.independent(domain, event_dim - domain.event_dim)
        return domain

    @property
    def codomain(self) -> constraints.Constraint:  # type: ignore[override]
        if not self.parts:
            return constraints.real
        codomain = self.parts[-1].codomain
        event_dim = self.parts[0].domain.event_dim
        for part in self.parts:
            event_dim += part.codomain.event_dim - part.domain.event_dim
            event_dim = max(event_dim, part.codomain.event_dim)
        if event_dim > codomain.event_dim:
            codomain = constraints.independent(codomain, event_dim - codomain.event_dim)
        return codomain

    @property
    def bijective(self) -> bool:  # type: ignore[override]
        return all(p.bijective for p in self.parts)

    @property
    def sign(self) -> int:
        sign = 1
        for p in self.parts:
            sign = sign * p.sign
        return sign

    @property
    def inv(self) -> Transform:
        inv = self._inv() if self._inv is not None else None
        if inv is None:
            inv = ComposeTransform([p.inv for p in reversed(self.parts)])
            self._inv = weakref.ref(inv)
            inv._inv = weakref.ref(self)
        return inv

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        return ComposeTransform(self.parts, cache_size=cache_size)

    def __call__(self, x: Tensor) -> Tensor:
        for part in self.parts:
            x = part(x)
        return x

    def _inv_call(self, y: Tensor) -> Tensor:
        for part in reversed(self.parts):
            y = part.inv(y)
        return y

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        if not self.parts:
            return x * 0
        xs = [x]
        for part in self.parts[:-1]:
            xs.append(part(xs[-1]))
        xs.append(y)
        total: Any = 0.0
        event_dim = self.domain.event_dim
        for part, a, b in zip(self.parts, xs[:-1], xs[1:]):
            term = part.log_abs_det_jacobian(a, b)
            total = total + sum_rightmost(term, event_dim - part.domain.event_dim)
            event_dim += part.codomain.event_dim - part.domain.event_dim
        return total

    def forward_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        for part in self.parts:
            shape = part.forward_shape(shape)
        return tuple(shape)

    def inverse_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        for part in reversed(self.parts):
            shape = part.inverse_shape(shape)
        return tuple(shape)

    def __repr__(self) -> str:
        return "ComposeTransform(\n    " + ",\n    ".join(repr(p) for p in self.parts) + "\n)"


identity_transform = ComposeTransform([])


class IndependentTransform(Transform):
    """``base_transform`` with ``reinterpreted_batch_ndims`` more right-most dimensions in its event
    (its log |det J| summed over them)."""

    def __init__(self, base_transform: Transform, reinterpreted_batch_ndims: int, cache_size: int = 0) -> None:
        super().__init__(cache_size=cache_size)
        self.base_transform = base_transform.with_cache(cache_size)
        self.reinterpreted_batch_ndims = int(reinterpreted_batch_ndims)

    @property
    def domain(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.independent(self.base_transform.domain, self.reinterpreted_batch_ndims)

    @property
    def codomain(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.independent(self.base_transform.codomain, self.reinterpreted_batch_ndims)

    @property
    def bijective(self) -> bool:  # type: ignore[override]
        return self.base_transform.bijective

    @property
    def sign(self) -> int:
        return self.base_transform.sign

    def _call(self, x: Tensor) -> Tensor:
        return self.base_transform(x)

    def _inverse(self, y: Tensor) -> Tensor:
        return self.base_transform.inv(y)

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        return sum_rightmost(self.base_transform.log_abs_det_jacobian(x, y), self.reinterpreted_batch_ndims)

    def forward_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        return self.base_transform.forward_shape(shape)

    def inverse_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        return self.base_transform.inverse_shape(shape)


class ExpTransform(Transform):
    """y = eˣ (reals → positive reals);  log |dy/dx| = x."""

    domain = constraints.real
    codomain = constraints.positive
    bijective = True
    sign = +1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ExpTransform)

    __hash__ = object.__hash__

    def _call(self, x: Tensor) -> Tensor:
        return x.exp()

    def _inverse(self, y: Tensor) -> Tensor:
        return y.log()

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        return x


class PowerTransform(Transform):
    """y = xᵉ on the positive reals (``exponent`` e);  log |dy/dx| = log |e y / x|."""

    domain = constraints.positive
    codomain = constraints.positive
    bijective = True

    def __init__(self, exponent: Tensor | float, cache_size: int = 0) -> None:
        from chainrule.distributions.distribution import broadcast_all

        super().__init__(cache_size=cache_size)
        (self.exponent,) = broadcast_all(exponent)

    def with_cache(self, cache_size: int = 1) -> Transform:
        return self if self._cache_size == cache_size else PowerTransform(self.exponent, cache_size=cache_size)

    @property
    def sign(self) -> Any:
        return self.exponent.sign()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PowerTransform) and bool(np.all(self.exponent._array == other.exponent._array))

    __hash__ = object.__hash__

    def _exponent(self, like: Tensor) -> Tensor:
        """The exponent in ``like``'s dtype (1/e of a float32 e would be rounded to float32)."""
        e = self.exponent
        return e if e.dtype == like.dtype else e.to(like.dtype)

    def _call(self, x: Tensor) -> Tensor:
        return x.pow(self._exponent(x))

    def _inverse(self, y: Tensor) -> Tensor:
        return y.pow(1 / self._exponent(y))

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        return (self._exponent(x) * y / x).abs().log()

    def forward_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        return tuple(np.broadcast_shapes(tuple(shape), self.exponent.shape))

    def inverse_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        return tuple(np.broadcast_shapes(tuple(shape), self.exponent.shape))


class SigmoidTransform(Transform):
    """y = σ(x) = 1/(1 + e⁻ˣ) (reals → (0, 1));  log |dy/dx| = −softplus(−x) − softplus(x)."""

    domain = constraints.real
    codomain = constraints.unit_interval
    bijective = True
    sign = +1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SigmoidTransform)

    __hash__ = object.__hash__

    def _call(self, x: Tensor) -> Tensor:
        info = np.finfo(x.dtype)
        return x.sigmoid().clamp(min=float(info.tiny), max=1 - float(info.eps))

    def _inverse(self, y: Tensor) -> Tensor:
        info = np.finfo(y.dtype)
        y = y.clamp(min=float(info.tiny), max=1 - float(info.eps))
        return y.log() - (-y).log1p()

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        return -_softplus(-x) - _softplus(x)


class TanhTransform(Transform):
    """y = tanh x (reals → (−1, 1));  log |dy/dx| = log(1 − tanh² x) = 2(log 2 − x − softplus(−2x))."""

    domain = constraints.real
    codomain = constraints.interval(-1.0, 1.0)
    bijective = True
    sign = +1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TanhTransform)

    __hash__ = object.__hash__

    def _call(self, x: Tensor) -> Tensor:
        return x.tanh()

    def _inverse(self, y: Tensor) -> Tensor:
        # atanh y = ½ (log(1 + y) − log(1 − y)); not clamped, as in PyTorch (use cache_size=1 near ±1)
        return 0.5 * (y.log1p() - (-y).log1p())

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        return 2.0 * (math.log(2.0) - x - _softplus(-2.0 * x))


class AbsTransform(Transform):
    """y = |x| (reals → non-negative reals); not injective: the "inverse" returns y."""

    domain = constraints.real
    codomain = constraints.positive

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AbsTransform)

    __hash__ = object.__hash__

    def _call(self, x: Tensor) -> Tensor:
        return x.abs()

    def _inverse(self, y: Tensor) -> Tensor:
        return y


class AffineTransform(Transform):
    """y = loc + scale · x (elementwise, or over ``event_dim`` right-most dimensions);
    log |det J| = log |scale|, summed over the event dimensions."""

    bijective = True

    def __init__(self, loc: Tensor | float, scale: Tensor | float, event_dim: int = 0, cache_size: int = 0) -> None:
        super().__init__(cache_size=cache_size)
        self.loc = loc
        self.scale = scale
        self._event_dim = event_dim

    @property
    def event_dim(self) -> int:
        return self._event_dim

    @property
    def domain(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.real if self._event_dim == 0 else constraints.independent(constraints.real, self._event_dim)

    @property
    def codomain(self) -> constraints.Constraint:  # type: ignore[override]
        return self.domain

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        return AffineTransform(self.loc, self.scale, self._event_dim, cache_size=cache_size)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AffineTransform):
            return False
        return all(
            (a == b) if isinstance(a, numbers.Number) and isinstance(b, numbers.Number)
            else bool(np.all(np.asarray(getattr(a, "_array", a)) == np.asarray(getattr(b, "_array", b))))
            for a, b in ((self.loc, other.loc), (self.scale, other.scale))
        )

    __hash__ = object.__hash__

    @property
    def sign(self) -> Any:
        if isinstance(self.scale, numbers.Real):
            return 1 if float(self.scale) > 0 else -1 if float(self.scale) < 0 else 0
        return self.scale.sign()  # type: ignore[union-attr]

    def _call(self, x: Tensor) -> Tensor:
        return self.loc + self.scale * x

    def _inverse(self, y: Tensor) -> Tensor:
        return (y - self.loc) / self.scale

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        shape = x.shape
        scale = self.scale
        if isinstance(scale, numbers.Real):
            result = x * 0 + math.log(abs(float(scale)))
        else:
            result = scale.abs().log()  # type: ignore[union-attr]
            if result.shape != shape:
                result = result.expand(*np.broadcast_shapes(result.shape, shape))
        if self._event_dim:
            result = sum_rightmost(result, self._event_dim)
        return result

    def forward_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        return tuple(np.broadcast_shapes(tuple(shape), tuple(getattr(self.loc, "shape", ())),
                                         tuple(getattr(self.scale, "shape", ()))))

    def inverse_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        return self.forward_shape(shape)


class SoftmaxTransform(Transform):
    """y = softmax(x) over the last dimension (reals → simplex); not injective (x + c gives the
    same y), so the "inverse" is log y and there is no log |det J|."""

    domain = constraints.real_vector
    codomain = constraints.simplex

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SoftmaxTransform)

    __hash__ = object.__hash__

    def _call(self, x: Tensor) -> Tensor:
        from chainrule.ops import softmax

        return softmax(x, -1)

    def _inverse(self, y: Tensor) -> Tensor:
        return y.log()


class SoftplusTransform(Transform):
    """y = log(1 + eˣ) (reals → positive reals);  x = y + log(1 − e⁻ʸ);  log |dy/dx| = −softplus(−x)."""

    domain = constraints.real
    codomain = constraints.positive
    bijective = True
    sign = +1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SoftplusTransform)

    __hash__ = object.__hash__

    def _call(self, x: Tensor) -> Tensor:
        return _softplus(x)

    def _inverse(self, y: Tensor) -> Tensor:
        return y + (-(-y).expm1()).log()

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        return -_softplus(-x)


def _remaining_counts(k: int, like: Tensor) -> Tensor:
    """log of (k, k − 1, …, 1): the number of pieces still to break off at each step."""
    return Tensor._wrap(np.log(np.arange(k, 0, -1, dtype=like.dtype)))


class StickBreakingTransform(Transform):
    r"""Reals (…, k − 1) → the simplex (…, k) by breaking a stick.

    zᵢ = σ(xᵢ − log(k − 1 − i)) is the fraction of what is left taken at step i:
    yᵢ = zᵢ Πⱼ₍ⱼ<ᵢ₎ (1 − zⱼ), and the last piece y_{k−1} = Πⱼ (1 − zⱼ).  The offsets make x = 0
    the centre of the simplex.  The Jacobian (…, k − 1 coordinates) is triangular with
    dyᵢ/dxᵢ = yᵢ (1 − zᵢ), so log |det J| = Σᵢ (log yᵢ + log(1 − zᵢ)).  A bijection, so
    ``biject_to(simplex)`` returns it.
    """

    domain = constraints.real_vector
    codomain = constraints.simplex
    bijective = True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StickBreakingTransform)

    __hash__ = object.__hash__

    def _call(self, x: Tensor) -> Tensor:
        from chainrule.ops import cat

        shifted = x - _remaining_counts(x.shape[-1], x)
        info = np.finfo(x.dtype)
        z = shifted.sigmoid().clamp(min=float(info.tiny), max=1 - float(info.eps))
        log_left = (-z).log1p().cumsum(-1)              # log Πⱼ₍ⱼ≤ᵢ₎ (1 − zⱼ)
        zeros = log_left[..., :1] * 0
        left_before = cat([zeros, log_left], -1).exp()  # Πⱼ₍ⱼ<ᵢ₎ (1 − zⱼ), i = 0 … k − 1
        ones = zeros + 1
        return cat([z, ones], -1) * left_before

    def _inverse(self, y: Tensor) -> Tensor:
        head = y[..., :-1]
        info = np.finfo(y.dtype)
        rest = (1 - head.cumsum(-1)).clamp(min=float(info.tiny))  # what is left after piece i
        return head.log() - rest.log() + _remaining_counts(head.shape[-1], y)

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        shifted = x - _remaining_counts(x.shape[-1], x)
        return (y[..., :-1].log() - _softplus(shifted)).sum(-1)

    def forward_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        if len(shape) < 1:
            raise ValueError("StickBreakingTransform: too few dimensions on input")
        return tuple(shape[:-1]) + (shape[-1] + 1,)

    def inverse_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        if len(shape) < 1:
            raise ValueError("StickBreakingTransform: too few dimensions on input")
        return tuple(shape[:-1]) + (shape[-1] - 1,)


class LowerCholeskyTransform(Transform):
    """Square matrices (…, n, n) → lower-triangular matrices with a positive diagonal: the strict
    lower triangle is kept and the diagonal exponentiated (the upper triangle is dropped, so the
    map is not injective and has no log |det J|)."""

    domain = constraints.independent(constraints.real, 2)
    codomain = constraints.lower_cholesky

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LowerCholeskyTransform)

    __hash__ = object.__hash__

    def _call(self, x: Tensor) -> Tensor:
        from chainrule.ops import diag_embed, tril

        return tril(x, -1) + diag_embed(x.diagonal(dim1=-2, dim2=-1).exp())

    def _inverse(self, y: Tensor) -> Tensor:
        from chainrule.ops import diag_embed, tril

        return tril(y, -1) + diag_embed(y.diagonal(dim1=-2, dim2=-1).log())


class CumulativeDistributionTransform(Transform):
    """y = F(x), the cdf of ``distribution`` (its support → [0, 1]); the inverse is its icdf and
    log |dy/dx| = log p(x).  (The probability integral transform, used for copulas.)"""

    bijective = True
    codomain = constraints.unit_interval
    sign = +1

    def __init__(self, distribution: Any, cache_size: int = 0) -> None:
        super().__init__(cache_size=cache_size)
        self.distribution = distribution

    @property
    def domain(self) -> constraints.Constraint:  # type: ignore[override]
        return self.distribution.support

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        return CumulativeDistributionTransform(self.distribution, cache_size=cache_size)

    def _call(self, x: Tensor) -> Tensor:
        return self.distribution.cdf(x)

    def _inverse(self, y: Tensor) -> Tensor:
        return self.distribution.icdf(y)

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        return self.distribution.log_prob(x)


class ReshapeTransform(Transform):
    """Reshapes the right-most ``in_shape`` dimensions into ``out_shape`` (the same number of
    elements); volume-preserving, so log |det J| = 0 (one per batch element)."""

    bijective = True

    def __init__(self, in_shape: Sequence[int], out_shape: Sequence[int], cache_size: int = 0) -> None:
        self.in_shape = tuple(int(s) for s in in_shape)
        self.out_shape = tuple(int(s) for s in out_shape)
        if math.prod(self.in_shape) != math.prod(self.out_shape):
            raise ValueError("in_shape, out_shape have different numbers of elements")
        super().__init__(cache_size=cache_size)

    @property
    def domain(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.independent(constraints.real, len(self.in_shape))

    @property
    def codomain(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.independent(constraints.real, len(self.out_shape))

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        return ReshapeTransform(self.in_shape, self.out_shape, cache_size=cache_size)

    def _call(self, x: Tensor) -> Tensor:
        batch = tuple(x.shape[: x.ndim - len(self.in_shape)])
        return x.reshape(*(batch + self.out_shape))

    def _inverse(self, y: Tensor) -> Tensor:
        batch = tuple(y.shape[: y.ndim - len(self.out_shape)])
        return y.reshape(*(batch + self.in_shape))

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        batch = tuple(x.shape[: x.ndim - len(self.in_shape)])
        return Tensor._wrap(np.zeros(batch, dtype=x.dtype))

    def forward_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        n = len(self.in_shape)
        if len(shape) < n or tuple(shape[len(shape) - n:]) != self.in_shape:
            raise ValueError(f"Shape mismatch: expected {tuple(shape[len(shape) - n:])} but got {self.in_shape}")
        return tuple(shape[: len(shape) - n]) + self.out_shape

    def inverse_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        n = len(self.out_shape)
        if len(shape) < n or tuple(shape[len(shape) - n:]) != self.out_shape:
            raise ValueError(f"Shape mismatch: expected {tuple(shape[len(shape) - n:])} but got {self.out_shape}")
        return tuple(shape[: len(shape) - n]) + self.in_shape


class PositiveDefiniteTransform(Transform):
    """Square matrices → positive definite ones: y = L Lᵀ with L = ``LowerCholeskyTransform``(x)
    (the upper triangle of x is dropped, so the map is not injective); the inverse is the
    lower-Cholesky transform's inverse of cholesky(y)."""

    domain = constraints.independent(constraints.real, 2)
    codomain = constraints.positive_definite

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PositiveDefiniteTransform)

    __hash__ = object.__hash__

    def _call(self, x: Tensor) -> Tensor:
        lower = LowerCholeskyTransform()(x)
        return lower @ lower.mT

    def _inverse(self, y: Tensor) -> Tensor:
        from chainrule.linalg import cholesky

        return LowerCholeskyTransform().inv(cholesky(y))


class CatTransform(Transform):
    """``tseq[i]`` applied to the i-th block of ``lengths[i]`` entries along ``dim`` (default
    lengths 1), the results concatenated; log |det J| likewise block by block (each summed over
    the event dimensions the others have), concatenated along ``dim`` or, when ``dim`` lies in
    the event, summed.  Each transform must keep its block's shape (as in PyTorch)."""

    def __init__(self, tseq: Sequence[Transform], dim: int = 0, lengths: Sequence[int] | None = None,
                 cache_size: int = 0) -> None:
        if cache_size:
            tseq = [t.with_cache(cache_size) for t in tseq]
        super().__init__(cache_size=cache_size)
        self.transforms = list(tseq)
        self.lengths = [1] * len(self.transforms) if lengths is None else [int(n) for n in lengths]
        if len(self.lengths) != len(self.transforms):
            raise ValueError(f"CatTransform: {len(self.transforms)} transforms but {len(self.lengths)} lengths")
        self.dim = dim

    @property
    def event_dim(self) -> int:
        return max(t.event_dim for t in self.transforms)

    @property
    def length(self) -> int:
        return sum(self.lengths)

    @property
    def bijective(self) -> bool:  # type: ignore[override]
        return all(t.bijective for t in self.transforms)

    @property
    def domain(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.cat([t.domain for t in self.transforms], self.dim, self.lengths)

    @property
    def codomain(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.cat([t.codomain for t in self.transforms], self.dim, self.lengths)

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        return CatTransform(self.transforms, self.dim, self.lengths, cache_size)

    def _blocks(self, x: Tensor) -> list[Tensor]:
        if x.shape[self.dim] != self.length:
            raise ValueError(f"CatTransform: expected {self.length} entries along dim {self.dim}, "
                             f"got shape {tuple(x.shape)}")
        blocks, start = [], 0
        for n in self.lengths:
            blocks.append(x.narrow(self.dim, start, n))
            start += n
        return blocks

    def _call(self, x: Tensor) -> Tensor:
        from chainrule.ops import cat

        return cat([t(b) for t, b in zip(self.transforms, self._blocks(x))], self.dim)

    def _inverse(self, y: Tensor) -> Tensor:
        from chainrule.ops import cat

        return cat([t.inv(b) for t, b in zip(self.transforms, self._blocks(y))], self.dim)

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        from chainrule.ops import cat

        event_dim = self.event_dim
        terms = [sum_rightmost(t.log_abs_det_jacobian(a, b), event_dim - t.event_dim)
                 for t, a, b in zip(self.transforms, self._blocks(x), self._blocks(y))]
        dim = self.dim - x.ndim if self.dim >= 0 else self.dim  # counted from the right
        dim += event_dim                                        # in the Jacobian terms' shape
        if dim < 0:
            return cat(terms, dim)
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        return total


class StackTransform(Transform):
    """``tseq[i]`` applied to the i-th slice along ``dim``, the results stacked (so is log |det J|)."""

    def __init__(self, tseq: Sequence[Transform], dim: int = 0, cache_size: int = 0) -> None:
        if cache_size:
            tseq = [t.with_cache(cache_size) for t in tseq]
        super().__init__(cache_size=cache_size)
        self.transforms = list(tseq)
        self.dim = dim

    @property
    def bijective(self) -> bool:  # type: ignore[override]
        return all(t.bijective for t in self.transforms)

    @property
    def domain(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.stack([t.domain for t in self.transforms], self.dim)

    @property
    def codomain(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.stack([t.codomain for t in self.transforms], self.dim)

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        return StackTransform(self.transforms, self.dim, cache_size)

    def _slices(self, x: Tensor) -> list[Tensor]:
        if x.shape[self.dim] != len(self.transforms):
            raise ValueError(f"StackTransform: expected {len(self.transforms)} slices along dim {self.dim}, "
                             f"got shape {tuple(x.shape)}")
        return [x.select(self.dim, i) for i in range(len(self.transforms))]

    def _call(self, x: Tensor) -> Tensor:
        from chainrule.ops import stack

        return stack([t(v) for t, v in zip(self.transforms, self._slices(x))], self.dim)

    def _inverse(self, y: Tensor) -> Tensor:
        from chainrule.ops import stack

        return stack([t.inv(v) for t, v in zip(self.transforms, self._slices(y))], self.dim)

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        from chainrule.ops import stack

        return stack([t.log_abs_det_jacobian(a, b)
                      for t, a, b in zip(self.transforms, self._slices(x), self._slices(y))], self.dim)


def _triangular_side(size: int) -> int:
    """n with n(n − 1)/2 = size, or ValueError."""
    n = int(round((1 + math.sqrt(1 + 8 * size)) / 2))
    if n * (n - 1) // 2 != size:
        raise ValueError(f"CorrCholeskyTransform: the last dimension ({size}) is not n(n − 1)/2 for an integer n")
    return n


class CorrCholeskyTransform(Transform):
    r"""Reals (…, n(n − 1)/2) → the Cholesky factors L (…, n, n) of n × n correlation matrices.

    The vector fills the strict lower triangle row by row as partial correlations r = tanh x;
    row i of L is then wᵢⱼ = rᵢⱼ Πₖ₍ₖ<ⱼ₎ √(1 − rᵢₖ²) and wᵢᵢ = Πₖ₍ₖ<ᵢ₎ √(1 − rᵢₖ²), so every row has
    unit length (stick breaking on the squared lengths).  Within a row ∂wᵢⱼ/∂rᵢₖ vanishes for k > j,
    so log |det J| = Σᵢ₍>ₖ₎ ((i − k + 1)/2) log(1 − rᵢₖ²), with log(1 − tanh² x) =
    2(log 2 − x − softplus(−2x)).  A bijection: ``biject_to(corr_cholesky)`` returns it.
    """

    domain = constraints.real_vector
    codomain = constraints.corr_cholesky
    bijective = True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CorrCholeskyTransform)

    __hash__ = object.__hash__

    @staticmethod
    def _layout(n: int, dtype: Any) -> tuple[Tensor, np.ndarray, np.ndarray]:
        """The 0/1 matrix that places the vector in the strict lower triangle (size × n²),
        and the row and column of each vector entry."""
        rows, cols = np.tril_indices(n, -1)
        place = np.zeros((rows.size, n * n), dtype=dtype)
        place[np.arange(rows.size), rows * n + cols] = 1
        return Tensor._wrap(place), rows, cols

    def _call(self, x: Tensor) -> Tensor:
        n = _triangular_side(x.shape[-1])
        place, _, _ = self._layout(n, x.dtype)
        batch = tuple(x.shape[:-1])
        r = (x.tanh() @ place).reshape(*(batch + (n, n)))               # strict lower triangle
        log_rest = (-r.pow(2)).log1p()                                   # log(1 − rᵢₖ²), 0 elsewhere
        before = log_rest.cumsum(-1) - log_rest                          # Σₖ₍ₖ<ⱼ₎ log(1 − rᵢₖ²)
        eye = Tensor._wrap(np.eye(n, dtype=x.dtype))
        return (r + eye) * (0.5 * before).exp() * Tensor._wrap(np.tril(np.ones((n, n), dtype=x.dtype)))

    def _inverse(self, y: Tensor) -> Tensor:
        n = y.shape[-1]
        _, rows, cols = self._layout(n, y.dtype)
        sq = y.pow(2)
        before = sq.cumsum(-1) - sq                                      # Σₖ₍ₖ<ⱼ₎ wᵢₖ²
        info = np.finfo(y.dtype)
        left = (1 - before).clamp(min=float(info.tiny))
        r = (y / left.sqrt()).reshape(*(tuple(y.shape[:-2]) + (n * n,)))[..., rows * n + cols]
        r = r.clamp(min=-1 + float(info.eps), max=1 - float(info.eps))
        return 0.5 * (r.log1p() - (-r).log1p())

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        n = _triangular_side(x.shape[-1])
        _, rows, cols = self._layout(n, x.dtype)
        weight = Tensor._wrap(((rows - cols + 1) / 2).astype(x.dtype))
        log_1m_r2 = 2.0 * (math.log(2.0) - x - _softplus(-2.0 * x))
        return (weight * log_1m_r2).sum(-1)

    def forward_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        if len(shape) < 1:
            raise ValueError("CorrCholeskyTransform: too few dimensions on input")
        n = _triangular_side(shape[-1])
        return tuple(shape[:-1]) + (n, n)

    def inverse_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        if len(shape) < 2 or shape[-1] != shape[-2]:
            raise ValueError("CorrCholeskyTransform: expected square matrices")
        n = shape[-1]
        return tuple(shape[:-2]) + (n * (n - 1) // 2,)
