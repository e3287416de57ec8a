"""Gradients where a function's formula meets 0/0 or leaves its domain, with PyTorch's values
(found by sweeping every unary and binary function's gradient against PyTorch):

* atan2(a, b) at the origin: both partial derivatives 0, not 0/0 = NaN (an angle computed from
  a zero vector would otherwise poison every gradient of a training step);
* copysign(x, y) at x = 0: derivative 0 (as |x|'s), not ±1;
* logit(p): ±inf at p = 0 and 1, NaN outside [0, 1] (where the value is NaN), 1/(p(1 - p))
  inside, with its second derivative.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck


def test_atan2_at_the_origin_has_zero_gradients():
    a = cr.tensor(np.array([0.0, 1.0, 0.0]), requires_grad=True)
    b = cr.tensor(np.array([0.0, 1.0, -2.0]), requires_grad=True)
    cr.atan2(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.0, 0.5, -0.5])
    np.testing.assert_array_equal(b.grad.numpy(), [0.0, -0.5, 0.0])
    ones = cr.ones(3, dtype=cr.float64)
    _, tangent = cr.func.jvp(cr.atan2, (a.detach(), b.detach()), (ones, ones))
    np.testing.assert_array_equal(tangent.numpy(), [0.0, 0.0, -0.5])


def test_copysign_at_zero_has_zero_gradient():
    x = cr.tensor(np.array([0.0, -0.0, 2.0, -3.0]), requires_grad=True)
    y = cr.copysign(x, cr.tensor(np.array([-1.0, 1.0, -1.0, -1.0])))
    assert np.signbit(y.detach().numpy()).tolist() == [True, False, True, True]
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, -1.0, 1.0])


def test_logit_at_the_ends_and_outside():
    p = cr.tensor(np.array([-0.5, 0.0, 0.25, 1.0, 2.0]), requires_grad=True)
    with np.errstate(all="ignore"):
        cr.logit(p).sum().backward()
    g = p.grad.numpy()
    assert np.isnan(g[0]) and np.isnan(g[4])
    assert g[1] == np.inf and g[3] == np.inf
    assert g[2] == pytest.approx(1 / (0.25 * 0.75))
    q = cr.tensor(np.array([0.2, 0.7, 0.9]), requires_grad=True)
    assert gradcheck(cr.logit, (q,)) and gradgradcheck(cr.logit, (q,))
    assert gradcheck(lambda t: cr.logit(t, eps=0.25), (q,))


def test_as_pytorch_does():
    torch = pytest.importorskip("torch")
    xs = np.array([-1.5, -0.0, 0.0, 0.0, 0.3, 1.0, 2.5])
    for f in (lambda L, x: L.atan2(x, x.flip(0) * 0.5), lambda L, x: L.copysign(x, x.flip(0) - 0.1),
              lambda L, x: L.logit(x.abs() - 1.0) + L.logit(x.abs())):
        got, want = [], []
        for lib, out in ((cr, got), (torch, want)):
            x = lib.tensor(xs, requires_grad=True)
            with np.errstate(all="ignore"):
                f(lib, x).sum().backward()
            out.append(x.grad.numpy().copy())
        np.testing.assert_allclose(got[0], want[0], rtol=1e-14, atol=0)  # (NaN and inf where PyTorch has them)
