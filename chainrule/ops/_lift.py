"""Turning Python numbers and arrays into Tensors with PyTorch's promotion rules."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_default_dtype


def lift(x: Any, like: Tensor) -> Tensor:
    """Make ``x`` a Tensor to combine with ``like``.

    A Python scalar takes ``like``'s dtype when that is floating (so float32
    stays float32), the default float dtype when the scalar is a float and
    ``like`` is an integer tensor, and ``like``'s dtype otherwise (PyTorch's rule).
    """
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (bool, int, float, np.number, np.bool_)):
        kind = like.data.dtype.kind
        if kind in "fc":
            dtype = like.data.dtype
        elif isinstance(x, (float, np.floating)):
            dtype = get_default_dtype()
        elif kind == "b" and not isinstance(x, (bool, np.bool_)):
            dtype = np.int64
        else:
            dtype = like.data.dtype
        return Tensor._wrap(np.asarray(x, dtype=dtype))
    if isinstance(x, np.ndarray):
        return Tensor._wrap(x)
    if isinstance(x, (list, tuple)):
        return Tensor(x)
    raise TypeError(f"unsupported operand type for a tensor operation: {type(x).__name__}")


def as_tensor_arg(x: Any, op: str) -> Tensor:
    """Check that a function argument is a Tensor (or convertible), naming the op if not."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (np.ndarray, list, tuple, int, float, bool, np.number)):
        return Tensor(x)
    raise TypeError(f"{op}(): expected a Tensor, got {type(x).__name__}")
