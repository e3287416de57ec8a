"""Scaled dot-product attention as one primitive, with its hand-written rules.

    S = Q Kᵀ · scale (+ M, or -inf where the mask says no),  P = softmax_rows(S),  O = P V

Q (..., L, E), K (..., S, E), V (..., S, Ev) -> O (..., L, Ev); the batch axes broadcast.  The
forward keeps P for the backward:

    dV = Pᵀ dO,  dP = dO Vᵀ,  dS = P ⊙ (dP − rowsum(dP ⊙ P)),  dQ = dS K · scale,  dK = dSᵀ Q · scale

(dM = dS for an additive float mask).  A masked position has P = 0, so its dS is 0.  A row
with every position masked out (a query that sees no key) is zero, with zero gradients, as
PyTorch's scaled_dot_product_attention gives it (its safe softmax; a plain softmax of such a
row is NaN): P's row is set to 0 (``_softmax_rows``), which makes dS's row 0 too.

**Causal attention** (``mask_kind`` CAUSAL, no mask input: query position i sees key positions
j ≤ i, PyTorch's ``is_causal``) skips the scores above the diagonal instead of computing and
masking them.  The rows are cut into blocks of R (32 rows, or L/8 for long sequences): the
rows r0 … r1−1 see only the keys 0 … min(r1, S)−1, so each block's products, exponentials and
their backward run on that many columns, and only the triangle inside the block is masked.
For L = S = 64 (2 blocks) that is 3/4 of the columns; for long sequences (8 blocks) 9/16.
More, smaller blocks skip more but call BLAS more often on smaller matrices: float32 forward +
backward of (64, L, 64)-sized heads, 1/2/4/8/16 blocks, ms: L = 64 (batch 64, E 32) 3.4 / 2.9
/ 3.0 / 3.8 / 5.7; L = 256 (batch 16) 17.0 / 12.9 / 12.5 / 12.6 / 14.0; L = 1024 (batch 4)
54.9 / 41.6 / 32.9 / 29.6 / 33.3.  The results equal the masked computation's to rounding (the
masked positions add exact zeros there; here they are not summed at all).

The scale is folded into the smallest operand: Q or K in the forward, dO or V in the backward
(fewer multiplications than a pass over the (L, S) scores), so results agree with the
composition ``softmax(Q Kᵀ · scale) V`` to rounding, not in every bit.  Under
``create_graph`` (Tensors in the rules) the vjp is composed from Tensor ops, so it is
differentiable again.  Dropout on the weights is not part of it (``attention._attend``
composes that case).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.primitive import Primitive, table_of
from chainrule.autograd.tensor import Tensor
from chainrule.ops.reduction import softmax

TAKE = "take"  # a boolean mask input: True = the position takes part
ADD = "add"  # a float mask input, added to the scores
CAUSAL = "causal"  # no mask input: key position j takes part for query position i where j <= i


def causal_mask(m: Any, L: int, S: int, first_row: int = 0) -> Any:
    """(L, S) boolean array of table m: True where key position j ≤ query position i (the lower
    triangle), for the query positions i = first_row … first_row + L − 1."""
    return m.arange(S)[None, :] <= m.arange(first_row, first_row + L)[:, None]


def causal_blocks(L: int, S: int) -> list[tuple[int, int, int]]:
    """The row blocks of causal attention: (r0, r1, cols), rows r0 … r1−1 seeing keys 0 … cols−1."""
    R = max(32, -(-L // 8))
    return [(r0, min(r0 + R, L), min(r0 + R, L, S)) for r0 in range(0, L, R)]


def _t(m: Any, x: Any) -> Any:
    return m.swapaxes(x, -1, -2)


class ScaledDotProductAttention(Primitive):
    """O = softmax(Q Kᵀ · scale + M) V, inputs (q, k, v) or (q, k, v, mask); see the module docstring."""

    __slots__ = ("scale", "mask_kind", "p", "nan_rows")
    name = "scaled_dot_product_attention"
    saves_output = False

    def __init__(self, scale: float, mask_kind: str | None) -> None:
        self.scale = float(scale)
        self.mask_kind = mask_kind  # None, TAKE, ADD or CAUSAL
        self.p: Any = None  # the weights P, kept by the forward on raw arrays (causal: a list of row blocks)
        self.nan_rows = False

    def _softmax_rows(self, m: Any, s: Any) -> Any:
        """P = softmax over the last axis of the scores s, on raw arrays (written into a pooled
        array); with a mask, a row whose scores are all -inf (fully masked) is 0, not NaN."""
        lead, C = s.shape[:-1], s.shape[-1]
        x = m.reshape(s, (-1, C))
        z, e = m.pooled_empty(x.shape, x.dtype), m.pooled_empty(x.shape, x.dtype)
        with np.errstate(invalid="ignore"):  # a fully masked row: -inf - (-inf) = NaN, zeroed below
            r = m.shifted_exp(x, z, e)  # z = x - max_row x, e = e^z, r = Σ_row e
            p = m.divide(e, m.reshape(r, (-1, 1)), out=e)
        if self.mask_kind in (TAKE, ADD) and not m.isfinite(r).all():  # (only a mask makes a row all -inf)
            p[m.all(m.isneginf(x), axis=-1)] = 0  # (a NaN score's row stays NaN)
        return m.reshape(p, lead + (C,)), r

    def _scores(self, m: Any, q: Any, k: Any, mask: tuple) -> Any:
        """S = Q Kᵀ · scale, masked, on raw arrays; the scale on the smaller of Q and K."""
        c = q.dtype.type(self.scale)
        s = (q * c) @ _t(m, k) if q.size <= k.size else q @ _t(m, k * c)
        if self.mask_kind == TAKE:
            s = m.where(mask[0], s, -np.inf)
        elif self.mask_kind == CAUSAL:  # (every score, masked: the forward's blocks skip the masked ones)
            s = m.where(causal_mask(m, q.shape[-2], k.shape[-2]), s, -np.inf)
        elif self.mask_kind == ADD:
            s = m.add(s, mask[0], out=s) if s.shape == np.broadcast_shapes(s.shape, mask[0].shape) else s + mask[0]
        return s

    def forward(self, m, q, k, v, *mask):
        if self.mask_kind == CAUSAL:
            return self._causal_forward(m, q, k, v)
        s = self._scores(m, q, k, mask)
        p, r = self._softmax_rows(m, s)
        self.p = p
        # a fully masked row (NaN): the composition's where(mask, S, -inf) gives its masked
        # positions a zero gradient, so the vjp zeroes dS there too (dQ's row 0, dK finite)
        self.nan_rows = self.mask_kind == TAKE and not m.isfinite(r).all()
        return p @ v

    def _causal_forward(self, m: Any, q: Any, k: Any, v: Any) -> Any:
        """O row block by row block (see the module docstring); keeps each block's P."""
        L, S = q.shape[-2], k.shape[-2]
        c = q.dtype.type(self.scale)
        lead = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
        out = m.empty(lead + (L, v.shape[-1]), q.dtype)
        blocks = []
        for r0, r1, cols in causal_blocks(L, S):
            s = (q[..., r0:r1, :] * c) @ _t(m, k[..., :cols, :])
            if cols > r0 + 1:  # keys j > i inside the block
                s = m.where(causal_mask(m, r1 - r0, cols, r0), s, -np.inf)
            p, _ = self._softmax_rows(m, s)
            out[..., r0:r1, :] = p @ v[..., :cols, :]
            blocks.append(p)
        self.p = blocks
        return out

    def _causal_vjp(self, m: Any, need: tuple, g: Any, q: Any, k: Any, v: Any) -> tuple:
        """The gradients block by block: dV and dK accumulate over the blocks that see a key."""
        L, S = q.shape[-2], k.shape[-2]
        lead = g.shape[:-2]
        c = g.dtype.type(self.scale)
        gq: Any = m.empty(lead + (L, q.shape[-1]), g.dtype) if need[0] else None
        gk: Any = m.zeros(lead + (S, k.shape[-1]), g.dtype) if need[1] else None
        gv: Any = m.zeros(lead + (S, v.shape[-1]), g.dtype) if need[2] else None
        for (r0, r1, cols), p in zip(causal_blocks(L, S), self.p):
            g_b = g[..., r0:r1, :]
            if need[2]:
                gv[..., :cols, :] += _t(m, p) @ g_b
            if need[0] or need[1]:  # scale · dS from scale · dP
                ds = self._softmax_back(m, p, (g_b * c) @ _t(m, v[..., :cols, :]))
                if need[0]:
                    gq[..., r0:r1, :] = ds @ k[..., :cols, :]
                if need[1]:
                    gk[..., :cols, :] += _t(m, ds) @ q[..., r0:r1, :]
        return gq, gk, gv

    # ---- the rules -----------------------------------------------------------------------
    def _weights(self, m: Any, q: Any, k: Any, mask: tuple) -> Any:
        """P composed from Tensor ops (the recorded path): the softmax op of the scores."""
        s = (q @ _t(m, k)) * self.scale
        if self.mask_kind == TAKE:
            s = m.where(mask[0], s, m.const(-np.inf, s))
        elif self.mask_kind == CAUSAL:
            host = table_of((s,))
            keep = causal_mask(host, q.shape[-2], k.shape[-2])
            s = m.where(Tensor._wrap(keep) if m.is_tensor else keep, s, m.const(-np.inf, s))
        elif self.mask_kind == ADD:
            s = s + mask[0]
        if self.mask_kind not in (TAKE, ADD):
            return softmax(s, -1)
        # a fully masked row is 0 (see _softmax_rows); its scores become 0 first, so that the
        # softmax's backward, which the last where gives a zero gradient, has no NaN to pass on
        host = table_of((s,))
        raw = m.raw(s) if m.is_tensor else s
        dead = host.all(host.isneginf(raw), axis=-1, keepdims=True)
        dead = Tensor._wrap(dead) if m.is_tensor else dead
        p = softmax(m.where(dead, m.const(0.0, s), s), -1)
        return m.where(dead, m.const(0.0, p), p)

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
        if self.mask_kind == CAUSAL:
            return self._causal_vjp(m, need, g, q, k, v)
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
        if m.is_tensor or self.p is None:
            p = self._weights(m, q, k, mask)
        elif self.mask_kind == CAUSAL:  # (the forward kept P in row blocks: the whole of it, again)
            p, _ = self._softmax_rows(m, self._scores(m, q, k, mask))
        else:
            p = self.p
        dq, dk, dv = dxs[:3]
        ds = (dq @ _t(m, k) + q @ _t(m, dk)) * self.scale
        if self.mask_kind == ADD:
            ds = ds + dxs[3]
        with np.errstate(invalid="ignore"):
            dpp = p * (ds - m.sum(ds * p, (-1,), True))
            return dpp @ v + p @ dv
