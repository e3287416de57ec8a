"""PyTorch 2's form of a custom Function: ``forward(*args)`` without ``ctx``, and a static
``setup_context(ctx, inputs, output)`` that saves what ``backward`` needs."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr


class Cube(cr.autograd.Function):
    @staticmethod
    def forward(x, k):
        return x * x * x * k

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, k = inputs
        ctx.save_for_backward(x)
        ctx.k = k

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x * x * g * ctx.k, None


class SinCos(cr.autograd.Function):  # two outputs, and the output handed to setup_context
    @staticmethod
    def forward(x):
        return x.sin(), x.cos()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*output)

    @staticmethod
    def backward(ctx, gs, gc):
        s, c = ctx.saved_tensors
        return gs * c - gc * s


def test_setup_context_gives_backward_what_it_saved():
    x = cr.tensor([0.5, -1.0, 2.0], dtype=cr.float64, requires_grad=True)
    Cube.apply(x, 2.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.detach().numpy() ** 2)  # d(2x³)/dx
    assert cr.autograd.gradcheck(lambda t: Cube.apply(t, 0.7), (x,))
    assert cr.autograd.gradcheck(lambda t: sum(o.sum() for o in SinCos.apply(t)), (x,))
    s, c = SinCos.apply(x)
    assert s.grad_fn is not None and np.allclose(c.detach().numpy(), np.cos(x.detach().numpy()))


def test_the_ctx_form_still_works_and_a_missing_setup_context_is_the_ctx_form():
    class Twice(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x = cr.ones(3, requires_grad=True)
    Twice.apply(x).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0, 2.0]


def test_against_pytorch():
    torch = pytest.importorskip("torch")

    class TCube(torch.autograd.Function):
        forward, setup_context, backward = (staticmethod(Cube.forward), staticmethod(Cube.setup_context),
                                            staticmethod(Cube.backward))

    a = np.array([0.3, -1.2, 2.5])
    x, tx = cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    (Cube.apply(x, 1.5) ** 2).sum().backward()
    (TCube.apply(tx, 1.5) ** 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
