"""KL divergence between two distributions (PyTorch's ``torch.distributions.kl``).

``kl_divergence(p, q)`` = E_p[log p(x) − log q(x)], one value per batch element,
looked up in a registry by the two types (``register_kl`` adds a pair).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.distributions.continuous import _EULER, Beta, Cauchy, Dirichlet, Exponential, Gamma, Gumbel, Laplace
from chainrule.distributions.counts import Binomial, Geometric, Poisson
from chainrule.distributions.discrete import Bernoulli, Categorical, OneHotCategorical, _softplus
from chainrule.distributions.distribution import Distribution
from chainrule.distributions.multivariate_normal import MultivariateNormal, _half_log_det
from chainrule.distributions.normal import Normal, Uniform
from chainrule.distributions.transformed import HalfNormal, Independent, TransformedDistribution
from chainrule.distributions.utils import digamma as _digamma
from chainrule.distributions.utils import lgamma as _lgamma
from chainrule.distributions.utils import sum_rightmost

__all__ = ["kl_divergence", "register_kl"]

_KL: dict[tuple[type, type], Callable[[Any, Any], Tensor]] = {}


def register_kl(type_p: type, type_q: type) -> Callable[[Callable[[Any, Any], Tensor]], Callable[[Any, Any], Tensor]]:
    """Decorator: register ``fn(p, q)`` as the KL divergence of a ``type_p`` from a ``type_q``."""
    if not (isinstance(type_p, type) and issubclass(type_p, Distribution)):
        raise TypeError(f"register_kl: expected a subclass of Distribution, got {type_p!r}")
    if not (isinstance(type_q, type) and issubclass(type_q, Distribution)):
        raise TypeError(f"register_kl: expected a subclass of Distribution, got {type_q!r}")

    def decorator(fn: Callable[[Any, Any], Tensor]) -> Callable[[Any, Any], Tensor]:
        _KL[type_p, type_q] = fn
        return fn

    return decorator


def kl_divergence(p: Distribution, q: Distribution) -> Tensor:
    """KL(p ‖ q) = E_p[log p − log q], batched; raises NotImplementedError for an unregistered pair."""
    for tp in type(p).__mro__:
        for tq in type(q).__mro__:
            fn = _KL.get((tp, tq))
            if fn is not None:
                return fn(p, q)
    raise NotImplementedError(
        f"kl_divergence: no KL(p || q) is implemented for p of type {type(p).__name__} "
        f"and q of type {type(q).__name__}"
    )


@register_kl(Normal, Normal)
def _kl_normal_normal(p: Normal, q: Normal) -> Tensor:
    """½ (σp²/σq² + (μp − μq)²/σq² − 1 − log(σp²/σq²))."""
    var_ratio = (p.scale / q.scale) ** 2
    t1 = ((p.loc - q.loc) / q.scale) ** 2
    return 0.5 * (var_ratio + t1 - 1 - var_ratio.log())


@register_kl(Categorical, Categorical)
def _kl_categorical_categorical(p: Categorical, q: Categorical) -> Tensor:
    """Σ p_i (log p_i − log q_i); terms with p_i = 0 count 0, with q_i = 0 < p_i count +∞."""
    t = p.probs * (p.logits - q.logits)
    shape = t.shape
    q_zero = np.broadcast_to(q.probs._array == 0, shape)
    p_zero = np.broadcast_to(p.probs._array == 0, shape)
    if q_zero.any() or p_zero.any():
        from chainrule.ops import where

        inf = Tensor._wrap(np.full(shape, np.inf, dtype=t.dtype))
        zero = Tensor._wrap(np.zeros(shape, dtype=t.dtype))
        t = where(Tensor._wrap(q_zero), inf, t)
        t = where(Tensor._wrap(p_zero), zero, t)
    return t.sum(-1)


@register_kl(OneHotCategorical, OneHotCategorical)
def _kl_onehot_onehot(p: OneHotCategorical, q: OneHotCategorical) -> Tensor:
    return _kl_categorical_categorical(p._categorical, q._categorical)


@register_kl(Bernoulli, Bernoulli)
def _kl_bernoulli_bernoulli(p: Bernoulli, q: Bernoulli) -> Tensor:
    """p (lp − lq) + log(1 + e^lq) − log(1 + e^lp), with l the logits (finite for p in (0, 1))."""
    return p.probs * (p.logits - q.logits) + _softplus(q.logits) - _softplus(p.logits)


@register_kl(Uniform, Uniform)
def _kl_uniform_uniform(p: Uniform, q: Uniform) -> Tensor:
    """log((hq − lq) / (hp − lp)) when [lp, hp) ⊆ [lq, hq), else +∞."""
    result = ((q.high - q.low) / (p.high - p.low)).log()
    outside = (q.low._array > p.low._array) | (q.high._array < p.high._array)
    if np.any(outside):
        from chainrule.ops import where

        inf = Tensor._wrap(np.full(result.shape, np.inf, dtype=result.dtype))
        result = where(Tensor._wrap(np.broadcast_to(outside, result.shape)), inf, result)
    return result




@register_kl(Exponential, Exponential)
def _kl_exponential_exponential(p: Exponential, q: Exponential) -> Tensor:
    """log(λp/λq) + λq/λp − 1."""
    ratio = q.rate / p.rate
    return ratio - 1 - ratio.log()


@register_kl(Laplace, Laplace)
def _kl_laplace_laplace(p: Laplace, q: Laplace) -> Tensor:
    """log(bq/bp) + |μp − μq|/bq + (bp/bq) e^{−|μp − μq|/bp} − 1."""
    ratio = p.scale / q.scale
    dist = (p.loc - q.loc).abs()
    return -ratio.log() + dist / q.scale + ratio * (-dist / p.scale).exp() - 1


@register_kl(Gamma, Gamma)
def _kl_gamma_gamma(p: Gamma, q: Gamma) -> Tensor:
    """(αp − αq) ψ(αp) − log Γ(αp) + log Γ(αq) + αq log(βp/βq) + αp (βq − βp)/βp."""
    ap, bp, aq, bq = p.concentration, p.rate, q.concentration, q.rate
    return ((ap - aq) * _digamma(ap) - _lgamma(ap) + _lgamma(aq) + aq * (bp.log() - bq.log())
            + ap * (bq - bp) / bp)


def _kl_dirichlet_params(a: Tensor, b: Tensor) -> Tensor:
    a0, b0 = a.sum(-1), b.sum(-1)
    return (_lgamma(a0) - _lgamma(a).sum(-1) - _lgamma(b0) + _lgamma(b).sum(-1)
            + ((a - b) * (_digamma(a) - _digamma(a0).unsqueeze(-1))).sum(-1))


@register_kl(Dirichlet, Dirichlet)
def _kl_dirichlet_dirichlet(p: Dirichlet, q: Dirichlet) -> Tensor:
    """log Γ(α₀) − Σ log Γ(αᵢ) − log Γ(β₀) + Σ log Γ(βᵢ) + Σ (αᵢ − βᵢ)(ψ(αᵢ) − ψ(α₀))."""
    return _kl_dirichlet_params(p.concentration, q.concentration)


@register_kl(Beta, Beta)
def _kl_beta_beta(p: Beta, q: Beta) -> Tensor:
    """The Dirichlet formula with the two concentrations (a, b) as a 2-vector."""
    from chainrule.ops import stack

    return _kl_dirichlet_params(stack([p.concentration1, p.concentration0], -1),
                                stack([q.concentration1, q.concentration0], -1))


@register_kl(Poisson, Poisson)
def _kl_poisson_poisson(p: Poisson, q: Poisson) -> Tensor:
    """λp (log λp − log λq) − (λp − λq)."""
    from chainrule.ops import xlogy

    return xlogy(p.rate, p.rate) - xlogy(p.rate, q.rate) - (p.rate - q.rate)


@register_kl(MultivariateNormal, MultivariateNormal)
def _kl_mvn_mvn(p: MultivariateNormal, q: MultivariateNormal) -> Tensor:
    """½ (tr(Σq⁻¹Σp) + (μq − μp)ᵀΣq⁻¹(μq − μp) − d + log det Σq − log det Σp), with the Cholesky factors."""
    from chainrule.linalg import solve_triangular

    if p.event_shape != q.event_shape:
        raise ValueError("KL-divergence between two Multivariate Normals with different event shapes "
                         "cannot be computed")
    d = p.event_shape[0]
    batch = tuple(np.broadcast_shapes(p.batch_shape, q.batch_shape))
    Lp = p.scale_tril.expand(*(batch + (d, d)))
    Lq = q.scale_tril.expand(*(batch + (d, d)))
    trace = solve_triangular(Lq, Lp, upper=False).pow(2).sum((-2, -1))
    diff = (q.loc - p.loc).expand(*(batch + (d,))).unsqueeze(-1)
    maha = solve_triangular(Lq, diff, upper=False).pow(2).sum((-2, -1))
    return _half_log_det(Lq) - _half_log_det(Lp) + 0.5 * (trace + maha - d)


@register_kl(Independent, Independent)
def _kl_independent_independent(p: Independent, q: Independent) -> Tensor:
    """The base distributions' KL, summed over the reinterpreted dimensions."""
    if p.reinterpreted_batch_ndims != q.reinterpreted_batch_ndims:
        raise NotImplementedError("kl_divergence: Independent distributions with different "
                                  "reinterpreted_batch_ndims")
    return sum_rightmost(kl_divergence(p.base_dist, q.base_dist), p.reinterpreted_batch_ndims)


@register_kl(Gumbel, Gumbel)
def _kl_gumbel_gumbel(p: Gumbel, q: Gumbel) -> Tensor:
    """log(βq/βp) + (μp − μq)/βq + γ(βp/βq − 1) + e^{(μq − μp)/βq} Γ(1 + βp/βq) − 1."""
    ratio = p.scale / q.scale
    shift = (q.loc - p.loc) / q.scale
    return -ratio.log() - shift + _EULER * (ratio - 1) + (shift + _lgamma(1 + ratio)).exp() - 1


@register_kl(Cauchy, Cauchy)
def _kl_cauchy_cauchy(p: Cauchy, q: Cauchy) -> Tensor:
    """log(((γp + γq)² + (x₀p − x₀q)²) / (4 γp γq))."""
    return (((p.scale + q.scale).pow(2) + (p.loc - q.loc).pow(2)) / (4 * p.scale * q.scale)).log()


@register_kl(Geometric, Geometric)
def _kl_geometric_geometric(p: Geometric, q: Geometric) -> Tensor:
    """−H(p) − (1/p − 1) log(1 − q) − log q."""
    return -p.entropy() - (1 / p.probs - 1) * (-q.probs).log1p() - q.probs.log()


@register_kl(Binomial, Binomial)
def _kl_binomial_binomial(p: Binomial, q: Binomial) -> Tensor:
    """n (p (log p − log q) + (1 − p)(log(1 − p) − log(1 − q))), with logits; equal counts only."""
    if not np.array_equal(np.broadcast_to(p.total_count._array, p.batch_shape),
                          np.broadcast_to(q.total_count._array, q.batch_shape)):
        raise NotImplementedError("KL between Binomials where q.total_count != p.total_count is not implemented")
    # p log(p/q) + (1 − p) log((1 − p)/(1 − q)) = p (lp − lq) + softplus(lq) − softplus(lp)
    return p.total_count * (p.probs * (p.logits - q.logits) + _softplus(q.logits) - _softplus(p.logits))


@register_kl(HalfNormal, HalfNormal)
def _kl_halfnormal_halfnormal(p: HalfNormal, q: HalfNormal) -> Tensor:
    """The Normal(0, σp) ‖ Normal(0, σq) divergence (folding both at 0 changes neither term)."""
    return _kl_normal_normal(p.base_dist, q.base_dist)


@register_kl(TransformedDistribution, TransformedDistribution)
def _kl_transformed_transformed(p: TransformedDistribution, q: TransformedDistribution) -> Tensor:
    """KL is unchanged by one bijection applied to both: the bases' KL, when the transforms are equal."""
    if p.transforms != q.transforms or not all(t.bijective for t in p.transforms):
        raise NotImplementedError("kl_divergence: the two TransformedDistributions need the same bijective transforms")
    if p.event_shape != q.event_shape:
        raise NotImplementedError("kl_divergence: the two TransformedDistributions have different event shapes")
    return kl_divergence(p.base_dist, q.base_dist)
