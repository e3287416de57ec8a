"""``torch.types``: the type aliases PyTorch programs use in their annotations."""

from __future__ import annotations

from chainrule.autograd.size import Size
from chainrule.autograd.tensor import Tensor
from chainrule.backend.device import device

Number = int | float | bool
_Number = Number
Device = device | str | int | None
_device = device
_size = Size | list | tuple
_TensorOrTensors = Tensor | tuple

__all__ = ["Device", "Number", "Size", "Tensor"]
