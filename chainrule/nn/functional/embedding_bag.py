"""``embedding_bag``: the sum, mean or max of each bag of looked-up embedding rows.

Bags are the rows of a 2-D index tensor (B, L), or consecutive runs of a 1-D index tensor
starting at ``offsets`` (B,) (with ``include_last_offset`` the last offset ends the last bag).
For bag b with kept positions P_b (positions whose index is ``padding_idx`` are left out):

    sum:  out_b = Σ_{i ∈ P_b} w_i · weight[idx_i]     (w_i = ``per_sample_weights``, default 1)
    mean: out_b = (1/|P_b|) Σ_{i ∈ P_b} weight[idx_i]
    max:  out_b = max_{i ∈ P_b} weight[idx_i]  (elementwise)

An empty bag gives zeros.  Built from ``embedding`` (its gradient scatters into the table),
``scatter_add`` and ``amax``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.primitive import table_of
from chainrule.autograd.tensor import Tensor
from chainrule.nn.functional._const import constant_like
from chainrule.nn.functional.embedding import check_indices, lookup, normalize_padding_idx
from chainrule.ops import reduction as rd
from chainrule.ops import shape as sh
from chainrule.ops.indexing import getitem, scatter_add

__all__ = ["embedding_bag"]


def _bag_starts(name: str, idx: Any, offsets: Any, include_last_offset: bool, m: Any) -> tuple:
    """(flat indices, the index where each bag starts, where the last bag stops), checked."""
    if idx.ndim == 2:
        if offsets is not None:
            raise ValueError(f"{name}: if input is 2-D (B, L), offsets must be None, got offsets")
        B, L = idx.shape
        return idx.reshape(-1), m.arange(B) * L, B * L
    if idx.ndim != 1:
        raise ValueError(f"{name}: input has to be 1-D (with offsets) or 2-D (B, L), got shape {tuple(idx.shape)}")
    if offsets is None:
        raise ValueError(f"{name}: offsets has to be a 1-D Tensor but got None (1-D input)")
    off = offsets._array if isinstance(offsets, Tensor) else m.from_host(offsets)
    if off.ndim != 1 or (off.size and off.dtype.kind not in "iu"):
        raise ValueError(f"{name}: offsets has to be a 1-D integer Tensor, got {off.dtype} of shape {tuple(off.shape)}")
    off = off.astype(np.int64)
    if off.size and (off[0] != 0 or (off[1:] < off[:-1]).any() or off[-1] > idx.shape[0]):
        raise ValueError(f"{name}: offsets must start at 0, be non-decreasing and at most len(input) "
                         f"({idx.shape[0]}), got {off.tolist()}")
    if include_last_offset:  # past the last offset: in no bag
        return idx, off[:-1], int(off[-1]) if off.size else 0
    return idx, off, idx.shape[0]


def embedding_bag(
    input: Any,
    weight: Tensor,
    offsets: Any = None,
    max_norm: float | None = None,
    norm_type: float = 2,
    scale_grad_by_freq: bool = False,
    mode: str = "mean",
    sparse: bool = False,
    per_sample_weights: Tensor | None = None,
    include_last_offset: bool = False,
    padding_idx: int | None = None,
) -> Tensor:
    """input (B, L) or (n,) with ``offsets`` (B,); weight (V, D) -> (B, D).  See the module docstring."""
    name = "embedding_bag"
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"{name}: mode has to be one of sum, mean or max, got {mode!r}")
    if weight.ndim != 2:
        raise ValueError(f"{name}: weight has to be a 2-D Tensor (V, D), got {tuple(weight.shape)}")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(f"{name}: per_sample_weights was not None. per_sample_weights is only supported "
                                  f"for mode='sum' (got mode='{mode}'). Please open a feature request on GitHub.")
    if scale_grad_by_freq or sparse:
        raise NotImplementedError(f"{name}: scale_grad_by_freq and sparse gradients are not supported")
    V, D = weight.shape
    m = table_of((weight,), name)
    raw = check_indices(input, V, name, weight)
    flat, starts, stop = _bag_starts(name, raw, offsets, include_last_offset, m)
    B = starts.shape[0]
    pos, bag, size = m.embedding_bags(flat, starts, stop, normalize_padding_idx(padding_idx, V, name), weight.dtype)
    rows = lookup(flat[pos].astype(np.int64), weight, None, max_norm, norm_type)  # (n_kept, D)
    if per_sample_weights is not None:
        psw = per_sample_weights
        if tuple(psw.shape) != tuple(raw.shape):
            raise ValueError(f"{name}: per_sample_weights {tuple(psw.shape)} must have the shape of input "
                             f"{tuple(raw.shape)}")
        rows = rows * sh.unsqueeze(getitem(sh.reshape(psw, (-1,)), pos), 1)
    zeros = constant_like(weight, lambda m: m.zeros((B, D), weight.dtype), name)
    if mode in ("sum", "mean"):
        out = scatter_add(zeros, 0, m.broadcast_to(bag[:, None], (bag.shape[0], D)), rows)
        if mode == "mean":
            out = out / constant_like(weight, lambda m: size, name)
        return out
    parts = []
    for b in range(B):
        sel = (bag == b).nonzero()[0]
        parts.append(rd.amax(getitem(rows, sel), 0) if sel.size else getitem(zeros, b))
    return sh.stack(parts, 0) if parts else zeros
