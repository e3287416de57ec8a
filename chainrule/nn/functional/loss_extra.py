"""More of PyTorch's losses: ranking and embedding losses, Poisson and Gaussian likelihoods,
the multi-label soft margin.

Each is a composition of Tensor ops (so it differentiates twice where it is smooth), written
elementwise and then reduced with ``reduction`` = 'mean' | 'sum' | 'none' (PyTorch's legacy
``size_average`` / ``reduce`` flags are honoured where PyTorch has them).  Targets y ∈ {1, -1}
for the ranking and embedding losses.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from chainrule.autograd.primitive import kernel
from chainrule.autograd.tensor import Tensor
from chainrule.nn.functional.distance import pairwise_distance
from chainrule.nn.functional.loss import (
    _float_input,
    _float_target,
    _reduce,
    _target_array,
    _weight_tensor,
    check_reduction,
)
from chainrule.nn.functional.loss import legacy_reduction as _legacy
from chainrule.ops import activation as act
from chainrule.ops import elementwise as ew
from chainrule.ops import reduction as rd
from chainrule.ops import shape as sh

__all__ = [
    "cosine_embedding_loss",
    "gaussian_nll_loss",
    "hinge_embedding_loss",
    "margin_ranking_loss",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
    "poisson_nll_loss",
    "soft_margin_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
]


def _red(size_average: Any, reduce: Any, reduction: str, name: str) -> str:
    return check_reduction(_legacy(size_average, reduce, reduction), name)


def _same_shape(name: str, **tensors: Tensor) -> None:
    shapes = {k: tuple(v.shape) for k, v in tensors.items()}
    try:
        np.broadcast_shapes(*shapes.values())
    except ValueError:
        raise ValueError(f"{name}: shapes do not broadcast: "
                         + ", ".join(f"{k} {s}" for k, s in shapes.items())) from None


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                        size_average: Any = None, reduce: Any = None, reduction: str = "mean") -> Tensor:
    """ℓ = max(0, -y (x1 - x2) + margin): x1 should rank above x2 when y = 1, below when y = -1."""
    name = "margin_ranking_loss"
    red = _red(size_average, reduce, reduction, name)
    x1 = _float_input(input1, name, "input1")
    x2 = _float_input(input2, name, "input2")
    y = _float_target(target, x1, name)
    _same_shape(name, input1=x1, input2=x2, target=y)
    return _reduce(ew.relu(-y * (x1 - x2) + margin), red)


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0, size_average: Any = None,
                         reduce: Any = None, reduction: str = "mean") -> Tensor:
    """ℓ = x where y = 1, max(0, margin - x) where y = -1 (x usually a distance)."""
    name = "hinge_embedding_loss"
    red = _red(size_average, reduce, reduction, name)
    x = _float_input(input, name)
    y = _float_target(target, x, name)
    _same_shape(name, input=x, target=y)
    return _reduce(ew.where(y != 1, ew.relu(margin - x), 0.0) + ew.where(y != -1, x, 0.0), red)


def soft_margin_loss(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None,
                     reduction: str = "mean") -> Tensor:
    """ℓ = log(1 + e^(-y x)) (a stable softplus)."""
    name = "soft_margin_loss"
    red = _red(size_average, reduce, reduction, name)
    x = _float_input(input, name)
    y = _float_target(target, x, name)
    _same_shape(name, input=x, target=y)
    return _reduce(act.softplus(-y * x, 1.0, math.inf), red)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                          size_average: Any = None, reduce: Any = None, reduction: str = "mean") -> Tensor:
    """ℓ = 1 - cos(x1, x2) where y = 1, max(0, cos(x1, x2) - margin) where y = -1.

    x1, x2 (N, D) or (D,), y (N,) or (); cos = x1·x2 / √((‖x1‖² + ε)(‖x2‖² + ε)), ε = 1e-12
    (PyTorch's guard against zero vectors)."""
    name = "cosine_embedding_loss"
    red = _red(size_average, reduce, reduction, name)
    x1 = _float_input(input1, name, "input1")
    x2 = _float_input(input2, name, "input2")
    y = _float_target(target, x1, name)
    if x1.shape != x2.shape or x1.ndim not in (1, 2) or tuple(y.shape) != tuple(x1.shape[:-1]):
        raise RuntimeError(f"{name}: expected input1 and input2 of shape (N, D) or (D,) and target (N,) or (), "
                           f"got {tuple(x1.shape)}, {tuple(x2.shape)} and {tuple(y.shape)}")
    eps = 1e-12
    cos = rd.sum(x1 * x2, -1) / ew.sqrt((rd.sum(x1 * x1, -1) + eps) * (rd.sum(x2 * x2, -1) + eps))
    loss = ew.where(y == 1, 1 - cos, 0.0) + ew.where(y == -1, ew.relu(cos - margin), 0.0)
    return _reduce(loss, red)


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0, p: float = 2,
                        eps: float = 1e-6, swap: bool = False, size_average: Any = None, reduce: Any = None,
                        reduction: str = "mean") -> Tensor:
    """ℓ = max(0, d(a, p) - d(a, n) + margin), d = ``pairwise_distance`` (p-norm, + eps); with
    ``swap`` d(a, n) is replaced by min(d(a, n), d(p, n)).  a, p, n (N, D) or (D,)."""
    name = "triplet_margin_loss"
    red = _red(size_average, reduce, reduction, name)
    a = _float_input(anchor, name, "anchor")
    pos = _float_input(positive, name, "positive")
    neg = _float_input(negative, name, "negative")
    if not (a.ndim == pos.ndim == neg.ndim) or a.ndim not in (1, 2):
        raise RuntimeError(f"{name}: anchor, positive and negative must all be (N, D) or (D,), got "
                           f"{tuple(a.shape)}, {tuple(pos.shape)} and {tuple(neg.shape)}")
    d_ap = pairwise_distance(a, pos, p, eps)
    d_an = pairwise_distance(a, neg, p, eps)
    if swap:
        d_an = ew.minimum(d_an, pairwise_distance(pos, neg, p, eps))
    return _reduce(ew.relu(d_ap - d_an + margin), red)


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True, full: bool = False,
                     size_average: Any = None, eps: float = 1e-8, reduce: Any = None,
                     reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of target ~ Poisson(λ) without the constant log(y!):

        ℓ = e^x - y x  (``log_input``, x = log λ),   ℓ = x - y log(x + eps)  (x = λ)

    ``full`` adds Stirling's approximation of log(y!), y log y - y + ½ log(2π y), where y > 1
    (differentiable in y, as PyTorch's)."""
    name = "poisson_nll_loss"
    red = _red(size_average, reduce, reduction, name)
    x = _float_input(input, name)
    y = _float_target(target, x, name)
    _same_shape(name, input=x, target=y)
    loss = ew.exp(x) - y * x if log_input else x - y * ew.log(x + eps)
    if full:
        big = y > 1
        ys = ew.where(big, y, 1.0)  # log only where y > 1
        stirling = ys * ew.log(ys) - ys + 0.5 * ew.log(ys * (2 * math.pi))
        loss = loss + ew.where(big, stirling, 0.0)
    return _reduce(loss, red)


def gaussian_nll_loss(input: Tensor, target: Tensor, var: Tensor | float, full: bool = False, eps: float = 1e-6,
                      reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of target ~ N(input, var):

        ℓ = ½ (log max(var, eps) + (x - y)² / max(var, eps))  (+ ½ log 2π with ``full``)

    var has the input's shape, or one fewer trailing dimension / a last dimension of 1 (one
    variance per row), or is a number.  As PyTorch, the clamp at eps passes var's gradient
    through unchanged."""
    name = "gaussian_nll_loss"
    red = check_reduction(reduction, name)
    x = _float_input(input, name)
    y = _float_target(target, x, name)
    if not isinstance(var, Tensor):
        var = kernel("full_like", x, fill_value=float(var))
    v = _float_input(var, name, "var")
    if tuple(v.shape) != tuple(x.shape):
        if v.ndim == x.ndim - 1 and tuple(v.shape) == tuple(x.shape[:-1]):
            v = sh.unsqueeze(v, -1)
        elif not (v.ndim == x.ndim and tuple(v.shape[:-1]) == tuple(x.shape[:-1]) and v.shape[-1] == 1):
            raise ValueError(f"{name}: var is of incorrect size {tuple(v.shape)} for input {tuple(x.shape)}")
    if (v._array < 0).any():
        raise ValueError(f"{name}: var has negative entry/entries")
    # clamp without blocking the gradient: v + (max(v, eps) - v), the difference a constant
    c = v.detach()
    v = v + (ew.clamp(c, min=eps) - c)
    loss = 0.5 * (ew.log(v) + (x - y) ** 2 / v)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, red)


def multilabel_soft_margin_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                size_average: Any = None, reduce: Any = None, reduction: str = "mean") -> Tensor:
    """One-vs-all logistic loss per sample, input x and 0/1 target y of shape (N, C):

        ℓ_n = -(1/C) Σ_c w_c (y_c log σ(x_c) + (1 - y_c) log σ(-x_c))."""
    name = "multilabel_soft_margin_loss"
    red = _red(size_average, reduce, reduction, name)
    x = _float_input(input, name)
    y = _float_target(target, x, name)
    if tuple(y.shape) != tuple(x.shape) or x.ndim == 0:
        raise ValueError(f"{name}: target shape {tuple(y.shape)} must equal input shape {tuple(x.shape)} (N, C)")
    inf = math.inf
    loss = y * act.softplus(-x, 1.0, inf) + (1 - y) * act.softplus(x, 1.0, inf)  # -log σ(x), -log σ(-x)
    w = _weight_tensor(weight, x, name)
    if w is not None:
        loss = loss * w
    return _reduce(rd.mean(loss, -1), red)


def multi_margin_loss(input: Tensor, target: Tensor, p: int = 1, margin: float = 1.0, weight: Tensor | None = None,
                      size_average: Any = None, reduce: Any = None, reduction: str = "mean") -> Tensor:
    """Multi-class hinge loss, input x (N, C) or (C,), class-index target y (N,) or ():

        ℓ_n = (1/C) Σ_{i ≠ y} w_y max(0, margin - x_y + x_i)^p,   p ∈ {1, 2}."""
    name = "multi_margin_loss"
    red = _red(size_average, reduce, reduction, name)
    if p not in (1, 2):
        raise ValueError(f"{name}: only p == 1 and p == 2 supported, got p={p}")
    x = _float_input(input, name)
    m, y = _target_array(x, target, name)
    single = x.ndim == 1
    if x.ndim not in (1, 2) or y.shape != tuple(x.shape[:-1]) or (y.size and y.dtype.kind not in "iu"):
        raise ValueError(f"{name}: expected input (N, C) or (C,) and an integer target (N,) or (), got input "
                         f"{tuple(x.shape)} and target {y.dtype} of shape {tuple(y.shape)}")
    C = x.shape[-1]
    if y.size and (y.min() < 0 or y.max() >= C):
        raise IndexError(f"{name}: target {int(y.min() if y.min() < 0 else y.max())} is out of bounds for {C} "
                         "classes")
    x2 = sh.unsqueeze(x, 0) if single else x
    yy = y.reshape(-1).astype(np.int64)
    rows = m.arange(x2.shape[0])
    xy = sh.unsqueeze(x2[Tensor._wrap(rows), Tensor._wrap(yy)], 1)  # (N, 1): the target class's score
    z = ew.relu(margin - xy + x2)
    if p == 2:
        z = z * z
    other = m.ones(tuple(x2.shape), x._array.dtype)
    other[rows, yy] = 0.0  # the i = y term is left out
    z = z * Tensor._wrap(other)
    w = _weight_tensor(weight, x, name)
    if w is not None:
        z = z * sh.unsqueeze(w[Tensor._wrap(yy)], 1)
    loss = rd.sum(z, 1) / C
    if single:
        loss = sh.squeeze(loss, 0)
    return _reduce(loss, red)


def triplet_margin_with_distance_loss(anchor: Tensor, positive: Tensor, negative: Tensor, *,
                                      distance_function: Callable[[Tensor, Tensor], Tensor] | None = None,
                                      margin: float = 1.0, swap: bool = False, reduction: str = "mean") -> Tensor:
    """ℓ = max(0, d(a, p) - d(a, n) + margin) for any distance d (default ``pairwise_distance``);
    ``swap`` uses min(d(a, n), d(p, n))."""
    name = "triplet_margin_with_distance_loss"
    red = check_reduction(reduction, name)
    if margin <= 0:
        raise ValueError(f"{name}: margin must be greater than 0, got {margin}")
    d = pairwise_distance if distance_function is None else distance_function
    d_ap, d_an = d(anchor, positive), d(anchor, negative)
    if swap:
        d_an = ew.minimum(d_an, d(positive, negative))
    return _reduce(ew.relu(d_ap - d_an + margin), red)


def multilabel_margin_loss(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None,
                           reduction: str = "mean") -> Tensor:
    """Multi-label hinge loss: x (N, C) or (C,); target (N, C) integer class indices, the labels of a
    sample being the entries before its first -1:

        ℓ_n = Σ_{j ∈ labels} Σ_{i ∉ labels} max(0, 1 - (x_j - x_i)) / C,

    the sum over j running over the listed entries (a label listed twice counts twice, as PyTorch)
    and the sum over i over the classes listed nowhere."""
    name = "multilabel_margin_loss"
    red = _red(size_average, reduce, reduction, name)
    x = _float_input(input, name)
    m, y = _target_array(x, target, name)
    if x.ndim not in (1, 2) or y.shape != tuple(x.shape) or (y.size and y.dtype.kind not in "iu"):
        raise ValueError(f"{name}: expected input (N, C) or (C,) and an integer target of the same shape, got "
                         f"input {tuple(x.shape)} and target {y.dtype} of shape {tuple(y.shape)}")
    single = x.ndim == 1
    x2 = sh.unsqueeze(x, 0) if single else x
    y2 = y.reshape(x2.shape).astype(np.int64)
    N, C = x2.shape
    before = m.cumsum((y2 < 0).astype(np.int64), 1) == 0  # the entries before a row's first -1
    labels = m.where(before, y2, -1)
    top = labels.max(1) if C else labels.sum(1)
    if (top >= C).any():
        raise IndexError(f"{name}: target {int(top[m.argmax(top >= C)])} is out of bounds for {C} classes")
    # count[n, j]: how often class j is listed before the first -1 (PyTorch's sum runs over the listed
    # entries, a repeated label once per listing; over the classes i not listed, each once)
    count = (labels[:, :, None] == m.arange(C)[None, None, :]).sum(1)
    # pair[n, j, i] = count[n, j] where i is no label: label j against non-label i
    pair = (count[:, :, None] * (count == 0)[:, None, :]).astype(x._array.dtype)
    hinge = ew.relu(1 - (sh.unsqueeze(x2, 2) - sh.unsqueeze(x2, 1)))  # (N, C_j, C_i)
    loss = rd.sum(hinge * Tensor._wrap(pair), (1, 2)) / C
    if single:
        loss = sh.squeeze(loss, 0)
    return _reduce(loss, red)
