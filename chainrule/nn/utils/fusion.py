"""Folding an evaluation-mode batch norm into the convolution or linear layer before it
(PyTorch's ``torch.nn.utils.fuse_conv_bn_eval`` & co).

With the batch norm's running statistics μ, σ², its affine γ, β and ε, BN(y) = γ (y − μ)/√(σ²+ε) + β,
so BN(W x + b) = W' x + b' with

    s = γ/√(σ² + ε),   W' = W · s (per output channel),   b' = (b − μ) · s + β.
"""

from __future__ import annotations

import copy
from typing import TypeVar

from chainrule.autograd.grad_mode import no_grad
from chainrule.autograd.tensor import Tensor
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.ops import creation

__all__ = ["fuse_conv_bn_eval", "fuse_conv_bn_weights", "fuse_linear_bn_eval", "fuse_linear_bn_weights"]

_M = TypeVar("_M", bound=Module)


def _scale(bn_rm: Tensor, bn_rv: Tensor, bn_eps: float, bn_w: Tensor | None) -> Tensor:
    s = (bn_rv + bn_eps).rsqrt()
    return s if bn_w is None else bn_w * s


def fuse_conv_bn_weights(
    conv_w: Tensor,
    conv_b: Tensor | None,
    bn_rm: Tensor,
    bn_rv: Tensor,
    bn_eps: float,
    bn_w: Tensor | None,
    bn_b: Tensor | None,
    transpose: bool = False,
) -> tuple[Parameter, Parameter]:
    """(W', b') of the convolution followed by the batch norm (see the module docstring).

    Args:
        conv_w: the convolution's weight (C_out, C_in/groups, *k), or (C_in, C_out/groups, *k) when ``transpose``.
        conv_b: its bias (C_out) or None (zeros).
        bn_rm: the batch norm's running mean μ (C_out).
        bn_rv: its running variance σ² (C_out).
        bn_eps: its ε.
        bn_w: its weight γ (C_out) or None (ones).
        bn_b: its bias β (C_out) or None (zeros).
        transpose: whether the convolution is transposed (its output channels on dimension 1).

    Returns:
        The fused weight and bias as Parameters, in the convolution's dtypes.
    """
    w_dtype = conv_w.dtype
    b_dtype = conv_b.dtype if conv_b is not None else w_dtype
    b = creation.zeros_like(bn_rm) if conv_b is None else conv_b
    beta = creation.zeros_like(bn_rm) if bn_b is None else bn_b
    s = _scale(bn_rm, bn_rv, bn_eps, bn_w)
    shape = ((1, -1) if transpose else (-1, 1)) + (1,) * (conv_w.ndim - 2)
    fused_w = (conv_w * s.reshape(shape)).to(w_dtype)
    fused_b = ((b - bn_rm) * s + beta).to(b_dtype)
    return Parameter(fused_w, conv_w.requires_grad), Parameter(fused_b, b.requires_grad)


def fuse_linear_bn_weights(
    linear_w: Tensor,
    linear_b: Tensor | None,
    bn_rm: Tensor,
    bn_rv: Tensor,
    bn_eps: float,
    bn_w: Tensor | None,
    bn_b: Tensor | None,
) -> tuple[Parameter, Parameter]:
    """(W', b') of the linear layer (weight (out, in), bias (out) or None) followed by the batch norm.

    The batch-norm tensors have ``out`` entries, or 1 (one statistic for every feature).
    """
    b = creation.zeros_like(bn_rm) if linear_b is None else linear_b
    beta = creation.zeros_like(bn_rm) if bn_b is None else bn_b
    s = _scale(bn_rm, bn_rv, bn_eps, bn_w)
    fused_w = linear_w * s.unsqueeze(-1)
    fused_b = (b - bn_rm) * s + beta
    return Parameter(fused_w, linear_w.requires_grad), Parameter(fused_b, b.requires_grad)


def _check_eval(where: str, layer: Module, bn: Module) -> None:
    if layer.training or bn.training:
        raise RuntimeError(f"{where}: fusion only for eval (call .eval() on both modules first)")
    if getattr(bn, "running_mean", None) is None or getattr(bn, "running_var", None) is None:
        raise RuntimeError(f"{where}: the batch norm must track running statistics (track_running_stats=True)")


def fuse_conv_bn_eval(conv: _M, bn: Module, transpose: bool = False) -> _M:
    """A copy of the evaluation-mode ``conv`` with the evaluation-mode batch norm ``bn`` folded in:
    ``fused(x) == bn(conv(x))``. ``transpose`` for a transposed convolution."""
    _check_eval("fuse_conv_bn_eval", conv, bn)
    fused = copy.deepcopy(conv)
    with no_grad():
        w, b = fuse_conv_bn_weights(fused.weight, fused.bias, bn.running_mean, bn.running_var, bn.eps,
                                    bn.weight, bn.bias, transpose)
    fused.weight, fused.bias = w, b
    return fused


def fuse_linear_bn_eval(linear: _M, bn: Module) -> _M:
    """A copy of the evaluation-mode ``linear`` with the evaluation-mode batch norm ``bn`` folded in:
    ``fused(x) == bn(linear(x))`` (``bn.num_features`` equal to ``linear.out_features``, or 1)."""
    _check_eval("fuse_linear_bn_eval", linear, bn)
    if bn.num_features not in (linear.out_features, 1):
        raise RuntimeError(
            "fuse_linear_bn_eval: linear.out_features must equal bn.num_features or bn.num_features must be 1, "
            f"got {linear.out_features} and {bn.num_features}"
        )
    fused = copy.deepcopy(linear)
    with no_grad():
        w, b = fuse_linear_bn_weights(fused.weight, fused.bias, bn.running_mean, bn.running_var, bn.eps,
                                      bn.weight, bn.bias)
    fused.weight, fused.bias = w, b
    return fused
