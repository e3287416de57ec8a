"""Dropout: randomly zero units during training (inverted dropout).

Each unit is kept with probability 1 - p and then scaled by 1/(1 - p), so the
expected activation is unchanged and evaluation needs no rescaling (the
notes' "at test, scale w by 1 - p" moved into training time).  Masks come
from chainrule's default generator, so ``chainrule.manual_seed`` makes them
reproducible.
"""

from __future__ import annotations

import numpy as np

from chainrule.autograd.primitive import Primitive, apply
from chainrule.autograd.tensor import Tensor
from chainrule.backend import default_generator
from chainrule.nn.functional._const import constant_like
from chainrule.ops.inplace import in_place


class InvertedDropout(Primitive):
    """y = x · [u >= p] / (1 - p), u the uniform draws (x's shape, no gradient);
    dy/dx = [u >= p] / (1 - p): linear in x, so the vjp and the jvp are the op itself applied
    to g and to dx.  On arrays that is the table's ``dropout`` entry, one pass each way
    (``backend/mask_math.py``); recorded (create_graph), the primitive applied to Tensors."""

    __slots__ = ("p",)
    name = "dropout"
    saves_inputs = (1,)  # the vjp reads u, not x
    saves_output = False
    fresh_grads = True  # dropout(g, u, p) is a new array

    def __init__(self, p: float) -> None:
        self.p = p

    def forward(self, m, x, u):
        return m.dropout(x, u, self.p)

    def _push(self, m, t, u):
        return apply(self, t, u) if m.is_tensor else m.dropout(t, u, self.p)

    def vjp(self, m, need, g, y, x, u):
        return (self._push(m, g, u), None)

    def jvp(self, m, dxs, y, x, u):
        return self._push(m, dxs[0], u)


def _check_p(p: float, name: str) -> float:
    if not isinstance(p, (int, float, np.floating)) or isinstance(p, bool) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: dropout probability has to be between 0 and 1, but got {p!r}")
    return float(p)


def _masked(input: Tensor, p: float, mask_shape: tuple) -> Tensor:
    """input · mask / (1 - p); the uniform draws u (mask: u >= p) are made on the host (the same
    seed gives the same mask on every device) and handed to input's device by its table.  A mask
    of input's shape goes with input (float32/float64) through one primitive (:class:`InvertedDropout`);
    a channel mask (dropout1d/2d/3d: 1s in the last axes), or one for another dtype, is made here
    and broadcast by the product."""
    if p == 1.0:
        return input * 0.0
    dtype = input.dtype if input.dtype in (np.float32, np.float64) else np.float64
    u = default_generator().random(mask_shape, dtype=dtype)
    if mask_shape == tuple(input.shape) and u.dtype == input.dtype:
        return apply(InvertedDropout(p), input, constant_like(input, lambda m: m.from_host(u), "dropout"))
    mask = (u >= p).astype(input.dtype) * input.dtype.type(1.0 / (1.0 - p))
    return input * constant_like(input, lambda m: m.from_host(mask), "dropout")


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """y = x · mask / (1 - p), mask_i ~ Bernoulli(1 - p), in training; y = x otherwise.

    ``inplace=True`` writes the result into ``input`` and returns it (``ops.inplace.in_place``).
    """
    p = _check_p(p, "dropout")
    if not training or p == 0.0:
        return input
    if inplace:
        return in_place(input, lambda t: _masked(t, p, tuple(input.shape)), "dropout")
    return _masked(input, p, tuple(input.shape))


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Channel dropout: whole feature maps of (N, C, H, W) (or unbatched (C, H, W)) are zeroed together."""
    p = _check_p(p, "dropout2d")
    if input.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected input (N, C, H, W) or (C, H, W), got shape {tuple(input.shape)}")
    if not training or p == 0.0:
        return input
    if inplace:
        return in_place(input, lambda t: _masked(t, p, tuple(input.shape[: input.ndim - 2]) + (1, 1)), "dropout2d")
    return _masked(input, p, tuple(input.shape[: input.ndim - 2]) + (1, 1))


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Channel dropout for (N, C, L) (or unbatched (C, L)): whole channels are zeroed together."""
    p = _check_p(p, "dropout1d")
    if input.ndim not in (2, 3):
        raise ValueError(f"dropout1d: expected input (N, C, L) or (C, L), got shape {tuple(input.shape)}")
    if not training or p == 0.0:
        return input
    if inplace:
        return in_place(input, lambda t: _masked(t, p, tuple(input.shape[: input.ndim - 1]) + (1,)), "dropout1d")
    return _masked(input, p, tuple(input.shape[: input.ndim - 1]) + (1,))
