"""The convolution's products as table entries (``ConvMath.mm_cols``, ``ConvMath.mm_reduce``):
against their definitions written out in float64, in one product and in chunks of columns with a
remainder, for one and several groups, and with an empty column axis (an empty batch)."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.backend.conv_math import ConvMath

# (groups G, rows M, inner K, columns P, columns per chunk)
CASES = [(1, 4, 6, 10, 10), (1, 4, 6, 10, 3), (2, 3, 5, 9, 4), (3, 1, 2, 7, 7), (1, 5, 3, 0, 1)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("g, m, k, p, ch", CASES)
def test_mm_reduce_is_a_times_b_transposed(g, m, k, p, ch, dtype):
    rng = np.random.default_rng(g * 100 + m * 10 + p)
    a = rng.standard_normal((g, m, p)).astype(dtype)
    b = rng.standard_normal((g, k, p)).astype(dtype)
    out = ConvMath.mm_reduce(a, b, ch)
    want = np.einsum("gmp,gkp->gmk", a.astype(np.float64), b.astype(np.float64))
    assert out.shape == (g, m, k) and out.dtype == dtype and out.flags.c_contiguous
    np.testing.assert_allclose(out, want, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)


@pytest.mark.parametrize("g, m, k, p, ch", CASES)
def test_mm_cols_is_a_times_b(g, m, k, p, ch):
    rng = np.random.default_rng(g * 100 + m * 10 + p + 1)
    a = rng.standard_normal((g, m, k))
    b = rng.standard_normal((g, k, p))
    np.testing.assert_allclose(ConvMath.mm_cols(a, b, ch), np.einsum("gmk,gkp->gmp", a, b), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("m, k, nb, ch", [(4, 6, 3, 5), (1, 2, 1, 7), (3, 5, 4, 0)])
def test_mm_blocks_input_is_w_transposed_times_each_block(m, k, nb, ch):
    rng = np.random.default_rng(m + k + nb)
    w = rng.standard_normal((m, k))
    g = rng.standard_normal((m, nb * ch))
    out = ConvMath.mm_blocks_input(w, g, nb)
    want = np.einsum("mk,mbc->bkc", w, g.reshape(m, nb, ch))
    assert out.shape == (nb, k, ch)
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)
