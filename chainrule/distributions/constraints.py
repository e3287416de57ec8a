"""Constraints on distribution parameters and supports (PyTorch's ``torch.distributions.constraints``).

A constraint answers ``check(value)``: a boolean array, True where ``value``
satisfies it (over the last ``event_dim`` dimensions together for event
constraints such as ``simplex``).  They are checked only when a distribution
validates its arguments.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "Constraint",
    "real",
    "positive",
    "unit_interval",
    "boolean",
    "simplex",
    "one_hot",
    "interval",
    "half_open_interval",
    "integer_interval",
    "nonnegative_integer",
]


def _np(value: Any) -> np.ndarray:
    return np.asarray(getattr(value, "data", value))


class Constraint:
    """Base class: ``check(value)`` returns a boolean array; ``event_dim`` dimensions are checked jointly."""

    is_discrete = False
    event_dim = 0

    def check(self, value: Any) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return type(self).__name__[1:] + "()"


class _Real(Constraint):
    def check(self, value: Any) -> np.ndarray:
        v = _np(value)
        return v == v  # False only at NaN


class _GreaterThan(Constraint):
    def __init__(self, lower_bound: float) -> None:
        self.lower_bound = lower_bound

    def check(self, value: Any) -> np.ndarray:
        return _np(value) > self.lower_bound

    def __repr__(self) -> str:
        return f"GreaterThan(lower_bound={self.lower_bound})"


class _Interval(Constraint):
    """lower ≤ x ≤ upper (bounds may be arrays/Tensors, broadcast against the value)."""

    def __init__(self, lower_bound: Any, upper_bound: Any) -> None:
        self.lower_bound = lower_bound
        self.upper_bound = upper_bound

    def check(self, value: Any) -> np.ndarray:
        v = _np(value)
        return (_np(self.lower_bound) <= v) & (v <= _np(self.upper_bound))

    def __repr__(self) -> str:
        return f"Interval(lower_bound={self.lower_bound}, upper_bound={self.upper_bound})"


class _HalfOpenInterval(_Interval):
    """lower ≤ x < upper."""

    def check(self, value: Any) -> np.ndarray:
        v = _np(value)
        return (_np(self.lower_bound) <= v) & (v < _np(self.upper_bound))

    def __repr__(self) -> str:
        return f"HalfOpenInterval(lower_bound={self.lower_bound}, upper_bound={self.upper_bound})"


class _IntegerInterval(Constraint):
    """Integers lower ≤ k ≤ upper (as any dtype: a float 2.0 is the integer 2)."""

    is_discrete = True

    def __init__(self, lower_bound: Any, upper_bound: Any) -> None:
        self.lower_bound = lower_bound
        self.upper_bound = upper_bound

    def check(self, value: Any) -> np.ndarray:
        v = _np(value)
        return (v % 1 == 0) & (_np(self.lower_bound) <= v) & (v <= _np(self.upper_bound))

    def __repr__(self) -> str:
        return f"IntegerInterval(lower_bound={self.lower_bound}, upper_bound={self.upper_bound})"


class _Boolean(Constraint):
    is_discrete = True

    def check(self, value: Any) -> np.ndarray:
        v = _np(value)
        return (v == 0) | (v == 1)


class _Simplex(Constraint):
    """Non-negative vectors (last dimension) summing to 1."""

    event_dim = 1

    def check(self, value: Any) -> np.ndarray:
        v = _np(value)
        return np.all(v >= 0, axis=-1) & (np.abs(v.sum(-1) - 1) < 1e-6)


class _OneHot(Constraint):
    """Vectors (last dimension) of zeros with a single one."""

    is_discrete = True
    event_dim = 1

    def check(self, value: Any) -> np.ndarray:
        v = _np(value)
        return np.all((v == 0) | (v == 1), axis=-1) & (v.sum(-1) == 1)


real = _Real()
positive = _GreaterThan(0.0)
unit_interval = _Interval(0.0, 1.0)
boolean = _Boolean()
simplex = _Simplex()
one_hot = _OneHot()
nonnegative_integer = _IntegerInterval(0, np.inf)
interval = _Interval
half_open_interval = _HalfOpenInterval
integer_interval = _IntegerInterval
