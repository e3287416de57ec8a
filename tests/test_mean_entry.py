"""The table's mean (backend/numpy_backend.py) gives ndarray.mean's result: its value bit for
bit, its dtype and its type (a NumPy scalar for a full reduction, an array otherwise)."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.backend import ArrayMath


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int32])
@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_mean_is_ndarray_mean(dtype, axis, keepdims):
    rng = np.random.default_rng(0)
    for scale in (1e-6, 1.0, 1e6 if dtype != np.float16 else 10.0):
        x = (rng.standard_normal((7, 333)) * scale).astype(dtype)
        got, want = ArrayMath.mean(x, axis, keepdims), x.mean(axis=axis, keepdims=keepdims)
        assert type(got) is type(want)
        assert np.asarray(got).dtype == np.asarray(want).dtype
        assert np.array_equal(got, want)


def test_mean_of_a_column_and_of_nothing():
    x = np.random.default_rng(1).standard_normal((64, 1)).astype(np.float32)
    assert ArrayMath.mean(x, (0, 1)) == x.mean()
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        assert np.isnan(ArrayMath.mean(np.zeros((0, 3), np.float32)))
