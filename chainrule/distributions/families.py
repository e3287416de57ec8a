"""Families obtained from the basic ones by a change of variables or a ratio (Weibull, Pareto,
InverseGamma, Kumaraswamy, FisherSnedecor), NegativeBinomial, OneHotCategoricalStraightThrough,
the continuous Bernoulli and the generalised Pareto distribution."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.backend.random import default_generator
from chainrule.distributions import constraints
from chainrule.distributions.continuous import Exponential, Gamma
from chainrule.distributions.counts import _TrialsAndProbs
from chainrule.distributions.discrete import OneHotCategorical, _ProbsOrLogits, _softplus
from chainrule.distributions.distribution import Distribution, broadcast_all
from chainrule.distributions.exp_family import ExponentialFamily
from chainrule.distributions.normal import Uniform
from chainrule.distributions.transformed import TransformedDistribution
from chainrule.distributions.transforms import AffineTransform, ExpTransform, PowerTransform
from chainrule.distributions.utils import constant, standard_gamma
from chainrule.distributions.utils import digamma as _digamma
from chainrule.distributions.utils import lgamma as _lgamma
from chainrule.distributions.utils import where_mask as _where

__all__ = ["Weibull", "Pareto", "InverseGamma", "Kumaraswamy", "FisherSnedecor", "NegativeBinomial",
           "OneHotCategoricalStraightThrough", "ContinuousBernoulli", "GeneralizedPareto"]

_EULER = 0.57721566490153286061





class Weibull(TransformedDistribution):
    r"""Weibull(λ, k) with ``scale`` λ > 0 and ``concentration`` k > 0: λ E^{1/k}, E ~ Exponential(1).

    log p(x) = log(k/λ) + (k − 1) log(x/λ) − (x/λ)^k;  F(x) = 1 − e^{−(x/λ)^k};
    mean λ Γ(1 + 1/k), variance λ²(Γ(1 + 2/k) − Γ(1 + 1/k)²), mode λ((k − 1)/k)^{1/k};
    H = γ(1 − 1/k) + log(λ/k) + 1.
    """

    arg_constraints = {"scale": constraints.positive, "concentration": constraints.positive}
    support = constraints.positive
    has_rsample = True

    def __init__(self, scale: Tensor | float, concentration: Tensor | float,
                 validate_args: bool | None = None) -> None:
        self.scale, self.concentration = broadcast_all(scale, concentration)
        base = Exponential(constant(1.0, self.scale, self.scale.shape), validate_args=validate_args)
        with np.errstate(divide="ignore"):  # k = 0 is refused by the validation below
            transforms = [PowerTransform(self.concentration.reciprocal()), AffineTransform(0, self.scale)]
        super().__init__(base, transforms, validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Distribution | None = None) -> Weibull:
        new = Weibull(self.scale.expand(*batch_shape), self.concentration.expand(*batch_shape), validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self) -> Tensor:
        return self.scale * _lgamma(1 + self.concentration.reciprocal()).exp()

    @property
    def mode(self) -> Tensor:
        k = self.concentration
        with np.errstate(invalid="ignore"):  # nan for k < 1, as in PyTorch (the density is infinite at 0)
            return self.scale * ((k - 1) / k).pow(k.reciprocal())

    @property
    def variance(self) -> Tensor:
        k = self.concentration
        return self.scale.pow(2) * (_lgamma(1 + 2 / k).exp() - _lgamma(1 + 1 / k).exp().pow(2))

    def entropy(self) -> Tensor:
        k = self.concentration
        return _EULER * (1 - k.reciprocal()) + (self.scale / k).log() + 1


class Pareto(TransformedDistribution):
    r"""Pareto(x_m, α) with ``scale`` x_m > 0 and ``alpha`` α > 0 on x ≥ x_m: x_m e^E, E ~ Exponential(α).

    log p(x) = log α + α log x_m − (α + 1) log x;  mean α x_m/(α − 1) (∞ for α ≤ 1);
    variance x_m² α/((α − 1)²(α − 2)) (∞ for α ≤ 2); mode x_m;  H = log(x_m/α) + 1/α + 1.
    """

    arg_constraints = {"alpha": constraints.positive, "scale": constraints.positive}
    has_rsample = True

    def __init__(self, scale: Tensor | float, alpha: Tensor | float, validate_args: bool | None = None) -> None:
        self.scale, self.alpha = broadcast_all(scale, alpha)
        base = Exponential(self.alpha, validate_args=validate_args)
        super().__init__(base, [ExpTransform(), AffineTransform(0, self.scale)], validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Distribution | None = None) -> Pareto:
        new = Pareto(self.scale.expand(*batch_shape), self.alpha.expand(*batch_shape), validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.greater_than_eq(self.scale)

    @property
    def mean(self) -> Tensor:
        a = self.alpha.clamp(min=1)
        with np.errstate(divide="ignore"):
            return a * self.scale / (a - 1)

    @property
    def mode(self) -> Tensor:
        return self.scale

    @property
    def variance(self) -> Tensor:
        a = self.alpha.clamp(min=2)
        with np.errstate(divide="ignore"):
            return self.scale.pow(2) * a / ((a - 1).pow(2) * (a - 2))

    def entropy(self) -> Tensor:
        return (self.scale / self.alpha).log() + self.alpha.reciprocal() + 1


class InverseGamma(TransformedDistribution):
    r"""1/X with X ~ Gamma(α, β) (``concentration`` α > 0, ``rate`` β > 0), on x > 0.

    log p(x) = α log β − log Γ(α) − (α + 1) log x − β/x;  mean β/(α − 1) (∞ for α ≤ 1);
    variance β²/((α − 1)²(α − 2)) (∞ for α ≤ 2); mode β/(α + 1);
    H = α + log β + log Γ(α) − (1 + α) ψ(α).  ``rsample`` inverts implicitly reparameterised Gamma draws.
    """

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.positive
    has_rsample = True

    def __init__(self, concentration: Tensor | float, rate: Tensor | float, validate_args: bool | None = None) -> None:
        base = Gamma(concentration, rate, validate_args=validate_args)
        neg_one = constant(-1.0, base.rate, ())
        super().__init__(base, PowerTransform(neg_one), validate_args=validate_args)

    @property
    def concentration(self) -> Tensor:
        return self.base_dist.concentration  # type: ignore[attr-defined]

    @property
    def rate(self) -> Tensor:
        return self.base_dist.rate  # type: ignore[attr-defined]

    @property
    def mean(self) -> Tensor:
        a = self.concentration
        with np.errstate(divide="ignore", invalid="ignore"):
            result = self.rate / (a - 1)
        return _where(a._array > 1, result, constant(math.inf, result, result.shape))

    @property
    def mode(self) -> Tensor:
        return self.rate / (self.concentration + 1)

    @property
    def variance(self) -> Tensor:
        a = self.concentration
        with np.errstate(divide="ignore", invalid="ignore"):
            result = self.rate.pow(2) / ((a - 1).pow(2) * (a - 2))
        return _where(a._array > 2, result, constant(math.inf, result, result.shape))

    def entropy(self) -> Tensor:
        a = self.concentration
        return a + self.rate.log() + _lgamma(a) - (1 + a) * _digamma(a)


class Kumaraswamy(TransformedDistribution):
    r"""Kumaraswamy(a, b) on (0, 1) (``concentration1`` a > 0, ``concentration0`` b > 0): (1 − u^{1/b})^{1/a}.

    log p(x) = log ab + (a − 1) log x + (b − 1) log(1 − xᵃ);  mean b B(1 + 1/a, b);
    variance b B(1 + 2/a, b) − mean²;  mode ((a − 1)/(ab − 1))^{1/a} for a, b ≥ 1 (else nan);
    H = (1 − 1/b) + (1 − 1/a) H_b − log ab, H_b = ψ(b + 1) + γ.
    """

    arg_constraints = {"concentration1": constraints.positive, "concentration0": constraints.positive}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, concentration1: Tensor | float, concentration0: Tensor | float,
                 validate_args: bool | None = None) -> None:
        self.concentration1, self.concentration0 = broadcast_all(concentration1, concentration0)
        a, b = self.concentration1, self.concentration0
        base = Uniform(constant(0.0, a, a.shape), constant(1.0, a, a.shape), validate_args=validate_args)
        transforms = [PowerTransform(b.reciprocal()), AffineTransform(1.0, -1.0), PowerTransform(a.reciprocal())]
        super().__init__(base, transforms, validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Distribution | None = None) -> Kumaraswamy:
        new = Kumaraswamy(self.concentration1.expand(*batch_shape), self.concentration0.expand(*batch_shape),
                          validate_args=False)
        new._validate_args = self._validate_args
        return new

    def log_prob(self, value: Tensor) -> Tensor:
        """The closed form (through the transforms, x near 0 would round u = (1 − xᵃ)ᵇ to 1)."""
        from chainrule.ops import xlogy

        if self._validate_args:
            self._validate_sample(value)
        a, b = self.concentration1, self.concentration0
        return (a * b).log() + xlogy(a - 1, value) + xlogy(b - 1, 1 - value.pow(a))

    def _moment(self, n: int) -> Tensor:
        """E[xⁿ] = b B(1 + n/a, b)."""
        a, b = self.concentration1, self.concentration0
        t = 1 + n / a
        return b * (_lgamma(t) + _lgamma(b) - _lgamma(t + b)).exp()

    @property
    def mean(self) -> Tensor:
        return self._moment(1)

    @property
    def mode(self) -> Tensor:
        a, b = self.concentration1, self.concentration0
        with np.errstate(divide="ignore", invalid="ignore"):
            m = ((a - 1) / (a * b - 1)).pow(a.reciprocal())
        undefined = (a._array < 1) | (b._array < 1)
        return _where(undefined, constant(math.nan, m, m.shape), m)

    @property
    def variance(self) -> Tensor:
        return self._moment(2) - self._moment(1).pow(2)

    def entropy(self) -> Tensor:
        a, b = self.concentration1, self.concentration0
        harmonic_b = _digamma(b + 1) + _EULER
        return (1 - b.reciprocal()) + (1 - a.reciprocal()) * harmonic_b - (a * b).log()


class FisherSnedecor(Distribution):
    r"""The F distribution with ``df1`` d₁ > 0 and ``df2`` d₂ > 0: (V₁/d₁)/(V₂/d₂), Vᵢ ~ χ²(dᵢ).

    log p(x) = log Γ((d₁ + d₂)/2) − log Γ(d₁/2) − log Γ(d₂/2) + (d₁/2) log(d₁/d₂)
    + (d₁/2 − 1) log x − ((d₁ + d₂)/2) log(1 + d₁x/d₂);  mean d₂/(d₂ − 2) (d₂ > 2, else nan);
    mode (d₁ − 2)/d₁ · d₂/(d₂ + 2) (d₁ > 2, else nan);
    variance 2d₂²(d₁ + d₂ − 2)/(d₁(d₂ − 2)²(d₂ − 4)) (d₂ > 4, else nan).
    """

    arg_constraints = {"df1": constraints.positive, "df2": constraints.positive}
    support = constraints.positive
    has_rsample = True

    def __init__(self, df1: Tensor | float, df2: Tensor | float, validate_args: bool | None = None) -> None:
        self.df1, self.df2 = broadcast_all(df1, df2)
        super().__init__(self.df1.shape, (), validate_args)

    @property
    def mean(self) -> Tensor:
        d2 = self.df2
        with np.errstate(divide="ignore", invalid="ignore"):
            m = d2 / (d2 - 2)
        return _where(d2._array > 2, m, constant(math.nan, m, m.shape))

    @property
    def mode(self) -> Tensor:
        d1, d2 = self.df1, self.df2
        m = (d1 - 2) / d1 * d2 / (d2 + 2)
        return _where(d1._array > 2, m, constant(math.nan, m, m.shape))

    @property
    def variance(self) -> Tensor:
        d1, d2 = self.df1, self.df2
        with np.errstate(divide="ignore", invalid="ignore"):
            v = 2 * d2.pow(2) * (d1 + d2 - 2) / (d1 * (d2 - 2).pow(2) * (d2 - 4))
        return _where(d2._array > 4, v, constant(math.nan, v, v.shape))

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        v1 = 2 * standard_gamma(0.5 * self.df1, shape) / self.df1
        v2 = 2 * standard_gamma(0.5 * self.df2, shape) / self.df2
        info = np.finfo(v1.dtype)
        return (v1 / v2).clamp(min=float(info.tiny))

    def log_prob(self, value: Tensor) -> Tensor:
        from chainrule.ops import xlogy

        if self._validate_args:
            self._validate_sample(value)
        h1, h2 = 0.5 * self.df1, 0.5 * self.df2
        ratio = self.df1 / self.df2
        norm = _lgamma(h1 + h2) - _lgamma(h1) - _lgamma(h2)
        return norm + h1 * ratio.log() + xlogy(h1 - 1, value) - (h1 + h2) * (ratio * value).log1p()


class NegativeBinomial(_TrialsAndProbs):
    r"""The number of successes (probability p, ``probs`` or ``logits`` l) before ``total_count`` r
    failures, r > 0 (real r allowed).

    log P(k) = log Γ(k + r) − log Γ(r) − log k! + r log(1 − p) + k log p;  mean rp/(1 − p),
    variance rp/(1 − p)², mode ⌊(r − 1)p/(1 − p)⌋ (at least 0).  Sampled as Poisson(G),
    G ~ Gamma(r, (1 − p)/p).
    """

    arg_constraints = {"total_count": constraints.nonnegative, "probs": constraints.half_open_interval(0.0, 1.0),
                       "logits": constraints.real}
    support = constraints.nonnegative_integer

    def __init__(self, total_count: Tensor | float, probs: Tensor | float | None = None,
                 logits: Tensor | float | None = None, validate_args: bool | None = None) -> None:
        param = self._set_params("NegativeBinomial", total_count, probs, logits)
        super().__init__(param.shape, (), validate_args)

    @property
    def mean(self) -> Tensor:
        return self.total_count * self.logits.exp()

    @property
    def mode(self) -> Tensor:
        return ((self.total_count - 1) * self.logits.exp()).floor().clamp(min=0.0).detach()

    @property
    def variance(self) -> Tensor:
        return self.mean / (1 - self.probs)

    def sample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        r = np.broadcast_to(self.total_count._array, shape).astype(np.float64)
        odds = np.broadcast_to(np.exp(self.logits._array), shape).astype(np.float64)
        gen = default_generator()
        g = gen.standard_gamma(r) * odds
        return Tensor._wrap(gen.poisson(g).astype(self.total_count.dtype))

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        r, l = self.total_count, self.logits
        # r log(1 − p) + k log p with log p = −softplus(−l), log(1 − p) = −softplus(l)
        unnormalised = -r * _softplus(l) - value * _softplus(-l)
        log_norm = _lgamma(r + value) - _lgamma(value + 1) - _lgamma(r)
        nothing = (r._array + value._array) == 0  # r = 0: all the mass at k = 0
        if np.any(nothing):
            log_norm = _where(nothing, constant(0.0, log_norm, ()), log_norm)
        return unnormalised + log_norm


class OneHotCategoricalStraightThrough(OneHotCategorical):
    """A OneHotCategorical whose ``rsample`` is the straight-through estimator: the one-hot sample
    in the forward pass, the gradient of ``probs`` in the backward pass (sample + p − p.detach())."""

    has_rsample = True

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        samples = self.sample(sample_shape)
        probs = self._categorical.probs
        return samples + (probs - probs.detach())


class ContinuousBernoulli(_ProbsOrLogits, ExponentialFamily):
    r"""The continuous Bernoulli on [0, 1] (Loaiza-Ganem and Cunningham, 2019), ``probs`` λ or ``logits``.

    p(x) = C(λ) λˣ (1 − λ)¹⁻ˣ with C(λ) = 2 atanh(1 − 2λ)/(1 − 2λ) = log((1 − λ)/λ)/(1 − 2λ)
    (C(½) = 2);  mean λ/(2λ − 1) + 1/log((1 − λ)/λ);  F(x) = (λˣ(1 − λ)¹⁻ˣ + λ − 1)/(2λ − 1).
    These formulas divide 0 by 0 at λ = ½, so for λ in ``lims`` (default (0.499, 0.501]) the
    Taylor expansions in y = λ − ½ are used instead: log C = log 2 + (4/3 + 104/45 y²) y²,
    mean ½ + (1/3 + 16/45 y²) y, variance 1/12 − (1/15 − 128/945 y²) y², and (as in PyTorch)
    the uniform F(x) = x and F⁻¹(p) = p, which are off by up to about |y|/2 there.
    ``rsample`` is the inverse cdf of U(0, 1) noise.
    """

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, probs: Tensor | float | None = None, logits: Tensor | float | None = None,
                 lims: tuple[float, float] = (0.499, 0.501), validate_args: bool | None = None) -> None:
        param = self._set_param("ContinuousBernoulli", probs, logits)
        self._lims = (float(lims[0]), float(lims[1]))
        super().__init__(param.shape, (), validate_args)

    def _outside(self) -> np.ndarray:
        p = self.probs._array
        return np.asarray((p <= self._lims[0]) | (p > self._lims[1]))

    def _cut_probs(self) -> Tensor:
        """λ where the closed forms are used, a harmless λ = lims[0] elsewhere (no 0/0 in either branch)."""
        p = self.probs
        return _where(self._outside(), p, constant(self._lims[0], p, p.shape))

    def _log_normalizer_of(self) -> Tensor:
        """log C(λ)."""
        p = self.probs
        cut = self._cut_probs()  # never ½, so |1 − 2λ| > 0
        cut_log = ((-cut).log1p() - cut.log()).abs().log() - (1 - 2 * cut).abs().log()
        y2 = (p - 0.5).pow(2)
        taylor = math.log(2.0) + (4.0 / 3.0 + 104.0 / 45.0 * y2) * y2
        return _where(self._outside(), cut_log, taylor)

    @property
    def mean(self) -> Tensor:
        cut = self._cut_probs()
        closed = cut / (2 * cut - 1) + 1 / ((-cut).log1p() - cut.log())
        y = self.probs - 0.5
        taylor = 0.5 + (1.0 / 3.0 + 16.0 / 45.0 * y.pow(2)) * y
        return _where(self._outside(), closed, taylor)

    @property
    def variance(self) -> Tensor:
        cut = self._cut_probs()
        closed = cut * (cut - 1) / (1 - 2 * cut).pow(2) + 1 / ((-cut).log1p() - cut.log()).pow(2)
        y2 = (self.probs - 0.5).pow(2)
        taylor = 1.0 / 12.0 - (1.0 / 15.0 - 128.0 / 945.0 * y2) * y2
        return _where(self._outside(), closed, taylor)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        # x l − log(1 + eˡ) = x log λ + (1 − x) log(1 − λ)
        return value * self.logits - _softplus(self.logits) + self._log_normalizer_of()

    def entropy(self) -> Tensor:
        """μ (log(1 − λ) − log λ) − log(1 − λ) − log C(λ)."""
        p = self.probs
        log0, log1 = (-p).log1p(), p.log()
        return self.mean * (log0 - log1) - self._log_normalizer_of() - log0

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value, "cdf")
        cut = self._cut_probs()
        closed = (cut.pow(value) * (1 - cut).pow(1 - value) + cut - 1) / (2 * cut - 1)
        inside = _where(self._outside(), closed, value)
        zero, one = constant(0.0, inside, ()), constant(1.0, inside, ())
        return _where(value._array <= 0, zero, _where(value._array >= 1, one, inside))

    def icdf(self, value: Tensor) -> Tensor:
        cut = self._cut_probs()
        closed = ((-cut + value * (2 * cut - 1)).log1p() - (-cut).log1p()) / (cut.log() - (-cut).log1p())
        return _where(self._outside(), closed, value)

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        u = Tensor._wrap(default_generator().random(shape).astype(self.probs.dtype))
        return self.icdf(u)

    @property
    def _natural_params(self) -> tuple[Tensor, ...]:
        """(l,), the logits, with T(x) = x."""
        return (self.logits,)

    def _log_normalizer(self, *eta: Tensor) -> Tensor:
        """A(η) = log((e^η − 1)/η), or η/2 + η²/24 − η⁴/2880 for η near 0 (λ in ``lims``)."""
        x = eta[0]
        lo, hi = self._lims[0] - 0.5, self._lims[1] - 0.5
        outside = (x._array <= lo) | (x._array > hi)
        cut = _where(outside, x, constant(lo, x, x.shape))
        closed = cut.expm1().abs().log() - cut.abs().log()
        taylor = 0.5 * x + x.pow(2) / 24.0 - x.pow(4) / 2880.0
        return _where(outside, closed, taylor)

    @property
    def _mean_carrier_measure(self) -> float:
        return 0.0


class GeneralizedPareto(Distribution):
    r"""The generalised Pareto distribution: ``loc`` μ, ``scale`` σ > 0, ``concentration`` (shape) ξ.

    With z = (x − μ)/σ, on z ≥ 0 (and z ≤ −1/ξ when ξ < 0):
    log p(x) = −log σ − (1 + 1/ξ) log(1 + ξz)  (−log σ − z at ξ = 0);
    F(x) = 1 − (1 + ξz)^{−1/ξ}  (1 − e^{−z});  mean μ + σ/(1 − ξ) (ξ < 1, else nan);
    variance σ²/((1 − ξ)²(1 − 2ξ)) (ξ < ½, else nan); mode μ;  H = log σ + ξ + 1.
    ``rsample`` is the inverse cdf of U(0, 1) noise.
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive, "concentration": constraints.real}
    has_rsample = True

    def __init__(self, loc: Tensor | float, scale: Tensor | float, concentration: Tensor | float,
                 validate_args: bool | None = None) -> None:
        self.loc, self.scale, self.concentration = broadcast_all(loc, scale, concentration)
        super().__init__(self.loc.shape, (), validate_args)

    @property
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        xi = self.concentration._array
        negative = xi < 0
        bounded = self.loc._array - self.scale._array / np.where(negative, xi, -1.0)  # μ − σ/ξ where ξ < 0
        upper = np.where(negative, bounded, np.inf).astype(self.loc.dtype)
        return constraints.interval(self.loc, Tensor._wrap(upper))

    def _split(self) -> tuple[np.ndarray, Tensor]:
        """(ξ = 0 mask, ξ with the zeros replaced by 1 so that both branches stay finite)."""
        xi = self.concentration
        zero = np.asarray(xi._array == 0)
        return zero, _where(zero, constant(1.0, xi, xi.shape), xi)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        z = (value - self.loc) / self.scale
        zero, xi = self._split()
        general = -(1 + 1 / xi) * (xi * z).log1p()
        return -self.scale.log() + _where(zero, -z, general)

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value, "cdf")
        z = (value - self.loc) / self.scale
        zero, xi = self._split()
        general = -((-1 / xi) * (xi * z).log1p()).expm1()
        return _where(zero, -(-z).expm1(), general)

    def icdf(self, value: Tensor) -> Tensor:
        zero, xi = self._split()
        log_tail = (-value).log1p()                           # log(1 − p)
        general = (-xi * log_tail).expm1() / xi               # ((1 − p)^(−ξ) − 1)/ξ
        return self.loc + self.scale * _where(zero, -log_tail, general)

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        u = Tensor._wrap(default_generator().random(shape).astype(self.loc.dtype))
        return self.icdf(u)

    @property
    def mean(self) -> Tensor:
        xi = self.concentration
        with np.errstate(divide="ignore"):
            m = self.loc + self.scale / (1 - xi)
        return _where(xi._array < 1, m, constant(math.nan, m, m.shape))

    @property
    def variance(self) -> Tensor:
        xi = self.concentration
        with np.errstate(divide="ignore", invalid="ignore"):
            v = self.scale.pow(2) / ((1 - xi).pow(2) * (1 - 2 * xi))
        return _where(xi._array < 0.5, v, constant(math.nan, v, v.shape))

    @property
    def mode(self) -> Tensor:
        return self.loc

    def entropy(self) -> Tensor:
        return self.scale.log() + self.concentration + 1
