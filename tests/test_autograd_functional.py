"""``chainrule.autograd.functional`` (torch.autograd.functional): values from mathematics and
PyTorch as an oracle for values, return structures and the strict-mode errors."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import functional as F

RNG = np.random.default_rng(0)
X = RNG.random(3) + 0.5
Y = RNG.random(3) + 0.5


def _close(a, b):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- mathematics
def test_jacobian_of_linear_map_is_the_matrix():
    A = RNG.random((4, 3))
    J = F.jacobian(lambda x: cr.tensor(A) @ x, cr.tensor(X))
    assert isinstance(J, cr.Tensor) and J.shape == (4, 3)
    _close(J.numpy(), A)


def test_jacobian_of_product_is_two_diagonals():
    J = F.jacobian(lambda a, b: a * b, (cr.tensor(X), cr.tensor(Y)))
    assert isinstance(J, tuple) and len(J) == 2
    _close(J[0].numpy(), np.diag(Y))
    _close(J[1].numpy(), np.diag(X))


def test_hessian_of_quadratic_form_and_cubic():
    A = RNG.random((3, 3))
    H = F.hessian(lambda x: x @ (cr.tensor(A) @ x), cr.tensor(X))
    _close(H.numpy(), A + A.T)
    H = F.hessian(lambda x: (x ** 3).sum(), cr.tensor(X))
    _close(H.numpy(), np.diag(6 * X))


def test_hessian_several_inputs_layout():
    # f = sum(a² b): ∂²/∂a² = diag(2b), ∂²/∂a∂b = diag(2a), ∂²/∂b² = 0
    H = F.hessian(lambda a, b: (a * a * b).sum(), (cr.tensor(X), cr.tensor(Y)))
    assert isinstance(H, tuple) and all(isinstance(r, tuple) and len(r) == 2 for r in H)
    _close(H[0][0].numpy(), np.diag(2 * Y))
    _close(H[0][1].numpy(), np.diag(2 * X))
    _close(H[1][0].numpy(), np.diag(2 * X))
    _close(H[1][1].numpy(), np.zeros((3, 3)))


def test_vjp_jvp_vhp_hvp_match_the_matrices():
    A = RNG.random((3, 3))
    S = A + A.T
    f = lambda x: cr.tensor(A) @ x  # noqa: E731
    q = lambda x: 0.5 * (x @ (cr.tensor(S) @ x))  # noqa: E731  (Hessian S)
    v = cr.tensor(Y)
    out, g = F.vjp(f, cr.tensor(X), v)
    _close(out.numpy(), A @ X)
    _close(g.numpy(), Y @ A)
    _, t = F.jvp(f, cr.tensor(X), v)
    _close(t.numpy(), A @ Y)
    _, h = F.vhp(q, cr.tensor(X), v)
    _close(h.numpy(), Y @ S)
    _, h = F.hvp(q, cr.tensor(X), v)
    _close(h.numpy(), S @ Y)


def test_results_detached_unless_create_graph():
    x = cr.tensor(X, requires_grad=True)
    J = F.jacobian(lambda z: z ** 3, x)
    assert not J.requires_grad
    out, g = F.vjp(lambda z: (z ** 3).sum(), x)
    assert not out.requires_grad and not g.requires_grad
    J = F.jacobian(lambda z: z ** 3, x, create_graph=True)
    assert J.requires_grad
    J.sum().backward()  # d/dx sum(diag(3x²)) = 6x
    _close(x.grad.numpy(), 6 * X)


def test_independent_output_gives_zeros_or_strict_error():
    J = F.jacobian(lambda a, b: a * 2, (cr.tensor(X), cr.tensor(Y)))
    _close(J[1].numpy(), np.zeros((3, 3)))
    with pytest.raises(RuntimeError, match="independent of input 1"):
        F.jacobian(lambda a, b: a * 2, (cr.tensor(X), cr.tensor(Y)), strict=True)
    with pytest.raises(RuntimeError, match="does not require gradients"):
        F.vjp(lambda a: cr.tensor(X), cr.tensor(X), cr.tensor(Y), strict=True)


def test_argument_errors():
    with pytest.raises(TypeError, match="must be either a Tensor or a tuple of Tensors"):
        F.vjp(lambda a: a, [cr.tensor(X)], cr.tensor(X))
    with pytest.raises(RuntimeError, match="v can only be None"):
        F.vjp(lambda a: a * 2, cr.tensor(X))
    with pytest.raises(RuntimeError, match="v can only be None"):
        F.jvp(lambda a: a * 2, cr.tensor(X))
    with pytest.raises(RuntimeError, match="v has invalid size"):
        F.vjp(lambda a: a * 2, cr.tensor(X), cr.tensor(np.ones(2)))
    with pytest.raises(NotImplementedError, match="vectorize=True"):
        F.jacobian(lambda a: a * 2, cr.tensor(X), strategy="forward-mode")
    with pytest.raises(NotImplementedError, match="create_graph=True"):
        F.jacobian(lambda a: a * 2, cr.tensor(X), strategy="forward-mode", vectorize=True, create_graph=True)
    with pytest.raises(RuntimeError, match="strict=True"):
        F.jacobian(lambda a: a * 2, cr.tensor(X), strategy="forward-mode", vectorize=True, strict=True)
    with pytest.raises(RuntimeError, match="single element"):
        F.hessian(lambda a: a * 2, cr.tensor(X))
    with pytest.raises(RuntimeError, match="single Tensor"):
        F.vhp(lambda a: (a.sum(), a.sum()), cr.tensor(X), cr.tensor(X))


def test_namespace():
    assert cr.autograd.functional.jacobian is F.jacobian


# ---------------------------------------------------------------- PyTorch as the oracle
def _compare(ours, theirs, torch):
    if isinstance(theirs, (tuple, list)):
        assert isinstance(ours, tuple) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _compare(a, b, torch)
    else:
        assert isinstance(ours, cr.Tensor) and isinstance(theirs, torch.Tensor)
        assert tuple(ours.shape) == tuple(theirs.shape)
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-9, atol=1e-12)


FUNCS = {
    "one_in_one_out": (lambda m: (lambda a: (a * a).sin()), 1),
    "one_in_two_out": (lambda m: (lambda a: (a.exp(), (a ** 3).sum())), 1),
    "two_in_one_out": (lambda m: (lambda a, b: a * b.tanh()), 2),
    "two_in_two_out": (lambda m: (lambda a, b: ((a * b).sin(), (a ** 2 * b).sum())), 2),
    "matrix": (lambda m: (lambda a, b: a.reshape(3, 1) @ b.reshape(1, 3)), 2),
}
SCALARS = {
    "one_in": (lambda a: (a.exp() * a).sum(), 1),
    "two_in": (lambda a, b: (a.exp() * b * b).sum(), 2),
    "scalar_in": (lambda a: (a * a * a).sin(), 0),
}


def _args(n, lib):
    if n == 0:
        return lib.tensor(0.7, dtype=lib.float64)
    vals = (lib.tensor(X), lib.tensor(Y))[:n]
    return vals[0] if n == 1 else vals


@pytest.mark.parametrize("name", sorted(FUNCS))
@pytest.mark.parametrize("how", ["reverse", "reverse_vec", "forward"])
def test_jacobian_against_torch(name, how):
    torch = pytest.importorskip("torch")
    make, n = FUNCS[name]
    kw = {"reverse": {}, "reverse_vec": {"vectorize": True},
          "forward": {"vectorize": True, "strategy": "forward-mode"}}[how]
    ours = F.jacobian(make(cr), _args(n, cr), **kw)
    theirs = torch.autograd.functional.jacobian(make(torch), _args(n, torch), **kw)
    _compare(ours, theirs, torch)


@pytest.mark.parametrize("name", sorted(FUNCS))
@pytest.mark.parametrize("fn", ["vjp", "jvp"])
def test_vjp_jvp_against_torch(name, fn):
    torch = pytest.importorskip("torch")
    make, n = FUNCS[name]
    theirs_out = make(torch)(*(_args(n, torch) if n > 1 else (_args(n, torch),)))
    if fn == "vjp":
        ref = theirs_out
    else:
        ref = _args(n, torch)
    if isinstance(ref, tuple):
        v_t = tuple(torch.ones_like(r) * 0.3 + i for i, r in enumerate(ref))
        v_c = tuple(cr.tensor(t.numpy()) for t in v_t)
    else:
        v_t = torch.ones_like(ref) * 0.3
        v_c = cr.tensor(v_t.numpy())
    ours = getattr(F, fn)(make(cr), _args(n, cr), v_c)
    theirs = getattr(torch.autograd.functional, fn)(make(torch), _args(n, torch), v_t)
    _compare(ours, theirs, torch)


@pytest.mark.parametrize("name", sorted(SCALARS))
@pytest.mark.parametrize("how", ["reverse", "forward"])
def test_hessian_against_torch(name, how):
    torch = pytest.importorskip("torch")
    f, n = SCALARS[name]
    kw = {} if how == "reverse" else {"vectorize": True, "outer_jacobian_strategy": "forward-mode"}
    _compare(F.hessian(f, _args(n, cr), **kw), torch.autograd.functional.hessian(f, _args(n, torch), **kw), torch)


@pytest.mark.parametrize("name", sorted(SCALARS))
@pytest.mark.parametrize("fn", ["vhp", "hvp", "vjp"])
def test_scalar_products_against_torch(name, fn):
    torch = pytest.importorskip("torch")
    f, n = SCALARS[name]
    if fn == "vjp":
        v_c, v_t = None, None
    elif n == 0:
        v_c, v_t = None, None
    elif n == 1:
        v_c, v_t = cr.tensor(Y), torch.tensor(Y)
    else:
        v_c, v_t = (cr.tensor(Y), cr.tensor(X)), (torch.tensor(Y), torch.tensor(X))
    ours = getattr(F, fn)(f, _args(n, cr), v_c)
    theirs = getattr(torch.autograd.functional, fn)(f, _args(n, torch), v_t)
    _compare(ours, theirs, torch)


@pytest.mark.parametrize("fn", ["jacobian", "hessian", "vjp", "vhp", "jvp", "hvp"])
def test_create_graph_against_torch(fn):
    torch = pytest.importorskip("torch")
    f = lambda a: (a ** 3).sum() * a.sin()  # noqa: E731
    s = lambda a: (a ** 3 * a.exp()).sum()  # noqa: E731
    grads = []
    for lib, mod in ((cr, F), (torch, torch.autograd.functional)):
        x = lib.tensor(X, requires_grad=True)
        if fn == "jacobian":
            r = mod.jacobian(f, x, create_graph=True)
        elif fn == "hessian":
            r = mod.hessian(s, x, create_graph=True)
        elif fn in ("vjp", "jvp"):
            r = getattr(mod, fn)(f, x, lib.tensor(Y), create_graph=True)[1]
        else:
            r = getattr(mod, fn)(s, x, lib.tensor(Y), create_graph=True)[1]
        assert r.requires_grad
        (r * r).sum().backward()
        grads.append(x.grad.detach().numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-9)


@pytest.mark.parametrize("call", [
    lambda M, lib: M.jacobian(lambda a, b: a * 2, (lib.tensor(X), lib.tensor(Y)), strict=True),
    lambda M, lib: M.vjp(lambda a, b: a * 2, (lib.tensor(X), lib.tensor(Y)), lib.tensor(Y), strict=True),
    lambda M, lib: M.jvp(lambda a: lib.tensor(X), lib.tensor(X), lib.tensor(Y), strict=True),
    lambda M, lib: M.hessian(lambda a: (a * 2).sum(), lib.tensor(X), strict=True),
    lambda M, lib: M.vhp(lambda a, b: (a * a).sum() + b.sum(), (lib.tensor(X), lib.tensor(Y)),
                         (lib.tensor(X), lib.tensor(Y)), strict=True),
    lambda M, lib: M.jacobian(lambda a: a * 2, lib.tensor(X), strict=True, vectorize=True),
])
def test_strict_errors_match_torch(call):
    torch = pytest.importorskip("torch")
    with pytest.raises(Exception) as theirs:
        call(torch.autograd.functional, torch)
    with pytest.raises(type(theirs.value)) as ours:
        call(F, cr)
    assert str(ours.value) == str(theirs.value)
