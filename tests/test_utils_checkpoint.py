"""``torch.utils.checkpoint``: the checkpointed call gives the plain call's values and gradients
(the inputs', the parameters'), dropout included, keeps none of its intermediate tensors, and
``checkpoint_sequential`` equals the Sequential it cuts."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd.gradcheck import gradcheck
from chainrule.utils.checkpoint import checkpoint, checkpoint_sequential

RNG = np.random.default_rng(0)
X = RNG.standard_normal((5, 4))


def _net():
    cr.manual_seed(2)
    return cr.nn.Sequential(cr.nn.Linear(4, 8), cr.nn.Tanh(), cr.nn.Dropout(0.3), cr.nn.Linear(8, 3)).double()


def _run(net, call):
    x = cr.tensor(X, requires_grad=True)
    cr.manual_seed(7)
    y = call(net, x)
    (y * y).sum().backward()
    return y.detach().numpy(), x.grad.numpy(), [p.grad.numpy() for p in net.parameters()]


@pytest.mark.parametrize("reentrant", [None, True, False])
def test_the_checkpointed_call_gives_the_plain_calls_numbers(reentrant):
    plain = _run(_net(), lambda net, x: net(x))
    ckpt = _run(_net(), lambda net, x: checkpoint(net, x, use_reentrant=reentrant))
    np.testing.assert_array_equal(ckpt[0], plain[0])
    np.testing.assert_array_equal(ckpt[1], plain[1])
    for a, b in zip(ckpt[2], plain[2]):
        np.testing.assert_array_equal(a, b)


def test_keyword_arguments_and_several_outputs_by_finite_differences():
    w = cr.tensor(RNG.standard_normal((4, 4)), requires_grad=True)

    def f(x, w, scale=1.0):
        h = (x @ w).tanh()
        return h * scale, h.sum(0)

    def loss(x, w):
        a, b = checkpoint(f, x, w, scale=0.5, use_reentrant=False)
        return (a * a).sum() + b.sin().sum()

    assert gradcheck(loss, (cr.tensor(X, requires_grad=True), w))


def test_no_intermediate_tensor_is_kept():
    kept = []

    def f(x):
        h = x.exp()
        kept.append(weakref.ref(h))
        return h.sum(1)

    x = cr.tensor(X, requires_grad=True)
    y = f(x)
    gc.collect()
    assert kept[-1]() is not None  # (the plain call's graph holds it)
    y = checkpoint(f, x, use_reentrant=False)
    gc.collect()
    assert kept[-1]() is None
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp(X))


def test_checkpoint_sequential_equals_the_sequential():
    plain = _run(_net(), lambda net, x: net(x))
    ckpt = _run(_net(), lambda net, x: checkpoint_sequential(net, 2, x, use_reentrant=False))
    for a, b in zip(ckpt[:2], plain[:2]):
        np.testing.assert_array_equal(a, b)


def test_the_pytorch_import_paths_and_no_grad():
    import chainrule as torch

    assert torch.utils.checkpoint.checkpoint is checkpoint
    with torch.no_grad():
        y = checkpoint(lambda x: x * 2, cr.tensor(X))
    assert y._op is None
    with pytest.raises(TypeError, match="Tensor or a tuple"):
        checkpoint(lambda x: [x], cr.tensor(X, requires_grad=True))


def _block_and_data():
    cr.manual_seed(0)
    block = cr.nn.Sequential(cr.nn.Linear(6, 8), cr.nn.Tanh(), cr.nn.Linear(8, 3))
    x = cr.tensor(np.random.default_rng(0).standard_normal((5, 6)))
    return block.double(), x


def test_non_reentrant_gives_the_parameters_their_gradients_when_no_input_requires_grad():
    """use_reentrant=False (PyTorch's recommended variant): the block's parameters get the
    gradients of the plain call even though the input (data) does not require grad; it had
    no gradient at all, silently, where the rest of the model had."""
    block, x = _block_and_data()
    want = [g.numpy() for g in cr.autograd.grad(block(x).pow(2).sum(), list(block.parameters()))]
    y = checkpoint(block, x, use_reentrant=False)
    assert y.requires_grad
    y.pow(2).sum().backward()
    for p, g in zip(block.parameters(), want):
        np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-12, atol=1e-12)


def test_non_reentrant_works_with_autograd_grad():
    block, x = _block_and_data()
    x.requires_grad_(True)
    wrt = [x, *block.parameters()]
    want = cr.autograd.grad(block(x).pow(2).sum(), wrt)
    got = cr.autograd.grad(checkpoint(block, x, use_reentrant=False).pow(2).sum(), wrt)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-12)
    assert all(p.grad is None for p in block.parameters())


def test_a_tensor_from_outside_the_block_is_differentiated_once():
    """A tensor the checkpointed function closes over, computed before it from a parameter:
    the parameter's gradient is the plain call's (counted once, through the outer graph)."""
    cr.manual_seed(1)
    w = cr.randn(6, 6, dtype=cr.float64, requires_grad=True)
    x = cr.randn(4, 6, dtype=cr.float64)
    outer = cr.tanh(w)

    def f(v):
        return (v @ outer).sin()

    want = cr.autograd.grad(f(x).sum() + outer.sum(), [w], retain_graph=True)[0].numpy()
    (checkpoint(f, x, use_reentrant=False).sum() + outer.sum()).backward()
    np.testing.assert_allclose(w.grad.numpy(), want, rtol=1e-12, atol=1e-12)


def test_reentrant_warns_that_no_input_requires_grad():
    block, x = _block_and_data()
    with pytest.warns(UserWarning, match="None of the inputs have requires_grad=True"):
        y = checkpoint(block, x, use_reentrant=True)
    assert not y.requires_grad


def test_non_reentrant_matches_pytorch_on_a_closure_over_parameters():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    w1, w2 = rng.standard_normal((8, 6)), rng.standard_normal((3, 8))
    xs = rng.standard_normal((5, 6))
    grads = []
    for lib in (cr, torch):
        a = lib.tensor(w1, requires_grad=True)
        b = lib.tensor(w2, requires_grad=True)
        ck = lib.utils.checkpoint.checkpoint
        y = ck(lambda v: lib.relu(v @ a.T) @ b.T, lib.tensor(xs), use_reentrant=False)
        y.pow(2).sum().backward()
        grads.append([a.grad.detach().numpy(), b.grad.detach().numpy()])
    for g, h in zip(*grads):
        np.testing.assert_allclose(g, h, rtol=1e-10, atol=1e-12)
