"""backend.softmax_rows.shifted_exp: z = x - max, e = exp(z), s = Σ e per row, compiled and NumPy,
against the definition computed here in float64."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import kernel_or_numpy

from chainrule.backend import softmax_rows


@pytest.fixture(params=["compiled", "numpy"])
def path(request, monkeypatch):
    return kernel_or_numpy(request, monkeypatch, softmax_rows, "softmax_rows")


@pytest.mark.parametrize("dtype, tol", [(np.float32, 2e-6), (np.float64, 1e-14)])
@pytest.mark.parametrize("C", [1, 7, 65])
def test_matches_the_definition(path, dtype, tol, C):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((50, C)) * 30).astype(dtype)
    z, e = np.empty_like(x), np.empty_like(x)
    s = softmax_rows.shifted_exp(x, z, e)
    x64 = x.astype(np.float64)
    z_ref = x64 - x64.max(axis=1, keepdims=True)
    np.testing.assert_allclose(z, z_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(e, np.exp(z_ref), rtol=tol, atol=tol)
    np.testing.assert_allclose(s, np.exp(z_ref).sum(axis=1), rtol=10 * tol)
    assert z.max() == 0 and (e <= 1).all()


def test_nan_and_infinite_rows(path):
    x = np.array([[1.0, np.nan, 2.0], [1.0, np.inf, 2.0], [-np.inf, -np.inf, -np.inf], [0.0, -np.inf, 1.0]],
                 dtype=np.float32)
    z, e = np.empty_like(x), np.empty_like(x)
    s = softmax_rows.shifted_exp(x, z, e)
    assert np.isnan(z[0]).all() and np.isnan(s[0])  # NaN anywhere in a row: the whole row
    assert np.isnan(z[1, 1]) and np.isnan(s[1])  # inf - inf
    assert np.isnan(z[2]).all()  # -inf - (-inf)
    np.testing.assert_allclose(e[3], [np.exp(-1.0), 0.0, 1.0], rtol=1e-6)  # a -inf logit: probability 0
