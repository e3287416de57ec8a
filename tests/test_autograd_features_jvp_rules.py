"""Every core primitive's forward-mode (jvp) rule against finite differences, and
forward-over-reverse (tangents pushed through a create_graph backward pass) against
finite differences of the gradient.

gradcheck(check_forward_ad=True) builds the Jacobian column by column with
func.jvp (one forward pass per input element) and compares it with central
differences, as it does for reverse mode.  Inputs are fixed, in each op's safe
range (away from kinks and ties).
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import func
from chainrule.autograd.gradcheck import gradcheck


def leaf(a) -> cr.Tensor:
    return cr.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def u(shape, lo=-2.0, hi=2.0, seed=0) -> cr.Tensor:
    return leaf(np.random.default_rng(seed).uniform(lo, hi, size=shape))


def away(shape, seed=0) -> cr.Tensor:
    rng = np.random.default_rng(seed)
    return leaf(rng.uniform(0.2, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape))


def distinct(shape, seed=0) -> cr.Tensor:
    n = int(np.prod(shape))
    rng = np.random.default_rng(seed)
    return leaf(((rng.permutation(n) + 0.5) * 0.3 - 0.15 * n).reshape(shape))


IDX = cr.tensor([[0, 2], [1, 1]])

CASES = {
    # elementwise, unary
    "neg": (lambda x: -x, [u((2, 3))]),
    "exp": (cr.exp, [u((2, 3))]),
    "log": (cr.log, [u((2, 3), 0.2, 2)]),
    "log1p": (cr.log1p, [u((3,), -0.5, 2)]),
    "sqrt": (cr.sqrt, [u((3,), 0.2, 2)]),
    "sin_cos": (lambda x: x.sin() * x.cos(), [u((3,))]),
    "tanh": (cr.tanh, [u((2, 2))]),
    "sigmoid": (cr.sigmoid, [u((2, 2))]),
    "pow_scalar": (lambda x: x**3 + x**-1.5 * 0 + x**0.5, [u((3,), 0.3, 2)]),
    "abs_sign_relu": (lambda x: x.abs() + cr.relu(x) + cr.sign(x), [away((4,))]),
    "clamp": (lambda x: cr.clamp(x, -0.1, 0.1) + x.clamp(min=0.1), [away((4,))]),
    # elementwise, binary with broadcasting
    "add_sub": (lambda a, b: a + b - 2 * b, [u((2, 3)), u((3,), seed=1)]),
    "mul": (lambda a, b: a * b, [u((2, 1)), u((1, 3), seed=1)]),
    "div": (lambda a, b: a / b, [u((2, 3)), away((3,), seed=1)]),
    "pow_tensor": (lambda a, b: a**b, [u((3,), 0.5, 2), u((3,), seed=1)]),
    "maximum_minimum": (lambda a, b: cr.maximum(a, b) + cr.minimum(a, b) * 2,
                        [leaf([0.1, 2.3, -1.7]), leaf([1.5, 0.4, -0.2])]),
    "where": (lambda a, b: cr.where(a.detach() > 0, a, b), [away((3,)), u((3,), seed=2)]),
    # reductions
    "sum_mean": (lambda x: x.sum(0) + x.mean(1, keepdim=True), [u((3, 3))]),
    "amax_amin": (lambda x: cr.amax(x, 1) + cr.amin(x, 0), [distinct((3, 3))]),
    "var_std": (lambda x: x.var(1, keepdim=True) + x.std(0), [u((3, 4))]),
    "logsumexp": (lambda x: cr.logsumexp(x, 1), [u((2, 3))]),
    "softmax": (lambda x: x.softmax(-1), [u((2, 3))]),
    "log_softmax": (lambda x: cr.log_softmax(x, 0), [u((3, 2))]),
    # linear algebra
    "matmul": (lambda a, b: a @ b, [u((2, 3)), u((3, 2), seed=1)]),
    "matmul_batched_vec": (lambda a, b: a @ b, [u((2, 2, 3)), u((3,), seed=1)]),
    # shapes
    "reshape_permute": (lambda x: x.reshape(3, 4).T.permute(1, 0), [u((2, 3, 2))]),
    "expand": (lambda x: x.expand(2, 3, 4), [u((3, 1))]),
    "cat_stack": (lambda a, b: cr.cat([a, b], 1) * cr.stack([a, b], 0).sum(0).sum(), [u((2, 2)), u((2, 2), seed=1)]),
    "pad_flip": (lambda x: cr.pad(x.flip(0), (1, 2), value=0.5), [u((2, 3))]),
    "clone": (lambda x: x.clone() * 2, [u((2,))]),
    # indexing
    "getitem": (lambda x: x[np.array([0, 2, 2])] + x[1:, ::2].sum(), [u((3, 4))]),
    "gather_scatter": (lambda x, s: x.gather(1, IDX).sum() + x.scatter_add(1, IDX, s), [u((2, 3)), u((2, 2), seed=1)]),
    # sliding windows: convolution by unfold, max pooling (no ties)
    "conv2d": (lambda x, w: F.conv2d(x, w, padding=1, stride=2), [u((1, 2, 4, 4)), u((3, 2, 3, 3), seed=1)]),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2), [distinct((1, 1, 4, 4))]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_mode_rule_matches_finite_differences(name):
    fn, inputs = CASES[name]
    assert gradcheck(fn, tuple(inputs), check_forward_ad=True)


def test_cast_forward_mode():
    # float32 rounding (1e-7 relative) needs the larger eps
    assert gradcheck(lambda x: x.float().double() * x, (u((3,)),), eps=1e-3, atol=1e-4, check_forward_ad=True)


def test_forward_mode_equals_reverse_mode_along_random_directions():
    # J v by forward mode vs (vᵀ-free) reverse mode: uᵀ (J v) == (uᵀ J) v for random u, v
    rng = np.random.default_rng(3)
    W = cr.tensor(rng.standard_normal((4, 3)))

    def f(x):
        h = (W @ x).tanh()
        return h.softmax(0) * h.exp()

    x0 = cr.tensor(rng.standard_normal(3))
    for _ in range(3):
        v = cr.tensor(rng.standard_normal(3))
        uu = cr.tensor(rng.standard_normal(4))
        _, jv = func.jvp(f, (x0,), (v,))
        _, vjp_fn = func.vjp(f, x0)
        (uj,) = vjp_fn(uu)
        assert float(uu.data @ jv.data) == pytest.approx(float(uj.data @ v.data), rel=1e-12)


HESSIAN_CASES = {
    "log_softmax_nll": lambda x: -(cr.log_softmax(x.reshape(2, 3), 1)[np.arange(2), np.array([2, 0])]).sum(),
    "mlp": lambda x: ((x.reshape(2, 3) @ cr.tensor(np.linspace(-1, 1, 6).reshape(3, 2))).tanh() ** 2).mean(),
    "var_logsumexp": lambda x: x.var() + cr.logsumexp(x, 0) * x.sigmoid().sum(),
    "div_sqrt_pow": lambda x: (x * x + 1).sqrt().sum() / (x**2 + 2).sum() + (x.abs() + 1) ** 1.5 @ x,
}


@pytest.mark.parametrize("name", sorted(HESSIAN_CASES))
def test_hessian_forward_over_reverse_matches_finite_differences_of_the_gradient(name):
    f = HESSIAN_CASES[name]
    x0 = np.random.default_rng(5).uniform(0.2, 1.5, size=6)
    H = func.hessian(f)(cr.tensor(x0)).numpy()
    grad = func.grad(f)
    eps = 1e-6
    H_num = np.zeros((6, 6))
    for j in range(6):
        xp, xm = x0.copy(), x0.copy()
        xp[j] += eps
        xm[j] -= eps
        H_num[:, j] = (grad(cr.tensor(xp)).numpy() - grad(cr.tensor(xm)).numpy()) / (2 * eps)
    np.testing.assert_allclose(H, H_num, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(H, H.T, rtol=1e-10, atol=1e-12)  # second derivatives commute
