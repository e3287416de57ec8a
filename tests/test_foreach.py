"""torch._foreach_*: the per-tensor op over a list, checked against PyTorch on lists of three
tensors of different shapes (tensor lists, numbers, scalar lists, alpha= and value=)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops import foreach

SHAPES = [(3,), (2, 3), (4, 1, 2)]


def _arrays(seed, low=0.1, high=0.9):
    rng = np.random.default_rng(seed)
    return [rng.uniform(low, high, s).astype(np.float32) for s in SHAPES]


def _both(arrays):
    torch = pytest.importorskip("torch")
    return [cr.tensor(a.copy()) for a in arrays], [torch.tensor(a.copy()) for a in arrays]


def _same(ours, theirs, rtol=1e-5, atol=1e-6):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a.shape == tuple(b.shape)
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=rtol, atol=atol)


def _run(name, make_args, seed=0, low=0.1, high=0.9, rtol=1e-5):
    """``name`` out of place and in place on both libraries; ``make_args(lib_tensors, lib)`` gives
    the arguments after the list."""
    torch = pytest.importorskip("torch")
    ours, theirs = _both(_arrays(seed, low, high))
    _same(getattr(cr, name)(ours, *make_args(ours, cr)), getattr(torch, name)(theirs, *make_args(theirs, torch)),
          rtol=rtol)
    if hasattr(torch, name + "_"):
        out = getattr(cr, name + "_")(ours, *make_args(ours, cr))
        getattr(torch, name + "_")(theirs, *make_args(theirs, torch))
        assert out is ours
        _same(ours, theirs, rtol=rtol)


def test_every_foreach_function_is_exported_at_the_top_level():
    for name in foreach.__all__:
        assert callable(getattr(cr, name)), name
    torch = pytest.importorskip("torch")
    theirs = {n for n in dir(torch) if n.startswith("_foreach")}
    assert set(foreach.__all__) <= theirs
    assert len(foreach.__all__) == len(theirs)  # (every one of PyTorch's)


@pytest.mark.parametrize("op", foreach.UNARY)
def test_unary(op):
    _run(f"_foreach_{op}", lambda ts, lib: (), seed=1)


def _others(ts, lib, seed=2):
    return [lib.tensor(a) for a in _arrays(seed)]


@pytest.mark.parametrize("op", list(foreach.BINARY))
@pytest.mark.parametrize("form", ["list", "scalar", "scalar list", "0-d tensor"])
def test_binary(op, form):
    if form == "list":
        make = _others
    elif form == "scalar":
        def make(ts, lib):
            return (0.5,)
    elif form == "scalar list":
        def make(ts, lib):
            return ([0.25, 2.0, 0.75],)
    else:
        def make(ts, lib):
            return (lib.tensor(0.5),)
    if form == "list":
        _run(f"_foreach_{op}", lambda ts, lib: (_others(ts, lib),))
    else:
        _run(f"_foreach_{op}", make)


@pytest.mark.parametrize("op", ["add", "sub"])
def test_alpha(op):
    torch = pytest.importorskip("torch")
    _run(f"_foreach_{op}", lambda ts, lib: (_others(ts, lib), ), seed=3)
    ours, theirs = _both(_arrays(4))
    _same(getattr(cr, f"_foreach_{op}")(ours, _others(ours, cr), alpha=-2.5),
          getattr(torch, f"_foreach_{op}")(theirs, _others(theirs, torch), alpha=-2.5))
    getattr(cr, f"_foreach_{op}_")(ours, _others(ours, cr), alpha=0.5)
    getattr(torch, f"_foreach_{op}_")(theirs, _others(theirs, torch), alpha=0.5)
    _same(ours, theirs)
    with pytest.raises(TypeError):
        getattr(cr, f"_foreach_{op}")(ours, 1.0, alpha=2)


@pytest.mark.parametrize("op", ["addcmul", "addcdiv"])
@pytest.mark.parametrize("value", ["default", 0.5, [0.5, -1.0, 2.0], "1-d tensor"])
def test_addcmul_addcdiv(op, value):
    def make(ts, lib):
        a, b = _others(ts, lib, 5), _others(ts, lib, 6)
        if value == "default":
            return (a, b)
        if value == "1-d tensor":
            return (a, b, lib.tensor([0.5, -1.0, 2.0]))
        return (a, b, value)

    _run(f"_foreach_{op}", make)
    if value == 0.5:  # (the keyword)
        torch = pytest.importorskip("torch")
        ours, theirs = _both(_arrays(7))
        _same(getattr(cr, f"_foreach_{op}")(ours, _others(ours, cr, 5), _others(ours, cr, 6), value=-3.0),
              getattr(torch, f"_foreach_{op}")(theirs, _others(theirs, torch, 5), _others(theirs, torch, 6),
                                               value=-3.0))


@pytest.mark.parametrize("weight", [0.3, "0-d tensor", [0.1, 0.5, 0.9], "tensors"])
def test_lerp(weight):
    def make(ts, lib):
        ends = _others(ts, lib, 8)
        if weight == "0-d tensor":
            return (ends, lib.tensor(0.3))
        if weight == "tensors":
            return (ends, _others(ts, lib, 9))
        return (ends, weight)

    _run("_foreach_lerp", make)


def test_pow_with_a_number_as_base():
    torch = pytest.importorskip("torch")
    ours, theirs = _both(_arrays(10))
    _same(cr._foreach_pow(2.0, ours), torch._foreach_pow(2.0, theirs))


@pytest.mark.parametrize("ord", [2, 1, 3.5, float("inf"), float("-inf"), 0])
def test_norm(ord):
    torch = pytest.importorskip("torch")
    ours, theirs = _both(_arrays(11, -1.0, 1.0))
    _same(cr._foreach_norm(ours, ord), torch._foreach_norm(theirs, ord))
    got = cr._foreach_norm(ours, ord, dtype=cr.float64)
    want = torch._foreach_norm(theirs, ord, dtype=torch.float64)
    assert all(g.dtype == cr.float64 for g in got)
    _same(got, want)


def test_zero_copy_clone_max_powsum_mm():
    torch = pytest.importorskip("torch")
    ours, theirs = _both(_arrays(12, -1.0, 1.0))
    _same(cr._foreach_max(ours), torch._foreach_max(theirs))
    _same(cr._foreach_powsum(ours, 3), torch._foreach_powsum(theirs, 3))
    clones = cr._foreach_clone(ours)
    assert all(c is not t and not np.shares_memory(c.numpy(), t.numpy()) for c, t in zip(clones, ours))
    _same(clones, theirs)
    srcs = [np.full(s, 7.0, np.float32) for s in SHAPES]
    assert cr._foreach_copy_(ours, [cr.tensor(a) for a in srcs]) is ours
    torch._foreach_copy_(theirs, [torch.tensor(a) for a in srcs])
    _same(ours, theirs)
    assert cr._foreach_zero_(ours) is ours
    torch._foreach_zero_(theirs)
    _same(ours, theirs)
    a = [np.arange(6, dtype=np.float32).reshape(2, 3), np.ones((1, 2), np.float32)]
    b = [np.arange(3, dtype=np.float32).reshape(3, 1), np.ones((2, 4), np.float32)]
    _same(cr._foreach_mm([cr.tensor(x) for x in a], [cr.tensor(x) for x in b]),
          torch._foreach_mm([torch.tensor(x) for x in a], [torch.tensor(x) for x in b]))


def test_lists_of_different_lengths_raise_as_pytorchs():
    torch = pytest.importorskip("torch")
    ours, theirs = _both(_arrays(13))
    for lib, ts in ((cr, ours), (torch, theirs)):
        with pytest.raises(RuntimeError, match="Tensor lists must have the same number of tensors, got 3 and 2"):
            lib._foreach_add(ts, ts[:2])
        with pytest.raises(RuntimeError, match="Tensor lists must have the same number of tensors, got 3 and 2"):
            lib._foreach_lerp_(ts, ts[:2], 0.5)
        with pytest.raises(RuntimeError, match="Tensor list must have same number of elements as scalar list"):
            lib._foreach_mul(ts, [1.0, 2.0])
        with pytest.raises(RuntimeError, match="scalar tensor expected to be 0 dim"):
            lib._foreach_mul(ts, lib.ones(3))
    with pytest.raises(TypeError):
        cr._foreach_add(ours[0], 1.0)  # (a tensor, not a list)


def test_in_place_forms_behave_as_the_per_tensor_in_place_ops():
    """Version counters move, a leaf that requires grad refuses outside no_grad, and a tensor
    recorded in a graph is rebound so that backward goes through the in-place change."""
    leaves = [cr.tensor(a, requires_grad=True) for a in _arrays(14)]
    versions = [t._version for t in leaves]
    with cr.no_grad():
        cr._foreach_mul_(leaves, 0.5)
        cr._foreach_maximum_(leaves, [cr.zeros(s) for s in SHAPES])
    assert [t._version for t in leaves] == [v + 2 for v in versions]
    with pytest.raises(RuntimeError):
        cr._foreach_add_(leaves, 1.0)
    xs = [cr.tensor(a, requires_grad=True) for a in _arrays(15)]
    ys = [x * 1.0 for x in xs]
    cr._foreach_mul_(ys, [2.0, 3.0, 4.0])
    cr._foreach_lerp_(ys, [cr.zeros(s) for s in SHAPES], 0.5)
    sum(y.sum() for y in ys).backward()
    for x, k in zip(xs, [2.0, 3.0, 4.0]):
        np.testing.assert_allclose(x.grad.numpy(), np.full(x.shape, k * 0.5))
