"""``Tensor.data`` as in PyTorch: a Tensor on the same memory that records nothing."""

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn


def test_data_is_a_tensor_on_the_same_memory_that_does_not_require_grad():
    w = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    d = w.data
    assert isinstance(d, cr.Tensor) and not d.requires_grad and d.is_leaf
    d[0] = 10.0  # no error: .data records nothing, and writes reach w
    assert w.tolist() == [10.0, 2.0, 3.0]


def test_the_sgd_idiom_p_data_add_works():
    model = nn.Linear(2, 1)
    with cr.no_grad():
        model.weight.copy_(cr.tensor([[1.0, -1.0]]))
        model.bias.zero_()
    loss = model(cr.tensor([[2.0, 3.0]])).sum()  # d loss / d w = x = [2, 3], d loss / d b = 1
    loss.backward()
    for p in model.parameters():
        p.data.add_(p.grad, alpha=-0.5)
    np.testing.assert_allclose(model.weight.detach().numpy(), [[0.0, -2.5]])
    np.testing.assert_allclose(model.bias.detach().numpy(), [-0.5])


def test_changes_through_data_are_not_seen_by_the_in_place_check():
    """PyTorch's documented difference from detach(): .data does not share the version counter."""
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    x.data.mul_(1.0)
    y.sum().backward()  # no "modified by an inplace operation" error
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])
    z = x * x
    x.detach().mul_(1.0)
    with pytest.raises(RuntimeError, match="version"):
        z.sum().backward()


def test_assigning_data_swaps_the_memory_and_keeps_the_identity():
    p = nn.Parameter(cr.zeros(2))
    p.data = cr.ones(3, dtype=cr.float64)
    assert isinstance(p, nn.Parameter) and p.requires_grad
    assert p.shape == (3,) and p.dtype == cr.float64 and p.tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(TypeError, match="Tensor"):
        p.data = [1.0, 2.0]
