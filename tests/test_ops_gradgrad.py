"""Second derivatives: gradgradcheck (create_graph=True against finite differences).

The backward rules run on TensorMath when the graph of the backward pass is
recorded, so every smooth op must be twice differentiable through its own vjp.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd.gradcheck import gradgradcheck

R = np.random.default_rng(7)


def leaf(shape, lo=-1.5, hi=1.5) -> cr.Tensor:
    return cr.tensor(R.uniform(lo, hi, size=shape), dtype=cr.float64, requires_grad=True)


def away(shape) -> cr.Tensor:
    return cr.tensor(R.uniform(0.3, 1.5, size=shape) * R.choice([-1.0, 1.0], size=shape),
                     dtype=cr.float64, requires_grad=True)


UNARY = {
    "exp": (lambda x: x.exp(), (2, 3), (-1.5, 1.5)),
    "log": (lambda x: x.log(), (2, 3), (0.3, 2.0)),
    "log1p": (lambda x: x.log1p(), (4,), (-0.5, 1.5)),
    "sqrt": (lambda x: x.sqrt(), (4,), (0.3, 2.0)),
    "sin": (lambda x: x.sin(), (2, 3), (-3, 3)),
    "cos": (lambda x: x.cos(), (2, 3), (-3, 3)),
    "tanh": (lambda x: x.tanh(), (2, 3), (-2, 2)),
    "sigmoid": (lambda x: x.sigmoid(), (2, 3), (-3, 3)),
    "pow_scalar": (lambda x: x**3.5, (4,), (0.3, 2.0)),
    "pow_scalar_neg": (lambda x: x**-2, (4,), (0.3, 2.0)),
    "square": (lambda x: x * x, (4,), (-2, 2)),
    "sum": (lambda x: (x.sum(1) ** 2), (2, 3), (-1, 1)),
    "mean": (lambda x: (x.mean((0, 2), keepdim=True) ** 3), (2, 3, 2), (-1, 1)),
    "var": (lambda x: x.var(1), (2, 4), (-1, 1)),
    "std": (lambda x: x.std(0), (4, 2), (-1, 1)),
    "logsumexp": (lambda x: x.logsumexp(-1), (2, 4), (-2, 2)),
    "softmax": (lambda x: x.softmax(-1), (2, 4), (-2, 2)),
    "softmax_dim0": (lambda x: cr.softmax(x, 0), (3, 2), (-2, 2)),
    "log_softmax": (lambda x: x.log_softmax(1), (2, 4), (-2, 2)),
    "reshape_permute": (lambda x: (x.reshape(3, 2).permute(1, 0) ** 2), (2, 3), (-1, 1)),
    "transpose_flatten": (lambda x: x.transpose(0, 2).flatten().exp(), (2, 2, 2), (-1, 1)),
    "squeeze_unsqueeze": (lambda x: x.unsqueeze(0).squeeze(0).sin(), (3,), (-1, 1)),
    "expand": (lambda x: x.expand(3, 2).exp() * cr.arange(6.0, dtype=cr.float64).reshape(3, 2), (1, 2), (-1, 1)),
    "getitem_repeated": (lambda x: x[[0, 2, 2]] ** 2, (3, 2), (-1, 1)),
    "getitem_slice": (lambda x: x[1:, ::2].tanh(), (3, 4), (-1, 1)),
    "gather": (lambda x: x.gather(1, cr.tensor([[0, 0], [2, 1]])) ** 3, (2, 3), (-1, 1)),
    "pad_flip": (lambda x: cr.pad(x, (1, 1)).flip(0).exp(), (2, 2), (-1, 1)),
    "cat_stack": (lambda x: cr.stack([x * x, cr.cat([x[1:], x[:1]])]), (3,), (-1, 1)),
    "split_repeat": (lambda x: x.split(1)[1].repeat(2) ** 2, (3,), (-1, 1)),
    "abs_away_from_0": (lambda x: x.abs() ** 3, (4,), None),
    "relu_away_from_0": (lambda x: x.relu() * x, (4,), None),
    "clamp_inside": (lambda x: x.clamp(-5.0, 5.0) ** 2, (4,), (-2, 2)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_gradgradcheck(name):
    fn, shape, rng = UNARY[name]
    x = leaf(shape, *rng) if rng is not None else away(shape)
    assert gradgradcheck(fn, (x,))


BINARY = {
    "mul": (lambda a, b: a * b, (2, 3), (3,)),
    "div": (lambda a, b: a / b, (2, 3), (3,)),
    "pow": (lambda a, b: a**b, (2, 2), (2,)),
    "add_sub": (lambda a, b: (a + b) * (a - b), (2, 1), (3,)),
    "matmul_2d": (lambda a, b: a @ b, (2, 3), (3, 2)),
    "matmul_batched_broadcast": (lambda a, b: a @ b, (2, 2, 3), (3, 2)),
    "matmul_vec": (lambda a, b: (a @ b) ** 2, (3,), (2, 3, 2)),
    "where": (lambda a, b: cr.where(cr.tensor([True, False, True]), a * b, b.exp()), (3,), (3,)),
    "maximum_no_ties": (lambda a, b: cr.maximum(a, b + 10.0) * a, (3,), (3,)),
}


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_gradgradcheck(name):
    fn, sa, sb = BINARY[name]
    a = leaf(sa, 0.5, 1.5)
    b = leaf(sb, 0.5, 1.5) if name != "pow" else leaf(sb, -1.5, 1.5)
    assert gradgradcheck(fn, (a, b))


def test_gradgradcheck_catches_a_wrong_second_derivative():
    """A primitive whose vjp is right at first order but built from detached values
    is caught by gradgradcheck (and passes gradcheck): the check can fail."""
    from chainrule.autograd.gradcheck import GradcheckError, gradcheck
    from chainrule.autograd.primitive import Primitive, apply1

    class CubeDetached(Primitive):
        name = "cube_detached"

        def forward(self, m, x):
            return x**3

        def vjp(self, m, need, g, y, x):
            return (g * m.const(3 * m.raw(x) ** 2, x),)  # a constant: no second derivative

        def jvp(self, m, dxs, y, x):
            return dxs[0] * 3 * x**2

    x = leaf((3,), 0.5, 1.5)
    assert gradcheck(lambda x: apply1(CubeDetached(), x), (x,))
    with pytest.raises(GradcheckError):
        gradgradcheck(lambda x: apply1(CubeDetached(), x), (x,))


def test_gradcheck_perturbs_a_transposed_input_in_place():
    """A non-contiguous input (a permuted view) is perturbed element by element in place, its
    columns in C order as the reverse pass's rows: the finite differences see the perturbation
    (they read 0 before, as the perturbation went into a flattened copy), and a wrong
    derivative is still caught."""
    from chainrule.autograd.gradcheck import GradcheckError, gradcheck, numerical_jacobian

    x = cr.tensor(np.arange(24.0).reshape(2, 3, 4) / 10).permute(2, 0, 1).requires_grad_()
    assert not x._array.flags.c_contiguous
    w = cr.tensor(np.linspace(-1, 1, 24).reshape(4, 2, 3))
    assert gradcheck(lambda a: (a * a * w).sum(), (x,))
    (jac,) = numerical_jacobian(lambda a: (a * w).sum(), [x])[0]
    np.testing.assert_allclose(jac, w._array.reshape(1, -1), atol=1e-8)  # column j is element j in C order
    assert gradgradcheck(lambda a: (a.sin() * w).sum(), (x,))
    with pytest.raises(GradcheckError):
        gradcheck(lambda a: (a * w).sum() + a[0, 0, 0].detach(), (x,))  # a term the reverse pass misses
