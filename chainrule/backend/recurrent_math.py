"""The recurrent layers' table entries (a base of ``ArrayMath``): the LSTM time loop and the
distinct rows of the embedding fold.  ``lstm_forward`` / ``lstm_backward`` run one LSTM layer,
one direction, over a sequence, given the input projections z_t = W_ih x_t + b (gates i, f, g, o):

    a_t = z_t + W_hh h_{t-1};  i, f, o = σ(a_t),  g = tanh(a_t)
    c_t = f ⊙ c_{t-1} + i ⊙ g;  h_t = o ⊙ tanh(c_t)

and backward through time (δ = adjoint; dh gets the output's gradient plus δz_{t+1} W_hh):

    δc = δc_next + dh ⊙ o ⊙ (1 - tanh² c_t)
    δi = δc ⊙ g ⊙ i(1-i),  δf = δc ⊙ c_{t-1} ⊙ f(1-f),  δg = δc ⊙ i ⊙ (1-g²),  δo = dh ⊙ tanh c_t ⊙ o(1-o)
    δc_next ← δc ⊙ f

The compiled cell (``kernels/lstm_cell.c``, batch-major, a step's elementwise work one C call)
runs wherever ``native`` builds it.  In float32, where that kernel is built with AVX2 and FMA and
the threads are chainrule's (as for ``packed_gemm.py``), the whole time loop, products and cells,
is one C call each way (:func:`sequence_kernels`; the kernel's text says how the threads share
it), with the same bits as the loop of step calls.  The NumPy twin is feature-major (states hᵀ,
cᵀ (H, N), gate blocks (4H, N): each gate block contiguous), rows ordered i, f, o, g with the
sigmoid rows negated, so σ(a) = 1 / (1 + e^-a) is one exp, one add and one reciprocal on one block.
Derivatives kept: σ' = σ - σ², tanh' = 1 - g².  The loop's big arrays come from a pool of its
own (four (T, H, N) arrays are held at once).

Threads.  Where oneDNN is installed, a float32 loop first hands the threads to it
(``onednn.take_threads``): each step's product then runs on W_hh packed once per sequence
(``packed_gemm.py``; where that kernel is not built, on oneDNN's sgemm), and the compiled cell
shares each step's batch rows among the same GNU OpenMP threads (both are built with
``-fopenmp``), one team for the whole step (:func:`_step_product`), or the one-call loop runs on
that team.  Elsewhere (no oneDNN, one thread, a forked child) OpenBLAS keeps the cores for the
products (the table's ``matmul``) and the cell runs on one thread: a second pool of threads
beside OpenBLAS's spinning workers stalls both.  On w4's layer (T 64, N 32, H 256) the forward's
cells take 1.6 ms on two threads against 3.2 on one (with libmvec's expf and tanhf, before the
cell wrote σ and tanh out: 3.1 and 5.0). Against the loop of step calls, in one process,
alternating, 20th / 50th percentile of 160 calls at two threads: forward 9.56 / 12.16 -> 9.29 /
11.38 ms, backward 8.63 / 11.17 -> 8.34 / 10.10.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from chainrule.backend import gemm_onednn, native, onednn, packed_gemm, threads
from chainrule.backend.pool import BufferPool
from chainrule.backend.scatter import scatter_add_rows

_POOL = BufferPool(per_shape=4)
_matmul = gemm_onednn.matmul  # the table's product: oneDNN's sgemm while it holds the threads, else NumPy's


def lstm_kernels(dt: np.dtype) -> tuple | None:
    """(forward_step, backward_step) of the compiled LSTM cell for ``dt`` (they take a thread
    count, N, H and addresses of batch-major blocks), or None: the NumPy twin runs then."""
    n, sizes, ptr = ctypes.c_int, [ctypes.c_ssize_t] * 2, ctypes.c_void_p
    fwd = native.typed_function("lstm_cell", "lstm_forward_step", dt, [n, *sizes] + [ptr] * 8)
    if fwd is None:
        return None
    bwd = native.typed_function("lstm_cell", "lstm_backward_step", dt, [n, *sizes, ptr, ctypes.c_ssize_t] + [ptr] * 6)
    return fwd, bwd


def sequence_kernels(dt: Any) -> tuple | None:
    """(forward, backward, threads): the one-call float32 time loops and their thread count, or
    None where they do not run (another dtype; the kernel not built, or built without AVX2 and
    FMA; OpenBLAS's workers holding the cores).  Asked after :func:`_threads` has handed the
    threads to oneDNN where it is installed."""
    nt = packed_gemm.free_threads()
    if np.dtype(dt) != np.float32 or nt is None:
        return None
    lib = native.load("lstm_cell")
    if lib is None or not lib.lstm_sequence_available():
        return None
    ptr, size, n = ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_int
    fwd = native.typed_function("lstm_cell", "lstm_forward_seq", dt, [n, size, size, size, n] + [ptr] * 11)
    bwd = native.typed_function("lstm_cell", "lstm_backward_seq", dt,
                                [n, size, size, size, n, n, ptr, size] + [ptr] * 9)
    return fwd, bwd, nt


def _panels(H: int, dt: Any) -> np.ndarray:
    """Scratch for W_hh's panels in the one-call loops, as many floats as the kernel says."""
    size = native.typed_function("lstm_cell", "lstm_packed_size", dt, [ctypes.c_ssize_t], ctypes.c_ssize_t)
    return _POOL.empty((size(H),), dt)


def _threads(dt: Any) -> int:
    """Threads for the compiled cell's batch rows: chainrule's intra-op threads while oneDNN holds
    them (the step's products then run on the same OpenMP team, :func:`_step_product`), else one
    (OpenBLAS's workers hold the cores).  A float32 loop takes the threads for oneDNN when it is
    installed: its products and its cell then share one team instead of two pools stalling
    each other (``onednn.take_threads``)."""
    if np.dtype(dt) == np.float32 and onednn.available():
        onednn.take_threads()
    return threads.intra_threads() if onednn.holds_threads() else 1


def padded_row(width: int, itemsize: int) -> int:
    """A row length of at least ``width`` whose byte length is not a multiple of 2 KiB.

    A product that reads a row-major matrix down its columns (Aᵀ B with A (K, M)) touches
    addresses one row apart; with rows of 4 KiB they all fall in the same few cache sets and
    evict one another.  The LSTM's gate adjoints dZ (T·N, 4H) are such an A for dW_hh = dZᵀ
    H_prev: at H = 256 (rows of 4 KiB, float32) that product took 15 ms on oneDNN's sgemm
    against 7 ms with rows 16 floats longer (2016 × 1024 × 256, two threads)."""
    if (width * itemsize) % 2048 == 0 and width:
        return width + 64 // itemsize
    return width


def step_order(T: int, reverse: bool) -> range:
    """The time steps a recurrent layer visits: T-1 ... 0 when it runs in reverse."""
    return range(T - 1, -1, -1) if reverse else range(T)


def _step_product(a: Any, b: Any, out: Any) -> Any:
    """The time loop's product a_t @ b into ``out`` as a function of a_t's address: on ``b``
    packed once (``packed_gemm.py``), else on oneDNN's sgemm with its arguments fixed
    (``gemm_onednn.bound``), else None (the loop calls the table's matmul)."""
    return packed_gemm.bound(a, b, out, _POOL.empty) or gemm_onednn.bound(a, b, out)


class RecurrentMath:
    """Table entries of the recurrent layers (``nn/functional/_rnn_kernel.py``)."""

    @staticmethod
    def distinct_rows(idx: np.ndarray, V: int) -> tuple:
        """(first, rows) for indices ``idx`` (R,) into a table of V rows: ``first`` (U,) the
        distinct indices in increasing order, ``rows`` (R,) int64 with idx = first[rows]."""
        if V <= idx.size:  # a small table: count the uses instead of sorting the positions
            used = np.bincount(idx, minlength=V) > 0
            first = np.flatnonzero(used)
            rows = (np.cumsum(used) - 1)[idx]  # table row v -> its row among the distinct ones
        else:
            first, rows = np.unique(idx, return_inverse=True)
        return first, np.ascontiguousarray(rows.reshape(idx.size), dtype=np.int64)

    @staticmethod
    def row_sums(rows: np.ndarray, d: np.ndarray, table: np.ndarray) -> np.ndarray:
        """S (U, G): row r of d (R, G) added into row rows[r] (R,), for a table of U rows
        (``table``'s first axis: U is not read by the caller, so that a compiled plan replays
        batches with any count of distinct rows)."""
        return scatter_add_rows(np.zeros((table.shape[0], d.shape[1]), d.dtype), rows, d)

    @staticmethod
    def used_rows(idx: np.ndarray, V: int) -> tuple:
        """(used, rows) for indices ``idx`` (R,) into a table of V rows: ``used`` (V,) bool, whether
        idx holds row v, and ``rows`` (R,) the indices as C-ordered int64.  Every shape follows
        from V and R (unlike :meth:`distinct_rows`)."""
        return np.bincount(idx, minlength=V) > 0, np.ascontiguousarray(idx.reshape(idx.size), dtype=np.int64)

    @staticmethod
    def lstm_threads(dtype: Any) -> int:
        """The threads the LSTM loop's cell will use for ``dtype``, the threads first handed to
        oneDNN where it is installed (float32).  A layer asks before its first product, so that
        every product of its first call already runs where all later ones will (the same sums
        from the first step on)."""
        return _threads(dtype)

    @staticmethod
    def lstm_forward(z: Any, rows: Any, h0: Any, c0: Any, w_hh: Any, reverse: bool, keep: bool,
                     out: Any = None) -> tuple:
        """One LSTM layer over a sequence: (out (T + 1, N, H) = [h_0 … h_{T-1}; c_n], state).

        ``z`` the input projections W_ih x_t + b, (T, N, 4H) (used as scratch), or, with
        ``rows`` (T, N) int64, a table (U, 4H) whose row rows[t, n] is position (t, n)'s
        projection (the embedding fold).  ``state`` is what ``lstm_backward`` needs (None
        unless ``keep``).  ``reverse`` runs t = T-1 … 0; out[t] still belongs to position t.
        ``out``, if given, is the C-ordered (T + 1, N, H) array of z's dtype to write into (a
        caller that keeps h0 in the row before it: see ``LSTMSequence``)."""
        T, N = (z if rows is None else rows).shape[:2]
        shape = (T + 1, N, h0.shape[-1])
        if out is None:
            out = _POOL.empty(shape, z.dtype)
        elif out.shape != shape or out.dtype != z.dtype or not out.flags.c_contiguous:
            raise ValueError(f"lstm_forward: out must be a C-ordered {shape} array of {z.dtype}, got "
                             f"{tuple(out.shape)} {out.dtype}{'' if out.flags.c_contiguous else ' (not C-ordered)'}")
        steps = lstm_kernels(z.dtype)
        if steps is not None:
            return _forward_compiled(steps[0], z, rows, h0, c0, w_hh, reverse, keep, out)
        return _forward_numpy(z, rows, h0, c0, w_hh, reverse, keep, out)

    @staticmethod
    def lstm_backward(state: tuple, g: Any, h0: Any, c0: Any, w_hh: Any, reverse: bool, need_h0: bool) -> tuple:
        """Backward through time: (dZ (T·N, 4H) the pre-activation adjoints, rows (t, n) and
        PyTorch's gate order; dh0, dc0 (N, H)), from the output's gradient g (T + 1, N, H)."""
        if state[0]:
            return _backward_compiled(state, g, c0, w_hh, reverse, need_h0)
        return _backward_numpy(state, g, c0, w_hh, reverse)


# ---------------------------------------------------------------- the compiled cell (batch-major)
def _forward_compiled(fwd_step, z, rows, h0, c0, w_hh, reverse, keep, out):
    """The cell reads the step's projections (its own rows of ``z``, or row rows[n] of the table)
    and writes the gate activations to ``acts``; each h goes straight into the output.  One C call
    for the whole loop where :func:`sequence_kernels` runs, else one product and one cell call a
    step."""
    T, N = (z if rows is None else rows).shape[:2]
    H = h0.shape[-1]
    G = 4 * H
    dt = z.dtype
    acts = z if rows is None else _POOL.empty((T, N, G), dt)  # (out: rows 0..T-1 h_t, row T c_n)
    cs = _POOL.empty((T, N, H), dt)
    tcs = _POOL.empty((T, N, H), dt)
    rec = np.empty((N, G), dtype=dt)  # h_{t-1} W_hhᵀ
    nt = _threads(dt)  # (first: it hands the threads to oneDNN, which sequence_kernels asks about)
    h = np.ascontiguousarray(h0, dtype=dt)
    c0c = np.ascontiguousarray(c0, dtype=dt)  # (held: the kernel reads it through a raw address)
    size = N * H * dt.itemsize
    pa, po, pc, ptc, prec, pz = (native.address(a) for a in (acts, out, cs, tcs, rec, z))
    rows_c = None if rows is None else np.ascontiguousarray(rows, dtype=np.int64)  # (held, as c0c)
    prows = None if rows_c is None else native.address(rows_c)
    seq = sequence_kernels(dt) if T and N and H else None
    if seq is not None:
        w = np.ascontiguousarray(w_hh, dtype=dt)
        panels = _panels(H, dt)
        seq[0](seq[2], T, N, H, reverse, pa if prows is None else pz, prows, pa, native.address(w),
               native.address(panels), native.address(h), native.address(c0c), po, pc, ptc, prec)
    else:
        w_recT = w_hh.astype(dt, copy=False).T  # (H, 4H), a transposed view (BLAS reads it as is)
        product = _step_product(h, w_recT, rec)  # (None: _matmul at each step)
        ph, c_prev = native.address(h), native.address(c0c)
        for t in step_order(T, reverse):
            # (also for the usual zero h0: 0 · W_hh is not 0 where W_hh holds an inf or a NaN)
            if product is None:
                _matmul(h, w_recT, out=rec)
            else:
                product(ph)
            if prows is None:  # the step's own projections, in place
                zin, rt = pa + 4 * t * size, None
            else:
                zin, rt = pz, prows + t * N * 8
            fwd_step(nt, N, H, zin, rt, pa + 4 * t * size, prec, c_prev, pc + t * size, ptc + t * size,
                     po + t * size)
            h, ph, c_prev = out[t], po + t * size, pc + t * size
    out[T] = cs[step_order(T, reverse)[-1]] if T else c0
    return out, ((True, acts, cs, tcs) if keep else None)


def _backward_compiled(state, g, c0, w_hh, reverse, need_h0):
    _, acts, cs, tcs = state
    T, N, G = acts.shape
    H = G // 4
    dt = acts.dtype
    gh = np.ascontiguousarray(g, dtype=dt)  # (T + 1, N, H): dL/dh_t, and dL/dc_n in row T
    dc_next = np.array(gh[T], order="C")  # a copy: updated in place, step by step
    dh_rec = np.zeros((N, H), dtype=dt)  # δz_{t+1} W_hh, the recurrent part of dL/dh_t
    c0c = np.ascontiguousarray(c0, dtype=dt)
    ld = padded_row(G, dt.itemsize)  # dZ's rows padded: dW_hh = dZᵀ H_prev reads its columns
    dz = _POOL.empty((T, N, ld), dt)[:, :, :G]
    size = N * H * dt.itemsize
    pd, pa, ptc, pc, pg = (native.address(a) for a in (dz, acts, tcs, cs, gh))
    prec, pdc = native.address(dh_rec), native.address(dc_next)
    nt = _threads(dt)
    seq = sequence_kernels(dt) if T and N and H else None
    if seq is not None:
        w = np.ascontiguousarray(w_hh, dtype=dt)
        panels = _panels(H, dt)
        seq[1](seq[2], T, N, H, reverse, need_h0, pd, ld, pa, ptc, pc, native.address(c0c), pg,
               native.address(w), native.address(panels), prec, pdc)
        return dz.reshape(T * N, G), dh_rec, dc_next
    bwd_step = lstm_kernels(dt)[1]
    w_rec = w_hh.astype(dt, copy=False)  # (4H, H)
    product = _step_product(dz[0], w_rec, dh_rec) if T else None  # (None: _matmul at each step)
    order = step_order(T, reverse)
    for t in reversed(order):
        c_prev = native.address(c0c) if t == order[0] else pc + (t + 1 if reverse else t - 1) * size
        pdt = pd + t * N * ld * dt.itemsize
        bwd_step(nt, N, H, pdt, ld, pa + 4 * t * size, ptc + t * size, c_prev, pg + t * size, prec, pdc)
        if t != order[0] or need_h0:  # the last product only gives h0's gradient
            if product is None:
                _matmul(dz[t], w_rec, out=dh_rec)  # dh_{t-1} = δz_t W_hh
            else:
                product(pdt)
    return dz.reshape(T * N, G), dh_rec, dc_next


# ---------------------------------------------------------------- the NumPy twin (feature-major)
def _forward_numpy(z, rows, h0, c0, w_hh, reverse, keep, out):
    T, N = (z if rows is None else rows).shape[:2]
    G = z.shape[-1]
    H = G // 4
    H2, H3 = 2 * H, 3 * H
    dt = z.dtype
    # rows i, f, o, g, the sigmoid rows negated: acts[t] = that reordering of z[t]ᵀ
    acts = _POOL.empty((T, G, N), dt)
    if rows is None:
        zt = z.transpose(0, 2, 1)
        np.negative(zt[:, :H2], out=acts[:, :H2])
        np.negative(zt[:, H3:], out=acts[:, H2:H3])
        acts[:, H3:] = zt[:, H2:H3]
    else:  # reorder the (small) table, then gather its rows
        tab = np.concatenate([-z[:, :H2], -z[:, H3:], z[:, H2:H3]], axis=1)
        acts[...] = tab.take(rows, axis=0).transpose(0, 2, 1)
    w_rec = np.concatenate([-w_hh[:H2], -w_hh[H3:], w_hh[H2:H3]]).astype(dt, copy=False)
    rec = np.empty((G, N), dtype=dt)
    hs = _POOL.empty((T, H, N), dt)
    cs = _POOL.empty((T, H, N), dt)
    tcs = _POOL.empty((T, H, N), dt)
    deriv = _POOL.empty((T if keep else 0, G, N), dt)
    tmp = np.empty((H, N), dtype=dt)
    h = np.ascontiguousarray(h0.T, dtype=dt)
    c = np.ascontiguousarray(c0.T, dtype=dt)
    with np.errstate(over="ignore"):  # e^-a = inf for a < -88 (float32) gives σ = 0, as it should
        for t in step_order(T, reverse):
            a = acts[t]
            np.matmul(w_rec, h, out=rec)
            a += rec
            sg, gg = a[:H3], a[H3:]
            np.exp(sg, out=sg)  # e^-a (the i, f, o rows hold -a)
            sg += 1.0
            np.reciprocal(sg, out=sg)  # σ(a) = 1 / (1 + e^-a)
            np.tanh(gg, out=gg)
            if keep:
                d = deriv[t]
                np.multiply(a, a, out=d)
                np.subtract(sg, d[:H3], out=d[:H3])  # σ' = σ - σ²
                np.subtract(1.0, d[H3:], out=d[H3:])  # tanh' = 1 - tanh²
            c_t = cs[t]
            np.multiply(a[H:H2], c, out=c_t)  # f ⊙ c_{t-1}
            np.multiply(a[:H], gg, out=tmp)  # i ⊙ g
            c_t += tmp
            np.tanh(c_t, out=tcs[t])
            np.multiply(a[H2:H3], tcs[t], out=hs[t])  # o ⊙ tanh c
            h, c = hs[t], c_t
    out[:T] = hs.transpose(0, 2, 1)
    out[T] = c.T
    return out, ((False, acts, deriv, cs, tcs) if keep else None)


def _backward_numpy(state, g, c0, w_hh, reverse):
    _, acts, deriv, cs, tcs = state
    T, G, N = acts.shape
    H = G // 4
    H2, H3 = 2 * H, 3 * H
    dt = acts.dtype
    w_hhT = np.concatenate([w_hh[:H2], w_hh[H3:], w_hh[H2:H3]]).astype(dt, copy=False).T  # (H, 4H), rows i f o g
    gT = _POOL.empty((T, H, N), dt)
    gT[...] = g[:T].transpose(0, 2, 1)
    dc_next = np.array(g[T].T, dtype=dt, order="C")  # a copy: updated in place
    dh_next = np.zeros((H, N), dtype=dt)
    c0T = np.ascontiguousarray(c0.T, dtype=dt)
    dz = _POOL.empty((T, G, N), dt)  # the gate adjoints, computed in place in dz[t] (contiguous)
    dh = np.empty((H, N), dtype=dt)
    dc = np.empty((H, N), dtype=dt)
    tmp = np.empty((H, N), dtype=dt)
    order = step_order(T, reverse)
    for t in reversed(order):
        a = acts[t]
        i, f, o, gg = a[:H], a[H:H2], a[H2:H3], a[H3:]
        tc = tcs[t]
        d = dz[t]
        c_prev = c0T if t == order[0] else cs[t + 1 if reverse else t - 1]
        np.add(gT[t], dh_next, out=dh)
        # δc = δc_next + dh ⊙ o ⊙ (1 - tanh²c)
        np.multiply(tc, tc, out=tmp)
        np.subtract(1.0, tmp, out=tmp)
        tmp *= o
        tmp *= dh
        np.add(tmp, dc_next, out=dc)
        # adjoints of the gate activations, then of the pre-activations (× deriv)
        np.multiply(dc, gg, out=d[:H])  # δi = δc ⊙ g
        np.multiply(dc, c_prev, out=d[H:H2])  # δf = δc ⊙ c_{t-1}
        np.multiply(dh, tc, out=d[H2:H3])  # δo = dh ⊙ tanh c
        np.multiply(dc, i, out=d[H3:])  # δg = δc ⊙ i
        d *= deriv[t]
        np.multiply(dc, f, out=dc_next)  # δc_{t-1} = δc ⊙ f
        np.matmul(w_hhT, d, out=dh_next)  # dh_{t-1} = W_hhᵀ δz
    # one transposing copy to (4H, T, N), the blocks back in PyTorch's order i, f, g, o
    dzm = _POOL.empty((G, T, N), dt)
    dzm[:H2] = dz[:, :H2].transpose(1, 0, 2)
    dzm[H2:H3] = dz[:, H3:].transpose(1, 0, 2)
    dzm[H3:] = dz[:, H2:H3].transpose(1, 0, 2)
    return dzm.reshape(G, T * N).T, dh_next.T, dc_next.T
