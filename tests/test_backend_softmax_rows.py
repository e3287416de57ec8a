"""backend.softmax_rows.shifted_exp: z = x - max, e = exp(z), s = Σ e per row, compiled and NumPy,
against the definition computed here in float64."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.backend import softmax_rows

KERNEL = (softmax_rows, "softmax_rows")  # for the kernel_path fixture (conftest.py)


@pytest.mark.parametrize("dtype, tol", [(np.float32, 2e-6), (np.float64, 1e-14)])
@pytest.mark.parametrize("C", [1, 7, 65])
def test_matches_the_definition(kernel_path, dtype, tol, C):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((50, C)) * 10).astype(dtype)  # e down to ~e^-80: no denormals
    z, e = np.empty_like(x), np.empty_like(x)
    s = softmax_rows.shifted_exp(x, z, e)
    x64 = x.astype(np.float64)
    z_ref = x64 - x64.max(axis=1, keepdims=True)
    np.testing.assert_allclose(z, z_ref, rtol=tol, atol=tol)
    # relative error of e^z: a few ulp, plus |z|·ε from rounding z itself to the working precision
    e_ref = np.exp(z_ref)
    assert np.all(np.abs(e - e_ref) <= (tol + np.abs(z_ref) * np.finfo(dtype).eps) * e_ref)
    np.testing.assert_allclose(s, np.exp(z_ref).sum(axis=1), rtol=10 * tol)
    assert z.max() == 0 and (e <= 1).all()


def test_rows_with_a_non_finite_maximum_are_not_shifted(kernel_path):
    """The convention of ops/reduction.py: a row whose maximum is ±inf or NaN is shifted by 0."""
    x = np.array([[1.0, np.nan, 2.0], [1.0, np.inf, 2.0], [-np.inf, -np.inf, -np.inf], [0.0, -np.inf, 1.0]],
                 dtype=np.float32)
    z, e = np.empty_like(x), np.empty_like(x)
    with np.errstate(invalid="ignore"):
        s = softmax_rows.shifted_exp(x, z, e)
    np.testing.assert_array_equal(z[:3], x[:3])  # no shift
    assert np.isnan(e[0, 1]) and np.isnan(s[0])  # a NaN logit: a NaN sum
    assert e[1, 1] == np.inf and s[1] == np.inf
    np.testing.assert_array_equal(e[2], 0.0)  # all -inf: e^-inf = 0, s = 0
    assert s[2] == 0.0
    np.testing.assert_allclose(e[3], [np.exp(-1.0), 0.0, 1.0], rtol=1e-6)  # shifted by its maximum 1
