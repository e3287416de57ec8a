"""``x % y`` and ``x // y`` are torch.remainder and torch.floor_divide: the same values, dtypes,
gradients and errors as the functions (they used to bypass them and record nothing)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr


def test_mod_gradient_is_one_for_the_dividend():
    # d(x mod c)/dx = 1 away from the jumps (x - c·floor(x/c))
    x = cr.tensor([0.5, 2.5, -1.25], dtype=cr.float64, requires_grad=True)
    y = x % 2
    assert y.requires_grad
    np.testing.assert_allclose(y.detach().numpy(), [0.5, 0.5, 0.75])
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0, 1.0])


def test_reflected_mod_and_floordiv_values():
    x = cr.tensor([2.0, 3.0, -4.0], dtype=cr.float64)
    np.testing.assert_allclose((7 % x).numpy(), [1.0, 1.0, -1.0])
    np.testing.assert_allclose((7 // x).numpy(), [3.0, 2.0, -2.0])


def test_integer_mod_by_zero_raises_like_the_function():
    x = cr.tensor([3, 4])
    with pytest.raises(RuntimeError):
        _ = x % 0
    with pytest.raises(RuntimeError):
        _ = x // 0


def test_against_torch():
    torch = pytest.importorskip("torch")
    a = np.array([0.5, 2.5, -1.25, 7.0])
    # (torch has no derivative of floor_divide, nor of remainder for its divisor: those are
    # compared by value and requires_grad only)
    for expr, backward in ((lambda x: x % 2, True), (lambda x: 7 % x, False), (lambda x: x // 2, False),
                           (lambda x: 7.5 // x, False)):
        tx = torch.tensor(a, requires_grad=True)
        cx = cr.tensor(a, requires_grad=True)
        ty, cy = expr(tx), expr(cx)
        np.testing.assert_allclose(cy.detach().numpy(), ty.detach().numpy())
        assert cy.requires_grad == ty.requires_grad
        if backward:
            ty.sum().backward()
            cy.sum().backward()
            np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy())
    ti = torch.tensor([5, -7]) % torch.tensor([2.0, 3.0], dtype=torch.float32)
    ci = cr.tensor([5, -7]) % cr.tensor([2.0, 3.0], dtype=cr.float32)
    assert str(ci.dtype).split(".")[-1] == str(ti.dtype).split(".")[-1]
    np.testing.assert_allclose(ci.numpy(), ti.numpy())
