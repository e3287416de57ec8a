"""Moving tensors between devices: ``Tensor.to(device)``, ``.cpu()``, ``.cuda()``.

A move is a copy through the host (``backend/registry.py``) and, as in PyTorch, differentiable:
the gradient of ``y = x.to(d)`` is the gradient of y moved back to x's device, and a forward-mode
tangent moves with the value.  The node is recorded by hand: it is the one operation whose
output lives in another back end than its input, so the forward-mode tangent must be moved
too rather than computed with the input's table as ``apply``'s slow path does.
"""

from __future__ import annotations

from typing import Any

from chainrule.autograd.grad_mode import STATE
from chainrule.autograd.primitive import Primitive
from chainrule.autograd.tensor import Tensor
from chainrule.autograd.version import CLOCK
from chainrule.backend import registry
from chainrule.backend.device import device


class ToDevice(Primitive):
    """y = x on another device (the same values);  dL/dx = dL/dy moved back to x's device."""

    __slots__ = ("source", "target")
    name = "to_device"
    saves_inputs = ()
    saves_output = False
    fresh_grads = True  # the moved gradient is a new array

    def __init__(self, source: device, target: device) -> None:
        self.source = source
        self.target = target

    def forward(self, m: Any, x: Any) -> Any:
        return registry.to_device(x, self.target)

    def vjp(self, m: Any, need: tuple, g: Any, y: Any, x: Any) -> tuple:
        if m.is_tensor:  # create_graph=True: the move back is itself recorded
            return (move(g, self.source, "backward of to()"),)
        return (registry.to_device(g, self.source, "backward of to()"),)

    def jvp(self, m: Any, dxs: tuple, y: Any, x: Any) -> Any:
        return registry.to_device(m.raw(dxs[0]), self.target)


def move(t: Tensor, dev: device, where: str = "to()") -> Tensor:
    """``t`` on device ``dev``: ``t`` itself when it is there already, else a copy that records a
    node when ``t`` requires grad (and carries ``t``'s forward-mode tangent)."""
    a = t._array
    source = registry.device_of(a)
    moved = registry.to_device(a, dev, where)
    if moved is a:
        return t
    out = Tensor._wrap(moved)
    if t.requires_grad and STATE.enabled:
        out.requires_grad = True
        out._op = ToDevice(source, registry.device_of(moved))
        out._parents = (t,)
        out._need = (True,)
        out._clk = CLOCK[0]
    tangent = getattr(t, "_tangent", None) if STATE.forward_depth > 0 else None
    if tangent is not None:
        from chainrule.autograd.forward_ad import _track

        out._tangent = registry.to_device(tangent, dev, where)
        _track(out)
    return out
