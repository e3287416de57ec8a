"""``ctx.mark_dirty``: a custom Function that modifies an input in place and returns it.

As in PyTorch, the input stays the same Python object and becomes the Function's output; the
backward differentiates through its history before the call; the change counts as an in-place
modification (a node that saved the input earlier refuses its backward); a leaf that requires
grad, or a dirty input not returned, is refused.  Values and gradients are checked against the
out-of-place form (mathematics), and against PyTorch running the same Function where it is
installed."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr


def _functions(lib):
    class ReluInPlace(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.mark_dirty(x)
            x.clamp_(min=0)
            ctx.save_for_backward(x)
            return x

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * (y > 0).to(g.dtype)

    class ScaleAndCount(lib.autograd.Function):
        """Two outputs: x *= s in place (dirty), and a count of x's positive entries."""

        @staticmethod
        def forward(ctx, x, s):
            ctx.mark_dirty(x)
            ctx.s = s
            x.mul_(s)
            n = (x > 0).sum()
            ctx.mark_non_differentiable(n)
            return x, n

        @staticmethod
        def backward(ctx, g, gn):
            return g * ctx.s, None

    return ReluInPlace, ScaleAndCount


W = np.array([[0.5, -1.0, 2.0], [-0.25, 1.5, -2.0]])


def _run(lib, as_tensor):
    relu, _ = _functions(lib)
    w = as_tensor(W.copy(), requires_grad=True)
    a = w * 3.0
    same = a
    y = relu.apply(a)
    (y * as_tensor(np.arange(6.0).reshape(2, 3))).sum().backward()
    return y is same, y.detach().numpy().copy(), w.grad.numpy().copy()


def test_the_input_becomes_the_output_and_the_gradient_flows_through_its_history():
    is_same, y, g = _run(cr, lambda a, **k: cr.tensor(a, **k))
    assert is_same
    np.testing.assert_array_equal(y, np.maximum(3.0 * W, 0.0))
    np.testing.assert_array_equal(g, 3.0 * (W > 0) * np.arange(6.0).reshape(2, 3))


def test_as_pytorch_does():
    torch = pytest.importorskip("torch")
    got = _run(cr, lambda a, **k: cr.tensor(a, **k))
    want = _run(torch, lambda a, **k: torch.tensor(a, **k))
    assert got[0] == want[0]
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[2], want[2])


def test_a_node_that_saved_the_input_before_refuses_its_backward():
    relu, _ = _functions(cr)
    w = cr.tensor(W.copy(), requires_grad=True)
    a = w * 1.0
    b = a * a  # (saves a)
    relu.apply(a)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        (b + a).sum().backward()


def test_a_leaf_that_requires_grad_is_refused():
    relu, _ = _functions(cr)
    w = cr.tensor(W.copy(), requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        relu.apply(w)  # (refused once forward has run, as PyTorch refuses it: mark_dirty is known then)
    assert w.grad_fn is None and w.requires_grad
    w = cr.tensor(W.copy(), requires_grad=True)
    with cr.no_grad():
        y = relu.apply(w)  # (allowed without a graph, as in PyTorch: w stays a leaf that requires grad)
    assert w.requires_grad and w.grad_fn is None and not y.requires_grad
    np.testing.assert_array_equal(w.detach().numpy(), np.maximum(W, 0.0))
    np.testing.assert_array_equal(y.numpy(), np.maximum(W, 0.0))


def test_a_tensor_that_needs_no_gradient_is_returned_as_itself():
    relu, _ = _functions(cr)
    a = cr.tensor(W.copy())
    assert relu.apply(a) is a
    np.testing.assert_array_equal(a.numpy(), np.maximum(W, 0.0))


def test_a_dirty_input_forward_does_not_return_is_refused():
    class Forgets(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.mark_dirty(x)
            x.add_(1.0)
            return x * 2.0

        @staticmethod
        def backward(ctx, g):
            return g * 2.0

    a = cr.tensor(W.copy(), requires_grad=True) * 1.0
    with pytest.raises(RuntimeError, match="must be returned by forward"):
        Forgets.apply(a)


def test_two_outputs_one_of_them_dirty():
    _, scale = _functions(cr)
    w = cr.tensor(W.copy(), requires_grad=True)
    a = w + 0.0
    x, n = scale.apply(a, 2.0)
    assert x is a and int(n) == 3 and not n.requires_grad
    (x * x).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), 2.0 * (2.0 * W) * 2.0)


def test_gradcheck_through_a_dirty_input():
    relu, _ = _functions(cr)
    w = cr.tensor(W.copy() + 0.1, requires_grad=True)  # (away from the kink at 0)
    assert cr.autograd.gradcheck(lambda t: relu.apply(t * 1.5), (w,))
