"""Pooling: forward against loops over the windows, gradients by finite differences (no ties)."""

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck

RNG = np.random.default_rng(1)


def distinct(*shape):
    """Values all different (no ties in a max), spread out more than gradcheck's eps."""
    return RNG.permutation(math.prod(shape)).reshape(shape) / 7.0 - 3.0


def out_len(n, k, s, p, d, ceil_mode):
    span = n + 2 * p - d * (k - 1) - 1
    if not ceil_mode:
        return span // s + 1
    out = -(-span // s) + 1
    if (out - 1) * s >= n + p:
        out -= 1
    return out


def ref_pool2d(x, k, s, p, d, ceil_mode, kind, count_include_pad=True):
    """Loops: each output is the max / mean of its window; padding is -inf (max) or 0 (avg)."""
    n, c, h, w = x.shape
    ho = out_len(h, k[0], s[0], p[0], d[0], ceil_mode)
    wo = out_len(w, k[1], s[1], p[1], d[1], ceil_mode)
    out = np.zeros((n, c, ho, wo))
    for a in range(n):
        for ch in range(c):
            for i in range(ho):
                for j in range(wo):
                    vals, window = [], 0
                    for u in range(k[0]):
                        for v in range(k[1]):
                            r = i * s[0] + u * d[0] - p[0]
                            q = j * s[1] + v * d[1] - p[1]
                            # PyTorch's avg window: clipped to the padded input (ceil overhang excluded)
                            if -p[0] <= r < h + p[0] and -p[1] <= q < w + p[1]:
                                window += 1
                            if 0 <= r < h and 0 <= q < w:
                                vals.append(x[a, ch, r, q])
                    if kind == "max":
                        out[a, ch, i, j] = max(vals)
                    else:
                        out[a, ch, i, j] = sum(vals) / (window if count_include_pad else len(vals))
    return out


MAX_CASES = [
    # kernel, stride, padding, dilation, ceil_mode
    ((2, 2), None, (0, 0), (1, 1), False),
    ((3, 3), (2, 2), (1, 1), (1, 1), False),
    ((3, 2), (2, 1), (1, 0), (1, 2), True),
    ((2, 2), (2, 2), (0, 0), (1, 1), True),
    ((2, 3), (1, 2), (1, 1), (2, 1), False),
]


@pytest.mark.parametrize("k, s, p, d, ceil_mode", MAX_CASES)
def test_max_pool2d_forward_and_gradcheck(k, s, p, d, ceil_mode):
    x = distinct(2, 2, 7, 6)
    y = F.max_pool2d(cr.tensor(x), k, s, p, d, ceil_mode)
    np.testing.assert_array_equal(y.data, ref_pool2d(x, k, s or k, p, d, ceil_mode, "max"))
    xt = cr.tensor(x[:1], requires_grad=True)
    assert gradcheck(lambda t: F.max_pool2d(t, k, s, p, d, ceil_mode), (xt,))


def test_max_pool2d_gradient_goes_to_first_max_on_ties():
    x = cr.tensor(np.array([[[[1.0, 1.0], [0.0, 1.0]]]]), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[[[1.0, 0.0], [0.0, 0.0]]]])


def test_max_pool2d_overlapping_windows_accumulate_and_second_order():
    x = cr.tensor(np.array([[[[0.0, 5.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]]), requires_grad=True)
    F.max_pool2d(x, 2, stride=1).sum().backward()  # 5 is the max of both top windows
    assert x.grad.data[0, 0, 0, 1] == 2.0 and x.grad.data.sum() == 4.0
    xt = cr.tensor(distinct(1, 1, 4, 4), requires_grad=True)
    assert gradgradcheck(lambda t: F.max_pool2d(t, 2, 1) ** 2, (xt,))


def test_max_pool2d_return_indices():
    x = distinct(2, 3, 5, 4)
    y, idx = F.max_pool2d(cr.tensor(x), 2, return_indices=True)
    assert idx.dtype == np.int64 and idx.shape == y.shape
    flat = x.reshape(2, 3, -1)
    np.testing.assert_array_equal(np.take_along_axis(flat, idx.data.reshape(2, 3, -1), 2), y.data.reshape(2, 3, -1))
    y1, i1 = F.max_pool1d(cr.tensor(x[:, :, 0]), 3, 1, 1, return_indices=True)
    np.testing.assert_array_equal(np.take_along_axis(x[:, :, 0], i1.data, 2), y1.data)


def test_max_pool1d_forward_and_gradcheck():
    x = distinct(2, 3, 9)
    y = F.max_pool1d(cr.tensor(x), 3, 2, 1, 2)
    ref = ref_pool2d(x[:, :, None, :], (1, 3), (1, 2), (0, 1), (1, 2), False, "max")[:, :, 0]
    np.testing.assert_array_equal(y.data, ref)
    xt = cr.tensor(x[:1], requires_grad=True)
    assert gradcheck(lambda t: F.max_pool1d(t, 2, ceil_mode=True), (xt,))


AVG_CASES = [
    ((2, 2), None, (0, 0), False, True),
    ((3, 3), (2, 2), (1, 1), False, True),
    ((3, 3), (2, 2), (1, 1), False, False),
    ((3, 2), (2, 2), (1, 1), True, True),
    ((3, 2), (2, 2), (1, 0), True, False),
]


@pytest.mark.parametrize("k, s, p, ceil_mode, count_include_pad", AVG_CASES)
def test_avg_pool2d_forward_and_gradcheck(k, s, p, ceil_mode, count_include_pad):
    x = RNG.standard_normal((2, 2, 7, 6))
    y = F.avg_pool2d(cr.tensor(x), k, s, p, ceil_mode, count_include_pad)
    ref = ref_pool2d(x, k, s or k, p, (1, 1), ceil_mode, "avg", count_include_pad)
    np.testing.assert_allclose(y.data, ref, atol=1e-12)
    xt = cr.tensor(x[:1], requires_grad=True)
    assert gradcheck(lambda t: F.avg_pool2d(t, k, s, p, ceil_mode, count_include_pad), (xt,))


def test_avg_pool1d_and_divisor_override():
    x = RNG.standard_normal((1, 2, 7))
    y = F.avg_pool1d(cr.tensor(x), 3, 2, 1)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1)))
    ref = np.stack([xp[:, :, i * 2:i * 2 + 3].sum(-1) / 3 for i in range(4)], -1)
    np.testing.assert_allclose(y.data, ref, atol=1e-12)
    y2 = F.avg_pool2d(cr.tensor(x[:, :, None, :6]), (1, 2), divisor_override=1)
    np.testing.assert_allclose(y2.data[:, :, 0], x[:, :, 0:6:2] + x[:, :, 1:6:2], atol=1e-12)


def ref_adaptive(x, oh, ow):
    n, c, h, w = x.shape
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        h0, h1 = (i * h) // oh, -(-((i + 1) * h) // oh)
        for j in range(ow):
            w0, w1 = (j * w) // ow, -(-((j + 1) * w) // ow)
            out[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return out


@pytest.mark.parametrize("size, expect", [((3, 4), (3, 4)), (1, (1, 1)), (2, (2, 2)), ((None, 2), (7, 2)),
                                          ((5, 6), (5, 6))])
def test_adaptive_avg_pool2d(size, expect):
    x = RNG.standard_normal((2, 2, 7, 6))
    y = F.adaptive_avg_pool2d(cr.tensor(x), size)
    assert y.shape == (2, 2) + expect
    np.testing.assert_allclose(y.data, ref_adaptive(x, *expect), atol=1e-12)
    xt = cr.tensor(x[:1, :1], requires_grad=True)
    assert gradcheck(lambda t: F.adaptive_avg_pool2d(t, size), (xt,))


def test_adaptive_avg_pool1d():
    x = RNG.standard_normal((1, 2, 5))
    y = F.adaptive_avg_pool1d(cr.tensor(x), 3)  # bins [0,2) [1,4) [3,5)
    ref = np.stack([x[..., 0:2].mean(-1), x[..., 1:4].mean(-1), x[..., 3:5].mean(-1)], -1)
    np.testing.assert_allclose(y.data, ref, atol=1e-12)


def test_pooling_errors():
    with pytest.raises(ValueError, match="expected 4-D input"):
        F.max_pool2d(cr.zeros(4, 4), 2)
    with pytest.raises(ValueError, match="at most half"):
        F.max_pool2d(cr.zeros(1, 1, 4, 4), 2, padding=2)
    with pytest.raises(ValueError, match="too small"):
        F.avg_pool2d(cr.zeros(1, 1, 2, 2), 3)


@pytest.mark.parametrize("call", [
    lambda x: F.max_pool3d(x, 2),
    lambda x: F.avg_pool3d(x, 2),
    lambda x: F.adaptive_avg_pool3d(x, 1),
    lambda x: F.conv3d(x, cr.zeros(1, 2, 1, 1, 1)),
], ids=["max_pool3d", "avg_pool3d", "adaptive_avg_pool3d", "conv3d"])
def test_3d_layers_refuse_input_of_the_wrong_rank(call):
    # (N, C, D, H, W) or unbatched (C, D, H, W); a 2-D input is neither and is named as such
    expected = r"expected 5-D input \(N, C, D, H, W\) \(or 4-D unbatched\), got shape \(2, 3\)"
    with pytest.raises(ValueError, match=expected):
        call(cr.zeros(2, 3))


def test_max_pool_without_a_graph_gives_the_same_values_indices_and_tangents(monkeypatch):
    """Under no_grad (inference) max pooling computes the maxima alone, without the argmaxes,
    unless something can ask for them: the same values (NaN, -inf, ties, padding and overlapping
    windows included), and still correct indices (return_indices) and forward-mode tangents."""
    from chainrule.ops import window

    rng = np.random.default_rng(3)
    a = rng.standard_normal((2, 3, 7, 6))
    a[0, 0, 1, 1], a[1, 2, 4, 3], a[0, 1, 2:4, 2:4] = np.nan, -np.inf, 0.5  # NaN, -inf and ties
    kept = []
    real = window.MaxPool.__init__

    def spy(self, *args):
        real(self, *args)
        kept.append(self.keep_argmax)

    monkeypatch.setattr(window.MaxPool, "__init__", spy)
    x = cr.tensor(a, requires_grad=True)
    args = dict(kernel_size=3, stride=2, padding=1)
    y_grad, i_grad = F.max_pool2d(x, return_indices=True, **args)
    with cr.no_grad():
        y = F.max_pool2d(x, **args)
        y_idx, i_idx = F.max_pool2d(x, return_indices=True, **args)
    assert kept == [True, False, True]
    # the definition: the max over each 3x3 window (stride 2) of the input padded with -inf
    padded = np.pad(a, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(2, 3))[:, :, ::2, ::2]
    expected = windows.max(axis=(-2, -1))  # (NaN propagates, as PyTorch's)
    for out in (y, y_idx, y_grad.detach()):
        np.testing.assert_array_equal(out.numpy(), expected)
    # the indices point at the maxima (NaN windows excepted: any NaN is their max)
    flat = a.reshape(2, 3, -1)
    at = np.take_along_axis(flat, i_idx.numpy().reshape(2, 3, -1), axis=2).reshape(expected.shape)
    finite = ~np.isnan(expected)
    np.testing.assert_array_equal(at[finite], expected[finite])
    np.testing.assert_array_equal(i_idx.numpy(), i_grad.numpy())

    from chainrule.autograd import forward_ad as fwAD

    v = rng.standard_normal(a.shape)
    b = np.nan_to_num(a, nan=0.0, neginf=-5.0)
    with fwAD.dual_level(), cr.no_grad():
        _, tangent = fwAD.unpack_dual(F.max_pool2d(fwAD.make_dual(cr.tensor(b), cr.tensor(v)), **args))
    assert kept[-1] is True
    _, idx = F.max_pool2d(cr.tensor(b), return_indices=True, **args)
    flat = v.reshape(2, 3, -1)
    expected = np.take_along_axis(flat, idx.numpy().reshape(2, 3, -1), axis=2).reshape(tangent.shape)
    np.testing.assert_array_equal(tangent.numpy(), expected)
