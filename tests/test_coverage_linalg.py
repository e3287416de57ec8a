"""torch.linalg and the linear-algebra names at torch.* (issue 12 coverage): the matrix-calculus
rules of ops/linalg_ops.py checked by finite differences (gradcheck / gradgradcheck, float64),
the values and gradients compared with PyTorch's (skipped without torch), and the identities
the decompositions satisfy (A = Q R, A = U S Vᵀ, A V = V diag(w)...)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.linalg as LA
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck

R = np.random.default_rng(1205)


def T(*shape: int, requires_grad: bool = True) -> cr.Tensor:
    return cr.tensor(R.standard_normal(shape), dtype=cr.float64, requires_grad=requires_grad)


def _eye(n: int) -> cr.Tensor:
    return cr.eye(n, dtype=cr.float64)


def spd(x: cr.Tensor) -> cr.Tensor:
    """A symmetric positive-definite matrix made from any square x (differentiable)."""
    return x @ x.mT + 3 * _eye(x.shape[-1])


def sym(x: cr.Tensor) -> cr.Tensor:
    return x + x.mT


# every differentiable function: (name, f, input shapes); f may return a tuple (all outputs checked)
CASES = [
    ("inv", LA.inv, [(3, 3)]),
    ("inv_batch", LA.inv, [(2, 3, 3)]),
    ("det", LA.det, [(2, 3, 3)]),
    ("slogdet", lambda a: LA.slogdet(a)[1], [(3, 3)]),
    ("solve", LA.solve, [(3, 3), (3, 2)]),
    ("solve_vector", LA.solve, [(3, 3), (3,)]),
    ("solve_right", lambda a, b: LA.solve(a, b, left=False), [(3, 3), (2, 3)]),
    ("cholesky", lambda x: LA.cholesky(spd(x)), [(2, 3, 3)]),
    ("cholesky_upper", lambda x: LA.cholesky(spd(x), upper=True), [(3, 3)]),
    ("eigvalsh", lambda x: LA.eigvalsh(sym(x)), [(2, 3, 3)]),
    ("svdvals_tall", LA.svdvals, [(4, 3)]),
    ("svdvals_wide", LA.svdvals, [(2, 3, 4)]),
    ("qr", lambda x: LA.qr(x), [(4, 3)]),
    ("matrix_power", lambda x: LA.matrix_power(x, 3), [(3, 3)]),
    ("matrix_power_neg", lambda x: LA.matrix_power(x, -2), [(3, 3)]),
    ("matrix_exp", LA.matrix_exp, [(2, 3, 3)]),
    ("pinv", LA.pinv, [(4, 3)]),
    ("lstsq", lambda a, b: LA.lstsq(a, b).solution, [(5, 3), (5, 2)]),
    ("solve_triangular", lambda a, b: LA.solve_triangular(a + 3 * _eye(3), b, upper=True), [(3, 3), (3, 2)]),
    ("multi_dot", lambda a, b, c: LA.multi_dot([a, b, c]), [(3,), (3, 4), (4, 2)]),
    ("vecdot", lambda a, b: LA.vecdot(a, b), [(2, 3), (3,)]),
    ("vander", lambda x: LA.vander(x, N=4), [(3,)]),
    ("cond", LA.cond, [(3, 3)]),
    ("matrix_norm_nuc", lambda x: LA.matrix_norm(x, "nuc"), [(3, 4)]),
    ("matrix_norm_2", lambda x: LA.matrix_norm(x, 2), [(4, 3)]),
    ("tensorinv", lambda x: LA.tensorinv(x.reshape(2, 2, 4), ind=2), [(4, 4)]),
    # torch.* spellings
    ("torch.det", cr.det, [(3, 3)]),
    ("torch.logdet", lambda x: cr.logdet(spd(x)), [(3, 3)]),
    ("torch.inverse", cr.inverse, [(3, 3)]),
    ("torch.cholesky_solve", lambda b, x: cr.cholesky_solve(b, LA.cholesky(spd(x))), [(3, 2), (3, 3)]),
    ("torch.cholesky_inverse", lambda x: cr.cholesky_inverse(LA.cholesky(spd(x))), [(3, 3)]),
    ("torch.pinverse", cr.pinverse, [(3, 4)]),
    ("torch.matrix_exp", cr.matrix_exp, [(3, 3)]),
    ("torch.triangular_solve", lambda b, a: cr.triangular_solve(b, a + 3 * _eye(3), upper=False)[0],
     [(3, 2), (3, 3)]),
]
SMOOTH_TWICE = {"inv", "det", "solve", "cholesky", "qr", "matrix_exp", "eigvalsh", "svdvals_tall", "pinv"}


@pytest.mark.parametrize("name, f, shapes", CASES, ids=[c[0] for c in CASES])
def test_gradcheck(name, f, shapes):
    xs = [T(*s) for s in shapes]
    assert gradcheck(f, xs)
    if name in SMOOTH_TWICE:
        assert gradgradcheck(f, xs)


def test_gradients_of_the_vectors_of_eigh_and_svd():
    """Gauge-invariant losses of the eigen/singular vectors (signs are arbitrary): the squared
    entries of each vector, weighted."""
    x = T(3, 3)
    w3 = cr.arange(1.0, 4.0, dtype=cr.float64)
    assert gradcheck(lambda a: ((LA.eigh(sym(a))[1] ** 2) @ w3).sum(), [x])
    for shape in [(4, 3), (3, 4), (3, 3)]:
        a = T(*shape)
        k = min(shape)
        wk = cr.arange(1.0, k + 1.0, dtype=cr.float64)
        assert gradcheck(lambda m: ((LA.svd(m, full_matrices=False)[0] ** 2) @ wk).sum(), [a])
        assert gradcheck(lambda m: ((LA.svd(m, full_matrices=False)[2] ** 2).mT @ wk).sum(), [a])


def test_decompositions_satisfy_their_identities():
    a = T(2, 5, 3, requires_grad=False)
    q, r = LA.qr(a)
    assert np.allclose((q @ r).numpy(), a.numpy())
    assert np.allclose((q.mT @ q).numpy(), np.eye(3))
    assert np.allclose(np.tril(r.numpy(), -1), 0)
    u, s, vh = LA.svd(a, full_matrices=False)
    assert np.allclose(((u * s.unsqueeze(-2)) @ vh).numpy(), a.numpy())
    assert (np.diff(s.numpy(), axis=-1) <= 0).all()
    h = sym(T(4, 4, requires_grad=False))
    w, v = LA.eigh(h)
    assert np.allclose((h @ v).numpy(), (v * w.unsqueeze(-2)).numpy())
    L = LA.cholesky(spd(T(3, 3, requires_grad=False)))
    assert np.allclose(np.triu(L.numpy(), 1), 0)
    assert np.allclose(LA.det(_eye(3) * 2).item(), 8.0)
    sign, logabs = LA.slogdet(cr.tensor([[0.0, 2.0], [3.0, 0.0]], dtype=cr.float64))
    assert sign.item() == -1.0 and np.isclose(logabs.item(), np.log(6.0))
    assert np.isnan(cr.logdet(cr.tensor([[0.0, 2.0], [3.0, 0.0]], dtype=cr.float64)).item())
    x = T(3, 3, requires_grad=False)
    assert np.allclose(LA.matrix_power(x, 0).numpy(), np.eye(3))
    assert np.allclose(LA.matrix_exp(cr.zeros(2, 2, dtype=cr.float64)).numpy(), np.eye(2))
    # exp of a rotation generator: [[cos, -sin], [sin, cos]]
    t = 0.7
    e = LA.matrix_exp(cr.tensor([[0.0, -t], [t, 0.0]], dtype=cr.float64)).numpy()
    assert np.allclose(e, [[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]], atol=1e-14)
    assert LA.matrix_rank(cr.tensor([[1.0, 2.0], [2.0, 4.0]], dtype=cr.float64)).item() == 1


def test_bad_input_raises_naming_the_function():
    with pytest.raises(RuntimeError, match="linalg.inv.*square"):
        LA.inv(cr.ones(2, 3, dtype=cr.float64))
    with pytest.raises(RuntimeError, match="linalg.inv.*singular"):
        LA.inv(cr.ones(2, 2, dtype=cr.float64))
    with pytest.raises(RuntimeError, match="linalg.cholesky.*positive-definite"):
        LA.cholesky(-cr.eye(2, dtype=cr.float64))
    with pytest.raises(RuntimeError, match="linalg.solve.*do not fit"):
        LA.solve(cr.eye(3, dtype=cr.float64), cr.ones(2, 1, dtype=cr.float64))
    with pytest.raises(RuntimeError, match="floating-point"):
        LA.det(cr.ones(2, 2, dtype=cr.int64))
    with pytest.raises(RuntimeError, match="full_matrices=True"):
        LA.svd(T(3, 2), full_matrices=True)
    with pytest.raises(TypeError, match="matrix_power.*int"):
        LA.matrix_power(cr.eye(2), 1.5)


# ------------------------------------------------------------------ PyTorch as the oracle
ORACLE = [
    ("inv", lambda L, a: L.inv(a), [(2, 3, 3)]),
    ("det", lambda L, a: L.det(a), [(2, 3, 3)]),
    ("slogdet", lambda L, a: L.slogdet(a)[1], [(3, 3)]),
    ("solve", lambda L, a, b: L.solve(a, b), [(2, 3, 3), (2, 3, 2)]),
    ("solve_vec", lambda L, a, b: L.solve(a, b), [(3, 3), (3,)]),
    ("cholesky", lambda L, a: L.cholesky(a @ a.mT + 3 * L_eye(L, 3)), [(3, 3)]),
    ("eigvalsh", lambda L, a: L.eigvalsh(a + a.mT), [(4, 4)]),
    ("svdvals", lambda L, a: L.svdvals(a), [(4, 3)]),
    ("qr_r", lambda L, a: L.qr(a)[1], [(4, 3)]),
    ("qr_q", lambda L, a: L.qr(a)[0], [(4, 3)]),
    ("matrix_power", lambda L, a: L.matrix_power(a, -3), [(3, 3)]),
    ("matrix_exp", lambda L, a: L.matrix_exp(a), [(2, 3, 3)]),
    ("pinv", lambda L, a: L.pinv(a), [(3, 5)]),
    ("matrix_norm_nuc", lambda L, a: L.matrix_norm(a, "nuc"), [(3, 4)]),
    ("matrix_norm_-2", lambda L, a: L.matrix_norm(a, -2), [(4, 3)]),
    ("cond", lambda L, a: L.cond(a), [(3, 3)]),
    ("lstsq", lambda L, a, b: L.lstsq(a, b).solution, [(5, 3), (5, 2)]),
    ("solve_triangular", lambda L, a, b: L.solve_triangular(a + 3 * L_eye(L, 3), b, upper=False), [(3, 3), (3, 2)]),
    ("vander", lambda L, x: L.vander(x, N=4), [(3,)]),
    ("multi_dot", lambda L, a, b: L.multi_dot([a, b, a.mT]), [(2, 3), (3, 3)]),
]


def L_eye(L, n):
    """The identity in L's framework (chainrule.linalg or torch.linalg)."""
    import sys

    lib = sys.modules["torch"] if L.__name__.startswith("torch") else cr
    return lib.eye(n, dtype=lib.float64)


def _compare(fcr, ft, shapes, torch, given=None):
    arrs = [R.standard_normal(s) if given is None or given[i] is None else given[i] for i, s in enumerate(shapes)]
    xs = [cr.tensor(a, requires_grad=True) for a in arrs]
    ts = [torch.tensor(a, requires_grad=True) for a in arrs]
    y, yt = fcr(*xs), ft(*ts)
    assert np.allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-9, atol=1e-10)
    g = R.standard_normal(tuple(yt.shape))
    y.backward(cr.tensor(g))
    yt.backward(torch.tensor(g))
    for x, t in zip(xs, ts):
        assert np.allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("name, f, shapes", ORACLE, ids=[c[0] for c in ORACLE])
def test_values_and_gradients_match_pytorch(name, f, shapes):
    torch = pytest.importorskip("torch")
    _compare(lambda *xs: f(LA, *xs), lambda *ts: f(torch.linalg, *ts), shapes, torch)


TOP = [
    ("det", [(3, 3)], {}),
    ("logdet", [(3, 3)], {"pd": True}),
    ("inverse", [(3, 3)], {}),
    ("matrix_exp", [(3, 3)], {}),
    ("pinverse", [(4, 3)], {}),
    ("cholesky_inverse", [(3, 3)], {"tri": True}),
]


@pytest.mark.parametrize("name, shapes, how", TOP, ids=[c[0] for c in TOP])
def test_top_level_names_match_pytorch(name, shapes, how):
    torch = pytest.importorskip("torch")

    def prep(lib, a):
        if how.get("pd"):
            return a @ a.mT + 3 * lib.eye(3, dtype=lib.float64)
        if how.get("tri"):
            return a.tril() + 3 * lib.eye(3, dtype=lib.float64)
        return a

    _compare(lambda a: getattr(cr, name)(prep(cr, a)), lambda a: getattr(torch, name)(prep(torch, a)), shapes, torch)


def test_old_conventions_at_top_level_match_pytorch():
    torch = pytest.importorskip("torch")
    a = R.standard_normal((4, 3))
    U, S, V = cr.svd(cr.tensor(a))
    Ut, St, Vt = torch.svd(torch.tensor(a))
    assert np.allclose(S.numpy(), St.numpy())
    assert np.allclose(np.abs(V.numpy()), np.abs(Vt.numpy()))  # V, not Vh (columns up to sign)
    assert tuple(cr.svd(cr.tensor(a), some=False).U.shape) == tuple(torch.svd(torch.tensor(a), some=False).U.shape)
    z = cr.svd(cr.tensor(a), compute_uv=False)
    zt = torch.svd(torch.tensor(a), compute_uv=False)
    assert tuple(z.U.shape) == tuple(zt.U.shape) and not z.U.numpy().any()
    assert tuple(cr.qr(cr.tensor(a), some=False).Q.shape) == tuple(torch.qr(torch.tensor(a), some=False).Q.shape)
    b = R.standard_normal((3, 2))
    m = np.triu(R.standard_normal((3, 3))) + 3 * np.eye(3)
    x = cr.triangular_solve(cr.tensor(b), cr.tensor(m), transpose=True).solution
    xt = torch.triangular_solve(torch.tensor(b), torch.tensor(m), transpose=True).solution
    assert np.allclose(x.numpy(), xt.numpy())
    sl = cr.slogdet(cr.tensor(m))
    assert np.isclose(sl.logabsdet.item(), torch.slogdet(torch.tensor(m)).logabsdet.item())
    L = np.linalg.cholesky(m @ m.T)
    for upper in (False, True):
        f = L.T if upper else L
        _compare(lambda b, l: cr.cholesky_solve(b, l, upper=upper),
                 lambda b, l: torch.cholesky_solve(b, l, upper=upper), [(3, 2), (3, 3)], torch, [None, f])
        _compare(lambda l: cr.cholesky_inverse(l, upper=upper), lambda l: torch.cholesky_inverse(l, upper=upper),
                 [(3, 3)], torch, [f])
        # the values read the factor's triangle only (what lies across the diagonal is ignored)
        other = np.tril(R.standard_normal((3, 3)), -1)
        noisy = f + (other if upper else other.T)
        assert np.allclose(cr.cholesky_inverse(cr.tensor(noisy), upper=upper).numpy(),
                           torch.cholesky_inverse(torch.tensor(noisy), upper=upper).numpy())
        assert np.allclose(cr.cholesky_solve(cr.tensor(b), cr.tensor(noisy), upper=upper).numpy(),
                           torch.cholesky_solve(torch.tensor(b), torch.tensor(noisy), upper=upper).numpy())
    assert np.allclose(cr.matrix_power(cr.tensor(m), 4).numpy(), torch.matrix_power(torch.tensor(m), 4).numpy())
