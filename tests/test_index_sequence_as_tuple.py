"""A list index that holds sequences, tensors, slices, None or Ellipsis is read as a tuple of
indices, one per axis, as PyTorch reads it (with its deprecation warning): ``x[[rows, cols]]``
is ``x[rows, cols]``.  NumPy reads it as one integer array, which silently gave a different
shape.  A list of plain ints stays one integer index."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

A = np.arange(60.0).reshape(4, 5, 3)


def _index(lib):
    x = lib.tensor(A)
    return {
        "lists": x[[[0, 1], [1, 2]]], "tensors": x[[lib.tensor([0, 3]), lib.tensor([2, 4])]],
        "slice": x[[0, slice(1, 3)]], "none": x[[None, 2]], "ints": x[[0, 1]],
    }


def test_a_list_of_sequences_indexes_one_axis_each():
    with pytest.warns(UserWarning, match="non-tuple sequence"):
        got = _index(cr)
    np.testing.assert_array_equal(got["lists"].numpy(), A[[0, 1], [1, 2]])
    np.testing.assert_array_equal(got["tensors"].numpy(), A[[0, 3], [2, 4]])
    np.testing.assert_array_equal(got["slice"].numpy(), A[0, 1:3])
    np.testing.assert_array_equal(got["none"].numpy(), A[None, 2])
    np.testing.assert_array_equal(got["ints"].numpy(), A[[0, 1]])


def test_assignment_and_gradient_read_it_the_same_way():
    x = cr.tensor(A.copy(), requires_grad=True)
    with pytest.warns(UserWarning):
        x[[[0, 1], [1, 2]]].sum().backward()
    want = np.zeros_like(A)
    want[[0, 1], [1, 2]] = 1.0
    np.testing.assert_array_equal(x.grad.numpy(), want)
    y = cr.tensor(A.copy())
    with pytest.warns(UserWarning):
        y[[[0, 1], [1, 2]]] = -1.0
    np.testing.assert_array_equal((y.numpy() == -1.0), want.astype(bool))


def test_as_pytorch_does():
    torch = pytest.importorskip("torch")
    with pytest.warns(UserWarning):
        got = {k: v.numpy() for k, v in _index(cr).items()}
    with pytest.warns(UserWarning):
        want = {k: v.numpy() for k, v in _index(torch).items()}
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])
