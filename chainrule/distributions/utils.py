"""Helpers shared by the distributions: lazy parameters, probs ↔ logits conversions, noise."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.backend.random import default_generator

__all__ = ["lazy_property", "clamp_probs", "probs_to_logits", "logits_to_probs", "standard_normal", "uniform"]


class lazy_property:
    """A parameter computed from the other one on first use, then stored on the instance.

    A non-data descriptor: once computed, the instance attribute shadows it.  So
    ``'probs' in d.__dict__`` tells whether ``probs`` was given or not yet needed.
    """

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn
        self.__doc__ = fn.__doc__
        self.name = fn.__name__

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        value = self.fn(instance)
        instance.__dict__[self.name] = value
        return value


def clamp_probs(probs: Tensor) -> Tensor:
    """Probabilities clamped to [ε, 1 − ε] (ε the dtype's machine epsilon), so that their logs are finite."""
    eps = float(np.finfo(probs.dtype).eps)
    return probs.clamp(min=eps, max=1 - eps)


def probs_to_logits(probs: Tensor, is_binary: bool = False) -> Tensor:
    """log p (categorical), or log p − log(1 − p) (binary), from clamped probabilities."""
    p = clamp_probs(probs)
    if is_binary:
        return p.log() - (-p).log1p()
    return p.log()


def logits_to_probs(logits: Tensor, is_binary: bool = False) -> Tensor:
    """σ(l) (binary), or softmax over the last dimension (categorical)."""
    from chainrule.ops import softmax

    if is_binary:
        return logits.sigmoid()
    return softmax(logits, -1)


def standard_normal(shape: tuple[int, ...], dtype: Any) -> Tensor:
    """N(0, 1) noise from the global generator (``cr.manual_seed``)."""
    return Tensor._wrap(default_generator().standard_normal(shape).astype(dtype, copy=False))


def uniform(shape: tuple[int, ...], dtype: Any) -> Tensor:
    """U[0, 1) noise from the global generator."""
    return Tensor._wrap(default_generator().random(shape).astype(dtype, copy=False))
