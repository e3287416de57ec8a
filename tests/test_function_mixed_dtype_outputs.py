"""A custom Function whose differentiable outputs have different floating dtypes (float32 and
float64), and a Module with full backward hooks whose inputs mix them: each output keeps its
dtype, each gradient reaches ``backward`` in its output's dtype, and each input's gradient is in
the input's dtype, as in PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr


def _pair(lib):
    class Pair(lib.autograd.Function):
        """(2x in float64, 3x in float32)."""

        @staticmethod
        def forward(ctx, x):
            return (x * 2.0).double(), (x * 3.0).float()

        @staticmethod
        def backward(ctx, g64, g32):
            ctx.seen = (g64.dtype, g32.dtype)
            return g64.to(x_dtype(ctx)) * 2.0 + g32.to(x_dtype(ctx)) * 3.0

    def x_dtype(ctx):
        return lib.float32

    return Pair


def test_outputs_of_two_dtypes_keep_them_and_their_gradients_meet_in_the_input():
    pair = _pair(cr)
    x = cr.tensor(np.array([1.0, -2.0, 0.5], dtype=np.float32), requires_grad=True)
    a, b = pair.apply(x)
    assert a.dtype == cr.float64 and b.dtype == cr.float32
    np.testing.assert_array_equal(a.detach().numpy(), np.array([2.0, -4.0, 1.0]))
    np.testing.assert_array_equal(b.detach().numpy(), np.array([3.0, -6.0, 1.5], dtype=np.float32))
    (a * cr.tensor(np.array([1.0, 10.0, 100.0])) + b.double()).sum().backward()
    assert x.grad.dtype == cr.float32
    np.testing.assert_array_equal(x.grad.numpy(), np.array([5.0, 23.0, 203.0], dtype=np.float32))
    assert a.grad_fn is not None and b.grad_fn is not None


def test_only_one_of_them_used():
    pair = _pair(cr)
    x = cr.tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    _, b = pair.apply(x)
    b.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.array([3.0, 3.0], dtype=np.float32))


def _hooked(lib):
    class M(lib.nn.Module):
        def forward(self, a, b):
            return a * 2 + b.to(a.dtype).sum(), b * 3

    m = M()
    seen = []
    m.register_full_backward_hook(lambda mod, gi, go: seen.append(
        ([str(g.dtype).split(".")[-1] for g in gi], [str(g.dtype).split(".")[-1] for g in go],
         [g.tolist() for g in gi])))
    a = lib.tensor([1.0, 2.0, 3.0], dtype=lib.float32, requires_grad=True)
    b = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
    y, z = m(a, b)
    (y.sum() + z.sum()).backward()
    return seen, a.grad.tolist(), b.grad.tolist(), str(a.grad.dtype).split(".")[-1], str(b.grad.dtype).split(".")[-1]


def test_a_hooked_module_whose_inputs_mix_float32_and_float64():
    seen, ga, gb, da, db = _hooked(cr)
    assert seen == [(["float32", "float64"], ["float32", "float64"], [[2.0, 2.0, 2.0], [6.0, 6.0]])]
    assert ga == [2.0, 2.0, 2.0] and gb == [6.0, 6.0] and (da, db) == ("float32", "float64")


def test_as_pytorch_does():
    torch = pytest.importorskip("torch")
    assert _hooked(cr) == _hooked(torch)


def test_forward_mode_through_outputs_of_two_dtypes():
    class Pair(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return (x * 2.0).double(), (x * 3.0).float()

        @staticmethod
        def backward(ctx, g64, g32):
            return g64.float() * 2.0 + g32 * 3.0

        @staticmethod
        def jvp(ctx, dx):
            return (dx * 2.0).double(), (dx * 3.0).float()

    x = cr.tensor(np.array([1.0, 2.0], dtype=np.float32))
    dx = cr.tensor(np.array([0.5, -1.0], dtype=np.float32))
    (a, b), (da, db) = cr.func.jvp(Pair.apply, (x,), (dx,))
    assert (a.dtype, b.dtype, da.dtype, db.dtype) == (cr.float64, cr.float32, cr.float64, cr.float32)
    np.testing.assert_array_equal(da.numpy(), [1.0, -2.0])
    np.testing.assert_array_equal(db.numpy(), np.array([1.5, -3.0], dtype=np.float32))
