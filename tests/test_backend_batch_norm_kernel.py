"""Training-mode batch norm's table entries (kernels/batch_norm.c, channels split over threads):
against the definition written out in float64 and against their NumPy twins, for NCHW input, a
convolution's batch-last output and 1-D maps, both dtypes, with and without the input gradient,
a gradient arriving in another layout than the input, and the twins' cases (short runs per
channel); threads change nothing."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.backend import ArrayMath, native, norm_math
from chainrule.backend.norm_math import batch_norm_train_twin, batch_norm_train_vjp_twin

EPS = 1e-5


def _kernel_on():
    if native.load("batch_norm") is None:
        pytest.skip(native.status("batch_norm"))


def _layouts(shape, dtype, seed):
    """x (N, C, ...) as C-ordered NCHW and as a batch-last map (C, ..., N in memory)."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3 + 1.5).astype(dtype)
    batch_last = np.moveaxis(np.ascontiguousarray(np.moveaxis(x, 0, -1)), -1, 0)
    return [x, batch_last]


def _definition(x, w, b, g):
    """(y, xhat, mean, var, gx, gw, gb) in float64, written out from the formulas."""
    x, w, b, g = (a.astype(np.float64) for a in (x, w, b, g))
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    m = x.size // x.shape[1]
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    xhat = (x - mean) / np.sqrt(var + EPS)
    y = xhat * w.reshape(shape) + b.reshape(shape)
    gb = g.sum(axis=axes, keepdims=True)
    gw = (g * xhat).sum(axis=axes, keepdims=True)
    gx = w.reshape(shape) / np.sqrt(var + EPS) * (g - gb / m - xhat * gw / m)
    return y, xhat, mean, var, gx, gw, gb


SHAPES = [(4, 3, 5, 6), (2, 5, 17), (3, 2, 4, 4, 2), (1, 4, 8, 8)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_kernel_is_the_definition_and_agrees_with_its_twin(shape, dtype):
    _kernel_on()
    tol = dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)
    rng = np.random.default_rng(1)
    c = shape[1]
    w = rng.standard_normal(c).astype(dtype)
    b = rng.standard_normal(c).astype(dtype)
    axes = (0,) + tuple(range(2, len(shape)))
    for x in _layouts(shape, dtype, seed=2):
        assert norm_math._runs(x) is not None  # (the kernel's case)
        g = rng.standard_normal(shape).astype(dtype)
        y, mean, var, inv, xhat = ArrayMath.batch_norm_train(x, w, b, axes, EPS)
        assert y.strides == x.strides and xhat.strides == x.strides  # x's layout kept
        want = _definition(x, w, b, g)
        for got, ref in zip((y, xhat, mean, var), want[:4]):
            np.testing.assert_allclose(got, ref, **tol)
        np.testing.assert_allclose(inv, 1 / np.sqrt(want[3] + EPS), **tol)
        twin = batch_norm_train_twin(x, w, b, axes, EPS)
        for got, ref in zip((y, mean, var, inv, xhat), twin):
            assert got.dtype == ref.dtype and got.shape == ref.shape
            np.testing.assert_allclose(got, ref, **tol)
        for need_x in (True, False):
            gx, gw, gb = ArrayMath.batch_norm_train_vjp(g, xhat, inv, w, axes, need_x)
            np.testing.assert_allclose(gw, want[5], **tol)
            np.testing.assert_allclose(gb, want[6], **tol)
            tw = batch_norm_train_vjp_twin(g, xhat, inv, w, axes, need_x)
            np.testing.assert_allclose(gw, tw[1], **tol)
            assert gw.shape == tw[1].shape and gb.shape == tw[2].shape
            if need_x:
                np.testing.assert_allclose(gx, want[4], **tol)
                np.testing.assert_allclose(gx, tw[0], **tol)
            else:
                assert gx is None


def test_a_gradient_in_another_layout_is_read_in_the_inputs():
    _kernel_on()
    x = _layouts((3, 4, 6, 5), np.float64, seed=3)[1]  # batch-last
    g = np.random.default_rng(4).standard_normal(x.shape)  # NCHW
    w, b = np.linspace(0.5, 2, 4), np.linspace(-1, 1, 4)
    axes = (0, 2, 3)
    _, _, _, inv, xhat = ArrayMath.batch_norm_train(x, w, b, axes, EPS)
    gx, gw, gb = ArrayMath.batch_norm_train_vjp(g, xhat, inv, w, axes, True)
    want = _definition(x, w, b, g)
    for got, ref in zip((gx, gw, gb), want[4:]):
        np.testing.assert_allclose(got, ref, rtol=1e-11, atol=1e-11)


def test_short_runs_take_the_twins():
    """BatchNorm1d's (N, C): one element per channel per row, the twins' case."""
    x = np.random.default_rng(5).standard_normal((6, 3))
    assert norm_math._runs(x) is None
    w, b = np.ones(3), np.zeros(3)
    y, *_ = ArrayMath.batch_norm_train(x, w, b, (0,), EPS)
    np.testing.assert_allclose(y, _definition(x, w, b, x)[0], rtol=1e-11, atol=1e-11)


def test_threads_change_nothing(three_threads):
    _kernel_on()
    x = _layouts((4, 6, 8, 8), np.float32, seed=6)[1]
    g = np.random.default_rng(7).standard_normal(x.shape).astype(np.float32)
    w, b = np.linspace(0.5, 2, 6, dtype=np.float32), np.linspace(-1, 1, 6, dtype=np.float32)
    axes = (0, 2, 3)

    def run():
        y, mean, var, inv, xhat = ArrayMath.batch_norm_train(x, w, b, axes, EPS)
        return (y.copy(), mean, var, inv, xhat.copy()) + ArrayMath.batch_norm_train_vjp(g, xhat, inv, w, axes, True)

    one = run()
    calls = three_threads(norm_math)
    three = run()
    assert calls == [6, 6]  # (the channels, split into ranges)
    for a, b_ in zip(one, three):
        np.testing.assert_array_equal(a, b_)
