"""Batch-last im2col/col2im table entries (kernels/im2col.c, threaded over channels): the kernel
gives its NumPy twin's bits, im2col follows its definition written out as loops, col2im is its
transpose (<im2col(x), g> = <x, col2im(g)>), for 1-D and 2-D windows, any input layout,
stride, dilation and uneven padding; threads change nothing."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from chainrule.backend import ArrayMath, conv_math, native, threads
from chainrule.backend.conv_math import col2im_twin, im2col_twin

# (input shape, kernel, stride, dilation, ((pad before, after), ...))
CASES = [
    ((4, 3, 9, 11), (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1))),
    ((2, 5, 8, 8), (2, 3), (2, 1), (1, 2), ((0, 1), (2, 0))),
    ((3, 2, 7, 5), (3, 2), (3, 2), (2, 1), ((2, 2), (1, 3))),
    ((1, 1, 3, 3), (3, 3), (1, 1), (1, 1), ((4, 4), (4, 4))),  # padding wider than the input
    ((2, 3, 10), (3,), (2,), (2,), ((1, 2),)),
    ((5, 4, 12), (5,), (1,), (1,), ((2, 2),)),
    ((0, 3, 6, 6), (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1))),  # an empty batch
    ((1, 2, 6, 5), (5, 5), (1, 1), (1, 1), ((2, 2), (2, 2))),  # one sample (inference)
]


def _outs(spatial, kernel, stride, dilation, pads):
    return tuple((n + pb + pa - d * (k - 1) - 1) // s + 1
                 for n, k, s, d, (pb, pa) in zip(spatial, kernel, stride, dilation, pads))


def _layouts(x):
    """x as given, batch-last in memory (as a convolution's output is), and reversed along its last axis."""
    batch_last = np.moveaxis(np.ascontiguousarray(np.moveaxis(x, 0, -1)), -1, 0)
    return [x, batch_last, x[..., ::-1]]


def _kernel_on():
    if native.load("im2col") is None:
        pytest.skip(native.status("im2col"))


def _by_definition(x, kernel, stride, dilation, pads, outs):
    """cols[c, k, o, n] = x_pad[n, c, o·s + k·δ], as loops over every index."""
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple(pads))
    n, c = x.shape[:2]
    cols = np.empty((c,) + kernel + outs + (n,), x.dtype)
    for k in itertools.product(*[range(v) for v in kernel]):
        for o in itertools.product(*[range(v) for v in outs]):
            at = tuple(oi * s + ki * d for oi, ki, s, d in zip(o, k, stride, dilation))
            cols[(slice(None),) + k + o] = xp[(slice(None), slice(None)) + at].T
    return cols


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES)
def test_kernel_gives_the_twins_bits(dtype, case):
    _kernel_on()
    shape, kernel, stride, dilation, pads = case
    rng = np.random.default_rng(0)
    outs = _outs(shape[2:], kernel, stride, dilation, pads)
    for x in _layouts(rng.standard_normal(shape).astype(dtype)):
        got = ArrayMath.im2col(x, kernel, stride, dilation, pads, outs).copy()
        np.testing.assert_array_equal(got, im2col_twin(x, kernel, stride, dilation, pads, outs))
    g = rng.standard_normal((shape[1],) + kernel + outs + (shape[0],)).astype(dtype)
    got = np.array(ArrayMath.col2im(g, shape[2:], kernel, stride, dilation, pads))
    np.testing.assert_array_equal(got, col2im_twin(g, shape[2:], kernel, stride, dilation, pads))


@pytest.mark.parametrize("case", CASES)
def test_im2col_is_its_definition_and_col2im_its_transpose(case):
    shape, kernel, stride, dilation, pads = case
    rng = np.random.default_rng(1)
    outs = _outs(shape[2:], kernel, stride, dilation, pads)
    x = rng.standard_normal(shape)
    for fn in (ArrayMath.im2col, im2col_twin):
        np.testing.assert_array_equal(fn(x, kernel, stride, dilation, pads, outs),
                                      _by_definition(x, kernel, stride, dilation, pads, outs))
    g = rng.standard_normal((shape[1],) + kernel + outs + (shape[0],))
    cols = _by_definition(x, kernel, stride, dilation, pads, outs)
    for fn in (ArrayMath.col2im, col2im_twin):
        back = fn(g, shape[2:], kernel, stride, dilation, pads)
        assert back.shape == x.shape
        np.testing.assert_allclose(np.sum(back * x), np.sum(cols * g), rtol=1e-12, atol=1e-12)


def test_threads_change_nothing(three_threads):
    _kernel_on()
    shape, kernel, stride, dilation, pads = (3, 7, 6, 5), (3, 2), (1, 2), (1, 1), ((1, 1), (0, 1))
    outs = _outs(shape[2:], kernel, stride, dilation, pads)
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    g = np.random.default_rng(3).standard_normal((7,) + kernel + outs + (3,)).astype(np.float32)
    one = (ArrayMath.im2col(x, kernel, stride, dilation, pads, outs).copy(),
           np.array(ArrayMath.col2im(g, shape[2:], kernel, stride, dilation, pads)))
    calls = three_threads(conv_math)
    three = (ArrayMath.im2col(x, kernel, stride, dilation, pads, outs).copy(),
             np.array(ArrayMath.col2im(g, shape[2:], kernel, stride, dilation, pads)))
    assert len(calls) == 2
    for a, b in zip(one, three):
        np.testing.assert_array_equal(a, b)


def test_run_ranges_covers_every_index_once():
    seen = []
    threads.run_ranges(lambda lo, hi: seen.extend(range(lo, hi)), 10, 4)
    assert sorted(seen) == list(range(10))
    seen.clear()
    threads.run_ranges(lambda lo, hi: seen.extend(range(lo, hi)), 2, 8)  # more threads than work
    assert sorted(seen) == [0, 1]


@pytest.mark.parametrize("total, n", [(100, 3), (33, 2), (16, 4), (15, 2), (1000, 7)])
def test_run_ranges_with_a_step_cuts_on_its_multiples(total, n):
    ranges = []
    threads.run_ranges(lambda lo, hi: ranges.append((lo, hi)), total, n, step=16)
    ranges.sort()
    assert [i for lo, hi in ranges for i in range(lo, hi)] == list(range(total))
    assert all(lo % 16 == 0 for lo, _ in ranges)
    assert len(ranges) == min(n, -(-total // 16))


def test_run_ranges_passes_a_threads_error_on():
    def kernel(lo, hi):
        if lo > 0:
            raise ValueError("range failed")

    with pytest.raises(ValueError, match="range failed"):
        threads.run_ranges(kernel, 4, 2)


def test_set_num_threads_sets_the_kernels_threads():
    import chainrule as cr

    before = threads.intra_threads()
    try:
        cr.set_num_threads(3)
        assert threads.intra_threads() == 3
    finally:
        cr.set_num_threads(before)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_run_ranges_works_in_a_forked_child():
    """A forked child (a DataLoader worker) has none of the parent's pool threads: the pool is
    made afresh there instead of waiting forever on threads that do not exist."""
    import multiprocessing

    threads.run_ranges(lambda lo, hi: None, 4, 2)  # the parent's pool exists now
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        got = pool.apply_async(_ranges_in_child).get(timeout=60)
    assert got == list(range(6))


def _ranges_in_child() -> list:
    seen: list = []
    threads.run_ranges(lambda lo, hi: seen.extend(range(lo, hi)), 6, 2)
    return sorted(seen)


def _in_blocks(cols, d, r):
    """Plain columns (C, *kernel, *outs, N) cut into blocks of r output rows, written out:
    blocks[b, c, k, i, ...] = cols[c, k, b·r + i, ...]."""
    outs = cols.shape[1 + d:-1]
    return np.stack([cols[(slice(None),) * (1 + d) + (slice(b * r, (b + 1) * r),)]
                     for b in range(outs[0] // r)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES)
def test_col2im_of_blocks_of_output_rows_is_col2im_of_the_plain_columns(dtype, case):
    """col2im_blocks with r output rows per block (every r dividing OH) gives col2im's bits for
    the same columns; from_blocks (its twin's rearrangement) undoes the cutting."""
    shape, kernel, stride, dilation, pads = case
    rng = np.random.default_rng(5)
    outs = _outs(shape[2:], kernel, stride, dilation, pads)
    d = len(kernel)
    g = rng.standard_normal((shape[1],) + kernel + outs + (shape[0],)).astype(dtype)
    want = col2im_twin(g, shape[2:], kernel, stride, dilation, pads)
    for r in [r for r in range(1, outs[0] + 1) if outs[0] % r == 0]:
        blocks = _in_blocks(g, d, r)
        assert blocks.shape == conv_math.blocked_shape(shape[1], kernel, outs, shape[0], r)
        np.testing.assert_array_equal(conv_math.from_blocks(blocks, d), g)
        back = ArrayMath.col2im_blocks(blocks, shape[2:], kernel, stride, dilation, pads)
        np.testing.assert_array_equal(np.array(back), want)
