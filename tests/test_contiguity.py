"""``Tensor.is_contiguous``/``contiguous`` say where the elements lie, as PyTorch's do: a
transposed or strided view is not contiguous, ``contiguous()`` copies it (a copy that
gradients pass through) and hands a contiguous tensor back as it is."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import gradcheck

VIEWS = {
    "plain": lambda t: t,
    "transposed": lambda t: t.t(),
    "every other column": lambda t: t[:, ::2],
    "a row": lambda t: t[1],
    "a column": lambda t: t[:, 1],
    "one row kept 2-D": lambda t: t[1:2],
    "a column kept 2-D": lambda t: t[:, 1:2],
    "expanded": lambda t: t[:1].expand(3, 4),
    "permuted 3-D": lambda t: t.reshape(2, 3, 2).permute(2, 0, 1),
    "empty": lambda t: t[:0],
}


@pytest.mark.parametrize("view", list(VIEWS))
def test_is_contiguous_as_pytorch_says(view):
    torch = pytest.importorskip("torch")
    x = np.arange(12.0).reshape(3, 4)
    assert VIEWS[view](cr.tensor(x)).is_contiguous() == VIEWS[view](torch.tensor(x)).is_contiguous()


def test_strided_views_are_not_contiguous():
    x = cr.arange(12.0).reshape(3, 4)
    assert x.is_contiguous() and x[1].is_contiguous()
    assert not x.t().is_contiguous() and not x[:, ::2].is_contiguous()


def test_contiguous_copies_only_what_is_not():
    x = cr.arange(12.0, dtype=cr.float64).reshape(3, 4)
    assert x.contiguous() is x
    y = x.t().contiguous()
    assert y.is_contiguous() and y.stride() == (3, 1)
    np.testing.assert_array_equal(y.numpy(), np.arange(12.0).reshape(3, 4).T)
    y[0, 0] = 100.0  # (a copy: the original keeps its values)
    assert float(x[0, 0]) == 0.0
    w = cr.randn(3, 4, dtype=cr.float64, requires_grad=True)
    assert gradcheck(lambda a: a.t().contiguous() * 2.0, (w,))


def test_channels_last_is_answered_from_the_strides():
    """chainrule keeps NumPy's layout (a layout request changes nothing), so an NCHW tensor is
    channels-last contiguous only where its strides happen to be (one channel)."""
    torch = pytest.importorskip("torch")
    for shape in [(2, 3, 4, 5), (2, 1, 4, 5), (2, 3, 1, 1)]:
        x = np.zeros(shape, np.float32)
        assert cr.tensor(x).is_contiguous(memory_format=cr.channels_last) == \
            torch.tensor(x).is_contiguous(memory_format=torch.channels_last), shape
    x = np.zeros((2, 3, 4, 5), np.float32)
    assert cr.tensor(x).permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2).is_contiguous(
        memory_format=cr.channels_last)
    assert not cr.tensor(x).is_contiguous(memory_format=cr.channels_last_3d)
