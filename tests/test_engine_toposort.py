"""One graph walk (issue 11, item 3): ``chainrule.autograd.graph.toposort`` and its users.

The engine, the trace tables, the graph drawing and the function transforms all order the
graph with the one helper; these tests check the order it promises (every tensor after its
parents, each once, parents visited left to right), its options, that each user calls it,
and what the engine's walk over that order must still do: deliver a gradient that reaches a
node by only some of its consumers, and free the graph and each gradient buffer as it goes.
"""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import Function, graph
from chainrule.autograd.graph import toposort


def t64(a, requires_grad=False) -> cr.Tensor:
    return cr.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def _position(order):
    return {id(t): i for i, t in enumerate(order)}


def _assert_topological(order):
    pos = _position(order)
    assert len(pos) == len(order), "a tensor is listed twice"
    for t in order:
        for p in t._parents or ():
            if id(p) in pos:
                assert pos[id(p)] < pos[id(t)], f"{p._op} listed after its consumer {t._op}"


def test_diamond_parents_first_each_once():
    x = t64([1.0, 2.0], requires_grad=True)
    a = x * 2.0
    b = a.exp()
    c = a.sin()
    d = b + c  # a reaches d by two paths
    order = toposort([d])
    assert [t._op.name for t in order][-1] == d._op.name and order[-1] is d
    assert sum(t is a for t in order) == 1
    assert {id(t) for t in order} == {id(a), id(b), id(c), id(d)}  # graph nodes only, by default
    _assert_topological(order)


def test_parents_visited_left_to_right_postorder():
    # out = add(mul(x, w), tanh(x)): the first input's sub-graph is listed first
    x = t64([0.5], requires_grad=True)
    w = t64([2.0], requires_grad=True)
    m = x * w
    th = x.tanh()
    out = m + th
    assert [t is m for t in toposort([out])] == [True, False, False]
    assert toposort([out])[1] is th
    with_leaves = toposort([out], leaves=True)
    assert [id(t) for t in with_leaves] == [id(x), id(w), id(m), id(th), id(out)]


def test_several_roots_one_inside_another_graph():
    x = t64([1.0, -1.0], requires_grad=True)
    a = x.exp()
    b = (a * 3.0).sum()
    order = toposort([a, b])
    assert len(order) == 3 and order[0] is a and order[-1] is b
    _assert_topological(order)


def test_grad_only_and_constants():
    x = t64([1.0, 2.0], requires_grad=True)
    c = t64([3.0, 4.0])
    k = c * 2.0  # a constant computed from a constant: no graph node
    y = x * k
    assert [t is y for t in toposort([y])] == [True]
    everything = toposort([y], grad_only=False, leaves=True)
    assert {id(t) for t in everything} == {id(x), id(k), id(y)}  # k has no recorded parents
    _assert_topological(everything)
    assert toposort([k]) == []  # nothing requires grad


def test_stop_lists_the_tensor_but_not_its_past():
    x = t64([1.0, 2.0], requires_grad=True)
    h = x.exp()
    y = (h * h).sin()
    order = toposort([y], stop=[h])
    assert order[0] is h and len(order) == 3  # h, mul, sin; not exp's inputs
    assert all(t is not x for t in order)


def test_freed_nodes_call_back_or_are_listed_as_ends():
    x = t64([1.0, 2.0], requires_grad=True)
    h = x.exp()
    y = (h * 2.0).sum()
    y.backward()  # frees the graph: _parents of every node is None now
    assert toposort([y]) == [y]  # without a callback a freed node is an end of the graph
    seen = []
    toposort([y], on_freed=seen.append)
    assert seen == [y]
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_deep_chain_no_recursion():
    x = t64(np.ones(3), requires_grad=True)
    h = x
    for _ in range(100_000):
        h = h * 1.0
    order = toposort([h])
    assert len(order) == 100_000 and order[-1] is h
    h.sum().backward()
    np.testing.assert_array_equal(x.grad._array, np.ones(3))


def test_every_graph_walker_uses_toposort(monkeypatch):
    calls: list = []
    real = graph.toposort

    def spy(*a, **k):
        calls.append(k.get("leaves", False))
        return real(*a, **k)

    monkeypatch.setattr(graph, "toposort", spy)
    x = t64([0.3, 0.7], requires_grad=True)
    w = t64([1.5, -2.0], requires_grad=True)
    y = (x * w).tanh().sum()
    cr.to_dot(y)
    assert len(calls) == 1
    cr.trace(y, [x])
    assert len(calls) == 2
    cr.func.grad(lambda a: (a * w).sum())(x)  # closes over w: func walks the graph to see it
    assert len(calls) >= 3
    n = len(calls)
    y.backward()
    assert len(calls) == n + 1
    np.testing.assert_allclose(w.grad._array, x._array * (1 - np.tanh(x._array * w._array) ** 2))


class NoGradFor(Function):
    """y = 3 h, whose backward returns no gradient (None) for h."""

    @staticmethod
    def forward(ctx, h):
        return h * 3.0

    @staticmethod
    def backward(ctx, g):
        return None


def test_node_whose_consumer_returns_none_still_passes_the_rest_on():
    # L = sum(2 h) + sum(NoGradFor(h)), h = x²: the Function contributes nothing, so
    # dL/dx = 2 · 2x (PyTorch: a None gradient counts as zero)
    for fast in (True, False):
        x = t64([0.5, -1.0, 2.0], requires_grad=True)
        h = x * x
        if not fast:
            h.register_hook(lambda g: None)  # (a tensor hook: the engine's general walk)
        ((2.0 * h).sum() + NoGradFor.apply(h).sum()).backward()
        assert x.grad is not None, f"fast={fast}: x got no gradient"
        np.testing.assert_allclose(x.grad._array, 4 * x._array, rtol=1e-12)


def test_none_gradient_matches_torch():
    torch = pytest.importorskip("torch")

    class TorchNoGrad(torch.autograd.Function):
        @staticmethod
        def forward(ctx, h):
            return h * 3.0

        @staticmethod
        def backward(ctx, g):
            return None

    xv = np.array([0.5, -1.0, 2.0])
    xt = torch.tensor(xv, requires_grad=True)
    ht = xt * xt
    ((2.0 * ht).sum() + TorchNoGrad.apply(ht).sum()).backward()
    x = t64(xv, requires_grad=True)
    h = x * x
    ((2.0 * h).sum() + NoGradFor.apply(h).sum()).backward()
    np.testing.assert_allclose(x.grad._array, xt.grad.numpy(), rtol=1e-12)


class _Spy(Function):
    """Identity whose backward remembers (a weak reference to) the gradient buffer it got."""

    refs: list = []

    @staticmethod
    def forward(ctx, h):
        return h.clone()

    @staticmethod
    def backward(ctx, g):
        _Spy.refs.append(weakref.ref(g._array))
        return g * 1.0


class _Check(Function):
    """Identity whose backward (the walk's last node) records which spied objects are alive."""

    alive: list = []
    watched: list = []

    @staticmethod
    def forward(ctx, h):
        return h.clone()

    @staticmethod
    def backward(ctx, g):
        _Check.alive = [r() is not None for r in _Spy.refs + _Check.watched]
        return g


@pytest.mark.parametrize("retain", [False, True])
def test_graph_and_gradient_buffers_freed_as_walked(retain):
    # x -> Check -> (tanh -> Spy) x 4 -> sum.  When Check's backward runs (last), every later
    # node has been processed: its gradient buffer must be gone, and (without retain_graph)
    # the intermediate tensors too, since only the graph referred to them.
    _Spy.refs = []
    x = t64(np.linspace(-1, 1, 1000), requires_grad=True)
    h = _Check.apply(x)
    watched = []
    for _ in range(4):
        h = _Spy.apply(h.tanh())
        watched.append(weakref.ref(h))
    _Check.watched = watched
    loss = h.sum()
    del h
    gc.disable()  # reference counting alone must free them
    try:
        loss.backward(retain_graph=retain)
    finally:
        gc.enable()
    assert len(_Spy.refs) == 4
    buffers, tensors = _Check.alive[:4], _Check.alive[4:]
    assert buffers == [False] * 4
    # the last intermediate is still referred to by loss's node (freed only with its node)
    assert tensors[:3] == [retain] * 3
