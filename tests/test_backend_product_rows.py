"""``matmul_rows`` and its weight gradient (backend/product_math.py): x (..., k) @ W (k, p) as one
product over x's rows, for x in any memory order of its leading axes (the attention's
transposed views), broadcast, sliced, empty; against float64 einsum; the result laid out as x;
and MatMul's gradients through it against finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck
from chainrule.backend import ArrayMath


def _xs(rng):
    base = rng.standard_normal((4, 5, 6, 3))
    return {
        "contiguous": base,
        "leading axes swapped": base.transpose(1, 0, 2, 3),
        "all leading axes permuted": base.transpose(2, 0, 1, 3),
        "sliced": base[:, ::2],
        "broadcast": np.broadcast_to(rng.standard_normal((1, 5, 1, 3)), (4, 5, 6, 3)),
        "empty": base[:0],
        "3-D": base[0],
    }


@pytest.mark.parametrize("kind", ["contiguous", "leading axes swapped", "all leading axes permuted", "sliced",
                                  "broadcast", "empty", "3-D"])
def test_matmul_rows_and_its_gradient_are_their_definitions(kind):
    rng = np.random.default_rng(0)
    x = _xs(rng)[kind]
    w = rng.standard_normal((3, 7))
    y = ArrayMath.matmul_rows(x, w)
    np.testing.assert_allclose(y, np.einsum("...k,kp->...p", x, w), rtol=1e-12, atol=1e-12)
    if x.size and x.strides[-1] == x.itemsize and 0 not in x.strides:
        order = np.argsort([-s for s in x.strides[:-1]])
        assert list(np.argsort([-s for s in y.strides[:-1]])) == list(order)  # laid out as x
    g = rng.standard_normal(y.shape)
    want = np.tensordot(x, g, axes=(list(range(x.ndim - 1)),) * 2) if x.size else np.zeros((3, 7))
    for transposed in (False, True):
        gw = ArrayMath.matmul_rows_grad(x, g, transposed)
        np.testing.assert_allclose(gw, want, rtol=1e-12, atol=1e-12)
        assert gw.shape == (3, 7) and (gw.T.flags.c_contiguous if transposed else gw.flags.c_contiguous)


def test_matmul_gradients_through_the_rows_path():
    rng = np.random.default_rng(1)
    x = cr.tensor(rng.standard_normal((3, 4, 5)), requires_grad=True)
    w = cr.tensor(rng.standard_normal((6, 5)), requires_grad=True)
    assert gradcheck(lambda a, b: a.transpose(0, 1) @ b.T, (x, w))
    assert gradcheck(lambda a, b: a @ b.T.contiguous(), (x, w))
    assert gradgradcheck(lambda a, b: a.transpose(0, 1) @ b.T, (x, w))
