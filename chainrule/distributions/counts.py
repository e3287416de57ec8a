"""Distributions of counts: Poisson, Binomial, Geometric and Multinomial."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.backend.random import default_generator
from chainrule.distributions import constraints
from chainrule.distributions.discrete import Categorical, CategoricalBased, _ProbsOrLogits, _softplus
from chainrule.distributions.distribution import broadcast_all
from chainrule.distributions.exp_family import ExponentialFamily
from chainrule.distributions.utils import clamp_probs, constant
from chainrule.distributions.utils import lgamma as _lgamma
from chainrule.distributions.utils import where_mask as _where

__all__ = ["Poisson", "Binomial", "Geometric", "Multinomial"]




class Poisson(ExponentialFamily):
    r"""Poisson(λ) with ``rate`` λ ≥ 0, on the counts 0, 1, 2, ...

    log P(k) = k log λ − λ − log k!;  mean and variance λ, mode ⌊λ⌋.
    """

    arg_constraints = {"rate": constraints.nonnegative}
    support = constraints.nonnegative_integer

    def __init__(self, rate: Tensor | float, validate_args: bool | None = None) -> None:
        (self.rate,) = broadcast_all(rate)
        super().__init__(self.rate.shape, (), validate_args)

    @property
    def mean(self) -> Tensor:
        return self.rate

    @property
    def mode(self) -> Tensor:
        return self.rate.detach().floor()

    @property
    def variance(self) -> Tensor:
        return self.rate

    def sample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        lam = np.broadcast_to(self.rate._array, shape)
        return Tensor._wrap(default_generator().poisson(lam).astype(self.rate.dtype))

    def log_prob(self, value: Tensor) -> Tensor:
        from chainrule.ops import xlogy

        if self._validate_args:
            self._validate_sample(value)
        return xlogy(value, self.rate) - self.rate - _lgamma(value + 1)

    @property
    def _natural_params(self) -> tuple[Tensor, ...]:
        """(log λ,), with T(k) = k and h(k) = 1/k! (E[log h] has no closed form: no entropy)."""
        return (self.rate.log(),)

    def _log_normalizer(self, *eta: Tensor) -> Tensor:
        """A(η) = e^η."""
        return eta[0].exp()


class _TrialsAndProbs(_ProbsOrLogits):
    """A number of trials ``total_count`` n and a success probability (``probs`` or binary
    ``logits``), broadcast together to the batch shape: Binomial's and NegativeBinomial's."""

    def _set_params(self, where: str, total_count: Any, probs: Any, logits: Any) -> Tensor:
        """Keep n and the parameter given, both at their broadcast shape (n in the parameter's
        dtype); return the parameter."""
        param = self._set_param(where, probs, logits)
        count, param = broadcast_all(total_count, param)
        self.total_count = count.to(param.dtype) if count.dtype != param.dtype else count
        if self._param_name == "probs":
            self.probs = param
        else:
            self.logits = param
        return param


class Binomial(_TrialsAndProbs):
    r"""Binomial(n, p): successes in ``total_count`` n trials of probability p (``probs``, or ``logits`` l).

    log P(k) = log C(n, k) + k l − n log(1 + eˡ);  mean np, variance np(1 − p),
    mode ⌊(n + 1)p⌋ (at most n).  ``entropy`` sums over k = 0 … max n.
    """

    arg_constraints = {"total_count": constraints.nonnegative_integer, "probs": constraints.unit_interval,
                       "logits": constraints.real}
    has_enumerate_support = True

    def __init__(self, total_count: Tensor | int = 1, probs: Tensor | float | None = None,
                 logits: Tensor | float | None = None, validate_args: bool | None = None) -> None:
        count = float(total_count) if not isinstance(total_count, Tensor) else total_count
        param = self._set_params("Binomial", count, probs, logits)
        super().__init__(param.shape, (), validate_args)

    @property
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.integer_interval(0, self.total_count)

    @property
    def mean(self) -> Tensor:
        return self.total_count * self.probs

    @property
    def mode(self) -> Tensor:
        n = self.total_count.detach()
        return ((n + 1) * self.probs.detach()).floor().clamp(max=n)

    @property
    def variance(self) -> Tensor:
        return self.total_count * self.probs * (1 - self.probs)

    def sample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        n = np.broadcast_to(self.total_count._array, shape).astype(np.int64)
        p = np.broadcast_to(self.probs._array, shape)
        return Tensor._wrap(default_generator().binomial(n, p).astype(self.probs.dtype))

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        n, l = self.total_count, self.logits
        log_choose = _lgamma(n + 1) - _lgamma(value + 1) - _lgamma(n - value + 1)
        # k l − n log(1 + eˡ), written so that l = ±∞-like clamped logits stay finite at k = 0 and k = n
        return log_choose + value * l - n * _softplus(l)

    def entropy(self) -> Tensor:
        """−Σₖ P(k) log P(k) over k = 0 … n (the counts must be the same across the batch)."""
        n = self.total_count._array
        if n.size and not np.all(n == n.flat[0]):
            raise NotImplementedError("Binomial.entropy: inhomogeneous total_count is not supported")
        support = self.enumerate_support(expand=False)
        lp = self.log_prob(support)
        return -(lp.exp() * lp).sum(0)

    def enumerate_support(self, expand: bool = True) -> Tensor:
        """0 … n, shaped (n + 1,) + (1,)·len(batch_shape) (expanded if ``expand``)."""
        n = self.total_count._array
        top = int(n.flat[0]) if n.size else 0
        if n.size and not np.all(n == top):
            raise NotImplementedError("Binomial.enumerate_support: inhomogeneous total_count is not supported")
        values = np.arange(top + 1, dtype=self.total_count.dtype).reshape((-1,) + (1,) * len(self._batch_shape))
        if expand:
            values = np.broadcast_to(values, (top + 1,) + self._batch_shape).copy()
        return Tensor._wrap(values)


class Geometric(_ProbsOrLogits):
    r"""The number of failures before the first success, success probability p ∈ (0, 1] (``probs`` or ``logits``).

    log P(k) = k log(1 − p) + log p;  mean 1/p − 1, variance (1 − p)/p², mode 0;
    H = −((1 − p) log(1 − p) + p log p)/p.
    """

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.nonnegative_integer

    def __init__(self, probs: Tensor | float | None = None, logits: Tensor | float | None = None,
                 validate_args: bool | None = None) -> None:
        param = self._set_param("Geometric", probs, logits)
        super().__init__(param.shape, (), validate_args)
        if self._validate_args and probs is not None and not np.all(self.probs._array > 0):
            raise ValueError(f"Geometric: expected parameter probs to be positive, got {self.probs}")

    @property
    def mean(self) -> Tensor:
        return 1.0 / self.probs - 1.0

    @property
    def mode(self) -> Tensor:
        return self.probs.detach() * 0

    @property
    def variance(self) -> Tensor:
        return (1.0 / self.probs - 1.0) / self.probs

    def sample(self, sample_shape: Any = ()) -> Tensor:
        """⌊log u / log(1 − p)⌋ with u ~ U(0, 1)."""
        shape = self._extended_shape(sample_shape)
        p = np.broadcast_to(self.probs._array, shape)
        tiny = float(np.finfo(p.dtype).tiny)
        u = np.maximum(default_generator().random(shape), tiny)
        with np.errstate(divide="ignore"):
            k = np.floor(np.log(u) / np.log1p(-p))
        return Tensor._wrap(np.where(p == 1, 0.0, k).astype(p.dtype))

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        p = self.probs
        shape = np.broadcast_shapes(p.shape, value.shape)
        certain = np.broadcast_to(p._array == 1, shape) & np.broadcast_to(value._array == 0, shape)
        if certain.any():  # k = 0 with p = 1: 0 · log 0 counts 0
            p_term = _where(certain, constant(0.0, p, shape), p.expand(*shape))
        else:
            p_term = p
        return value * (-p_term).log1p() + p.log()

    def entropy(self) -> Tensor:
        p = clamp_probs(self.probs)
        return -((1 - p) * (-p).log1p() + p * p.log()) / p


class Multinomial(CategoricalBased):
    r"""Counts of ``total_count`` n draws from a Categorical over k classes (``probs`` or ``logits``).

    Samples and values have event_shape (k,).  log P(x) = log n! − Σᵢ log xᵢ! + Σᵢ xᵢ log pᵢ;
    mean np, variance np(1 − p).  ``entropy`` uses the Binomial(n, pᵢ) marginals:
    H = n H(p) − log n! + Σᵢ E[log xᵢ!].
    """

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}

    def __init__(self, total_count: int = 1, probs: Tensor | None = None, logits: Tensor | None = None,
                 validate_args: bool | None = None) -> None:
        if not isinstance(total_count, (int, np.integer)):
            raise NotImplementedError("Multinomial: inhomogeneous total_count is not supported")
        self.total_count = int(total_count)
        categorical = Categorical(probs=probs, logits=logits, validate_args=validate_args)
        self._param_name = categorical._param_name
        super().__init__(categorical, validate_args)

    @property
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.multinomial(self.total_count)

    @property
    def mean(self) -> Tensor:
        return self.probs * self.total_count

    @property
    def variance(self) -> Tensor:
        return self.total_count * self.probs * (1 - self.probs)

    def sample(self, sample_shape: Any = ()) -> Tensor:
        """n Categorical draws per sample, counted per class."""
        from chainrule.distributions.distribution import _shape

        sample_shape = _shape(sample_shape, "Multinomial.sample")
        k = self._event_shape[0]
        idx = self._categorical.sample((self.total_count,) + sample_shape)._array
        counts = (idx[..., None] == np.arange(k)).sum(0)
        return Tensor._wrap(counts.astype(self.probs.dtype))

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        logits = self.logits
        if np.any(np.isinf(logits._array)):  # 0 · log 0 = 0: a class of probability 0 that was not drawn
            shape = np.broadcast_shapes(logits.shape, value.shape)
            unused = np.broadcast_to(np.isinf(logits._array), shape) & np.broadcast_to(value._array == 0, shape)
            logits = _where(unused, constant(0.0, logits, shape), logits.expand(*shape))
        log_norm = _lgamma(value.sum(-1) + 1) - _lgamma(value + 1).sum(-1)
        return (logits * value).sum(-1) + log_norm

    def entropy(self) -> Tensor:
        n = self.total_count
        cat_h = self._categorical.entropy()
        k = Tensor._wrap(np.arange(n + 1, dtype=self.probs.dtype).reshape((-1,) + (1,) * (len(self._batch_shape) + 1)))
        marginals = Binomial(n, probs=self.probs, validate_args=False)
        lp = marginals.log_prob(k)  # (n + 1,) + batch_shape + (k,)
        expected_log_fact = (lp.exp() * _lgamma(k + 1)).sum(0).sum(-1)
        return n * cat_h - float(np.log(np.arange(1, n + 1)).sum()) + expected_log_fact
