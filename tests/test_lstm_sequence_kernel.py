"""The float32 LSTM's whole time loop in one C call (``lstm_forward_seq``/``lstm_backward_seq`` in
kernels/lstm_cell.c) against the loop of step calls it replaces, and the float32 cell's own
sigma and tanh against float64.

The one-call loop computes every element as the step loop does (the same multiply-add chains on
the same packed panels, the same cell), so the two must agree bit for bit, at any thread count,
for shapes whose hidden size is not a multiple of the 16-unit blocks the threads own and whose
batch is not a multiple of the 6-row register blocks.
"""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.backend import native, packed_gemm, recurrent_math
from chainrule.backend.recurrent_math import RecurrentMath

_LIB = native.load("lstm_cell")
HAVE_SEQUENCE = _LIB is not None and bool(_LIB.lstm_sequence_available())
needs_sequence = pytest.mark.skipif(not HAVE_SEQUENCE, reason="the one-call LSTM loop needs the cell kernel "
                                    f"built with AVX2 and FMA: {native.status('lstm_cell')}")


def _run(rng_seed, T, N, H, reverse, table, need_h0):
    """Forward and backward of one LSTM direction in float32: (outputs, gate adjoints, dh0, dc0)."""
    rng = np.random.default_rng(rng_seed)
    f32 = np.float32
    if table:  # the embedding fold: a table of 9 rows of projections, position (t, n) reads rows[t, n]
        z = rng.standard_normal((9, 4 * H)).astype(f32)
        rows = rng.integers(0, 9, (T, N))
    else:
        z = rng.standard_normal((T, N, 4 * H)).astype(f32)
        rows = None
    h0 = (rng.standard_normal((N, H)) * 0.5).astype(f32)
    c0 = rng.standard_normal((N, H)).astype(f32)
    w_hh = (rng.standard_normal((4 * H, H)) * 0.3).astype(f32)
    g = rng.standard_normal((T + 1, N, H)).astype(f32)
    out, state = RecurrentMath.lstm_forward(z, rows, h0, c0, w_hh, reverse, True)
    out = out.copy()
    dz, dh0, dc0 = RecurrentMath.lstm_backward(state, g, h0, c0, w_hh, reverse, need_h0)
    return out, dz.copy(), dh0.copy() if need_h0 else None, dc0.copy()


@needs_sequence
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("T, N, H", [(5, 7, 24), (3, 13, 37), (1, 1, 16), (4, 32, 128), (2, 6, 5)])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("table", [False, True])
def test_one_call_loop_gives_the_step_loops_bits(monkeypatch, threads, T, N, H, reverse, table):
    used = []
    real = recurrent_math.sequence_kernels
    monkeypatch.setattr(packed_gemm, "free_threads", lambda: threads)
    monkeypatch.setattr(recurrent_math, "sequence_kernels", lambda dt: used.append(real(dt)) or used[-1])
    need_h0 = (T + N) % 2 == 0
    whole = _run(T * 100 + N, T, N, H, reverse, table, need_h0)
    assert len(used) == 2 and all(k is not None and k[2] == threads for k in used)
    monkeypatch.setattr(recurrent_math, "sequence_kernels", lambda dt: None)
    steps = _run(T * 100 + N, T, N, H, reverse, table, need_h0)
    for a, b in zip(whole, steps):
        if b is None:
            assert a is None
        else:
            np.testing.assert_array_equal(a, b)


@needs_sequence
def test_one_call_loop_is_not_taken_where_openblas_holds_the_cores(monkeypatch):
    """Where OpenBLAS's workers hold the cores (``free_threads`` None), and for float64, the step
    loop runs: its products stay on the BLAS."""
    monkeypatch.setattr(packed_gemm, "free_threads", lambda: None)
    assert recurrent_math.sequence_kernels(np.float32) is None
    monkeypatch.setattr(packed_gemm, "free_threads", lambda: 1)
    assert recurrent_math.sequence_kernels(np.float32) is not None
    assert recurrent_math.sequence_kernels(np.float64) is None


# ------------------------------------------------------------ the float32 cell's sigma and tanh
def _forward_step(pre: np.ndarray, c_prev: np.ndarray):
    """One float32 forward step of the compiled cell, N = 1, with pre-activations ``pre`` (4H,)
    and no recurrent part: (i, f, g, o, c, tanh c, h)."""
    fwd = recurrent_math.lstm_kernels(np.dtype(np.float32))[0]
    H = c_prev.size
    z = np.ascontiguousarray(pre, dtype=np.float32).reshape(1, 4 * H).copy()
    rec = np.zeros((1, 4 * H), np.float32)
    cp = np.ascontiguousarray(c_prev, dtype=np.float32).reshape(1, H)
    c, tc, h = (np.empty((1, H), np.float32) for _ in range(3))
    a = native.address
    fwd(1, 1, H, a(z), None, a(z), a(rec), a(cp), a(c), a(tc), a(h))
    i, f, g, o = z.reshape(4, H)
    return i, f, g, o, c[0], tc[0], h[0]


def _ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """|got - want| in units in the last place of float32 at ``want`` (float64)."""
    return np.abs(got.astype(np.float64) - want) / np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)


@pytest.mark.skipif(_LIB is None, reason=f"compiled LSTM cell: {native.status('lstm_cell')}")
def test_float32_sigma_and_tanh_within_three_ulps_of_float64():
    rng = np.random.default_rng(11)
    # pre-activations from tiny to saturating, both signs, where sigma and tanh are hardest:
    # near 0 (tanh x ~ x), across the reduction's steps, and where sigma underflows towards 0
    x = np.concatenate([np.linspace(-30, 30, 6001), rng.standard_normal(4000) * 3,
                        np.ldexp(1.0, np.arange(-60, 5)), -np.ldexp(1.0, np.arange(-60, 5)),
                        [0.0, -0.0, 1e-38, 79.9, -79.9, 87.0, -87.0, 88.5, -88.5]]).astype(np.float32)
    H = x.size
    c_prev = (rng.standard_normal(H) * 4).astype(np.float32)
    i, f, g, o, c, tc, h = _forward_step(np.concatenate([x, -x, x[::-1], x / 7]), c_prev)
    x64 = x.astype(np.float64)
    for got, arg in ((i, x64), (f, -x64), (o, (x / 7).astype(np.float64))):
        # (below a = -80 the cell takes e^80: sigma stays a normal float there, as it always did)
        assert _ulps(got, 1 / (1 + np.exp(np.minimum(-arg, 80.0)))).max() <= 3.0
    assert _ulps(g, np.tanh(x64[::-1])).max() <= 3.0
    assert _ulps(tc, np.tanh(c.astype(np.float64))).max() <= 3.0
    np.testing.assert_array_equal(h, o * tc)  # h = o tanh c, one float32 product
    assert np.all(np.abs(np.tanh(x64[np.abs(x64) < 1e-20]) - g[::-1][np.abs(x64) < 1e-20]) == 0)


@pytest.mark.skipif(_LIB is None, reason=f"compiled LSTM cell: {native.status('lstm_cell')}")
def test_float32_cell_keeps_nan_and_saturates_at_inf():
    pre = np.array([np.nan, np.inf, -np.inf, 200.0] * 4, dtype=np.float32)
    i, f, g, o, c, tc, h = _forward_step(pre, np.zeros(4, np.float32))
    assert np.isnan(i[0]) and np.isnan(g[0]) and np.isnan(h[0])
    assert i[1] == 1.0 and i[3] == 1.0
    assert 0 < i[2] < 1e-30  # sigma of -inf: -a clamped to 80, e^-80 (as the cell always did)
    np.testing.assert_array_equal(g[1:], [1.0, -1.0, 1.0])


def test_kernel_source_hashes_its_headers(tmp_path, monkeypatch):
    """A kernel's library is named by its source and the kernels' headers it includes: a changed
    header gives another name (the kernels that include it are rebuilt)."""
    (tmp_path / "k.c").write_bytes(b'#include <math.h>\n#include "shared.h"\nint f(void) { return 1; }\n')
    (tmp_path / "shared.h").write_bytes(b"#define ONE 1\n")
    monkeypatch.setattr(native, "_KERNELS", tmp_path)
    first, first_path = native.kernel_source("k"), native._library_path("k", "cc", [])
    assert first.endswith(b"#define ONE 1\n")
    (tmp_path / "shared.h").write_bytes(b"#define ONE 2\n")
    assert native.kernel_source("k") != first
    assert native._library_path("k", "cc", []) != first_path
