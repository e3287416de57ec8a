"""The Wishart distribution over positive definite matrices."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.distributions import constraints
from chainrule.distributions.distribution import Distribution, _shape, broadcast_all
from chainrule.distributions.multivariate_normal import CovarianceForms, _expand, _half_log_det
from chainrule.distributions.utils import constant, digamma, standard_gamma, standard_normal, where_mask

__all__ = ["Wishart"]


def _mvdigamma(a: Tensor, p: int) -> Tensor:
    """ψ_p(a) = Σᵢ₌₀^{p−1} ψ(a − i/2), the derivative of log Γ_p."""
    offsets = Tensor._wrap(np.arange(p, dtype=a.dtype) / 2)
    return digamma(a.unsqueeze(-1) - offsets).sum(-1)


class Wishart(CovarianceForms, Distribution):
    r"""Wishart(ν, Σ) over p × p positive definite matrices: ``df`` ν > p − 1 and exactly one of
    ``covariance_matrix`` Σ, ``precision_matrix`` Σ⁻¹ or ``scale_tril`` L (Σ = L Lᵀ).

    log p(X) = ((ν − p − 1)/2) log|X| − tr(Σ⁻¹X)/2 − (νp/2) log 2 − (ν/2) log|Σ| − log Γ_p(ν/2);
    H = ((p + 1)/2) log|Σ| + (p(p + 1)/2) log 2 + log Γ_p(ν/2) − ((ν − p − 1)/2) ψ_p(ν/2) + νp/2;
    mean νΣ, mode (ν − p − 1)Σ (nan for ν ≤ p + 1), variance ν(Σᵢⱼ² + ΣᵢᵢΣⱼⱼ).
    ``rsample`` is Bartlett's decomposition L A Aᵀ Lᵀ, A lower triangular with Aᵢᵢ² ~ χ²(ν − i)
    (implicitly reparameterised Gamma draws) and N(0, 1) entries below the diagonal.
    batch_shape broadcasts ν with the matrix's leading dimensions; event_shape (p, p).
    """

    support = constraints.positive_definite
    has_rsample = True

    def __init__(self, df: Tensor | float, covariance_matrix: Tensor | None = None,
                 precision_matrix: Tensor | None = None, scale_tril: Tensor | None = None,
                 validate_args: bool | None = None) -> None:
        matrix = self._the_given_form(covariance_matrix, precision_matrix, scale_tril)
        if matrix.ndim < 2 or matrix.shape[-1] != matrix.shape[-2]:
            raise ValueError("scale_tril/covariance_matrix/precision_matrix must be square matrices with optional "
                             f"leading batch dimensions, got shape {tuple(matrix.shape)}")
        p = matrix.shape[-1]
        (df,) = broadcast_all(df) if not isinstance(df, Tensor) else (df,)
        df = df.to(matrix.dtype) if df.dtype != matrix.dtype else df
        batch = tuple(np.broadcast_shapes(df.shape, matrix.shape[:-2]))
        self.df = _expand(df, batch)
        self._keep_given_form(covariance_matrix, precision_matrix, scale_tril, batch + (p, p))
        super().__init__(batch, (p, p), validate_args)

    @property
    def arg_constraints(self) -> dict[str, constraints.Constraint]:  # type: ignore[override]
        p = self._event_shape[-1] if hasattr(self, "_event_shape") else self._p()
        return {"covariance_matrix": constraints.positive_definite,
                "precision_matrix": constraints.positive_definite,
                "scale_tril": constraints.lower_cholesky,
                "df": constraints.greater_than(p - 1)}

    def _p(self) -> int:
        for name in ("scale_tril", "covariance_matrix", "precision_matrix"):
            if name in self.__dict__:
                return int(self.__dict__[name].shape[-1])
        raise AttributeError("Wishart: no matrix parameter")

    def expand(self, batch_shape: Sequence[int], _instance: Distribution | None = None) -> Wishart:
        batch_shape = _shape(batch_shape, "Wishart.expand")
        p = self._event_shape[-1]
        new = Wishart(self.df.expand(*batch_shape), scale_tril=self.scale_tril.expand(*(batch_shape + (p, p))),
                      validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _df_matrix(self) -> Tensor:
        return self.df.reshape(*(self._batch_shape + (1, 1)))

    @property
    def mean(self) -> Tensor:
        return self._df_matrix() * self.covariance_matrix

    @property
    def mode(self) -> Tensor:
        factor = self.df - self._event_shape[-1] - 1
        factor = where_mask(factor._array <= 0, constant(math.nan, factor, factor.shape), factor)
        return factor.reshape(*(self._batch_shape + (1, 1))) * self.covariance_matrix

    @property
    def variance(self) -> Tensor:
        cov = self.covariance_matrix
        diag = cov.diagonal(dim1=-2, dim2=-1)
        return self._df_matrix() * (cov.pow(2) + diag.unsqueeze(-1) * diag.unsqueeze(-2))

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        from chainrule.ops import diag_embed, tril

        shape = self._extended_shape(sample_shape)      # sample + batch + (p, p)
        p = self._event_shape[-1]
        lead = shape[:-2]
        offsets = Tensor._wrap(np.arange(p, dtype=self.df.dtype))
        half_dof = 0.5 * (self.df.unsqueeze(-1) - offsets)          # (ν − i)/2, batch + (p,)
        chi2 = 2 * standard_gamma(half_dof, lead + (p,))
        a = diag_embed(chi2.sqrt()) + tril(standard_normal(shape, self.df.dtype), -1)
        la = self.scale_tril @ a
        return la @ la.mT

    def log_prob(self, value: Tensor) -> Tensor:
        from chainrule.linalg import cholesky, solve_triangular
        from chainrule.ops import mvlgamma

        if self._validate_args:
            self._validate_sample(value)
        nu, p = self.df, self._event_shape[-1]
        lx = cholesky(value)
        batch = tuple(np.broadcast_shapes(lx.shape[:-2], self.scale_tril.shape[:-2]))
        m = solve_triangular(_expand(self.scale_tril, batch + (p, p)), _expand(lx, batch + (p, p)), upper=False)
        trace = m.pow(2).sum((-2, -1))                              # tr(Σ⁻¹X) = ‖L⁻¹ L_X‖²
        return ((nu - p - 1) * _half_log_det(lx) - 0.5 * trace - 0.5 * nu * p * math.log(2)
                - nu * _half_log_det(self.scale_tril) - mvlgamma(0.5 * nu, p))

    def entropy(self) -> Tensor:
        from chainrule.ops import mvlgamma

        nu, p = self.df, self._event_shape[-1]
        return ((p + 1) * (_half_log_det(self.scale_tril) + 0.5 * p * math.log(2)) + mvlgamma(0.5 * nu, p)
                - 0.5 * (nu - p - 1) * _mvdigamma(0.5 * nu, p) + 0.5 * nu * p)

    def __repr__(self) -> str:
        return f"Wishart(df: Size({list(self.df.shape)}), scale_tril: Size({list(self.scale_tril.shape)}))"
