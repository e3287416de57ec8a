"""The multivariate normal distribution, parameterised by its Cholesky factor."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.distributions import constraints
from chainrule.distributions.distribution import Distribution, _shape
from chainrule.distributions.utils import lazy_property, standard_normal

__all__ = ["MultivariateNormal"]


def _expand(t: Tensor, shape: tuple[int, ...]) -> Tensor:
    return t if t.shape == shape else t.expand(*shape)


def _solve_lower(L: Tensor, b: Tensor) -> Tensor:
    """L⁻¹ b for lower-triangular L (..., d, d) and b (..., d), batch dimensions broadcast."""
    from chainrule.linalg import solve_triangular

    batch = np.broadcast_shapes(L.shape[:-2], b.shape[:-1])
    d = L.shape[-1]
    x = solve_triangular(_expand(L, batch + (d, d)), _expand(b, batch + (d,)).unsqueeze(-1), upper=False)
    return x.squeeze(-1)


def _half_log_det(L: Tensor) -> Tensor:
    """½ log det(L Lᵀ) = Σ log Lᵢᵢ."""
    return L.diagonal(dim1=-2, dim2=-1).log().sum(-1)


class MultivariateNormal(Distribution):
    r"""N(μ, Σ) over vectors of length d: ``loc`` μ (..., d) and exactly one of
    ``covariance_matrix`` Σ, ``precision_matrix`` Σ⁻¹ (both (..., d, d), positive definite) or
    ``scale_tril`` L (lower triangular, positive diagonal, Σ = L Lᵀ).

    log p(x) = −½ (d log 2π + ‖L⁻¹(x − μ)‖²) − Σᵢ log Lᵢᵢ;  H = ½ d (1 + log 2π) + Σᵢ log Lᵢᵢ.
    batch_shape broadcasts loc's leading dimensions with the matrix's; event_shape (d,).
    ``rsample`` is μ + L ε, ε ~ N(0, I).
    """

    arg_constraints = {"loc": constraints.real_vector, "covariance_matrix": constraints.positive_definite,
                       "precision_matrix": constraints.positive_definite, "scale_tril": constraints.lower_cholesky}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc: Tensor, covariance_matrix: Tensor | None = None, precision_matrix: Tensor | None = None,
                 scale_tril: Tensor | None = None, validate_args: bool | None = None) -> None:
        if not isinstance(loc, Tensor) or loc.ndim < 1:
            raise ValueError("MultivariateNormal: loc must be at least one-dimensional.")
        given = [m for m in (covariance_matrix, precision_matrix, scale_tril) if m is not None]
        if len(given) != 1:
            raise ValueError("Exactly one of covariance_matrix or precision_matrix or scale_tril may be specified.")
        matrix = given[0]
        if matrix.ndim < 2:
            raise ValueError("MultivariateNormal: the matrix argument must be at least two-dimensional, "
                             f"with optional leading batch dimensions; got shape {tuple(matrix.shape)}")
        if matrix.shape[-1] != matrix.shape[-2] or matrix.shape[-1] != loc.shape[-1]:
            raise ValueError(f"MultivariateNormal: loc of shape {tuple(loc.shape)} and a matrix of shape "
                             f"{tuple(matrix.shape)} do not fit (expected (..., d) and (..., d, d))")
        d = loc.shape[-1]
        batch = tuple(np.broadcast_shapes(matrix.shape[:-2], loc.shape[:-1]))
        self.loc = _expand(loc, batch + (d,))
        if scale_tril is not None:
            self.scale_tril = _expand(scale_tril, batch + (d, d))
        elif covariance_matrix is not None:
            self.covariance_matrix = _expand(covariance_matrix, batch + (d, d))
        else:
            assert precision_matrix is not None
            self.precision_matrix = _expand(precision_matrix, batch + (d, d))
        super().__init__(batch, (d,), validate_args)

    @lazy_property
    def scale_tril(self) -> Tensor:
        """L, the lower Cholesky factor of Σ."""
        from chainrule.linalg import cholesky, inv

        if "covariance_matrix" in self.__dict__:
            return cholesky(self.covariance_matrix)
        return cholesky(inv(self.precision_matrix))

    @lazy_property
    def covariance_matrix(self) -> Tensor:
        """Σ = L Lᵀ."""
        L = self.scale_tril
        return L @ L.mT

    @lazy_property
    def precision_matrix(self) -> Tensor:
        """Σ⁻¹ = L⁻ᵀ L⁻¹."""
        from chainrule.linalg import inv

        L_inv = inv(self.scale_tril)
        return L_inv.mT @ L_inv

    def expand(self, batch_shape: Sequence[int], _instance: Distribution | None = None) -> MultivariateNormal:
        batch_shape = _shape(batch_shape, "MultivariateNormal.expand")
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        d = self._event_shape[0]
        new.loc = self.loc.expand(*(batch_shape + (d,)))
        for name in ("scale_tril", "covariance_matrix", "precision_matrix"):
            if name in self.__dict__:
                new.__dict__[name] = self.__dict__[name].expand(*(batch_shape + (d, d)))
        new._batch_shape = batch_shape
        return new

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        """The diagonal of Σ: Σⱼ Lᵢⱼ²."""
        return self.scale_tril.pow(2).sum(-1)

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        eps = standard_normal(shape, self.loc.dtype)
        return self.loc + (self.scale_tril @ eps.unsqueeze(-1)).squeeze(-1)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        d = self._event_shape[0]
        z = _solve_lower(self.scale_tril, value - self.loc)
        maha = z.pow(2).sum(-1)
        return -0.5 * (d * math.log(2 * math.pi) + maha) - _half_log_det(self.scale_tril)

    def entropy(self) -> Tensor:
        d = self._event_shape[0]
        return 0.5 * d * (1.0 + math.log(2 * math.pi)) + _half_log_det(self.scale_tril)

    def __repr__(self) -> str:
        return f"MultivariateNormal(loc: Size({list(self.loc.shape)}))"
