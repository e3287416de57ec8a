"""The base class of probability distributions (PyTorch's ``torch.distributions.Distribution``).

Shapes, as in PyTorch: a distribution holds a *batch* of independent
distributions of the same family (``batch_shape``, from broadcasting its
parameters), each over *events* of ``event_shape`` (``()`` for a scalar
variable, ``(k,)`` for a one-hot vector).  ``sample(sample_shape)`` returns
``sample_shape + batch_shape + event_shape``, and ``log_prob(value)`` one
number per batch element: ``value.shape[:-len(event_shape)]`` broadcast with
``batch_shape``.

The parameters are Tensors and every quantity (``log_prob``, ``entropy``,
``mean``...) is built from differentiable tensor operations, so gradients
flow to the parameters; ``rsample`` (where ``has_rsample``) is the
reparameterised sample, a differentiable function of the parameters and of
noise drawn from chainrule's global generator (``cr.manual_seed``).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from chainrule.autograd.grad_mode import no_grad
from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_default_dtype
from chainrule.distributions import constraints

__all__ = ["Distribution"]

_Shape = tuple[int, ...]


def _shape(size: Any, where: str) -> _Shape:
    """A shape argument as a tuple of ints (an int, a tuple/list, or a Tensor's shape)."""
    if isinstance(size, (int, np.integer)):
        return (int(size),)
    try:
        return tuple(int(s) for s in size)
    except TypeError:
        raise TypeError(f"{where}: expected a shape (tuple of ints), got {type(size).__name__}") from None


def broadcast_all(*values: Any) -> tuple[Tensor, ...]:
    """The parameters as Tensors of one broadcast shape (PyTorch's ``broadcast_all``).

    Numbers become Tensors of the Tensors' dtype (the default dtype if all are
    numbers); Tensors are expanded (a differentiable view), not copied.
    """
    dtype = next((v.dtype for v in values if isinstance(v, Tensor)), get_default_dtype())
    tensors = []
    for v in values:
        if isinstance(v, Tensor):
            tensors.append(v)
        elif isinstance(v, (int, float, np.integer, np.floating)):
            tensors.append(Tensor._wrap(np.array(v, dtype=dtype)))
        else:
            raise ValueError(f"Input arguments must all be instances of numbers or Tensors, got {type(v).__name__}")
    shape = np.broadcast_shapes(*(t.shape for t in tensors))
    return tuple(t if t.shape == shape else t.expand(*shape) for t in tensors)


class Distribution:
    """Base class.  Subclasses set ``arg_constraints``, ``support``, ``has_rsample`` and the methods they have."""

    has_rsample = False
    has_enumerate_support = False
    arg_constraints: dict[str, constraints.Constraint] = {}
    support: constraints.Constraint | None = None
    _validate_default = True

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        """Turn argument validation on or off for distributions created afterwards (default on)."""
        if value not in (True, False):
            raise ValueError(f"set_default_validate_args expects True or False, got {value!r}")
        Distribution._validate_default = value

    def __init__(self, batch_shape: Sequence[int] = (), event_shape: Sequence[int] = (),
                 validate_args: bool | None = None) -> None:
        self._batch_shape = _shape(batch_shape, "Distribution")
        self._event_shape = _shape(event_shape, "Distribution")
        self._validate_args = self._validate_default if validate_args is None else bool(validate_args)
        if self._validate_args:
            for name, constraint in self.arg_constraints.items():
                if name not in self.__dict__:
                    continue  # a parameter given the other way (probs or logits)
                value = getattr(self, name)
                ok = constraint.check(value)
                if not np.all(ok):
                    raise ValueError(
                        f"Expected parameter {name} ({type(value).__name__} of shape {tuple(value.shape)}) "
                        f"of distribution {self!r} to satisfy the constraint {constraint!r}, "
                        f"but found invalid values:\n{value}"
                    )

    # -- shapes ------------------------------------------------------------------------
    @property
    def batch_shape(self) -> _Shape:
        """The shape of the batch of independent distributions."""
        return self._batch_shape

    @property
    def event_shape(self) -> _Shape:
        """The shape of one sample of one distribution."""
        return self._event_shape

    def _extended_shape(self, sample_shape: Any = ()) -> _Shape:
        return _shape(sample_shape, "sample") + self._batch_shape + self._event_shape

    def expand(self, batch_shape: Sequence[int], _instance: Distribution | None = None) -> Distribution:
        """The same distribution repeated to ``batch_shape`` (parameters expanded, not copied)."""
        batch_shape = _shape(batch_shape, f"{type(self).__name__}.expand")
        try:
            np.broadcast_shapes(self._batch_shape, batch_shape)
        except ValueError:
            raise ValueError(
                f"{type(self).__name__}.expand: batch shape {self._batch_shape} cannot be expanded to {batch_shape}"
            ) from None
        new = type(self).__new__(type(self)) if _instance is None else _instance
        new.__dict__.update(self.__dict__)
        for name, value in self.__dict__.items():
            if isinstance(value, Tensor) and value.shape[: len(self._batch_shape)] == self._batch_shape:
                extra = value.shape[len(self._batch_shape):]
                new.__dict__[name] = value.expand(*(batch_shape + extra))
        new._batch_shape = batch_shape
        return new

    # -- sampling ----------------------------------------------------------------------
    def sample(self, sample_shape: Any = ()) -> Tensor:
        """Samples of shape ``sample_shape + batch_shape + event_shape``, without gradient."""
        with no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        """A reparameterised sample: differentiable with respect to the parameters."""
        raise NotImplementedError(f"{type(self).__name__} has no rsample (it is not reparameterisable)")

    def sample_n(self, n: int) -> Tensor:
        return self.sample((n,))

    # -- densities and moments -----------------------------------------------------------
    def log_prob(self, value: Tensor) -> Tensor:
        """The log of the density (or mass) at ``value``."""
        raise NotImplementedError(f"{type(self).__name__}.log_prob is not implemented")

    def cdf(self, value: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__}.cdf is not implemented")

    def icdf(self, value: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__}.icdf is not implemented")

    def entropy(self) -> Tensor:
        """H = −E[log p(x)], one value per batch element."""
        raise NotImplementedError(f"{type(self).__name__}.entropy is not implemented")

    def enumerate_support(self, expand: bool = True) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__}.enumerate_support is not implemented")

    def perplexity(self) -> Tensor:
        """exp(entropy)."""
        return self.entropy().exp()

    @property
    def mean(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__}.mean is not implemented")

    @property
    def mode(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__}.mode is not implemented")

    @property
    def variance(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__}.variance is not implemented")

    @property
    def stddev(self) -> Tensor:
        """√variance."""
        return self.variance.sqrt()

    # -- checks --------------------------------------------------------------------------
    def _validate_sample(self, value: Any, where: str = "log_prob") -> None:
        """With validation on: ``value`` is a Tensor whose shape broadcasts with the batch and lies in the support."""
        if not isinstance(value, Tensor):
            raise ValueError(f"{type(self).__name__}.{where}: the value argument must be a Tensor, "
                             f"got {type(value).__name__}")
        n_event = len(self._event_shape)
        if n_event and tuple(value.shape[-n_event:]) != self._event_shape:
            raise ValueError(
                f"{type(self).__name__}.{where}: the right-most size of value must match event_shape: "
                f"{tuple(value.shape)} vs {self._event_shape}"
            )
        actual = tuple(value.shape[: value.ndim - n_event]) if n_event else tuple(value.shape)
        try:
            np.broadcast_shapes(actual, self._batch_shape)
        except ValueError:
            raise ValueError(
                f"{type(self).__name__}.{where}: value shape {tuple(value.shape)} does not broadcast with "
                f"batch_shape {self._batch_shape}"
            ) from None
        if self.support is not None and not np.all(self.support.check(value)):
            raise ValueError(
                f"{type(self).__name__}.{where}: expected value argument ({type(value).__name__} of shape "
                f"{tuple(value.shape)}) to be within the support ({self.support!r}) of the distribution "
                f"{self!r}, but found invalid values:\n{value}"
            )

    def __repr__(self) -> str:
        given = self.__dict__.get("_param_name")  # probs or logits: the one given, not the one derived
        other = {"probs": "logits", "logits": "probs"}.get(given or "")
        names = [k for k in self.arg_constraints if k in self.__dict__ and k != other]
        parts = []
        for k in names:
            v = self.__dict__[k]
            parts.append(f"{k}: {v._array.item() if v._array.size == 1 else 'Size(' + str(list(v.shape)) + ')'}")
        return f"{type(self).__name__}({', '.join(parts)})"


_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
