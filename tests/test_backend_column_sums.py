"""The table's ``sum`` over axis 0 of a 2-D float array (a Linear layer's bias gradient) is a
product with a vector of ones on BLAS: the column sums, to rounding, NaN and inf carried; other
sums are NumPy's reduce, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.backend import ArrayMath


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(64, 32), (2, 1), (300, 7), (1024, 10)])
def test_column_sums_are_the_sums_to_rounding(dtype, shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    got = ArrayMath.sum(x, 0)
    exact = np.add.reduce(x.astype(np.longdouble), 0)
    assert got.dtype == dtype and got.shape == (shape[1],)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, exact.astype(np.float64), rtol=tol, atol=tol * shape[0])
    np.testing.assert_allclose(ArrayMath.sum(x.T.copy().T, (0,)), got, rtol=tol, atol=tol * shape[0])  # (strided)


@pytest.mark.filterwarnings("ignore:invalid value encountered")  # (inf - inf, as NumPy's reduce warns)
def test_column_sums_carry_nan_and_inf():
    x = np.ones((5, 4), np.float32)
    x[2, 0], x[1, 1], x[3, 2], x[4, 2] = np.nan, np.inf, np.inf, -np.inf
    got = ArrayMath.sum(x, 0)
    assert np.isnan(got[0]) and got[1] == np.inf and np.isnan(got[2]) and got[3] == 5.0


_X = np.random.default_rng(1).standard_normal((6, 5)).astype(np.float32)


@pytest.mark.parametrize("got,want", [
    (lambda: ArrayMath.sum(_X, 0, keepdims=True), lambda: np.add.reduce(_X, 0, keepdims=True)),
    (lambda: ArrayMath.sum(_X, 1), lambda: np.add.reduce(_X, 1)),
    (lambda: ArrayMath.sum(_X), lambda: np.add.reduce(_X, None)),
    (lambda: ArrayMath.sum(_X[:1], 0), lambda: np.add.reduce(_X[:1], 0)),
    (lambda: ArrayMath.sum(_X.astype(np.int64), 0), lambda: np.add.reduce(_X.astype(np.int64), 0)),
], ids=["keepdims", "axis 1", "all", "one row", "integers"])
def test_other_sums_are_numpys_reduce(got, want):
    a, b = got(), want()
    assert a.dtype == b.dtype and np.array_equal(a, b)
