"""``nn.MaxUnpool1d/2d/3d`` (PyTorch keeps them in ``torch.nn.modules.pooling``): the layers of
:func:`chainrule.nn.functional.max_unpool2d` & co."""

from __future__ import annotations

from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.nn.functional import unpool as U
from chainrule.nn.module import Module


class _MaxUnpoolNd(Module):
    _d = 2

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding

    def forward(self, input: Tensor, indices: Tensor, output_size: Any = None) -> Tensor:
        return U._max_unpool(input, indices, self.kernel_size, self.stride, self.padding, output_size, self._d,
                             type(self).__name__)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """(N, C, L_in) + indices from ``MaxPool1d(return_indices=True)`` -> (N, C, L_out), zeros elsewhere."""

    _d = 1


class MaxUnpool2d(_MaxUnpoolNd):
    """(N, C, H_in, W_in) + indices from ``MaxPool2d(return_indices=True)`` -> (N, C, H_out, W_out)."""

    _d = 2


class MaxUnpool3d(_MaxUnpoolNd):
    """(N, C, D, H, W) + indices from ``MaxPool3d(return_indices=True)`` -> the unpooled volume."""

    _d = 3
