"""scatter_reduce with 'prod', 'amax', 'amin' (and include_self), and index_reduce.

Values against a loop written from the definition, gradients against finite differences
(gradcheck / gradgradcheck in float64) and against the rules written out (ties share the
adjoint equally; the product of the others with zeros), forward mode against reverse mode,
and PyTorch as the oracle of values and gradients.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck

R = np.random.default_rng(21)
REDUCE = {"sum": np.add, "prod": np.multiply, "mean": None, "amax": np.maximum, "amin": np.minimum}


def t64(a, requires_grad: bool = False) -> cr.Tensor:
    return cr.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def reference(x: np.ndarray, dim: int, index: np.ndarray, src: np.ndarray, reduce: str, include_self: bool):
    """The definition: collect, for every position of x, the src values sent there, then reduce."""
    sent: dict[tuple, list] = {}
    for p in np.ndindex(*index.shape):
        q = list(p)
        q[dim] = index[p]
        sent.setdefault(tuple(q), []).append(src[p])
    out = x.copy()
    for q, vals in sent.items():
        vals = ([x[q]] if include_self else []) + vals
        if reduce == "mean":
            total = functools.reduce(np.add, vals)
            out[q] = total // len(vals) if x.dtype.kind in "iu" else total / len(vals)
        else:
            out[q] = functools.reduce(REDUCE[reduce], vals)
    return out


def _case(dim=0):
    shape, src_shape = (3, 4), ((5, 4), (3, 6))[dim]
    x = R.standard_normal(shape)
    src = R.standard_normal(src_shape)
    index = R.integers(0, shape[dim], src_shape)
    return x, index, src


@pytest.mark.parametrize("reduce", ["prod", "amax", "amin", "sum", "mean"])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("dim", [0, 1])
def test_values_follow_the_definition(reduce: str, include_self: bool, dim: int):
    x, index, src = _case(dim=dim)
    got = cr.scatter_reduce(t64(x), dim, cr.tensor(index), t64(src), reduce, include_self=include_self)
    np.testing.assert_allclose(got.numpy(), reference(x, dim, index, src, reduce, include_self), rtol=1e-13)


@pytest.mark.parametrize("reduce", ["prod", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_integers_and_method_forms(reduce: str, include_self: bool):
    x = R.integers(-5, 6, (3, 4))
    src = R.integers(-5, 6, (2, 4))
    index = R.integers(0, 3, (2, 4))
    want = reference(x, 0, index, src, reduce, include_self)
    got = cr.tensor(x).scatter_reduce(0, cr.tensor(index), cr.tensor(src), reduce, include_self=include_self)
    assert got.dtype == cr.int64
    np.testing.assert_array_equal(got.numpy(), want)
    y = cr.tensor(x)
    assert y.scatter_reduce_(0, cr.tensor(index), cr.tensor(src), reduce, include_self=include_self) is y
    np.testing.assert_array_equal(y.numpy(), want)


@pytest.mark.parametrize("reduce", ["prod", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("dim", [0, 1])
def test_gradcheck_and_gradgradcheck(reduce: str, include_self: bool, dim: int):
    x, index, src = _case(dim=dim)
    idx = cr.tensor(index)

    def f(a, b):
        return cr.scatter_reduce(a, dim, idx, b, reduce, include_self=include_self)

    assert gradcheck(f, (t64(x, True), t64(src, True)))
    assert gradgradcheck(f, (t64(x, True), t64(src, True)))


def test_ties_share_the_adjoint_equally():
    x = t64([5.0, 1.0, 7.0], True)
    src = t64([5.0, 3.0, 3.0, 5.0], True)
    idx = cr.tensor([0, 1, 1, 0])
    y = cr.scatter_reduce(x, 0, idx, src, "amax")
    np.testing.assert_array_equal(y.detach().numpy(), [5.0, 3.0, 7.0])
    y.backward(t64([3.0, 2.0, 1.0]))
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 0.0, 1.0])  # three 5s share 3; nothing reached 1
    np.testing.assert_allclose(src.grad.numpy(), [1.0, 1.0, 1.0, 1.0])  # two 3s share 2
    x.grad = src.grad = None
    cr.scatter_reduce(x, 0, idx, src, "amin", include_self=False).backward(t64([1.0, 1.0, 1.0]))
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.0, 1.0])  # excluded where src arrives
    np.testing.assert_allclose(src.grad.numpy(), [0.5, 0.5, 0.5, 0.5])


def test_prod_gradient_with_zeros():
    x = t64([2.0, 0.0, 3.0], True)
    src = t64([0.0, 4.0, 0.0, 0.0, 0.0, 7.0], True)
    idx = cr.tensor([0, 0, 1, 1, 2, 2])
    y = cr.scatter_reduce(x, 0, idx, src, "prod")
    np.testing.assert_array_equal(y.detach().numpy(), [0.0, 0.0, 0.0])
    y.sum().backward()
    # position 0: 2·0·4 (one zero: it gets 2·4); position 1: 0·0·0 (all 0);
    # position 2: 3·0·7 (one zero: it gets 3·7)
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.0, 0.0])
    np.testing.assert_allclose(src.grad.numpy(), [8.0, 0.0, 0.0, 0.0, 21.0, 0.0])
    # the recorded backward of two zeros at one position is refused, as PyTorch's
    g = cr.autograd.grad(cr.scatter_reduce(x, 0, idx, src, "prod").sum(), src, create_graph=False)[0]
    assert g is not None
    with pytest.raises(RuntimeError, match="second derivative of reduce='prod'"):
        cr.autograd.grad(cr.scatter_reduce(x, 0, idx, src, "prod").sum(), src, create_graph=True)
    one_zero = t64([0.0, 4.0, 5.0, 6.0], True)
    f = functools.partial(cr.scatter_reduce, dim=0, index=cr.tensor([0, 0, 1, 1]), reduce="prod")
    assert gradcheck(lambda a, b: f(a, src=b), (t64([2.0, 3.0], True), one_zero))
    assert gradgradcheck(lambda a, b: f(a, src=b), (t64([2.0, 3.0], True), one_zero))


@pytest.mark.parametrize("reduce", ["prod", "amax", "amin"])
def test_forward_mode_equals_reverse_mode(reduce: str):
    x, index, src = _case()
    idx = cr.tensor(index)
    vx, vs, w = R.standard_normal(x.shape), R.standard_normal(src.shape), R.standard_normal(x.shape)

    def f(a, b):
        return cr.scatter_reduce(a, 0, idx, b, reduce)

    _, jv = cr.func.jvp(f, (t64(x), t64(src)), (t64(vx), t64(vs)))
    a, b = t64(x, True), t64(src, True)
    ga, gb = cr.autograd.grad(f(a, b), (a, b), t64(w))
    np.testing.assert_allclose((jv.numpy() * w).sum(), (ga.numpy() * vx).sum() + (gb.numpy() * vs).sum(), rtol=1e-12)


def test_empty_and_partial_shapes():
    x = t64(R.standard_normal((3, 2)), True)
    for reduce in ("prod", "amax", "amin"):
        y = cr.scatter_reduce(x, 0, cr.zeros((0, 2), dtype=cr.int64), t64(np.zeros((0, 2))), reduce)
        np.testing.assert_array_equal(y.detach().numpy(), x.detach().numpy())
        (g,) = cr.autograd.grad(y.sum(), x)
        np.testing.assert_array_equal(g.numpy(), np.ones((3, 2)))
    empty = cr.scatter_reduce(t64(np.zeros((0,))), 0, cr.zeros(0, dtype=cr.int64), t64(np.zeros(0)), "amax")
    assert empty.shape == (0,)
    # an index smaller than src: only its part of src is sent (as scatter)
    src = R.standard_normal((3, 3))
    got = cr.scatter_reduce(t64(np.ones((2, 3))), 0, cr.tensor([[1, 0]]), t64(src), "amin", include_self=False)
    np.testing.assert_allclose(got.numpy(), [[1.0, src[0, 1], 1.0], [src[0, 0], 1.0, 1.0]])


def test_bad_input():
    x, idx, src = t64(np.zeros(3)), cr.tensor([0, 1]), t64(np.zeros(2))
    with pytest.raises(RuntimeError, match="reduce must be one of"):
        cr.scatter_reduce(x, 0, idx, src, "max")
    with pytest.raises(IndexError, match="out of range"):
        cr.scatter_reduce(x, 0, cr.tensor([0, 3]), src, "amax")
    with pytest.raises(RuntimeError, match="reduce must be one of"):
        x.index_reduce(0, idx, src, "sum")
    with pytest.raises(RuntimeError, match="must have input's shape"):
        t64(np.zeros((3, 2))).index_reduce(0, idx, t64(np.zeros((2, 3))), "prod")
    with pytest.raises(IndexError, match="1-D integer"):
        x.index_reduce(0, t64([0.0]), t64([1.0]), "prod")


# ------------------------------------------------------------------------------ index_reduce
@pytest.mark.parametrize("reduce", ["prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_index_reduce_values_and_gradients(reduce: str, include_self: bool):
    x = R.standard_normal((3, 4, 2))
    source = R.standard_normal((3, 5, 2))
    index = np.array([0, 3, 0, 2, 3])
    want = x.copy()
    for i in range(4):
        vals = ([x[:, i]] if include_self else []) + [source[:, k] for k in np.flatnonzero(index == i)]
        if len(vals) > int(include_self) or not include_self and vals:
            stack = np.stack(vals)
            want[:, i] = {"prod": stack.prod(0), "mean": stack.mean(0), "amax": stack.max(0),
                          "amin": stack.min(0)}[reduce]
    idx = cr.tensor(index)
    got = t64(x).index_reduce(1, idx, t64(source), reduce, include_self=include_self)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-13)
    y = t64(x)
    assert y.index_reduce_(1, idx, t64(source), reduce, include_self=include_self) is y
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-13)

    def f(a, b):
        return cr.index_reduce(a, 1, idx, b, reduce, include_self=include_self)

    assert gradcheck(f, (t64(x, True), t64(source, True)))
    assert gradgradcheck(f, (t64(x, True), t64(source, True)))


# ------------------------------------------------------------------------------- the oracle
@pytest.mark.parametrize("reduce", ["prod", "amax", "amin", "mean", "sum"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_matches_pytorch(reduce: str, include_self: bool):
    torch = pytest.importorskip("torch")
    x = R.standard_normal((4, 3))
    src = np.round(R.standard_normal((5, 3)), 1)
    src[1, 0] = src[3, 0]  # a tie
    src[2, 1] = 0.0  # a zero
    index = R.integers(0, 4, (5, 3))
    index[1, 0] = index[3, 0]
    w = R.standard_normal((4, 3))
    a, b = t64(x, True), t64(src, True)
    y = cr.scatter_reduce(a, 0, cr.tensor(index), b, reduce, include_self=include_self)
    y.backward(t64(w))
    ta, tb = torch.tensor(x, requires_grad=True), torch.tensor(src, requires_grad=True)
    ty = ta.scatter_reduce(0, torch.tensor(index), tb, reduce, include_self=include_self)
    ty.backward(torch.tensor(w))
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-13)
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("reduce", ["prod", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_nan_propagates_as_in_pytorch(reduce: str, include_self: bool):
    torch = pytest.importorskip("torch")
    x, src, index = [1.0, np.nan, 3.0], [np.nan, 2.0, 5.0, 0.0], [0, 1, 2, 2]
    got = t64(x).scatter_reduce(0, cr.tensor(index), t64(src), reduce, include_self=include_self)
    want = torch.tensor(x).scatter_reduce(0, torch.tensor(index), torch.tensor(src), reduce, include_self=include_self)
    np.testing.assert_array_equal(got.numpy(), want.numpy())  # (NaN where both have NaN)


@pytest.mark.filterwarnings("ignore:index_reduce")  # PyTorch: "index_reduce() is in beta"
@pytest.mark.parametrize("reduce", ["prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_index_reduce_matches_pytorch(reduce: str, include_self: bool):
    torch = pytest.importorskip("torch")
    x = R.standard_normal((2, 4))
    source = R.standard_normal((2, 6))
    index = np.array([1, 3, 1, 0, 1, 3])
    w = R.standard_normal((2, 4))
    a, b = t64(x, True), t64(source, True)
    y = a.index_reduce(1, cr.tensor(index), b, reduce, include_self=include_self)
    y.backward(t64(w))
    ta, tb = torch.tensor(x, requires_grad=True), torch.tensor(source, requires_grad=True)
    ty = ta.index_reduce(1, torch.tensor(index), tb, reduce, include_self=include_self)
    ty.backward(torch.tensor(w))
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-13)
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-12, atol=1e-14)
    xi, si = R.integers(-4, 5, (2, 4)), R.integers(-4, 5, (2, 6))
    got = cr.tensor(xi).index_reduce(1, cr.tensor(index), cr.tensor(si), reduce, include_self=include_self)
    want = torch.tensor(xi).index_reduce(1, torch.tensor(index), torch.tensor(si), reduce, include_self=include_self)
    np.testing.assert_array_equal(got.numpy(), want.numpy())

