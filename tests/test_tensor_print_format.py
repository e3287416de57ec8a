"""Floating tensors print their numbers as PyTorch does: one way for the whole tensor, chosen
from its finite non-zero values — whole numbers as ``2.``, others with 4 digits after the point,
scientific notation for a wide range of magnitudes — every number right-aligned to the widest."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

CASES = [
    ([1.5, 2.0], "tensor([1.5000, 2.0000])"),
    ([1.0, 2.0], "tensor([1., 2.])"),
    ([0.0, 0.0], "tensor([0., 0.])"),
    ([1e-5, 1.0], "tensor([1.0000e-05, 1.0000e+00])"),          # (smallest below 1e-4, not whole)
    ([123456.0, 0.5], "tensor([1.2346e+05, 5.0000e-01])"),       # (largest over 1000 × smallest)
    ([1e9, 2.0], "tensor([1.0000e+09, 2.0000e+00])"),            # (whole, but over 1e8)
    ([float("nan"), 1.0, float("inf")], "tensor([nan, 1., inf])"),
    ([-1.25, 3.0, 100.0], "tensor([ -1.2500,   3.0000, 100.0000])"),
    ([0.1, 0.2, 0.3], "tensor([0.1000, 0.2000, 0.3000])"),
]


@pytest.mark.parametrize("values,want", CASES)
def test_the_numbers_are_written_as_pytorch_writes_them(values, want):
    assert repr(cr.tensor(values)) == want


def test_scalars_rows_and_options():
    assert repr(cr.tensor(2.5)) == "tensor(2.5000)"
    assert repr(cr.tensor([[1.0, -2.5], [30.0, 0.0]])) == "tensor([[ 1.0000, -2.5000],\n        [30.0000,  0.0000]])"
    cr.set_printoptions(precision=2)
    try:
        assert repr(cr.tensor([1.5, 2.0])) == "tensor([1.50, 2.00])"
        cr.set_printoptions(precision=2, sci_mode=True)
        assert repr(cr.tensor([1.5, 2.0])) == "tensor([1.50e+00, 2.00e+00])"
    finally:
        cr.set_printoptions(profile="default")


def test_against_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for shape, scale in [((3, 4), 1.0), ((2, 3, 2), 1e-3), ((5,), 100.0), ((), 7.0), ((4,), 1e5)]:
        a = (rng.standard_normal(shape) * scale).astype(np.float32)
        assert repr(cr.tensor(a)) == repr(torch.tensor(a)), a
    for values, _ in CASES:
        assert repr(cr.tensor(values)) == repr(torch.tensor(values))


def test_bool_empty_and_summarised_tensors_print_as_pytorch():
    # (bool is a dtype repr leaves out; an empty tensor shows its shape unless (0,) and its dtype
    # unless the default; a row summary sets "..." apart by two spaces)
    assert repr(cr.tensor([True, False])) == "tensor([ True, False])"
    assert repr(cr.zeros(2, 0, 3)) == "tensor([], size=(2, 0, 3))"
    assert repr(cr.zeros(0, dtype=cr.int64)) == "tensor([], dtype=int64)"
    assert repr(cr.zeros(0, 2, dtype=cr.bool)) == "tensor([], size=(0, 2), dtype=bool)"
    assert repr(cr.zeros(0)) == "tensor([])"
    assert repr(cr.arange(2000)) == "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])"
