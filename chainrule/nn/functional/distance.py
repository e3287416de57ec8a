"""Distances and normalisation along a dimension: pairwise_distance, cosine_similarity, normalize;
and ``one_hot``.

Compositions of Tensor ops (``norm``, ``clamp``, ``sum``), so they differentiate twice and in
forward mode.  The norm's gradient at the origin is taken as 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.ops import elementwise as ew
from chainrule.ops import reduction as rd

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
    idx = tensor._array if isinstance(tensor, Tensor) else np.asarray(tensor)
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"one_hot: one_hot is only applicable to index tensor (int64), got {idx.dtype}")
    if idx.size and idx.min() < 0:
        raise RuntimeError(f"one_hot: Class values must be non-negative, got {int(idx.min())}")
    if num_classes == -1:
        if idx.size == 0:
            raise RuntimeError("one_hot: Can not infer total number of classes from empty tensor.")
        num_classes = int(idx.max()) + 1
    elif idx.size and idx.max() >= num_classes:
        raise RuntimeError(f"one_hot: Class values must be smaller than num_classes ({num_classes}), "
                           f"got {int(idx.max())}")
    out = np.zeros(idx.shape + (int(num_classes),), dtype=np.int64)
    np.put_along_axis(out, idx.astype(np.int64)[..., None], 1, axis=-1)
    return Tensor._wrap(out)


def pdist(input: Tensor, p: float = 2) -> Tensor:
    """‖x_i - x_j‖_p for every pair i < j of the rows of (N, M) input, in row-major order: (N(N-1)/2,)."""
    x = _float(input, "pdist", "input")
    if x.ndim != 2:
        raise RuntimeError(f"pdist: only supports 2D tensors, got: {x.ndim}D (shape {tuple(x.shape)})")
    i, j = np.triu_indices(x.shape[0], k=1)
    return rd.norm(x[i] - x[j], p, -1)
