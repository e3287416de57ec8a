"""The two ops added by HACKING.md's "Adding an elementwise op" recipe: ldexp and i0.

Each is one class and one registration line in ops/pointwise.py; these tests check what the
recipe promises: the function (``cr.ldexp``, ``cr.i0``), the Tensor method and its in-place
form, first derivatives against finite differences, second derivatives (the vjp written with
``m.*`` only), forward mode against reverse mode, and the values against PyTorch.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck

R = np.random.default_rng(11)


def leaf(shape, lo, hi) -> cr.Tensor:
    return cr.tensor(R.uniform(lo, hi, size=shape), dtype=cr.float64, requires_grad=True)


# ---------------------------------------------------------------- i0: I0(x) = sum_k (x/2)^(2k) / (k!)^2
def _i0_series(x: float) -> float:
    return sum((x / 2) ** (2 * k) / math.factorial(k) ** 2 for k in range(60))


def _i1_series(x: float) -> float:
    return sum((x / 2) ** (2 * k + 1) / (math.factorial(k) * math.factorial(k + 1)) for k in range(60))


def test_i0_values_from_its_power_series():
    xs = [-4.0, -1.0, 0.0, 0.5, 2.0, 7.5]
    got = cr.i0(cr.tensor(xs, dtype=cr.float64)).numpy()
    np.testing.assert_allclose(got, [_i0_series(x) for x in xs], rtol=1e-14)


def test_i0_gradient_is_i1():
    x = cr.tensor([-3.0, -0.2, 0.0, 1.0, 12.0, 40.0], dtype=cr.float64, requires_grad=True)
    cr.i0(x).sum().backward()
    want = [_i1_series(v) if abs(v) <= 12 else None for v in x.detach().numpy()]
    for g, w in zip(x.grad.numpy(), want):
        if w is not None:
            np.testing.assert_allclose(g, w, rtol=1e-13)
    # 40: the asymptotic branch, against the Wronskian-free identity I1(x) = I0'(x) by differences
    h = 1e-6
    fd = (_i0_series(40 + h) - _i0_series(40 - h)) / (2 * h)
    np.testing.assert_allclose(x.grad.numpy()[-1], fd, rtol=1e-7)


def test_i0_gradcheck_gradgradcheck_and_forward_mode():
    x = leaf((3, 4), -3.0, 3.0)
    assert gradcheck(cr.i0, (x,))
    assert gradgradcheck(cr.i0, (x,))
    v = cr.tensor(R.standard_normal((3, 4)), dtype=cr.float64)
    _, jv = cr.func.jvp(cr.i0, (x.detach(),), (v,))
    (vjp,) = cr.autograd.grad(cr.i0(x), x, v)
    np.testing.assert_allclose(jv.numpy(), vjp.numpy(), rtol=1e-12)  # a diagonal Jacobian


def test_i0_method_inplace_and_dtypes():
    x = cr.tensor([0.5, 1.5], dtype=cr.float32)
    y = x.i0()
    assert y.dtype == cr.float32
    np.testing.assert_allclose(y.numpy(), [_i0_series(0.5), _i0_series(1.5)], rtol=1e-6)
    z = x.clone()
    assert z.i0_() is z
    np.testing.assert_allclose(z.numpy(), y.numpy())
    assert cr.i0(cr.tensor([0, 1])).dtype == cr.get_default_dtype()  # ints become the default float


# ---------------------------------------------------------------- ldexp: y = a · 2^b
def test_ldexp_values_are_exact_powers_of_two():
    a = cr.tensor([1.0, -3.0, 0.75, 5.0], dtype=cr.float64)
    b = cr.tensor([0, 3, -2, 10])
    np.testing.assert_array_equal(cr.ldexp(a, b).numpy(), [1.0, -24.0, 0.1875, 5120.0])
    np.testing.assert_array_equal(a.ldexp(b).numpy(), [1.0, -24.0, 0.1875, 5120.0])
    c = a.clone()
    assert c.ldexp_(b) is c
    np.testing.assert_array_equal(c.numpy(), [1.0, -24.0, 0.1875, 5120.0])


def test_ldexp_gradients_by_finite_differences_both_orders():
    a = leaf((2, 3), -2.0, 2.0)
    b = leaf((3,), -1.5, 1.5)  # broadcasts
    assert gradcheck(cr.ldexp, (a, b))
    assert gradgradcheck(cr.ldexp, (a, b))


def test_ldexp_gradients_are_the_formulas():
    a = cr.tensor([1.5, -2.0], dtype=cr.float64, requires_grad=True)
    b = cr.tensor([2.0, -1.0], dtype=cr.float64, requires_grad=True)
    cr.ldexp(a, b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [4.0, 0.5])  # dy/da = 2^b
    np.testing.assert_allclose(b.grad.numpy(), [1.5 * 4 * math.log(2), -2.0 * 0.5 * math.log(2)])  # y ln 2


def test_ldexp_dtype_follows_input_and_scalars_lift():
    x = cr.tensor([1.0, 2.0], dtype=cr.float32)
    assert cr.ldexp(x, cr.tensor([1, 2])).dtype == cr.float32
    np.testing.assert_array_equal(cr.ldexp(x, 3).numpy(), [8.0, 16.0])


# ---------------------------------------------------------------- PyTorch as oracle
def test_against_pytorch():
    torch = pytest.importorskip("torch")
    xv = R.uniform(-20, 20, size=(50,))
    np.testing.assert_allclose(cr.i0(cr.tensor(xv)).numpy(), torch.i0(torch.tensor(xv)).numpy(), rtol=1e-13)
    xt = torch.tensor(xv, requires_grad=True)
    torch.i0(xt).sum().backward()
    x = cr.tensor(xv, requires_grad=True)
    cr.i0(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12)

    av, bv = R.standard_normal((4, 5)), R.integers(-6, 6, size=(5,))
    np.testing.assert_allclose(cr.ldexp(cr.tensor(av), cr.tensor(bv)).numpy(),
                               torch.ldexp(torch.tensor(av), torch.tensor(bv)).numpy(), rtol=0)
    # gradients with a float exponent (PyTorch's backward with an integer one computes 2^b in
    # integers, so 2^-6 becomes 0: a PyTorch quirk, not the mathematics)
    bf = bv.astype(np.float64) + R.uniform(-0.5, 0.5, size=bv.shape)
    at, bt = torch.tensor(av, requires_grad=True), torch.tensor(bf, requires_grad=True)
    torch.ldexp(at, bt).pow(2).sum().backward()
    a, b = cr.tensor(av, requires_grad=True), cr.tensor(bf, requires_grad=True)
    cr.ldexp(a, b).pow(2).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), at.grad.numpy(), rtol=1e-13)
    np.testing.assert_allclose(b.grad.numpy(), bt.grad.numpy(), rtol=1e-13)
