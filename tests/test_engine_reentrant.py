"""A backward pass may call ``autograd.grad`` inside a custom op's backward (issue 11, item 3).

The engine keeps a backward call's state (gradient buffers, pending work) in the call, not in
the tensors, so a second walk started from inside the first (on another graph, or on a part
of the same graph) neither sees nor disturbs the first one's state. Expected values are
derivatives worked out by hand (and PyTorch's, where it is installed).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import Function


def t64(a, requires_grad=False) -> cr.Tensor:
    return cr.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


class TanhByGrad(Function):
    """y = tanh x, whose backward differentiates a fresh graph of tanh with autograd.grad."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.tanh()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        with cr.enable_grad():
            xl = x.detach().requires_grad_()
            y = xl.tanh() * 1.0
            (dx,) = cr.autograd.grad(y, xl, g)
        return dx


class RouteThrough(Function):
    """y = h (a copy); backward sends dL/dy straight to x through the graph that made h
    (autograd.grad on a sub-graph of the same forward), and nothing to h itself."""

    @staticmethod
    def forward(ctx, h, x):
        ctx.h, ctx.x = h, x  # the graph tensors themselves (not saved copies)
        return h.clone()

    @staticmethod
    def backward(ctx, g):
        (dx,) = cr.autograd.grad(ctx.h, ctx.x, g, retain_graph=True)
        return g * 0.0, dx


def test_function_backward_calls_grad_on_another_graph():
    x = t64([0.3, -1.2, 2.0], requires_grad=True)
    w = t64([1.5, 0.5, -2.0], requires_grad=True)
    b = t64([0.1, 0.2, 0.3])
    u = x * w
    y = TanhByGrad.apply(u)
    loss = (y * b + y * y).sum()
    loss.backward()
    th = np.tanh(x._array * w._array)
    dl_du = (b._array + 2 * th) * (1 - th**2)
    np.testing.assert_allclose(x.grad._array, dl_du * w._array, rtol=1e-12)
    np.testing.assert_allclose(w.grad._array, dl_du * x._array, rtol=1e-12)


def test_function_backward_calls_grad_on_a_subgraph_of_the_same_forward():
    # L = sum(c * y) + sum(d * h), h = x², y = RouteThrough(h, x): dL/dx = 2x c + 2x d,
    # where the first term comes from the inner autograd.grad over h's node, which the
    # outer walk also visits (for the second term)
    x = t64([0.5, -1.0, 2.0], requires_grad=True)
    c = t64([1.0, 2.0, 3.0])
    d = t64([-0.5, 0.25, 4.0])
    h = x * x
    y = RouteThrough.apply(h, x)
    ((c * y).sum() + (d * h).sum()).backward()
    np.testing.assert_allclose(x.grad._array, 2 * x._array * (c._array + d._array), rtol=1e-12)


def test_subgraph_reentry_with_grad_in_either_visiting_order():
    # the same, with the outer walk reaching h's node before and after the Function node
    x = t64([0.5, -1.0, 2.0], requires_grad=True)
    for first in ("function", "h"):
        x.grad = None
        h = x * x
        y = RouteThrough.apply(h, x)
        parts = [(3.0 * y).sum(), (5.0 * h).sum()]
        loss = parts[0] + parts[1] if first == "function" else parts[1] + parts[0]
        loss.backward()
        np.testing.assert_allclose(x.grad._array, 2 * x._array * 8.0, rtol=1e-12, err_msg=first)


def test_reentrant_grad_inside_autograd_grad_and_with_create_graph():
    # the outer call is autograd.grad itself; then create_graph, differentiated once more
    x = t64([0.5, -1.0, 2.0], requires_grad=True)
    h = x * x
    y = RouteThrough.apply(h, x)
    (gx,) = cr.autograd.grad((y + h).sum(), x)
    np.testing.assert_allclose(gx._array, 4 * x._array, rtol=1e-12)
    x2 = t64([0.7, -0.2], requires_grad=True)
    (g2,) = cr.autograd.grad(TanhByGrad.apply(x2).sum(), x2)
    np.testing.assert_allclose(g2._array, 1 - np.tanh(x2._array) ** 2, rtol=1e-12)


def test_reentrant_matches_torch():
    torch = pytest.importorskip("torch")
    xv = np.array([[0.2, -0.7], [1.1, 0.4]])
    wv = np.array([[0.5, -1.0], [2.0, 0.3]])

    def run(lib, tensor, fn_base):
        class Tanh(fn_base):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x.tanh()

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                with lib.enable_grad():
                    xl = x.detach().requires_grad_()
                    (dx,) = lib.autograd.grad(xl.tanh(), xl, g)
                return dx

        x = tensor(xv, requires_grad=True)
        w = tensor(wv, requires_grad=True)
        loss = (Tanh.apply(x @ w) ** 2).sum() + (x @ w).sum()
        loss.backward()
        return x.grad.detach().numpy(), w.grad.detach().numpy()

    got = run(cr, lambda a, requires_grad: cr.tensor(a, requires_grad=requires_grad), cr.autograd.Function)
    want = run(torch, lambda a, requires_grad: torch.tensor(a, requires_grad=requires_grad), torch.autograd.Function)
    for g, e in zip(got, want):
        np.testing.assert_allclose(g, e, rtol=1e-12)


def test_tensors_carry_no_engine_state():
    # the per-call state lives in the call: no scratch slots on Tensor
    assert "_gbuf" not in cr.Tensor.__slots__
    assert "_pend" not in cr.Tensor.__slots__


def test_two_threads_backward_through_one_shared_graph():
    # two backward calls at once over one retained graph: each gets the whole gradient
    x = t64(np.linspace(-1, 1, 50), requires_grad=True)
    h = x
    for _ in range(3000):  # long enough that the threads switch mid-walk
        h = (h * 0.99 + 0.01).tanh()
    loss = h.sum()
    (ref,) = cr.autograd.grad(loss, x, retain_graph=True)
    results: list = []
    errors: list = []

    def worker():
        try:
            for _ in range(3):
                (g,) = cr.autograd.grad(loss, x, retain_graph=True)
                results.append(g._array)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 6
    for g in results:
        np.testing.assert_allclose(g, ref._array, rtol=1e-12)
