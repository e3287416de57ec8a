"""``chainrule.special``: ``torch.special`` — the special functions, most of them the same
functions as at ``chainrule.*`` under SciPy's names, plus a few composed here:

* ``ndtr(x)`` = Φ(x) = ½ (1 + erf(x/√2)) = ½ erfc(-x/√2), the standard normal CDF;
* ``ndtri(p)`` = Φ⁻¹(p) = √2 erfinv(2p - 1);
* ``log_ndtr(x)`` = log Φ(x), computed as log(½ erfc(-x/√2)) (finite down to x ≈ -37);
* ``entr(x)`` = -x ln x (0 at 0, -inf for x < 0);
* ``xlog1py(x, y)`` = x ln(1 + y), 0 where x = 0;
* ``erfcx(x)`` = e^(x²) erfc(x) (overflows for x < -26).

Gradients come from the functions they are composed of.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import ops as _ops
from chainrule.autograd.tensor import Tensor
from chainrule.ops import (
    digamma,
    erf,
    erfc,
    erfinv,
    exp2,
    expm1,
    log1p,
    logit,
    logsumexp,
    polygamma,
    round,
    sinc,
    xlogy,
)
from chainrule.ops import lgamma as gammaln
from chainrule.ops import sigmoid as expit
from chainrule.ops._lift import as_tensor_arg

psi = digamma

_SQRT1_2 = 1.0 / math.sqrt(2.0)


def _float(x: Any, where: str) -> Tensor:
    from chainrule.backend import get_default_dtype

    t = as_tensor_arg(x, where)
    return t.to(get_default_dtype()) if t.dtype.kind in "biu" else t


def ndtr(input: Tensor) -> Tensor:
    """Φ(x) = ½ erfc(-x/√2), the area under the standard normal density left of x."""
    x = _float(input, "special.ndtr")
    return 0.5 * erfc(-x * _SQRT1_2)


def ndtri(input: Tensor) -> Tensor:
    """Φ⁻¹(p) = √2 erfinv(2p - 1) (±inf at 0 and 1, nan outside [0, 1])."""
    p = _float(input, "special.ndtri")
    return math.sqrt(2.0) * erfinv(2 * p - 1)


def log_ndtr(input: Tensor) -> Tensor:
    """log Φ(x) = log(½ erfc(-x/√2))."""
    x = _float(input, "special.log_ndtr")
    return _ops.log(0.5 * erfc(-x * _SQRT1_2))


def entr(input: Tensor) -> Tensor:
    """-x ln x for x > 0, 0 at x = 0, -inf for x < 0 (nan stays nan)."""
    x = _float(input, "special.entr")
    a = x._array
    pos = Tensor._wrap(a > 0)
    safe = _ops.where(pos, x, 1.0)  # (log never sees x <= 0, so no nan in the gradient)
    out = _ops.where(pos, -x * _ops.log(safe), 0.0)
    return _ops.where(Tensor._wrap(a < 0), Tensor._wrap(np.array(-np.inf, dtype=a.dtype)), out)


def xlog1py(input: Any, other: Any) -> Tensor:
    """x ln(1 + y), 0 where x = 0 (unless y is nan)."""
    x = _float(input if isinstance(input, Tensor) else _ops.tensor(input), "special.xlog1py")
    y = _float(other if isinstance(other, Tensor) else _ops.tensor(other, dtype=x.dtype), "special.xlog1py")
    # replaced by 0 only where x = 0 and log1p(y) is not finite (y <= -1): elsewhere at x = 0 the
    # product is 0 by itself and d/dx = log1p(y), as PyTorch's
    zero = Tensor._wrap(np.asarray((x._array == 0) & (y._array <= -1)))
    safe_y = _ops.where(zero, Tensor._wrap(np.zeros((), y.dtype)), y)
    return _ops.where(zero, Tensor._wrap(np.zeros((), x.dtype)), x * log1p(safe_y))


def erfcx(input: Tensor) -> Tensor:
    """e^(x²) erfc(x), the scaled complementary error function."""
    x = _float(input, "special.erfcx")
    return _ops.exp(x * x) * erfc(x)


def multigammaln(input: Tensor, p: int) -> Tensor:
    """The multivariate log-gamma ln Γ_p(x) (``chainrule.mvlgamma``)."""
    return _ops.mvlgamma(input, p)


def softmax(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """softmax along ``dim`` (``dim`` is required here, as in PyTorch)."""
    return _ops.softmax(input, dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """log softmax along ``dim``."""
    return _ops.log_softmax(input, dim, dtype=dtype)


__all__ = [
    "digamma", "entr", "erf", "erfc", "erfcx", "erfinv", "exp2", "expit", "expm1", "gammaln", "log1p", "log_ndtr",
    "log_softmax", "logit", "logsumexp", "multigammaln", "ndtr", "ndtri", "polygamma", "psi", "round", "sinc",
    "softmax", "xlog1py", "xlogy",
]
