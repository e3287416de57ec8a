"""Shape ops and reductions at the edges where they raised and PyTorch does not (found by
sweeping every reduction and shape op over empty, 0-d and ordinary shapes against PyTorch):
``chunk`` of an empty axis (``chunks`` empty pieces), ``unflatten`` with -1 where another axis
is empty (the -1 comes from the unflattened axis alone), ``nanmedian`` of no elements (NaN, as
``median``), ``movedim`` of a 0-d tensor (itself)."""

from __future__ import annotations

import math

import pytest

import chainrule as cr


def test_chunk_of_an_empty_axis():
    x = cr.zeros(2, 0, 3)
    parts = cr.chunk(x, 2, 1)
    assert [tuple(p.shape) for p in parts] == [(2, 0, 3), (2, 0, 3)]
    assert [tuple(p.shape) for p in cr.zeros(0).chunk(3)] == [(0,)] * 3


def test_unflatten_with_minus_one_beside_an_empty_axis():
    x = cr.zeros(2, 0, 3)
    assert tuple(cr.unflatten(x, 0, (1, -1)).shape) == (1, 2, 0, 3)
    assert tuple(x.unflatten(-1, (1, -1)).shape) == (2, 0, 1, 3)
    assert tuple(x.unflatten(1, (2, -1)).shape) == (2, 2, 0, 3)
    assert tuple(cr.zeros(6, 2).unflatten(0, (-1, 3)).shape) == (2, 3, 2)
    with pytest.raises(RuntimeError, match="unflatten"):
        cr.zeros(6).unflatten(0, (4, -1))
    with pytest.raises(RuntimeError, match="unflatten"):
        cr.zeros(6).unflatten(0, (4, 2))


def test_nanmedian_of_nothing_is_nan():
    assert math.isnan(cr.nanmedian(cr.zeros(0)).item())
    assert math.isnan(cr.zeros(2, 0, 3).nanmedian().item())


def test_movedim_of_a_0d_tensor():
    x = cr.tensor(1.5)
    assert cr.movedim(x, 0, 0).item() == 1.5 and cr.movedim(x, -1, 0).item() == 1.5


def test_as_pytorch_does():
    torch = pytest.importorskip("torch")
    for f in (lambda L: [tuple(p.shape) for p in L.chunk(L.zeros(2, 0, 3), 2, 1)],
              lambda L: tuple(L.unflatten(L.zeros(2, 0, 3), 1, (2, -1)).shape),
              lambda L: math.isnan(L.nanmedian(L.zeros(0)).item()),
              lambda L: L.movedim(L.tensor(1.5), -1, 0).item()):
        assert f(cr) == f(torch)
