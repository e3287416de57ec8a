"""backend.scatter.scatter_add_rows: dst[rows[r]] += src[r], against np.add.at (the definition),
with the compiled kernel and with the NumPy fallback."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.backend import scatter

KERNEL = (scatter, "rows")  # for the kernel_path fixture (conftest.py)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_add_at_with_repeats(kernel_path, dtype):
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


def test_non_contiguous_source_and_int32_rows(kernel_path):
    rng = np.random.default_rng(1)
    src = rng.standard_normal((9, 40)).T  # (40, 9), a transposed view
    rows = rng.integers(0, 3, 40).astype(np.int32)
    want = np.zeros((3, 9))
    np.add.at(want, rows, src)
    np.testing.assert_allclose(scatter.scatter_add_rows(np.zeros((3, 9)), rows, src), want, rtol=1e-12)


def test_empty_and_mismatched(kernel_path):
    dst = np.ones((2, 3))
    scatter.scatter_add_rows(dst, np.zeros(0, dtype=np.int64), np.zeros((0, 3)))
    np.testing.assert_array_equal(dst, 1.0)
    with pytest.raises(ValueError, match=r"scatter_add_rows: src \(4, 2\) does not match 4 rows of width 3"):
        scatter.scatter_add_rows(dst, np.zeros(4, dtype=np.int64), np.zeros((4, 2)))


def test_mixed_dtypes_take_the_numpy_path(monkeypatch):
    asked = []
    monkeypatch.setattr(scatter, "kernel", lambda dtype: asked.append(dtype))
    dst = np.zeros((2, 2), dtype=np.float64)
    src = np.ones((3, 2), dtype=np.float32)
    scatter.scatter_add_rows(dst, np.array([0, 1, 1]), src)
    np.testing.assert_array_equal(dst, [[1, 1], [2, 2]])
    assert asked == []  # the compiled kernel is not even looked up


def test_rows_of_a_wider_array_are_read_in_place(kernel_path, monkeypatch):
    """src a column slice of wider rows (the LSTM's gate adjoints, whose rows are padded): the
    kernel reads it where it lies; rows in reverse order (a negative stride) are copied first."""
    rng = np.random.default_rng(2)
    wide = rng.standard_normal((50, 12))
    rows = rng.integers(0, 4, 50)
    for src in (wide[:, :9], wide[::-1, 2:11]):
        want = np.zeros((4, 9))
        np.add.at(want, rows, src)
        np.testing.assert_allclose(scatter.scatter_add_rows(np.zeros((4, 9)), rows, src), want, rtol=1e-12)
    if kernel_path == "compiled":
        copied = []
        real = np.ascontiguousarray
        monkeypatch.setattr(scatter.np, "ascontiguousarray",
                            lambda a, *k, **kw: copied.append(a.shape) or real(a, *k, **kw))
        scatter.scatter_add_rows(np.zeros((4, 9)), rows, wide[:, :9])
        assert copied == [(50,)]  # the rows' indices only
