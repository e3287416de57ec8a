"""Bernoulli, Categorical and OneHotCategorical, each given by ``probs`` or by ``logits``."""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.distributions import constraints
from chainrule.distributions.distribution import Distribution, broadcast_all
from chainrule.distributions.exp_family import ExponentialFamily
from chainrule.distributions.utils import lazy_property, logits_to_probs, probs_to_logits, uniform
from chainrule.ops import activation as act

__all__ = ["Bernoulli", "Categorical", "OneHotCategorical"]


def _one_of(where: str, probs: Any, logits: Any) -> None:
    if (probs is None) == (logits is None):
        raise ValueError(f"{where}: either `probs` or `logits` must be specified, but not both")


def _as_tensor(where: str, name: str, value: Any) -> Tensor:
    if isinstance(value, Tensor):
        if value.dtype.kind != "f":
            raise ValueError(f"{where}: {name} must be a floating Tensor, got dtype {value.dtype}")
        return value
    if np.ndim(value) == 0:
        return broadcast_all(value)[0]
    raise ValueError(f"{where}: {name} must be a number or a Tensor, got {type(value).__name__}")


def _softplus(x: Tensor) -> Tensor:
    """log(1 + eˣ) without the threshold shortcut (exact for large x too, derivative σ(x))."""
    return act.softplus(x, 1.0, float("inf"))


class _ProbsOrLogits(Distribution):
    """A family given by ``probs`` p or by binary ``logits`` l = log(p / (1 − p)), the other
    derived on first use; the batch shape is the parameter's."""

    def _set_param(self, where: str, probs: Any, logits: Any) -> Tensor:
        """Store the one given (``where`` names the family in errors) and return it."""
        _one_of(where, probs, logits)
        self._param_name = "probs" if probs is not None else "logits"
        if probs is not None:
            self.probs = _as_tensor(where, "probs", probs)
            return self.probs
        self.logits = _as_tensor(where, "logits", logits)
        return self.logits

    @lazy_property
    def logits(self) -> Tensor:
        """log(p / (1 − p)), from probabilities clamped to [ε, 1 − ε]."""
        return probs_to_logits(self.probs, is_binary=True)

    @lazy_property
    def probs(self) -> Tensor:
        """σ(logits)."""
        return logits_to_probs(self.logits, is_binary=True)

    @property
    def param_shape(self) -> tuple[int, ...]:
        return self._batch_shape


class Bernoulli(_ProbsOrLogits, ExponentialFamily):
    r"""P(x = 1) = p, P(x = 0) = 1 − p; given ``probs`` p or ``logits`` l = log(p / (1 − p)).

    log P(x) = x l − log(1 + eˡ);  H = log(1 + eˡ) − p l;  mean p, variance p (1 − p).
    """

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.boolean
    has_enumerate_support = True

    def __init__(self, probs: Tensor | float | None = None, logits: Tensor | float | None = None,
                 validate_args: bool | None = None) -> None:
        param = self._set_param("Bernoulli", probs, logits)
        super().__init__(param.shape, (), validate_args)

    @property
    def mean(self) -> Tensor:
        return self.probs

    @property
    def mode(self) -> Tensor:
        p = self.probs._array
        return Tensor._wrap(np.where(p == 0.5, np.nan, (p > 0.5).astype(p.dtype)))

    @property
    def variance(self) -> Tensor:
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        p = np.broadcast_to(self.probs._array, shape)
        return Tensor._wrap((uniform(shape, p.dtype)._array < p).astype(p.dtype))

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return value * self.logits - _softplus(self.logits)

    def entropy(self) -> Tensor:
        return _softplus(self.logits) - self.probs * self.logits

    @property
    def _natural_params(self) -> tuple[Tensor, ...]:
        """(l,), the logits, with T(x) = x."""
        return (self.logits,)

    def _log_normalizer(self, *eta: Tensor) -> Tensor:
        """A(η) = log(1 + e^η)."""
        return _softplus(eta[0])

    @property
    def _mean_carrier_measure(self) -> float:
        return 0.0

    def enumerate_support(self, expand: bool = True) -> Tensor:
        """The values 0 and 1, shaped (2,) + (1,)·len(batch_shape) (expanded to the batch if ``expand``)."""
        dtype = self.probs._array.dtype if "probs" in self.__dict__ else self.logits._array.dtype
        values = np.arange(2, dtype=dtype).reshape((2,) + (1,) * len(self._batch_shape))
        if expand:
            values = np.broadcast_to(values, (2,) + self._batch_shape).copy()
        return Tensor._wrap(values)


class Categorical(Distribution):
    r"""One of k categories 0 … k−1 with probabilities ``probs`` (normalised over the last dimension) or ``logits``.

    ``probs``/``logits`` have shape batch_shape + (k,); samples are int64 indices of
    shape sample_shape + batch_shape.  log P(i) = logits_i − logsumexp(logits);
    H = −Σ p_i log p_i.  Samples come from chainrule's global generator.
    """

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real}
    has_enumerate_support = True

    def __init__(self, probs: Tensor | None = None, logits: Tensor | None = None,
                 validate_args: bool | None = None) -> None:
        from chainrule.ops import logsumexp

        _one_of("Categorical", probs, logits)
        param = _as_tensor("Categorical", "probs" if probs is not None else "logits",
                           probs if probs is not None else logits)
        if param.ndim < 1:
            raise ValueError(f"Categorical: `{'probs' if probs is not None else 'logits'}` parameter must be at "
                             f"least one-dimensional, got shape {tuple(param.shape)}")
        self._param_name = "probs" if probs is not None else "logits"
        if probs is not None:
            self.probs = param / param.sum(-1, keepdim=True)
        else:
            self.logits = param - logsumexp(param, -1, keepdim=True)  # normalised: logsumexp = 0
        self._num_events = param.shape[-1]
        super().__init__(param.shape[:-1], (), validate_args)

    @lazy_property
    def logits(self) -> Tensor:
        """log p, from probabilities clamped to [ε, 1 − ε]."""
        return probs_to_logits(self.probs)

    @lazy_property
    def probs(self) -> Tensor:
        """softmax(logits) over the last dimension."""
        return logits_to_probs(self.logits)

    @property
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.integer_interval(0, self._num_events - 1)

    @property
    def param_shape(self) -> tuple[int, ...]:
        return self._batch_shape + (self._num_events,)

    @property
    def mean(self) -> Tensor:
        return Tensor._wrap(np.full(self._batch_shape, np.nan, dtype=self._dtype()))

    @property
    def mode(self) -> Tensor:
        return Tensor._wrap(np.argmax(self.probs._array, axis=-1))

    @property
    def variance(self) -> Tensor:
        return Tensor._wrap(np.full(self._batch_shape, np.nan, dtype=self._dtype()))

    def _dtype(self) -> np.dtype:
        param = self.__dict__["probs"] if "probs" in self.__dict__ else self.__dict__["logits"]
        return param._array.dtype

    def sample(self, sample_shape: Any = ()) -> Tensor:
        """Indices drawn by inverting the cumulative distribution with U[0, 1) noise."""
        shape = self._extended_shape(sample_shape)
        p = self.probs._array
        cdf = np.cumsum(p, axis=-1)
        cdf = cdf / cdf[..., -1:]  # exactly 1 at the end, whatever the rounding
        u = uniform(shape, p.dtype)._array
        idx = (np.broadcast_to(cdf, shape + (self._num_events,)) <= u[..., None]).sum(-1)
        # a category of probability 0 has a flat cdf step: "≤" never lands on it
        return Tensor._wrap(np.minimum(idx, self._num_events - 1).astype(np.int64))

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        idx = np.asarray(value._array).astype(np.int64)
        shape = np.broadcast_shapes(idx.shape, self._batch_shape)
        logits = self.logits
        if logits.shape[:-1] != shape:
            logits = logits.expand(*(shape + (self._num_events,)))
        index = Tensor._wrap(np.broadcast_to(idx, shape)[..., None].copy())
        return logits.gather(-1, index).squeeze(-1)

    def entropy(self) -> Tensor:
        # −Σ p log p; logits of −∞ (probability 0) are clamped so that 0 · log 0 counts as 0
        min_real = float(np.finfo(self.logits.dtype).min)
        return -(self.logits.clamp(min=min_real) * self.probs).sum(-1)

    def enumerate_support(self, expand: bool = True) -> Tensor:
        """The categories 0 … k−1, shaped (k,) + (1,)·len(batch_shape) (expanded to the batch if ``expand``)."""
        values = np.arange(self._num_events, dtype=np.int64).reshape((-1,) + (1,) * len(self._batch_shape))
        if expand:
            values = np.broadcast_to(values, (self._num_events,) + self._batch_shape).copy()
        return Tensor._wrap(values)


_Based = TypeVar("_Based", bound="CategoricalBased")


class CategoricalBased(Distribution):
    """A distribution over vectors of length k built on a Categorical over k classes, kept as
    ``_categorical``: its ``probs`` and ``logits`` (batch_shape + (k,)), ``param_shape`` and
    batch shape are the Categorical's, its event_shape (k,).  ``expand`` expands the Categorical.
    OneHotCategorical's, Multinomial's and ExpRelaxedCategorical's."""

    def __init__(self, categorical: Categorical, validate_args: bool | None = None) -> None:
        self._categorical = categorical
        super().__init__(categorical.batch_shape, categorical.param_shape[-1:], validate_args)

    def expand(self: _Based, batch_shape: Any, _instance: Distribution | None = None) -> _Based:
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._categorical = self._categorical.expand(batch_shape)  # type: ignore[assignment]
        new._batch_shape = new._categorical.batch_shape
        return new

    @property
    def probs(self) -> Tensor:
        return self._categorical.probs

    @property
    def logits(self) -> Tensor:
        return self._categorical.logits

    @property
    def param_shape(self) -> tuple[int, ...]:
        return self._categorical.param_shape


class OneHotCategorical(CategoricalBased):
    """A Categorical whose samples are one-hot vectors of length k (event_shape (k,))."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real}
    support = constraints.one_hot
    has_enumerate_support = True

    def __init__(self, probs: Tensor | None = None, logits: Tensor | None = None,
                 validate_args: bool | None = None) -> None:
        super().__init__(Categorical(probs, logits, validate_args=validate_args), validate_args)

    @property
    def mean(self) -> Tensor:
        return self.probs

    @property
    def mode(self) -> Tensor:
        p = self.probs._array
        return Tensor._wrap((np.arange(p.shape[-1]) == p.argmax(-1)[..., None]).astype(p.dtype))

    @property
    def variance(self) -> Tensor:
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape: Any = ()) -> Tensor:
        idx = self._categorical.sample(sample_shape)._array
        k = self._event_shape[0]
        return Tensor._wrap((np.arange(k) == idx[..., None]).astype(self.probs.dtype))

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return self._categorical.log_prob(Tensor._wrap(np.asarray(value._array).argmax(-1)))

    def entropy(self) -> Tensor:
        return self._categorical.entropy()

    def enumerate_support(self, expand: bool = True) -> Tensor:
        k = self._event_shape[0]
        values = np.eye(k, dtype=self.probs.dtype).reshape((k,) + (1,) * len(self._batch_shape) + (k,))
        if expand:
            values = np.broadcast_to(values, (k,) + self._batch_shape + (k,)).copy()
        return Tensor._wrap(values)

    def __repr__(self) -> str:
        return f"OneHotCategorical(probs: Size({list(self.param_shape)}))"
