"""torch.Size (Tensor.shape, Tensor.size()), torch.finfo, torch.iinfo and torch.dtype.

The numbers come from IEEE 754 (float32: 24-bit significand, exponents -126..127) and two's
complement; where PyTorch is installed it is asked the same questions as an oracle."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import chainrule as torch


def test_shape_and_size_are_a_size_that_is_a_tuple():
    x = torch.zeros(2, 3, 4)
    assert type(x.shape) is torch.Size and type(x.size()) is torch.Size
    assert x.shape == (2, 3, 4) and hash(x.shape) == hash((2, 3, 4)) and isinstance(x.shape, tuple)
    assert x.size(1) == 3 and type(x.size(-1)) is int
    assert np.zeros(x.shape).shape == (2, 3, 4)  # (NumPy takes it as a shape)
    assert x.shape.numel() == 24 and torch.zeros(()).shape.numel() == 1 and torch.Size().numel() == 1
    assert torch.zeros(0, 5).shape.numel() == 0


def test_size_slices_sums_and_repeats_stay_sizes():
    s = torch.Size([2, 3])
    assert type(s[1:]) is torch.Size and s[1:] == (3,) and type(s[0]) is int
    assert type(s + (4,)) is torch.Size and s + (4,) == (2, 3, 4)
    assert type((1,) + s) is torch.Size and (1,) + s == (1, 2, 3)
    assert type(s * 2) is torch.Size and s * 2 == (2, 3, 2, 3) and type(2 * s) is torch.Size
    assert repr(s) == str(s) == "torch.Size([2, 3])" and repr(torch.Size()) == "torch.Size([])"
    assert pickle.loads(pickle.dumps(s)) == s and type(pickle.loads(pickle.dumps(s))) is torch.Size
    assert torch.Size([torch.tensor(3), np.int64(2)]) == (3, 2)  # (anything with __index__)
    with pytest.raises(TypeError, match=r"iterable of 'int' \(item 1 is 'float'\)"):
        torch.Size([2, 3.0])


def test_finfo_float32_from_ieee754():
    f = torch.finfo(torch.float32)
    assert f.bits == 32 and f.eps == 2.0 ** -23 and f.tiny == f.smallest_normal == 2.0 ** -126
    assert f.max == (2 - 2.0 ** -23) * 2.0 ** 127 and f.min == -f.max and f.resolution == 1e-6
    assert f.dtype == "float32" and type(f.eps) is float
    assert torch.finfo(torch.float64).eps == 2.0 ** -52 and torch.finfo(torch.float16).max == 65504.0
    assert torch.finfo(torch.bfloat16).eps == 2.0 ** -7 and torch.finfo(torch.bfloat16).tiny == 2.0 ** -126
    assert torch.finfo().dtype == str(torch.get_default_dtype())
    with pytest.raises(TypeError, match="requires a floating point input type"):
        torch.finfo(torch.int32)


def test_iinfo_from_twos_complement():
    assert (torch.iinfo(torch.int64).min, torch.iinfo(torch.int64).max) == (-2 ** 63, 2 ** 63 - 1)
    assert (torch.iinfo(torch.uint8).min, torch.iinfo(torch.uint8).max, torch.iinfo(torch.uint8).bits) == (0, 255, 8)
    assert type(torch.iinfo(torch.int32).max) is int and torch.iinfo(torch.int16).dtype == "int16"
    for bad in (torch.float32, torch.bool, torch.bfloat16):
        with pytest.raises(TypeError, match="requires an integer input type"):
            torch.iinfo(bad)


def test_a_masked_fill_with_the_dtypes_lowest_value():
    # the transformer idiom: scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    scores = torch.zeros(2, 2)
    out = scores.masked_fill(torch.tensor([[True, False], [False, True]]), torch.finfo(scores.dtype).min)
    assert out[0, 0].item() == np.finfo(np.float32).min and out[0, 1].item() == 0.0
    assert isinstance(scores.dtype, torch.dtype) and torch.GradScaler is torch.amp.GradScaler


def test_against_pytorch():
    pt = pytest.importorskip("torch")
    for name in ("float16", "float32", "float64", "bfloat16"):
        a, b = torch.finfo(getattr(torch, name)), pt.finfo(getattr(pt, name))
        for field in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype"):
            assert getattr(a, field) == getattr(b, field), (name, field)
        assert repr(a) == repr(b)
    for name in ("uint8", "int8", "int16", "int32", "int64"):
        a, b = torch.iinfo(getattr(torch, name)), pt.iinfo(getattr(pt, name))
        assert (a.bits, a.min, a.max, a.dtype, repr(a)) == (b.bits, b.min, b.max, b.dtype, repr(b))
    s, t = torch.Size([2, 3]), pt.Size([2, 3])
    assert repr(s) == repr(t) and s.numel() == t.numel() and (1,) + s == (1,) + t and s[1:] == t[1:]
