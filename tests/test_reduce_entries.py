"""The table's ``sum`` and ``mean`` call the ufunc's reduce themselves (no NumPy Python wrapper):
they must give NumPy's own results bit for bit, type and dtype included."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from chainrule.backend import ArrayMath as m

CASES = [((7, 5, 3), None, False), ((7, 5, 3), 1, True), ((7, 5, 3), (0, 2), False), ((7, 5, 3), -1, False),
         ((4,), 0, False), ((), None, False), ((100_003,), None, False), ((0, 3), 0, False), ((2, 0), None, True)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int64, np.bool_])
@pytest.mark.parametrize("shape,axis,keepdims", CASES)
def test_sum_and_mean_are_numpys_bit_for_bit(dtype, shape, axis, keepdims):
    x = (np.random.default_rng(0).standard_normal(shape) * 1e3 + 5).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = m.mean(x, axis, keepdims)
    for got, want in ((m.sum(x, axis, keepdims), x.sum(axis=axis, keepdims=keepdims)),
                      (mean, _quiet_mean(x, axis, keepdims))):
        assert type(got) is type(want)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def _quiet_mean(x, axis, keepdims):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the mean of nothing: NaN, with a warning
        return x.mean(axis=axis, keepdims=keepdims)
