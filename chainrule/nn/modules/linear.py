"""Fully connected layers: Linear (PyTorch's), Bilinear and the notes' MaxoutLinear.

``Linear(in_features, out_features)`` holds ``weight`` (out, in) and ``bias`` (out,)
and maps (*, in) -> (*, out) by y = x Wᵀ + b: the notes' a = W z + b applied to
each row.  Both start as U(-1/√in, 1/√in) (PyTorch's kaiming_uniform_(a=√5) and its
bias rule), drawn from chainrule's default generator.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_default_dtype, to_numpy_dtype
from chainrule.backend.device import check_device
from chainrule.nn import init
from chainrule.nn.functional.activation import maxout
from chainrule.nn.functional.linear import bilinear, linear
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.ops.creation import empty

__all__ = ["Bilinear", "Linear", "MaxoutLinear", "NonDynamicallyQuantizableLinear"]


def _dtype(dtype: Any) -> np.dtype:
    return to_numpy_dtype(dtype) if dtype is not None else get_default_dtype()


def _param(shape: tuple, dtype: Any) -> Parameter:
    return Parameter(empty(shape, dtype=_dtype(dtype)))


class Linear(Module):
    """y = x Wᵀ + b: input (*, in_features) -> (*, out_features).

    weight (out_features, in_features), bias (out_features,) or None (``bias=False``).
    ``device`` is accepted for PyTorch compatibility (CPU only); ``dtype`` sets the parameters' dtype.
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, device: Any = None, dtype: Any = None
    ) -> None:
        check_device(device, type(self).__name__)
        super().__init__()
        if int(in_features) < 0 or int(out_features) < 0:
            raise ValueError(f"Linear: sizes must be non-negative, got in_features={in_features}, "
                             f"out_features={out_features}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self._name = f"Linear({self.in_features}, {self.out_features})"  # how linear's errors name it
        self.weight = _param((self.out_features, self.in_features), dtype)
        if bias:
            self.bias = _param((self.out_features,), dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """weight: kaiming_uniform_(a=√5), i.e. U(-1/√in, 1/√in); bias: U(-1/√in, 1/√in) (0 if in = 0)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        return linear(input, self.weight, self.bias, self._name)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class NonDynamicallyQuantizableLinear(Linear):
    """A Linear under PyTorch's name for MultiheadAttention's ``out_proj`` (so that code which
    treats every ``nn.Linear`` alike, an initialisation loop say, treats it too, as in PyTorch)."""


class Bilinear(Module):
    """y_k = x1ᵀ A_k x2 + b_k: inputs (*, in1) and (*, in2) -> (*, out); weight (out, in1, in2).
    Initialised U(-1/√in1, 1/√in1) as PyTorch's."""

    def __init__(
        self, in1_features: int, in2_features: int, out_features: int, bias: bool = True,
        device: Any = None, dtype: Any = None,
    ) -> None:
        check_device(device, type(self).__name__)
        super().__init__()
        self.in1_features = int(in1_features)
        self.in2_features = int(in2_features)
        self.out_features = int(out_features)
        self.weight = _param((self.out_features, self.in1_features, self.in2_features), dtype)
        if bias:
            self.bias = _param((self.out_features,), dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.in1_features) if self.in1_features > 0 else 0.0
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1: Tensor, input2: Tensor) -> Tensor:
        return bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class MaxoutLinear(Module):
    """The notes' maxout unit as a layer: y_j = max_{i < k} (w_{j,i}ᵀ x + b_{j,i}), (*, in) -> (*, out).

    One ``Linear(in_features, out_features · pieces)`` (``self.linear``) whose outputs j·k .. j·k + k - 1
    are the k pieces of unit j, followed by ``maxout`` over them.
    """

    def __init__(self, in_features: int, out_features: int, pieces: int = 2, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        check_device(device, type(self).__name__)
        super().__init__()
        if int(pieces) < 1:
            raise ValueError(f"MaxoutLinear: pieces must be a positive int, got {pieces}")
        self.in_features, self.out_features, self.pieces = int(in_features), int(out_features), int(pieces)
        self.linear = Linear(in_features, out_features * self.pieces, bias=bias, dtype=dtype)

    def forward(self, input: Tensor) -> Tensor:
        return maxout(self.linear(input), self.pieces, -1)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, pieces={self.pieces}"


# PyTorch's torch.nn.modules.linear also holds Identity (chainrule keeps it with the containers)
from chainrule.nn.modules._elsewhere import reexports  # noqa: E402
from chainrule.nn.modules.container import Identity as Identity  # noqa: E402

# LazyLinear is defined in lazy.py, which imports this file: served on first use
__getattr__ = reexports(__name__, {"LazyLinear": "chainrule.nn.modules.lazy"})
