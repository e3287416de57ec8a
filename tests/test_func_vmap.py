"""torch.func.vmap / torch.vmap: values from the loop over the batch (the definition), PyTorch as oracle."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.func import grad, hessian, jacrev, jvp, vmap


def _t(a, requires_grad=False):
    return cr.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4))
Y = RNG.standard_normal((3, 4))
W = RNG.standard_normal((4, 2))


def test_vmap_is_torch_vmap_and_maps_a_dot_product():
    assert cr.vmap is cr.func.vmap
    out = vmap(cr.dot)(_t(X), _t(Y))
    np.testing.assert_allclose(out.numpy(), (X * Y).sum(axis=1))


def test_in_dims_none_int_negative_and_nested():
    # x mapped on axis 1 (negative spelling), w broadcast to every call
    out = vmap(lambda x, w: x @ w, in_dims=(-1, None))(_t(X.T), _t(W))
    np.testing.assert_allclose(out.numpy(), X @ W)
    # a dict argument with its own dims: 'a' mapped on 0, 'b' on 1
    f = lambda d: d["a"] * d["b"]
    out = vmap(f, in_dims=({"a": 0, "b": 1},))({"a": _t(X), "b": _t(Y.T)})
    np.testing.assert_allclose(out.numpy(), X * Y)
    # a tuple argument, one int for the whole tuple; a list of in_dims as a tuple
    out = vmap(lambda p: p[0] - p[1])((_t(X), _t(Y)))
    np.testing.assert_allclose(out.numpy(), X - Y)
    # a list argument takes a list of dims (a tuple there does not match, as in PyTorch)
    out = vmap(lambda p: p[0] + p[1], in_dims=([0, 1],))([_t(X), _t(Y.T)])
    np.testing.assert_allclose(out.numpy(), X + Y)
    with pytest.raises(ValueError, match="not compatible"):
        vmap(lambda p: p[0] + p[1], in_dims=((0, 1),))([_t(X), _t(Y.T)])


def test_out_dims_and_tree_outputs():
    out = vmap(lambda a: a * 2, out_dims=1)(_t(X))
    np.testing.assert_allclose(out.numpy(), 2 * X.T)
    out = vmap(lambda a: a * 2, out_dims=-1)(_t(X))
    np.testing.assert_allclose(out.numpy(), 2 * X.T)
    s, (a, b) = vmap(lambda v: (v.sum(), (v, v * 3)), out_dims=(0, (1, 0)))(_t(X))
    np.testing.assert_allclose(s.numpy(), X.sum(1))
    np.testing.assert_allclose(a.numpy(), X.T)
    np.testing.assert_allclose(b.numpy(), 3 * X)
    d = vmap(lambda v: {"max": v.max(), "sq": v * v})(_t(X))
    assert list(d) == ["max", "sq"]
    np.testing.assert_allclose(d["max"].numpy(), X.max(1))
    np.testing.assert_allclose(d["sq"].numpy(), X * X)
    out = vmap(lambda a: [a, a.sum()])(_t(X))
    assert isinstance(out, list) and out[1].shape == (3,)
    # out_dims=None: a value that is the same for all elements, returned once
    c = _t(W)
    v, same = vmap(lambda a: (a.sum(), c), out_dims=(0, None))(_t(X))
    assert same is c
    v, n = vmap(lambda a: (a.sum(), 7), out_dims=(0, None))(_t(X))
    assert n == 7
    # (0,) for a single output, as PyTorch accepts
    assert vmap(lambda a: a.sum(), out_dims=(0,))(_t(X)).shape == (3,)


def test_kwargs_are_not_mapped():
    out = vmap(lambda a, scale: a * scale)(_t(X), scale=_t(np.arange(4.0)))
    np.testing.assert_allclose(out.numpy(), X * np.arange(4.0))


def test_nested_vmap_is_an_outer_product_loop():
    outer = vmap(vmap(lambda a, b: a * b, in_dims=(None, 0)), in_dims=(0, None))
    u, v = RNG.standard_normal(3), RNG.standard_normal(5)
    np.testing.assert_allclose(outer(_t(u), _t(v)).numpy(), np.outer(u, v))


def test_vmap_composes_with_grad_and_jacrev():
    # per-row gradients of sum(sin(x)): cos(x)
    g = vmap(grad(lambda r: cr.sin(r).sum()))(_t(X))
    np.testing.assert_allclose(g.numpy(), np.cos(X))
    # gradient through vmap: d/dx sum_b (x_b · w)^2 = 2 (x_b · w) w
    w = RNG.standard_normal(4)
    g = grad(lambda x: (vmap(lambda r: (r * _t(w)).sum() ** 2)(x)).sum())(_t(X))
    np.testing.assert_allclose(g.numpy(), 2 * (X @ w)[:, None] * w[None, :])
    # batched Jacobians of tanh(x @ W): diag(1 - y²) Wᵀ per row
    J = vmap(jacrev(lambda r: cr.tanh(r @ _t(W))))(_t(X))
    y = np.tanh(X @ W)
    np.testing.assert_allclose(J.numpy(), (1 - y * y)[:, :, None] * W.T[None], rtol=1e-12)


def test_vmap_composes_with_forward_mode_and_hessian_and_maps_a_module():
    x = _t(X)
    _, tangent = jvp(vmap(cr.sin), (x,), (cr.ones_like(x),))  # forward mode through the slices and the stack
    np.testing.assert_allclose(tangent.numpy(), np.cos(X))
    H = vmap(hessian(lambda r: cr.sin(r).sum()))(x)  # one diag(-sin r) per row
    np.testing.assert_allclose(H.numpy(), np.stack([np.diag(-np.sin(r)) for r in X]), atol=1e-15)
    lin = cr.nn.Linear(4, 2).double()
    np.testing.assert_allclose(vmap(lin)(x).detach().numpy(), lin(x).detach().numpy(), rtol=1e-12)


def test_randomness_modes():
    x = _t(X)
    with pytest.raises(RuntimeError, match="randomness error mode"):
        vmap(lambda a: a + cr.rand(4))(x)
    cr.manual_seed(3)
    same = vmap(lambda a: cr.rand(2), randomness="same")(x)
    after_same = cr.rand(1)
    cr.manual_seed(3)
    once = cr.rand(2)
    assert np.array_equal(same.numpy(), np.stack([once.numpy()] * 3))  # all elements see one draw
    assert np.array_equal(after_same.numpy(), cr.rand(1).numpy())  # the generator moved as for one call
    cr.manual_seed(3)
    diff = vmap(lambda a: cr.rand(2), randomness="different")(x)
    cr.manual_seed(3)
    seq = cr.rand(3, 2)
    assert np.array_equal(diff.numpy(), seq.numpy())  # each element its own draws, one after the other
    # dropout in training mode draws too
    with pytest.raises(RuntimeError, match="randomness"):
        vmap(lambda a: cr.nn.functional.dropout(a, 0.5, training=True))(x)


def test_empty_batch_gives_empty_outputs():
    assert vmap(lambda a: a.sum())(_t(np.zeros((0, 3)))).shape == (0,)
    assert vmap(lambda a: a * 2, out_dims=1)(_t(np.zeros((0, 3)))).shape == (3, 0)


def test_errors():
    x, y5 = _t(X), _t(RNG.standard_normal((5, 4)))
    with pytest.raises(ValueError, match="same size in the mapped dimension, got sizes \\[3, 5\\]"):
        vmap(cr.add)(x, y5)
    with pytest.raises(ValueError, match="Got in_dim=2 .* dimensionality 2 .* -2 <= in_dim < 2"):
        vmap(cr.sum, in_dims=2)(x)
    with pytest.raises(ValueError, match="must only return Tensors, got type <class 'int'>"):
        vmap(lambda a: 1)(x)
    with pytest.raises(ValueError, match="must only return Tensors, got type <class 'NoneType'>"):
        vmap(lambda a: None)(x)
    with pytest.raises(ValueError, match="at least one Tensor to vmap over"):
        vmap(lambda a, b: a, in_dims=(None, None))(x, x)
    with pytest.raises(ValueError, match="in_dims has 2 entries but the function got 1"):
        vmap(lambda a: a, in_dims=(0, 0))(x)
    for bad in (0.5, [0], True):
        with pytest.raises(ValueError, match="expected `in_dims` to be an int"):
            vmap(lambda a: a, in_dims=bad)(x)
    with pytest.raises(ValueError, match="not compatible with the structure of the inputs"):
        vmap(lambda d: d["a"], in_dims=({"b": 0},))({"a": x})
    with pytest.raises(ValueError, match="cannot vmap over non-Tensor arguments"):
        vmap(lambda a: a)(1.0)
    with pytest.raises(ValueError, match="got no inputs"):
        vmap(lambda: x)()
    with pytest.raises(RuntimeError, match="randomness are 'error', 'different', or 'same'. Got foo"):
        vmap(lambda a: a, randomness="foo")
    with pytest.raises(ValueError, match="chunk_size should be None or greater than 0"):
        vmap(lambda a: a, chunk_size=0)
    with pytest.raises(IndexError, match="Dimension out of range"):
        vmap(lambda a: a, out_dims=3)(x)
    with pytest.raises(ValueError, match="differs between batch elements where out_dims is None"):
        vmap(lambda a: a, out_dims=None)(x)
    with pytest.raises(ValueError, match="out_dims is not compatible"):
        vmap(lambda a: (a, a), out_dims=(0, 0, 0))(x)
    with pytest.raises(ValueError, match="out_dims is not compatible"):
        vmap(lambda a: (a, a), out_dims=[0, 1])(x)  # a list for a tuple output
    assert vmap(lambda a: a, chunk_size=2)(x).shape == (3, 4)  # accepted, same result


def test_against_pytorch():
    torch = pytest.importorskip("torch")
    tx, ty, tw = (torch.tensor(a) for a in (X, Y, W))

    def f(a, b, w):
        return {"p": torch.tanh(a @ w), "q": (a * b).sum()}

    def fc(a, b, w):
        return {"p": cr.tanh(a @ w), "q": (a * b).sum()}

    for in_dims, out_dims in [((0, 0, None), 0), ((1, 1, None), {"p": 1, "q": 0}), ((-1, 0, None), -1)]:
        ax = tx.T if in_dims[0] in (1, -1) else tx
        ay = ty.T if in_dims[1] == 1 else ty
        ref = torch.vmap(f, in_dims=in_dims, out_dims=out_dims)(ax, ay, tw)
        got = cr.vmap(fc, in_dims=in_dims, out_dims=out_dims)(
            _t(ax.numpy()), _t(ay.numpy()), _t(W))
        for k in ("p", "q"):
            np.testing.assert_allclose(got[k].numpy(), ref[k].numpy(), rtol=1e-12, atol=1e-14)
    # per-row gradients, PyTorch's and chainrule's
    ref = torch.func.vmap(torch.func.grad(lambda r: torch.sin(r @ tw).sum()))(tx)
    got = vmap(grad(lambda r: cr.sin(r @ _t(W)).sum()))(_t(X))
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-12)
