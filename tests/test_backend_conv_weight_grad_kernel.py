"""The direct weight gradient of one-input-channel convolutions (backend/conv_weight_grad.py,
kernels/conv_weight_grad.c): against the definition written out with np.pad and einsum in
float64, every geometry it covers; the layers take it exactly where its rule says; the
gradients through conv1d/conv2d against finite differences and, where installed, PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.autograd import gradcheck
from chainrule.backend import conv_weight_grad, native
from chainrule.backend.numpy_backend import ArrayMath

needs_kernel = pytest.mark.skipif(native.load("conv_weight_grad") is None,
                                  reason=f"no compiled kernel: {native.status('conv_weight_grad')}")


def _definition(x: np.ndarray, g: np.ndarray, k: tuple, dilation: tuple, pads: tuple) -> np.ndarray:
    """gw[o, c, kh, kw] = Σ_{n, i, j} g[n, o, i, j] · xpad[n, c, i + kh·dh, j + kw·dw], in float64."""
    x, g = x.astype(np.float64), g.astype(np.float64)
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple(pads))
    oh, ow = g.shape[2:]
    gw = np.zeros((g.shape[1], x.shape[1]) + tuple(k))
    for kh in range(k[0]):
        for kw in range(k[1]):
            win = xp[:, :, kh * dilation[0]: kh * dilation[0] + oh, kw * dilation[1]: kw * dilation[1] + ow]
            gw[:, :, kh, kw] = np.einsum("noij,ncij->oc", g, win)
    return gw


GEOMETRIES = [  # (N, O, H, W, KH, KW, dilation, pads)
    (64, 6, 28, 28, 5, 5, (1, 1), ((2, 2), (2, 2))),  # LeNet-5's first layer
    (3, 4, 9, 11, 3, 3, (1, 1), ((0, 0), (0, 0))),
    (2, 5, 8, 7, 3, 2, (2, 3), ((1, 2), (0, 3))),  # dilated, uneven padding on both axes
    (2, 3, 6, 6, 6, 6, (1, 1), ((0, 0), (0, 0))),  # the kernel as large as the plane: one output
    (5, 7, 5, 40, 1, 7, (1, 1), ((0, 0), (3, 3))),  # one row (a 1-D layer's shape)
    (1, 1, 1, 1, 1, 1, (1, 1), ((0, 0), (0, 0))),
    (2, 2, 4, 4, 3, 3, (1, 1), ((3, 3), (3, 3))),  # padding wider than the kernel's reach
]


@needs_kernel
@pytest.mark.parametrize("dtype, tol", [(np.float32, 2e-6), (np.float64, 1e-13)])
@pytest.mark.parametrize("geo", GEOMETRIES)
def test_the_kernel_computes_the_definition(geo, dtype, tol):
    n, o, h, w, kh, kw, dil, pads = geo
    rng = np.random.default_rng(0)
    oh = h + sum(pads[0]) - dil[0] * (kh - 1)
    ow = w + sum(pads[1]) - dil[1] * (kw - 1)
    x = rng.standard_normal((n, 1, h, w)).astype(dtype)
    g = rng.standard_normal((n, o, oh, ow)).astype(dtype)
    got = ArrayMath.conv_weight_grad_direct(x, g, (o, 1, kh, kw), dil, pads)
    want = _definition(x, g, (kh, kw), dil, pads)
    assert got.dtype == dtype and got.shape == want.shape
    assert np.abs(got - want).max() <= tol * np.abs(want).max()


@needs_kernel
def test_strided_views_are_read_as_their_values():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 1, 10, 12)).transpose(0, 1, 3, 2)  # (4, 1, 12, 10), not C-ordered
    g = rng.standard_normal((4, 3, 10, 8))[..., ::-1]  # reversed columns: negative strides
    got = ArrayMath.conv_weight_grad_direct(x, g, (3, 1, 3, 3), (1, 1), ((0, 0), (0, 0)))
    np.testing.assert_allclose(got, _definition(x, g, (3, 3), (1, 1), ((0, 0), (0, 0))), rtol=1e-12, atol=1e-12)


@needs_kernel
def test_an_empty_batch_gives_zeros():
    x = np.zeros((0, 1, 5, 5), np.float32)
    g = np.zeros((0, 2, 3, 3), np.float32)
    got = ArrayMath.conv_weight_grad_direct(x, g, (2, 1, 3, 3), (1, 1), ((0, 0), (0, 0)))
    assert got.shape == (2, 1, 3, 3) and not got.any()


def test_other_dtypes_answer_none():
    x = np.ones((1, 1, 4, 4), np.float16)
    assert ArrayMath.conv_weight_grad_direct(x, x, (1, 1, 1, 1), (1, 1), ((0, 0), (0, 0))) is None


@pytest.mark.parametrize("x_shape, w_shape, stride, groups, covered", [
    ((8, 1, 28, 28), (6, 1, 5, 5), (1, 1), 1, True),
    ((8, 1, 100), (4, 1, 9), (1,), 1, True),
    ((8, 3, 32, 32), (16, 3, 3, 3), (1, 1), 1, False),  # more than one input channel
    ((8, 1, 28, 28), (6, 1, 5, 5), (2, 2), 1, False),  # strided
    ((8, 2, 28, 28), (6, 1, 5, 5), (1, 1), 2, False),  # grouped
    ((8, 1, 6, 6, 6), (2, 1, 3, 3, 3), (1, 1, 1), 1, False),  # 3-D
])
def test_the_rule(x_shape, w_shape, stride, groups, covered):
    assert conv_weight_grad.covers(x_shape, w_shape, stride, groups) is covered


def _counting(monkeypatch):
    calls = []
    entry = ArrayMath.conv_weight_grad_direct

    def counted(*args, **kwargs):
        out = entry(*args, **kwargs)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(ArrayMath, "conv_weight_grad_direct", staticmethod(counted))
    return calls


@needs_kernel
@pytest.mark.parametrize("dtype", [cr.float32, cr.float64])
def test_conv2d_takes_it_for_one_input_channel_and_not_for_three(monkeypatch, dtype):
    calls = _counting(monkeypatch)
    w1 = cr.randn(4, 1, 3, 3, dtype=dtype, requires_grad=True)
    F.conv2d(cr.randn(2, 1, 8, 8, dtype=dtype), w1, padding=1).sum().backward()
    assert calls == [True]
    w3 = cr.randn(4, 3, 3, 3, dtype=dtype, requires_grad=True)
    F.conv2d(cr.randn(2, 3, 8, 8, dtype=dtype), w3, padding=1).sum().backward()
    F.conv2d(cr.randn(2, 1, 8, 8, dtype=dtype), w1, stride=2).sum().backward()
    assert calls == [True]


@pytest.mark.parametrize("case", [
    dict(shape=(3, 1, 7, 6), w=(4, 1, 3, 2), kw=dict(padding=(1, 2), dilation=(1, 2))),
    dict(shape=(2, 1, 6, 6), w=(3, 1, 3, 3), kw=dict(padding="same")),
    dict(shape=(0, 1, 5, 5), w=(2, 1, 3, 3), kw=dict()),
])
def test_conv2d_gradients_pass_gradcheck(case):
    rng = np.random.default_rng(2)
    x = cr.tensor(rng.standard_normal(case["shape"]), requires_grad=True)
    w = cr.tensor(rng.standard_normal(case["w"]), requires_grad=True)
    b = cr.tensor(rng.standard_normal(case["w"][0]), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, **case["kw"]), (x, w, b))


def test_conv1d_gradients_pass_gradcheck():
    rng = np.random.default_rng(3)
    x = cr.tensor(rng.standard_normal((3, 1, 20)), requires_grad=True)
    w = cr.tensor(rng.standard_normal((5, 1, 4)), requires_grad=True)
    assert gradcheck(lambda x, w: F.conv1d(x, w, padding=2, dilation=3), (x, w))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lenet_first_layer_gradients_match_pytorch(dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((16, 1, 28, 28)).astype(dtype)
    w = rng.standard_normal((6, 1, 5, 5)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)
    g = rng.standard_normal((16, 6, 28, 28)).astype(dtype)
    ours = [cr.tensor(a, requires_grad=True) for a in (x, w, b)]
    F.conv2d(*ours, padding=2).backward(cr.tensor(g))
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    torch.nn.functional.conv2d(*theirs, padding=2).backward(torch.tensor(g))
    tol = 2e-5 if dtype == "float32" else 1e-12
    for a, t in zip(ours, theirs):
        want = t.grad.double().numpy()
        assert np.abs(a.grad.numpy() - want).max() <= tol * np.abs(want).max()

