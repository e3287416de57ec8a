"""``F.linear`` on a permuted view (a batch-first RNN's output, ``h.transpose(0, 1)``) runs on the
block memory holds, in memory's row order, and gives its output the input's permutation as a
view: the same numbers and gradients as on a contiguous copy, without copying the input."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck

L = sys.modules["chainrule.nn.functional.linear"]


def _permuted(rng, block, perm, dtype=np.float64):
    """A view of a fresh C-ordered ``block`` with its axes in the order ``perm``."""
    return cr.tensor(rng.standard_normal(block).astype(dtype)).permute(*perm)


@pytest.mark.parametrize("block, perm", [((6, 4, 5), (1, 0, 2)), ((3, 4, 2, 5), (2, 0, 1, 3)),
                                         ((3, 4, 2, 5), (1, 2, 0, 3))])
def test_permuted_input_runs_in_memory_order_with_the_same_numbers(block, perm):
    rng = np.random.default_rng(0)
    x = _permuted(rng, block, perm).requires_grad_()
    w = cr.tensor(rng.standard_normal((3, block[-1])), requires_grad=True)
    b = cr.tensor(rng.standard_normal(3), requires_grad=True)
    assert L._rows_in_memory_order(x._array) is not None
    y = F.linear(x, w, b)
    assert y.shape == x.shape[:-1] + (3,)
    assert not y._array.flags.c_contiguous  # the input's permutation of a block, as a view
    np.testing.assert_allclose(y._array, x._array @ w._array.T + b._array, rtol=1e-13, atol=1e-13)
    g = rng.standard_normal(y.shape)
    (y * cr.tensor(g)).sum().backward()
    np.testing.assert_allclose(x.grad._array, g @ w._array, rtol=1e-13, atol=1e-13)
    flat_g, flat_x = g.reshape(-1, 3), x._array.reshape(-1, block[-1])
    np.testing.assert_allclose(w.grad._array, flat_g.T @ flat_x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b.grad._array, flat_g.sum(0), rtol=1e-12, atol=1e-12)


def test_permuted_input_gradcheck_and_gradgradcheck():
    rng = np.random.default_rng(1)
    x = _permuted(rng, (3, 2, 4), (1, 0, 2)).requires_grad_()
    w = cr.tensor(rng.standard_normal((2, 4)), requires_grad=True)
    b = cr.tensor(rng.standard_normal(2), requires_grad=True)
    assert gradcheck(F.linear, (x, w, b))
    assert gradgradcheck(F.linear, (x, w, b))


@pytest.mark.parametrize("make", [
    lambda r: cr.tensor(r.standard_normal((4, 5, 3))),  # already C-ordered: the plain path
    lambda r: cr.tensor(r.standard_normal((3, 5, 4))).permute(2, 1, 0),  # features not innermost
    lambda r: cr.tensor(r.standard_normal((8, 5, 3)))[::2].transpose(0, 1),  # not one block: every other row
    lambda r: cr.tensor(r.standard_normal((0, 5, 3))).transpose(0, 1),  # empty
])
def test_other_inputs_keep_the_plain_path(make):
    x = make(np.random.default_rng(2))
    assert L._rows_in_memory_order(x._array) is None
    w = cr.tensor(np.random.default_rng(3).standard_normal((2, x.shape[-1])))
    np.testing.assert_allclose(F.linear(x, w)._array, x._array @ w._array.T, rtol=1e-13, atol=1e-13)


def test_batch_first_lstm_then_linear_against_pytorch():
    """The pattern the rule is for, with PyTorch as the oracle: outputs and every gradient."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 7, 4))
    cr.manual_seed(0)
    lstm, head = cr.nn.LSTM(4, 6, batch_first=True).double(), cr.nn.Linear(6, 5).double()
    t_lstm, t_head = torch.nn.LSTM(4, 6, batch_first=True).double(), torch.nn.Linear(6, 5).double()
    with torch.no_grad():
        for p, q in zip([*lstm.parameters(), *head.parameters()], [*t_lstm.parameters(), *t_head.parameters()]):
            q.copy_(torch.from_numpy(p._array))
    out = head(lstm(cr.tensor(x))[0])
    t_out = t_head(t_lstm(torch.from_numpy(x))[0])
    np.testing.assert_allclose(out._array, t_out.detach().numpy(), rtol=1e-10, atol=1e-12)
    out.reshape(-1, 5).square().sum().backward()
    t_out.reshape(-1, 5).square().sum().backward()
    for p, q in zip([*lstm.parameters(), *head.parameters()], [*t_lstm.parameters(), *t_head.parameters()]):
        np.testing.assert_allclose(p.grad._array, q.grad.numpy(), rtol=1e-9, atol=1e-11)
