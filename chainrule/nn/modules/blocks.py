"""The notes' skip connections as wrappers around any module.

* ``Residual(f)``: y = x + f(x) ("add input to output activations after each layer";
  eases vanishing gradients, and φ(x) = x becomes easy to learn: f = 0).
* ``DenseConnection(f, dim=1)``: y = cat([x, f(x)], dim) ("concatenate input to
  output activations after each layer", as in DenseNet): later layers see every
  earlier feature.
"""

from __future__ import annotations

from chainrule.autograd.tensor import Tensor
from chainrule.nn.module import Module
from chainrule.ops import shape

__all__ = ["DenseConnection", "Residual"]


class Residual(Module):
    """y = x + f(x) for the wrapped module ``f`` (named ``module``); f must keep the shape."""

    def __init__(self, module: Module) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"Residual: expected a Module to wrap, got {type(module).__name__}")
        self.module = module

    def forward(self, input: Tensor) -> Tensor:
        fx = self.module(input)
        if tuple(fx.shape) != tuple(input.shape):
            raise ValueError(
                f"Residual({type(self.module).__name__}): the wrapped module maps {tuple(input.shape)} to "
                f"{tuple(fx.shape)}; a residual connection needs an output of the input's shape {tuple(input.shape)}"
            )
        return input + fx


class DenseConnection(Module):
    """y = cat([x, f(x)], dim) for the wrapped module ``f`` (named ``module``): (N, C, ...) and f's
    (N, C', ...) give (N, C + C', ...) with the default ``dim=1``; all other dims must agree."""

    def __init__(self, module: Module, dim: int = 1) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DenseConnection: expected a Module to wrap, got {type(module).__name__}")
        self.module = module
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        fx = self.module(input)
        xs, fs = tuple(input.shape), tuple(fx.shape)
        nd = len(xs)
        ok = len(fs) == nd and nd > 0 and -nd <= self.dim < nd
        if ok:
            d = self.dim % nd
            ok = xs[:d] + xs[d + 1:] == fs[:d] + fs[d + 1:]
        if not ok:
            raise ValueError(
                f"DenseConnection({type(self.module).__name__}, dim={self.dim}): cannot concatenate the input "
                f"{xs} with the wrapped module's output {fs}: all dims but dim {self.dim} must agree"
            )
        return shape.cat([input, fx], self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
