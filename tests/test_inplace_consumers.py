"""Gradients of ops recorded *before* an in-place edit of one of their inputs.

``y = x + 1; x.mul_(2)``: y consumed the old x, so dL/dy must reach x's old node, not pass
through the in-place op that came later.  A graph node holds its inputs as Tensor objects,
and the edit makes the object x the output of the new op: without care, y's gradient
flows through ``mul_``'s vjp as well (a silent wrong answer: 4 instead of 3 below).  The
expected numbers come from the chain rule by hand; the ``*_torch`` test uses PyTorch as an
independent oracle (skipped without it).
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F


def _leaf(values):
    return cr.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


def test_consumer_recorded_before_mul_in_place_gets_the_old_value_gradient():
    a = _leaf([1.0, 2.0])
    x = a * 1
    y = x + 1  # consumed x before the edit: dy/da = 1
    x.mul_(2)  # the new x = 2 a: d/da = 2
    (y + x).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [3.0, 3.0])


def test_two_edits_each_consumer_sees_the_version_it_used():
    a = _leaf([1.0, 2.0, 3.0])
    x = a * 1
    y0 = x * 1  # x = a:           d/da = 1
    x.mul_(3)
    y1 = x * 1  # x = 3a:          d/da = 3
    x.add_(a)
    y2 = x * 1  # x = 3a + a = 4a: d/da = 4
    x.mul_(5)  # x = 20a:          d/da = 20
    (y0 + 10 * y1 + 100 * y2 + 1000 * x).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [1 + 30 + 400 + 20000] * 3)


def test_constant_edited_by_a_tensor_that_requires_grad():
    """x is a constant when y uses it; the edit makes x depend on v, but not y."""
    w, v = _leaf([1.0, 1.0]), _leaf([1.0, 1.0])
    x = cr.tensor([5.0, 7.0], dtype=cr.float64)
    y = x + w
    x.add_(v)
    (y.sum() + 3 * x.sum()).backward()
    np.testing.assert_allclose(w.grad.numpy(), [1.0, 1.0])
    np.testing.assert_allclose(v.grad.numpy(), [3.0, 3.0])


def test_relu_in_place_after_a_residual_consumer():
    """The residual block's pattern: h feeds a skip connection, then is activated in place."""
    rng = np.random.default_rng(0)
    w = _leaf(rng.standard_normal((4, 4)))
    x = cr.tensor(rng.standard_normal((3, 4)))
    got = []
    for inplace in (False, True):
        w.grad = None
        h = x @ w
        skip = h * 2.0
        h = F.relu_(h) if inplace else F.relu(h)
        (h.pow(2) + skip).sum().backward()
        got.append(w.grad.numpy().copy())
    np.testing.assert_allclose(got[1], got[0], rtol=1e-12)


def test_the_trace_walk_sees_the_consumers_version_too():
    a = _leaf([1.0, 2.0])
    x = a * 1
    y = x + 1
    x.mul_(2)
    (gy,) = cr.autograd.grad(y.sum(), [a])
    np.testing.assert_allclose(gy.numpy(), [1.0, 1.0])


def test_consumer_after_the_edited_graph_was_freed_raises():
    a = _leaf([1.0, 2.0])
    x = a * 1
    y = x + 1
    x.mul_(2)
    x.sum().backward()  # frees the graph behind x, the old x's node included
    with pytest.raises(RuntimeError, match="second time"):
        y.sum().backward()


def test_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    a0 = rng.standard_normal((2, 3))

    def run(lib, a):
        x = a * 2
        y = x + a  # saves nothing: x may change afterwards
        x.mul_(a)
        z = x * 3
        x.add_(1.0)
        return y.sum() + (z * z).sum() + (x * x).sum()

    ta = torch.tensor(a0, requires_grad=True)
    run(torch, ta).backward()
    ca = _leaf(a0)
    run(cr, ca).backward()
    np.testing.assert_allclose(ca.grad.numpy(), ta.grad.numpy(), rtol=1e-12)


def test_a_consumer_older_than_the_remembered_edits_raises_instead_of_guessing():
    a = _leaf([1.0, 2.0])
    x = a * 1
    y = x + 1
    for _ in range(17):  # one more than a tensor remembers
        x.mul_(1.0)
    with pytest.raises(RuntimeError, match="modified in place more than 16 times"):
        (y + x).sum().backward()


def test_sixteen_edits_are_still_remembered():
    a = _leaf([1.0, 2.0])
    x = a * 1
    y = x + 1
    for _ in range(16):
        x.mul_(1.0)
    (y + x).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [2.0, 2.0])
