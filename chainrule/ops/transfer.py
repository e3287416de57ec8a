"""Moving tensors between devices: ``Tensor.to(device)``, ``.cpu()``, ``.cuda()``.

A move is a copy through the host (``backend/registry.py``) and, as in PyTorch, differentiable:
the gradient of ``y = x.to(d)`` is the gradient of y moved back to x's device, and a forward-mode
tangent moves with the value (``apply``'s slow path keeps a tangent with its output's table).
"""

from __future__ import annotations

from typing import Any

from chainrule.autograd.primitive import apply1
from chainrule.autograd.tensor import Tensor
from chainrule.backend import registry
from chainrule.backend.device import CPU, device
from chainrule.ops.indexing import LinearMap


class ToDevice(LinearMap):
    """y = x on another device (the same values);  dL/dx = dL/dy moved back to x's device."""

    __slots__ = ("source", "target")
    name = "to_device"
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
    """``t`` on device ``dev``: ``t`` itself when it is there already, else a copy recorded by
    ``apply`` like any op (a node when ``t`` requires grad; its forward-mode tangent moves too)."""
    source = registry.device_of(t._array)
    target = registry.target_device(dev, where) or CPU
    if registry.already_on(source, target):
        return t
    return apply1(ToDevice(source, target), t)
