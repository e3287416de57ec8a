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
    "positive_integer",
    "nonnegative",
    "greater_than",
    "greater_than_eq",
    "less_than",
    "independent",
    "real_vector",
    "multinomial",
    "lower_cholesky",
    "positive_definite",
    "cat",
    "stack",
    "corr_cholesky",
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
    def __init__(self, lower_bound: Any) -> None:
        self.lower_bound = lower_bound

    def check(self, value: Any) -> np.ndarray:
        return _np(value) > _np(self.lower_bound)

    def __repr__(self) -> str:
        return f"GreaterThan(lower_bound={self.lower_bound})"


class _GreaterThanEq(Constraint):
    def __init__(self, lower_bound: Any) -> None:
        self.lower_bound = lower_bound

    def check(self, value: Any) -> np.ndarray:
        return _np(value) >= _np(self.lower_bound)

    def __repr__(self) -> str:
        return f"GreaterThanEq(lower_bound={self.lower_bound})"


class _LessThan(Constraint):
    def __init__(self, upper_bound: Any) -> None:
        self.upper_bound = upper_bound

    def check(self, value: Any) -> np.ndarray:
        return _np(value) < _np(self.upper_bound)

    def __repr__(self) -> str:
        return f"LessThan(upper_bound={self.upper_bound})"


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


class _Independent(Constraint):
    """``base`` on every element, checked jointly over ``reinterpreted_batch_ndims`` more dimensions."""

    def __init__(self, base_constraint: Constraint, reinterpreted_batch_ndims: int) -> None:
        self.base_constraint = base_constraint
        self.reinterpreted_batch_ndims = int(reinterpreted_batch_ndims)

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        return self.base_constraint.is_discrete

    @property
    def event_dim(self) -> int:  # type: ignore[override]
        return self.base_constraint.event_dim + self.reinterpreted_batch_ndims

    def check(self, value: Any) -> np.ndarray:
        ok = np.asarray(self.base_constraint.check(value))
        n = self.reinterpreted_batch_ndims
        return np.asarray(ok.reshape(ok.shape[: ok.ndim - n] + (-1,)).all(-1)) if n else ok

    def __repr__(self) -> str:
        return f"IndependentConstraint({self.base_constraint!r}, {self.reinterpreted_batch_ndims})"


class _Multinomial(Constraint):
    """Vectors (last dimension) of non-negative integers summing to at most ``upper_bound``."""

    is_discrete = True
    event_dim = 1

    def __init__(self, upper_bound: int) -> None:
        self.upper_bound = upper_bound

    def check(self, value: Any) -> np.ndarray:
        v = _np(value)
        return np.all((v >= 0) & (v % 1 == 0), axis=-1) & (v.sum(-1) <= self.upper_bound)

    def __repr__(self) -> str:
        return f"Multinomial(upper_bound={self.upper_bound})"


class _LowerCholesky(Constraint):
    """Square lower-triangular matrices (last two dimensions) with a positive diagonal."""

    event_dim = 2

    def check(self, value: Any) -> np.ndarray:
        v = _np(value)
        lower = (np.tril(v) == v).reshape(v.shape[:-2] + (-1,)).all(-1)
        return lower & (np.diagonal(v, axis1=-2, axis2=-1) > 0).all(-1)


class _CorrCholesky(Constraint):
    """Lower Cholesky factors of correlation matrices: lower triangular, positive diagonal, rows
    of unit length (to a tolerance of a few ulps per entry)."""

    event_dim = 2

    def check(self, value: Any) -> np.ndarray:
        v = _np(value)
        tol = np.finfo(v.dtype).eps * v.shape[-1] * 10 if v.dtype.kind == "f" else 1e-6
        unit_rows = (np.abs(np.linalg.norm(v, axis=-1) - 1) <= tol).all(-1)
        return np.asarray(_LowerCholesky().check(v) & unit_rows)


class _PositiveDefinite(Constraint):
    """Symmetric matrices (last two dimensions) whose Cholesky factorisation exists."""

    event_dim = 2

    def check(self, value: Any) -> np.ndarray:
        v = _np(value)
        symmetric = np.isclose(v, np.swapaxes(v, -1, -2), atol=1e-6).reshape(v.shape[:-2] + (-1,)).all(-1)
        flat = v.reshape((-1,) + v.shape[-2:])
        ok = np.zeros(len(flat), dtype=np.bool_)
        for i, a in enumerate(flat):
            try:
                np.linalg.cholesky(a)
                ok[i] = True
            except np.linalg.LinAlgError:
                ok[i] = False
        return symmetric & ok.reshape(v.shape[:-2])


class _Cat(Constraint):
    """Constraint ``cseq[i]`` on the i-th block of ``lengths[i]`` entries along ``dim`` (each block
    checked by its own constraint, the answers put back together along ``dim``)."""

    def __init__(self, cseq: Any, dim: int = 0, lengths: Any = None) -> None:
        self.cseq = list(cseq)
        self.lengths = [1] * len(self.cseq) if lengths is None else [int(n) for n in lengths]
        if len(self.lengths) != len(self.cseq):
            raise ValueError(f"cat: {len(self.cseq)} constraints but {len(self.lengths)} lengths")
        self.dim = dim

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        return any(c.is_discrete for c in self.cseq)

    @property
    def event_dim(self) -> int:  # type: ignore[override]
        return max(c.event_dim for c in self.cseq)

    def check(self, value: Any) -> np.ndarray:
        v = _np(value)
        if not -v.ndim <= self.dim < v.ndim:
            raise ValueError(f"cat: dim {self.dim} out of range for a value of shape {tuple(v.shape)}")
        pieces, start = [], 0
        for c, n in zip(self.cseq, self.lengths):
            pieces.append(np.asarray(c.check(np.take(v, np.arange(start, start + n), axis=self.dim))))
            start += n
        return np.concatenate(pieces, axis=self.dim)

    def __repr__(self) -> str:
        return "Cat()"


class _Stack(Constraint):
    """Constraint ``cseq[i]`` on the i-th slice along ``dim``."""

    def __init__(self, cseq: Any, dim: int = 0) -> None:
        self.cseq = list(cseq)
        self.dim = dim

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        return any(c.is_discrete for c in self.cseq)

    @property
    def event_dim(self) -> int:  # type: ignore[override]
        dim = max(c.event_dim for c in self.cseq)
        return dim + 1 if self.dim + dim < 0 else dim

    def check(self, value: Any) -> np.ndarray:
        v = _np(value)
        if v.shape[self.dim] != len(self.cseq):
            raise ValueError(f"stack: {len(self.cseq)} constraints for {v.shape[self.dim]} slices along dim {self.dim}")
        return np.stack([np.asarray(c.check(np.take(v, i, axis=self.dim))) for i, c in enumerate(self.cseq)],
                        axis=self.dim)

    def __repr__(self) -> str:
        return "Stack()"


real = _Real()
positive = _GreaterThan(0.0)
unit_interval = _Interval(0.0, 1.0)
boolean = _Boolean()
simplex = _Simplex()
one_hot = _OneHot()
nonnegative_integer = _IntegerInterval(0, np.inf)
positive_integer = _IntegerInterval(1, np.inf)
nonnegative = _GreaterThanEq(0.0)
real_vector = _Independent(real, 1)
lower_cholesky = _LowerCholesky()
positive_definite = _PositiveDefinite()
corr_cholesky = _CorrCholesky()
greater_than = _GreaterThan
greater_than_eq = _GreaterThanEq
less_than = _LessThan
independent = _Independent
multinomial = _Multinomial
cat = _Cat
stack = _Stack
interval = _Interval
half_open_interval = _HalfOpenInterval
integer_interval = _IntegerInterval
