"""backend.scatter.scatter_add_rows: dst[rows[r]] += src[r], against np.add.at (the definition),
with the compiled kernel and with the NumPy fallback."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import kernel_or_numpy

from chainrule.backend import scatter


@pytest.fixture(params=["compiled", "numpy"])
def path(request, monkeypatch):
    return kernel_or_numpy(request, monkeypatch, scatter, "rows")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_add_at_with_repeats(path, dtype):
    rng = np.random.default_rng(0)
    src = rng.standard_normal((300, 7)).astype(dtype)
    rows = rng.integers(0, 5, 300)
    dst = rng.standard_normal((6, 7)).astype(dtype)  # row 5 never hit: must stay as it was
    want = dst.copy()
    np.add.at(want, rows, src)
    got = scatter.scatter_add_rows(dst, rows, src)
    assert got is dst
    tol = 1e-12 if dtype == np.float64 else 1e-5  # float32: another summation order
    np.testing.assert_allclose(dst, want, rtol=tol, atol=tol)


def test_non_contiguous_source_and_int32_rows(path):
    rng = np.random.default_rng(1)
    src = rng.standard_normal((9, 40)).T  # (40, 9), a transposed view
    rows = rng.integers(0, 3, 40).astype(np.int32)
    want = np.zeros((3, 9))
    np.add.at(want, rows, src)
    np.testing.assert_allclose(scatter.scatter_add_rows(np.zeros((3, 9)), rows, src), want, rtol=1e-12)


def test_empty_and_mismatched(path):
    dst = np.ones((2, 3))
    scatter.scatter_add_rows(dst, np.zeros(0, dtype=np.int64), np.zeros((0, 3)))
    np.testing.assert_array_equal(dst, 1.0)
    with pytest.raises(ValueError, match=r"scatter_add_rows: src \(4, 2\) does not match 4 rows of width 3"):
        scatter.scatter_add_rows(dst, np.zeros(4, dtype=np.int64), np.zeros((4, 2)))


def test_mixed_dtypes_take_the_numpy_path():
    dst = np.zeros((2, 2), dtype=np.float64)
    src = np.ones((3, 2), dtype=np.float32)
    scatter.scatter_add_rows(dst, np.array([0, 1, 1]), src)
    np.testing.assert_array_equal(dst, [[1, 1], [2, 2]])


def test_slice_gradient_into_a_reused_pooled_buffer_is_zero_outside_the_slice():
    """getitem's vjp writes into pooled arrays (big ones are reused between steps) and zeroes only the
    rows outside a leading slice: what an earlier, larger slice left there must not leak."""
    import chainrule as cr

    rng = np.random.default_rng(2)
    a = cr.tensor(rng.standard_normal((40, 50, 20)), dtype=cr.float64, requires_grad=True)  # 320 KB: pooled
    for sl in (slice(0, 40), slice(5, 12), slice(30, 25), slice(-3, None), slice(0, 40, 2)):
        a.grad = None
        g = rng.standard_normal(a.data[sl].shape)
        (a[sl] * cr.tensor(g, dtype=cr.float64)).sum().backward()
        want = np.zeros(a.shape)
        want[sl] = g
        np.testing.assert_array_equal(a.grad.data, want)
