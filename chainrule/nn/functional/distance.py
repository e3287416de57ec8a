"""Distances and normalisation along a dimension: pairwise_distance, cosine_similarity, normalize;
and ``one_hot``.

Compositions of Tensor ops (``norm``, ``clamp``, ``sum``), so they differentiate twice and in
forward mode.  The norm's gradient at the origin is taken as 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.primitive import table_of
from chainrule.autograd.tensor import Tensor
from chainrule.nn.functional._const import constant_like
from chainrule.ops import elementwise as ew
from chainrule.ops import reduction as rd
from chainrule.ops import shape as sh
from chainrule.ops.creation import as_tensor

__all__ = ["cosine_similarity", "normalize", "one_hot", "pairwise_distance", "pdist"]


def _float(x: Any, name: str, what: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: {what} must be a Tensor, got {type(x).__name__}")
    if x._array.dtype.kind != "f":
        raise TypeError(f"{name}: {what} must be floating point, got {x.dtype}")
    return x


def _broadcast(name: str, x1: Tensor, x2: Tensor) -> None:
    try:
        np.broadcast_shapes(tuple(x1.shape), tuple(x2.shape))
    except ValueError:
        raise RuntimeError(f"{name}: x1 {tuple(x1.shape)} and x2 {tuple(x2.shape)} do not broadcast") from None


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """‖x1 - x2 + ε‖_p over the last dimension: (*, D) and (*, D) -> (*) (broadcasting)."""
    name = "pairwise_distance"
    x1, x2 = _float(x1, name, "x1"), _float(x2, name, "x2")
    _broadcast(name, x1, x2)
    d = x1 - x2 + eps
    if d.ndim == 0:
        return ew.abs(d)  # PyTorch: two scalars -> |x1 - x2 + eps|
    return rd.norm(d, p, -1, keepdim)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """cos θ = Σ (x1 / max(‖x1‖, ε)) (x2 / max(‖x2‖, ε)) along ``dim`` (PyTorch's form: each vector
    is normalised first, its norm clamped at ``eps``).  Broadcasts x1 and x2; removes ``dim``."""
    name = "cosine_similarity"
    x1, x2 = _float(x1, name, "x1"), _float(x2, name, "x2")
    _broadcast(name, x1, x2)
    n1 = ew.clamp(rd.norm(x1, 2, dim, True), min=eps)
    n2 = ew.clamp(rd.norm(x2, 2, dim, True), min=eps)
    return rd.sum((x1 / n1) * (x2 / n2), dim)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out: Any = None) -> Tensor:
    """x / max(‖x‖_p, ε) along ``dim`` (each vector rescaled to unit p-norm)."""
    if out is not None:
        raise NotImplementedError("normalize: out= is not supported; use the returned tensor")
    x = _float(input, "normalize", "input")
    return x / ew.clamp(rd.norm(x, p, dim, True), min=eps)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """Integer class indices (*) -> int64 (*, num_classes) with a 1 at each index;
    ``num_classes=-1`` means max(index) + 1."""
    t = tensor if isinstance(tensor, Tensor) else as_tensor(tensor)
    if t.dtype.kind not in "iu":
        raise RuntimeError(f"one_hot: one_hot is only applicable to index tensor (int64), got {t.dtype}")
    if num_classes == -1 and t.numel() == 0:
        raise RuntimeError("one_hot: Can not infer total number of classes from empty tensor.")
    # the values are read where the count follows them; with num_classes given only whether one
    # is out of range (a compiled plan then guards that, not the values)
    if num_classes == -1 or t.numel() and bool(((t < 0) | (t >= num_classes)).any()):
        lo, hi = int(t.min().item()), int(t.max().item())
        if lo < 0:
            raise RuntimeError(f"one_hot: Class values must be non-negative, got {lo}")
        if num_classes != -1:
            raise RuntimeError(f"one_hot: Class values must be smaller than num_classes ({num_classes}), got {hi}")
        num_classes = hi + 1
    classes = constant_like(t, lambda m: m.arange(int(num_classes)), "one_hot")
    return (sh.unsqueeze(t, -1) == classes).to(np.int64)


def pdist(input: Tensor, p: float = 2) -> Tensor:
    """‖x_i - x_j‖_p for every pair i < j of the rows of (N, M) input, in row-major order: (N(N-1)/2,)."""
    x = _float(input, "pdist", "input")
    if x.ndim != 2:
        raise RuntimeError(f"pdist: only supports 2D tensors, got: {x.ndim}D (shape {tuple(x.shape)})")
    r = table_of((x,), "pdist").arange(x.shape[0])
    i, j = (r[:, None] < r[None, :]).nonzero()  # the pairs i < j in row-major order
    return rd.norm(x[i] - x[j], p, -1)
