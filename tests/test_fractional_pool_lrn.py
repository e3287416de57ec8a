"""F.fractional_max_pool2d/3d (+ _with_indices), nn.FractionalMaxPool2d/3d and nn.CrossMapLRN2d:
windows and values from their definitions, gradients by finite differences (float64), and
PyTorch as the oracle (fractional pooling with given samples must equal PyTorch's exactly)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck

R = np.random.default_rng(1207)


def _starts(u: float, n: int, m: int, k: int) -> list[int]:
    """The window starts of the module docstring, in float64 (the tests' samples are float64)."""
    if m == 1:
        return [n - k]
    a = (n - k) / (m - 1)
    return [int((i + u) * a) - int(u * a) for i in range(m - 1)] + [n - k]


def test_2d_values_and_indices_from_the_definition():
    x = R.standard_normal((2, 3, 9, 10))
    u = R.uniform(size=(2, 3, 2))
    out, idx = F.fractional_max_pool2d(cr.tensor(x), (3, 2), output_size=(4, 5), return_indices=True,
                                       _random_samples=cr.tensor(u))
    assert tuple(out.shape) == (2, 3, 4, 5) and idx.dtype == cr.int64
    for n in range(2):
        for c in range(3):
            rows, cols = _starts(u[n, c, 1], 9, 4, 3), _starts(u[n, c, 0], 10, 5, 2)  # entry 1 = H, 0 = W
            for i, r in enumerate(rows):
                for j, s in enumerate(cols):
                    win = x[n, c, r:r + 3, s:s + 2]
                    assert out.numpy()[n, c, i, j] == win.max()
                    a, b = np.unravel_index(win.argmax(), win.shape)
                    assert idx.numpy()[n, c, i, j] == (r + a) * 10 + (s + b)


def test_3d_values_from_the_definition_and_unbatched():
    x = R.standard_normal((2, 6, 5, 7))  # (C, T, H, W), unbatched
    u = R.uniform(size=(1, 2, 3))
    out, idx = F.fractional_max_pool3d_with_indices(cr.tensor(x), 2, output_ratio=(0.5, 0.6, 0.5),
                                                    _random_samples=cr.tensor(u))
    assert tuple(out.shape) == (2, 3, 3, 3)
    for c in range(2):
        ts, hs, ws = (_starts(u[0, c, j], n, m, 2) for j, n, m in ((0, 6, 3), (1, 5, 3), (2, 7, 3)))
        for i, t in enumerate(ts):
            for j, h in enumerate(hs):
                for q, w in enumerate(ws):
                    assert out.numpy()[c, i, j, q] == x[c, t:t + 2, h:h + 2, w:w + 2].max()
    np.testing.assert_array_equal(x.reshape(2, -1)[np.arange(2)[:, None], idx.numpy().reshape(2, -1)],
                                  out.numpy().reshape(2, -1))


def test_random_samples_from_chainrule_generator():
    x = cr.tensor(R.standard_normal((2, 2, 8, 8)))
    cr.manual_seed(5)
    a = F.fractional_max_pool2d(x, 2, output_size=4)
    cr.manual_seed(5)
    b = F.fractional_max_pool2d(x, 2, output_size=4)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    # the output is always a maximum over some 2x2 window; the last window ends at the border
    assert np.all(a.numpy()[..., -1, -1] == x.numpy()[..., 6:, 6:].max(axis=(-1, -2)))


@pytest.mark.parametrize("d", [2, 3])
def test_gradcheck(d):
    shape = (1, 2, 7, 6) if d == 2 else (1, 2, 5, 5, 4)
    x = cr.tensor(R.permutation(math.prod(shape)).reshape(shape) / 7.0, requires_grad=True)  # no ties
    u = cr.tensor(R.uniform(size=(1, 2, d)))
    fn = F.fractional_max_pool2d if d == 2 else F.fractional_max_pool3d
    assert gradcheck(lambda t: fn(t, 2, output_size=3, _random_samples=u), [x])
    assert gradgradcheck(lambda t: fn(t, 2, output_size=3, _random_samples=u), [x])
    empty = cr.tensor(np.zeros((0,) + shape[1:]), requires_grad=True)
    out = fn(empty, 2, output_size=3, _random_samples=cr.tensor(np.zeros((0, 2, d))))
    assert tuple(out.shape) == (0, 2) + (3,) * d
    out.sum().backward()
    assert tuple(empty.grad.shape) == empty.shape


def test_gradient_goes_to_the_chosen_element():
    x = cr.tensor(np.ones((1, 1, 4, 4)), requires_grad=True)  # all tied: the first of each window
    out = F.fractional_max_pool2d(x, 2, output_size=2, _random_samples=cr.tensor([[[0.0, 0.0]]]))
    out.sum().backward()
    g = np.zeros((4, 4))
    g[0, 0] = g[0, 2] = g[2, 0] = g[2, 2] = 1
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], g)


def test_modules():
    m = nn.FractionalMaxPool2d(3, output_ratio=0.5, return_indices=True)
    out, idx = m(cr.randn(2, 3, 10, 12))
    assert tuple(out.shape) == (2, 3, 5, 6) == tuple(idx.shape)
    u = cr.tensor(R.uniform(size=(1, 2, 3)))
    m3 = nn.FractionalMaxPool3d((2, 2, 2), output_size=(2, 3, 2), _random_samples=u)
    assert "_random_samples" in dict(m3.named_buffers())
    x = cr.randn(1, 2, 4, 5, 4)
    np.testing.assert_array_equal(m3(x).numpy(), F.fractional_max_pool3d(x, 2, (2, 3, 2), _random_samples=u).numpy())


def test_bad_input():
    x = cr.randn(1, 2, 6, 6)
    with pytest.raises(ValueError, match="output_size or an output_ratio"):
        F.fractional_max_pool2d(x, 2)
    with pytest.raises(ValueError, match="output_ratio must be between 0 and 1"):
        F.fractional_max_pool2d(x, 2, output_ratio=1.5)
    with pytest.raises(RuntimeError, match="too large relative to the input height"):
        F.fractional_max_pool2d(x, 4, output_size=4)
    with pytest.raises(RuntimeError, match=r"_random_samples must have shape \(N, C, 2\)"):
        F.fractional_max_pool2d(x, 2, output_size=3, _random_samples=cr.rand(1, 3, 2))
    with pytest.raises(RuntimeError, match="4-D \\(batched\\)"):
        F.fractional_max_pool2d(cr.randn(6, 6), 2, output_size=3)
    with pytest.raises(ValueError, match="either an output size"):
        nn.FractionalMaxPool3d(2)
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.FractionalMaxPool2d(2, output_ratio=(0.5, 1.0))


def test_fractional_against_pytorch_exactly():
    torch = pytest.importorskip("torch")
    for dt in (np.float32, np.float64):
        for d, shape, k, size in ((2, (2, 3, 11, 13), (3, 2), (5, 7)), (3, (2, 2, 7, 9, 8), (2, 3, 2), (3, 4, 4))):
            xn = R.standard_normal(shape).astype(dt)
            un = R.uniform(size=(shape[0], shape[1], d)).astype(dt)
            fn, tfn = ((F.fractional_max_pool2d, torch.nn.functional.fractional_max_pool2d) if d == 2 else
                       (F.fractional_max_pool3d, torch.nn.functional.fractional_max_pool3d))
            x, tx = cr.tensor(xn, requires_grad=True), torch.tensor(xn, requires_grad=True)
            out, idx = fn(x, k, size, return_indices=True, _random_samples=cr.tensor(un))
            tout, tidx = tfn(tx, k, size, return_indices=True, _random_samples=torch.tensor(un))
            np.testing.assert_array_equal(out.detach().numpy(), tout.detach().numpy())
            np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
            w = R.standard_normal(tuple(out.shape)).astype(dt)
            (out * cr.tensor(w)).sum().backward()
            (tout * torch.tensor(w)).sum().backward()
            np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)
            # output_ratio: the same output size as PyTorch's
            r = fn(x, k, output_ratio=(0.5,) * d, _random_samples=cr.tensor(un))
            tr = tfn(tx, k, output_ratio=(0.5,) * d, _random_samples=torch.tensor(un))
            np.testing.assert_array_equal(r.detach().numpy(), tr.detach().numpy())


# ----------------------------------------------------------------------------- CrossMapLRN2d
def _lrn_by_hand(x: np.ndarray, size: int, alpha: float, beta: float, k: float) -> np.ndarray:
    C, h = x.shape[1], (size - 1) // 2
    out = np.empty_like(x)
    for c in range(C):
        win = set(range(max(0, c - h), min(C, c + h + 1))) | {0}
        s = sum(x[:, j] ** 2 for j in win)
        out[:, c] = x[:, c] * (k + alpha / size * s) ** (-beta)
    return out


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 8])
def test_cross_map_lrn_by_hand_and_gradcheck(size):
    x = R.standard_normal((2, 6, 3, 2))
    y = nn.CrossMapLRN2d(size, alpha=0.3, beta=0.6, k=1.2)(cr.tensor(x))
    np.testing.assert_allclose(y.numpy(), _lrn_by_hand(x, size, 0.3, 0.6, 1.2), rtol=1e-12)
    xt = cr.tensor(R.standard_normal((1, 4, 2, 2)), requires_grad=True)
    m = nn.CrossMapLRN2d(size, alpha=0.3, beta=0.6, k=1.2)
    assert gradcheck(m, [xt])
    assert gradgradcheck(m, [xt])


def test_cross_map_lrn_is_local_response_norm_away_from_channel_0():
    x = cr.tensor(R.standard_normal((2, 3, 4, 4)))
    # with 3 channels and size 5, every window holds all channels: LocalResponseNorm's too
    np.testing.assert_allclose(nn.CrossMapLRN2d(5, 0.2, 0.7, 2.0)(x).numpy(),
                               nn.LocalResponseNorm(5, 0.2, 0.7, 2.0)(x).numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="Expected input to be 4D"):
        nn.CrossMapLRN2d(3)(cr.randn(2, 3, 4))


def test_cross_map_lrn_values_against_pytorch():
    torch = pytest.importorskip("torch")
    x = R.standard_normal((2, 7, 3, 4))
    for size in (1, 2, 3, 4, 5, 6, 9):
        ours = nn.CrossMapLRN2d(size, alpha=0.5, beta=0.7, k=1.5)(cr.tensor(x)).numpy()
        theirs = torch.nn.CrossMapLRN2d(size, alpha=0.5, beta=0.7, k=1.5)(torch.tensor(x)).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, err_msg=f"size {size}")
