"""The location-scale families on the real line: their shared parameters, shapes and mode."""

from __future__ import annotations

from chainrule.autograd.tensor import Tensor
from chainrule.distributions import constraints
from chainrule.distributions.distribution import Distribution, broadcast_all

__all__ = ["LocationScale"]


class LocationScale(Distribution):
    r"""x = μ + σ z on the real line, ``loc`` μ and ``scale`` σ > 0 broadcast together to the
    batch shape (scalar events), z drawn from a fixed standard law whose mode is 0, so that the
    mode of x is μ.  Reparameterised: ``rsample`` moves a draw of z.

    The base of Normal, Laplace, Cauchy and Gumbel, which give their law's density, cdf,
    moments and sampling.
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc: Tensor | float, scale: Tensor | float, validate_args: bool | None = None) -> None:
        self.loc, self.scale = broadcast_all(loc, scale)
        super().__init__(self.loc.shape, (), validate_args)

    @property
    def mode(self) -> Tensor:
        return self.loc
