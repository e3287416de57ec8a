"""A matrix product whose summed axis has length 1 is an outer product (ops/linalg.product):
computed as a broadcast multiply, it must give matmul's values, and the ops using it (matmul,
Linear with one input or one output feature, a batch of one) their gradients."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck
from chainrule.backend import ArrayMath
from chainrule.ops.linalg import product


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, p", [(64, 32), (1, 7), (5, 1), (0, 3)])
def test_outer_product_values_are_matmuls(dtype, n, p):
    rng = np.random.default_rng(n * 31 + p)
    a = rng.standard_normal((n, 1)).astype(dtype)
    b = rng.standard_normal((1, p)).astype(dtype)
    a[::3] = 0.0
    got = product(ArrayMath, a, b)
    assert got.dtype == np.matmul(a, b).dtype and got.shape == (n, p)
    np.testing.assert_array_equal(got, np.matmul(a, b))  # (a zero may differ in its sign only)


def test_other_shapes_are_matmul():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 2)), rng.standard_normal((2, 3))
    np.testing.assert_array_equal(product(ArrayMath, a, b), a @ b)


def _t(shape, seed):
    return cr.tensor(np.random.default_rng(seed).standard_normal(shape), dtype=cr.float64, requires_grad=True)


@pytest.mark.parametrize("shapes", [((6, 1), (1, 4)), ((1, 5), (5, 3)), ((3, 1), (1, 1))])
def test_matmul_gradients(shapes):
    a, b = _t(shapes[0], 1), _t(shapes[1], 2)
    assert gradcheck(cr.matmul, (a, b))
    assert gradgradcheck(cr.matmul, (a, b))


@pytest.mark.parametrize("n, fin, fout", [(8, 1, 5), (8, 5, 1), (1, 4, 3), (1, 1, 1)])
def test_linear_gradients(n, fin, fout):
    x, w, b = _t((n, fin), 3), _t((fout, fin), 4), _t((fout,), 5)
    f = cr.nn.functional.linear
    assert gradcheck(f, (x, w, b))
    assert gradgradcheck(f, (x, w, b))


def test_linear_with_one_output_matches_its_definition():
    rng = np.random.default_rng(7)
    x, w, b = rng.standard_normal((16, 3)), rng.standard_normal((1, 3)), rng.standard_normal(1)
    xt, wt = cr.tensor(x, requires_grad=True), cr.tensor(w, requires_grad=True)
    y = cr.nn.functional.linear(xt, wt, cr.tensor(b))
    np.testing.assert_allclose(y.detach().numpy(), x @ w.T + b, rtol=1e-12)
    y.sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), np.ones((16, 1)) @ w, rtol=1e-12)
    np.testing.assert_allclose(wt.grad.numpy(), np.ones((1, 16)) @ x, rtol=1e-12)
