"""``torch.autograd.Variable``: PyTorch 0.4 merged Variable into Tensor, and programs written
before still say ``Variable(x)`` or ``Variable(x, requires_grad=True)``.

As in PyTorch, ``Variable(t)`` is a new leaf tensor on t's memory (``t.detach()``) whose
``requires_grad`` is the one given, and every Tensor is an instance of ``Variable``;
``volatile=True`` has no effect (a warning says to use ``no_grad()``).
"""

from __future__ import annotations

import warnings
from typing import Any

from chainrule.autograd.tensor import Tensor


class _VariableMeta(type):
    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, Tensor)


class Variable(metaclass=_VariableMeta):
    """``Variable(data, requires_grad=False, volatile=False)`` -> a Tensor (see the module docstring)."""

    def __new__(cls, data: Any = None, requires_grad: bool = False, volatile: bool = False) -> Any:
        if volatile:
            warnings.warn("volatile was removed and now has no effect. Use `with torch.no_grad():` instead.",
                          UserWarning, stacklevel=2)
        if data is None:
            raise TypeError("Variable(): expected a Tensor as data")
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        t = data.detach()
        t.requires_grad = bool(requires_grad)
        return t
