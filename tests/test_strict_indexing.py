"""Indexing a tensor on another device with host indices (NumPy arrays, lists, CPU tensors), as
PyTorch indexes a CUDA tensor with CPU indices: the indices move to the tensor's device."""

from __future__ import annotations

import numpy as np
import pytest
from strict_backend import DEVICE

import chainrule as cr

INDICES = {
    "numpy": lambda: (np.array([2, 0, 2]),),
    "list": lambda: ([2, 0, 2],),
    "cpu tensor": lambda: (cr.tensor([2, 0, 2]),),
    "pair": lambda: (np.array([0, 1, 2]), cr.tensor([1, 0, 1])),
    "mask": lambda: (np.array([True, False, True]),),
}


@pytest.mark.parametrize("kind", list(INDICES))
def test_host_indices_of_a_strict_tensor(strict, kind):
    x = cr.arange(9, dtype=cr.float64).reshape(3, 3)
    want = x.detach().requires_grad_(True)
    got = x.to("strict").requires_grad_(True)
    idx = INDICES[kind]()
    yw, yg = want[idx], got[idx]
    assert yg.device == DEVICE
    np.testing.assert_array_equal(yg.cpu().detach().numpy(), yw.detach().numpy())
    (yw * yw).sum().backward()
    (yg * yg).sum().backward()
    np.testing.assert_array_equal(got.grad.cpu().numpy(), want.grad.numpy())


def test_host_index_assignment_on_a_strict_tensor(strict):
    x = cr.zeros(4, dtype=cr.float64)
    s = x.to("strict")
    x[np.array([1, 3])] = 5.0
    s[np.array([1, 3])] = 5.0
    np.testing.assert_array_equal(s.cpu().numpy(), x.numpy())
