"""Constant tensors on another tensor's device, made through ``apply``.

A layer that needs an array of its own (a dropout mask drawn on the host, the zeros a
scatter starts from, a causal mask) builds it with the table of the device its input is on,
inside a primitive, so that a recording interpreter sees it like any other operation.
"""

from __future__ import annotations

from typing import Any, Callable

from chainrule.autograd.primitive import Primitive, apply
from chainrule.autograd.tensor import Tensor


class _Build(Primitive):
    """y = build(m), m = the table of the reference input's device (whose values are not read)."""

    __slots__ = ("name", "build")
    differentiable = False

    def __init__(self, name: str, build: Callable[[Any], Any]) -> None:
        self.name = name
        self.build = build

    def forward(self, m: Any, ref: Any) -> Any:
        return self.build(m)


def constant_like(ref: Tensor, build: Callable[[Any], Any], where: str = "constant") -> Tensor:
    """A Tensor (no gradient) holding ``build(m)``, where ``m`` is the table of ``ref``'s device:
    ``constant_like(x, lambda m: m.zeros((n, d), x.dtype))``; host data arrives with
    ``lambda m: m.from_host(host_array)``."""
    return apply(_Build(where, build), ref)
