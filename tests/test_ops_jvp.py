"""Forward mode agrees with reverse mode for every primitive: <u, J v> = <Jᵀ u, v>.

Each primitive's ``jvp`` (J v) and ``vjp`` (Jᵀ u) are called directly on
arrays with ``ArrayMath``, for random directions u and v.  Together with the
finite-difference checks of the vjps (test_ops_gradcheck.py) this pins down
the jvps too.  The same tables check that float32 inputs give float32
tangents and cotangents (no silent promotion to float64 inside a rule).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.func  # noqa: F401  (cr.func)
from chainrule.backend import ArrayMath, sum_to
from chainrule.ops import elementwise as ew
from chainrule.ops import indexing, linalg, methods, reduction, shape

R = np.random.default_rng(12345)


def u(*shape, lo=-2.0, hi=2.0):
    return R.uniform(lo, hi, size=shape)


def away(*shape):
    return R.uniform(0.3, 2.0, size=shape) * R.choice([-1.0, 1.0], size=shape)


def distinct(*shape):
    n = int(np.prod(shape))
    return (R.permutation(n) * 0.37 + R.uniform(0, 0.1, n)).reshape(shape)


# name -> (primitive instance, inputs); inputs are float64 arrays (bool/int for masks, indices)
CASES = {
    "neg": (ew.NEG, [u(3, 2)]),
    "add_broadcast": (ew.ADD, [u(3, 1), u(4)]),
    "sub_broadcast": (ew.SUB, [u(2, 3), u(3)]),
    "mul_broadcast": (ew.MUL, [u(2, 1, 3), u(4, 1)]),
    "div_broadcast": (ew.DIV, [u(3, 4), away(4)]),
    "pow": (ew.POW, [u(3, 2, lo=0.3), u(2)]),
    "pow_scalar": (ew.PowScalar(2.5), [u(5, lo=0.2)]),
    "pow_scalar_int": (ew.PowScalar(3), [u(5)]),
    "pow_scalar_2": (ew.PowScalar(2), [u(5)]),
    "exp": (ew.EXP, [u(2, 3)]),
    "log": (ew.LOG, [u(2, 3, lo=0.2)]),
    "log1p": (ew.LOG1P, [u(2, 3, lo=-0.5)]),
    "sqrt": (ew.SQRT, [u(2, 3, lo=0.2)]),
    "abs": (ew.ABS, [away(2, 3)]),
    "sign": (ew.SIGN, [away(4)]),
    "sin": (ew.SIN, [u(4)]),
    "cos": (ew.COS, [u(4)]),
    "tanh": (ew.TANH, [u(3, 3)]),
    "sigmoid": (ew.SIGMOID, [u(3, 3)]),
    "relu": (ew.RELU, [away(3, 3)]),
    "maximum": (ew.MAXIMUM, [distinct(3, 2), distinct(2) + 0.05]),
    "minimum": (ew.MINIMUM, [distinct(3, 2), distinct(3, 1) + 0.05]),
    "clamp": (ew.Clamp(-0.5, 0.5), [away(6)]),
    "clamp_min_only": (ew.Clamp(0.1, None), [away(6)]),
    "where": (ew.WHERE, [R.random((3, 1)) > 0.5, u(3, 4), u(4)]),
    "sum_all": (reduction.Sum((0, 1), False), [u(3, 4)]),
    "sum_axis_keep": (reduction.Sum((1,), True), [u(3, 4, 2)]),
    "mean_axes": (reduction.Mean((0, 2), False), [u(3, 4, 2)]),
    "amax": (reduction.Amax((1,), False), [distinct(3, 4)]),
    "amin_keep": (reduction.Amin((0,), True), [distinct(3, 4)]),
    "var": (reduction.Var((1,), False, 1), [u(3, 4)]),
    "var_all_biased": (reduction.Var((0, 1), True, 0), [u(3, 4)]),
    "logsumexp": (reduction.LogSumExp((1,), False), [u(3, 4)]),
    "logsumexp_keep": (reduction.LogSumExp((0, 1), True), [u(3, 4)]),
    "softmax": (reduction.Softmax(1), [u(3, 4)]),
    "softmax_dim0": (reduction.Softmax(0), [u(3, 4)]),
    "log_softmax": (reduction.LogSoftmax(1), [u(3, 4)]),
    "matmul_2d": (linalg.MATMUL, [u(3, 4), u(4, 2)]),
    "matmul_dot": (linalg.MATMUL, [u(4), u(4)]),
    "matmul_vec_mat": (linalg.MATMUL, [u(4), u(2, 4, 3)]),
    "matmul_mat_vec": (linalg.MATMUL, [u(2, 3, 4), u(4)]),
    "matmul_broadcast_batch": (linalg.MATMUL, [u(2, 1, 3, 4), u(3, 4, 2)]),
    "reshape": (shape.Reshape((4, 3)), [u(2, 6)]),
    "permute": (shape.Permute((2, 0, 1)), [u(2, 3, 4)]),
    "expand": (shape.Expand((2, 3, 4)), [u(3, 1)]),
    "cat": (shape.Cat(1), [u(2, 3), u(2, 1), u(2, 2)]),
    "pad": (shape.Pad(((1, 0), (2, 1)), 0.5), [u(2, 3)]),
    "flip": (shape.Flip((0, 1)), [u(2, 3)]),
    "getitem_slice": (indexing.GetItem((slice(None), slice(1, 3))), [u(3, 4)]),
    "getitem_repeated": (indexing.GetItem(np.array([0, 2, 2, 1, 0])), [u(3, 4)]),
    "getitem_mask": (indexing.GetItem(np.array([True, False, True])), [u(3, 4)]),
    "scatter_add": (indexing.ScatterAdd((3, 4), (np.array([0, 0, 2]), np.array([1, 1, 3]))), [u(3)]),
    "index_put": (indexing.IndexPut((slice(None), 1)), [u(3, 4), u(3)]),
    "index_put_broadcast_value": (indexing.IndexPut(np.array([0, 2])), [u(3, 4), u(4)]),
    "cast": (methods.Cast(np.dtype(np.float64)), [u(3)]),
    "clone": (methods.Clone(), [u(2, 2)]),
}


def _directions(xs):
    """Random tangents for the float inputs, zeros (as the engine passes) for the others."""
    return tuple(
        R.standard_normal(x.shape).astype(x.dtype) if x.dtype.kind == "f" else np.zeros(x.shape)
        for x in xs
    )


def _pairing(op, xs):
    """Return (<u, J v>, <Jᵀ u, v>) for random u, v."""
    m = ArrayMath
    y = np.asarray(op.forward(ArrayMath, *xs))
    vs = _directions(xs)
    cot = R.standard_normal(y.shape).astype(y.dtype)
    dy = np.broadcast_to(op.jvp(m, vs, y, *xs), y.shape)
    need = tuple(x.dtype.kind == "f" for x in xs)
    grads = op.vjp(m, need, cot, y, *xs)
    assert len(grads) == len(xs), f"{op.name}: vjp must return one gradient per input"
    lhs = float(np.sum(cot * dy))
    rhs = 0.0
    for g, x, v, nd in zip(grads, xs, vs, need):
        if not nd:
            assert g is None, f"{op.name}: a gradient for an input that does not need one"
            continue
        rhs += float(np.sum(sum_to(np.asarray(g), x.shape) * v))
    return lhs, rhs


@pytest.mark.parametrize("name", sorted(CASES))
def test_jvp_is_the_transpose_of_vjp(name):
    op, xs = CASES[name]
    for _ in range(3):
        lhs, rhs = _pairing(op, xs)
        np.testing.assert_allclose(lhs, rhs, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", sorted(CASES))
def test_float32_in_float32_out_of_every_rule(name):
    op, xs = CASES[name]
    if name == "cast":
        op = methods.Cast(np.dtype(np.float32))
    xs32 = [x.astype(np.float32) if x.dtype.kind == "f" else x for x in xs]
    m = ArrayMath
    y = np.asarray(op.forward(ArrayMath, *xs32))
    assert y.dtype == np.float32, f"{name}: forward gave {y.dtype}"
    g = np.ones(y.shape, dtype=np.float32)
    need = tuple(x.dtype.kind == "f" for x in xs32)
    for gx in op.vjp(m, need, g, y, *xs32):
        if gx is not None:
            assert np.asarray(gx).dtype == np.float32, f"{name}: vjp gave {np.asarray(gx).dtype}"
    dy = op.jvp(m, _directions(xs32), y, *xs32)
    assert np.asarray(dy).dtype == np.float32, f"{name}: jvp gave {np.asarray(dy).dtype}"


@settings(max_examples=10, deadline=None, derandomize=True)
@given(
    name=st.sampled_from(["mul_broadcast", "div_broadcast", "tanh", "softmax", "matmul_2d", "var", "pow"]),
    scale=st.floats(0.25, 2.0),
)
def test_jvp_vjp_pairing_holds_at_rescaled_inputs(name, scale):
    """The identity holds at other points too (inputs rescaled into the safe range)."""
    op, xs = CASES[name]
    xs = [x * scale if x.dtype.kind == "f" and name not in ("div_broadcast", "pow") else x for x in xs]
    lhs, rhs = _pairing(op, xs)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------- the same identity through the public transforms
FUNCTIONS = {
    "mlp_like": lambda a, b: ((a @ b).tanh() + b.sum(0)).log_softmax(-1),
    "broadcast_arith": lambda a, b: a[:, :1] * b[0] / (b[1] ** 2 + 1) - a.exp().mean(0, keepdim=True)[:, :2],
    "reductions": lambda a, b: a.var(1) + a.logsumexp(1) + a.amax(1) + (b.softmax(0) * b).sum(0)[:1],
    "shapes": lambda a, b: cr.cat([a.T.flip(0)[:2], b.reshape(3, 2).T], 1).repeat(2, 1)[1:, ::2].sigmoid(),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_forward_mode_transform_agrees_with_reverse_mode(name):
    """cr.func.jvp (forward mode, one pass) against cr.autograd.grad (reverse mode)."""
    fn = FUNCTIONS[name]
    a = cr.tensor(R.uniform(-1, 1, (3, 3)), dtype=cr.float64, requires_grad=True)
    b = cr.tensor(R.uniform(0.2, 1, (3, 2)), dtype=cr.float64, requires_grad=True)
    va = cr.tensor(R.standard_normal((3, 3)), dtype=cr.float64)
    vb = cr.tensor(R.standard_normal((3, 2)), dtype=cr.float64)
    y, dy = cr.func.jvp(fn, (a, b), (va, vb))
    cot = cr.tensor(R.standard_normal(y.shape), dtype=cr.float64)
    ga, gb = cr.autograd.grad(fn(a, b), (a, b), cot)
    lhs = float((cot.data * dy.data).sum())
    rhs = float((ga.data * va.data).sum() + (gb.data * vb.data).sum())
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(y.data, fn(a, b).data)
