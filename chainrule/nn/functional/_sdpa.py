"""Scaled dot-product attention as one primitive, with its hand-written rules.

    S = Q Kᵀ · scale (+ M, or -inf where the mask says no),  P = softmax_rows(S),  O = P V

Q (..., L, E), K (..., S, E), V (..., S, Ev) -> O (..., L, Ev); the batch axes broadcast.  The
forward keeps P for the backward:

    dV = Pᵀ dO,  dP = dO Vᵀ,  dS = P ⊙ (dP − rowsum(dP ⊙ P)),  dQ = dS K · scale,  dK = dSᵀ Q · scale

(dM = dS for an additive float mask).  A masked position has P = 0, so its dS is 0.  A row
with every position masked out is NaN, as in PyTorch.  The scale is folded into the smallest
operand: Q or K in the forward, dO or V in the backward (fewer multiplications than a pass
over the (L, S) scores), so results agree with the composition ``softmax(Q Kᵀ · scale) V`` to
rounding, not in every bit.  Under ``create_graph`` (Tensors in the rules) the vjp is composed
from Tensor ops, so it is differentiable again.  Dropout on the weights is not part of it
(``attention._attend`` composes that case).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.primitive import Primitive
from chainrule.ops.reduction import softmax

TAKE = "take"  # a boolean mask input: True = the position takes part
ADD = "add"  # a float mask input, added to the scores


def _t(m: Any, x: Any) -> Any:
    return m.swapaxes(x, -1, -2)


class ScaledDotProductAttention(Primitive):
    """O = softmax(Q Kᵀ · scale + M) V, inputs (q, k, v) or (q, k, v, mask); see the module docstring."""

    __slots__ = ("scale", "mask_kind", "p", "nan_rows")
    name = "scaled_dot_product_attention"
    saves_output = False

    def __init__(self, scale: float, mask_kind: str | None) -> None:
        self.scale = float(scale)
        self.mask_kind = mask_kind  # None, TAKE or ADD
        self.p = None  # the weights P, kept by the forward on raw arrays
        self.nan_rows = False

    def _scores(self, m: Any, q: Any, k: Any, mask: tuple) -> Any:
        """S = Q Kᵀ · scale, masked, on raw arrays; the scale on the smaller of Q and K."""
        c = q.dtype.type(self.scale)
        s = (q * c) @ _t(m, k) if q.size <= k.size else q @ _t(m, k * c)
        if self.mask_kind == TAKE:
            s = m.where(mask[0], s, -np.inf)
        elif self.mask_kind == ADD:
            s = m.add(s, mask[0], out=s) if s.shape == np.broadcast_shapes(s.shape, mask[0].shape) else s + mask[0]
        return s

    def forward(self, m, q, k, v, *mask):
        s = self._scores(m, q, k, mask)
        lead, C = s.shape[:-1], s.shape[-1]
        x = m.reshape(s, (-1, C))
        z, e = m.pooled_empty(x.shape, x.dtype), m.pooled_empty(x.shape, x.dtype)
        with np.errstate(invalid="ignore"):  # a fully masked row: -inf - (-inf) = NaN, as PyTorch
            r = m.shifted_exp(x, z, e)  # z = x - max_row x, e = e^z, r = Σ_row e
            p = m.reshape(m.divide(e, m.reshape(r, (-1, 1)), out=e), lead + (C,))
        self.p = p
        # a fully masked row (NaN): the composition's where(mask, S, -inf) gives its masked
        # positions a zero gradient, so the vjp zeroes dS there too (dQ's row 0, dK finite)
        self.nan_rows = self.mask_kind == TAKE and not m.isfinite(r).all()
        return p @ v

    # ---- the rules -----------------------------------------------------------------------
    def _weights(self, m: Any, q: Any, k: Any, mask: tuple) -> Any:
        """P composed from Tensor ops (the recorded path): the softmax op of the scores."""
        s = (q @ _t(m, k)) * self.scale
        if self.mask_kind == TAKE:
            s = m.where(mask[0], s, m.const(-np.inf, s))
        elif self.mask_kind == ADD:
            s = s + mask[0]
        return softmax(s, -1)

    def vjp(self, m, need, g, y, q, k, v, *mask):
        if m.is_tensor or self.p is None:
            p = self._weights(m, q, k, mask)
            gv = _t(m, p) @ g if need[2] else None
            if not (need[0] or need[1] or (mask and need[3])):
                return (None, None, gv) + (None,) * len(mask)
            dp = g @ _t(m, v)
            ds = p * (dp - m.sum(dp * p, (-1,), True))
            gq = (ds @ k) * self.scale if need[0] else None
            gk = (_t(m, ds) @ q) * self.scale if need[1] else None
            gm = (ds if self.mask_kind == ADD and need[3] else None,) if mask else ()
            return (gq, gk, gv) + gm
        p = self.p
        gv = _t(m, p) @ g if need[2] else None
        want_mask = bool(mask) and self.mask_kind == ADD and need[3]
        if not (need[0] or need[1] or want_mask):
            return (None, None, gv) + (None,) * len(mask)
        c = g.dtype.type(self.scale)
        if want_mask:  # dM = dS itself: no scale folded into it
            ds = self._softmax_back(m, p, g @ _t(m, v))
            gm = ds.copy()
            m.multiply(ds, c, out=ds)
        else:  # scale · dS from scale · dP: the scale on the smaller of dO and V
            ds = self._softmax_back(m, p, (g * c) @ _t(m, v) if g.size <= v.size else g @ _t(m, v * c))
            gm = None
        if self.nan_rows:
            ds = m.where(mask[0], ds, 0)
        gq = ds @ k if need[0] else None
        gk = _t(m, ds) @ q if need[1] else None
        return (gq, gk, gv) + ((gm,) if mask else ())

    @staticmethod
    def _softmax_back(m: Any, p: Any, dp: Any) -> Any:
        """dS = P ⊙ (dP − rowsum(dP ⊙ P)), written into dP (a fresh array): the notes' softmax
        Jacobian, dy_k/dx_j = y_k (δ_kj − y_j), applied to dP as ``Softmax.vjp`` does."""
        with np.errstate(invalid="ignore"):
            r = m.einsum("...j,...j->...", dp, p)
            dp -= m.expand_dims(r, -1)
            dp *= p
        return dp

    def jvp(self, m, dxs, y, q, k, v, *mask):
        p = self.p if self.p is not None and not m.is_tensor else self._weights(m, q, k, mask)
        dq, dk, dv = dxs[:3]
        ds = (dq @ _t(m, k) + q @ _t(m, dk)) * self.scale
        if self.mask_kind == ADD:
            ds = ds + dxs[3]
        with np.errstate(invalid="ignore"):
            dpp = p * (ds - m.sum(ds * p, (-1,), True))
            return dpp @ v + p @ dv
