"""More dropout: ``dropout3d`` (whole 3-D feature maps), ``alpha_dropout`` and ``feature_alpha_dropout``
(the self-normalising networks' dropout, for SELU).

Alpha dropout keeps the mean and variance of standardised SELU activations: a dropped unit is set
to SELU's negative saturation α' = -λα ≈ -1.7581, and the result is mapped affinely,

    y = a (x·m + α'(1 - m)) + b,   a = ((1 - p)(1 + p α'²))^(-1/2),   b = -a α' p,

with m ~ Bernoulli(1 - p) per unit (``alpha_dropout``) or per channel (``feature_alpha_dropout``);
so kept units give a x - a α' p and dropped ones a α' (1 - p).  Identity when not training.
"""

from __future__ import annotations

import math

from chainrule.autograd.tensor import Tensor
from chainrule.backend import default_generator
from chainrule.nn.functional._const import constant_like
from chainrule.nn.functional.dropout import _check_p, _masked
from chainrule.ops.inplace import in_place

__all__ = ["alpha_dropout", "dropout3d", "feature_alpha_dropout"]

_ALPHA_PRIME = -1.7580993408473766  # -scale·alpha of SELU


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Channel dropout for (N, C, D, H, W) (or unbatched (C, D, H, W)): whole 3-D maps zeroed together."""
    p = _check_p(p, "dropout3d")
    if input.ndim not in (4, 5):
        raise ValueError(f"dropout3d: expected input (N, C, D, H, W) or (C, D, H, W), got shape {tuple(input.shape)}")
    if not training or p == 0.0:
        return input
    if inplace:
        return in_place(input, lambda t: _masked(t, p, tuple(input.shape[: input.ndim - 3]) + (1, 1, 1)), "dropout3d")
    return _masked(input, p, tuple(input.shape[: input.ndim - 3]) + (1, 1, 1))


def _alpha(input: Tensor, p: float, mask_shape: tuple) -> Tensor:
    dt = input.dtype
    if p == 1.0:  # everything dropped: PyTorch returns zeros times the input
        return input * 0.0
    keep = (default_generator().random(mask_shape) >= p).astype(dt)  # drawn on the host, as dropout's
    a = 1.0 / math.sqrt((1 - p) * (1 + p * _ALPHA_PRIME ** 2))
    b = -a * _ALPHA_PRIME * p
    scale = constant_like(input, lambda m: m.from_host((keep * a).astype(dt)), "alpha_dropout")
    shift = constant_like(input, lambda m: m.from_host((a * _ALPHA_PRIME * (1 - keep) + b).astype(dt)), "alpha_dropout")
    return input * scale + shift


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    """Alpha dropout per unit (see the module docstring); note PyTorch's default ``training=False``."""
    p = _check_p(p, "alpha_dropout")
    if not training or p == 0.0:
        return input
    if inplace:
        return in_place(input, lambda t: _alpha(t, p, tuple(input.shape)), "alpha_dropout")
    return _alpha(input, p, tuple(input.shape))


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    """Alpha dropout of whole channels (dim 1 of (N, C, *)), PyTorch's default ``training=False``."""
    p = _check_p(p, "feature_alpha_dropout")
    if input.ndim < 2:
        raise ValueError(f"feature_alpha_dropout: expected input (N, C, *), got shape {tuple(input.shape)}")
    if not training or p == 0.0:
        return input
    shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2)
    if inplace:
        return in_place(input, lambda t: _alpha(t, p, shape), "feature_alpha_dropout")
    return _alpha(input, p, shape)
