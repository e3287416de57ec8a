"""Parameter: a Tensor that a Module registers as learnable when assigned as an attribute."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.primitive import table_of
from chainrule.autograd.sharing import register as register_for_multiprocessing
from chainrule.autograd.tensor import Tensor
from chainrule.backend.registry import ARRAY_TYPES


class Parameter(Tensor):
    """A leaf Tensor that ``Module.__setattr__`` lists among ``parameters()``.

    ``Parameter(data, requires_grad=True)``: ``data`` is a Tensor, an array or
    a nested list; the values are shared with a Tensor or ndarray, not copied
    (as PyTorch shares storage).
    """

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            arr = table_of(()).empty((0,), np.float32)
        elif isinstance(data, Tensor):
            arr = data._array
        else:
            is_array = isinstance(data, np.ndarray) or type(data) in ARRAY_TYPES  # (an array is shared)
            arr = data if is_array else Tensor._from_data(data)._array
        self._array = arr
        self.grad = None
        self._op = None
        self._parents = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (Parameter, (self._array.copy(), self.requires_grad))

    def __deepcopy__(self, memo: dict) -> Parameter:
        if id(self) in memo:
            return memo[id(self)]
        out = Parameter(self._array.copy(), self.requires_grad)
        if self.grad is not None:
            out.grad = self.grad.detach().clone()
        memo[id(self)] = out
        return out


class Buffer(Tensor):
    """Marks a Tensor as a buffer when assigned to a Module attribute (``torch.nn.Buffer``)."""

    def __init__(self, data: Any, persistent: bool = True) -> None:
        arr = data._array if isinstance(data, Tensor) else table_of(()).from_host(data)  # host data
        self._array = arr
        self.grad = None
        self._op = None
        self._parents = None
        self.requires_grad = False
        self._extra = {"persistent": persistent}


register_for_multiprocessing(Parameter)  # a Parameter sent to another process arrives a Parameter

__all__ = ["Buffer", "Parameter"]


def __getattr__(name: str) -> Any:
    # torch.nn.parameter.UninitializedParameter: defined with the lazy layers (lazy.py imports this file)
    if name == "UninitializedParameter":
        from chainrule.nn.modules.lazy import UninitializedParameter

        return UninitializedParameter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
