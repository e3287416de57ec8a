"""Activation primitives that the elementwise set lacks: each formula with its vjp and jvp side by side.

Notation as in ``elementwise``: x the input, y the output, g = dL/dy, dx the
input tangent.  Every rule keeps the input's dtype (float32 stays float32).

Subgradient conventions at the kinks (the value the derivative takes exactly there),
all as PyTorch's backward kernels:

* leaky_relu'(0) = negative_slope  (the x <= 0 branch);
* elu'(0) = alpha                 (the x <= 0 branch: alpha e^0);
* clamped affine pieces (hardtanh, relu6, hardsigmoid, the notes' piecewise linear):
  the slope inside the open interval, 0 at and beyond both corners;
* softplus above the threshold (βx > threshold) is the identity: derivative exactly 1;
* step (Heaviside) and sign: derivative 0 everywhere (also at 0, where it does not exist).

``erf`` is computed with W. J. Cody's rational Chebyshev approximations
(Math. Comp. 1969, the netlib SPECFUN coefficients): |error| ~ 1e-16 in
float64, vectorised, no SciPy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.autograd.primitive import Primitive, apply1
from chainrule.autograd.tensor import Tensor
from chainrule.backend import ArrayMath, get_default_dtype
from chainrule.ops._lift import as_tensor_arg

__all__ = [
    "ClampedAffine",
    "Elu",
    "Erf",
    "Gelu",
    "LeakyRelu",
    "Softplus",
    "Step",
    "Swish",
    "elu",
    "erf",
    "erf_array",
    "gelu",
    "leaky_relu",
    "silu",
    "softplus",
    "step",
    "swish",
]

# ---------------------------------------------------------------- erf on arrays (Cody 1969)
_A = (3.16112374387056560, 113.864154151050156, 377.485237685302021, 3209.37758913846947,
      0.185777706184603153)
_B = (23.6012909523441209, 244.024637934444173, 1282.61652607737228, 2844.23683343917062)
_C = (0.564188496988670089, 8.88314979438837594, 66.1191906371416295, 298.635138197400131,
      881.952221241769090, 1712.04761263407058, 2051.07837782607147, 1230.33935479799725,
      2.15311535474403846e-8)
_D = (15.7449261107098347, 117.693950891312499, 537.181101862009858, 1621.38957456669019,
      3290.79923573345963, 4362.61909014324716, 3439.36767414372164, 1230.33935480374942)
_P = (0.305326634961232344, 0.360344899949804439, 0.125781726111229246, 0.0160837851487422766,
      6.58749161529837803e-4, 0.0163153871373020978)
_Q = (2.56852019228982242, 1.87295284992346047, 0.527905102951428412, 0.0605183413124413191,
      2.33520497626869185e-3)
_SQRPI = 0.56418958354775628695  # 1/√π


def _erf_small(y: np.ndarray) -> np.ndarray:
    """erf(y)/y for |y| <= 0.46875 (a rational function of y²)."""
    ysq = y * y
    num = _A[4] * ysq
    den = ysq
    for i in range(3):
        num = (num + _A[i]) * ysq
        den = (den + _B[i]) * ysq
    return (num + _A[3]) / (den + _B[3])


def _erfc_mid(y: np.ndarray) -> np.ndarray:
    """erfc(y) e^(y²) for 0.46875 < y <= 4."""
    num = _C[8] * y
    den = y
    for i in range(7):
        num = (num + _C[i]) * y
        den = (den + _D[i]) * y
    return (num + _C[7]) / (den + _D[7])


def _erfc_big(y: np.ndarray) -> np.ndarray:
    """erfc(y) e^(y²) for y > 4 (a rational function of 1/y²)."""
    ysq = 1.0 / (y * y)
    num = _P[5] * ysq
    den = ysq
    for i in range(4):
        num = (num + _P[i]) * ysq
        den = (den + _Q[i]) * ysq
    return (_SQRPI - ysq * (num + _P[4]) / (den + _Q[4])) / y


def _exp_neg_sq(y: np.ndarray) -> np.ndarray:
    """e^(-y²) as e^(-ys²) e^(-(y-ys)(y+ys)), ys = y rounded down to 1/16 (Cody's split: no cancellation)."""
    ys = np.trunc(y * 16.0) / 16.0
    return np.exp(-ys * ys) * np.exp(-(y - ys) * (y + ys))


def erf_array(x: np.ndarray) -> np.ndarray:
    """erf(x) = 2/√π ∫₀ˣ e^(-t²) dt on a NumPy array, elementwise, in x's floating dtype.

    Three pieces by |x|: [0, 0.46875] erf directly, (0.46875, 4] and (4, ∞) through
    erfc = 1 - erf; each piece is evaluated only on its own elements.
    """
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    y = np.abs(x)
    small = y <= 0.46875
    if small.all():
        return x * _erf_small(x)
    out = np.empty_like(x)
    if small.any():
        xs = x[small]
        out[small] = xs * _erf_small(xs)
    mid = (y <= 4.0) & ~small
    if mid.any():
        ym = y[mid]
        out[mid] = 1.0 - _exp_neg_sq(ym) * _erfc_mid(ym)
    big = y > 4.0  # NaN fails every comparison: handled below
    if big.any():
        yb = np.minimum(y[big], 30.0)  # erfc(30) underflows to 0: erf = 1 (also for inf)
        out[big] = 1.0 - _exp_neg_sq(yb) * _erfc_big(yb)
    out[~(small | mid | big)] = np.nan
    np.negative(out, out=out, where=(x < 0) & ~small)  # erf(-y) = -erf(y)
    return out


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class _Act(Primitive):
    __slots__ = ()
    elementwise = True


class Erf(_Act):
    """y = erf x;  dy/dx = 2/√π e^(-x²)."""

    name = "erf"
    saves_inputs = (0,)
    saves_output = False

    def forward(self, m, x):
        return erf_array(x)

    def _d(self, m, x):
        return m.exp(-(x * x)) * _TWO_OVER_SQRT_PI

    def vjp(self, m, need, g, y, x):
        return (g * self._d(m, x),)

    def jvp(self, m, dxs, y, x):
        return dxs[0] * self._d(m, x)


ERF = Erf()


def _cdf(m: Any, x: Any) -> Any:
    """Φ(x) = (1 + erf(x/√2))/2 with the math table's kind: arrays directly, Tensors through Erf."""
    if m.is_tensor:
        return (apply1(ERF, x * _INV_SQRT2) + 1) * 0.5
    return (erf_array(x * _INV_SQRT2) + 1) * 0.5


# ---------------------------------------------------------------- piecewise-linear families
class LeakyRelu(_Act):
    """y = x for x > 0, s·x otherwise;  dy/dx = 1 for x > 0, s for x <= 0 (s at 0, as PyTorch)."""

    __slots__ = ("slope",)
    name = "leaky_relu"
    saves_inputs = (0,)
    saves_output = False

    def __init__(self, slope: float) -> None:
        self.slope = float(slope)

    def forward(self, m, x):
        return np.where(x > 0, x, x * self.slope)

    def vjp(self, m, need, g, y, x):
        return (m.where(x > 0, g, g * self.slope),)

    def jvp(self, m, dxs, y, x):
        dx = dxs[0]
        return m.where(x > 0, dx, dx * self.slope)


class ClampedAffine(_Act):
    """y = min(max(a·x + b, lo), hi);  dy/dx = a where lo < a·x + b < hi, else 0 (0 at both corners).

    hardtanh = (1, 0, min_val, max_val), relu6 = (1, 0, 0, 6), PyTorch's hardsigmoid =
    (1/6, 1/2, 0, 1), the notes' piecewise-linear unit = (1, 1/2, 0, 1).
    """

    __slots__ = ("a", "b", "lo", "hi")
    name = "clamped_affine"
    saves_inputs = (0,)
    saves_output = False

    def __init__(self, a: float, b: float, lo: float, hi: float) -> None:
        self.a, self.b, self.lo, self.hi = float(a), float(b), float(lo), float(hi)

    def _z(self, x):
        z = x * self.a if self.a != 1.0 else x
        return z + self.b if self.b != 0.0 else z

    def forward(self, m, x):
        return np.clip(self._z(x), self.lo, self.hi).astype(x.dtype, copy=False)

    def _slope(self, m, x, t):
        z = self._z(x)
        inside = (z > self.lo) * (z < self.hi)
        return m.where(inside, t * self.a if self.a != 1.0 else t, m.zeros_like(t))

    def vjp(self, m, need, g, y, x):
        return (self._slope(m, x, g),)

    def jvp(self, m, dxs, y, x):
        return self._slope(m, x, dxs[0])


class Step(_Act):
    """Unit step (Heaviside): y = 0 for x < 0, ``at_zero`` (0.5 in the notes) at 0, 1 for x > 0;
    dy/dx = 0 everywhere (also at 0, where it does not exist)."""

    __slots__ = ("at_zero",)
    name = "step"
    saves_inputs = ()
    saves_output = False

    def __init__(self, at_zero: float = 0.5) -> None:
        self.at_zero = float(at_zero)

    def forward(self, m, x):
        return np.heaviside(x, self.at_zero).astype(x.dtype, copy=False)

    def vjp(self, m, need, g, y, x):
        return (g * 0,)

    def jvp(self, m, dxs, y, x):
        return dxs[0] * 0


# ---------------------------------------------------------------- smooth ones
class Elu(_Act):
    """y = x for x > 0, α(e^x - 1) for x <= 0;  dy/dx = 1 for x > 0, α e^x = y + α for x <= 0
    (α at 0, as PyTorch).  e^x is only taken of min(x, 0): no overflow for large x."""

    __slots__ = ("alpha",)
    name = "elu"

    def __init__(self, alpha: float) -> None:
        self.alpha = float(alpha)

    def forward(self, m, x):
        neg = np.expm1(np.minimum(x, 0)) * self.alpha
        return np.where(x > 0, x, neg)

    def vjp(self, m, need, g, y, x):
        return (m.where(x > 0, g, g * (y + self.alpha)),)

    def jvp(self, m, dxs, y, x):
        dx = dxs[0]
        return m.where(x > 0, dx, dx * (y + self.alpha))


class Softplus(_Act):
    """y = (1/β) ln(1 + e^(βx)), and y = x where βx > threshold (PyTorch's linear region);
    dy/dx = σ(βx), exactly 1 in the linear region.

    Computed as max(z, 0) + log1p(e^(-|z|)) with z = βx: no overflow for |x| = 1000.
    """

    __slots__ = ("beta", "threshold")
    name = "softplus"
    saves_inputs = (0,)
    saves_output = False

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        self.beta = float(beta)
        self.threshold = float(threshold)

    def _zx(self, x):
        return x * self.beta if self.beta != 1.0 else x

    def forward(self, m, x):
        z = self._zx(x)
        sp = np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))
        if self.beta != 1.0:
            sp = sp / self.beta
        return np.where(z > self.threshold, x, sp).astype(x.dtype, copy=False)

    def _d(self, m, x, t):
        z = self._zx(x)
        return m.where(z > self.threshold, t, t * m.sigmoid(z))

    def vjp(self, m, need, g, y, x):
        return (self._d(m, x, g),)

    def jvp(self, m, dxs, y, x):
        return self._d(m, x, dxs[0])


class Swish(_Act):
    """y = x σ(βx) (β = 1: SiLU);  dy/dx = s + βx s (1 - s) with s = σ(βx)."""

    __slots__ = ("beta",)
    name = "swish"
    saves_inputs = (0,)
    saves_output = False

    def __init__(self, beta: float = 1.0) -> None:
        self.beta = float(beta)

    def _zx(self, x):
        return x * self.beta if self.beta != 1.0 else x

    def forward(self, m, x):
        return x * ArrayMath.sigmoid(self._zx(x))

    def _d(self, m, x):
        s = m.sigmoid(self._zx(x))
        return s + self._zx(x) * (s - s * s)

    def vjp(self, m, need, g, y, x):
        return (g * self._d(m, x),)

    def jvp(self, m, dxs, y, x):
        return dxs[0] * self._d(m, x)


class Gelu(_Act):
    """GELU.  Exact: y = x Φ(x), Φ(x) = (1 + erf(x/√2))/2;  dy/dx = Φ(x) + x φ(x), φ(x) = e^(-x²/2)/√(2π).

    ``approximate='tanh'``: y = x/2 (1 + tanh u), u = √(2/π)(x + 0.044715 x³);
    dy/dx = (1 + t)/2 + x/2 (1 - t²) √(2/π)(1 + 3·0.044715 x²), t = tanh u.

    The exact form is instantiated per call and keeps Φ(x) from the forward pass (erf is
    the expensive part), reused by the array rules; a recorded backward (create_graph)
    recomputes Φ through the differentiable ``Erf`` primitive instead.
    """

    __slots__ = ("tanh", "cdf")
    name = "gelu"
    saves_inputs = (0,)
    saves_output = False
    _K = math.sqrt(2.0 / math.pi)
    _C = 0.044715

    def __init__(self, approximate: str = "none") -> None:
        self.tanh = approximate == "tanh"
        self.cdf = None

    def forward(self, m, x):
        if self.tanh:
            t = np.tanh((x + x * x * x * self._C) * self._K)
            return (x * 0.5) * (1 + t)
        cdf = (erf_array(x * _INV_SQRT2) + 1) * 0.5
        self.cdf = cdf
        return x * cdf

    def _d(self, m, x):
        if self.tanh:
            x2 = x * x
            t = m.tanh((x + x2 * x * self._C) * self._K)
            return (t + 1) * 0.5 + (x * 0.5) * (1 - t * t) * ((x2 * (3 * self._C) + 1) * self._K)
        cdf = self.cdf
        if m.is_tensor or cdf is None or cdf.shape != x.shape:
            cdf = _cdf(m, x)
        return cdf + x * m.exp(x * x * -0.5) * _INV_SQRT_2PI

    def vjp(self, m, need, g, y, x):
        return (g * self._d(m, x),)

    def jvp(self, m, dxs, y, x):
        return dxs[0] * self._d(m, x)


GELU_TANH, SILU = Gelu("tanh"), Swish(1.0)


# ---------------------------------------------------------------- functions on Tensors
def _float_input(input: Any, name: str) -> Tensor:
    t = as_tensor_arg(input, name)
    if t._array.dtype.kind != "f":
        t = t.to(get_default_dtype())
    return t


def erf(input: Tensor) -> Tensor:
    """The error function, elementwise (``torch.erf``)."""
    return apply1(ERF, _float_input(input, "erf"))


def leaky_relu(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    return apply1(LeakyRelu(negative_slope), _float_input(input, "leaky_relu"))


def elu(input: Tensor, alpha: float = 1.0) -> Tensor:
    return apply1(Elu(alpha), _float_input(input, "elu"))


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    return apply1(Softplus(beta, threshold), _float_input(input, "softplus"))


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return apply1(GELU_TANH if approximate == "tanh" else Gelu("none"), _float_input(input, "gelu"))


def swish(input: Tensor, beta: float = 1.0) -> Tensor:
    return apply1(SILU if beta == 1.0 else Swish(beta), _float_input(input, "swish"))


def silu(input: Tensor) -> Tensor:
    return apply1(SILU, _float_input(input, "silu"))


def clamped_affine(input: Tensor, a: float, b: float, lo: float, hi: float, name: str) -> Tensor:
    return apply1(ClampedAffine(a, b, lo, hi), _float_input(input, name))


def step(input: Tensor, at_zero: float = 0.5) -> Tensor:
    return apply1(Step(at_zero), _float_input(input, "step"))
