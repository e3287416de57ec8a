"""More elementwise operations with PyTorch's names: rounding, hyperbolic and inverse
trigonometric functions, log2/log10/exp2/expm1, erfc/erfinv, fmod/remainder, atan2,
comparisons and tests (eq, isnan, isclose...), and compositions (lerp, hypot, logit, xlogy,
logaddexp, addcmul, addcdiv, nan_to_num), which get their gradients from the ops they compose.
Comparisons and tests return bool tensors that never require grad, as in PyTorch.
"""

from __future__ import annotations

import builtins
import math
from typing import Any

import numpy as np

from chainrule.autograd.primitive import apply1, apply2, kernel, table_of
from chainrule.autograd.tensor import Tensor
from chainrule.ops import activation
from chainrule.ops import elementwise as ew
from chainrule.ops._lift import as_tensor_arg, floating, lift
from chainrule.ops.elementwise import _Elementwise, _Flat, _OfInput, _OfOutput, _Unary, _unary
from chainrule.ops.registry import register

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_SQRT_PI_OVER_2 = math.sqrt(math.pi) / 2.0


# ---------------------------------------------------------------- rounding (gradient 0)
class Floor(_Flat):
    """y = ⌊x⌋."""

    name = "floor"


class Ceil(_Flat):
    """y = ⌈x⌉."""

    name = "ceil"


class Trunc(_Flat):
    """y = x rounded towards 0."""

    name = "trunc"


class Round(_Flat):
    """y = x rounded to ``decimals`` places, halves to even (as PyTorch and NumPy)."""

    __slots__ = ("decimals",)
    name = "round"

    def __init__(self, decimals: int = 0) -> None:
        self.decimals = decimals

    def forward(self, m, x):
        return m.round(x, self.decimals)


# ---------------------------------------------------------------- hyperbolic, inverse trigonometric
class Sinh(_OfInput):
    """y = sinh x;  dy/dx = cosh x = (eˣ + e⁻ˣ)/2."""

    name = "sinh"

    def d(self, m, x, y):
        return (m.exp(x) + m.exp(-x)) * 0.5


class Cosh(_OfInput):
    """y = cosh x;  dy/dx = sinh x = (eˣ - e⁻ˣ)/2."""

    name = "cosh"

    def d(self, m, x, y):
        return (m.exp(x) - m.exp(-x)) * 0.5


class Tan(_OfOutput):
    """y = tan x;  dy/dx = 1 + y²."""

    name = "tan"

    def d(self, m, x, y):
        return y * y + 1


class Asin(_OfInput):
    """y = arcsin x;  dy/dx = 1/√(1 - x²)."""

    name = "asin"

    def d(self, m, x, y):
        return 1 / m.sqrt(1 - x * x)


class Acos(_OfInput):
    """y = arccos x;  dy/dx = -1/√(1 - x²)."""

    name = "acos"

    def d(self, m, x, y):
        return -1 / m.sqrt(1 - x * x)


class Atan(_OfInput):
    """y = arctan x;  dy/dx = 1/(1 + x²)."""

    name = "atan"

    def d(self, m, x, y):
        return 1 / (x * x + 1)


class Asinh(_OfInput):
    """y = arsinh x;  dy/dx = 1/√(x² + 1)."""

    name = "asinh"

    def d(self, m, x, y):
        return 1 / m.sqrt(x * x + 1)


class Acosh(_OfInput):
    """y = arcosh x (x >= 1);  dy/dx = 1/√(x² - 1)."""

    name = "acosh"

    def d(self, m, x, y):
        return 1 / m.sqrt(x * x - 1)


class Atanh(_OfInput):
    """y = artanh x (|x| < 1);  dy/dx = 1/(1 - x²)."""

    name = "atanh"

    def d(self, m, x, y):
        return 1 / (1 - x * x)


# ---------------------------------------------------------------- logarithms and exponentials
class Log2(_OfInput):
    """y = log₂ x;  dy/dx = 1/(x ln 2)."""

    name = "log2"

    def d(self, m, x, y):
        return 1 / (x * _LN2)


class Log10(_OfInput):
    """y = log₁₀ x;  dy/dx = 1/(x ln 10)."""

    name = "log10"

    def d(self, m, x, y):
        return 1 / (x * _LN10)


class Exp2(_OfOutput):
    """y = 2ˣ;  dy/dx = y ln 2."""

    name = "exp2"

    def d(self, m, x, y):
        return y * _LN2


class Expm1(_OfOutput):
    """y = eˣ - 1, accurate for small x;  dy/dx = eˣ = y + 1."""

    name = "expm1"

    def d(self, m, x, y):
        return y + 1


class Erfc(_OfInput):
    """y = erfc x = 1 - erf x;  dy/dx = -2/√π e^(-x²)."""

    name = "erfc"

    def d(self, m, x, y):
        return m.exp(-(x * x)) * -activation.TWO_OVER_SQRT_PI


class Erfinv(_OfOutput):
    """y = erf⁻¹ x on (-1, 1);  dy/dx = √π/2 e^(y²)."""

    name = "erfinv"

    def d(self, m, x, y):
        return m.exp(y * y) * _SQRT_PI_OVER_2


# ---------------------------------------------------------------- binary
class Atan2(_Elementwise):
    """y = atan2(a, b), the angle of the point (b, a);  dy/da = b/(a² + b²),  dy/db = -a/(a² + b²),
    both 0 at the origin (PyTorch's choice: no NaN from 0/0 where the angle is undefined)."""

    name = "atan2"
    saves_output = False

    @staticmethod
    def _r(m, a, b):
        r = a * a + b * b
        return m.where(r == 0, m.ones_like(r), r)  # (at the origin the numerators are 0 too)

    def vjp(self, m, need, g, y, a, b):
        r = self._r(m, a, b)
        return (g * b / r if need[0] else None), (-g * a / r if need[1] else None)

    def jvp(self, m, dxs, y, a, b):
        return (dxs[0] * b - dxs[1] * a) / self._r(m, a, b)


class Fmod(_Elementwise):
    """y = a - trunc(a/b)·b (the sign of a, C's fmod);  dy/da = 1,  dy/db = -trunc(a/b)."""

    name = "fmod"
    saves_output = False
    _q = "trunc"  # the table entry that rounds the quotient

    def _quotient(self, m, a, b, like):
        # the integer quotient is piecewise constant in a and b: a constant, not a recorded value
        ra = m.raw(a)
        with np.errstate(all="ignore"):
            return m.const(getattr(table_of((ra,)), self._q)(ra / m.raw(b)), like)

    def vjp(self, m, need, g, y, a, b):
        gb = -g * self._quotient(m, a, b, g) if need[1] else None
        return (g if need[0] else None), gb

    def jvp(self, m, dxs, y, a, b):
        return dxs[0] - dxs[1] * self._quotient(m, a, b, y)


class Remainder(Fmod):
    """y = a - floor(a/b)·b (the sign of b, Python's %);  dy/da = 1,  dy/db = -floor(a/b)."""

    name = "remainder"
    _q = "floor"


# ---------------------------------------------------------------- added by HACKING.md's recipe
class I0(_OfInput):
    """y = I₀(x), the modified Bessel function of the first kind of order 0;  dy/dx = I₁(x)."""

    name = "i0"

    def d(self, m, x, y):
        return m.i1(x)


i0 = register(I0(), "i0")


class Ldexp(_Elementwise):
    """y = a · 2^b;  dy/da = 2^b,  dy/db = y ln 2."""

    name = "ldexp"
    saves_inputs = (1,)

    def forward(self, m, a, b):
        return a * m.exp2(b)  # exact for whole b (a power of two)

    def vjp(self, m, need, g, y, a, b):
        return (g * m.exp2(b) if need[0] else None), (g * y * _LN2 if need[1] else None)

    def jvp(self, m, dxs, y, a, b):
        return dxs[0] * m.exp2(b) + dxs[1] * y * _LN2


ldexp = register(Ldexp(), "ldexp", inputs=2)


class _I1(_OfInput):
    """y = I₁(x) (I₀'s derivative, recorded when I₀'s backward is: create_graph=True);
    dy/dx = I₀(x) - I₁(x)/x, 1/2 at x = 0."""

    name = "i1"

    def d(self, m, x, y):
        zero = x == 0
        return m.where(zero, m.ones_like(x) * 0.5, m.i0(x) - y / m.where(zero, m.ones_like(x), x))


# ---------------------------------------------------------------- torch.special: scaled Bessel, incomplete gamma, zeta
# (the public functions are in chainrule/special.py; the table computes in float64, cast back here)
class I0e(_Unary):
    """y = e^(-|x|) I₀(x);  dy/dx = I₁e(x) - sign(x) y."""

    name = "i0e"
    saves_inputs = (0,)

    def forward(self, m, x):
        return m.astype(m.i0e(x), x.dtype)

    def d(self, m, x, y):
        return m.i1e(x) - m.sign(x) * y


class Logit(_Unary):
    """y = log(p/(1 - p));  dy/dp = 1/(p(1 - p)): ±inf at 0 and 1, NaN outside [0, 1] where y is
    NaN (PyTorch's; the quotient's own rule would give 0 · inf = NaN at the ends and finite
    numbers outside)."""

    name = "logit"
    saves_inputs = (0,)

    def forward(self, m, p):
        return m.log(p / (1 - p))

    def d(self, m, p, y):
        outside = m.where((p < 0) | (p > 1), m.ones_like(p) * math.nan, m.zeros_like(p))  # (a constant)
        return 1 / (p * (1 - p)) + outside


class Erfcx(_Unary):
    """y = e^(x²) erfc(x);  dy/dx = 2x y - 2/√π (finite for large x, where e^(x²) and erfc are not)."""

    name = "erfcx"
    saves_inputs = (0,)

    def forward(self, m, x):
        return m.astype(m.erfcx(x), x.dtype)

    def d(self, m, x, y):
        return x * y * 2.0 - activation.TWO_OVER_SQRT_PI


class I1e(_Unary):
    """y = e^(-|x|) I₁(x);  dy/dx = I₀e(x) - y (sign(x) + 1/x), ½ at x = 0."""

    name = "i1e"
    saves_inputs = (0,)

    def forward(self, m, x):
        return m.astype(m.i1e(x), x.dtype)

    def d(self, m, x, y):
        zero = x == 0
        one = m.ones_like(x)
        return m.where(zero, one * 0.5, m.i0e(x) - y * (m.sign(x) + one / m.where(zero, one, x)))


class Igamma(_Elementwise):
    """y = P(a, x) = γ(a, x)/Γ(a) (``upper``: Q(a, x) = 1 - P(a, x));
    dP/dx = -dQ/dx = x^(a-1) e^(-x) / Γ(a).  No derivative in a, as PyTorch: the vjp raises when
    a needs a gradient, ``special.gammainc`` when a carries a tangent; the jvp reads dx only."""

    __slots__ = ("name", "upper")
    saves_output = False

    def __init__(self, upper: bool) -> None:
        self.upper = upper
        self.name = "igammac" if upper else "igamma"

    def forward(self, m, a, x):
        return m.astype(m.gammaincc(a, x) if self.upper else m.gammainc(a, x), a.dtype)

    def _dx(self, m, a, x):
        d = m.exp((a - 1) * m.log(x) - x - m.lgamma(a))
        return -d if self.upper else d

    def vjp(self, m, need, g, y, a, x):
        if need[0]:
            raise NotImplementedError(f"the derivative for '{self.name}: input' is not implemented.")
        return None, (g * self._dx(m, a, x) if need[1] else None)

    def jvp(self, m, dxs, y, a, x):
        return dxs[1] * self._dx(m, a, x)


class Zeta(_Elementwise):
    """y = ζ(s, q) = Σ_{k>=0} (q + k)^(-s);  dy/dq = -s ζ(s + 1, q).  No derivative in s, as
    PyTorch (the vjp raises when s needs a gradient, ``special.zeta`` when s carries a tangent)."""

    name = "zeta"
    saves_output = False

    def forward(self, m, s, q):
        return m.astype(m.zeta(s, q), s.dtype)

    def _dq(self, m, s, q):
        return -s * m.zeta(s + 1, q)

    def vjp(self, m, need, g, y, s, q):
        if need[0]:
            raise NotImplementedError("the derivative for 'zeta' is not implemented.")
        return None, (g * self._dq(m, s, q) if need[1] else None)

    def jvp(self, m, dxs, y, s, q):
        return dxs[1] * self._dq(m, s, q)


class FrexpMantissa(_Elementwise):
    """y = the mantissa of x = y · 2^e (|y| in [0.5, 1), e = frexp's exponent, given as the second,
    integer input);  dy/dx = 2^(-e), as PyTorch's (the exponent has no derivative)."""

    name = "frexp"
    saves_inputs = (1,)
    saves_output = False

    def forward(self, m, x, e):
        return m.frexp(x)[0]

    def vjp(self, m, need, g, y, x, e):
        return (g * m.exp2(-m.astype(e, g.dtype)) if need[0] else None), None

    def jvp(self, m, dxs, y, x, e):
        return dxs[0] * m.exp2(-m.astype(e, dxs[0].dtype))


class Nextafter(_Elementwise):
    """y = the next floating-point value after a towards b;  dy/da = 1, dy/db = 0 (PyTorch's)."""

    name = "nextafter"
    saves_inputs = ()
    saves_output = False

    def vjp(self, m, need, g, y, a, b):
        return (g if need[0] else None), None

    def jvp(self, m, dxs, y, a, b):
        return dxs[0]


I0E, I1E, ZETA, ERFCX, LOGIT = I0e(), I1e(), Zeta(), Erfcx(), Logit()
IGAMMA, IGAMMAC = Igamma(False), Igamma(True)
FREXP_MANTISSA, NEXTAFTER = FrexpMantissa(), Nextafter()


FLOOR, CEIL, TRUNC = Floor(), Ceil(), Trunc()
ATAN2, FMOD, REMAINDER = Atan2(), Fmod(), Remainder()


# ---------------------------------------------------------------- public functions (integers become floats)
sinh = _unary(Sinh(), "sinh")
cosh = _unary(Cosh(), "cosh")
tan = _unary(Tan(), "tan")
asin = arcsin = _unary(Asin(), "asin")
acos = arccos = _unary(Acos(), "acos")
atan = arctan = _unary(Atan(), "atan")
asinh = arcsinh = _unary(Asinh(), "asinh")
acosh = arccosh = _unary(Acosh(), "acosh")
atanh = arctanh = _unary(Atanh(), "atanh")
log2 = _unary(Log2(), "log2")
log10 = _unary(Log10(), "log10")
exp2 = _unary(Exp2(), "exp2")
expm1 = _unary(Expm1(), "expm1")
erfc = _unary(Erfc(), "erfc")
erfinv = _unary(Erfinv(), "erfinv")


def _rounding(op: Any, name: str) -> Any:
    def fn(input: Tensor) -> Tensor:
        x = as_tensor_arg(input, name)
        if x._array.dtype.kind in "biu":
            return kernel("copy", x)  # integers are already whole (PyTorch returns a copy)
        return apply1(op, x)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (type(op).__doc__ or "") + "  Gradient 0 (as PyTorch)."
    return fn


floor = _rounding(FLOOR, "floor")
ceil = _rounding(CEIL, "ceil")
trunc = fix = _rounding(TRUNC, "trunc")


def round(input: Tensor, *, decimals: int = 0) -> Tensor:
    """x rounded to ``decimals`` decimal places, halves to even.  Gradient 0 (as PyTorch)."""
    x = as_tensor_arg(input, "round")
    if x._array.dtype.kind in "biu" and decimals >= 0:
        return kernel("copy", x)
    return apply1(Round(int(decimals)), x)


def frac(input: Tensor) -> Tensor:
    """x - trunc(x), the fractional part with x's sign;  d/dx = 1."""
    x = as_tensor_arg(input, "frac")
    if x._array.dtype.kind in "biu":
        raise RuntimeError(f"frac: expected a floating-point tensor, got dtype {x.dtype}")
    return x - trunc(x)


def sgn(input: Tensor) -> Tensor:
    """sign(x) for real tensors (PyTorch's sgn differs only for complex ones)."""
    return ew.sign(input)


def atan2(input: Tensor, other: Any) -> Tensor:
    """atan2(input, other): the angle in (-π, π] of the point (other, input), elementwise (broadcasts)."""
    return ew._binary(ATAN2, input, other, True)


arctan2 = atan2


def _divisible(name: str, input: Any, other: Any) -> tuple[Tensor, Tensor]:
    """``ew.operands``, refusing an integer division by zero (as PyTorch)."""
    a, b = ew.operands(name, input, other)
    if a._array.dtype.kind in "biu" and (b._array == 0).any():
        raise RuntimeError(f"{name}: ZeroDivisionError (integer division by zero)")
    return a, b


def fmod(input: Tensor, other: Any) -> Tensor:
    """input - trunc(input/other)·other: the remainder with the sign of ``input`` (C's fmod)."""
    return apply2(FMOD, *_divisible("fmod", input, other))


def remainder(input: Any, other: Any) -> Tensor:
    """input - floor(input/other)·other: the remainder with the sign of ``other`` (Python's %)."""
    return apply2(REMAINDER, *_divisible("remainder", input, other))


def div(input: Any, other: Any, *, rounding_mode: str | None = None) -> Tensor:
    """input / other.  ``rounding_mode``: None (true division), 'trunc' (towards 0) or 'floor'.

    Rounded quotients have gradient 0 (as PyTorch); integer inputs with a rounding mode stay integer.
    """
    if rounding_mode is None:
        return ew.div(input, other)
    if rounding_mode not in ("trunc", "floor"):
        raise ValueError(
            f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'"
        )
    a, b = _divisible("div", input, other)
    if a._array.dtype.kind in "biu":
        q = kernel("floor_divide", a, b)
        if rounding_mode == "trunc":  # floor and trunc differ where the exact quotient is negative
            q = ew.where(logical_and(q < 0, q * b != a), q + 1, q)
        return q.to(a.dtype)
    q = ew.div(a, b)
    return apply1(TRUNC if rounding_mode == "trunc" else FLOOR, q)


divide = true_divide = div


def floor_divide(input: Any, other: Any) -> Tensor:
    """input // other rounded down (PyTorch ≥ 1.13 semantics), gradient 0."""
    return div(input, other, rounding_mode="floor")


def float_power(input: Any, exponent: Any) -> Tensor:
    """input ** exponent computed in float64 (the result is float64, as PyTorch)."""
    a = input.to(np.float64) if isinstance(input, Tensor) else input
    b = exponent.to(np.float64) if isinstance(exponent, Tensor) else exponent
    if not isinstance(a, Tensor):
        a = lift(a, b) if isinstance(b, Tensor) else Tensor._from_data(a)
        a = a.to(np.float64)
    return ew.pow(a, b)


def clamp_min(input: Tensor, min: Any) -> Tensor:
    """max(input, min) (clamp with a lower bound only)."""
    return ew.clamp(input, min=min)


def clamp_max(input: Tensor, max: Any) -> Tensor:
    """min(input, max) (clamp with an upper bound only)."""
    return ew.clamp(input, max=max)


# ---------------------------------------------------------------- compositions
def lerp(input: Tensor, end: Any, weight: Any) -> Tensor:
    """input + weight·(end - input), broadcast; differentiable in all three when they are tensors."""
    return input + weight * (end - input)


def hypot(input: Tensor, other: Any) -> Tensor:
    """√(input² + other²), elementwise."""
    return ew.sqrt(input * input + other * other)


def logit(input: Tensor, eps: float | None = None) -> Tensor:
    """log(p/(1 - p)); with ``eps``, p is first clamped to [eps, 1 - eps] (gradient 0 outside)."""
    p = floating(input, "logit")
    if eps is not None:
        p = ew.clamp(p, eps, 1 - eps)
    return apply1(LOGIT, p)


def xlogy(input: Any, other: Any) -> Tensor:
    """x·log(y), defined as 0 where x = 0 (also for y = 0), NaN where y is NaN (as PyTorch)."""
    x = input if isinstance(input, Tensor) else lift(input, other)
    x, y = floating(x, "xlogy"), floating(lift(other, x), "xlogy")
    # 0 replaces the product only where x = 0 and y <= 0: at x = 0, y > 0, d/dx = log y (as PyTorch)
    zero = logical_and(x == 0, y <= 0)
    safe_y = ew.where(zero, lift(1, y), y)  # log never sees y <= 0 there
    return ew.where(zero, lift(0, x), x * ew.log(safe_y))


def logaddexp(input: Tensor, other: Any) -> Tensor:
    """log(eᵃ + eᵇ) = max(a, b) + log1p(e^(-|a - b|)), without overflow."""
    return ew.maximum(input, other) + ew.log1p(ew.exp(-ew.abs(input - other)))


def logaddexp2(input: Tensor, other: Any) -> Tensor:
    """log₂(2ᵃ + 2ᵇ) = logaddexp(a ln 2, b ln 2)/ln 2."""
    return logaddexp(input * _LN2, other * _LN2) / _LN2


def addcmul(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: float = 1) -> Tensor:
    """input + value·tensor1·tensor2 (broadcast)."""
    return input + tensor1 * tensor2 * value if value != 1 else input + tensor1 * tensor2


def addcdiv(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: float = 1) -> Tensor:
    """input + value·tensor1/tensor2 (broadcast)."""
    return input + tensor1 / tensor2 * value if value != 1 else input + tensor1 / tensor2


def nan_to_num(input: Tensor, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None) -> Tensor:
    """NaN → ``nan``, +inf → ``posinf`` (default: the dtype's largest), -inf → ``neginf`` (its lowest).

    Gradient 1 where the input is finite, 0 where it was replaced."""
    x = as_tensor_arg(input, "nan_to_num")
    if x._array.dtype.kind not in "fc":
        return kernel("copy", x)
    replaced = kernel("nan_to_num", x, nan=nan, posinf=posinf, neginf=neginf)  # (None: the dtype's limits)
    return ew.where(isfinite(x), x, replaced)


# ---------------------------------------------------------------- comparisons and tests (bool, no gradient)
def _kernel_op(entry: str, name: str, doc: str = "", integer: bool = False) -> Any:
    """The function ``name``: the table entry ``entry`` through ``kernel`` (no gradient) on its
    operands -- Tensors, or scalars lifted beside the first Tensor.  ``integer``: floating
    operands are refused (the bitwise ops, as PyTorch)."""

    def op(input: Any, *other: Any) -> Tensor:
        if other and not isinstance(input, Tensor):
            if not isinstance(other[0], Tensor):
                raise TypeError(f"{name}(): expected at least one Tensor argument, got "
                                f"{type(input).__name__} and {type(other[0]).__name__}")
            input = lift(input, other[0])
        a = as_tensor_arg(input, name)
        xs = (a, *(lift(o, a) for o in other))
        for x in xs:
            if integer and x.dtype.kind == "f":
                raise RuntimeError(f'{name}: "{name}_cpu" not implemented for a floating dtype ({x.dtype})')
        try:
            return kernel(entry, *xs)
        except ValueError as e:
            shapes = " and ".join(str(x.shape) for x in xs)
            raise RuntimeError(f"{name}: shapes {shapes} do not broadcast ({e})") from None

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc or f"Elementwise ``{name}`` comparison (broadcasts); a bool tensor without gradient."
    return op


eq = _kernel_op("equal", "eq")
ne = not_equal = _kernel_op("not_equal", "ne")
gt = greater = _kernel_op("greater", "gt")
ge = greater_equal = _kernel_op("greater_equal", "ge")
lt = less = _kernel_op("less", "lt")
le = less_equal = _kernel_op("less_equal", "le")
logical_and = _kernel_op("logical_and", "logical_and")
logical_or = _kernel_op("logical_or", "logical_or")
logical_xor = _kernel_op("logical_xor", "logical_xor")
logical_not = _kernel_op("logical_not", "logical_not", "not x, elementwise (nonzero counts as true); bool.")
isnan = _kernel_op("isnan", "isnan", "True where x is NaN; bool, no gradient.")
isinf = _kernel_op("isinf", "isinf", "True where x is +inf or -inf; bool, no gradient.")
isfinite = _kernel_op("isfinite", "isfinite", "True where x is neither NaN nor ±inf; bool, no gradient.")
isposinf = _kernel_op("isposinf", "isposinf", "True where x is +inf; bool, no gradient.")
isneginf = _kernel_op("isneginf", "isneginf", "True where x is -inf; bool, no gradient.")
isreal = _kernel_op("isreal", "isreal", "True where x has no imaginary part (always, for real dtypes).")
signbit = _kernel_op("signbit", "signbit", "True where the sign bit is set (x < 0, also -0.0 and -nan); bool.")
_BITWISE = "Elementwise ``{}`` of integer or bool tensors (no gradient)."
bitwise_and = _kernel_op("bitwise_and", "bitwise_and", _BITWISE.format("and"), integer=True)
bitwise_or = _kernel_op("bitwise_or", "bitwise_or", _BITWISE.format("or"), integer=True)
bitwise_xor = _kernel_op("bitwise_xor", "bitwise_xor", _BITWISE.format("xor"), integer=True)
bitwise_left_shift = _kernel_op("left_shift", "bitwise_left_shift", _BITWISE.format("<<"), integer=True)
bitwise_right_shift = _kernel_op("right_shift", "bitwise_right_shift", _BITWISE.format(">>"), integer=True)
gcd = _kernel_op("gcd", "gcd", _BITWISE.format("greatest common divisor"), integer=True)
lcm = _kernel_op("lcm", "lcm", _BITWISE.format("least common multiple"), integer=True)
bitwise_not = _kernel_op("invert", "bitwise_not", "~x for integer tensors, logical not for bool ones.", integer=True)


def isclose(input: Tensor, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
    """|input - other| <= atol + rtol·|other|, elementwise (broadcasts); bool."""
    if isinstance(input, Tensor) and isinstance(other, Tensor) and input.dtype != other.dtype:
        raise RuntimeError(f"isclose: expected both inputs to have the same dtype, got {input.dtype} and {other.dtype}")
    a = as_tensor_arg(input, "isclose")
    return kernel("isclose", a, lift(other, a), rtol=rtol, atol=atol, equal_nan=equal_nan)


def allclose(input: Tensor, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """True when ``isclose`` holds everywhere (a Python bool, as PyTorch)."""
    return builtins.bool(isclose(input, other, rtol, atol, equal_nan)._array.all())


def equal(input: Tensor, other: Tensor) -> bool:
    """True when both have the same shape and the same elements (a Python bool)."""
    a = as_tensor_arg(input, "equal")
    b = lift(other, a)
    return a.shape == b.shape and builtins.bool(kernel("equal", a, b)._array.all())


def heaviside(input: Tensor, values: Any) -> Tensor:
    """0 where x < 0, ``values`` where x = 0, 1 where x > 0 (no gradient, as PyTorch)."""
    x = as_tensor_arg(input, "heaviside")
    return kernel("heaviside", x, lift(values, x)).to(x.dtype)


# ---------------------------------------------------------------- PyTorch's other names for existing ops
def square(input: Tensor) -> Tensor:
    """x²."""
    return ew.pow(as_tensor_arg(input, "square"), 2)


def rsqrt(input: Tensor) -> Tensor:
    """1/√x."""
    return ew.pow(floating(input, "rsqrt"), -0.5)


def reciprocal(input: Tensor) -> Tensor:
    """1/x (integer inputs give the default float dtype)."""
    return ew.pow(floating(input, "reciprocal"), -1)


def positive(input: Tensor) -> Tensor:
    """input itself (PyTorch's unary +)."""
    return as_tensor_arg(input, "positive")


erf = activation.erf
negative = ew.neg
absolute = ew.abs
multiply = ew.mul
subtract = ew.sub


# ---------------------------------------------------------------- more pointwise
def _nan_ignoring(pick: Any, input: Any, other: Any) -> Tensor:
    a = as_tensor_arg(input, pick.__name__)
    b = lift(other, a)
    return ew.where(isnan(a), b, ew.where(isnan(b), a, pick(a, b)))


def fmax(input: Tensor, other: Any) -> Tensor:
    """max(a, b) elementwise, ignoring NaN (NaN only where both are NaN); the gradient goes to the
    chosen input (split at ties, as ``maximum``)."""
    return _nan_ignoring(ew.maximum, input, other)


def fmin(input: Tensor, other: Any) -> Tensor:
    """min(a, b) elementwise, ignoring NaN (see ``fmax``)."""
    return _nan_ignoring(ew.minimum, input, other)


def copysign(input: Tensor, other: Any) -> Tensor:
    """|input| with the sign of ``other`` (its sign bit, so -0.0 counts as negative);
    d/dinput = ±sign(input) (0 at 0, as PyTorch), d/dother = 0."""
    a = floating(input, "copysign")
    flip = ne(signbit(lift(other, a)), signbit(a))
    res = ew.where(flip, -a, a)
    return ew.where(a == 0, res.detach(), res)  # (±0 there, with no gradient)


def deg2rad(input: Tensor) -> Tensor:
    """x·π/180."""
    return floating(input, "deg2rad") * (math.pi / 180.0)


def rad2deg(input: Tensor) -> Tensor:
    """x·180/π."""
    return floating(input, "rad2deg") * (180.0 / math.pi)


def sinc(input: Tensor) -> Tensor:
    """sin(πx)/(πx), 1 at x = 0 (the normalised sinc; its gradient there is 0)."""
    x = floating(input, "sinc")
    zero, one = eq(x, 0), lift(1, x)
    safe = ew.where(zero, one, x) * math.pi
    return ew.where(zero, one, ew.sin(safe) / safe)


def rsub(input: Any, other: Any, *, alpha: float = 1) -> Tensor:
    """other - alpha·input (the reflected subtraction)."""
    return ew.sub(other, input, alpha=alpha) if isinstance(other, Tensor) else ew.add(ew.neg(input) * alpha, other)


def isin(elements: Any, test_elements: Any, *, assume_unique: bool = False, invert: bool = False) -> Tensor:
    """True where an element of ``elements`` occurs in ``test_elements`` (bool, elements' shape)."""
    a = as_tensor_arg(elements, "isin")
    return kernel("isin", a, lift(test_elements, a), invert=invert)


# ---------------------------------------------------------------- log-gamma and the polygamma functions
class Lgamma(_OfInput):
    """y = ln |Γ(x)|;  dy/dx = ψ(x) (the digamma function)."""

    name = "lgamma"

    def d(self, m, x, y):
        return m.polygamma(0, x)


class Polygamma(_OfInput):
    """y = ψ⁽ⁿ⁾(x);  dy/dx = ψ⁽ⁿ⁺¹⁾(x)."""

    __slots__ = ("n",)
    name = "polygamma"

    def __init__(self, n: int) -> None:
        self.n = n

    def forward(self, m, x):
        return m.polygamma(self.n, x)

    def d(self, m, x, y):
        return m.polygamma(self.n + 1, x)


LGAMMA = Lgamma()


def lgamma(input: Tensor) -> Tensor:
    """ln |Γ(x)|."""
    return apply1(LGAMMA, floating(input, "lgamma"))


def digamma(input: Tensor) -> Tensor:
    """ψ(x) = d/dx ln Γ(x)."""
    return apply1(Polygamma(0), floating(input, "digamma"))


def polygamma(n: int, input: Tensor) -> Tensor:
    """ψ⁽ⁿ⁾(x), the n-th derivative of the digamma function (n >= 0)."""
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise RuntimeError(f"polygamma(n, x) does not support negative n, got n={n!r}")
    return apply1(Polygamma(int(n)), floating(input, "polygamma"))


def mvlgamma(input: Tensor, p: int) -> Tensor:
    """The multivariate log-gamma ln Γ_p(x) = p(p-1)/4 ln π + Σ_{j<p} ln Γ(x - j/2) (x > (p-1)/2)."""
    x = floating(input, "mvlgamma")
    if p < 1:
        raise RuntimeError(f"mvlgamma: p has to be greater than or equal to 1, got {p}")
    if (x._array <= (p - 1) / 2).any():
        raise RuntimeError(f"mvlgamma: all elements must be greater than (p-1)/2 = {(p - 1) / 2}")
    out = lgamma(x)
    for j in range(1, p):
        out = out + lgamma(x - j / 2)
    return out + p * (p - 1) / 4 * math.log(math.pi)
