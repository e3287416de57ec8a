"""Arrays a layer makes for itself, on its input's device, through ``apply``.

A layer that needs an array of its own (a dropout mask drawn on the host, the zeros a
scatter starts from, a causal mask, argmax positions) builds it with the table of the device
its input is on, inside a primitive, so that a recording interpreter sees it like any other
operation.  The results carry no gradient.
"""

from __future__ import annotations

from typing import Any, Callable

from chainrule.autograd.primitive import Primitive, apply
from chainrule.autograd.tensor import Tensor


class _Build(Primitive):
    """y = build(m, *xs), m = the inputs' table; not differentiable."""

    __slots__ = ("name", "build")
    differentiable = False

    def __init__(self, name: str, build: Callable[..., Any]) -> None:
        self.name = name
        self.build = build

    def forward(self, m: Any, *xs: Any) -> Any:
        return self.build(m, *xs)


def derived(build: Callable[..., Any], *inputs: Tensor, where: str = "derived") -> Tensor:
    """A Tensor (no gradient) holding ``build(m, *arrays)``: the inputs' arrays and their table m."""
    return apply(_Build(where, build), *inputs)


def constant_like(ref: Tensor, build: Callable[[Any], Any], where: str = "constant") -> Tensor:
    """A Tensor (no gradient) holding ``build(m)``, where ``m`` is the table of ``ref``'s device
    (ref's values are not read): ``constant_like(x, lambda m: m.zeros((n, d), x.dtype))``; host
    data arrives with ``lambda m: m.from_host(host_array)``."""
    return derived(lambda m, _: build(m), ref, where=where)
