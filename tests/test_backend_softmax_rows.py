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


# Rows with ±inf or NaN (shifted by their maximum whatever it is, PyTorch's NaN rows):
# tests/test_degenerate_reductions.py::test_shifted_exp_shifts_every_row_by_its_maximum


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("C", [1, 7, 64, 65])
def test_rows_on_threads_give_the_same_bits(three_threads, dtype, C):
    """Rows are cut into ranges on several threads (each at a multiple of 16 elements, so the
    vector exp sees every element where one call would): the same bits as one call (the ranges
    here are forced small and uneven: 3 threads over 203 rows)."""
    from chainrule.backend import native

    if native.load("softmax_rows") is None:
        pytest.skip(native.status("softmax_rows"))
    rng = np.random.default_rng(C)
    x = (rng.standard_normal((203, C)) * 10).astype(dtype)

    def run():
        z, e = np.empty_like(x), np.empty_like(x)
        s = softmax_rows.shifted_exp(x, z, e)
        return z, e, s

    one = run()
    calls = three_threads(softmax_rows)
    three = run()
    assert calls == [203]
    for a, b in zip(one, three):
        np.testing.assert_array_equal(a, b)
