"""Defects the PyTorch oracle (tests/test_torch_oracle.py) found, pinned without PyTorch.

In-place ops write into the tensor they are called on, so the result must have that tensor's
shape: PyTorch raises "output with shape [2, 1, 4] doesn't match the broadcast shape [2, 3, 4]".
chainrule used to rebind a tensor that is part of a graph to the broadcast result (its shape
changed silently) and, without a graph, to raise NumPy's message naming no op.
"""

import numpy as np
import pytest

import chainrule as cr

CASES = [
    ("add_", (2, 1, 4), [(3, 1)]),
    ("mul_", (), [(2, 2)]),
    ("atan2_", (2, 1, 4), [(3, 1)]),
    ("addcmul_", (4,), [(3, 4), (3, 4)]),
]


@pytest.mark.parametrize("graph", [True, False], ids=["recorded", "no-graph"])
@pytest.mark.parametrize("name, shape, others", CASES, ids=[c[0] for c in CASES])
def test_in_place_op_refuses_a_result_of_another_shape(name, shape, others, graph):
    x = cr.zeros(shape, dtype=cr.float64, requires_grad=graph) * 1  # a non-leaf: in-place is allowed
    args = [cr.ones(s, dtype=cr.float64) for s in others]
    with pytest.raises(RuntimeError, match=rf"{name}.*output with shape \(.*\) doesn't match the broadcast shape"):
        getattr(x, name)(*args)
    assert x.shape == shape  # untouched


def test_in_place_op_with_a_broadcast_other_keeps_its_shape_and_gradient():
    x = cr.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    y = x * 1
    y.add_(cr.tensor([1.0, 2.0, 3.0]), alpha=2)
    assert y.shape == (2, 3)
    np.testing.assert_allclose(y.detach().numpy(), np.arange(6.0).reshape(2, 3) + [2.0, 4.0, 6.0])
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * y.detach().numpy())  # d(sum y²)/dx = 2y
