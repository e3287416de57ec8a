"""Adam's moment update as one table entry: the compiled kernel (kernels/adam.c) gives its NumPy
twin's bits, for float32 and float64, with and without AMSGrad, NaN included."""

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
