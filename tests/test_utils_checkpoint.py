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
