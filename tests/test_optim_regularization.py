"""The notes' L2 penalty λ/2 Σ‖W‖² and its equivalence with SGD's weight_decay."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from chainrule.nn.utils import l2_penalty


def test_l2_penalty_value_and_gradient():
    a = cr.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=cr.float64, requires_grad=True)
    b = cr.tensor([4.0], dtype=cr.float64, requires_grad=True)
    r = l2_penalty([a, b], lam=0.1)
    # λ/2 (1 + 4 + 0.25 + 9 + 16) = 0.05 · 30.25
    assert float(r) == pytest.approx(0.05 * 30.25)
    r.backward()
    np.testing.assert_allclose(a.grad._array, 0.1 * a._array)  # ∂/∂W = λ W
    np.testing.assert_allclose(b.grad._array, 0.1 * b._array)
    assert l2_penalty(b, 2.0).item() == pytest.approx(16.0)
    with pytest.raises(ValueError, match="Invalid regularisation strength lam: -1"):
        l2_penalty([a], -1)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_on_penalised_loss_equals_weight_decay(momentum):
    # The notes: W ← W − α(∂E/∂W + λW) = (1 − αλ)W − α ∂E/∂W
    rng = np.random.default_rng(0)
    X = cr.tensor(rng.standard_normal((16, 3)), dtype=cr.float64)
    y = cr.tensor(rng.standard_normal((16, 1)), dtype=cr.float64)
    w0 = rng.standard_normal((3, 1))
    lam, lr = 0.3, 0.05

    def error(w):
        r = X @ w - y
        return (r * r).mean()

    w1 = cr.tensor(w0.copy(), requires_grad=True)
    w2 = cr.tensor(w0.copy(), requires_grad=True)
    opt1 = optim.SGD([w1], lr=lr, momentum=momentum)
    opt2 = optim.SGD([w2], lr=lr, momentum=momentum, weight_decay=lam)
    for step in range(5):
        if momentum == 0.0:  # one step by hand from the notes' formula
            w_prev = w1._array.copy()
            wt = cr.tensor(w_prev, requires_grad=True)
            error(wt).backward()
            expected = (1 - lr * lam) * w_prev - lr * wt.grad._array
        opt1.zero_grad()
        (error(w1) + l2_penalty([w1], lam)).backward()
        opt1.step()
        opt2.zero_grad()
        error(w2).backward()
        opt2.step()
        np.testing.assert_allclose(w1._array, w2._array, rtol=1e-13, atol=1e-15, err_msg=f"step {step}")
        if momentum == 0.0:
            np.testing.assert_allclose(w1._array, expected, rtol=1e-13)
