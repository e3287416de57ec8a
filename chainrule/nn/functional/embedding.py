"""Embedding lookup: row i of a (num_embeddings, embedding_dim) table for every index i.

    y[..., :] = W[idx[...], :]

The vjp is a scatter-add: dL/dW[v] = Σ over the positions p with idx[p] = v of
g[p] (a repeated index accumulates), except the ``padding_idx`` row, which
receives no gradient.  The rows are accumulated by the table's scatter_add_rows
(``backend/scatter.py``: a compiled loop, or sorted runs summed by np.add.reduceat).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.grad_mode import no_grad
from chainrule.autograd.primitive import Primitive, apply1, table_of
from chainrule.autograd.tensor import Tensor
from chainrule.autograd.version import EDITED
from chainrule.backend.dtype_check import DtypeError
from chainrule.ops.window import _linear


class _Rows(Primitive):
    __slots__ = ("idx", "num", "padding_idx")

    def __init__(self, idx: Any, num: int, padding_idx: int | None) -> None:
        self.idx = idx
        self.num = num
        self.padding_idx = padding_idx


class EmbeddingLookup(_Rows):
    """y = W[idx] (any index shape, rows appended);  vjp: EmbeddingScatter (padding row gets none)."""

    __slots__ = ()
    name = "embedding"
    saves_inputs = ()
    saves_output = False

    def forward(self, m, w):
        return m.take_rows(w, self.idx)  # (the indices were checked: check_indices)

    def vjp(self, m, need, g, y, w):
        return (_linear(m, EmbeddingScatter(self.idx, self.num, self.padding_idx), g),)

    def jvp(self, m, dxs, y, w):
        return _linear(m, self, dxs[0])


class EmbeddingGather(_Rows):
    """y = W[idx] with the rows at padding positions zeroed (the transpose of EmbeddingScatter)."""

    __slots__ = ()
    name = "embedding_gather"
    saves_inputs = ()
    saves_output = False

    def forward(self, m, w):
        y = w[self.idx]
        if self.padding_idx is not None:
            y[self.idx == self.padding_idx] = 0
        return y

    def vjp(self, m, need, g, y, w):
        return (_linear(m, EmbeddingScatter(self.idx, self.num, self.padding_idx), g),)

    def jvp(self, m, dxs, y, w):
        return _linear(m, self, dxs[0])


class EmbeddingScatter(_Rows):
    """dW = zeros (num, D) with g[p] added to row idx[p] (repeats accumulate; padding row stays 0);
    vjp: EmbeddingGather."""

    __slots__ = ()
    name = "embedding_scatter"

    def forward(self, m, g):
        dim = g.shape[-1]
        flat = self.idx.reshape(-1)
        rows = g.reshape(-1, dim)
        out = m.scatter_add_rows(m.zeros((self.num, dim), g.dtype), flat, rows)
        if self.padding_idx is not None:
            out[self.padding_idx] = 0
        return out

    def vjp(self, m, need, gg, y, g):
        return (_linear(m, EmbeddingGather(self.idx, self.num, self.padding_idx), gg),)

    def jvp(self, m, dxs, y, g):
        return _linear(m, self, dxs[0])


def check_indices(input: Any, num: int, name: str, weight: Tensor | None = None) -> Any:
    """The index array, checked: integer dtype, every index in [0, num) (negative ones are errors, as PyTorch),
    on ``weight``'s device.  A Tensor's array as it is; other input (a list) made an array there."""
    if isinstance(input, Tensor):
        idx = input._array
        if weight is not None:
            table_of((idx, weight._array), name)  # indices on another device: that error
    else:
        idx = table_of(() if weight is None else (weight,), name).from_host(input)
    if idx.dtype != np.int64 and idx.dtype != np.int32:
        # PyTorch takes Long or Int indices only (not uint8, which once meant a mask, nor int16)
        raise DtypeError(f"{name}: expected an integer index tensor of dtype int64 or int32 (Long or Int), "
                         f"got dtype {idx.dtype}")
    if idx.size:
        lo, hi = idx.min(), idx.max()
        if lo < 0 or hi >= num:  # (two comparisons, not the values: a compiled plan guards only these)
            lo, hi = int(lo), int(hi)
            bad = lo if lo < 0 else hi
            raise IndexError(f"{name}: index {bad} is out of range for an embedding table of {num} rows "
                             f"(valid indices 0..{num - 1})")
    return idx


def normalize_padding_idx(padding_idx: int | None, num: int, name: str) -> int | None:
    """padding_idx in [-num, num), negatives counted from the end (as PyTorch)."""
    if padding_idx is None:
        return None
    if not -num <= padding_idx < num:
        raise ValueError(f"{name}: padding_idx must be within num_embeddings ({num}), got {padding_idx}")
    return padding_idx % num


def embedding(
    input: Any,
    weight: Tensor,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """Look up rows: input indices (any shape) and weight (V, D) -> (*input.shape, D).

    ``padding_idx``: that row gets no gradient.  ``max_norm``: rows looked up
    whose ``norm_type``-norm exceeds max_norm are first rescaled in place to
    norm max_norm (no gradient through the rescaling, as PyTorch).
    ``scale_grad_by_freq`` and ``sparse=True`` are not supported.
    """
    if weight.ndim != 2:
        raise ValueError(f"embedding: expected a 2-D weight (num_embeddings, embedding_dim), got {tuple(weight.shape)}")
    if scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: scale_grad_by_freq and sparse gradients are not supported")
    num = weight.shape[0]
    # a private copy: the vjp scatters by these indices, checked now, whatever happens to the
    # caller's index tensor before the backward pass
    idx = check_indices(input, num, "embedding", weight).astype(np.int64, order="C")  # (astype copies)
    return lookup(idx, weight, normalize_padding_idx(padding_idx, num, "embedding"), max_norm, norm_type)


def lookup(idx: Any, weight: Tensor, pad: int | None, max_norm: float | None, norm_type: float) -> Tensor:
    """W[idx] for a checked, private int64 index array ``idx`` on W's device (see ``embedding``)."""
    if max_norm is not None:
        with no_grad():
            table_of((weight,), "embedding").renorm_rows_(weight._array, idx, max_norm, norm_type)
    op = EmbeddingLookup(idx, weight.shape[0], pad)
    out = apply1(op, weight)
    if out._op is None:
        # no node recorded (frozen table, no_grad): remember where the rows came from, for
        # the layers that fold a lookup into their first product (lookup_source)
        out._extras(any_hook=False)["embedding"] = (weight, op, EDITED[0])  # (later edits have later ticks)
    return out


def lookup_source(x: Tensor) -> tuple[Tensor, EmbeddingLookup] | None:
    """(E, op) when ``x`` is, unchanged, the output of the embedding lookup ``op`` of table ``E``
    (x = E[op.idx]), else None.

    Read from the graph (x's node is the lookup, its parent E), or, where the lookup
    recorded no node, from the mark ``embedding`` left on x.  Never from x's values.  Not
    unchanged: E or x modified in place since the lookup (their version counters moved
    past the lookup's clock), so that E[idx] no longer equals x.
    """
    op = x._op
    if type(op) is EmbeddingLookup:
        if x._parents is None:  # the node was freed by a backward pass: E is not known any more
            return None
        E, clock = x._parents[0], x._clk
    else:
        extra = getattr(x, "_extra", None)
        mark = None if extra is None else extra.get("embedding")
        if mark is None:
            return None
        E, op, clock = mark
    for t in (E, x):
        vc = getattr(t, "_vc", None)
        if vc is not None and vc.modified_after(clock):
            return None
    return E, op
