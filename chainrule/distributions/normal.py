"""The normal (Gaussian) and the continuous uniform distributions."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.distributions import constraints
from chainrule.distributions.distribution import _LOG_SQRT_2PI, Distribution, broadcast_all
from chainrule.distributions.exp_family import ExponentialFamily
from chainrule.distributions.location_scale import LocationScale
from chainrule.distributions.utils import standard_normal, uniform

__all__ = ["Normal", "Uniform"]


class Normal(LocationScale, ExponentialFamily):
    r"""N(μ, σ²) with ``loc`` μ and ``scale`` σ > 0 (broadcast together to the batch shape).

    log p(x) = −(x − μ)² / (2σ²) − log σ − ½ log 2π;  H = ½ + ½ log 2π + log σ.
    ``rsample`` is the reparameterisation x = μ + σ ε, ε ~ N(0, 1), differentiable in μ and σ.
    """

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def stddev(self) -> Tensor:
        return self.scale

    @property
    def variance(self) -> Tensor:
        return self.scale**2

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        return self.loc + standard_normal(shape, self.loc.dtype) * self.scale

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return -((value - self.loc) ** 2) / (2 * self.variance) - self.scale.log() - _LOG_SQRT_2PI

    def cdf(self, value: Tensor) -> Tensor:
        """Φ((x − μ)/σ) = ½ (1 + erf((x − μ)/(σ√2)))."""
        from chainrule.ops import erf

        if self._validate_args:
            self._validate_sample(value, "cdf")
        return 0.5 * (1 + erf((value - self.loc) / (self.scale * math.sqrt(2))))

    def icdf(self, value: Tensor) -> Tensor:
        """μ + σ√2 erf⁻¹(2p − 1)."""
        from chainrule.ops import erfinv

        return self.loc + self.scale * erfinv(2 * value - 1) * math.sqrt(2)

    def entropy(self) -> Tensor:
        return 0.5 + _LOG_SQRT_2PI + self.scale.log()

    @property
    def _natural_params(self) -> tuple[Tensor, ...]:
        """(μ/σ², −1/(2σ²)), with T(x) = (x, x²)."""
        return self.loc / self.scale.pow(2), -0.5 * self.scale.pow(-2)

    def _log_normalizer(self, *eta: Tensor) -> Tensor:
        """A(η) = −η₁²/(4η₂) + ½ log(−π/η₂)."""
        return -0.25 * eta[0].pow(2) / eta[1] + 0.5 * (-math.pi / eta[1]).log()

    @property
    def _mean_carrier_measure(self) -> float:
        return 0.0


class Uniform(Distribution):
    r"""The uniform distribution on [``low``, ``high``) (broadcast together to the batch shape).

    log p(x) = −log(high − low) inside, −∞ outside;  H = log(high − low);
    mean (low + high) / 2, variance (high − low)² / 12.  ``rsample`` is
    low + (high − low) u, u ~ U[0, 1), differentiable in both bounds.
    """

    arg_constraints = {"low": constraints.real, "high": constraints.real}
    has_rsample = True

    def __init__(self, low: Tensor | float, high: Tensor | float, validate_args: bool | None = None) -> None:
        self.low, self.high = broadcast_all(low, high)
        super().__init__(self.low.shape, (), validate_args)
        if self._validate_args and not (self.low._array < self.high._array).all():
            raise ValueError(
                f"Uniform: expected low < high everywhere, got low={self.low} and high={self.high}"
            )

    @property
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.half_open_interval(self.low, self.high)

    @property
    def mean(self) -> Tensor:
        return (self.high + self.low) / 2

    @property
    def mode(self) -> Tensor:
        return (self.high * math.nan).detach()

    @property
    def stddev(self) -> Tensor:
        return (self.high - self.low) / 12**0.5

    @property
    def variance(self) -> Tensor:
        return (self.high - self.low) ** 2 / 12

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        return self.low + uniform(shape, self.low.dtype) * (self.high - self.low)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        # log 1 = 0 inside the support, log 0 = −∞ outside (a constant: no gradient, no warning)
        inside = (self.low._array <= value._array) & (value._array < self.high._array)
        log_inside = Tensor._wrap(np.where(inside, 0.0, -np.inf).astype(self.low.dtype))
        return log_inside - (self.high - self.low).log()

    def cdf(self, value: Tensor) -> Tensor:
        """(x − low) / (high − low), clamped to [0, 1]."""
        if self._validate_args:
            self._validate_sample(value, "cdf")
        return ((value - self.low) / (self.high - self.low)).clamp(min=0, max=1)

    def icdf(self, value: Tensor) -> Tensor:
        """low + p (high − low)."""
        return value * (self.high - self.low) + self.low

    def entropy(self) -> Tensor:
        return (self.high - self.low).log()
