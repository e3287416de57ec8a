"""The von Mises distribution on the circle."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.backend.random import default_generator
from chainrule.distributions import constraints
from chainrule.distributions.distribution import Distribution, broadcast_all

__all__ = ["VonMises"]

def _log_i(order: int, x: Tensor) -> Tensor:
    """log Iₙ(κ), n = 0 or 1, without overflow: log(e^(−κ) Iₙ(κ)) + κ, from the scaled
    ``special.i0e``/``i1e`` (κ > 0), differentiable through them."""
    from chainrule import special

    return (special.i0e(x) if order == 0 else special.i1e(x)).log() + x


def _sample_angles(kappa: np.ndarray, gen: np.random.Generator) -> np.ndarray:
    """Angles θ ∈ [−π, π] from VonMises(0, κ) by Best and Fisher's (1979) rejection sampler, float64.

    With s = √(1 + 4κ²), a = 1 + s, b = 2aκ / ((s + 1)(a + √(2a))) (the usual
    (a − √(2a))/(2κ), rewritten without the cancellation at small κ) and r = (1 + b²)/(2b):
    z = cos πu₁, f = (1 + rz)/(r + z), c = κ(r − f); accept when c(2 − c) > u₂ or
    log(c/u₂) + 1 ≥ c; then θ = ±arccos f.
    """
    k = kappa.ravel().astype(np.float64)
    s = np.sqrt(1 + 4 * k * k)
    a = 1 + s
    b = 2 * a * k / ((s + 1) * (a + np.sqrt(2 * a)))
    r = (1 + b * b) / (2 * b)
    out = np.empty(k.shape)
    todo = np.arange(k.size)
    while todo.size:
        u1, u2, u3 = gen.random((3, todo.size))
        z = np.cos(np.pi * u1)
        rr, kk = r[todo], k[todo]
        f = (1 + rr * z) / (rr + z)
        c = kk * (rr - f)
        with np.errstate(divide="ignore", invalid="ignore"):
            accept = (c * (2 - c) - u2 > 0) | (np.log(c / u2) + 1 - c >= 0)
        theta = np.sign(u3 - 0.5) * np.arccos(np.clip(f, -1.0, 1.0))
        out[todo[accept]] = theta[accept]
        todo = todo[~accept]
    return out.reshape(kappa.shape)


class VonMises(Distribution):
    r"""The von Mises (circular normal) distribution on angles, ``loc`` μ and ``concentration`` κ > 0.

    log p(x) = κ cos(x − μ) − log 2π − log I₀(κ) (I₀ the modified Bessel function, taken in
    logs so that large κ does not overflow); mean and mode μ; ``variance`` is the circular
    variance 1 − I₁(κ)/I₀(κ).  Samples lie in [μ − π, μ + π] wrapped to [−π, π); not
    reparameterised (``sample`` only), as in PyTorch.
    """

    arg_constraints = {"loc": constraints.real, "concentration": constraints.positive}
    support = constraints.real
    has_rsample = False

    def __init__(self, loc: Tensor | float, concentration: Tensor | float, validate_args: bool | None = None) -> None:
        self.loc, self.concentration = broadcast_all(loc, concentration)
        super().__init__(self.loc.shape, (), validate_args)

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        k = self.concentration
        return 1 - (_log_i(1, k) - _log_i(0, k)).exp()

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        k = self.concentration
        return k * (value - self.loc).cos() - math.log(2 * math.pi) - _log_i(0, k)

    def sample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        kappa = np.broadcast_to(self.concentration._array, shape)
        theta = _sample_angles(kappa, default_generator())
        x = np.broadcast_to(self.loc._array, shape).astype(np.float64) + theta
        wrapped = np.mod(x + np.pi, 2 * np.pi) - np.pi
        return Tensor._wrap(wrapped.astype(self.loc.dtype))
