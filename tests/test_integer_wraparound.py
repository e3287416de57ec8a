"""Python ints given to integer tensors, as PyTorch converts them (NumPy 2 raises OverflowError
for all of these): in arithmetic an int out of range wraps modulo 2^bits (``uint8 - 3``,
``int8 * 1000``); as a fill value (``full``, ``masked_fill``, ``index_fill``, ``scatter``,
``fill_``, ``x[i] =``) it must fit, except that an unsigned dtype takes -max..-1 wrapped, and
anything else raises RuntimeError."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

U8 = [1, 2, 3]


def _cases(lib):
    x = lib.tensor(U8, dtype=lib.uint8)
    i8 = lib.tensor([1, 2, 3], dtype=lib.int8)
    y = x.clone()
    y[0] = -1
    return {
        "x + (-3)": x + (-3), "-3 + x": -3 + x, "x * -1": x * -1, "x - 300": x - 300, "x + 1000": x + 1000,
        "i8 + 200": i8 + 200, "i8 * 1000": i8 * 1000,
        "full": lib.full((2,), -1, dtype=lib.uint8), "full_like": lib.full_like(x, -1),
        "new_full": x.new_full((2,), -255),
        "masked_fill": x.masked_fill(x > 1, -1), "index_fill": x.index_fill(0, lib.tensor([0]), -2),
        "scatter": x.scatter(0, lib.tensor([0]), -1), "fill_": x.clone().fill_(-1), "setitem": y,
    }


def test_values_wrap():
    got = {k: v.tolist() for k, v in _cases(cr).items()}
    assert got["x + (-3)"] == [254, 255, 0] and got["x * -1"] == [255, 254, 253]
    assert got["x - 300"] == [(v - 300) % 256 for v in U8] and got["x + 1000"] == [(v + 1000) % 256 for v in U8]
    assert got["i8 + 200"] == [-55, -54, -53] and got["i8 * 1000"] == [-24, -48, -72]
    assert got["full"] == [255, 255] and got["new_full"] == [1, 1] and got["masked_fill"] == [1, 255, 255]
    assert got["index_fill"] == [254, 2, 3] and got["setitem"] == [255, 2, 3] and got["fill_"] == [255] * 3
    assert all(v.dtype == cr.uint8 for k, v in _cases(cr).items() if not k.startswith("i8"))


def test_as_pytorch_does():
    torch = pytest.importorskip("torch")
    want = {k: (v.tolist(), str(v.dtype).split(".")[-1]) for k, v in _cases(torch).items()}
    got = {k: (v.tolist(), str(v.dtype)) for k, v in _cases(cr).items()}
    assert got == want


def test_values_in_range_are_unchanged():
    x = cr.tensor(np.array([0, 255], dtype=np.uint8))
    assert (x - 0).tolist() == [0, 255] and cr.full((1,), 255, dtype=cr.uint8).tolist() == [255]
    assert cr.full((1,), True).dtype == cr.bool and cr.full((1,), 7).dtype == cr.int64


@pytest.mark.parametrize("fill", [
    lambda L: L.tensor([1, 2], dtype=L.uint8).new_full((1,), -256),
    lambda L: L.tensor([1, 2], dtype=L.uint8).masked_fill(L.tensor([True, False]), 256),
    lambda L: L.tensor([1, 2], dtype=L.int8).new_full((1,), 128),
    lambda L: L.full((1,), 2**40, dtype=L.int32),
    lambda L: L.tensor([1, 2], dtype=L.int8).fill_(-129),
])
def test_a_fill_value_out_of_range_is_refused(fill):
    with pytest.raises(RuntimeError, match="without overflow"):
        fill(cr)
    try:
        import torch
    except ImportError:
        return
    with pytest.raises(RuntimeError, match="without overflow"):  # (PyTorch refuses the same)
        fill(torch)


def test_shift_operators():
    # (x << 1, 1 << x, x <<= 1 raised TypeError: the operators were missing)
    x = cr.tensor([1, 2, -8])
    assert (x << 1).tolist() == [2, 4, -16] and (x >> 1).tolist() == [0, 1, -4]
    assert (1 << cr.tensor([1, 3])).tolist() == [2, 8]
    y = x.clone()
    y <<= 2
    assert y.tolist() == [4, 8, -32] and y.dtype == cr.int64
    assert (cr.tensor([3], dtype=cr.uint8) << 7).tolist() == [128]
