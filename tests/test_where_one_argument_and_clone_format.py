"""``torch.where(condition)`` (the indices where it holds, as ``nonzero(as_tuple=True)``) and
``Tensor.clone(memory_format=...)``, two PyTorch spellings that raised TypeError."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr


def test_where_with_the_condition_alone_gives_the_indices():
    x = cr.tensor([[0.5, -1.0, 2.0], [3.0, 0.0, -2.0]])
    rows, cols = cr.where(x > 0)
    assert rows.tolist() == [0, 0, 1] and cols.tolist() == [0, 2, 0]
    (i,) = cr.where(cr.tensor([False, True, True]))
    assert i.tolist() == [1, 2] and i.dtype == cr.int64
    with pytest.raises(TypeError, match="condition alone"):
        cr.where(x > 0, x)


def test_clone_takes_a_memory_format():
    x = cr.randn(2, 3, 4, 5, requires_grad=True)
    y = x.clone(memory_format=cr.channels_last)
    assert np.array_equal(y.detach().numpy(), x.detach().numpy()) and y._array is not x._array
    y.sum().backward()
    assert np.array_equal(x.grad.numpy(), np.ones((2, 3, 4, 5), np.float32))
    assert cr.clone(x, memory_format=cr.contiguous_format).shape == (2, 3, 4, 5)


def test_against_pytorch():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(0).standard_normal((3, 4))
    ours, theirs = cr.where(cr.tensor(a) > 0.3), torch.where(torch.tensor(a) > 0.3)
    assert [t.tolist() for t in ours] == [t.tolist() for t in theirs]
