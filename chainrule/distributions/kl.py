"""KL divergence between two distributions (PyTorch's ``torch.distributions.kl``).

``kl_divergence(p, q)`` = E_p[log p(x) − log q(x)], one value per batch element,
looked up in a registry by the two types (``register_kl`` adds a pair).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.distributions.discrete import Bernoulli, Categorical, OneHotCategorical, _softplus
from chainrule.distributions.distribution import Distribution
from chainrule.distributions.normal import Normal, Uniform

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
