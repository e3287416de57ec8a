"""chainrule.func and forward_ad against closed-form derivatives and finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import func
from chainrule.autograd import engine
from chainrule.autograd import forward_ad as fwAD
from chainrule.autograd.grad_mode import STATE

RNG = np.random.default_rng(0)


def t64(a, requires_grad=False) -> cr.Tensor:
    return cr.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def numeric_jacobian(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences, shape f(x).shape + x.shape."""
    y0 = np.asarray(f(x))
    J = np.zeros(y0.shape + x.shape)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        J[(...,) + idx] = (np.asarray(f(xp)) - np.asarray(f(xm))) / (2 * eps)
    return J


# ---------------------------------------------------------------- grad
def test_grad_of_sum_of_cubes():
    x = t64([1.0, -2.0, 0.5])
    g = func.grad(lambda v: (v**3).sum())(x)
    np.testing.assert_allclose(g.numpy(), 3 * x.data**2)  # d/dx sum x³ = 3x²
    assert not g.requires_grad and x.grad is None


def test_grad_argnums_tuple_and_aux():
    x, y = t64([1.0, 2.0]), t64([3.0, -1.0])

    def f(a, b):
        out = (a * b).sum()
        return out, "aux"

    (gx, gy), aux = func.grad(f, argnums=(0, 1), has_aux=True)(x, y)
    np.testing.assert_array_equal(gx.numpy(), y.data)  # d(a·b)/da = b
    np.testing.assert_array_equal(gy.numpy(), x.data)
    assert aux == "aux"
    gb = func.grad(lambda a, b: (a * b).sum(), argnums=-1)(x, y)
    np.testing.assert_array_equal(gb.numpy(), x.data)


def test_grad_and_value():
    x = t64([2.0])
    g, v = func.grad_and_value(lambda a: (a.exp()).sum())(x)
    np.testing.assert_allclose(g.numpy(), np.exp(2.0))
    np.testing.assert_allclose(v.numpy(), np.exp(2.0))


def test_grad_works_under_no_grad_and_for_unused_input():
    x = t64([1.0, 2.0])
    with cr.no_grad():
        g = func.grad(lambda a: (a * a).sum())(x)
    np.testing.assert_array_equal(g.numpy(), [2.0, 4.0])
    z = func.grad(lambda a, b: (b * 2).sum())(x, t64([1.0]))
    np.testing.assert_array_equal(z.numpy(), [0.0, 0.0])


def test_grad_of_grad_is_second_derivative():
    # f = x³ sin x;  f' = 3x² sin x + x³ cos x;  f'' = 6x sin x + 6x² cos x - x³ sin x
    f = lambda x: x**3 * x.sin()
    for x0 in (-1.1, 0.4, 2.0):
        d2 = func.grad(func.grad(f))(t64(x0)).item()
        assert d2 == pytest.approx(6 * x0 * np.sin(x0) + 6 * x0**2 * np.cos(x0) - x0**3 * np.sin(x0), rel=1e-12)


def test_grad_rejects_non_scalar_output_and_int_input():
    with pytest.raises(RuntimeError, match="scalar"):
        func.grad(lambda v: v * 2)(t64([1.0, 2.0]))
    with pytest.raises(TypeError, match="floating"):
        func.grad(lambda v: v.sum())(cr.tensor([1, 2]))
    with pytest.raises(ValueError, match="argnums"):
        func.grad(lambda v: v.sum(), argnums=3)(t64([1.0]))


def test_grad_through_a_tensor_that_requires_grad_keeps_outer_graph():
    # grad of f w.r.t. x where x itself requires grad: the result is differentiable in x
    x = t64([0.5, 1.5], requires_grad=True)
    g = func.grad(lambda v: (v**3).sum())(x)  # 3x²
    assert g.requires_grad
    g.sum().backward()  # d/dx sum 3x² = 6x
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.data)


def test_grad_stays_differentiable_in_closed_over_parameters():
    # g(x) = d/dx sum (w x)² = 2 w² x;  d/dw sum g = 4 w x  (w is a parameter the function closes over)
    w = t64([1.5, -0.5], requires_grad=True)
    x = t64([2.0, 3.0])
    g = func.grad(lambda v: ((w * v) ** 2).sum())(x)
    np.testing.assert_allclose(g.detach().numpy(), 2 * w.data**2 * x.data)
    assert g.requires_grad
    g.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), 4 * w.data * x.data)
    with cr.no_grad():  # no outer graph wanted: a plain result
        assert not func.grad(lambda v: ((w * v) ** 2).sum())(x).requires_grad


# ---------------------------------------------------------------- vjp
def test_vjp_matches_transposed_jacobian():
    A = RNG.standard_normal((3, 4))
    x = t64(RNG.standard_normal(4))
    f = lambda v: (t64(A) @ v).tanh()
    out, vjp_fn = func.vjp(f, x)
    np.testing.assert_allclose(out.numpy(), np.tanh(A @ x.data))
    u = RNG.standard_normal(3)
    (g,) = vjp_fn(t64(u))
    J = (1 - np.tanh(A @ x.data) ** 2)[:, None] * A  # d tanh(Ax)/dx = diag(1 - tanh²) A
    np.testing.assert_allclose(g.numpy(), u @ J, rtol=1e-12)
    (g2,) = vjp_fn(t64(u))  # can be called again
    np.testing.assert_allclose(g2.numpy(), g.numpy())


def test_vjp_two_primals_tuple_output_and_errors():
    x, y = t64([1.0, 2.0]), t64([3.0, 4.0])
    out, vjp_fn, aux = func.vjp(lambda a, b: ((a * b, a + b), 7), x, y, has_aux=True)
    assert aux == 7 and isinstance(out, tuple)
    gx, gy = vjp_fn((t64([1.0, 1.0]), t64([2.0, 0.0])))
    np.testing.assert_array_equal(gx.numpy(), y.data + [2.0, 0.0])  # b·u1 + u2
    np.testing.assert_array_equal(gy.numpy(), x.data + [2.0, 0.0])  # a·u1 + u2
    with pytest.raises(ValueError, match="shape"):
        vjp_fn((t64([1.0]), t64([1.0, 1.0])))


# ---------------------------------------------------------------- jvp: forward mode
def test_jvp_matches_jacobian_vector_product():
    A = RNG.standard_normal((3, 4))
    x0 = RNG.standard_normal(4)
    v = RNG.standard_normal(4)
    f = lambda x: (t64(A) @ x).sin() * x.sum()
    out, dout = func.jvp(f, (t64(x0),), (t64(v),))
    J = numeric_jacobian(lambda a: np.sin(A @ a) * a.sum(), x0)
    np.testing.assert_allclose(out.numpy(), np.sin(A @ x0) * x0.sum())
    np.testing.assert_allclose(dout.numpy(), J @ v, rtol=1e-6, atol=1e-8)


def test_jvp_is_true_forward_mode(monkeypatch):
    calls = []
    monkeypatch.setattr(engine, "run_backward", lambda *a, **k: calls.append(1))
    x = t64([0.3, -0.7])
    with cr.no_grad():  # nothing is recorded, yet the tangent comes out
        out, dout = func.jvp(lambda a: (a * a).exp(), (x,), (t64([1.0, 2.0]),))
    assert calls == []
    np.testing.assert_allclose(dout.numpy(), 2 * x.data * np.exp(x.data**2) * [1.0, 2.0])
    assert not out.requires_grad
    assert STATE.forward_depth == 0 and not STATE.special


def test_jvp_several_primals_and_errors():
    x, y = t64([1.0, 2.0]), t64([3.0, 5.0])
    # d(x·y) = dx·y + x·dy
    _, d = func.jvp(lambda a, b: a * b, (x, y), (t64([1.0, 0.0]), t64([0.0, 1.0])))
    np.testing.assert_array_equal(d.numpy(), [3.0, 2.0])
    with pytest.raises(ValueError, match="shape"):
        func.jvp(lambda a: a, (x,), (t64([1.0]),))
    with pytest.raises(TypeError, match="tuples"):
        func.jvp(lambda a: a, x, t64([1.0, 1.0]))
    with pytest.raises(RuntimeError, match="forward mode inside forward mode"):
        func.jvp(lambda a: func.jvp(lambda b: b, (a,), (a,))[1], (x,), (x,))


def test_jvp_output_independent_of_input_has_zero_tangent():
    _, d = func.jvp(lambda a: t64([1.0, 2.0, 3.0]), (t64([1.0]),), (t64([1.0]),))
    np.testing.assert_array_equal(d.numpy(), np.zeros(3))


# ---------------------------------------------------------------- forward_ad
def test_forward_ad_dual_tensors():
    x = t64([1.0, 2.0, 3.0])
    v = t64([1.0, 0.0, -1.0])
    with fwAD.dual_level():
        xd = fwAD.make_dual(x, v)
        y = (xd * xd).sum()  # dy = 2x·v = 2 - 6 = -4
        primal, tangent = fwAD.unpack_dual(y)
        assert tangent.item() == -4.0 and primal.item() == 14.0
        assert fwAD.unpack_dual(x).tangent is None  # the original is not dual
    assert fwAD.unpack_dual(y).tangent is None  # outside the level: no tangent
    with fwAD.dual_level():
        assert fwAD.unpack_dual(y * 2).tangent is None  # a stale tangent does not leak into a new level


def test_forward_ad_errors_and_gradients_through_make_dual():
    with pytest.raises(RuntimeError, match="dual level"):
        fwAD.make_dual(t64([1.0]), t64([1.0]))
    with fwAD.dual_level(), pytest.raises(ValueError, match="shape"):
        fwAD.make_dual(t64([1.0, 2.0]), t64([1.0]))
    # reverse mode flows through a dual tensor
    x = t64([2.0], requires_grad=True)
    with fwAD.dual_level():
        y = (fwAD.make_dual(x, t64([1.0])) ** 2).sum()
    y.backward()
    assert x.grad.item() == 4.0


# ---------------------------------------------------------------- Jacobians and Hessians
@pytest.mark.parametrize("jac", [func.jacrev, func.jacfwd])
def test_jacobian_of_elementwise_op_is_diagonal(jac):
    x0 = np.array([0.2, -1.0, 1.7])
    J = jac(lambda x: x.tanh())(t64(x0))
    assert J.shape == (3, 3)
    np.testing.assert_allclose(J.numpy(), np.diag(1 - np.tanh(x0) ** 2), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("jac", [func.jacrev, func.jacfwd])
def test_jacobian_shapes_and_values_against_finite_differences(jac):
    W = RNG.standard_normal((2, 3))
    x0 = RNG.standard_normal((3, 2))
    f = lambda x: (t64(W) @ x).exp()  # (2, 2) from (3, 2)
    J = jac(f)(t64(x0))
    assert J.shape == (2, 2, 3, 2)
    np.testing.assert_allclose(J.numpy(), numeric_jacobian(lambda a: np.exp(W @ a), x0), rtol=1e-6, atol=1e-8)


def test_jacrev_jacfwd_argnums_tuple():
    x, y = t64([1.0, 2.0]), t64([3.0, 4.0])
    for jac in (func.jacrev, func.jacfwd):
        Jx, Jy = jac(lambda a, b: a * b, argnums=(0, 1))(x, y)
        np.testing.assert_array_equal(Jx.numpy(), np.diag(y.data))
        np.testing.assert_array_equal(Jy.numpy(), np.diag(x.data))


def test_autograd_functional_jacobian_structures():
    x, y = t64([1.0, 2.0]), t64([3.0])
    J = func.jacobian(lambda a: a**2, x)
    np.testing.assert_array_equal(J.numpy(), np.diag(2 * x.data))
    Jx, Jy = func.jacobian(lambda a, b: a * b, (x, y))
    np.testing.assert_array_equal(Jx.numpy(), 3 * np.eye(2))
    np.testing.assert_array_equal(Jy.numpy(), x.data.reshape(2, 1))
    (J1x, J1y), (J2x, J2y) = func.jacobian(lambda a, b: (a * b, a.sum() + b), (x, y))
    np.testing.assert_array_equal(J2x.numpy(), [[1.0, 1.0]])
    np.testing.assert_array_equal(J2y.numpy(), [[1.0]])
    Jf = func.jacobian(lambda a: a**2, x, strategy="forward-mode", vectorize=True)  # (PyTorch asks vectorize=True)
    np.testing.assert_array_equal(Jf.numpy(), np.diag(2 * x.data))
    with pytest.raises(NotImplementedError, match="vectorize=True"):
        func.jacobian(lambda a: a**2, x, strategy="forward-mode")
    with pytest.raises(AssertionError, match="strategy"):  # (PyTorch's assertion)
        func.jacobian(lambda a: a, x, strategy="sideways")


def test_jacobian_create_graph_is_differentiable():
    x = t64([1.0, 2.0], requires_grad=True)
    J = func.jacobian(lambda a: a**3, x, create_graph=True)  # diag(3x²)
    J.sum().backward()  # d/dx sum 3x² = 6x
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.data)


def test_hessian_of_quadratic_form_is_A_plus_A_transpose():
    A = RNG.standard_normal((4, 4))
    H = func.hessian(lambda v: v @ (t64(A) @ v))(t64(RNG.standard_normal(4)))
    np.testing.assert_allclose(H.numpy(), A + A.T, rtol=1e-12, atol=1e-12)


def test_hessian_of_smooth_function_and_forward_over_reverse_runs_tangents_through_backward():
    # f = sum(exp(x) * sin(x)):  f'' elementwise = d²/dx² e^x sin x = 2 e^x cos x, off-diagonal 0
    x0 = np.array([0.1, -0.5, 1.2])
    H = func.hessian(lambda x: (x.exp() * x.sin()).sum())(t64(x0))
    np.testing.assert_allclose(H.numpy(), np.diag(2 * np.exp(x0) * np.cos(x0)), rtol=1e-12, atol=1e-14)
    # two arguments: H of a·b w.r.t. (a, b) block structure
    Hab = func.hessian(lambda a, b: (a * b).sum(), argnums=(0, 1))(t64([1.0, 2.0]), t64([3.0, 4.0]))
    np.testing.assert_array_equal(Hab[0][1].numpy(), np.eye(2))  # d²/da db sum a·b = I
    np.testing.assert_array_equal(Hab[0][0].numpy(), np.zeros((2, 2)))


def test_jacfwd_columns_layout_for_gradcheck():
    x = t64([0.5, 1.0], requires_grad=True)
    c = cr.tensor([1, 2])  # non-float input: not differentiated
    y = t64([2.0, 3.0, 4.0], requires_grad=True)
    cols = func.jacfwd_columns(lambda a, i, b: (a.sum() * b, a * 2), [x, c, y])
    assert len(cols) == 2 and len(cols[0]) == 2
    np.testing.assert_array_equal(cols[0][0], np.outer(y.data, [1.0, 1.0]))  # d(sum a · b)/da
    np.testing.assert_array_equal(cols[0][1], x.data.sum() * np.eye(3))
    np.testing.assert_array_equal(cols[1][0], 2 * np.eye(2))
    np.testing.assert_array_equal(cols[1][1], np.zeros((2, 3)))
    assert all(c.dtype == np.float64 for row in cols for c in row)


def test_forward_mode_through_in_place_operations():
    # y = x·1; y += x; y *= x; y[0] = 3 x_1: y = (3 x_1, 2 x_1², 2 x_2²); the tangent follows each write
    x0 = np.array([1.5, -2.0, 0.5])
    v = np.array([1.0, 2.0, -1.0])

    def f(x):
        y = x * 1
        y += x  # 2x
        y *= x  # 2x²
        y[0] = x[1] * 3  # y0 = 3 x1
        y.clamp_(-10.0, 10.0)  # inside the bounds for these values: identity
        return y.tanh()

    with cr.no_grad():
        _, d = func.jvp(f, (t64(x0),), (t64(v),))
    pre = np.array([3 * x0[1], 2 * x0[1] ** 2, 2 * x0[2] ** 2])
    dpre = np.array([3 * v[1], 4 * x0[1] * v[1], 4 * x0[2] * v[2]])
    np.testing.assert_allclose(d.numpy(), (1 - np.tanh(pre) ** 2) * dpre, rtol=1e-10)


def test_jvp_tuple_outputs_and_aux():
    x = t64([1.0, -2.0])
    (y1, y2), (d1, d2), aux = func.jvp(lambda a: ((a * a, a.sum()), "note"), (x,), (t64([1.0, 3.0]),), has_aux=True)
    np.testing.assert_array_equal(y1.numpy(), [1.0, 4.0])
    np.testing.assert_array_equal(d1.numpy(), [2.0, -12.0])  # 2x·v
    assert d2.item() == 4.0 and aux == "note"  # sum v


def test_jacrev_tuple_output_with_aux_and_enter_exit_dual_level():
    x = t64([1.0, 2.0])
    (J1, J2), aux = func.jacrev(lambda a: ((a * 3, (a * a).sum()), a.sum()), has_aux=True)(x)
    np.testing.assert_array_equal(J1.numpy(), 3 * np.eye(2))
    np.testing.assert_array_equal(J2.numpy(), 2 * x.data)  # d sum x² / dx = 2x, shape () + (2,)
    assert aux.item() == 3.0
    fwAD.enter_dual_level()
    try:
        d = fwAD.make_dual(x, t64([1.0, 0.0]))
        assert fwAD.unpack_dual(d.exp().sum()).tangent.item() == pytest.approx(np.e)
    finally:
        fwAD.exit_dual_level()
    assert STATE.forward_depth == 0
    with pytest.raises(RuntimeError, match="no dual level"):
        fwAD.exit_dual_level()


@pytest.mark.parametrize("make", [lambda a: a * 2, lambda a: a.sum().reshape(1), lambda a: (a * 2).tolist()])
def test_grad_of_a_non_scalar_raises_pytorchs_error(make):
    torch = pytest.importorskip("torch")
    messages = []
    for lib, g in ((torch, torch.func.grad), (cr, func.grad), (torch, torch.func.grad_and_value),
                   (cr, func.grad_and_value)):
        with pytest.raises(RuntimeError) as info:
            g(make)(lib.ones(2))
        messages.append(str(info.value))
    assert messages[1] == messages[0]
    assert messages[3] == messages[2]
