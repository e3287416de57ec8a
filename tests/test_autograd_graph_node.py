"""``torch.autograd.graph.Node`` and ``GradientEdge`` (``chainrule/autograd/node.py``): ``Tensor.grad_fn``
as a node with ``name()``, ``next_functions``, ``metadata``, ``register_hook``/``register_prehook``, the
AccumulateGrad nodes of leaves, and ``get_gradient_edge`` in ``autograd.grad``/``backward``.

The first tests compute the expected gradients by hand (the chain rule on tiny graphs); the last
ones compare with PyTorch (skipped without it)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd.graph import GradientEdge, Node, get_gradient_edge

X = np.array([0.5, -1.0, 2.0])
W = np.array([3.0, 0.5, -2.0])


def _xw(lib=cr):
    return lib.tensor(X, requires_grad=True), lib.tensor(W)


class _Double(cr.autograd.Function):
    @staticmethod
    def forward(ctx, a):
        ctx.factor = 2.0
        return a * 2

    @staticmethod
    def backward(ctx, g):
        return g * ctx.factor


class _TwoOut(cr.autograd.Function):
    """(2a, 3a): d/da of p·u + q·v is 2u + 3v."""

    @staticmethod
    def forward(ctx, a):
        return a * 2, a * 3

    @staticmethod
    def backward(ctx, gp, gq):
        return gp * 2 + gq * 3


# ---------------------------------------------------------------- the nodes
def test_grad_fn_is_a_node_named_as_pytorch():
    x, w = _xw()
    y = x * w
    assert isinstance(y.grad_fn, Node) and y.grad_fn is y.grad_fn
    assert y.grad_fn.name() == type(y.grad_fn).__name__ == "MulBackward0"
    assert y.exp().sum().grad_fn.name() == "SumBackward0"
    d = _Double.apply(x)
    assert d.grad_fn.name() == "_DoubleBackward" and isinstance(d.grad_fn, Node)
    assert d.grad_fn.factor == 2.0  # (as PyTorch's BackwardCFunction, the node is also the ctx)
    assert x.grad_fn is None and w.grad_fn is None
    assert "grad_fn=<MulBackward0>" in repr(y)


def test_next_functions_follow_the_inputs():
    x, w = _xw()
    y = x * w
    e = y.exp()
    z = e.sum()
    ((exp_node, nr),) = z.grad_fn.next_functions
    assert exp_node is e.grad_fn and nr == 0
    assert e.grad_fn.next_functions == ((y.grad_fn, 0),)
    (acc, nr_x), (none, nr_w) = y.grad_fn.next_functions
    assert acc.name() == "torch::autograd::AccumulateGrad" and type(acc).__name__ == "AccumulateGrad"
    assert acc.variable is x and acc.next_functions == () and nr_x == 0
    assert none is None and nr_w == 0  # w requires no grad
    # one leaf, one AccumulateGrad node (while it is alive)
    assert (x + 1).grad_fn.next_functions[0][0] is acc


def test_next_functions_after_the_graph_is_freed():
    x, w = _xw()
    y = x * w
    z = y.sum()
    z.backward(retain_graph=True)
    assert y.grad_fn.next_functions[1] == (None, 0)
    z.backward()
    assert y.grad_fn.name() == "MulBackward0"
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        _ = y.grad_fn.next_functions


def test_metadata_stays_with_the_node():
    x, _ = _xw()
    y = x * 2
    y.grad_fn.metadata["label"] = "scale"
    assert y.grad_fn.metadata == {"label": "scale"}
    assert (y + 1).grad_fn.metadata == {}


# ---------------------------------------------------------------- hooks
def test_prehook_and_hook_replace_gradients():
    # z = sum(x * w): dz/dy = 1, dz/dx = w.  The pre-hook makes dz/dy 10, the hook doubles dz/dx.
    x, w = _xw()
    y = x * w
    z = y.sum()
    seen = {}

    def pre(grad_outputs):
        seen["pre"] = [g.numpy().copy() for g in grad_outputs]
        return (grad_outputs[0] * 10,)

    def post(grad_inputs, grad_outputs):
        seen["post"] = (grad_inputs, [g.numpy().copy() for g in grad_outputs])
        return (grad_inputs[0] * 2, grad_inputs[1])

    h1 = y.grad_fn.register_prehook(pre)
    h2 = y.grad_fn.register_hook(post)
    z.backward(retain_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), 20 * W)
    np.testing.assert_allclose(seen["pre"][0], np.ones(3))
    gi, go = seen["post"]
    assert len(gi) == 2 and gi[1] is None  # w needs no gradient
    np.testing.assert_allclose(gi[0].numpy(), 10 * W)
    np.testing.assert_allclose(go[0], 10 * np.ones(3))
    h1.remove()
    h2.remove()
    x.grad = None
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), W)


def test_tensor_hooks_run_before_node_prehooks():
    # y = 3x; the tensor hook adds 1 to dL/dy = 1, the node pre-hook sees 2; retain_grad keeps 2
    x = cr.ones(2, requires_grad=True)
    y = x * 3
    order = []
    y.register_hook(lambda g: order.append("tensor") or g + 1)
    y.grad_fn.register_prehook(lambda go: order.append(("node", go[0].numpy().tolist())) and None)
    y.retain_grad()
    y.sum().backward()
    assert order == ["tensor", ("node", [2.0, 2.0])]
    np.testing.assert_allclose(y.grad.numpy(), [2.0, 2.0])
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0])


def test_accumulate_grad_hooks():
    # d sum(x)/dx = 1; the tensor hook doubles it, then AccumulateGrad's pre-hook triples it
    x = cr.ones(3, requires_grad=True)
    acc = get_gradient_edge(x).node
    got = []
    acc.register_prehook(lambda go: (go[0] * 3,))
    acc.register_hook(lambda gi, go: got.append((gi, go[0].numpy().tolist())))
    x.register_hook(lambda g: g * 2)
    (x * 1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0] * 3)
    assert got == [((), [6.0] * 3)]
    # autograd.grad runs no AccumulateGrad node (only the tensor hook)
    (g,) = cr.autograd.grad((x * 1).sum(), x)
    np.testing.assert_allclose(g.numpy(), [2.0] * 3)
    assert len(got) == 1
    # backward(inputs=...) does accumulate, through the node
    x.grad = None
    (x * 1).sum().backward(inputs=[x])
    np.testing.assert_allclose(x.grad.numpy(), [6.0] * 3)
    assert len(got) == 2


def test_hooks_under_create_graph_are_differentiated():
    # y = x², dL/dy tripled by a pre-hook: g = 6x, dg/dx = 6
    x = cr.tensor([1.5, -0.5], requires_grad=True)
    y = x * x
    y.grad_fn.register_prehook(lambda go: (go[0] * 3,))
    (g,) = cr.autograd.grad(y.sum(), x, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), [9.0, -3.0])
    (h,) = cr.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), [6.0, 6.0])


def test_a_hook_must_return_none_or_one_gradient_per_input():
    x, w = _xw()
    y = x * w
    y.grad_fn.register_hook(lambda gi, go: (gi[0],))
    with pytest.raises(RuntimeError, match="tuple of 2 gradients"):
        y.sum().backward()


def test_node_and_hooks_stay_with_the_op_after_an_inplace_edit():
    # b = 2a; b.mul_(3) makes the object b the output of the mul_; the Node taken before is still
    # the first mul's, and so are its hooks: dL/d(2a) for L = sum(b_new²) is 2·b_new·3
    a = cr.ones(3, requires_grad=True)
    b = a * 2
    node = b.grad_fn
    edge = get_gradient_edge(b)
    seen = []
    node.register_prehook(lambda go: seen.append(go[0].numpy().tolist()) and None)
    b.mul_(3)
    assert b.grad_fn is not node and b.grad_fn.next_functions[0][0] is node
    loss = (b * b).sum()
    (g,) = cr.autograd.grad(loss, edge, retain_graph=True)
    np.testing.assert_allclose(g.numpy(), [36.0] * 3)
    loss.backward()
    assert seen == [[36.0] * 3]
    np.testing.assert_allclose(a.grad.numpy(), [72.0] * 3)


# ---------------------------------------------------------------- gradient edges
def test_get_gradient_edge():
    x, w = _xw()
    y = x * w
    e = get_gradient_edge(y)
    assert isinstance(e, GradientEdge) and e.node is y.grad_fn and e.output_nr == 0
    assert get_gradient_edge(x).node.variable is x
    with pytest.raises(RuntimeError, match="does not require gradients"):
        get_gradient_edge(w)


def test_edges_as_inputs_and_outputs():
    x, w = _xw()
    y = x * w
    z = y.exp().sum()
    (gy,) = cr.autograd.grad(z, get_gradient_edge(y), retain_graph=True)
    np.testing.assert_allclose(gy.numpy(), np.exp(X * W))  # dz/dy = e^y
    gy2, gx = cr.autograd.grad(z, [get_gradient_edge(y), get_gradient_edge(x)], retain_graph=True)
    np.testing.assert_allclose(gx.numpy(), W * np.exp(X * W))
    v = cr.tensor([1.0, 2.0, 3.0])
    (gx,) = cr.autograd.grad(get_gradient_edge(y), x, grad_outputs=v, retain_graph=True)
    np.testing.assert_allclose(gx.numpy(), W * [1.0, 2.0, 3.0])  # vᵀ dy/dx
    cr.autograd.backward(get_gradient_edge(y), grad_tensors=v, inputs=[get_gradient_edge(x)])
    np.testing.assert_allclose(x.grad.numpy(), W * [1.0, 2.0, 3.0])


def test_custom_function_with_two_outputs_shares_one_node():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    p, q = _TwoOut.apply(x)
    assert p.grad_fn is q.grad_fn and p.grad_fn.name() == "_TwoOutBackward"
    assert get_gradient_edge(q).output_nr == 1 and get_gradient_edge(p).output_nr == 0
    assert p.grad_fn.next_functions[0][0].variable is x
    u, v = cr.tensor([1.0, -1.0]), cr.tensor([0.5, 4.0])
    loss = (p * u).sum() + (q * v).sum()
    gq, gp = cr.autograd.grad(loss, [get_gradient_edge(q), get_gradient_edge(p)], retain_graph=True)
    np.testing.assert_allclose(gq.numpy(), v.numpy())
    np.testing.assert_allclose(gp.numpy(), u.numpy())
    (gx,) = cr.autograd.grad(get_gradient_edge(q), x, grad_outputs=v, retain_graph=True)
    np.testing.assert_allclose(gx.numpy(), 3 * v.numpy())
    seen = []
    p.grad_fn.register_prehook(lambda go: seen.append([g.numpy().tolist() for g in go]) and None)
    loss.backward()
    assert seen == [[u.numpy().tolist(), v.numpy().tolist()]]
    np.testing.assert_allclose(x.grad.numpy(), 2 * u.numpy() + 3 * v.numpy())


# ---------------------------------------------------------------- PyTorch as the oracle
SAME_NAMES = {
    "mul": lambda L, x: x * x, "add": lambda L, x: x + x, "div": lambda L, x: x / 2.0, "exp": lambda L, x: x.exp(),
    "tanh": lambda L, x: x.tanh(), "sigmoid": lambda L, x: x.sigmoid(), "sum": lambda L, x: x.sum(),
    "mean": lambda L, x: x.mean(), "relu": lambda L, x: L.relu(x), "pow": lambda L, x: x**3,
    "log_softmax": lambda L, x: L.log_softmax(x, 1), "cat": lambda L, x: L.cat([x, x]),
    "silu": lambda L, x: L.nn.functional.silu(x), "log1p": lambda L, x: x.log1p(),
}


@pytest.mark.parametrize("op", sorted(SAME_NAMES))
def test_node_names_match_torch(op):
    torch = pytest.importorskip("torch")
    a = np.array([[0.5, 1.5], [2.0, 0.25]])
    want = SAME_NAMES[op](torch, torch.tensor(a, requires_grad=True)).grad_fn
    got = SAME_NAMES[op](cr, cr.tensor(a, requires_grad=True)).grad_fn
    assert got.name() == want.name() and type(got).__name__ == type(want).__name__
    assert isinstance(want, torch.autograd.graph.Node) and isinstance(got, Node)


def _hooked_run(lib):
    x = lib.tensor(X, requires_grad=True)
    w = lib.tensor(W)
    y = x * w
    z = (y.sin() * y).sum()
    log = []
    y.grad_fn.register_prehook(lambda go: (go[0] * 2,))
    y.grad_fn.register_hook(lambda gi, go: log.append([g is None for g in gi]) or (gi[0] + 1, None))
    acc = y.grad_fn.next_functions[0][0]
    acc.register_prehook(lambda go: (go[0] * -1,))
    acc.register_hook(lambda gi, go: log.append(len(gi)))
    edge = get_gradient_edge(y) if lib is cr else lib.autograd.graph.get_gradient_edge(y)
    (gy,) = lib.autograd.grad(z, edge, retain_graph=True)
    names = [n.name() if n is not None else None for n, _ in y.grad_fn.next_functions]
    z.backward()
    return x.grad.detach().numpy(), gy.detach().numpy(), log, names


def test_hooks_and_edges_match_torch():
    torch = pytest.importorskip("torch")
    want = _hooked_run(torch)
    got = _hooked_run(cr)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6)
    assert got[2] == want[2] == [[False, True], 0]  # (autograd.grad ran no node: nothing below y was asked for)
    assert got[3] == want[3]


def test_edge_after_inplace_matches_torch():
    torch = pytest.importorskip("torch")
    res = []
    for lib, edge_of in ((torch, torch.autograd.graph.get_gradient_edge), (cr, get_gradient_edge)):
        a = lib.tensor(X, requires_grad=True)
        t = a.sin() * 2
        e = edge_of(t)
        t.mul_(3)
        assert t.grad_fn.next_functions[0][0] is e.node
        loss = (t * t).sum()
        (g,) = lib.autograd.grad(loss, e)
        res.append(g.detach().numpy())
    np.testing.assert_allclose(res[1], res[0], rtol=1e-6)


def test_gradient_edge_fields_match_torch():
    torch = pytest.importorskip("torch")
    assert GradientEdge._fields == torch.autograd.graph.GradientEdge._fields
    assert {"Node", "GradientEdge", "get_gradient_edge", "increment_version"} <= set(torch.autograd.graph.__all__)
    with pytest.raises(RuntimeError) as want:
        torch.autograd.graph.get_gradient_edge(torch.ones(2))
    with pytest.raises(RuntimeError) as got:
        get_gradient_edge(cr.ones(2))
    assert str(got.value) == str(want.value)


def test_a_deep_copy_gets_a_node_of_its_own():
    import copy

    x = cr.ones(2, requires_grad=True)
    acc = get_gradient_edge(x).node  # (kept alive)
    acc.register_prehook(lambda go: (go[0] * 0,))
    acc.metadata["of"] = "x"
    twin = copy.deepcopy(x)
    edge = get_gradient_edge(twin)
    assert edge.node is not acc and edge.node.variable is twin and edge.node.metadata == {}
    (twin * 3).sum().backward()  # (x's pre-hook does not zero the twin's gradient)
    np.testing.assert_allclose(twin.grad.numpy(), [3.0, 3.0])
