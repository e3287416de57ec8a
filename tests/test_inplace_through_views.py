"""In-place operations through a view while a graph is recorded (``x[:, 0].mul_(2)``,
``out[:, t].copy_(h)``, ``h.view(...)[:, 0].zero_()``): as in PyTorch, the new values are
written into the memory the view shares with its base, and the base's history (and the
view's, and that of the views between them) says so.  They used to give the view new memory
of its own: the base kept its old values and its gradient ignored the write.

Values are checked against the same computation written with NumPy, gradients against finite
differences (gradcheck, float64), and both against PyTorch where it is installed.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd.gradcheck import gradcheck
from chainrule.backend.views import element_positions

D = np.arange(12.0).reshape(3, 4) / 7 - 0.5

EDITS = {  # name -> (edit of x through a view, the same on a NumPy array)
    "row copy_": (lambda x, c: x[:1].copy_(c[:1]), lambda a, c: a.__setitem__(np.s_[:1], c[:1])),
    "column mul_": (lambda x, c: x[:, 1].mul_(3.0), lambda a, c: a.__setitem__(np.s_[:, 1], a[:, 1] * 3)),
    "strided add_": (lambda x, c: x[::2, 1:3].add_(c[::2, 1:3]),
                     lambda a, c: a.__setitem__(np.s_[::2, 1:3], a[::2, 1:3] + c[::2, 1:3])),
    "transposed zero_": (lambda x, c: x.t()[2].zero_(), lambda a, c: a.__setitem__(np.s_[:, 2], 0.0)),
    "chained views": (lambda x, c: x.reshape(2, 6)[:, 5:].mul_(-2.0),
                      lambda a, c: a.reshape(2, 6).__setitem__(np.s_[:, 5:], a.reshape(2, 6)[:, 5:] * -2)),
    "narrow relu_": (lambda x, c: x.narrow(1, 0, 2).relu_(),
                     lambda a, c: a.__setitem__(np.s_[:, :2], np.maximum(a[:, :2], 0))),
    "diagonal add_": (lambda x, c: x.diagonal(1).add_(c.diagonal(1)),
                      lambda a, c: a.__setitem__((np.arange(3), np.arange(1, 4)), a.diagonal(1) + c.diagonal(1))),
}


@pytest.mark.parametrize("name", sorted(EDITS))
def test_the_base_gets_the_new_values(name):
    edit, on_numpy = EDITS[name]
    leaf = cr.tensor(D, requires_grad=True)
    x = leaf * 1.0
    c = cr.tensor(D[::-1].copy() + 1)
    edit(x, c)
    want = D.copy()
    on_numpy(want, D[::-1] + 1)
    np.testing.assert_array_equal(x.detach().numpy(), want)


@pytest.mark.parametrize("name", sorted(EDITS))
def test_gradients_through_the_write_match_finite_differences(name):
    edit = EDITS[name][0]

    def f(leaf, other):
        x = leaf * 1.5
        edit(x, other * 2)
        return (x * x).sum() + x[1:].sin().sum()

    leaf = cr.tensor(D, requires_grad=True)
    other = cr.tensor(D.T.copy().reshape(3, 4) * 0.3, requires_grad=True)
    assert gradcheck(f, (leaf, other))


def test_the_view_and_the_views_between_follow_the_base():
    """h = x.view(...); h[:, 0].zero_(): h (the view in between) reads the new values and its
    gradient goes through the write."""

    def f(leaf):
        x = leaf * 2.0
        h = x.reshape(4, 3)
        h[:, 0].zero_()
        return (h * h).sum() + (x * 3).sum()

    leaf = cr.tensor(D, requires_grad=True)
    out = f(leaf)
    x = D * 2
    h = x.reshape(4, 3).copy()
    h[:, 0] = 0
    assert np.isclose(out.item(), (h * h).sum() + 3 * h.sum())
    assert gradcheck(f, (leaf,))


def test_writing_a_buffer_column_by_column():
    """out = zeros(); out[:, t].copy_(h_t): the buffer takes the gradient of every column."""
    hs = cr.tensor(D, requires_grad=True)

    def f(hs):
        out = cr.zeros(3, 4, dtype=cr.float64)
        for t in range(4):
            out[:, t].copy_(hs[:, t] * (t + 1))
        return (out * out).sum()

    f(hs).backward()
    np.testing.assert_allclose(hs.grad.numpy(), 2 * D * np.arange(1, 5) ** 2)
    assert gradcheck(f, (hs,))


def test_a_view_of_a_leaf_that_requires_grad_is_refused():
    leaf = cr.tensor(D, requires_grad=True)
    with pytest.raises(RuntimeError, match="view of a leaf Variable"):
        leaf[0].add_(1.0)


def test_indexed_augmented_assignment_still_adds():
    """``x[:, 0] += v`` is an in-place add on a view, then ``x[:, 0] = view``."""

    def f(leaf, v):
        x = leaf * 1.0
        x[:, 0] += v
        return (x * x).sum()

    leaf, v = cr.tensor(D, requires_grad=True), cr.tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True)
    x = D.copy()
    x[:, 0] += [1.0, -2.0, 0.5]
    assert np.isclose(f(leaf, v).item(), (x * x).sum())
    assert gradcheck(f, (leaf, v))


def test_element_positions_of_views():
    a = np.arange(24.0).reshape(4, 6)
    for view in (a[1:3, ::2], a.T[2], a.reshape(8, 3)[::3], a[:, ::-1], a[2]):
        pos = element_positions(a, view)
        np.testing.assert_array_equal(a.reshape(-1)[pos], view)
    t = np.ascontiguousarray(a.T).T  # a base in Fortran order
    np.testing.assert_array_equal(t.reshape(-1)[element_positions(t, t[1:, 2])], t[1:, 2])
    assert element_positions(a, np.broadcast_to(a[0], (3, 6))) is None  # one element written twice
    assert element_positions(a, np.arange(3.0)) is None  # elsewhere in memory


@pytest.mark.parametrize("name", sorted(EDITS))
def test_against_pytorch(name):
    torch = pytest.importorskip("torch")
    edit = EDITS[name][0]
    grads = []
    for lib in (torch, cr):
        leaf = lib.tensor(D, requires_grad=True)
        other = lib.tensor(D[::-1].copy() * 0.4, requires_grad=True)
        x = leaf * 1.5
        edit(x, other * 2)
        ((x * x).sum() + x.sin().sum()).backward()
        grads.append((x.detach().numpy(), leaf.grad.numpy(), None if other.grad is None else other.grad.numpy()))
    for a, b in zip(*grads):
        if a is None or b is None:
            assert a is None and b is None or not np.any(a if a is not None else b)
        else:
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)


def test_a_compiled_function_writes_through_views_as_eager():
    def f(leaf, c):
        x = leaf * 1.5
        x[:, 1].mul_(3.0)
        x[:1].copy_(c[:1])
        return (x * x).sum()

    fn = cr.compile(f, options={"fusion": False})
    for k in range(4):
        got = []
        for g in (f, fn):
            leaf, c = cr.tensor(D + k, requires_grad=True), cr.tensor(D[::-1].copy())
            y = g(leaf, c)
            y.backward()
            got.append((y.item(), leaf.grad.numpy().copy()))
        assert got[0][0] == got[1][0] and np.array_equal(got[0][1], got[1][1])
    assert fn.stats["replays"] == 3


def test_views_made_before_an_in_place_operation_on_their_base_follow_it():
    """y = x[0]; x.add_(1): y reads the new values (the memory it shares with x) and its
    gradient goes through the add, as in PyTorch; a view that overlaps the written elements of
    another view follows too."""

    def f(leaf):
        x = leaf * 2.0
        y = x[0]
        col = x[:, 1]
        x.add_(1.0)
        row = x[1:]
        row[:, 1].mul_(3.0)  # (col overlaps row's column 1)
        return (y * y).sum() + (col * col).sum() + x.sum()

    leaf = cr.tensor(D, requires_grad=True)
    x = D * 2 + 1
    x[1:, 1] *= 3
    want = (x[0] ** 2).sum() + (x[:, 1] ** 2).sum() + x.sum()
    assert np.isclose(f(leaf).item(), want)
    assert gradcheck(f, (leaf,))


def test_a_detached_tensor_sees_the_write():
    leaf = cr.tensor(D, requires_grad=True)
    x = leaf * 1.0
    d = x.detach()
    x.mul_(2.0)
    np.testing.assert_array_equal(d.numpy(), D * 2)
    torch = pytest.importorskip("torch")
    t = torch.tensor(D, requires_grad=True) * 1.0
    td = t.detach()
    t.mul_(2.0)
    np.testing.assert_array_equal(d.numpy(), td.numpy())


def test_a_diagonal_is_a_view_without_a_graph_too():
    """``x.diagonal().fill_(0)`` under no_grad writes x's diagonal (it wrote a copy)."""
    x = cr.tensor(D.copy())
    with cr.no_grad():
        x.diagonal().fill_(0.0)
        x.diagonal(-1).add_(10.0)
    want = D.copy()
    np.fill_diagonal(want, 0.0)
    want[np.arange(1, 3), np.arange(2)] += 10.0
    np.testing.assert_array_equal(x.numpy(), want)
