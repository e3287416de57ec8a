"""Turning Python numbers and arrays into Tensors with PyTorch's promotion rules."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.primitive import table_of
from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_default_dtype
from chainrule.backend.int_wrap import wrap_int


def lift(x: Any, like: Tensor) -> Tensor:
    """Make ``x`` a Tensor to combine with ``like``.

    A Python scalar takes ``like``'s dtype when that is floating (so float32
    stays float32), the default float dtype when the scalar is a float and
    ``like`` is an integer tensor, and ``like``'s dtype otherwise (PyTorch's rule).
    """
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (bool, int, float, np.number, np.bool_)):
        kind = like._array.dtype.kind
        if kind in "fc":
            dtype: Any = like._array.dtype  # a dtype or a scalar type: both work in asarray
        elif isinstance(x, (float, np.floating)):
            dtype = get_default_dtype()
        elif kind == "b" and not isinstance(x, (bool, np.bool_)):
            dtype = np.int64
        else:
            dtype = like._array.dtype
            if kind in "iu" and isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)):
                x = wrap_int(int(x), dtype)  # (out of range: wrapped, as PyTorch)
        return Tensor._wrap(table_of((like,)).asarray(x, dtype))  # a constant: nothing to record
    if isinstance(x, np.ndarray):
        return Tensor._wrap(x)
    if isinstance(x, (list, tuple)):
        return Tensor._from_data(x)
    raise TypeError(f"unsupported operand type for a tensor operation: {type(x).__name__}")


_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def result_type(a: Tensor, b: Tensor) -> np.dtype:
    """PyTorch's result dtype of a binary op on two tensors (``torch.result_type``).

    Categories rank bool < integer < floating < complex, and a dimensioned
    tensor outranks a 0-d one.  The operand of the higher category decides; if
    that is a 0-d tensor it decides only when its category beats every
    dimensioned operand.  So float32 (n-d) with float64 (0-d) is float32 and
    float32 with int64 is float32, where NumPy would give float64 for both.
    """
    da, db = a._array.dtype, b._array.dtype
    ca, cb = _CATEGORY[da.kind], _CATEGORY[db.kind]
    za, zb = a._array.ndim == 0, b._array.ndim == 0
    if za != zb:  # one 0-d operand: it decides only by a higher category
        (d, cd), (z, cz) = ((db, cb), (da, ca)) if za else ((da, ca), (db, cb))
        return z if cz > cd else d
    return promote_types(da, db)


def promote_types(a: np.dtype, b: np.dtype) -> np.dtype:
    """PyTorch's promotion of two dtypes: one of a higher category (bool < integer < floating)
    wins as it is (float32 with int64 is float32; NumPy would say float64), else NumPy's table."""
    if _CATEGORY[a.kind] != _CATEGORY[b.kind]:
        return a if _CATEGORY[a.kind] > _CATEGORY[b.kind] else b
    return np.promote_types(a, b)


def promote(a: Tensor, b: Tensor) -> tuple:
    """Cast ``a`` and ``b`` (recorded casts, so gradients flow) to their PyTorch result dtype."""
    dt = result_type(a, b)
    if a._array.dtype != dt:
        a = a.to(dt)
    if b._array.dtype != dt:
        b = b.to(dt)
    return a, b


def as_tensor_arg(x: Any, op: str) -> Tensor:
    """Check that a function argument is a Tensor (or convertible), naming the op if not."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (np.ndarray, list, tuple, int, float, bool, np.number)):
        return Tensor._from_data(x)
    raise TypeError(f"{op}(): expected a Tensor, got {type(x).__name__}")


def floating(x: Any, op: str) -> Tensor:
    """``as_tensor_arg``, with integer and bool tensors in the default float dtype (as PyTorch)."""
    t = as_tensor_arg(x, op)
    if t._array.dtype.kind in "biu":
        t = t.to(get_default_dtype())
    return t
