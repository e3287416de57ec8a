"""PyTorch's multi-tensor functions (``torch._foreach_add``, ``torch._foreach_lerp_``...).

Each applies one per-tensor operation to every tensor of a list, as EMA and optimiser code
calls them (timm's ``ModelEmaV3``: ``_foreach_lerp_``, ``_foreach_mul_``, ``_foreach_add_``).
PyTorch fuses the loop into a few kernels; here it is simply the loop, so every element
behaves exactly as the per-tensor operation: the out-of-place form (``_foreach_add``) returns a
tuple of the per-tensor results, the in-place form (``_foreach_add_``) calls the tensor's own
in-place method (``Tensor.add_``: version counters, graph rebinding and the leaf check as
there) and returns the list it was given.

The second operand may be, per function (as PyTorch's overloads):

* a list of tensors, one per tensor (the same length, else ``RuntimeError``);
* a number, or a 0-d tensor, used with every tensor;
* a list of numbers (a "scalar list"), one per tensor.

The functions are made from the tables below (:data:`UNARY`, :data:`BINARY`...), so each name
is one row.
"""

from __future__ import annotations

import numbers
from typing import Any, Callable, Sequence

from chainrule.autograd.tensor import Tensor
from chainrule.ops import elementwise as _ew
from chainrule.ops.inplace import in_place

# f(x) applied to each tensor: the name of the Tensor method (and of its in-place form, name + "_")
UNARY = (
    "abs", "acos", "asin", "atan", "ceil", "cos", "cosh", "erf", "erfc", "exp", "expm1", "floor", "frac",
    "lgamma", "log", "log10", "log1p", "log2", "neg", "reciprocal", "round", "rsqrt", "sigmoid", "sign", "sin",
    "sinh", "sqrt", "tan", "tanh", "trunc",
)

# f(x, other): name -> whether it takes ``alpha=`` (other scaled by alpha, with a list of tensors or a tensor)
BINARY = {
    "add": True, "sub": True, "mul": False, "div": False, "clamp_min": False, "clamp_max": False, "pow": False,
    "maximum": False, "minimum": False,
}

__all__ = [f"_foreach_{n}{s}" for n in (*UNARY, *BINARY, "addcmul", "addcdiv", "lerp") for s in ("", "_")] + [
    "_foreach_zero_", "_foreach_copy_", "_foreach_clone", "_foreach_norm", "_foreach_max", "_foreach_powsum",
    "_foreach_mm",
]


def _tensors(tensors: Any, name: str, position: str = "self") -> list[Tensor]:
    """The tensor list argument, checked: a non-empty list or tuple of Tensors."""
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{name}(): argument '{position}' must be a list or tuple of Tensors, "
                        f"not {type(tensors).__name__}")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}(): expected Tensor as element {i} in argument '{position}', "
                            f"but got {type(t).__name__}")
    return list(tensors)


def _same_length(n: int, others: Sequence[Any]) -> None:
    if len(others) != n:
        raise RuntimeError(f"Tensor lists must have the same number of tensors, got {n} and {len(others)}")


def _per_tensor(n: int, other: Any, name: str, what: str = "other", tensors_only: bool = False) -> tuple[list, bool]:
    """The second operand as one value per tensor, and whether it came as a list of tensors.

    A list holds tensors (one per tensor) or numbers (a scalar list); a number or a 0-d tensor
    goes with every tensor."""
    if isinstance(other, (list, tuple)):
        if other and isinstance(other[0], Tensor):
            _tensors(other, name, what)
            _same_length(n, other)
            return list(other), True
        if tensors_only:
            raise TypeError(f"{name}(): argument '{what}' must be a list or tuple of Tensors")
        for i, v in enumerate(other):
            if not isinstance(v, (numbers.Number, bool)):
                raise TypeError(f"{name}(): expected a number as element {i} in argument '{what}', "
                                f"but got {type(v).__name__}")
        if len(other) != n:
            raise RuntimeError("Tensor list must have same number of elements as scalar list.")
        return list(other), False
    if tensors_only:
        raise TypeError(f"{name}(): argument '{what}' must be a list or tuple of Tensors, not {type(other).__name__}")
    if isinstance(other, Tensor):
        if other.ndim != 0:
            raise RuntimeError(f"scalar tensor expected to be 0 dim but it has {other.ndim} dimensions and "
                               f"{other.numel()} elements.")
        return [other] * n, False
    if isinstance(other, (numbers.Number, bool)):
        return [other] * n, False
    raise TypeError(f"{name}(): argument '{what}' must be a number, a 0-d Tensor or a list, "
                    f"not {type(other).__name__}")


def _scalars(n: int, value: Any, name: str) -> list:
    """addcmul/addcdiv's ``value``: a number for all, or one per tensor (a list or a 1-D tensor)."""
    if isinstance(value, Tensor):
        if value.ndim != 1:
            raise RuntimeError(f"{name}: a tensor of scalars must be 1-D, got {value.ndim} dimensions")
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise RuntimeError("Tensor list must have same number of elements as scalar list.")
        return list(value)
    return [value] * n


def _unary(op: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    name = f"_foreach_{op}"

    def out_of_place(self: Sequence[Tensor]) -> tuple[Tensor, ...]:
        return tuple(getattr(t, op)() for t in _tensors(self, name))

    def inplace(self: Sequence[Tensor]) -> Sequence[Tensor]:
        for t in _tensors(self, name + "_"):
            getattr(t, op + "_")()
        return self

    out_of_place.__doc__ = f"``torch.{name}``: ``tuple(t.{op}() for t in self)``."
    inplace.__doc__ = f"``torch.{name}_``: ``t.{op}_()`` for each tensor of ``self``; returns ``self``."
    return out_of_place, inplace


def _binary_one(op: str, t: Tensor, o: Any, alpha: Any, write: bool) -> Tensor:
    """``op(t, o)`` (with ``alpha``), or its in-place form on ``t`` when ``write``."""
    if op in ("maximum", "minimum"):
        if not isinstance(o, Tensor):  # (a number: the bound of a clamp, which is max(x, s) / min(x, s))
            op = "clamp_min" if op == "maximum" else "clamp_max"
        else:  # (no Tensor.maximum_: the in-place form writes the out-of-place result into t)
            fn = _ew.maximum if op == "maximum" else _ew.minimum
            return in_place(t, lambda x: fn(x, o), f"_foreach_{op}_") if write else fn(t, o)
    method = getattr(t, op + "_" if write else op)
    return method(o) if alpha is None else method(o, alpha=alpha)


def _binary(op: str, takes_alpha: bool) -> tuple[Callable[..., Any], Callable[..., Any]]:
    name = f"_foreach_{op}"

    def operands(self: Any, other: Any, alpha: Any, fname: str) -> tuple[list[Tensor], list]:
        if alpha is not None and not takes_alpha:
            raise TypeError(f"{fname}() got an unexpected keyword argument 'alpha'")
        ts = _tensors(self, fname)
        others, listed = _per_tensor(len(ts), other, fname)
        if alpha is not None and not (listed or isinstance(other, Tensor)):
            raise TypeError(f"{fname}(): alpha= goes with a list of tensors or a tensor, not with scalars")
        return ts, others

    def out_of_place(self: Sequence[Tensor], other: Any, *, alpha: Any = None) -> tuple[Tensor, ...]:
        ts, others = operands(self, other, alpha, name)
        return tuple(_binary_one(op, t, o, alpha, False) for t, o in zip(ts, others))

    def inplace(self: Sequence[Tensor], other: Any, *, alpha: Any = None) -> Sequence[Tensor]:
        ts, others = operands(self, other, alpha, name + "_")
        for t, o in zip(ts, others):
            _binary_one(op, t, o, alpha, True)
        return self

    kw = ", alpha=alpha" if takes_alpha else ""
    out_of_place.__doc__ = (f"``torch.{name}``: ``tuple(t.{op}(o{kw}) ...)`` for each tensor ``t`` of ``self`` and "
                            "its operand ``o`` (a list of tensors, a number or 0-d tensor, or a list of numbers).")
    inplace.__doc__ = f"``torch.{name}_``: the in-place ``t.{op}_(o{kw})`` for each tensor; returns ``self``."
    return out_of_place, inplace


def _pointwise3(op: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """addcmul / addcdiv: ``t + value * t1 * t2`` (``/``), value a number or one per tensor."""
    name = f"_foreach_{op}"

    def operands(self: Any, tensor1: Any, tensor2: Any, value: Any, fname: str) -> list[tuple]:
        ts = _tensors(self, fname)
        a = _tensors(tensor1, fname, "tensor1")
        b = _tensors(tensor2, fname, "tensor2")
        _same_length(len(ts), a)
        _same_length(len(ts), b)
        return list(zip(ts, a, b, _scalars(len(ts), value, fname)))

    def out_of_place(self: Sequence[Tensor], tensor1: Sequence[Tensor], tensor2: Sequence[Tensor],
                     value: Any = 1) -> tuple[Tensor, ...]:
        return tuple(getattr(t, op)(x, y, value=v) for t, x, y, v in operands(self, tensor1, tensor2, value, name))

    def inplace(self: Sequence[Tensor], tensor1: Sequence[Tensor], tensor2: Sequence[Tensor],
                value: Any = 1) -> Sequence[Tensor]:
        for t, x, y, v in operands(self, tensor1, tensor2, value, name + "_"):
            getattr(t, op + "_")(x, y, value=v)
        return self

    sign = "*" if op == "addcmul" else "/"
    out_of_place.__doc__ = (f"``torch.{name}``: ``t + value * t1 {sign} t2`` for each tensor; ``value`` a number, "
                            "or one per tensor (a list or a 1-D tensor: PyTorch's ``scalars``).")
    inplace.__doc__ = f"``torch.{name}_``: ``t.{op}_(t1, t2, value=v)`` for each tensor; returns ``self``."
    return out_of_place, inplace


def _lerp_operands(self: Any, tensors1: Any, weight: Any, fname: str) -> list[tuple]:
    ts = _tensors(self, fname)
    ends = _tensors(tensors1, fname, "tensors1")
    _same_length(len(ts), ends)
    weights, _ = _per_tensor(len(ts), weight, fname, "weight")
    return list(zip(ts, ends, weights))


def _foreach_lerp(self: Sequence[Tensor], tensors1: Sequence[Tensor], weight: Any) -> tuple[Tensor, ...]:
    """``torch._foreach_lerp``: ``t + w (e - t)`` for each tensor ``t`` and end ``e``; ``weight`` a
    number or 0-d tensor, a list of tensors, or a list of numbers."""
    return tuple(t.lerp(e, w) for t, e, w in _lerp_operands(self, tensors1, weight, "_foreach_lerp"))


def _foreach_lerp_(self: Sequence[Tensor], tensors1: Sequence[Tensor], weight: Any) -> Sequence[Tensor]:
    """``torch._foreach_lerp_``: ``t.lerp_(e, w)`` for each tensor (an EMA's update); returns ``self``."""
    for t, e, w in _lerp_operands(self, tensors1, weight, "_foreach_lerp_"):
        t.lerp_(e, w)
    return self


def _foreach_zero_(self: Sequence[Tensor]) -> Sequence[Tensor]:
    """``torch._foreach_zero_``: ``t.zero_()`` for each tensor; returns ``self``."""
    for t in _tensors(self, "_foreach_zero_"):
        t.zero_()
    return self


def _foreach_copy_(self: Sequence[Tensor], src: Sequence[Tensor], non_blocking: bool = False) -> Sequence[Tensor]:
    """``torch._foreach_copy_``: ``t.copy_(s)`` for each tensor and its source (broadcast to t's
    shape, cast to its dtype); returns ``self``."""
    ts = _tensors(self, "_foreach_copy_")
    srcs = _tensors(src, "_foreach_copy_", "src")
    _same_length(len(ts), srcs)
    for t, s in zip(ts, srcs):
        t.copy_(s)  # (non_blocking: a copy on the host is done when it returns)
    return self


def _foreach_clone(self: Sequence[Tensor]) -> tuple[Tensor, ...]:
    """``torch._foreach_clone``: a copy of each tensor."""
    return tuple(t.clone() for t in _tensors(self, "_foreach_clone"))


def _foreach_norm(self: Sequence[Tensor], ord: Any = 2, dtype: Any = None) -> tuple[Tensor, ...]:
    """``torch._foreach_norm``: each tensor's vector ``ord``-norm over all its elements (0-d
    tensors; ``ord`` a number or ±inf, computed in ``dtype`` when given), as ``torch.linalg.vector_norm``."""
    from chainrule.ops.reduction import norm

    return tuple(norm(t, ord, dtype=dtype) for t in _tensors(self, "_foreach_norm"))


def _foreach_max(self: Sequence[Tensor]) -> tuple[Tensor, ...]:
    """``torch._foreach_max``: each tensor's largest element (0-d tensors)."""
    return tuple(t.max() for t in _tensors(self, "_foreach_max"))


def _foreach_powsum(self: Sequence[Tensor], ord: Any = 2) -> tuple[Tensor, ...]:
    """``torch._foreach_powsum``: ``sum(|t| ** ord)`` for each tensor (the ``ord``-norm to the
    power ``ord``, which gradient-clipping code adds up over tensors)."""
    return tuple(t.abs().pow(ord).sum() for t in _tensors(self, "_foreach_powsum"))


def _foreach_mm(self: Sequence[Tensor], mat2: Sequence[Tensor]) -> tuple[Tensor, ...]:
    """``torch._foreach_mm``: the matrix product ``a @ b`` of each pair."""
    a = _tensors(self, "_foreach_mm")
    b = _tensors(mat2, "_foreach_mm", "mat2")
    _same_length(len(a), b)
    return tuple(x.mm(y) for x, y in zip(a, b))


def _pow_scalar_base(op: Callable[..., Any]) -> Callable[..., Any]:
    """_foreach_pow also takes a number as its first argument (PyTorch's ``pow(Scalar self,
    TensorList exponent)``): ``tuple(s ** e for e in exponent)``."""
    def pow_(self: Any, exponent: Any) -> tuple[Tensor, ...]:
        if isinstance(self, (numbers.Number, bool)):
            return tuple(_ew.pow(self, e) for e in _tensors(exponent, "_foreach_pow", "exponent"))
        return op(self, exponent)

    pow_.__doc__ = op.__doc__
    return pow_


def _define() -> None:
    space = globals()
    made: dict[str, Callable[..., Any]] = {}
    for op in UNARY:
        made[f"_foreach_{op}"], made[f"_foreach_{op}_"] = _unary(op)
    for op, takes_alpha in BINARY.items():
        made[f"_foreach_{op}"], made[f"_foreach_{op}_"] = _binary(op, takes_alpha)
    for op in ("addcmul", "addcdiv"):
        made[f"_foreach_{op}"], made[f"_foreach_{op}_"] = _pointwise3(op)
    made["_foreach_pow"] = _pow_scalar_base(made["_foreach_pow"])
    for name, fn in made.items():
        fn.__name__ = fn.__qualname__ = name
        fn.__module__ = __name__
        space[name] = fn


_define()
