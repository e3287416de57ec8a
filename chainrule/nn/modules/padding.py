"""Padding layers (PyTorch's): ZeroPad1d/2d/3d, ConstantPad1d/2d/3d, ReflectionPad1d/2d/3d,
ReplicationPad1d/2d/3d, CircularPad1d/2d/3d — ``F.pad`` with a fixed ``padding``.

``padding`` is an int (the same on every side) or a tuple (left, right[, top, bottom[, front, back]])
of length 2·d for the d-dimensional layer; the input is (N, C, *spatial) or unbatched (C, *spatial).
"""

from __future__ import annotations

from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.nn.functional.padding import pad
from chainrule.nn.module import Module

__all__ = [
    "CircularPad1d", "CircularPad2d", "CircularPad3d",
    "ConstantPad1d", "ConstantPad2d", "ConstantPad3d",
    "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
    "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d",
    "ZeroPad1d", "ZeroPad2d", "ZeroPad3d",
]


class _PadNd(Module):
    _d = 1
    _mode = "constant"

    def __init__(self, padding: Any, value: float = 0.0) -> None:
        super().__init__()
        n = 2 * self._d
        p = (int(padding),) * n if isinstance(padding, int) else tuple(int(v) for v in padding)
        if len(p) != n:
            raise ValueError(f"{type(self).__name__}: padding must be an int or a tuple of {n} ints, got {padding!r}")
        self.padding = p
        self.value = value

    def forward(self, input: Tensor) -> Tensor:
        if not isinstance(input, Tensor) or input.ndim not in (self._d + 1, self._d + 2):
            got = tuple(input.shape) if isinstance(input, Tensor) else type(input).__name__
            raise ValueError(f"{type(self).__name__}: expected {self._d + 1}-D or {self._d + 2}-D input, got {got}")
        if self._mode == "constant":
            return pad(input, self.padding, "constant", self.value)
        return pad(input, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}" + (f", value={self.value}" if self._mode == "constant" else "")



class ConstantPad1d(_PadNd):
    """Pad the last dimension with ``value``: ``ConstantPad1d(padding, value)``."""
    _d = 1


class ConstantPad2d(_PadNd):
    """Pad the last two dimensions with ``value``: ``ConstantPad2d(padding, value)``."""
    _d = 2


class ConstantPad3d(_PadNd):
    """Pad the last three dimensions with ``value``: ``ConstantPad3d(padding, value)``."""
    _d = 3


class ZeroPad1d(ConstantPad1d):
    """Pad the last dimension with zeros: ``ZeroPad1d(padding)``."""

    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)


class ZeroPad2d(ConstantPad2d):
    """Pad the last two dimensions with zeros: ``ZeroPad2d(padding)``."""

    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)


class ZeroPad3d(ConstantPad3d):
    """Pad the last three dimensions with zeros: ``ZeroPad3d(padding)``."""

    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)


class _Mode(_PadNd):
    def __init__(self, padding: Any) -> None:
        super().__init__(padding)


class ReflectionPad1d(_Mode):
    """Mirror the last dimension at its edges (edge not repeated)."""
    _d, _mode = 1, "reflect"


class ReflectionPad2d(_Mode):
    """Mirror the last two dimensions at their edges (edge not repeated)."""
    _d, _mode = 2, "reflect"


class ReflectionPad3d(_Mode):
    """Mirror the last three dimensions at their edges (edge not repeated)."""
    _d, _mode = 3, "reflect"


class ReplicationPad1d(_Mode):
    """Repeat the edge values of the last dimension."""
    _d, _mode = 1, "replicate"


class ReplicationPad2d(_Mode):
    """Repeat the edge values of the last two dimensions."""
    _d, _mode = 2, "replicate"


class ReplicationPad3d(_Mode):
    """Repeat the edge values of the last three dimensions."""
    _d, _mode = 3, "replicate"


class CircularPad1d(_Mode):
    """Wrap the last dimension around (periodic padding)."""
    _d, _mode = 1, "circular"


class CircularPad2d(_Mode):
    """Wrap the last two dimensions around (periodic padding)."""
    _d, _mode = 2, "circular"


class CircularPad3d(_Mode):
    """Wrap the last three dimensions around (periodic padding)."""
    _d, _mode = 3, "circular"
