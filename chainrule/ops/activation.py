"""Activation primitives that the elementwise set lacks: each formula with its vjp and jvp side by side.

Notation as in ``elementwise``: x the input, y the output, g = dL/dy, dx the
input tangent.  Every rule keeps the input's dtype (float32 stays float32).  At the kinks
the derivative takes PyTorch's value (each class says which).
"""

from __future__ import annotations

import math
from typing import Any

from chainrule.autograd.primitive import apply1
from chainrule.autograd.tensor import Tensor
from chainrule.backend import ArrayMath
from chainrule.backend.activation_math import GELU_C, GELU_K, INV_SQRT2, INV_SQRT_2PI
from chainrule.ops._lift import floating
from chainrule.ops.elementwise import _Diagonal, _Flat, _OfInput

erf_array = ArrayMath.erf  # erf on arrays: the back end's (backend/special.py, Cody 1969)
TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


class Erf(_OfInput):
    """y = erf x;  dy/dx = 2/√π e^(-x²)."""

    name = "erf"

    def d(self, m, x, y):
        return m.exp(-(x * x)) * TWO_OVER_SQRT_PI


ERF = Erf()


def _times(x: Any, c: float) -> Any:
    """x·c, skipping the multiplication by 1 (softplus' and swish's βx)."""
    return x * c if c != 1.0 else x


# ---------------------------------------------------------------- piecewise-linear families
class LeakyRelu(_Diagonal):
    """y = x for x > 0, s·x otherwise;  dy/dx = 1 for x > 0, s for x <= 0 (s at 0, as PyTorch).

    On arrays both directions are one table entry each (``leaky_relu``, ``leaky_relu_backward``:
    one pass, ``backend/mask_math.py``)."""

    __slots__ = ("slope",)
    name = "leaky_relu"
    fresh_grads = True  # the backward entry's result is a new array

    def __init__(self, slope: float) -> None:
        self.slope = float(slope)

    def forward(self, m, x):
        return m.leaky_relu(x, self.slope)

    def push(self, m, x, y, t):
        if m.is_tensor:  # recorded (create_graph): differentiable in t
            return m.where(x > 0, t, t * self.slope)
        return m.leaky_relu_backward(t, x, self.slope)


class ClampedAffine(_Diagonal):
    """y = min(max(a·x + b, lo), hi);  dy/dx = a where lo < a·x + b < hi, else 0 (0 at both corners).

    hardtanh = (1, 0, min_val, max_val), relu6 = (1, 0, 0, 6), PyTorch's hardsigmoid =
    (1/6, 1/2, 0, 1), the notes' piecewise-linear unit = (1, 1/2, 0, 1).
    """

    __slots__ = ("a", "b", "lo", "hi")
    name = "clamped_affine"

    def __init__(self, a: float, b: float, lo: float, hi: float) -> None:
        self.a, self.b, self.lo, self.hi = float(a), float(b), float(lo), float(hi)

    def _z(self, x):
        z = x * self.a if self.a != 1.0 else x
        return z + self.b if self.b != 0.0 else z

    def forward(self, m, x):
        return m.astype(m.clip(self._z(x), self.lo, self.hi), x.dtype)

    def push(self, m, x, y, t):
        z = self._z(x)
        inside = (z > self.lo) * (z < self.hi)
        return m.where(inside, t * self.a if self.a != 1.0 else t, m.zeros_like(t))


class Step(_Flat):
    """Unit step (Heaviside): y = 0 for x < 0, ``at_zero`` (0.5 in the notes) at 0, 1 for x > 0;
    dy/dx = 0 everywhere (also at 0, where it does not exist)."""

    __slots__ = ("at_zero",)
    name = "step"

    def __init__(self, at_zero: float = 0.5) -> None:
        self.at_zero = float(at_zero)

    def forward(self, m, x):
        return m.astype(m.heaviside(x, self.at_zero), x.dtype)


# ---------------------------------------------------------------- smooth ones
class Elu(_Diagonal):
    """y = x for x > 0, α(e^x - 1) for x <= 0;  dy/dx = 1 for x > 0, α e^x = y + α for x <= 0
    (α at 0, as PyTorch).  e^x is only taken of min(x, 0): no overflow for large x.  On arrays
    both directions are one table entry each (``elu``, ``elu_backward``: one pass)."""

    __slots__ = ("alpha",)
    name = "elu"
    saves_output = True
    fresh_grads = True  # the backward entry's result is a new array

    def __init__(self, alpha: float) -> None:
        self.alpha = float(alpha)

    def forward(self, m, x):
        return m.elu(x, self.alpha)

    def push(self, m, x, y, t):
        if m.is_tensor:  # recorded (create_graph): differentiable in t and y
            return m.where(x > 0, t, t * (y + self.alpha))
        return m.elu_backward(t, x, y, self.alpha)


class Softplus(_Diagonal):
    """y = (1/β) ln(1 + e^(βx)), and y = x where βx > threshold (PyTorch's linear region);
    dy/dx = σ(βx), exactly 1 in the linear region.

    Computed as max(z, 0) + log1p(e^(-|z|)) with z = βx: no overflow for |x| = 1000.
    """

    __slots__ = ("beta", "threshold")
    name = "softplus"

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        self.beta = float(beta)
        self.threshold = float(threshold)

    def forward(self, m, x):
        z = _times(x, self.beta)
        sp = m.maximum(z, 0) + m.log1p(m.exp(-m.abs(z)))
        if self.beta != 1.0:
            sp = sp / self.beta
        return m.astype(m.where(z > self.threshold, x, sp), x.dtype)

    def push(self, m, x, y, t):
        z = _times(x, self.beta)
        return m.where(z > self.threshold, t, t * m.sigmoid(z))


class Swish(_OfInput):
    """y = x σ(βx) (β = 1: SiLU);  dy/dx = s + βx s (1 - s) with s = σ(βx)."""

    __slots__ = ("beta",)
    name = "swish"

    def __init__(self, beta: float = 1.0) -> None:
        self.beta = float(beta)

    def forward(self, m, x):
        return x * m.sigmoid(_times(x, self.beta))

    def d(self, m, x, y):
        z = _times(x, self.beta)
        s = m.sigmoid(z)
        return s + z * (s - s * s)


class Gelu(_OfInput):
    """GELU.  Exact: y = x Φ(x), Φ(x) = (1 + erf(x/√2))/2;  dy/dx = Φ(x) + x φ(x), φ(x) = e^(-x²/2)/√(2π).

    ``approximate='tanh'``: y = x/2 (1 + tanh u), u = √(2/π)(x + 0.044715 x³);
    dy/dx = (1 + t)/2 + x/2 (1 - t²) √(2/π)(1 + 3·0.044715 x²), t = tanh u.

    On arrays the table's fused entries ``gelu`` / ``gelu_backward`` compute both in one pass
    (``backend/activation_math.py``); a recorded backward (create_graph) composes the
    derivative from differentiable primitives (Erf, exp, tanh) instead.
    """

    __slots__ = ("approximate",)
    name = "gelu"

    def __init__(self, approximate: str = "none") -> None:
        self.approximate = approximate

    def forward(self, m, x):
        return m.gelu(x, self.approximate)

    def d(self, m, x, y=None):
        """dy/dx on Tensors (TensorMath), so that it can be differentiated again."""
        if self.approximate == "tanh":
            x2 = x * x
            t = m.tanh((x + x2 * x * GELU_C) * GELU_K)
            return (t + 1) * 0.5 + (x * 0.5) * (1 - t * t) * ((x2 * (3 * GELU_C) + 1) * GELU_K)
        return (m.erf(x * INV_SQRT2) + 1) * 0.5 + x * m.exp(x * x * -0.5) * INV_SQRT_2PI

    def vjp(self, m, need, g, y, x):
        return (g * self.d(m, x) if m.is_tensor else m.gelu_backward(g, x, self.approximate),)

    def jvp(self, m, dxs, y, x):
        return dxs[0] * self.d(m, x) if m.is_tensor else m.gelu_backward(dxs[0], x, self.approximate)


GELU, GELU_TANH, SILU = Gelu("none"), Gelu("tanh"), Swish(1.0)


# ---------------------------------------------------------------- functions on Tensors
def erf(input: Tensor) -> Tensor:
    """The error function 2/√π ∫₀ˣ e^(-t²) dt, elementwise (``torch.erf``)."""
    return apply1(ERF, floating(input, "erf"))


def leaky_relu(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    return apply1(LeakyRelu(negative_slope), floating(input, "leaky_relu"))


def elu(input: Tensor, alpha: float = 1.0) -> Tensor:
    return apply1(Elu(alpha), floating(input, "elu"))


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    return apply1(Softplus(beta, threshold), floating(input, "softplus"))


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return apply1(GELU_TANH if approximate == "tanh" else GELU, floating(input, "gelu"))


def swish(input: Tensor, beta: float = 1.0) -> Tensor:
    return apply1(SILU if beta == 1.0 else Swish(beta), floating(input, "swish"))


def silu(input: Tensor) -> Tensor:
    return apply1(SILU, floating(input, "silu"))


def clamped_affine(input: Tensor, a: float, b: float, lo: float, hi: float, name: str) -> Tensor:
    return apply1(ClampedAffine(a, b, lo, hi), floating(input, name))


def step(input: Tensor, at_zero: float = 0.5) -> Tensor:
    return apply1(Step(at_zero), floating(input, "step"))
