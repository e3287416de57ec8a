"""Mixtures and continuous relaxations of discrete distributions.

``MixtureSameFamily``; ``RelaxedBernoulli`` and ``RelaxedOneHotCategorical`` (the Concrete /
Gumbel-softmax distributions of Maddison et al. and Jang et al., 2017), built as transformed
``LogitRelaxedBernoulli`` and ``ExpRelaxedCategorical``.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from chainrule.autograd.grad_mode import no_grad
from chainrule.autograd.tensor import Tensor
from chainrule.distributions import constraints
from chainrule.distributions.discrete import Categorical, CategoricalBased, _ProbsOrLogits, _softplus
from chainrule.distributions.distribution import Distribution, _shape, broadcast_all
from chainrule.distributions.transformed import TransformedDistribution
from chainrule.distributions.transforms import ExpTransform, SigmoidTransform
from chainrule.distributions.utils import open_uniform

__all__ = ["MixtureSameFamily", "LogitRelaxedBernoulli", "RelaxedBernoulli", "ExpRelaxedCategorical",
           "RelaxedOneHotCategorical"]


class MixtureSameFamily(Distribution):
    r"""A mixture of k components of one family: p(x) = Σᵢ πᵢ pᵢ(x).

    ``mixture_distribution`` is a Categorical with batch_shape b and k categories (the weights
    π); ``component_distribution`` has batch_shape b + (k,) (its right-most batch dimension
    indexes the components).  batch_shape b, event_shape the components'.
    log p(x) = logsumexp_i(log πᵢ + log pᵢ(x)); mean Σ πᵢ μᵢ; variance
    Σ πᵢ σᵢ² + Σ πᵢ (μᵢ − μ)² (the law of total variance).  Not reparameterisable.
    """

    arg_constraints: dict[str, constraints.Constraint] = {}
    has_rsample = False

    def __init__(self, mixture_distribution: Categorical, component_distribution: Distribution,
                 validate_args: bool | None = None) -> None:
        if not isinstance(mixture_distribution, Categorical):
            raise ValueError("The Mixture distribution needs to be an instance of torch.distributions.Categorical")
        if not isinstance(component_distribution, Distribution):
            raise ValueError("The Component distribution need to be an instance of torch.distributions.Distribution")
        mb, cb = mixture_distribution.batch_shape, component_distribution.batch_shape
        if len(cb) < 1:
            raise ValueError("MixtureSameFamily: the component distribution needs a batch dimension for the components")
        try:
            batch = tuple(np.broadcast_shapes(mb, cb[:-1]))
        except ValueError:
            raise ValueError(f"`mixture_distribution.batch_shape` ({mb}) is not compatible with "
                             f"`component_distribution.batch_shape` ({cb})") from None
        k = mixture_distribution.param_shape[-1]
        if cb[-1] != k:
            raise ValueError(f"`mixture_distribution component` ({k}) does not equal "
                             f"`component_distribution.batch_shape[-1]` ({cb[-1]})")
        self._mixture_distribution = mixture_distribution
        self._component_distribution = component_distribution
        self._num_component = k
        self._event_ndims = len(component_distribution.event_shape)
        super().__init__(batch, component_distribution.event_shape, validate_args)

    @property
    def mixture_distribution(self) -> Categorical:
        return self._mixture_distribution

    @property
    def component_distribution(self) -> Distribution:
        return self._component_distribution

    @property
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        return self._component_distribution.support  # type: ignore[return-value]

    def expand(self, batch_shape: Sequence[int], _instance: Distribution | None = None) -> MixtureSameFamily:
        batch_shape = _shape(batch_shape, "MixtureSameFamily.expand")
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._component_distribution = self._component_distribution.expand(batch_shape + (self._num_component,))
        new._mixture_distribution = self._mixture_distribution.expand(batch_shape)  # type: ignore[assignment]
        new._batch_shape = batch_shape
        return new

    def _weights(self) -> Tensor:
        """π shaped batch_shape + (k,) + (1,)·len(event_shape), to multiply the components' moments."""
        p = self._mixture_distribution.probs
        for _ in range(self._event_ndims):
            p = p.unsqueeze(-1)
        return p

    @property
    def mean(self) -> Tensor:
        return (self._weights() * self._component_distribution.mean).sum(-1 - self._event_ndims)

    @property
    def variance(self) -> Tensor:
        w = self._weights()
        axis = -1 - self._event_ndims
        means = self._component_distribution.mean
        mean = (w * means).sum(axis).unsqueeze(axis)
        return (w * self._component_distribution.variance).sum(axis) + (w * (means - mean).pow(2)).sum(axis)

    def cdf(self, x: Tensor) -> Tensor:
        """Σ πᵢ Fᵢ(x)."""
        x = x.unsqueeze(-1 - self._event_ndims)
        return (self._component_distribution.cdf(x) * self._mixture_distribution.probs).sum(-1)

    def log_prob(self, x: Tensor) -> Tensor:
        from chainrule.ops import log_softmax, logsumexp

        if self._validate_args:
            self._validate_sample(x)
        x = x.unsqueeze(-1 - self._event_ndims)
        lp = self._component_distribution.log_prob(x)  # ... + batch + (k,)
        return logsumexp(lp + log_softmax(self._mixture_distribution.logits, -1), -1)

    def sample(self, sample_shape: Any = ()) -> Tensor:
        """Draw a component index from π, then that component's sample."""
        with no_grad():
            sample_shape = _shape(sample_shape, "MixtureSameFamily.sample")
            idx = self._mixture_distribution.sample(sample_shape)._array       # sample + batch
            comp = self._component_distribution.sample(sample_shape)._array    # sample + batch + (k,) + event
            axis = len(sample_shape) + len(self._batch_shape)
            idx = np.broadcast_to(idx, sample_shape + self._batch_shape)
            index = idx.reshape(idx.shape + (1,) + (1,) * self._event_ndims)
            index = np.broadcast_to(index, idx.shape + (1,) + comp.shape[axis + 1:])
            return Tensor._wrap(np.take_along_axis(comp, index, axis=axis).squeeze(axis))

    def __repr__(self) -> str:
        return (f"MixtureSameFamily(\n  {self._mixture_distribution!r},\n"
                f"  {self._component_distribution!r})")


def _temperature_like(temperature: Any, param: Tensor) -> Tensor:
    """The temperature as a Tensor of the parameter's dtype (a number becomes a 0-d Tensor)."""
    (t,) = broadcast_all(temperature) if not isinstance(temperature, Tensor) else (temperature,)
    return t.to(param.dtype) if t.dtype != param.dtype else t


class LogitRelaxedBernoulli(_ProbsOrLogits):
    r"""The logit of a RelaxedBernoulli: y = (l + log u − log(1 − u)) / λ, u ~ U(0, 1), with
    ``temperature`` λ and logits l (or ``probs``).

    log p(y) = log λ + (l − λy) − 2 log(1 + e^{l − λy}).
    """

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.real
    has_rsample = True

    def __init__(self, temperature: Tensor | float, probs: Tensor | float | None = None,
                 logits: Tensor | float | None = None, validate_args: bool | None = None) -> None:
        param = self._set_param("LogitRelaxedBernoulli", probs, logits)
        self.temperature = _temperature_like(temperature, param)
        super().__init__(param.shape, (), validate_args)

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        u = Tensor._wrap(open_uniform(shape, self.logits.dtype))
        return (self.logits + u.log() - (-u).log1p()) / self.temperature

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        diff = self.logits - value * self.temperature
        return self.temperature.log() + diff - 2 * _softplus(diff)


class _RelaxedFromBase(TransformedDistribution):
    """A relaxation built as a transformed ``base_dist`` (LogitRelaxedBernoulli or
    ExpRelaxedCategorical) whose ``temperature``, ``logits`` and ``probs`` are the base's."""

    @property
    def temperature(self) -> Tensor:
        return self.base_dist.temperature  # type: ignore[attr-defined]

    @property
    def logits(self) -> Tensor:
        return self.base_dist.logits  # type: ignore[attr-defined]

    @property
    def probs(self) -> Tensor:
        return self.base_dist.probs  # type: ignore[attr-defined]


class RelaxedBernoulli(_RelaxedFromBase):
    r"""The Concrete relaxation of Bernoulli on (0, 1): σ(Y) with Y ~ LogitRelaxedBernoulli.

    ``temperature`` λ → 0 approaches Bernoulli(p); samples are reparameterised.
    """

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, temperature: Tensor | float, probs: Tensor | float | None = None,
                 logits: Tensor | float | None = None, validate_args: bool | None = None) -> None:
        base = LogitRelaxedBernoulli(temperature, probs, logits, validate_args=validate_args)
        super().__init__(base, SigmoidTransform(), validate_args=validate_args)


class ExpRelaxedCategorical(CategoricalBased):
    r"""The log of a RelaxedOneHotCategorical: y = log softmax((l + g)/λ), g standard Gumbel noise,
    over k classes (event_shape (k,)), ``temperature`` λ, ``logits`` l (or ``probs``).

    With sᵢ = lᵢ − λyᵢ: log p(y) = log (k − 1)! + (k − 1) log λ + Σᵢ (sᵢ − logsumexp(s)).
    """

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, temperature: Tensor | float, probs: Tensor | None = None, logits: Tensor | None = None,
                 validate_args: bool | None = None) -> None:
        categorical = Categorical(probs, logits, validate_args=validate_args)
        given = categorical.probs if probs is not None else categorical.logits  # the other is not derived yet
        self.temperature = _temperature_like(temperature, given)
        super().__init__(categorical, validate_args)

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        from chainrule.ops import logsumexp

        shape = self._extended_shape(sample_shape)
        u = Tensor._wrap(open_uniform(shape, self.logits.dtype))
        gumbels = -(-u.log()).log()
        scores = (self.logits + gumbels) / self.temperature
        return scores - logsumexp(scores, -1, keepdim=True)

    def log_prob(self, value: Tensor) -> Tensor:
        from chainrule.ops import logsumexp

        if self._validate_args:
            self._validate_sample(value)
        k = self._event_shape[0]
        log_scale = math.lgamma(k) + (k - 1) * self.temperature.log()
        s = self.logits - value * self.temperature
        return (s - logsumexp(s, -1, keepdim=True)).sum(-1) + log_scale


class RelaxedOneHotCategorical(_RelaxedFromBase):
    r"""The Concrete / Gumbel-softmax relaxation of OneHotCategorical on the simplex:
    softmax((l + g)/λ), g standard Gumbel noise; reparameterised, ``temperature`` λ → 0
    approaches one-hot samples."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, temperature: Tensor | float, probs: Tensor | None = None, logits: Tensor | None = None,
                 validate_args: bool | None = None) -> None:
        base = ExpRelaxedCategorical(temperature, probs, logits, validate_args=validate_args)
        super().__init__(base, ExpTransform(), validate_args=validate_args)
