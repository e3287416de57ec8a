"""F.interpolate's bicubic mode from its formula: Keys' cubic convolution (a = -0.75) along each
spatial dimension, taps clamped to the border; gradients by finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck

A = -0.75


def keys(s: float) -> float:
    """Keys' kernel: (a+2)|s|³ - (a+3)|s|² + 1 for |s| <= 1, a|s|³ - 5a|s|² + 8a|s| - 4a for 1 < |s| < 2."""
    s = abs(s)
    if s <= 1:
        return (A + 2) * s**3 - (A + 3) * s**2 + 1
    return A * s**3 - 5 * A * s**2 + 8 * A * s - 4 * A if s < 2 else 0.0


def t64(a, grad=False):
    return cr.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def test_bicubic_keeps_constants_and_the_pixels_it_lands_on():
    assert np.allclose(F.interpolate(t64(np.full((1, 2, 3, 4), 2.5)), size=(7, 5), mode="bicubic").numpy(), 2.5)
    x = np.random.default_rng(3).standard_normal((1, 1, 4, 5))
    # align_corners: source coordinate j (n - 1)/(m - 1); with m = 2n - 1 every other output is a pixel
    y = F.interpolate(t64(x), size=(7, 9), mode="bicubic", align_corners=True).numpy()
    np.testing.assert_allclose(y[..., ::2, ::2], x, rtol=1e-12)
    np.testing.assert_allclose(F.interpolate(t64(x), size=(4, 5), mode="bicubic").numpy(), x, rtol=1e-12)


def test_bicubic_value_from_keys_kernel_with_border_taps_clamped():
    row = np.array([1.0, 4.0, -2.0, 3.0, 0.5])
    x = np.tile(row, (3, 1))[None, None]  # constant along H: only the W pass acts
    y = F.interpolate(t64(x), size=(3, 10), mode="bicubic").numpy()[0, 0, 0]
    for j in range(10):
        src = (j + 0.5) * 0.5 - 0.5  # align_corners=False, not clamped at 0 (as PyTorch's bicubic)
        lo = int(np.floor(src))
        want = sum(keys(src - (lo + k)) * row[min(max(lo + k, 0), 4)] for k in (-1, 0, 1, 2))
        assert y[j] == pytest.approx(want, rel=1e-12), j


@pytest.mark.parametrize("kw", [dict(size=(5, 3)), dict(scale_factor=1.5, align_corners=True), dict(size=(2, 6))])
def test_bicubic_gradients(kw):
    x = t64(np.random.default_rng(5).standard_normal((1, 2, 3, 4)), grad=True)
    assert gradcheck(lambda a: F.interpolate(a, mode="bicubic", **kw), (x,), check_forward_ad=True)
    assert gradgradcheck(lambda a: F.interpolate(a, mode="bicubic", **kw), (x,))


def test_area_mode_on_5d_input_is_adaptive_average_pooling():
    # (it raised NotImplementedError for 5-D input; PyTorch's 'area' is adaptive_avg_pool3d there)
    x = cr.tensor(np.arange(2 * 4 * 4 * 6, dtype=np.float64).reshape(1, 2, 4, 4, 6), requires_grad=True)
    y = F.interpolate(x, size=(2, 2, 3), mode="area")
    want = x.detach().numpy().reshape(1, 2, 2, 2, 2, 2, 3, 2).mean(axis=(3, 5, 7))
    np.testing.assert_allclose(y.detach().numpy(), want)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(x.shape, 1 / 8))
