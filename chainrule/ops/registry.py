"""Registering an elementwise op: one call gives its function, its Tensor method and the
method's in-place form (HACKING.md, "Adding an elementwise op").

``register(Op(), "name")`` returns the public function ``name(input)`` (or ``name(input,
other)`` for a two-input op): integer inputs become the default float dtype and two inputs
are lifted and promoted as PyTorch does.  It also records the function in ``METHODS``;
``ops/methods.py`` binds every entry as ``Tensor.name`` and ``Tensor.name_`` (in place).
"""

from __future__ import annotations

from typing import Any, Callable

from chainrule.autograd.primitive import Primitive
from chainrule.autograd.tensor import Tensor
from chainrule.ops.elementwise import _binary, _unary

METHODS: dict[str, Callable] = {}


def register(op: Primitive, name: str, inputs: int = 1) -> Callable[..., Tensor]:
    """The public function of the elementwise primitive ``op`` (``inputs`` = 1 or 2), also
    bound as ``Tensor.<name>`` and ``Tensor.<name>_`` when ops/methods.py is imported."""
    fn: Callable[..., Tensor]
    if inputs == 1:
        fn = _unary(op, name)
    elif inputs == 2:
        def binary(input: Any, other: Any) -> Tensor:
            return _binary(op, input, other, True)

        binary.__name__ = binary.__qualname__ = name
        binary.__doc__ = type(op).__doc__
        fn = binary
    else:
        raise ValueError(f"register({name!r}): inputs must be 1 or 2, got {inputs}")
    METHODS[name] = fn
    return fn
