"""The LKJ distribution over Cholesky factors of correlation matrices."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.backend.random import default_generator
from chainrule.distributions import constraints
from chainrule.distributions.distribution import Distribution, _shape, broadcast_all
from chainrule.distributions.utils import lgamma

__all__ = ["LKJCholesky"]


class LKJCholesky(Distribution):
    r"""LKJ(η) (Lewandowski, Kurowicka and Joe, 2009) over the lower Cholesky factors L of
    ``dim`` × ``dim`` correlation matrices C = L Lᵀ, with p(C) ∝ det(C)^{η−1}, ``concentration`` η > 0.

    On L (with respect to its strictly lower entries) the Jacobian of C = L Lᵀ adds Πᵢ Lᵢᵢ^{d−i}:
    log p(L) = Σᵢ₌₂^d (d − i + 2η − 2) log Lᵢᵢ − log Z, where row i of L ranges over a unit ball
    of i − 1 dimensions, so log Z = Σᵢ log ∫ (1 − ‖w‖²)^{(d−i+2η−2)/2} dw
    = ((d − 1)/2) log π + log Γ_{d−1}(η + (d − 2)/2) − (d − 1) log Γ(η + (d − 1)/2).
    ``sample`` draws each row by the onion method: ‖w‖² ~ Beta((i − 1)/2, η + (d − i)/2) (the
    radial law of that density in the ball) times a uniform direction.  Not reparameterised.
    """

    arg_constraints = {"concentration": constraints.positive}
    support = constraints.corr_cholesky

    def __init__(self, dim: int, concentration: Tensor | float = 1.0, validate_args: bool | None = None) -> None:
        if not isinstance(dim, (int, np.integer)) or dim < 2:
            raise ValueError(f"Expected dim to be an integer greater than or equal to 2. Found dim={dim}.")
        self.dim = int(dim)
        (self.concentration,) = broadcast_all(concentration)
        super().__init__(self.concentration.shape, (self.dim, self.dim), validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Distribution | None = None) -> LKJCholesky:
        new = LKJCholesky(self.dim, self.concentration.expand(*_shape(batch_shape, "LKJCholesky.expand")),
                          validate_args=False)
        new._validate_args = self._validate_args
        return new

    def sample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)          # sample + batch + (d, d)
        d = self.dim
        lead = shape[:-2]
        gen = default_generator()
        eta = np.broadcast_to(self.concentration._array, lead).astype(np.float64)[..., None]
        rows = np.arange(1, d)                               # 0-based rows 1 … d − 1 have free entries
        a = np.broadcast_to(rows / 2, lead + (d - 1,))
        b = eta + (d - 1 - rows) / 2
        r2 = np.concatenate([np.zeros(lead + (1,)), gen.beta(a, b)], -1)      # ‖row‖², row 0 has none
        z = np.tril(gen.standard_normal(lead + (d, d)), -1)
        norms = np.linalg.norm(z, axis=-1, keepdims=True)
        direction = np.divide(z, norms, out=np.zeros_like(z), where=norms > 0)
        w = np.sqrt(r2)[..., None] * direction
        diag = np.sqrt(np.clip(1 - r2, np.finfo(np.float64).tiny, None))
        w = w + diag[..., None] * np.eye(d)
        return Tensor._wrap(w.astype(self.concentration.dtype))

    def log_prob(self, value: Tensor) -> Tensor:
        from chainrule.ops import mvlgamma

        if self._validate_args:
            self._validate_sample(value)
        d = self.dim
        eta = self.concentration
        diag = value.diagonal(dim1=-2, dim2=-1)[..., 1:]     # L₂₂ … L_dd
        exponents = Tensor._wrap((d - np.arange(2, d + 1)).astype(value.dtype))
        unnormalised = ((2 * eta - 2).unsqueeze(-1) + exponents) * diag.log()
        log_z = (0.5 * (d - 1) * math.log(math.pi) + mvlgamma(eta + 0.5 * (d - 2), d - 1)
                 - (d - 1) * lgamma(eta + 0.5 * (d - 1)))
        return unnormalised.sum(-1) - log_z

    def __repr__(self) -> str:
        return f"LKJCholesky(dim: {self.dim}, concentration: Size({list(self.concentration.shape)}))"
