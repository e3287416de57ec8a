"""More of PyTorch's activation functions: glu, prelu, rrelu, celu, softmin, threshold and the shrinks.

All are compositions of Tensor ops (``where``, ``sigmoid``, ``elu``...), so gradients,
double backward and forward mode come from those.  At a kink the gradient is PyTorch's:

================  ===============================================  ==========================
function          formula                                          derivative at the kink(s)
================  ===============================================  ==========================
prelu             x (x > 0), a·x (x <= 0), a learned per channel   a at x = 0
rrelu             x (x >= 0), r·x, r ~ U(lower, upper) (training)  1 at x = 0
threshold         x (x > t), value (x <= t)                        0 at x = t
softshrink        x - λ (x > λ), x + λ (x < -λ), 0                  0 at ±λ
hardshrink        x (|x| > λ), 0                                   0 at ±λ
================  ===============================================  ==========================
"""

from __future__ import annotations

import warnings
from typing import Any

from chainrule.autograd.primitive import kernel
from chainrule.autograd.tensor import Tensor
from chainrule.backend.random import default_generator
from chainrule.nn.functional._const import constant_like
from chainrule.nn.functional.activation import hardtanh, in_place, selu
from chainrule.ops import activation as act
from chainrule.ops import elementwise as ew
from chainrule.ops import reduction
from chainrule.ops import shape as sh
from chainrule.ops.indexing import getitem

__all__ = [
    "celu",
    "celu_",
    "elu_",
    "glu",
    "gumbel_softmax",
    "hardshrink",
    "hardtanh_",
    "leaky_relu_",
    "prelu",
    "rrelu",
    "rrelu_",
    "selu_",
    "softmin",
    "softshrink",
    "tanhshrink",
    "threshold",
    "threshold_",
]


def _tensor(input: Any, name: str) -> Tensor:
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(input).__name__}")
    return input


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """Gated linear unit: split ``input`` in halves a, b along ``dim``; a ⊙ σ(b).
    (..., 2n, ...) -> (..., n, ...)."""
    x = _tensor(input, "glu")
    if x.ndim == 0:
        raise RuntimeError("glu: does not support scalars because halving size must be even")
    d = dim % x.ndim if -x.ndim <= dim < x.ndim else None
    if d is None:
        raise IndexError(f"glu: dim {dim} out of range for a {x.ndim}-D input")
    n = x.shape[d]
    if n % 2:
        raise RuntimeError(f"glu: Halving dimension must be even, but dimension {d} is size {n} "
                           f"(input shape {tuple(x.shape)})")
    pre = (slice(None),) * d
    a = getitem(x, pre + (slice(0, n // 2),))
    b = getitem(x, pre + (slice(n // 2, n),))
    return a * ew.sigmoid(b)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """PReLU: x for x > 0, a·x otherwise, with ``weight`` a of shape (1,) (one slope) or (C,) for
    the C channels of dim 1 (input (N, C, *)); input with < 2 dims has one channel."""
    x = _tensor(input, "prelu")
    w = _tensor(weight, "prelu")
    C = x.shape[1] if x.ndim >= 2 else 1
    if w.numel() not in (1, C) or w.ndim > 1:
        raise RuntimeError(f"prelu: weight must have 1 element or one per channel ({C}, dim 1 of input "
                           f"{tuple(x.shape)}), got shape {tuple(w.shape)}")
    if w.numel() > 1 and x.ndim >= 2:
        w = sh.reshape(w, (C,) + (1,) * (x.ndim - 2))
    elif w.ndim == 1 and x.ndim == 0:
        w = sh.reshape(w, ())
    return ew.where(x > 0, x, w * x)


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          inplace: bool = False) -> Tensor:
    """Randomized leaky ReLU: x (x >= 0), r·x otherwise; in training r ~ U(lower, upper) drawn per
    element, in evaluation r = (lower + upper)/2."""
    x = _tensor(input, "rrelu")
    if lower > upper:
        raise ValueError(f"rrelu: lower ({lower}) must not exceed upper ({upper})")
    if inplace:
        return in_place(x, lambda t: rrelu(t, lower, upper, training), "rrelu")
    if not training:
        return act.leaky_relu(x, (lower + upper) / 2)
    draw = default_generator().uniform(lower, upper, x.shape).astype(x.dtype)  # on the host, as dropout's masks
    r = constant_like(x, lambda m: m.from_host(draw), "rrelu")
    return ew.where(x >= 0, x, r * x)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """CELU: max(0, x) + min(0, α(e^(x/α) - 1)) = α·elu(x/α)."""
    if alpha == 0:
        raise RuntimeError("celu: ZeroDivisionError, alpha must not be 0")
    if inplace:
        return in_place(_tensor(input, "celu"), lambda t: celu(t, alpha), "celu")
    return act.elu(_tensor(input, "celu") / alpha, 1.0) * alpha


def softmin(input: Tensor, dim: Any = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    """softmax(-x) along ``dim``: e^(-x_k) / Σ_m e^(-x_m)."""
    x = _tensor(input, "softmin")
    if dim is None:
        warnings.warn("softmin: implicit dimension choice is deprecated; pass dim", UserWarning,
                      stacklevel=_stacklevel)
    return reduction.softmax(-x, dim, dtype)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """x where x > threshold, else ``value``."""
    x = _tensor(input, "threshold")
    if inplace:
        return in_place(x, lambda t: ew.where(t > threshold, t, value), "threshold")
    return ew.where(x > threshold, x, value)


_threshold = threshold  # for threshold_, whose argument has the function's name


def tanhshrink(input: Tensor) -> Tensor:
    """x - tanh x."""
    x = _tensor(input, "tanhshrink")
    return x - ew.tanh(x)


def _check_lambd(lambd: float, name: str) -> None:
    if lambd < 0:
        raise RuntimeError(f"{name}: lambda must be greater or equal to 0, but found to be {lambd}")


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x - λ for x > λ, x + λ for x < -λ, 0 in between."""
    x = _tensor(input, "softshrink")
    _check_lambd(lambd, "softshrink")
    return ew.where(x > lambd, x - lambd, ew.where(x < -lambd, x + lambd, 0.0))


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x where |x| > λ, else 0."""
    x = _tensor(input, "hardshrink")
    _check_lambd(lambd, "hardshrink")
    return ew.where((x > lambd) | (x < -lambd), x, 0.0)


def gumbel_softmax(logits: Tensor, tau: float = 1.0, hard: bool = False, eps: float = 1e-10, dim: int = -1) -> Tensor:
    """A differentiable sample from the categorical distribution softmax(logits) along ``dim``:

        y = softmax((logits + g) / τ),   g_i = -log(e_i),  e_i ~ Exp(1)  (Gumbel noise)

    ``hard``: the one-hot vector of argmax y in the forward pass, with y's gradient (the
    straight-through estimator one_hot - stop_grad(y) + y).  ``eps`` is unused (PyTorch's too)."""
    x = _tensor(logits, "gumbel_softmax")
    if x._array.dtype.kind != "f":
        raise TypeError(f"gumbel_softmax: logits must be floating point, got {x.dtype}")
    e = default_generator().exponential(1.0, x.shape)  # drawn on the host
    g = constant_like(x, lambda m: (-m.log(m.from_host(e))).astype(x.dtype), "gumbel_softmax")
    y = reduction.softmax((x + g) / tau, dim)
    if not hard:
        return y
    d = dim % x.ndim if x.ndim else 0
    along_d = (-1,) + (1,) * (x.ndim - 1 - d)
    classes = constant_like(x, lambda m: m.arange(x.shape[d]).reshape(along_d), "gumbel_softmax")
    hot = (kernel("argmax", y, axis=d, keepdims=True) == classes).to(x.dtype)
    return (hot - y.detach()) + y


# ---------------------------------------------------------------- in-place forms (PyTorch's ``f_``)
def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """In-place ELU."""
    return in_place(input, lambda x: act.elu(x, alpha), "elu_")


def selu_(input: Tensor) -> Tensor:
    """In-place SELU."""
    return in_place(input, selu, "selu_")


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """In-place CELU."""
    return in_place(input, lambda x: celu(x, alpha), "celu_")


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """In-place leaky ReLU."""
    return in_place(input, lambda x: act.leaky_relu(x, negative_slope), "leaky_relu_")


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """In-place hardtanh."""
    return in_place(input, lambda x: hardtanh(x, min_val, max_val), "hardtanh_")


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    """In-place threshold."""
    return in_place(input, lambda x: _threshold(x, threshold, value), "threshold_")


def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False) -> Tensor:
    """In-place randomized leaky ReLU."""
    return in_place(input, lambda x: rrelu(x, lower, upper, training), "rrelu_")
