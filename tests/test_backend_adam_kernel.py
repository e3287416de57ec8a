"""The optimisers' one-pass table entries (Adam's moments, SGD's momentum step): the compiled
kernels (kernels/adam.c) give their NumPy twins' bits, for float32 and float64, with and without
AMSGrad / Nesterov, NaN and inf included."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.backend import ArrayMath, native
from chainrule.backend.optim_math import adam_moments_twin


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("amsgrad", [False, True])
def test_kernel_gives_the_twins_bits(dtype, amsgrad):
    if native.load("adam") is None:
        pytest.skip(native.status("adam"))
    rng = np.random.default_rng(0)
    n = 5001
    g = rng.standard_normal(n).astype(dtype)
    g[7] = np.nan
    start = [rng.random(n).astype(dtype) for _ in range(3)]
    scalars = [np.array(v, dtype) for v in (0.9, 0.1, 0.999, 1e-3, 3.3e-4, 1e-8 * 0.7)]
    results = []
    for fn in (ArrayMath.adam_moments, adam_moments_twin):
        ma, s, smax = (a.copy() for a in start)
        t = np.empty(n, dtype)
        fn(g, ma, s, smax if amsgrad else None, t, *scalars)
        results.append((ma, s, smax, t))
    for a, b in zip(*results):
        assert np.array_equal(a, b, equal_nan=True)
    assert np.isnan(results[0][3][7]) and not np.isnan(results[0][3][8])


def test_strided_arrays_take_the_twin():
    g = np.arange(8, dtype=np.float32)[::2]
    ma, s = np.zeros(4, np.float32), np.zeros(4, np.float32)
    t = np.empty(4, np.float32)
    one = np.array(0.5, np.float32)
    ArrayMath.adam_moments(g, ma, s, None, t, one, one, one, one, one, one)
    np.testing.assert_array_equal(ma, g * np.float32(0.5))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_kernel_gives_the_twins_bits(dtype, nesterov):
    from chainrule.backend.optim_math import sgd_momentum_twin

    if native.load("adam") is None:
        pytest.skip(native.status("adam"))
    rng = np.random.default_rng(1)
    n = 5001
    g = rng.standard_normal(n).astype(dtype)
    g[3] = np.inf
    w0, v0 = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    mu, lr = np.array(0.9, dtype), np.array(0.01, dtype)
    results = []
    for fn in (ArrayMath.sgd_momentum, sgd_momentum_twin):
        w, v = w0.copy(), v0.copy()
        fn(w, g, v, np.empty(n, dtype), mu, lr, nesterov)
        results.append((w, v))
    for a, b in zip(*results):
        assert np.array_equal(a, b, equal_nan=True)
    assert not np.array_equal(results[0][0], w0)
