"""Continuous families on the line, the half-line and the simplex.

Exponential, Laplace, Cauchy, Gumbel, Gamma, Chi2, Beta, Dirichlet and StudentT.  Every
quantity is a differentiable function of the parameters; ``rsample`` is reparameterised
(explicitly through the inverse cdf, or, for Gamma and the families built from Gamma draws,
implicitly: see ``utils.standard_gamma``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.backend.random import default_generator as _gen
from chainrule.distributions import constraints
from chainrule.distributions.distribution import Distribution, broadcast_all
from chainrule.distributions.exp_family import ExponentialFamily
from chainrule.distributions.location_scale import LocationScale
from chainrule.distributions.utils import constant, open_uniform, standard_gamma, standard_normal
from chainrule.distributions.utils import digamma as _digamma
from chainrule.distributions.utils import lgamma as _lgamma
from chainrule.distributions.utils import where_mask as _where

__all__ = ["Exponential", "Laplace", "Cauchy", "Gumbel", "Gamma", "Chi2", "Beta", "Dirichlet", "StudentT"]

_EULER = 0.57721566490153286061





def _checked(dist: Distribution, value: Tensor, where: str = "log_prob") -> None:
    if dist._validate_args:
        dist._validate_sample(value, where)


class Exponential(ExponentialFamily):
    r"""Exponential(λ) with ``rate`` λ > 0, on x ≥ 0.

    log p(x) = log λ − λx;  F(x) = 1 − e^{−λx};  H = 1 − log λ;  mean 1/λ, variance 1/λ².
    ``rsample`` is E/λ with E a standard exponential draw.
    """

    arg_constraints = {"rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, rate: Tensor | float, validate_args: bool | None = None) -> None:
        (self.rate,) = broadcast_all(rate)
        super().__init__(self.rate.shape, (), validate_args)

    @property
    def mean(self) -> Tensor:
        return self.rate.reciprocal()

    @property
    def mode(self) -> Tensor:
        return constant(0.0, self.rate, self.rate.shape)

    @property
    def stddev(self) -> Tensor:
        return self.rate.reciprocal()

    @property
    def variance(self) -> Tensor:
        return self.rate.pow(-2)

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        e = Tensor._wrap(_gen().standard_exponential(shape).astype(self.rate.dtype))
        return e / self.rate

    def log_prob(self, value: Tensor) -> Tensor:
        _checked(self, value)
        return self.rate.log() - self.rate * value

    def cdf(self, value: Tensor) -> Tensor:
        """1 − exp(−λx)."""
        _checked(self, value, "cdf")
        return 1 - (-self.rate * value).exp()

    def icdf(self, value: Tensor) -> Tensor:
        """−log(1 − p) / λ."""
        return -(-value).log1p() / self.rate

    def entropy(self) -> Tensor:
        return 1.0 - self.rate.log()

    @property
    def _natural_params(self) -> tuple[Tensor, ...]:
        """(−λ,), with T(x) = x."""
        return (-self.rate,)

    def _log_normalizer(self, *eta: Tensor) -> Tensor:
        """A(η) = −log(−η)."""
        return -(-eta[0]).log()

    @property
    def _mean_carrier_measure(self) -> float:
        return 0.0


class Laplace(LocationScale):
    r"""Laplace(μ, b) with ``loc`` μ and ``scale`` b > 0.

    log p(x) = −log 2b − |x − μ|/b;  H = 1 + log 2b;  mean μ, variance 2b².
    ``rsample`` is μ − b sign(u) log(1 − |u|), u ~ U(−1, 1).
    """

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def stddev(self) -> Tensor:
        return math.sqrt(2) * self.scale

    @property
    def variance(self) -> Tensor:
        return 2 * self.scale**2

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        u = Tensor._wrap(2 * open_uniform(shape, self.loc.dtype) - 1)
        return self.loc - self.scale * u.sign() * (-u.abs()).log1p()

    def log_prob(self, value: Tensor) -> Tensor:
        _checked(self, value)
        return -(2 * self.scale).log() - (value - self.loc).abs() / self.scale

    def cdf(self, value: Tensor) -> Tensor:
        """½ − ½ sign(x − μ) (e^{−|x − μ|/b} − 1)."""
        _checked(self, value, "cdf")
        d = value - self.loc
        return 0.5 - 0.5 * d.sign() * (-d.abs() / self.scale).expm1()

    def icdf(self, value: Tensor) -> Tensor:
        """μ − b sign(p − ½) log(1 − 2|p − ½|)."""
        t = value - 0.5
        return self.loc - self.scale * t.sign() * (-2 * t.abs()).log1p()

    def entropy(self) -> Tensor:
        return 1 + (2 * self.scale).log()


class Cauchy(LocationScale):
    r"""Cauchy(x₀, γ) with ``loc`` x₀ and ``scale`` γ > 0.

    log p(x) = −log π − log γ − log(1 + ((x − x₀)/γ)²);  F(x) = ½ + atan((x − x₀)/γ)/π;
    H = log 4πγ.  The mean and variance do not exist (nan and inf, as in PyTorch).
    ``rsample`` is x₀ + γ tan(π(u − ½)).
    """

    @property
    def mean(self) -> Tensor:
        return constant(np.nan, self.loc, self.loc.shape)

    @property
    def variance(self) -> Tensor:
        return constant(np.inf, self.loc, self.loc.shape)

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        u = Tensor._wrap(open_uniform(shape, self.loc.dtype))
        return self.loc + self.scale * (math.pi * (u - 0.5)).tan()

    def log_prob(self, value: Tensor) -> Tensor:
        _checked(self, value)
        z = (value - self.loc) / self.scale
        return -math.log(math.pi) - self.scale.log() - (z * z).log1p()

    def cdf(self, value: Tensor) -> Tensor:
        _checked(self, value, "cdf")
        return ((value - self.loc) / self.scale).atan() / math.pi + 0.5

    def icdf(self, value: Tensor) -> Tensor:
        return (math.pi * (value - 0.5)).tan() * self.scale + self.loc

    def entropy(self) -> Tensor:
        return math.log(4 * math.pi) + self.scale.log()


class Gumbel(LocationScale):
    r"""Gumbel(μ, β) with ``loc`` μ and ``scale`` β > 0.

    With z = (x − μ)/β: log p(x) = −(z + e^{−z}) − log β;  F(x) = exp(−e^{−z});
    H = log β + 1 + γ (γ Euler's constant);  mean μ + βγ, variance π²β²/6.
    ``rsample`` is μ − β log(−log u).
    """

    @property
    def mean(self) -> Tensor:
        return self.loc + self.scale * _EULER

    @property
    def stddev(self) -> Tensor:
        return (math.pi / math.sqrt(6)) * self.scale

    @property
    def variance(self) -> Tensor:
        return (math.pi**2 / 6) * self.scale**2

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        u = Tensor._wrap(open_uniform(shape, self.loc.dtype))
        return self.loc - self.scale * (-u.log()).log()

    def log_prob(self, value: Tensor) -> Tensor:
        _checked(self, value)
        z = (value - self.loc) / self.scale
        return -(z + (-z).exp()) - self.scale.log()

    def cdf(self, value: Tensor) -> Tensor:
        _checked(self, value, "cdf")
        return (-(-(value - self.loc) / self.scale).exp()).exp()

    def icdf(self, value: Tensor) -> Tensor:
        return self.loc - self.scale * (-value.log()).log()

    def entropy(self) -> Tensor:
        return self.scale.log() + (1 + _EULER)


class Gamma(ExponentialFamily):
    r"""Gamma(α, β) with ``concentration`` α > 0 and ``rate`` β > 0, on x ≥ 0.

    log p(x) = α log β + (α − 1) log x − βx − log Γ(α);
    H = α − log β + log Γ(α) + (1 − α) ψ(α);  mean α/β, variance α/β², mode max(α − 1, 0)/β;
    F(x) = P(α, βx), the regularised incomplete gamma function.
    ``rsample`` is X/β with X ~ Gamma(α, 1); the gradient with respect to α is the implicit
    reparameterisation gradient dX/dα = −(∂F/∂α)/p (F the cdf of Gamma(α, 1)); second
    derivatives through a draw are not available (as in PyTorch).
    """

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, concentration: Tensor | float, rate: Tensor | float,
                 validate_args: bool | None = None) -> None:
        self.concentration, self.rate = broadcast_all(concentration, rate)
        super().__init__(self.concentration.shape, (), validate_args)

    @property
    def mean(self) -> Tensor:
        return self.concentration / self.rate

    @property
    def mode(self) -> Tensor:
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self) -> Tensor:
        return self.concentration / self.rate.pow(2)

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        x = standard_gamma(self.concentration, shape) / self.rate
        return x.clamp(min=float(np.finfo(x.dtype).tiny))

    def log_prob(self, value: Tensor) -> Tensor:
        from chainrule.ops import xlogy

        _checked(self, value)
        a, b = self.concentration, self.rate
        return xlogy(a, b) + xlogy(a - 1, value) - b * value - _lgamma(a)

    def cdf(self, value: Tensor) -> Tensor:
        """P(α, βx), the regularised lower incomplete gamma function; differentiable in α, β and x
        (PyTorch's has no gradient in α)."""
        from chainrule.distributions.utils import gamma_cdf

        _checked(self, value, "cdf")
        return gamma_cdf(self.concentration, self.rate * value)

    def entropy(self) -> Tensor:
        a = self.concentration
        return a - self.rate.log() + _lgamma(a) + (1 - a) * _digamma(a)

    @property
    def _natural_params(self) -> tuple[Tensor, ...]:
        """(α − 1, −β), with T(x) = (log x, x)."""
        return self.concentration - 1, -self.rate

    def _log_normalizer(self, *eta: Tensor) -> Tensor:
        """A(η) = log Γ(η₁ + 1) − (η₁ + 1) log(−η₂)."""
        return _lgamma(eta[0] + 1) - (eta[0] + 1) * (-eta[1]).log()

    @property
    def _mean_carrier_measure(self) -> float:
        return 0.0


class Chi2(Gamma):
    r"""χ²(ν) with ``df`` ν > 0: Gamma(ν/2, ½).

    log p(x) = (ν/2 − 1) log x − x/2 − (ν/2) log 2 − log Γ(ν/2);  mean ν, variance 2ν.
    """

    arg_constraints = {"df": constraints.positive}

    def __init__(self, df: Tensor | float, validate_args: bool | None = None) -> None:
        (df,) = broadcast_all(df)
        self.df = df
        super().__init__(0.5 * df, constant(0.5, df, df.shape), validate_args)


class Beta(ExponentialFamily):
    r"""Beta(a, b) with ``concentration1`` a > 0 and ``concentration0`` b > 0, on [0, 1].

    log p(x) = (a − 1) log x + (b − 1) log(1 − x) − log B(a, b);
    H = log B(a, b) − (a − 1)ψ(a) − (b − 1)ψ(b) + (a + b − 2)ψ(a + b);
    mean a/(a + b), variance ab/((a + b)²(a + b + 1)).
    ``rsample`` is X/(X + Y) with X ~ Gamma(a, 1), Y ~ Gamma(b, 1) (implicit gradients).
    """

    arg_constraints = {"concentration1": constraints.positive, "concentration0": constraints.positive}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, concentration1: Tensor | float, concentration0: Tensor | float,
                 validate_args: bool | None = None) -> None:
        self.concentration1, self.concentration0 = broadcast_all(concentration1, concentration0)
        super().__init__(self.concentration1.shape, (), validate_args)

    def _dirichlet(self) -> Dirichlet:
        from chainrule.ops import stack

        return Dirichlet(stack([self.concentration1, self.concentration0], -1), validate_args=False)

    @property
    def mean(self) -> Tensor:
        return self.concentration1 / (self.concentration1 + self.concentration0)

    @property
    def mode(self) -> Tensor:
        return self._dirichlet().mode[..., 0]

    @property
    def variance(self) -> Tensor:
        a, b = self.concentration1, self.concentration0
        total = a + b
        return a * b / (total.pow(2) * (total + 1))

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        x = standard_gamma(self.concentration1, shape)
        y = standard_gamma(self.concentration0, shape)
        info = np.finfo(x.dtype)
        return (x / (x + y)).clamp(min=float(info.tiny), max=1 - float(info.eps))

    def log_prob(self, value: Tensor) -> Tensor:
        from chainrule.ops import xlogy

        _checked(self, value)
        a, b = self.concentration1, self.concentration0
        log_beta = _lgamma(a) + _lgamma(b) - _lgamma(a + b)
        return xlogy(a - 1, value) + xlogy(b - 1, 1 - value) - log_beta

    def entropy(self) -> Tensor:
        a, b = self.concentration1, self.concentration0
        log_beta = _lgamma(a) + _lgamma(b) - _lgamma(a + b)
        return log_beta - (a - 1) * _digamma(a) - (b - 1) * _digamma(b) + (a + b - 2) * _digamma(a + b)

    @property
    def _natural_params(self) -> tuple[Tensor, ...]:
        """(a, b), with T(x) = (log x, log(1 − x)) and h(x) = 1/(x(1 − x))."""
        return self.concentration1, self.concentration0

    def _log_normalizer(self, *eta: Tensor) -> Tensor:
        """A(η) = log B(a, b)."""
        return _lgamma(eta[0]) + _lgamma(eta[1]) - _lgamma(eta[0] + eta[1])

    @property
    def _mean_carrier_measure(self) -> Tensor:
        """E[log h(x)] = −E[log x] − E[log(1 − x)] = 2ψ(a + b) − ψ(a) − ψ(b)."""
        a, b = self.concentration1, self.concentration0
        return 2 * _digamma(a + b) - _digamma(a) - _digamma(b)


class Dirichlet(ExponentialFamily):
    r"""Dirichlet(α) over the simplex, ``concentration`` α > 0 of shape batch_shape + (k,).

    log p(x) = Σᵢ (αᵢ − 1) log xᵢ + log Γ(α₀) − Σᵢ log Γ(αᵢ),  α₀ = Σᵢ αᵢ;
    H = Σᵢ log Γ(αᵢ) − log Γ(α₀) + (α₀ − k) ψ(α₀) − Σᵢ (αᵢ − 1) ψ(αᵢ);
    mean α/α₀, variance α(α₀ − α)/(α₀²(α₀ + 1)); mode (α − 1)/(α₀ − k) where α > 1 (the
    first vertex when every αᵢ < 1, as in PyTorch).  ``rsample`` normalises k Gamma(αᵢ, 1) draws (implicit gradients).
    """

    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, concentration: Tensor, validate_args: bool | None = None) -> None:
        if not isinstance(concentration, Tensor) or concentration.ndim < 1:
            raise ValueError("Dirichlet: `concentration` parameter must be at least one-dimensional.")
        self.concentration = concentration
        super().__init__(concentration.shape[:-1], concentration.shape[-1:], validate_args)

    @property
    def mean(self) -> Tensor:
        return self.concentration / self.concentration.sum(-1, keepdim=True)

    @property
    def mode(self) -> Tensor:
        a = self.concentration
        m = (a - 1).clamp(min=0)
        below = np.asarray((a._array < 1).all(-1))
        total = m.sum(-1, keepdim=True)
        if below.any():  # every vertex is a pole: the first one, as in PyTorch
            total = _where(below[..., None], constant(1.0, total, total.shape), total)
            k = a.shape[-1]
            first = np.broadcast_to((np.arange(k) == 0).astype(a.dtype), a.shape)
            return _where(np.broadcast_to(below[..., None], a.shape), Tensor._wrap(first.copy()), m / total)
        return m / total

    @property
    def variance(self) -> Tensor:
        a = self.concentration
        a0 = a.sum(-1, keepdim=True)
        return a * (a0 - a) / (a0.pow(2) * (a0 + 1))

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        g = standard_gamma(self.concentration, shape)
        x = g / g.sum(-1, keepdim=True)
        info = np.finfo(x.dtype)
        return x.clamp(min=float(info.tiny), max=1 - float(info.eps))

    def log_prob(self, value: Tensor) -> Tensor:
        from chainrule.ops import xlogy

        _checked(self, value)
        a = self.concentration
        return xlogy(a - 1, value).sum(-1) + _lgamma(a.sum(-1)) - _lgamma(a).sum(-1)

    def entropy(self) -> Tensor:
        a = self.concentration
        k = a.shape[-1]
        a0 = a.sum(-1)
        return (_lgamma(a).sum(-1) - _lgamma(a0) + (a0 - k) * _digamma(a0)
                - ((a - 1) * _digamma(a)).sum(-1))

    @property
    def _natural_params(self) -> tuple[Tensor, ...]:
        """(α,), with T(x) = log x and h(x) = 1/Πᵢ xᵢ."""
        return (self.concentration,)

    def _log_normalizer(self, *eta: Tensor) -> Tensor:
        """A(η) = Σᵢ log Γ(ηᵢ) − log Γ(Σᵢ ηᵢ)."""
        return _lgamma(eta[0]).sum(-1) - _lgamma(eta[0].sum(-1))

    @property
    def _mean_carrier_measure(self) -> Tensor:
        """E[log h(x)] = −Σᵢ E[log xᵢ] = −Σᵢ (ψ(αᵢ) − ψ(α₀))."""
        a = self.concentration
        return -(_digamma(a) - _digamma(a.sum(-1, keepdim=True))).sum(-1)


class StudentT(Distribution):
    r"""Student's t with ``df`` ν > 0, ``loc`` μ and ``scale`` σ > 0.

    With y = (x − μ)/σ: log p(x) = −½(ν + 1) log(1 + y²/ν) − log σ − ½ log νπ
    − log Γ(ν/2) + log Γ((ν + 1)/2);
    H = log σ + ½(ν + 1)(ψ((ν + 1)/2) − ψ(ν/2)) + ½ log ν + log B(ν/2, ½);
    mean μ (ν > 1, else nan), variance σ²ν/(ν − 2) (ν > 2; inf for 1 < ν ≤ 2; nan for ν ≤ 1).
    ``rsample`` is μ + σ Z / √(V/ν), Z ~ N(0, 1), V ~ χ²(ν) (implicit gradient in ν).
    """

    arg_constraints = {"df": constraints.positive, "loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, df: Tensor | float, loc: Tensor | float = 0.0, scale: Tensor | float = 1.0,
                 validate_args: bool | None = None) -> None:
        self.df, self.loc, self.scale = broadcast_all(df, loc, scale)
        super().__init__(self.df.shape, (), validate_args)

    @property
    def mean(self) -> Tensor:
        return _where(self.df._array > 1, self.loc, constant(np.nan, self.loc, self.loc.shape))

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        nu = self.df
        with np.errstate(divide="ignore", invalid="ignore"):
            finite = self.scale.pow(2) * nu / (nu - 2)
        v = _where(nu._array > 2, finite, constant(np.inf, nu, nu.shape))
        return _where(nu._array > 1, v, constant(np.nan, nu, nu.shape))

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        z = standard_normal(shape, self.loc.dtype)
        v = 2 * standard_gamma(0.5 * self.df, shape)  # χ²(ν)
        return self.loc + self.scale * z * (v / self.df).rsqrt()

    def log_prob(self, value: Tensor) -> Tensor:
        _checked(self, value)
        nu = self.df
        y = (value - self.loc) / self.scale
        z = (self.scale.log() + 0.5 * nu.log() + 0.5 * math.log(math.pi)
             + _lgamma(0.5 * nu) - _lgamma(0.5 * (nu + 1)))
        return -0.5 * (nu + 1) * (y * y / nu).log1p() - z

    def entropy(self) -> Tensor:
        nu = self.df
        log_beta = _lgamma(0.5 * nu) + math.lgamma(0.5) - _lgamma(0.5 * (nu + 1))
        return (self.scale.log() + 0.5 * (nu + 1) * (_digamma(0.5 * (nu + 1)) - _digamma(0.5 * nu))
                + 0.5 * nu.log() + log_beta)

