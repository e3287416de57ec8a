"""Custom autograd.Function: gradients by finite differences, ctx behaviour, forward mode."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import func
from chainrule.autograd import Function
from chainrule.autograd.gradcheck import GradcheckError, gradcheck, gradgradcheck


def t64(a, requires_grad=False) -> cr.Tensor:
    return cr.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


class MyExp(Function):
    """y = e^x written by hand: saves y, dy/dx = y."""

    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y

    @staticmethod
    def jvp(ctx, dx):
        (y,) = ctx.saved_tensors
        return dx * y


class ScaledMul(Function):
    """y = alpha · a · b with a Python-number argument alpha (no gradient)."""

    @staticmethod
    def forward(ctx, a, alpha, b):
        ctx.save_for_backward(a, b)
        ctx.alpha = alpha
        ctx.seen_needs = ctx.needs_input_grad
        return a * b * alpha

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = g * b * ctx.alpha if ctx.needs_input_grad[0] else None
        gb = g * a * ctx.alpha if ctx.needs_input_grad[2] else None
        return ga, None, gb

    @staticmethod
    def jvp(ctx, da, dalpha, db):
        a, b = ctx.saved_tensors
        assert dalpha is None
        return (da * b + a * db) * ctx.alpha


class ClampST(Function):
    """Clamp to [-1, 1] in the forward pass, identity gradient (straight-through) in the backward."""

    @staticmethod
    def forward(ctx, x):
        return x.clamp(-1.0, 1.0)

    @staticmethod
    def backward(ctx, g):
        return g


class WrongJvp(Function):
    """y = x², with a correct backward but a deliberately wrong jvp (x·dx instead of 2x·dx)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * g * x

    @staticmethod
    def jvp(ctx, dx):
        (x,) = ctx.saved_tensors
        return x * dx


def test_custom_exp_values_and_gradcheck_both_modes():
    x = t64([-0.5, 0.3, 1.2], requires_grad=True)
    y = MyExp.apply(x)
    np.testing.assert_allclose(y.detach().numpy(), np.exp(x.data))
    assert y.requires_grad and y.grad_fn.name() == "MyExpBackward"
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp(x.data))
    assert gradcheck(MyExp.apply, (t64([[0.1, -0.4], [0.9, 0.0]], True),), check_forward_ad=True)


def test_custom_exp_second_order_through_create_graph():
    # backward is written with tensor ops, and under create_graph its saved y is the live output,
    # so d²/dx² e^x = e^x comes out
    assert gradgradcheck(MyExp.apply, (t64([0.2, -0.7], True),))
    x = t64([0.4], True)
    (g,) = cr.autograd.grad(MyExp.apply(x).sum(), x, create_graph=True)
    (h,) = cr.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), np.exp(0.4))


def test_non_tensor_arguments_and_needs_input_grad():
    a = t64([1.0, 2.0], requires_grad=True)
    b = t64([3.0, -1.0])
    y = ScaledMul.apply(a, 2.5, b)
    np.testing.assert_array_equal(y.detach().numpy(), 2.5 * a.data * b.data)
    assert y.grad_fn.seen_needs == (True, False, False)
    y.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), 2.5 * b.data)
    assert b.grad is None
    assert gradcheck(lambda p, q: ScaledMul.apply(p, -0.5, q), (t64([0.3, 1.1], True), t64([2.0, 0.7], True)),
                     check_forward_ad=True)
    with cr.no_grad():
        z = ScaledMul.apply(a, 1.0, b)
    assert not z.requires_grad and z.grad_fn is None


def test_straight_through_clamp():
    x = t64([-3.0, -0.5, 0.2, 4.0], requires_grad=True)
    y = ClampST.apply(x)
    np.testing.assert_array_equal(y.detach().numpy(), [-1.0, -0.5, 0.2, 1.0])
    (y * t64([1.0, 2.0, 3.0, 4.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 2.0, 3.0, 4.0])  # gradient passes straight through


def test_custom_function_inside_a_larger_graph_and_func_transforms():
    x0 = np.array([0.3, -0.2])
    f = lambda x: (MyExp.apply(x * 2) * x).sum()  # d/dx e^{2x} x = e^{2x}(2x + 1)
    g = func.grad(f)(t64(x0))
    np.testing.assert_allclose(g.numpy(), np.exp(2 * x0) * (2 * x0 + 1), rtol=1e-12)
    _, d = func.jvp(f, (t64(x0),), (t64([1.0, 1.0]),))
    assert d.item() == pytest.approx(float(np.sum(np.exp(2 * x0) * (2 * x0 + 1))), rel=1e-12)


def test_forward_mode_uses_only_the_custom_jvp():
    # the user's forward runs without tangents: an op inside it without a forward-mode rule is fine
    from chainrule.autograd.primitive import Primitive, apply

    class Twice(Primitive):  # a primitive with no jvp rule
        name = "twice"

        def forward(self, m, x):
            return 2 * x

    class Double(Function):
        @staticmethod
        def forward(ctx, x):
            return apply(Twice(), x)

        @staticmethod
        def backward(ctx, g):
            return 2 * g

        @staticmethod
        def jvp(ctx, dx):
            return 2 * dx

    _, d = func.jvp(Double.apply, (t64([1.0, 3.0]),), (t64([0.5, -1.0]),))
    np.testing.assert_array_equal(d.numpy(), [1.0, -2.0])


def test_hessian_through_a_custom_function():
    # forward-over-reverse runs the tangent through the user's backward: d²/dx² sum e^x = diag(e^x)
    x0 = np.array([0.3, -0.6])
    H = func.hessian(lambda x: MyExp.apply(x).sum())(t64(x0))
    np.testing.assert_allclose(H.numpy(), np.diag(np.exp(x0)), rtol=1e-12)


def test_gradcheck_forward_ad_catches_a_wrong_jvp():
    x = t64([0.5, -1.5], True)
    assert gradcheck(WrongJvp.apply, (x,))  # reverse mode is right
    with pytest.raises(GradcheckError, match="forward mode"):
        gradcheck(WrongJvp.apply, (x,), check_forward_ad=True)
    assert not gradcheck(WrongJvp.apply, (x,), check_forward_ad=True, raise_exception=False)


@pytest.mark.parametrize(
    "fn, x",
    [
        (lambda x: (x.sin() * x.exp()).sum(), [0.3, -1.2, 0.8]),
        (lambda x: x.tanh() @ x.sigmoid(), [0.1, 0.5, -0.4]),
        (lambda x: (x.reshape(2, 2) @ x.reshape(2, 2).T).log1p(), [0.2, 0.3, 0.4, 0.5]),
        (lambda x: x.softmax(0) * x, [1.0, 2.0, -0.5]),
    ],
)
def test_gradcheck_forward_ad_passes_on_smooth_functions(fn, x):
    assert gradcheck(fn, (t64(x, True),), check_forward_ad=True)


def test_function_errors():
    class TooMany(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g, g

    class NoJvp(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return 2 * g

    x = t64([1.0], True)
    with pytest.raises(RuntimeError, match="returned 2 gradients"):
        TooMany.apply(x).sum().backward()
    with pytest.raises(RuntimeError, match="no forward-mode rule"):
        func.jvp(NoJvp.apply, (t64([1.0]),), (t64([1.0]),))
    with pytest.raises(TypeError, match="only Tensors"):
        class SaveNumber(Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(3.0)
                return x

        SaveNumber.apply(x)
    with pytest.raises(RuntimeError, match="apply"):
        MyExp()


def test_mark_non_differentiable():
    class ArgmaxMask(Function):
        @staticmethod
        def forward(ctx, x):
            out = (x == x.max()).to(x.dtype)
            ctx.mark_non_differentiable(out)
            return out

        @staticmethod
        def backward(ctx, g):
            return None

    y = ArgmaxMask.apply(t64([1.0, 3.0, 2.0], True))
    np.testing.assert_array_equal(y.numpy(), [0.0, 1.0, 0.0])
    assert not y.requires_grad


class SinCos(Function):
    """Two outputs (sin x, cos x); backward gets one gradient per output."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sin(), x.cos()

    @staticmethod
    def backward(ctx, g_sin, g_cos):
        (x,) = ctx.saved_tensors
        return g_sin * x.cos() - g_cos * x.sin()

    @staticmethod
    def jvp(ctx, dx):
        (x,) = ctx.saved_tensors
        return dx * x.cos(), -dx * x.sin()


class MaxWithIndex(Function):
    """(max over the last dim, its index): the integer output gets no gradient (None in backward)."""

    @staticmethod
    def forward(ctx, x):
        idx = x.argmax(-1)
        ctx.save_for_backward(idx)
        ctx.shape = x.shape
        return x.amax(-1), idx

    @staticmethod
    def backward(ctx, g, g_idx):
        assert g_idx is None
        (idx,) = ctx.saved_tensors
        onehot = np.zeros(ctx.shape)
        np.put_along_axis(onehot, idx.numpy()[..., None], 1.0, axis=-1)
        return g.unsqueeze(-1) * cr.tensor(onehot)


def test_several_outputs_values_gradients_and_both_modes():
    x = t64([0.3, -1.1, 2.0], True)
    s, c = SinCos.apply(x)
    np.testing.assert_allclose(s.detach().numpy(), np.sin(x.data))
    np.testing.assert_allclose(c.detach().numpy(), np.cos(x.data))
    c.sum().backward()  # only one output used: the other's gradient arrives as zeros
    np.testing.assert_allclose(x.grad.numpy(), -np.sin(x.data))
    assert gradcheck(SinCos.apply, (t64([0.5, -0.2], True),), check_forward_ad=True)
    assert gradgradcheck(lambda x: SinCos.apply(x)[0] * SinCos.apply(x)[1], (t64([0.4, 1.3], True),))
    # forward mode: tangents of both outputs from the one jvp
    (s2, c2), (ds, dc) = func.jvp(SinCos.apply, (t64([0.7]),), (t64([2.0]),))
    assert ds.item() == pytest.approx(2 * np.cos(0.7)) and dc.item() == pytest.approx(-2 * np.sin(0.7))


def test_several_outputs_with_an_integer_output():
    x = t64([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]], True)
    m, i = MaxWithIndex.apply(x)
    assert i.tolist() == [1, 0] and not i.requires_grad and m.requires_grad
    (m * t64([2.0, 3.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 2.0, 0.0], [3.0, 0.0, 0.0]])
    assert gradcheck(lambda x: MaxWithIndex.apply(x)[0], (t64([[0.1, 0.9], [0.5, -0.3]], True),))


class ExpPair(Function):
    """(e^x, e^{2x}) saving its outputs: under create_graph the saved outputs are the live ones."""

    @staticmethod
    def forward(ctx, x):
        a, b = x.exp(), (2 * x).exp()
        ctx.save_for_backward(a, b)
        return a, b

    @staticmethod
    def backward(ctx, ga, gb):
        a, b = ctx.saved_tensors
        return ga * a + 2 * gb * b


def test_several_outputs_saved_outputs_second_order():
    assert gradgradcheck(lambda x: ExpPair.apply(x), (t64([0.2, -0.4], True),))
    x0 = 0.3
    f = lambda x: sum(o.sum() for o in ExpPair.apply(x))
    H = func.grad(func.grad(f))(t64(x0))  # reverse over reverse (ExpPair has no jvp for hessian)
    assert H.item() == pytest.approx(np.exp(x0) + 4 * np.exp(2 * x0), rel=1e-12)  # d²/dx² (e^x + e^2x)
