"""``chainrule.autograd.graph`` (torch.autograd.graph): saved_tensors_hooks, save_on_cpu,
disable_saved_tensors_hooks, register_multi_grad_hook, increment_version; PyTorch as an oracle."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import graph as G

X = np.array([0.5, -1.0, 2.0])


def _run(lib, pack, unpack, body):
    """body(lib, x) under the hooks; returns (x.grad, calls)"""
    x = lib.tensor(X, requires_grad=True)
    with lib.autograd.graph.saved_tensors_hooks(pack, unpack):
        loss = body(lib, x)
    loss.backward()
    return x.grad


BODIES = {
    "mul_exp": lambda lib, x: ((x * x).exp()).sum(),
    "sin": lambda lib, x: x.sin().sum(),
    "tanh_mul": lambda lib, x: (x.tanh() * x).sum(),
}
EXPECTED_PACKS = {"mul_exp": 3, "sin": 1, "tanh_mul": 3}  # (x*x: both inputs; exp: its output)


@pytest.mark.parametrize("name", sorted(BODIES))
def test_pack_unpack_counts_and_gradient(name):
    packed, unpacked = [], []

    def pack(t):
        packed.append(t)
        return ("box", t)

    def unpack(p):
        unpacked.append(p)
        return p[1]

    x = cr.tensor(X, requires_grad=True)
    with G.saved_tensors_hooks(pack, unpack):
        loss = BODIES[name](cr, x)
    assert len(packed) == EXPECTED_PACKS[name]
    assert not unpacked  # nothing unpacked before backward
    loss.backward()
    assert len(unpacked) == EXPECTED_PACKS[name]
    y = cr.tensor(X, requires_grad=True)
    BODIES[name](cr, y).backward()
    np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy())


@pytest.mark.parametrize("name", sorted(BODIES))
def test_counts_and_gradients_match_torch(name):
    torch = pytest.importorskip("torch")
    counts = []
    grads = []
    for lib in (cr, torch):
        n = [0, 0]

        def pack(t, n=n):
            n[0] += 1
            return t

        def unpack(p, n=n, lib=lib):
            n[1] += 1
            return p * 0 + 2  # a modified tensor: the gradient changes
        grads.append(_run(lib, pack, unpack, BODIES[name]).detach().numpy())
        counts.append(tuple(n))
    assert counts[0] == counts[1]
    np.testing.assert_allclose(grads[0], grads[1])


def test_modified_unpack_changes_gradient_by_math():
    # d/dx sum(exp(x)) reads the output y = exp(x); an unpack returning 5 makes the gradient 5
    x = cr.tensor(X, requires_grad=True)
    with G.saved_tensors_hooks(lambda t: t, lambda p: cr.ones_like(p) * 5):
        y = x.exp().sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [5.0, 5.0, 5.0])


def test_no_hooks_outside_and_nested_innermost_wins():
    calls = []
    outer = G.saved_tensors_hooks(lambda t: calls.append("outer") or t, lambda p: p)
    inner = G.saved_tensors_hooks(lambda t: calls.append("inner") or t, lambda p: p)
    x = cr.tensor(X, requires_grad=True)
    with outer:
        x.sin()
        with inner:
            x.cos()
        x.exp()
    assert calls == ["outer", "inner", "outer"]
    x.sin().exp().sum().backward()  # outside: nothing packed
    assert calls == ["outer", "inner", "outer"]
    assert not cr.autograd.grad_mode.STATE.saved_hooks


def test_create_graph_with_identity_hooks():
    x = cr.tensor(X, requires_grad=True)
    with G.saved_tensors_hooks(lambda t: t, lambda p: p):
        y = (x ** 3).sum()
    (g,) = cr.autograd.grad(y, x, create_graph=True)
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * X)


def test_unpack_must_return_tensor():
    x = cr.tensor(X, requires_grad=True)
    with G.saved_tensors_hooks(lambda t: t, lambda p: 3):
        y = x.exp().sum()
    with pytest.raises(TypeError, match="unpack_hook"):
        y.backward()


def test_custom_function_saved_tensors_are_packed():
    class Square(cr.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return 2 * a * g

    n = [0, 0]

    def pack(t):
        n[0] += 1
        return t

    def unpack(p):
        n[1] += 1
        return p * 0 + 1
    x = cr.tensor(X, requires_grad=True)
    with G.saved_tensors_hooks(pack, unpack):
        y = Square.apply(x).sum()
    y.backward()
    assert n == [1, 1]
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0, 2.0])


def test_save_on_cpu_keeps_copies():
    x = cr.tensor(X, requires_grad=True)
    with G.save_on_cpu(pin_memory=True):
        y = (x * x).sum()
    x.data.mul_(0)  # (not a tracked in-place change: the copies keep the old values)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * X)


def test_disable_saved_tensors_hooks():
    with G.disable_saved_tensors_hooks("no hooks here"):
        with pytest.raises(RuntimeError, match="no hooks here"):
            with G.saved_tensors_hooks(lambda t: t, lambda p: p):
                pass
    with G.saved_tensors_hooks(lambda t: t, lambda p: p):
        x = cr.tensor(X, requires_grad=True).exp()  # enabled again
    with G.saved_tensors_hooks(lambda t: t, lambda p: p):
        with pytest.raises(RuntimeError, match="off"):
            with G.disable_saved_tensors_hooks("off"):
                pass

    @G.disable_saved_tensors_hooks("decorated")
    def f():
        with G.saved_tensors_hooks(lambda t: t, lambda p: p):
            pass
    with pytest.raises(RuntimeError, match="decorated"):
        f()
    assert x.requires_grad


def test_compiled_function_runs_eagerly_under_hooks():
    w = cr.tensor(X, requires_grad=True)

    def f(x):
        return (x * w).tanh().sum()

    cf = cr.compile(f)
    x = cr.tensor(X)
    cf(x).backward()
    cf(x).backward()  # (compiled, replayed)
    n = [0, 0]

    def pack(t):
        n[0] += 1
        return t

    def unpack(p):
        n[1] += 1
        return p
    w.grad = None
    with G.saved_tensors_hooks(pack, unpack):
        out = cf(x)
    out.backward()
    assert n[0] == n[1] > 0
    w2 = cr.tensor(X, requires_grad=True)
    (x * w2).tanh().sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), w2.grad.numpy())


def test_multi_grad_hook_all_and_any():
    a = cr.tensor(X, requires_grad=True)
    b = cr.tensor(X, requires_grad=True)
    c = cr.tensor(X, requires_grad=True)
    seen = []
    h = G.register_multi_grad_hook((a, b, c), lambda gs: seen.append(gs))
    (a * 2 + b * 3).sum().backward()
    assert len(seen) == 1
    ga, gb, gc = seen[0]
    np.testing.assert_allclose(ga.numpy(), 2.0)
    np.testing.assert_allclose(gb.numpy(), 3.0)
    assert gc is None
    h.remove()
    (a * 2).sum().backward()
    assert len(seen) == 1
    first = []
    G.register_multi_grad_hook((a, b), lambda g: first.append(g), mode="any")
    (a * 2 + b * 3).sum().backward()
    (a * 4).sum().backward()
    assert len(first) == 2
    np.testing.assert_allclose(first[1].numpy(), 4.0)
    with pytest.raises(ValueError):
        G.register_multi_grad_hook((a,), print, mode="some")


def test_multi_grad_hook_matches_torch():
    torch = pytest.importorskip("torch")
    results = []
    for lib in (cr, torch):
        a = lib.tensor(X, requires_grad=True)
        b = lib.tensor(X, requires_grad=True)
        c = lib.tensor(X, requires_grad=True)
        got = []
        lib.autograd.graph.register_multi_grad_hook((a, b, c), lambda gs, got=got: got.append(
            [None if g is None else g.detach().numpy().copy() for g in gs]))
        (a * b).sum().backward()
        results.append(got)
    assert len(results[0]) == len(results[1]) == 1
    for u, v in zip(results[0][0], results[1][0]):
        assert (u is None) == (v is None)
        if u is not None:
            np.testing.assert_allclose(u, v)


def test_increment_version_makes_saved_check_fire():
    x = cr.tensor(X, requires_grad=True)
    y = x * 1.0
    z = y.exp()  # saves its output
    G.increment_version(z)
    with pytest.raises(RuntimeError):
        z.sum().backward()


def test_hooked_saved_values_skip_the_inplace_check_as_in_torch():
    torch = pytest.importorskip("torch")
    grads = []
    for lib in (cr, torch):
        a = lib.tensor(X, requires_grad=True)
        x = a * 1
        with lib.autograd.graph.saved_tensors_hooks(lambda t: t.clone(), lambda p: p):
            y = (x * x).sum()
        x.mul_(3)
        y.backward()
        grads.append(a.grad.detach().numpy())
    np.testing.assert_allclose(grads[0], 2 * X)
    np.testing.assert_allclose(grads[1], 2 * X)


def test_allow_mutation_on_saved_tensors():
    torch = pytest.importorskip("torch")
    grads = []
    for lib in (cr, torch):
        a = lib.tensor(X, requires_grad=True)
        x = a * 1
        with lib.autograd.graph.allow_mutation_on_saved_tensors():
            y = (x * x.exp()).sum()
            x.mul_(3)
            y.backward()
        grads.append(a.grad.detach().numpy())
    np.testing.assert_allclose(grads[0], np.exp(X) * (1 + X))  # d/dx x eˣ at the saved x
    np.testing.assert_allclose(grads[0], grads[1])
    with G.allow_mutation_on_saved_tensors():
        with pytest.raises(RuntimeError, match="nested"):
            with G.allow_mutation_on_saved_tensors():
                pass
    # unmodified: the tensor itself is used, so create_graph differentiates through it
    x = cr.tensor(X, requires_grad=True)
    with G.allow_mutation_on_saved_tensors():
        (g,) = cr.autograd.grad((x ** 3).sum(), x, create_graph=True)
        g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * X)
