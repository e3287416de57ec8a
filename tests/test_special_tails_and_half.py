"""Special functions where a naive formula fails: erf, erfc, ndtr and GELU in half precision
(the rational functions' powers overflow float16: NaN at |x| >= 3), erfcx = e^(x²) erfc(x) for
large x (inf · 0), log_ndtr = log Φ(x) far in the left tail (Φ underflows).  Reference values
from the asymptotic series (mathematics) and SciPy / PyTorch where installed."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd.gradcheck import gradcheck

X = np.array([-30.0, -10.0, -4.5, -3.0, -1.0, -0.3, 0.0, 0.2, 0.5, 1.5, 3.0, 4.5, 8.0, 30.0])


@pytest.mark.parametrize("name", ["erf", "erfc", "special.ndtr", "nn.functional.gelu"])
def test_half_precision_equals_float32_rounded(name):
    f = cr
    for part in name.split("."):
        f = getattr(f, part)
    half = f(cr.tensor(X.astype(np.float16))).numpy()
    assert half.dtype == np.float16 and np.isfinite(half).all()
    single = f(cr.tensor(X.astype(np.float32))).numpy()
    np.testing.assert_allclose(half.astype(np.float32), single, rtol=2e-3, atol=2e-3)


def _erfcx_series(x: float) -> float:
    """e^(x²) erfc(x) ~ 1/(x√π) (1 - 1/(2x²) + 3/(4x⁴) - 15/(8x⁶) + 105/(16x⁸)) for large x."""
    u = 1.0 / (2.0 * x * x)
    return (1 - u + 3 * u**2 - 15 * u**3 + 105 * u**4) / (x * math.sqrt(math.pi))


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-13), (np.float32, 1e-6)])
def test_erfcx_for_large_x_is_its_asymptotic_value(dtype, rtol):
    xs = np.array([30.0, 100.0, 1e4], dtype)
    got = cr.special.erfcx(cr.tensor(xs)).numpy()
    np.testing.assert_allclose(got, [_erfcx_series(float(x)) for x in xs], rtol=rtol)
    assert cr.special.erfcx(cr.tensor(np.array([np.inf]))).item() == 0.0


def test_erfcx_gradient_is_finite_and_right():
    x = cr.tensor(np.array([-2.0, -0.3, 0.1, 0.9, 3.0, 6.0, 40.0]), requires_grad=True)
    cr.special.erfcx(x).sum().backward()
    xs = x.detach().numpy()
    y = cr.special.erfcx(x).detach().numpy()
    np.testing.assert_allclose(x.grad.numpy(), 2 * xs * y - 2 / math.sqrt(math.pi), rtol=1e-9, atol=1e-14)
    assert gradcheck(cr.special.erfcx, (cr.tensor(np.array([-1.2, 0.3, 0.7, 2.5, 5.0]), requires_grad=True),))


def test_log_ndtr_far_in_the_left_tail():
    # log Φ(x) = -x²/2 - log(-x) - log√(2π) + log(1 - 1/x² + 3/x⁴ - 15/x⁶ + 105/x⁸ - 945/x¹⁰ ...)
    for x, dtype, rtol in [(-30.0, np.float32, 1e-6), (-30.0, np.float64, 1e-13), (-1e3, np.float64, 1e-13)]:
        series = 1 - 1 / x**2 + 3 / x**4 - 15 / x**6 + 105 / x**8 - 945 / x**10
        want = -x * x / 2 - math.log(-x) - 0.5 * math.log(2 * math.pi) + math.log(series)
        got = cr.special.log_ndtr(cr.tensor(np.array([x], dtype))).item()
        assert got == pytest.approx(want, rel=rtol)


def test_log_ndtr_on_the_right_keeps_the_tiny_difference_from_zero():
    # log Φ(x) ≈ -Φ(-x) = -½ erfc(x/√2) for large x
    got = cr.special.log_ndtr(cr.tensor(np.array([10.0]))).item()
    assert got == pytest.approx(-0.5 * math.erfc(10 / math.sqrt(2)), rel=1e-12)


def test_log_ndtr_gradient():
    x = cr.tensor(np.array([-40.0, -5.0, -1.0, -0.5, 0.0, 2.0, 9.0]), requires_grad=True)
    cr.special.log_ndtr(x).sum().backward()
    xs = x.detach().numpy()
    # d/dx log Φ = φ(x)/Φ(x); for x = -40 that is ≈ -x (1 + 1/x² ...)^-1, finite
    phi = np.exp(-xs * xs / 2) / math.sqrt(2 * math.pi)
    cdf = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in xs])
    with np.errstate(all="ignore"):
        want = np.where(xs > -30, phi / np.where(cdf > 0, cdf, 1), -xs / (1 - 1 / xs**2 + 3 / xs**4))
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-6)
    assert gradcheck(cr.special.log_ndtr, (cr.tensor(np.array([-12.0, -1.5, -0.9, 0.4, 3.0]), requires_grad=True),))


def test_against_scipy():
    special = pytest.importorskip("scipy.special")
    xs = np.linspace(-25, 60, 341)
    np.testing.assert_allclose(cr.special.erfcx(cr.tensor(xs)).numpy(), special.erfcx(xs), rtol=1e-12)
    xs = np.linspace(-300, 30, 331)
    got = cr.special.log_ndtr(cr.tensor(xs)).numpy()
    np.testing.assert_allclose(got, special.log_ndtr(xs), rtol=1e-12, atol=1e-300)
