"""Activation functions (PyTorch's ``torch.nn.functional`` names and signatures), plus the notes' units.

All work in float32 and float64 and keep the dtype in their gradients.  The
primitives live in ``chainrule.ops.elementwise`` (relu, sigmoid, tanh, sign),
``chainrule.ops.reduction`` (softmax, log_softmax) and ``chainrule.ops.activation``
(the rest); the remaining functions are compositions of those.

Derivatives at the points where the function is not differentiable (the
subgradient a backward pass uses; PyTorch's choice wherever PyTorch has the function):

================  =============================================  ==========================
function          formula                                        derivative at the kink(s)
================  =============================================  ==========================
relu              max(0, x)                                      0 at x = 0
leaky_relu        x (x > 0), s·x (x <= 0)                        s at x = 0
elu               x (x > 0), α(e^x - 1) (x <= 0)                 α at x = 0
relu6             min(max(0, x), 6)                              0 at 0 and at 6
hardtanh          min(max(lo, x), hi)                            0 at lo and at hi
hardsigmoid       relu6(x + 3)/6                                 0 at ±3
piecewise_linear  notes: 0 (z <= -½), z + ½, 1 (z >= ½)          0 at ±½
step              notes: 0 (z < 0), ½ (z = 0), 1 (z > 0)         0 everywhere
sign              -1, 0, 1                                       0 everywhere
maxout            max of k pieces                                ties share the gradient equally
================  =============================================  ==========================
"""

from __future__ import annotations

import warnings
from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.ops import activation as act
from chainrule.ops import elementwise as ew
from chainrule.ops import reduction, shape
from chainrule.ops.inplace import in_place

__all__ = [
    "elu",
    "eswish",
    "gelu",
    "hard_sigmoid_notes",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "heaviside",
    "identity",
    "leaky_relu",
    "log_softmax",
    "logsigmoid",
    "maxout",
    "mish",
    "piecewise_linear",
    "relu",
    "relu6",
    "relu_",
    "selu",
    "sigmoid",
    "sign",
    "silu",
    "softmax",
    "softplus",
    "softsign",
    "step",
    "swish",
    "tanh",
]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


# ---------------------------------------------------------------- rectifiers
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """ReLU: max(0, x); derivative 0 at x = 0 (as PyTorch).

    ``inplace=True`` writes into ``input`` and returns it (``relu_``), as PyTorch does: other
    references to ``input`` (a forward hook's saved output, a view) see the rectified values.
    """
    if inplace:
        return relu_(input)
    return ew.relu(input)


def relu_(input: Tensor) -> Tensor:
    """ReLU writing into ``input`` (PyTorch's in-place form); returns ``input``."""
    if not isinstance(input, Tensor):
        return ew.relu(input)
    return in_place(input, ew.relu, "relu_")


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x for x > 0, negative_slope·x otherwise (the notes use 0.1: max(0.1x, x)).
    Derivative at 0: negative_slope (as PyTorch).  ``inplace``: see :func:`in_place`."""
    if inplace:
        return in_place(input, lambda t: act.leaky_relu(t, negative_slope), "leaky_relu")
    return act.leaky_relu(input, negative_slope)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """ELU (the notes' table): x for x > 0, α(e^x - 1) for x <= 0.  Derivative at 0: α.
    Stable for |x| = 1000 (tends to -α)."""
    if inplace:
        return in_place(input, lambda t: act.elu(t, alpha), "elu")
    return act.elu(input, alpha)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """SELU: scale · elu(x, α) with PyTorch's constants α ≈ 1.6733, scale ≈ 1.0507."""
    if inplace:
        return in_place(input, selu, "selu")
    return act.elu(input, _SELU_ALPHA) * _SELU_SCALE


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(0, x), 6); derivative 0 at 0 and at 6 (as PyTorch)."""
    if inplace:
        return in_place(input, relu6, "relu6")
    return act.clamped_affine(input, 1.0, 0.0, 0.0, 6.0, "relu6")


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """min(max(min_val, x), max_val); derivative 1 strictly inside, 0 at and beyond the corners."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val ({max_val})")
    if inplace:
        return in_place(input, lambda t: act.clamped_affine(t, 1.0, 0.0, min_val, max_val, "hardtanh"), "hardtanh")
    return act.clamped_affine(input, 1.0, 0.0, min_val, max_val, "hardtanh")


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """PyTorch's hard sigmoid: relu6(x + 3)/6 = 0 (x <= -3), x/6 + 1/2, 1 (x >= 3); derivative 0 at ±3."""
    if inplace:
        return in_place(input, hardsigmoid, "hardsigmoid")
    return act.clamped_affine(input, 1.0 / 6.0, 0.5, 0.0, 1.0, "hardsigmoid")


def piecewise_linear(input: Tensor) -> Tensor:
    """The notes' piece-wise linear unit (their activation table, "support vector machine"):

        φ(z) = 1 for z >= ½,  z + ½ for -½ < z < ½,  0 for z <= -½

    i.e. clamp(z + ½, 0, 1): a hard sigmoid of slope 1 (PyTorch's ``hardsigmoid`` has slope 1/6).
    Derivative 1 on the open interval, 0 at ±½ and outside.
    """
    return act.clamped_affine(input, 1.0, 0.5, 0.0, 1.0, "piecewise_linear")


hard_sigmoid_notes = piecewise_linear


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """x · relu6(x + 3)/6 (PyTorch's hardswish, here a composition: derivative at ±3 from the product rule)."""
    if inplace:
        return in_place(input, hardswish, "hardswish")
    return input * hardsigmoid(input)


# ---------------------------------------------------------------- smooth units
def sigmoid(input: Tensor) -> Tensor:
    """The logistic function σ(x) = 1/(1 + e^-x) (notes' table), without overflow."""
    return ew.sigmoid(input)


def tanh(input: Tensor) -> Tensor:
    """tanh x = (e^x - e^-x)/(e^x + e^-x) (notes' table)."""
    return ew.tanh(input)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """(1/β) ln(1 + e^(βx)) (the notes' "rectifier, softplus" with β = 1), x where βx > threshold.
    Derivative σ(βx).  Stable for |x| = 1000."""
    return act.softplus(input, beta, threshold)


def logsigmoid(input: Tensor) -> Tensor:
    """log σ(x) = -softplus(-x), stable for |x| = 1000."""
    return -act.softplus(-input, 1.0, float("inf"))


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """GELU: x Φ(x) with the exact normal CDF (erf), or ``approximate='tanh'``:
    x/2 (1 + tanh(√(2/π)(x + 0.044715 x³)))."""
    return act.gelu(input, approximate)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """SiLU (swish with β = 1): x σ(x)."""
    if inplace:
        return in_place(input, act.silu, "silu")
    return act.silu(input)


def swish(input: Tensor, beta: float = 1.0) -> Tensor:
    """Swish: x σ(βx) (β = 1 is SiLU).  β is a constant here; for a learned β compose
    ``x * sigmoid(beta * x)`` with a Parameter."""
    return act.swish(input, beta)


def eswish(input: Tensor, beta: float = 1.25) -> Tensor:
    """E-swish (named in the notes' activation slide; formula from Alcaide 2018): β · x · σ(x).
    The notes' OCR has only the name; this is the standard form.  β in [1, 2]; 1.25 is a common choice."""
    return act.silu(input) * beta


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """Mish: x · tanh(softplus(x))."""
    if inplace:
        return in_place(input, mish, "mish")
    return input * ew.tanh(act.softplus(input))


def softsign(input: Tensor) -> Tensor:
    """x / (1 + |x|)."""
    return input / (ew.abs(input) + 1)


def identity(input: Tensor) -> Tensor:
    """The linear (identity) unit of the notes' table: φ(z) = z (returned as is)."""
    return input


# ---------------------------------------------------------------- threshold units (zero gradient)
def step(input: Tensor, value_at_zero: float = 0.5) -> Tensor:
    """The notes' unit step (Heaviside): 0 for z < 0, ½ at z = 0, 1 for z > 0.
    Its derivative is taken as 0 everywhere (no gradient flows through it)."""
    return act.step(input, value_at_zero)


def heaviside(input: Tensor, values: Any = 0.5) -> Tensor:
    """``torch.heaviside``-like: 0 for x < 0, ``values`` at 0, 1 for x > 0 (a number here)."""
    if isinstance(values, Tensor):
        if values.numel() != 1:
            raise ValueError(f"heaviside: only a single value at zero is supported, got shape {tuple(values.shape)}")
        values = float(values._array.reshape(-1)[0])
    return act.step(input, float(values))


def sign(input: Tensor) -> Tensor:
    """The notes' signum: -1 (z < 0), 0 (z = 0), 1 (z > 0); derivative taken as 0 everywhere."""
    return ew.sign(input)


# ---------------------------------------------------------------- over a dimension
def softmax(input: Tensor, dim: Any = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    """e^(x_k) / Σ_m e^(x_m) along ``dim`` (stable).  ``dim=None`` uses PyTorch's legacy
    implicit choice (0 for 0-, 1- and 3-D input, else 1) with a warning; pass ``dim``."""
    if dim is None:
        warnings.warn("softmax: implicit dimension choice is deprecated; pass dim", UserWarning,
                      stacklevel=_stacklevel)
    return reduction.softmax(input, dim, dtype)


def log_softmax(input: Tensor, dim: Any = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    """x_k - log Σ_m e^(x_m) along ``dim`` (stable); ``dim=None`` as in :func:`softmax`."""
    if dim is None:
        warnings.warn("log_softmax: implicit dimension choice is deprecated; pass dim", UserWarning,
                      stacklevel=_stacklevel)
    return reduction.log_softmax(input, dim, dtype)


def maxout(input: Tensor, pool_size: int, dim: int = -1) -> Tensor:
    """Maxout over groups of ``pool_size`` consecutive entries along ``dim``:
    (..., C, ...) -> (..., C / pool_size, ...), out_j = max_{i < k} x_{j k + i}.

    Applied to a linear layer with k·m outputs this is the notes' maxout unit
    max(w_1ᵀx + b_1, ..., w_kᵀx + b_k) (see ``nn.MaxoutLinear``).  At ties the
    gradient is shared equally among the maximal pieces.
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"maxout: expected a Tensor, got {type(input).__name__}")
    k = int(pool_size)
    if k < 1:
        raise ValueError(f"maxout: pool_size must be a positive int, got {pool_size}")
    nd = input.ndim
    if not -nd <= dim < nd:
        raise IndexError(f"maxout: dim {dim} out of range for a {nd}-D input of shape {tuple(input.shape)}")
    d = dim % nd
    c = input.shape[d]
    if c % k:
        raise ValueError(
            f"maxout: size {c} of dim {dim} (input shape {tuple(input.shape)}) is not divisible by pool_size {k}"
        )
    grouped = shape.reshape(input, tuple(input.shape[:d]) + (c // k, k) + tuple(input.shape[d + 1:]))
    return reduction.amax(grouped, d + 1)
