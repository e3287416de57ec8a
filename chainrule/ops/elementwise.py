"""Elementwise primitives: each formula with its vjp (reverse) and jvp (forward) rule.

Notation in the rules: x, a, b are the inputs, y the output, g = dL/dy the
incoming adjoint, dx the input tangent.  Binary ops broadcast like NumPy; the
engine sums each gradient back to its input's shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.autograd.primitive import Primitive, apply, apply1, apply2
from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_default_dtype
from chainrule.ops._lift import as_tensor_arg, lift, promote


class _Elementwise(Primitive):
    """The base of the elementwise primitives.  ``forward`` defaults to the table entry
    ``m.<entry>(*xs)``, ``entry`` defaulting to the op's name."""

    __slots__ = ()
    elementwise = True

    def forward(self, m, *xs):
        return getattr(m, self.entry or self.name)(*xs)


class _Unary(_Elementwise):
    """y = f(x) with dy/dx = ``d(m, x, y)``; subclasses give ``forward`` and ``d``."""

    __slots__ = ()

    def d(self, m: Any, x: Any, y: Any) -> Any:
        raise NotImplementedError

    def vjp(self, m, need, g, y, x):
        return (g * self.d(m, x, y),)

    def jvp(self, m, dxs, y, x):
        return dxs[0] * self.d(m, x, y)


class _Diagonal(_Elementwise):
    """y = f(x) with a diagonal Jacobian given as the map t ↦ J t (``push``): the vjp and the
    jvp are that same map, applied to g and to dx.  For rules written as a choice
    (``m.where``) rather than a product with dy/dx."""

    __slots__ = ()
    saves_inputs = (0,)
    saves_output = False

    def push(self, m: Any, x: Any, y: Any, t: Any) -> Any:
        raise NotImplementedError

    def vjp(self, m, need, g, y, x):
        return (self.push(m, x, y, g),)

    def jvp(self, m, dxs, y, x):
        return self.push(m, x, y, dxs[0])


class _OfInput(_Unary):
    """The derivative reads x only."""

    __slots__ = ()
    saves_inputs = (0,)
    saves_output = False


class _OfOutput(_Unary):
    """The derivative reads y only."""

    __slots__ = ()
    saves_inputs = ()
    saves_output = True


# ---------------------------------------------------------------- arithmetic
class Neg(_Elementwise):
    """y = -x;  dy/dx = -1."""

    name = "neg"
    entry = "negative"
    saves_inputs = ()
    saves_output = False

    def vjp(self, m, need, g, y, x):
        return (-g,)

    def jvp(self, m, dxs, y, x):
        return -dxs[0]


class Add(_Elementwise):
    """y = a + b;  dy/da = 1, dy/db = 1."""

    name = "add"
    entry = "add"
    saves_inputs = ()
    saves_output = False

    def vjp(self, m, need, g, y, a, b):
        return g, g

    def jvp(self, m, dxs, y, a, b):
        return dxs[0] + dxs[1]


class Sub(_Elementwise):
    """y = a - b;  dy/da = 1, dy/db = -1."""

    name = "sub"
    entry = "subtract"
    saves_inputs = ()
    saves_output = False

    def vjp(self, m, need, g, y, a, b):
        return g, (-g if need[1] else None)

    def jvp(self, m, dxs, y, a, b):
        return dxs[0] - dxs[1]


class Mul(_Elementwise):
    """y = a * b;  dy/da = b, dy/db = a."""

    name = "mul"
    entry = "multiply"
    saves_output = False

    def saved_inputs(self, need):  # dL/da reads b and dL/db reads a
        return (1,) if not need[1] else ((0,) if not need[0] else (0, 1))

    def vjp(self, m, need, g, y, a, b):
        return (g * b if need[0] else None), (g * a if need[1] else None)

    def jvp(self, m, dxs, y, a, b):
        return dxs[0] * b + a * dxs[1]


class Div(_Elementwise):
    """y = a / b;  dy/da = 1/b, dy/db = -a/b² = -y/b."""

    name = "div"
    entry = "divide"
    saves_output = False

    def saved_inputs(self, need):  # dL/da reads b; dL/db reads a and b
        return (0, 1) if need[1] else (1,)

    def vjp(self, m, need, g, y, a, b):
        ga = g / b if need[0] else None
        gb = -g * a / (b * b) if need[1] else None
        return ga, gb

    def jvp(self, m, dxs, y, a, b):
        return dxs[0] / b - dxs[1] * a / (b * b)


class Pow(_Elementwise):
    """y = a ** b (both tensors);  dy/da = b a^(b-1),  dy/db = y log a  (taken as 0 where a <= 0)."""

    name = "pow"

    def forward(self, m, a, b):
        return a**b

    def vjp(self, m, need, g, y, a, b):
        ga = g * b * a ** (b - 1) if need[0] else None
        gb = g * y * m.log(m.where(a > 0, a, m.ones_like(a))) if need[1] else None
        return ga, gb

    def jvp(self, m, dxs, y, a, b):
        return dxs[0] * b * a ** (b - 1) + dxs[1] * y * m.log(m.where(a > 0, a, m.ones_like(a)))


class PowScalar(_OfInput):
    """y = x ** c for a constant c;  dy/dx = c x^(c-1)."""

    __slots__ = ("c",)
    name = "pow"

    def __init__(self, c: float) -> None:
        self.c = c

    def forward(self, m, x):
        return x**self.c

    def d(self, m, x, y):
        c = self.c
        if c == 0:
            return x * 0
        if c == 1:
            return x * 0 + 1
        if c == 2:
            return x * 2
        return x ** (c - 1) * c


# ---------------------------------------------------------------- exp / log / roots
class Exp(_Elementwise):
    """y = e^x;  dy/dx = e^x = y."""

    name = "exp"
    entry = "exp"
    saves_inputs = ()

    def vjp(self, m, need, g, y, x):
        return (g * y,)

    def jvp(self, m, dxs, y, x):
        return dxs[0] * y


class Log(_Elementwise):
    """y = ln x;  dy/dx = 1/x."""

    name = "log"
    entry = "log"
    saves_inputs = (0,)
    saves_output = False

    def vjp(self, m, need, g, y, x):
        return (g / x,)

    def jvp(self, m, dxs, y, x):
        return dxs[0] / x


class Log1p(_Elementwise):
    """y = ln(1 + x), accurate for small x;  dy/dx = 1/(1 + x)."""

    name = "log1p"
    saves_inputs = (0,)
    saves_output = False

    def forward(self, m, x):
        return m.log1p(x)

    def vjp(self, m, need, g, y, x):
        return (g / (x + 1),)

    def jvp(self, m, dxs, y, x):
        return dxs[0] / (x + 1)


class Sqrt(_Elementwise):
    """y = sqrt(x);  dy/dx = 1/(2 sqrt(x)) = 1/(2y)."""

    name = "sqrt"
    entry = "sqrt"
    saves_inputs = ()

    def vjp(self, m, need, g, y, x):
        return (g / (y * 2),)

    def jvp(self, m, dxs, y, x):
        return dxs[0] / (y * 2)


class Abs(_OfInput):
    """y = |x|;  dy/dx = sign(x) (subgradient 0 at x = 0, as PyTorch)."""

    name = "abs"

    def forward(self, m, x):
        return m.abs(x)

    def d(self, m, x, y):
        return m.sign(x)


class _Flat(_Elementwise):
    """A piecewise-constant function (sign, floor, ceil, ...): dy/dx = 0 wherever it exists
    (PyTorch gives 0 everywhere); nothing is saved."""

    __slots__ = ()
    saves_inputs = ()
    saves_output = False

    def vjp(self, m, need, g, y, x):
        return (g * 0,)

    def jvp(self, m, dxs, y, x):
        return dxs[0] * 0


class Sign(_Flat):
    """y = sign(x) in {-1, 0, 1};  dy/dx = 0 everywhere it exists (taken as 0 at 0)."""

    name = "sign"

    def forward(self, m, x):
        return m.sign(x)


# ---------------------------------------------------------------- trigonometric / squashing
class Sin(_OfInput):
    """y = sin x;  dy/dx = cos x."""

    name = "sin"

    def forward(self, m, x):
        return m.sin(x)

    def d(self, m, x, y):
        return m.cos(x)


class Cos(_OfInput):
    """y = cos x;  dy/dx = -sin x."""

    name = "cos"

    def forward(self, m, x):
        return m.cos(x)

    def d(self, m, x, y):
        return -m.sin(x)


class Tanh(_Elementwise):
    """y = tanh x = (e^x - e^-x)/(e^x + e^-x);  dy/dx = 1 - y²."""

    name = "tanh"
    entry = "tanh"
    saves_inputs = ()

    # g - g*y*y rather than g*(1 - y*y): an operation with a Python scalar costs
    # NumPy about twice as much as an array-array one on small arrays.
    def vjp(self, m, need, g, y, x):
        return (g - g * y * y,)

    def jvp(self, m, dxs, y, x):
        dx = dxs[0]
        return dx - dx * y * y


class Sigmoid(_Elementwise):
    """y = σ(x) = 1/(1 + e^-x), computed without overflow;  dy/dx = y (1 - y)."""

    name = "sigmoid"
    entry = "sigmoid"
    saves_inputs = ()

    def vjp(self, m, need, g, y, x):
        return (g * (y - y * y),)

    def jvp(self, m, dxs, y, x):
        return dxs[0] * (y - y * y)


class Relu(_Elementwise):
    """y = max(0, x);  dy/dx = 1 for x > 0, else 0 (subgradient 0 at x = 0, as PyTorch).

    On arrays the table's entries ``relu`` / ``relu_backward`` (g · [y > 0]) take one pass each
    (``backend/mask_math.py``); a recorded backward (create_graph) multiplies Tensors instead.
    """

    name = "relu"
    saves_inputs = ()
    fresh_grads = True  # g · [y > 0] is a new array (the engine keeps a leaf's without copying)

    def forward(self, m, x):
        return m.relu(x)

    def vjp(self, m, need, g, y, x):
        return (g * (y > 0) if m.is_tensor else m.relu_backward(g, y),)

    def jvp(self, m, dxs, y, x):
        return dxs[0] * (y > 0) if m.is_tensor else m.relu_backward(dxs[0], y)


# ---------------------------------------------------------------- comparisons with gradients
class Maximum(_Elementwise):
    """y = max(a, b) elementwise;  the gradient goes to the larger input, split in half at ties."""

    name = "maximum"
    saves_output = False

    def forward(self, m, a, b):
        return m.maximum(a, b)

    def _share(self, m, a, b):
        return (a > b) + (a == b) * 0.5

    def vjp(self, m, need, g, y, a, b):
        s = m.astype(self._share(m, a, b), g.dtype)  # bool * 0.5 is float64: back to g's dtype
        return (g * s if need[0] else None), (g * (1 - s) if need[1] else None)

    def jvp(self, m, dxs, y, a, b):
        s = m.astype(self._share(m, a, b), y.dtype)
        return dxs[0] * s + dxs[1] * (1 - s)


class Minimum(Maximum):
    """y = min(a, b) elementwise;  the gradient goes to the smaller input, split in half at ties."""

    name = "minimum"

    def forward(self, m, a, b):
        return m.minimum(a, b)

    def _share(self, m, a, b):
        return (a < b) + (a == b) * 0.5


class Clamp(_OfInput):
    """y = min(max(x, lo), hi);  dy/dx = 1 where lo <= x <= hi, else 0 (as PyTorch)."""

    __slots__ = ("lo", "hi")
    name = "clamp"

    def __init__(self, lo: Any, hi: Any) -> None:
        self.lo = lo
        self.hi = hi

    def forward(self, m, x):
        return m.astype(m.clip(x, self.lo, self.hi), x.dtype)

    def d(self, m, x, y):
        inside = x == x  # all True, with NaN masked out
        if self.lo is not None:
            inside = inside * (x >= self.lo)
        if self.hi is not None:
            inside = inside * (x <= self.hi)
        return inside


class Where(_Elementwise):
    """y = a where cond else b;  dy/da = cond, dy/db = 1 - cond (cond gets no gradient)."""

    name = "where"
    saves_inputs = (0,)
    saves_output = False

    def forward(self, m, cond, a, b):
        return m.where(cond, a, b)

    def vjp(self, m, need, g, y, cond, a, b):
        zero = m.zeros_like(g)
        ga = m.where(cond, g, zero) if need[1] else None
        gb = m.where(cond, zero, g) if need[2] else None
        return None, ga, gb

    def jvp(self, m, dxs, y, cond, a, b):
        return m.where(cond, dxs[1] + 0 * dxs[2], dxs[2] + 0 * dxs[1])


NEG, ADD, SUB, MUL, DIV, POW = Neg(), Add(), Sub(), Mul(), Div(), Pow()
EXP, LOG, LOG1P, SQRT, ABS, SIGN = Exp(), Log(), Log1p(), Sqrt(), Abs(), Sign()
SIN, COS, TANH, SIGMOID, RELU = Sin(), Cos(), Tanh(), Sigmoid(), Relu()
MAXIMUM, MINIMUM, WHERE = Maximum(), Minimum(), Where()


# ---------------------------------------------------------------- public functions
def operands(name: str, a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Two operands of op ``name`` (a Tensor and a Tensor or scalar) as Tensors of one dtype:
    scalars lifted, dtypes promoted by PyTorch's rule, not NumPy's (float32 op int64 stays float32)."""
    if not isinstance(a, Tensor):
        if not isinstance(b, Tensor):
            raise TypeError(f"{name}(): expected at least one Tensor argument, got {type(a).__name__} "
                            f"and {type(b).__name__}")
        a = lift(a, b)
    b = lift(b, a)
    if a._array.dtype != b._array.dtype:
        a, b = promote(a, b)
    return a, b


def _binary(op: Primitive, a: Any, b: Any, floating: bool = False) -> Tensor:
    """``op`` on two operands made one dtype by ``operands``; ``floating``: integer and bool
    operands become the default float dtype (as PyTorch's atan2, ldexp...)."""
    if not (isinstance(a, Tensor) and isinstance(b, Tensor) and a._array.dtype is b._array.dtype):
        a, b = operands(op.name, a, b)
    if floating and a._array.dtype.kind in "biu":
        a, b = a.to(get_default_dtype()), b.to(get_default_dtype())
    return apply2(op, a, b)


def add(input: Any, other: Any, alpha: float = 1) -> Tensor:
    """input + alpha * other."""
    if alpha != 1:
        other = _binary(MUL, other, alpha) if isinstance(other, Tensor) else other * alpha
    return _binary(ADD, input, other)


def sub(input: Any, other: Any, alpha: float = 1) -> Tensor:
    """input - alpha * other."""
    if alpha != 1:
        other = _binary(MUL, other, alpha) if isinstance(other, Tensor) else other * alpha
    return _binary(SUB, input, other)


def mul(input: Any, other: Any) -> Tensor:
    return _binary(MUL, input, other)


def div(input: Any, other: Any) -> Tensor:
    """True division; integer inputs give the default float dtype (as PyTorch)."""
    if isinstance(input, Tensor) and input._array.dtype.kind in "biu":
        input = input.to(get_default_dtype())
    return _binary(DIV, input, other)


def pow(input: Any, exponent: Any) -> Tensor:
    """input ** exponent; a constant exponent uses the cheaper PowScalar rule."""
    if isinstance(input, Tensor) and isinstance(exponent, (int, float, np.number)):
        if isinstance(exponent, np.number):  # a NumPy float64 scalar would promote float32 to float64
            exponent = exponent.item()
        if isinstance(exponent, float) and input._array.dtype.kind in "biu":
            input = input.to(get_default_dtype())  # int ** 0.5 is a default-dtype float, as PyTorch (NumPy: float64)
        return apply1(PowScalar(exponent), input)
    return _binary(POW, input, exponent)


def neg(input: Tensor) -> Tensor:
    return apply1(NEG, as_tensor_arg(input, "neg"))


def _unary(op: Primitive, name: str) -> Callable[[Tensor], Tensor]:
    def fn(input: Tensor) -> Tensor:
        if type(input) is not Tensor:
            input = as_tensor_arg(input, name)
        if input._array.dtype.kind in "biu" and name not in ("abs", "sign", "relu"):
            input = input.to(get_default_dtype())
        return apply1(op, input)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = type(op).__doc__
    return fn


exp = _unary(EXP, "exp")
log = _unary(LOG, "log")
log1p = _unary(LOG1P, "log1p")
sqrt = _unary(SQRT, "sqrt")
abs = _unary(ABS, "abs")
sign = _unary(SIGN, "sign")
sin = _unary(SIN, "sin")
cos = _unary(COS, "cos")
tanh = _unary(TANH, "tanh")
sigmoid = _unary(SIGMOID, "sigmoid")
relu = _unary(RELU, "relu")


def maximum(input: Any, other: Any) -> Tensor:
    return _binary(MAXIMUM, input, other)


def minimum(input: Any, other: Any) -> Tensor:
    return _binary(MINIMUM, input, other)


def clamp(input: Tensor, min: Any = None, max: Any = None) -> Tensor:
    """Clip to [min, max]; either bound may be None.  Tensor bounds use maximum/minimum."""
    input = as_tensor_arg(input, "clamp")
    if min is None and max is None:
        raise ValueError("clamp(): at least one of 'min' or 'max' must not be None")
    if input._array.dtype.kind in "biu" and any(isinstance(b, (float, np.floating)) for b in (min, max)):
        input = input.to(get_default_dtype())  # (a float bound makes the result floating, as in PyTorch)
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = input
        if min is not None:
            out = maximum(out, min)
        if max is not None:
            out = minimum(out, max)
        return out
    return apply1(Clamp(min, max), input)


def where(condition: Any, input: Any = None, other: Any = None) -> Any:
    """Elementwise choice: input where condition is true, else other.  ``where(condition)``
    alone is ``nonzero(condition, as_tuple=True)``, as PyTorch's: a tuple of index tensors."""
    if input is None and other is None:
        from chainrule.ops.arrange import nonzero

        return nonzero(condition if isinstance(condition, Tensor) else Tensor(condition, dtype=np.bool_),
                       as_tuple=True)
    if input is None or other is None:
        raise TypeError("where() expected condition, input and other (or condition alone)")
    cond = condition if isinstance(condition, Tensor) else Tensor(condition, dtype=np.bool_)
    if cond._array.dtype != np.bool_:
        cond = cond.to(np.bool_)  # through the Cast primitive (a bool cast records nothing)
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        input = Tensor._from_data(input)
    return apply(WHERE, cond, *operands("where", input, other))
