"""Distributions built from others: Independent, TransformedDistribution, LogNormal."""

from __future__ import annotations

import math
from typing import Any, Sequence

from chainrule.autograd.grad_mode import no_grad
from chainrule.autograd.tensor import Tensor
from chainrule.distributions import constraints
from chainrule.distributions.distribution import Distribution, _shape
from chainrule.distributions.normal import Normal
from chainrule.distributions.transforms import AbsTransform, ComposeTransform, ExpTransform, Transform
from chainrule.distributions.utils import constant, sum_rightmost, where_mask

__all__ = ["Independent", "TransformedDistribution", "LogNormal", "HalfNormal", "HalfCauchy", "LogisticNormal"]


class Independent(Distribution):
    r"""``base_distribution`` with its ``reinterpreted_batch_ndims`` right-most batch dimensions
    read as event dimensions.

    With base batch shape b + r (len r = n) and event shape e: batch_shape b, event_shape r + e,
    and log p(x) = Σ over those n dimensions of the base log p (likewise ``entropy``).  So
    ``Independent(Normal(mu, sigma), 1)`` is a diagonal Gaussian over vectors.
    """

    arg_constraints: dict[str, constraints.Constraint] = {}

    def __init__(self, base_distribution: Distribution, reinterpreted_batch_ndims: int,
                 validate_args: bool | None = None) -> None:
        n = int(reinterpreted_batch_ndims)
        shape = base_distribution.batch_shape + base_distribution.event_shape
        event_dim = n + len(base_distribution.event_shape)
        if n < 0 or n > len(base_distribution.batch_shape):
            raise ValueError(
                "Expected reinterpreted_batch_ndims <= len(base_distribution.batch_shape), "
                f"actual {n} vs {len(base_distribution.batch_shape)}"
            )
        self.base_dist = base_distribution
        self.reinterpreted_batch_ndims = n
        cut = len(shape) - event_dim
        super().__init__(shape[:cut], shape[cut:], validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Distribution | None = None) -> Independent:
        batch_shape = _shape(batch_shape, "Independent.expand")
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        n = self.reinterpreted_batch_ndims
        new.base_dist = self.base_dist.expand(batch_shape + self._event_shape[:n])
        new._batch_shape = batch_shape
        return new

    @property
    def has_rsample(self) -> bool:  # type: ignore[override]
        return self.base_dist.has_rsample

    @property
    def has_enumerate_support(self) -> bool:  # type: ignore[override]
        return False if self.reinterpreted_batch_ndims > 0 else self.base_dist.has_enumerate_support

    @property
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        base = self.base_dist.support
        if base is None:
            raise NotImplementedError("Independent: the base distribution has no support")
        n = self.reinterpreted_batch_ndims
        return constraints.independent(base, n) if n else base

    @property
    def mean(self) -> Tensor:
        return self.base_dist.mean

    @property
    def mode(self) -> Tensor:
        return self.base_dist.mode

    @property
    def variance(self) -> Tensor:
        return self.base_dist.variance

    def sample(self, sample_shape: Any = ()) -> Tensor:
        return self.base_dist.sample(sample_shape)

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        return self.base_dist.rsample(sample_shape)

    def log_prob(self, value: Tensor) -> Tensor:
        return sum_rightmost(self.base_dist.log_prob(value), self.reinterpreted_batch_ndims)

    def entropy(self) -> Tensor:
        return sum_rightmost(self.base_dist.entropy(), self.reinterpreted_batch_ndims)

    def enumerate_support(self, expand: bool = True) -> Tensor:
        if self.reinterpreted_batch_ndims > 0:
            raise NotImplementedError("Enumeration over cartesian product is not implemented")
        return self.base_dist.enumerate_support(expand=expand)

    def __repr__(self) -> str:
        return f"Independent({self.base_dist!r}, {self.reinterpreted_batch_ndims})"


class TransformedDistribution(Distribution):
    r"""Y = t(X) for X ~ ``base_distribution`` and t the ``transforms`` applied in order.

    log p_Y(y) = log p_X(x) − Σₜ log |det ∂t/∂x| with x = t⁻¹(y) (each transform's term summed
    over the event dimensions it does not already cover).  ``sample``/``rsample`` push base draws
    through the transforms; ``cdf``/``icdf`` exist when every transform is monotone elementwise.
    """

    arg_constraints: dict[str, constraints.Constraint] = {}

    def __init__(self, base_distribution: Distribution, transforms: Transform | Sequence[Transform],
                 validate_args: bool | None = None) -> None:
        if isinstance(transforms, Transform):
            self.transforms = [transforms]
        elif isinstance(transforms, (list, tuple)) and all(isinstance(t, Transform) for t in transforms):
            self.transforms = list(transforms)
        else:
            raise ValueError(f"transforms must be a Transform or a list of Transforms, but was {transforms}")
        base_shape = base_distribution.batch_shape + base_distribution.event_shape
        base_event_dim = len(base_distribution.event_shape)
        transform = ComposeTransform(self.transforms)
        if len(base_shape) < transform.domain.event_dim:
            raise ValueError(
                f"base_distribution needs to have shape with size at least {transform.domain.event_dim}, "
                f"but got {base_shape}."
            )
        forward_shape = transform.forward_shape(base_shape)
        expanded_base_shape = transform.inverse_shape(forward_shape)
        if base_shape != expanded_base_shape:
            base_batch = expanded_base_shape[: len(expanded_base_shape) - base_event_dim]
            base_distribution = base_distribution.expand(base_batch)
        reinterpreted = transform.domain.event_dim - base_event_dim
        if reinterpreted > 0:
            base_distribution = Independent(base_distribution, reinterpreted)
        self.base_dist = base_distribution
        event_dim = transform.codomain.event_dim + max(base_event_dim - transform.domain.event_dim, 0)
        cut = len(forward_shape) - event_dim
        super().__init__(forward_shape[:cut], forward_shape[cut:], validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Distribution | None = None) -> TransformedDistribution:
        batch_shape = _shape(batch_shape, f"{type(self).__name__}.expand")
        new: Any = type(self).__new__(type(self)) if _instance is None else _instance
        new.__dict__.update(self.__dict__)
        shape = batch_shape + self._event_shape
        for t in reversed(self.transforms):
            shape = t.inverse_shape(shape)
        base_batch = shape[: len(shape) - len(self.base_dist.event_shape)]
        new.base_dist = self.base_dist.expand(base_batch)
        new._batch_shape = batch_shape
        return new

    @property
    def has_rsample(self) -> bool:  # type: ignore[override]
        return self.base_dist.has_rsample

    @property
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        if not self.transforms:
            return self.base_dist.support  # type: ignore[return-value]
        support = self.transforms[-1].codomain
        if len(self._event_shape) > support.event_dim:
            support = constraints.independent(support, len(self._event_shape) - support.event_dim)
        return support

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        x = self.base_dist.rsample(sample_shape)
        for t in self.transforms:
            x = t(x)
        return x

    def sample(self, sample_shape: Any = ()) -> Tensor:
        with no_grad():
            x = self.base_dist.sample(sample_shape)
            for t in self.transforms:
                x = t(x)
            return x

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        event_dim = len(self._event_shape)
        total: Any = 0.0
        y = value
        for t in reversed(self.transforms):
            x = t.inv(y)
            event_dim += t.domain.event_dim - t.codomain.event_dim
            total = total - sum_rightmost(t.log_abs_det_jacobian(x, y), event_dim - t.domain.event_dim)
            y = x
        return total + sum_rightmost(self.base_dist.log_prob(y), event_dim - len(self.base_dist.event_shape))

    def _monotonize(self, value: Tensor) -> Tensor:
        """p for an increasing composition, 1 − p for a decreasing one (elementwise signs allowed)."""
        sign: Any = 1
        for t in self.transforms:
            sign = sign * t.sign
        if isinstance(sign, int) and sign == 1:
            return value
        return sign * (value - 0.5) + 0.5

    def cdf(self, value: Tensor) -> Tensor:
        """F_X(t⁻¹(y)) for increasing t, 1 − F_X(t⁻¹(y)) for decreasing t."""
        for t in reversed(self.transforms):
            value = t.inv(value)
        return self._monotonize(self.base_dist.cdf(value))

    def icdf(self, value: Tensor) -> Tensor:
        """t(F_X⁻¹(p)) (with 1 − p for decreasing t)."""
        x = self.base_dist.icdf(self._monotonize(value))
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class LogNormal(TransformedDistribution):
    r"""X = e^Y with Y ~ N(μ, σ²) (``loc`` μ, ``scale`` σ > 0), on x > 0.

    log p(x) = −(log x − μ)²/(2σ²) − log σ − ½ log 2π − log x;  H = ½ + ½ log 2π + log σ + μ;
    mean e^{μ + σ²/2}, variance (e^{σ²} − 1) e^{2μ + σ²}, mode e^{μ − σ²}.
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.positive
    has_rsample = True

    def __init__(self, loc: Tensor | float, scale: Tensor | float, validate_args: bool | None = None) -> None:
        base = Normal(loc, scale, validate_args=validate_args)
        super().__init__(base, ExpTransform(), validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Distribution | None = None) -> LogNormal:
        return super().expand(batch_shape, _instance)  # type: ignore[return-value]

    @property
    def loc(self) -> Tensor:
        return self.base_dist.loc  # type: ignore[attr-defined]

    @property
    def scale(self) -> Tensor:
        return self.base_dist.scale  # type: ignore[attr-defined]

    @property
    def mean(self) -> Tensor:
        return (self.loc + self.scale.pow(2) / 2).exp()

    @property
    def mode(self) -> Tensor:
        return (self.loc - self.scale.pow(2)).exp()

    @property
    def variance(self) -> Tensor:
        s2 = self.scale.pow(2)
        return s2.expm1() * (2 * self.loc + s2).exp()

    def entropy(self) -> Tensor:
        return self.base_dist.entropy() + self.loc

    def __repr__(self) -> str:
        return f"LogNormal({self.base_dist!r})"


class _Folded(TransformedDistribution):
    """|X| for X of a distribution symmetric about 0 with scale ``scale`` (HalfNormal, HalfCauchy):
    on x ≥ 0 the density and the cdf are folded, p(x) = 2 p_X(x), F(x) = 2 F_X(x) − 1, and
    H = H_X − log 2; the mode is 0."""

    arg_constraints = {"scale": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, base: Distribution, validate_args: bool | None = None) -> None:
        super().__init__(base, AbsTransform(), validate_args=validate_args)

    @property
    def scale(self) -> Tensor:
        return self.base_dist.scale  # type: ignore[attr-defined]

    @property
    def mode(self) -> Tensor:
        return constant(0.0, self.scale, self.scale.shape)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return _fold(self.base_dist.log_prob(value), value)

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value, "cdf")
        return 2 * self.base_dist.cdf(value) - 1

    def icdf(self, prob: Tensor) -> Tensor:
        return self.base_dist.icdf((prob + 1) / 2)

    def entropy(self) -> Tensor:
        return self.base_dist.entropy() - math.log(2)


class HalfNormal(_Folded):
    r"""|X| with X ~ N(0, σ²) (``scale`` σ > 0), on x ≥ 0.

    log p(x) = log 2 − x²/(2σ²) − log σ − ½ log 2π;  F(x) = 2Φ(x/σ) − 1;
    H = ½ log(πσ²/2) + ½;  mean σ√(2/π), variance σ²(1 − 2/π), mode 0.
    """

    def __init__(self, scale: Tensor | float, validate_args: bool | None = None) -> None:
        super().__init__(Normal(0.0, scale, validate_args=validate_args), validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return self.scale * math.sqrt(2 / math.pi)

    @property
    def variance(self) -> Tensor:
        return self.scale.pow(2) * (1 - 2 / math.pi)


class HalfCauchy(_Folded):
    r"""|X| with X ~ Cauchy(0, γ) (``scale`` γ > 0), on x ≥ 0.

    log p(x) = log 2 − log πγ − log(1 + (x/γ)²);  F(x) = 2 atan(x/γ)/π;  H = log 2πγ;
    mean and variance ∞, mode 0.
    """

    def __init__(self, scale: Tensor | float, validate_args: bool | None = None) -> None:
        from chainrule.distributions.continuous import Cauchy

        super().__init__(Cauchy(0.0, scale, validate_args=validate_args), validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return constant(math.inf, self.scale, self.scale.shape)

    @property
    def variance(self) -> Tensor:
        return constant(math.inf, self.scale, self.scale.shape)


def _fold(base_log_prob: Tensor, value: Tensor) -> Tensor:
    """log 2 + the symmetric base's log density where x ≥ 0, −∞ where x < 0."""
    lp = base_log_prob + math.log(2)
    negative = value._array < 0
    if not negative.any():
        return lp
    return where_mask(negative, constant(-math.inf, lp, ()), lp)


class LogisticNormal(TransformedDistribution):
    r"""A point of the simplex (…, k + 1) from a Gaussian in k dimensions: StickBreaking(X) with X
    ~ N(``loc``, diag(``scale``²)) over the last dimension (the base is ``Independent(Normal, 1)``).

    log p(y) = log N(x; μ, σ²) − log |det ∂y/∂x|, x the stick-breaking inverse of y.
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, loc: Tensor | float, scale: Tensor | float, validate_args: bool | None = None) -> None:
        from chainrule.distributions.transforms import StickBreakingTransform

        base: Distribution = Normal(loc, scale, validate_args=validate_args)
        if not base.batch_shape:
            base = base.expand((1,))
        super().__init__(Independent(base, 1), StickBreakingTransform(), validate_args=validate_args)

    @property
    def loc(self) -> Tensor:
        return self.base_dist.base_dist.loc  # type: ignore[attr-defined]

    @property
    def scale(self) -> Tensor:
        return self.base_dist.base_dist.scale  # type: ignore[attr-defined]
