"""From unconstrained reals to a constraint's set (PyTorch's ``biject_to`` and ``transform_to``).

``biject_to(c)`` is a bijection from the reals onto the set ``c`` (for reparameterising a
constrained parameter and for change-of-variables densities); ``transform_to(c)`` need only
map onto it (so ``transform_to(simplex)`` is the softmax, ``biject_to(simplex)`` the
stick-breaking transform).  Both look the constraint's class
up in a registry; ``register(constraint, factory)`` adds one.

    unconstrained = cr.zeros(3, requires_grad=True)
    scale = transform_to(constraints.positive)(unconstrained)     # exp: always > 0
"""

from __future__ import annotations

import numbers
from typing import Any, Callable

from chainrule.distributions import constraints
from chainrule.distributions.transforms import (
    AffineTransform,
    CatTransform,
    ComposeTransform,
    CorrCholeskyTransform,
    ExpTransform,
    IndependentTransform,
    LowerCholeskyTransform,
    PositiveDefiniteTransform,
    SigmoidTransform,
    SoftmaxTransform,
    StackTransform,
    StickBreakingTransform,
    Transform,
    identity_transform,
)

__all__ = ["ConstraintRegistry", "biject_to", "transform_to"]

_Factory = Callable[[Any], Transform]


class ConstraintRegistry:
    """Constraint class → a factory ``f(constraint) -> Transform``."""

    def __init__(self) -> None:
        self._registry: dict[type, _Factory] = {}

    def register(self, constraint: Any, factory: _Factory | None = None) -> Any:
        """Register ``factory`` for a constraint class (or the class of a constraint instance);
        usable as a decorator when ``factory`` is omitted."""
        if factory is None:
            return lambda f: self.register(constraint, f)
        if isinstance(constraint, constraints.Constraint):
            constraint = type(constraint)
        if not (isinstance(constraint, type) and issubclass(constraint, constraints.Constraint)):
            raise TypeError(f"Expected constraint to be either a Constraint subclass or instance, got {constraint}")
        self._registry[constraint] = factory
        return factory

    def __call__(self, constraint: constraints.Constraint) -> Transform:
        for cls in type(constraint).__mro__:
            factory = self._registry.get(cls)
            if factory is not None:
                return factory(constraint)
        raise NotImplementedError(f"Cannot transform {type(constraint).__name__} constraints")


biject_to = ConstraintRegistry()
transform_to = ConstraintRegistry()


def _is_number(x: Any, value: float) -> bool:
    return isinstance(x, numbers.Number) and x == value


def _real(constraint: Any) -> Transform:
    return identity_transform


def _independent(constraint: Any) -> Transform:
    return IndependentTransform(biject_to(constraint.base_constraint), constraint.reinterpreted_batch_ndims)


def _independent_to(constraint: Any) -> Transform:
    return IndependentTransform(transform_to(constraint.base_constraint), constraint.reinterpreted_batch_ndims)


def _greater_than(constraint: Any) -> Transform:
    """x ↦ lower + eˣ (just eˣ for lower = 0)."""
    if _is_number(constraint.lower_bound, 0):
        return ExpTransform()
    return ComposeTransform([ExpTransform(), AffineTransform(constraint.lower_bound, 1)])


def _less_than(constraint: Any) -> Transform:
    """x ↦ upper − eˣ."""
    return ComposeTransform([ExpTransform(), AffineTransform(constraint.upper_bound, -1)])


def _interval(constraint: Any) -> Transform:
    """x ↦ lower + (upper − lower) σ(x) (just σ(x) for the unit interval)."""
    lower, upper = constraint.lower_bound, constraint.upper_bound
    if _is_number(lower, 0) and _is_number(upper, 1):
        return SigmoidTransform()
    return ComposeTransform([SigmoidTransform(), AffineTransform(lower, upper - lower)])


def _simplex_to(constraint: Any) -> Transform:
    return SoftmaxTransform()


def _simplex_bijection(constraint: Any) -> Transform:
    return StickBreakingTransform()


def _lower_cholesky(constraint: Any) -> Transform:
    return LowerCholeskyTransform()


def _positive_definite(constraint: Any) -> Transform:
    return PositiveDefiniteTransform()


def _corr_cholesky(constraint: Any) -> Transform:
    return CorrCholeskyTransform()


for _registry in (biject_to, transform_to):
    _registry.register(constraints._Real, _real)
    _registry.register(constraints._GreaterThan, _greater_than)
    _registry.register(constraints._GreaterThanEq, _greater_than)
    _registry.register(constraints._LessThan, _less_than)
    _registry.register(constraints._Interval, _interval)
def _cat(registry: ConstraintRegistry) -> _Factory:
    return lambda c: CatTransform([registry(part) for part in c.cseq], c.dim, c.lengths)


def _stack(registry: ConstraintRegistry) -> _Factory:
    return lambda c: StackTransform([registry(part) for part in c.cseq], c.dim)


for _registry in (biject_to, transform_to):
    _registry.register(constraints._Cat, _cat(_registry))
    _registry.register(constraints._Stack, _stack(_registry))
biject_to.register(constraints._Independent, _independent)
transform_to.register(constraints._Independent, _independent_to)
transform_to.register(constraints._Simplex, _simplex_to)
biject_to.register(constraints._Simplex, _simplex_bijection)
transform_to.register(constraints._LowerCholesky, _lower_cholesky)
transform_to.register(constraints._PositiveDefinite, _positive_definite)
biject_to.register(constraints._CorrCholesky, _corr_cholesky)
transform_to.register(constraints._CorrCholesky, _corr_cholesky)
