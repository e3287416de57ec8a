"""Fused sequence primitives: one recurrent layer, one direction, the whole sequence at once.

A per-time-step composition of Tensor ops (``lstm_cell`` in a Python loop) is
correct but records ~15 graph nodes per step.  These primitives instead run the
time loop in NumPy in ``forward`` (keeping the gate activations) and do
backpropagation through time in NumPy in ``vjp``:

* the input projections of all time steps are one (batched) matmul,
  ``W_ih x_t + b`` for every t;
* the loop over time only does the recurrent matmul and the elementwise gate
  arithmetic;
* in the backward pass the gate adjoints of all steps are stacked into
  ``dZ`` (T·N, G·H) and the weight gradients are single matmuls:
  ``dW_ih = dZᵀ X``, ``dW_hh = dZᵀ H_prev`` (H_prev = the stacked h_{t-1}),
  ``db = Σ_{t,n} dZ``, ``dX = dZ W_ih`` (the LSTM gets dW_ih and db from one
  matmul with [X | 1], and reads H_prev in place from its output);
* when x is an embedding lookup E[idx] (``InputFold``), the input projection is
  computed once per distinct index and dW_ih, db from the adjoints summed per index.

The NumPy loops of the LSTM and GRU run feature-major: the states are kept
transposed, hᵀ (H, N), so the step matmul is W_hh hᵀ and every gate block (H, N)
is one contiguous array (NumPy's elementwise loops are several times slower on
the column blocks of an (N, G·H) array).  The GRU's sigmoid gates use
σ(a) = (1 + tanh(a/2)) / 2 with their weight rows pre-scaled by 1/2, so one
``tanh`` call serves all gates; the LSTM's take σ(a) = 1 / (1 + e^-a) on
negated weight rows (one exp over its three sigmoid gates, cheaper than tanh).

The LSTM's gate arithmetic has a compiled twin (``backend/kernels/lstm_cell.c``,
loaded by ``backend.native``): where a C compiler is available, each step's
element-wise work is one C call, and that path works batch-major (see
LSTMSequence); the NumPy loop is the fallback and gives the same numbers.

Inputs of every primitive: ``x (T, N, I), h0 (N, H) [, c0 (N, H)], w_ih (G·H, I),
w_hh (G·H, H) [, b_ih (G·H,), b_hh (G·H,)]`` with PyTorch's layouts (G = 4 for
the LSTM gates i, f, g, o; 3 for the GRU gates r, z, n; 1 for the plain RNN).
``reverse=True`` runs t = T-1 … 0 (the backward direction of a bidirectional
layer) without flipping any array; output[t] still belongs to input position t.

Outputs (one array per primitive; the layer functions slice it):

* LSTM: (T + 1, N, H): rows 0..T-1 are h_t, row T is the last cell state c_n;
* GRU, RNN: (T, N, H): the h_t.

The last hidden state h_n is output[T-1] (output[0] when ``reverse``).

Double backward (``create_graph=True``): the NumPy loop cannot be recorded, so
when the backward pass is recorded the ``vjp`` falls back to a composed
implementation: it rebuilds the layer from the cells (Tensor ops) on the inputs
and differentiates that graph with every step recorded (slow, but exact and
differentiable again).  Forward mode (``jvp``) is not implemented here; the layer
functions use the composed cells when forward mode is active.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from chainrule.autograd.primitive import Primitive
from chainrule.backend import native, scatter
from chainrule.backend.pool import BufferPool

# Large per-step arrays (gate activations, adjoints) are reused between training steps:
# fresh multi-megabyte arrays come as new zero-filled pages and the page faults cost
# milliseconds per step.  The pool hands an array out again only when nothing else
# refers to it (see BufferPool).
_POOL = BufferPool(per_shape=4)  # the LSTM holds four (T, H, N) arrays at once: h, c, tanh c and the output gradient


def _local_vjp(out, g, stops, need) -> tuple:
    """vᵀ ∂out/∂stops on a freshly built graph, recorded (TensorMath), not walking past ``stops``.

    A small reverse walk of its own (the engine's walk is in progress when this runs):
    topological order of the nodes between ``out`` and the ``stops`` by an iterative
    depth-first search, then each node's vjp in reverse order, adjoints summed per tensor.
    """
    from chainrule.ops.tensor_math import TensorMath as M

    stop_ids = {id(s) for s in stops}
    order: list = []
    seen: set = set()
    stack = [(out, False)]
    while stack:
        t, done = stack.pop()
        if done:
            order.append(t)
            continue
        if id(t) in seen or id(t) in stop_ids or t._op is None or not t.requires_grad:
            continue
        seen.add(id(t))
        stack.append((t, True))
        stack.extend((p, False) for p in t._parents)
    adj = {id(out): g}
    for t in reversed(order):
        gt = adj.pop(id(t), None)
        if gt is None:
            continue
        for p, gp in zip(t._parents, t._op.vjp(M, t._need, gt, t, *t._parents)):
            if gp is None or not p.requires_grad:
                continue
            if tuple(gp.shape) != tuple(p.shape):
                gp = M.sum_to(gp, p.shape)
            if gp.dtype != p.dtype:
                gp = M.astype(gp, p.dtype)
            adj[id(p)] = gp if id(p) not in adj else adj[id(p)] + gp
    res: list[Any] = []
    for s, n in zip(stops, need):
        if not n:
            res.append(None)
        else:
            res.append(adj[id(s)] if id(s) in adj else M.zeros_like(s))
    return tuple(res)


def _with_bias_column(w: np.ndarray, b, dt) -> np.ndarray:
    """[W | b] (G·H, I + 1), or W itself (as ``dt``) without a bias: the bias rides along in the
    products as the weight of an input that is always 1."""
    wa = w.astype(dt, copy=False)
    return wa if b is None else np.concatenate([wa, np.asarray(b, dtype=dt)[:, None]], axis=1)


def _with_ones(x: np.ndarray, ones: bool, dt) -> np.ndarray:
    """[X | 1] (T·N, I + 1) from x (T, N, I), or X (T·N, I) without the ones: a pooled copy in ``dt``."""
    T, N, I = x.shape
    xo = _POOL.empty((T, N, I + (1 if ones else 0)), dt)
    xo[..., :I] = x
    xo[..., I:] = 1.0
    return xo.reshape(T * N, xo.shape[2])  # (sizes spelled out: -1 is ambiguous for an empty batch)


def _project_fm(x: np.ndarray, w: np.ndarray, b, dt) -> np.ndarray:
    """W x_t + b for every step, feature-major: (T, G·H, N) from x (T, N, I), w (G·H, I), b (G·H,).

    One batched matmul; the bias rides along as an extra input row of ones.
    """
    T, N, I = x.shape
    xa = _POOL.empty((T, I if b is None else I + 1, N), dt)
    xa[:, :I] = x.transpose(0, 2, 1)
    xa[:, I:] = 1.0
    wa = _with_bias_column(w, b, dt)
    return np.matmul(wa, xa, out=_POOL.empty((T, wa.shape[0], N), dt))


def _native_lstm_steps(dt: np.dtype):
    """(forward_step, backward_step) of the compiled LSTM cell (kernels/lstm_cell.c) for ``dt``, or None.

    Both take N, H and raw addresses of contiguous batch-major blocks ((N, H) states, (N, 4H)
    gates); see the C file for the formulas.  None when the kernel is not available (no
    compiler, ``CHAINRULE_NATIVE=0``) or for a dtype other than float32/float64: the NumPy
    loop then does the step.
    """
    sizes, ptr = [ctypes.c_ssize_t] * 2, ctypes.c_void_p
    fwd = native.typed_function("lstm_cell", "lstm_forward_step", dt, sizes + [ptr] * 8)
    if fwd is None:
        return None
    return fwd, native.typed_function("lstm_cell", "lstm_backward_step", dt, sizes + [ptr] * 7)


class InputFold:
    """The first layer's input is an embedding lookup, x = E[idx]: its projection, folded.

    Every input row is a row of E, so the input projection of every step is a row of one
    table, X W_ihᵀ + b = (E_u W_ihᵀ + b)[rows], computed once per distinct index (E_u
    (U, I): the rows of E that idx uses; ``rows`` (T·N,) says which of them each position
    reads, time-major).  Backward, with S (U, G) the pre-activation adjoints summed per
    distinct index (a scatter-add by ``rows``): dW_ih = dZᵀ X = Sᵀ E_u and db = Σ dZ = Σ S,
    so [dW_ih | db] = Sᵀ [E_u | 1].  The gradient of x itself, dZ W_ih, is computed as
    without the fold and reaches E through the lookup's own vjp (so hooks on x, x used
    elsewhere, ``autograd.grad`` with respect to x and ``padding_idx`` all work as before).

    Exact: the same sums as the unfolded path, with every product over a row of E done
    once instead of once per position (w4: 65 distinct rows for 2,048 positions).  Only
    the rows idx uses take part (a NaN or inf in an unused row of E changes nothing).
    Shared by the two directions of a bidirectional layer (each brings its own W_ih).
    """

    __slots__ = ("src", "rows", "shape", "_xu")

    def __init__(self, E: np.ndarray, idx: np.ndarray) -> None:
        """E (V, I) the table's array, idx (T, N) the time-major indices (checked by the lookup)."""
        T, N = idx.shape
        flat = idx.reshape(T * N)
        V = E.shape[0]
        if V <= flat.size:  # a small table: count the uses instead of sorting the positions
            used = np.bincount(flat, minlength=V) > 0
            first = np.flatnonzero(used)
            slot = np.cumsum(used) - 1  # table row v -> its row in E_u
            rows = slot[flat]
        else:
            first, rows = np.unique(flat, return_inverse=True)
        self.src = E[first]  # E_u (U, I): a copy, whatever happens to E afterwards
        self.rows = np.ascontiguousarray(rows.reshape(T * N), dtype=np.int64)
        self.shape = (T, N)
        self._xu: dict = {}

    def xu(self, ones: bool, dt: np.dtype) -> np.ndarray:
        """[E_u | 1] (U, I + 1), or E_u without the ones, in ``dt`` (made once per call of the layer)."""
        key = (ones, dt)
        a = self._xu.get(key)
        if a is None:
            U, I = self.src.shape
            a = np.empty((U, I + (1 if ones else 0)), dtype=dt)
            a[:, :I] = self.src
            a[:, I:] = 1.0
            self._xu[key] = a
        return a

    def table(self, w: np.ndarray, b, dt: np.dtype) -> np.ndarray:
        """P = E_u Wᵀ + b (U, G) from w (G, I), b (G,) or None."""
        return self.xu(b is not None, dt) @ _with_bias_column(w, b, dt).T

    def project(self, w: np.ndarray, b, dt: np.dtype) -> np.ndarray:
        """W x_t + b for every step, batch-major (T, N, G): P read by index."""
        return np.take(self.table(w, b, dt), self.rows.reshape(self.shape), axis=0)

    def project_fm(self, w: np.ndarray, b, dt: np.dtype) -> np.ndarray:
        """W x_t + b for every step, feature-major (T, G, N) (as ``_project_fm``)."""
        T, N = self.shape
        tab = self.table(w, b, dt)
        out = _POOL.empty((T, tab.shape[1], N), dt)
        np.copyto(out, np.take(tab, self.rows.reshape(T, N), axis=0).transpose(0, 2, 1))
        return out

    def sum_rows(self, d: np.ndarray) -> np.ndarray:
        """S (U, G): the rows of d (T·N, G) summed per distinct index."""
        return scatter.scatter_add_rows(np.zeros((self.src.shape[0], d.shape[1]), dtype=d.dtype), self.rows, d)

    def weight_grad(self, d: np.ndarray, ones: bool) -> np.ndarray:
        """dZᵀ [X | 1] = Sᵀ [E_u | 1] (G, I + 1), or dZᵀ X = Sᵀ E_u (G, I), from d = dZ (T·N, G)."""
        return self.sum_rows(d).T @ self.xu(ones, d.dtype)


def _sigmoid_(z: np.ndarray) -> np.ndarray:
    """In place: σ(z) = (1 + tanh(z/2)) / 2  (no overflow for any z)."""
    z *= 0.5
    np.tanh(z, out=z)
    z *= 0.5
    z += 0.5
    return z


class _Sequence(Primitive):
    """Shared bookkeeping: time order, the saved activations, stacking of h_{t-1}."""

    __slots__ = ("reverse", "has_bias", "saved", "keep", "fold")
    n_states = 1  # h (and c for the LSTM)
    kind: str  # "LSTM", "GRU" or "RNN", set by each subclass

    def __init__(self, reverse: bool = False, has_bias: bool = True) -> None:
        self.reverse = reverse
        self.has_bias = has_bias
        self.saved = None
        self.keep = True  # False: no backward will follow (no_grad / eval), skip what only it needs
        self.fold: InputFold | None = None  # set when x is an embedding lookup (see InputFold)

    def _order(self, T: int) -> range:
        return range(T - 1, -1, -1) if self.reverse else range(T)

    def _prev(self, hs: np.ndarray, h0: np.ndarray, t: int) -> np.ndarray:
        """h_{t-1} in processing order (h0 for the first step)."""
        T = hs.shape[0]
        if self.reverse:
            return h0 if t == T - 1 else hs[t + 1]
        return h0 if t == 0 else hs[t - 1]

    def _stack_prev(self, hs: np.ndarray, h0: np.ndarray) -> np.ndarray:
        """(T, N, H): the h_{t-1} that entered each step t."""
        if self.reverse:
            return np.concatenate([hs[1:], h0[None]], axis=0)
        return np.concatenate([h0[None], hs[:-1]], axis=0)

    def _input_projection(self, x, w_ih, bias):
        """X W_ihᵀ + bias, batch-major (T, N, G) (read from the folded table when there is one)."""
        if self.fold is not None:
            return self.fold.project(w_ih, bias, np.result_type(x, w_ih))
        T, N, I = x.shape
        xw = x.reshape(T * N, I) @ w_ih.T
        if bias is not None:
            xw += bias
        return xw.reshape(T, N, w_ih.shape[0])

    def _split(self, xs):
        """(x, states, w_ih, w_hh, b_ih, b_hh) from the positional inputs."""
        k = 1 + self.n_states
        x, states, (w_ih, w_hh) = xs[0], xs[1:k], xs[k : k + 2]
        b_ih, b_hh = (xs[k + 2], xs[k + 3]) if self.has_bias else (None, None)
        return x, states, w_ih, w_hh, b_ih, b_hh

    def _weight_grads(self, need, dz_in, dz_hh, x, hprev, w_ih):
        """Gradients of x, w_ih, w_hh, b_ih, b_hh from the stacked pre-activation adjoints.

        ``dz_in`` (T, N, G·H) is the adjoint of X W_ihᵀ + b_ih, ``dz_hh`` that of
        H_prev W_hhᵀ + b_hh (the same array for the LSTM and the RNN).
        """
        T, N, I = x.shape
        H = hprev.shape[-1]
        k = 1 + self.n_states
        G = dz_in.shape[-1]
        d_in = dz_in.reshape(T * N, G)
        d_hh = d_in if dz_hh is dz_in else dz_hh.reshape(T * N, G)
        gx = (d_in @ w_ih).reshape(T, N, I) if need[0] else None
        gw_ih = self._input_weight_grad(d_in, x) if need[k] else None
        gw_hh = d_hh.T @ hprev.reshape(T * N, H) if need[k + 1] else None
        out = [gx, gw_ih, gw_hh]
        if self.has_bias:
            out.append(d_in.sum(axis=0) if need[k + 2] else None)
            out.append(d_hh.sum(axis=0) if need[k + 3] else None)
        return out

    def _input_weight_grad(self, d_in, x):
        """dW_ih = d_inᵀ X from the input projection's adjoint d_in (T·N, G) (= Sᵀ E_u with the fold)."""
        if self.fold is not None:
            return self.fold.weight_grad(d_in, False)
        return d_in.T @ x.reshape(-1, x.shape[-1])

    def _mode(self) -> str:
        return self.kind

    def _vjp_recorded(self, need, g, xs):
        """The vjp when the backward pass is recorded (create_graph=True, double backward).

        The NumPy time loop cannot be differentiated again, so the layer is rebuilt from
        the composed cells on the (Tensor) inputs and that graph is differentiated locally,
        with every step recorded: the gradients come out as differentiable Tensors.
        """
        from chainrule.nn.functional.recurrent import _layer_composed
        from chainrule.ops import shape as sh

        x, states, w_ih, w_hh, b_ih, b_hh = self._split(xs)
        ws = [w_ih, w_hh] + ([b_ih, b_hh] if self.has_bias else [])
        out, finals = _layer_composed(self._mode(), x, list(states), ws, self.reverse)
        if self.n_states == 2:
            out = sh.cat([out, sh.unsqueeze(finals[1], 0)], 0)
        return _local_vjp(out, g, xs, need)

    def jvp(self, m, dxs, y, *xs):
        raise NotImplementedError(
            f"{self.name}: forward-mode AD through the fused sequence kernel is not supported; "
            "the layer functions switch to the composed cells when forward mode is active"
        )


class LSTMSequence(_Sequence):
    """One LSTM layer, one direction, over a whole sequence (PyTorch's equations):

        i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)
        f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
        g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
        o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        h_t = o_t ⊙ tanh(c_t)

    Inputs x (T, N, I), h0, c0 (N, H), w_ih (4H, I), w_hh (4H, H)[, b_ih, b_hh (4H,)];
    output (T + 1, N, H) = [h_0 … h_{T-1}; c_n].

    Backward through time (δ = adjoint; dh_t gets the output's gradient plus the
    recurrent path from step t+1):
        δo = dh ⊙ tanh(c_t) ⊙ o(1-o)
        δc = δc_next + dh ⊙ o ⊙ (1 - tanh²(c_t))
        δi = δc ⊙ g ⊙ i(1-i),  δf = δc ⊙ c_{t-1} ⊙ f(1-f),  δg = δc ⊙ i ⊙ (1-g²)
        δc_next ← δc ⊙ f,  dh_next ← [δi δf δg δo] W_hh
    """

    name = "lstm_sequence"
    kind = "LSTM"
    n_states = 2
    fresh_grads = True  # every gradient is a new array (or a view the engine copies)

    # Layouts (for speed; the math is the same).
    #
    # The compiled cell (kernels/lstm_cell.c, ``_forward_compiled``/``_bptt_compiled``) keeps
    # PyTorch's gate order i, f, g, o and the weights as they are, and works batch-major: the
    # gate pre-activations of all steps are one product X W_ihᵀ (T·N, 4H), each step's h goes
    # straight into the output (T + 1, N, H), the output gradient is read as it comes, and the
    # stacked gate adjoints dZ (T·N, 4H) feed the weight-gradient products without a copy.  The
    # recurrent products are batch-major too, h_{t-1} W_hhᵀ (N, 4H) and δz_t W_hh (N, H).  (The
    # feature-major forms W_hh h_{t-1}ᵀ and W_hhᵀ δz_tᵀ, with a transposing copy or a strided
    # read in the cell, measure the same in the whole loop: 28.4 vs 29.0 ms forward, 23.5 vs
    # 23.9 ms backward, w4 shapes.)
    #
    # The input fold (``self.fold``, see InputFold: x is an embedding lookup E[idx]): the
    # projection is a table P = [E_u | 1] [W_ih | b]ᵀ (U, 4H), one row per distinct index; the
    # compiled cell reads row rows[n] of P instead of its own pre-activations, the NumPy loop
    # gathers P's rows into its feature-major array, and the backward pass sums dZ per
    # distinct index (S (U, 4H), kernels/rows.c) for [dW_ih | db] = Sᵀ [E_u | 1].  w4 (U = 65
    # of 2,048 rows): 4.3 ms of projection and 4.8 ms of dW_ih product become ~0.1 ms and
    # 0.7 ms (the sum).
    #
    # The NumPy loop (no compiler) works feature-major, on transposed states hᵀ, cᵀ (H, N) and
    # gate blocks zᵀ (4H, N), so that every gate block is one contiguous array.  It orders the
    # rows i, f, o, g (the last two blocks swapped), so the three sigmoid gates are one block,
    # and negates their weight and bias rows (exact): that block's pre-activations are -a, and
    # one exp, one add and one reciprocal give σ(a) = 1 / (1 + e^-a) (NumPy's float32 exp costs
    # about half its tanh); the g block takes tanh.  Derivatives: σ'(a) = σ - σ², tanh'(a) =
    # 1 - g².  ``self.perm`` remembers which path ran (None: the compiled one).

    __slots__ = ("perm",)

    @staticmethod
    def _perm(H: int) -> np.ndarray:
        """Row order i, f, o, g from PyTorch's i, f, g, o (a block swap: its own inverse)."""
        return np.r_[0 : 2 * H, 3 * H : 4 * H, 2 * H : 3 * H]

    def forward(self, m, *xs):
        x, (h0, c0), w_ih, w_hh, b_ih, b_hh = self._split(xs)
        dt = np.result_type(x, w_ih)
        bias = None if b_ih is None else b_ih + b_hh
        steps = _native_lstm_steps(dt)
        if steps is not None:
            self.perm = None
            return self._forward_compiled(steps, x, h0, c0, w_ih, w_hh, bias, dt)
        T, N, I = x.shape
        H = h0.shape[-1]
        # NumPy loop: feature-major, rows i, f, o, g with the sigmoid rows negated
        self.perm = perm = self._perm(H)
        scale = np.ones((4 * H, 1), dtype=dt)
        scale[: 3 * H] = -1.0
        w_ih, w_rec = w_ih[perm] * scale, w_hh[perm] * scale
        bias = None if bias is None else bias[perm] * scale[:, 0]
        # input projections of all steps, feature-major, (T, 4H, N): they become, in place,
        # the gate activations of each step
        acts = _project_fm(x, w_ih, bias, dt) if self.fold is None else self.fold.project_fm(w_ih, bias, dt)
        rec = np.empty((4 * H, N), dtype=dt)
        hs = _POOL.empty((T, H, N), dt)
        cs = _POOL.empty((T, H, N), dt)
        tcs = _POOL.empty((T, H, N), dt)
        h = np.ascontiguousarray(h0.T, dtype=dt)
        c = np.ascontiguousarray(c0.T, dtype=dt)
        deriv = self._numpy_loop(acts, w_rec, rec, h, c, hs, cs, tcs, self.keep)
        self.saved = (acts, deriv, cs, tcs) if self.keep else None
        if T:
            c = cs[self._order(T)[-1]]
        out = _POOL.empty((T + 1, N, H), dt)
        out[:T] = hs.transpose(0, 2, 1)
        out[T] = c.T
        return out

    def _forward_compiled(self, steps, x, h0, c0, w_ih, w_hh, bias, dt):
        """The time loop with the compiled cell: states batch-major (N, H), written straight into the output."""
        fwd_step = steps[0]
        T, N, I = x.shape
        H = h0.shape[-1]
        G = 4 * H
        # input projections of all steps, batch-major, (T·N, 4H): one product [X | 1] [W_ih | b]ᵀ,
        # or, with the fold (an embedding lookup's output), one row per distinct index and the
        # step reads row rows[n] of that table.  The cell writes the gate activations into
        # ``acts``.  [X | 1] (or [E_u | 1]) is kept: the backward pass multiplies the same
        # matrix by dZ (or by the summed S) for dW_ih and db.
        acts = _POOL.empty((T * N, G), dt)
        fold = self.fold
        if fold is None:
            xo = _with_ones(x, bias is not None, dt)
            np.matmul(xo, _with_bias_column(w_ih, bias, dt).T, out=acts)
            table = acts
        else:
            xo = fold.xu(bias is not None, dt)
            table = fold.table(w_ih, bias, dt)  # (U, 4H)
        acts = acts.reshape(T, N, G)
        out = _POOL.empty((T + 1, N, H), dt)  # rows 0..T-1: h_t, row T: c_n
        cs = _POOL.empty((T, N, H), dt)
        tcs = _POOL.empty((T, N, H), dt)
        rec = np.empty((N, G), dtype=dt)  # h_{t-1} W_hhᵀ
        w_recT = w_hh.astype(dt, copy=False).T  # (H, 4H), a transposed view (BLAS reads it as is)
        h = np.ascontiguousarray(h0, dtype=dt)
        c0c = np.ascontiguousarray(c0, dtype=dt)  # (held: the kernel reads it through a raw address)
        c_prev = c0c.ctypes.data
        size = N * H * dt.itemsize
        pa, po, pc, ptc, prec, ptab = (a.ctypes.data for a in (acts, out, cs, tcs, rec, table))
        prows = None if fold is None else fold.rows.ctypes.data
        for t in self._order(T):
            # (also for the usual zero h0: 0 · W_hh is not 0 where W_hh holds an inf or a NaN)
            np.matmul(h, w_recT, out=rec)
            if prows is None:  # the step's own projections, in place
                zin, rows = pa + 4 * t * size, None
            else:
                zin, rows = ptab, prows + t * N * 8
            fwd_step(N, H, zin, rows, pa + 4 * t * size, prec, c_prev, pc + t * size, ptc + t * size, po + t * size)
            h, c_prev = out[t], pc + t * size
        out[T] = cs[self._order(T)[-1]] if T else c0
        self.saved = (acts, xo, cs, tcs) if self.keep else None  # (the NumPy loop saves deriv in place of xo)
        return out

    def _numpy_loop(self, acts, w_rec, rec, h, c, hs, cs, tcs, keep):
        """The forward time loop in NumPy (no compiled kernel); returns d gate / d pre-activation per step."""
        T, G, N = acts.shape
        H = G // 4
        H3 = 3 * H
        dt = acts.dtype
        deriv = _POOL.empty((T if keep else 0, 4 * H, N), dt)
        tmp = np.empty((H, N), dtype=dt)
        with np.errstate(over="ignore"):  # e^-a = inf for a < -88 (float32) gives σ = 0, as it should
            for t in self._order(T):
                z = acts[t]
                np.matmul(w_rec, h, out=rec)
                z += rec
                sg, g = z[:H3], z[H3:]
                np.exp(sg, out=sg)  # e^-a (the i, f, o rows hold -a)
                sg += 1.0
                np.reciprocal(sg, out=sg)  # σ(a) = 1 / (1 + e^-a)
                np.tanh(g, out=g)
                if keep:
                    d = deriv[t]
                    np.multiply(z, z, out=d)
                    np.subtract(sg, d[:H3], out=d[:H3])  # σ' = σ - σ²
                    np.subtract(1.0, d[H3:], out=d[H3:])  # tanh' = 1 - tanh²
                i, f, o = z[:H], z[H : 2 * H], z[2 * H : H3]
                c_t = cs[t]
                np.multiply(f, c, out=c_t)
                np.multiply(i, g, out=tmp)
                c_t += tmp
                tc = tcs[t]
                np.tanh(c_t, out=tc)
                h = hs[t]
                np.multiply(o, tc, out=h)
                c = c_t
        return deriv

    def vjp(self, m, need, g, y, *xs):
        if m.is_tensor:
            return self._vjp_recorded(need, g, xs)
        x, (h0, c0), w_ih, w_hh, b_ih, b_hh = self._split(xs)
        T, N, I = x.shape
        H = h0.shape[-1]
        perm = self.perm  # None: the compiled cell ran (batch-major, PyTorch's gate order)
        if perm is None:
            dZ, dh0, dc0 = self._bptt_compiled(need, g, h0, c0, w_hh)
        else:
            w_ih, w_hh = w_ih[perm], w_hh[perm]
            dZ, dh0, dc0 = self._bptt_numpy(g, c0, w_hh)
        dt = dZ.dtype
        # weight gradients from the stacked gate adjoints dZ (T·N, 4H), rows (t, n):
        #   dW_ih = dZᵀ X,  dW_hh = dZᵀ H_prev,  db = dZᵀ 1,  dx = dZ W_ih
        # H_prev (the h_{t-1} entering each step) is the output shifted by one step, read in
        # place: y[t-1] for t >= 1 and h0 for t = 0 (reverse: y[t+1], and h0 for t = T-1)
        k = 3
        G = 4 * H
        grads = [None] * len(xs)
        if need[0]:
            grads[0] = np.matmul(dZ, w_ih, out=_POOL.empty((T * N, I), dt)).reshape(T, N, I)
        grads[1] = dh0 if need[1] else None
        grads[2] = dc0 if need[2] else None
        bias = self.has_bias and (need[k + 2] or need[k + 3])
        if need[k]:  # [dW_ih | db] = dZᵀ [X | 1] in one product (cheaper than a separate row sum)
            if self.fold is not None:  # dZᵀ [X | 1] = Sᵀ [E_u | 1]
                xo, lhs = self.fold.xu(self.has_bias, dt), self.fold.sum_rows(dZ)
            else:
                xo = self.saved[1] if perm is None else _with_ones(x, self.has_bias, dt)  # the forward's [X | 1]
                lhs = dZ
            gwx = np.matmul(lhs.T, xo, out=_POOL.empty((G, xo.shape[1]), dt))
            if perm is not None:  # NumPy loop: rows i, f, o, g back to PyTorch's i, f, g, o
                gwx = gwx[perm]
            grads[k] = gwx
            if self.has_bias:  # the two as arrays of their own (the engine keeps gradients as they are)
                gw_ih = _POOL.empty((G, I), dt)
                np.copyto(gw_ih, gwx[:, :I])
                grads[k], db = gw_ih, gwx[:, I].copy()
        elif bias:
            db = dZ.T @ np.ones(T * N, dtype=dt)
            if perm is not None:
                db = db[perm]
        if need[k + 1]:
            m_ = (T - 1) * N  # the steps whose h_{t-1} is an output
            if self.reverse:
                gw_hh = np.matmul(dZ[:m_].T, y[1:T].reshape(m_, H), out=_POOL.empty((G, H), dt))
                first = dZ[m_:]
            else:
                gw_hh = np.matmul(dZ[N:].T, y[: T - 1].reshape(m_, H), out=_POOL.empty((G, H), dt))
                first = dZ[:N]
            gw_hh += first.T @ h0
            grads[k + 1] = gw_hh if perm is None else gw_hh[perm]
        if bias:
            grads[k + 2] = db if need[k + 2] else None
            grads[k + 3] = db.copy() if need[k + 3] else None  # its own array: each leaf owns its gradient
        return tuple(grads)

    def _bptt_compiled(self, need, g, h0, c0, w_hh):
        """Backward through time with the compiled cell (batch-major): (dZ (T·N, 4H), dh0, dc0)."""
        acts, _, cs, tcs = self.saved
        T, N, G = acts.shape
        H = G // 4
        dt = acts.dtype
        bwd_step = _native_lstm_steps(dt)[1]
        w_rec = w_hh.astype(dt, copy=False)  # (4H, H)
        gh = np.ascontiguousarray(g, dtype=dt)  # (T + 1, N, H): dL/dh_t, and dL/dc_n in row T
        dc_next = np.array(gh[T], order="C")  # a copy: updated in place, step by step
        dh_rec = np.zeros((N, H), dtype=dt)  # δz_{t+1} W_hh, the recurrent part of dL/dh_t
        c0c = np.ascontiguousarray(c0, dtype=dt)
        dz = _POOL.empty((T, N, G), dt)
        size = N * H * dt.itemsize
        pd, pa, ptc, pc, pg = (a.ctypes.data for a in (dz, acts, tcs, cs, gh))
        prec, pdc = dh_rec.ctypes.data, dc_next.ctypes.data
        order = self._order(T)
        for t in reversed(order):
            if t == order[0]:
                c_prev = c0c.ctypes.data
            else:
                c_prev = pc + (t + 1 if self.reverse else t - 1) * size
            bwd_step(N, H, pd + 4 * t * size, pa + 4 * t * size, ptc + t * size, c_prev, pg + t * size, prec, pdc)
            if t != order[0] or need[1]:  # the last product only gives h0's gradient
                np.matmul(dz[t], w_rec, out=dh_rec)  # dh_{t-1} = δz_t W_hh
        return dz.reshape(T * N, G), dh_rec, dc_next

    def _bptt_numpy(self, g, c0, w_hh):
        """Backward through time with the NumPy loop (feature-major): (dZ (T·N, 4H) view, dh0, dc0)."""
        acts, deriv, cs, tcs = self.saved
        T, G, N = acts.shape
        H = G // 4
        dt = acts.dtype
        w_hhT = w_hh.astype(dt, copy=False).T  # (H, 4H)
        gT = _POOL.empty((T, H, N), dt)
        gT[...] = g[:T].transpose(0, 2, 1)
        dc_next = np.array(g[T].T, dtype=dt, order="C")  # a copy: updated in place
        dh_next = np.zeros((H, N), dtype=dt)
        c0T = np.ascontiguousarray(c0.T, dtype=dt)
        # the gate adjoints of all steps: computed in place in dz[t] (contiguous), then moved by
        # one transposing copy to the (4H, T, N) layout of the weight-gradient products
        dz = _POOL.empty((T, G, N), dt)
        self._numpy_backward_loop(dz, acts, deriv, cs, tcs, gT, c0T, w_hhT, dh_next, dc_next)
        dzm = _POOL.empty((G, T, N), dt)
        np.copyto(dzm, dz.transpose(1, 0, 2))
        return dzm.reshape(G, T * N).T, dh_next.T, dc_next.T

    def _numpy_backward_loop(self, dz, acts, deriv, cs, tcs, gT, c0T, w_hhT, dh_next, dc_next):
        """Backward through time in NumPy: fills dz[t] (gate pre-activation adjoints), updates dh_next, dc_next."""
        T, G, N = acts.shape
        H = G // 4
        H3 = 3 * H
        dt = acts.dtype
        dh = np.empty((H, N), dtype=dt)
        dc = np.empty((H, N), dtype=dt)
        tmp = np.empty((H, N), dtype=dt)
        order = self._order(T)
        first = order[0]
        for t in reversed(order):
            z = acts[t]
            i, f, o, gg = z[:H], z[H : 2 * H], z[2 * H : H3], z[H3:]
            tc = tcs[t]
            d = dz[t]
            if t == first:
                c_prev = c0T
            else:
                c_prev = cs[t + 1] if self.reverse else cs[t - 1]
            np.add(gT[t], dh_next, out=dh)
            # δc = δc_next + dh ⊙ o ⊙ (1 - tanh²c)
            np.multiply(tc, tc, out=tmp)
            np.subtract(1.0, tmp, out=tmp)
            tmp *= o
            tmp *= dh
            np.add(tmp, dc_next, out=dc)
            # adjoints of the gate activations, then of the pre-activations (× deriv)
            np.multiply(dc, gg, out=d[:H])  # δi = δc ⊙ g
            np.multiply(dc, c_prev, out=d[H : 2 * H])  # δf = δc ⊙ c_{t-1}
            np.multiply(dh, tc, out=d[2 * H : H3])  # δo = dh ⊙ tanh c
            np.multiply(dc, i, out=d[H3:])  # δg = δc ⊙ i
            d *= deriv[t]
            np.multiply(dc, f, out=dc_next)  # δc_{t-1} = δc ⊙ f
            np.matmul(w_hhT, d, out=dh_next)  # dh_{t-1} = W_hhᵀ δz


class GRUSequence(_Sequence):
    """One GRU layer, one direction, over a whole sequence (PyTorch's equations):

        r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
        z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
        n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))
        h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

    Inputs x (T, N, I), h0 (N, H), w_ih (3H, I), w_hh (3H, H)[, b_ih, b_hh (3H,)];
    output (T, N, H).  Because r multiplies only the hidden part of n, the
    input-side and hidden-side pre-activation adjoints differ in the n block:
    δ(W_in x + b_in) = δn_pre,  δ(W_hn h + b_hn) = δn_pre ⊙ r.
    """

    name = "gru_sequence"
    kind = "GRU"

    # Feature-major like the LSTM kernel: states hᵀ (H, N), gate blocks (3H, N) contiguous.
    # b_hr, b_hz are added on the input side (they are plain sums there); b_hn stays inside
    # r ⊙ (W_hn h + b_hn).  σ(a) = (1 + tanh(a/2)) / 2 with the r, z rows pre-scaled by 1/2.

    def forward(self, m, *xs):
        x, (h0,), w_ih, w_hh, b_ih, b_hh = self._split(xs)
        T, N, I = x.shape
        H = h0.shape[-1]
        H2 = 2 * H
        dt = np.result_type(x, w_ih)
        scale = np.ones((3 * H, 1), dtype=dt)
        scale[:H2] = 0.5
        b = None
        if b_ih is not None:
            b = b_ih.astype(dt, copy=True)
            b[:H2] += b_hh[:H2]
            b *= scale[:, 0]
        if self.fold is None:
            P = _project_fm(x, w_ih * scale, b, dt)  # (T, 3H, N) input projections
        else:
            P = self.fold.project_fm(w_ih * scale, b, dt)
        b_hn = None if b_hh is None else b_hh[H2:].astype(dt)[:, None]
        w_rec = w_hh * scale
        acts = np.empty((T, 3 * H, N), dtype=dt)  # [r z n]ᵀ per step
        hw_n = _POOL.empty((T, H, N), dt)  # W_hn h_{t-1} + b_hn
        hs = _POOL.empty((T, H, N), dt)
        rec = np.empty((3 * H, N), dtype=dt)
        h = np.ascontiguousarray(h0.T, dtype=dt)
        for t in self._order(T):
            a = acts[t]
            np.matmul(w_rec, h, out=rec)
            rz = a[:H2]
            np.add(rec[:H2], P[t, :H2], out=rz)
            np.tanh(rz, out=rz)
            rz *= 0.5
            rz += 0.5
            hn = hw_n[t]
            if b_hn is not None:
                np.add(rec[H2:], b_hn, out=hn)
            else:
                hn[...] = rec[H2:]
            n = a[H2:]
            np.multiply(a[:H], hn, out=n)
            n += P[t, H2:]
            np.tanh(n, out=n)
            # h = n + z ⊙ (h_prev - n)
            h_t = hs[t]
            np.subtract(h, n, out=h_t)
            h_t *= a[H:H2]
            h_t += n
            h = h_t
        self.saved = (acts, hw_n, hs)
        return np.ascontiguousarray(hs.transpose(0, 2, 1))

    def vjp(self, m, need, g, y, *xs):
        if m.is_tensor:
            return self._vjp_recorded(need, g, xs)
        x, (h0,), w_ih, w_hh, b_ih, b_hh = self._split(xs)
        acts, hw_n, hs = self.saved
        T, N, I = x.shape
        H = h0.shape[-1]
        H2 = 2 * H
        dt = acts.dtype
        w_hhT = np.ascontiguousarray(w_hh.T, dtype=dt)  # (H, 3H)
        gT = np.ascontiguousarray(g.transpose(0, 2, 1), dtype=dt)  # (T, H, N)
        h0T = np.ascontiguousarray(h0.T, dtype=dt)
        d_in = _POOL.empty(acts.shape, dt)  # adjoint of W_ih x + b_ih (per step, [r z n])
        d_hh = _POOL.empty(acts.shape, dt)  # adjoint of W_hh h + b_hh
        dh_next = np.zeros((H, N), dtype=dt)
        dh = np.empty((H, N), dtype=dt)
        tmp = np.empty((H, N), dtype=dt)
        order = self._order(T)
        first = order[0]
        for t in reversed(order):
            a = acts[t]
            r, z, n = a[:H], a[H:H2], a[H2:]
            if t == first:
                h_prev = h0T
            else:
                h_prev = hs[t + 1] if self.reverse else hs[t - 1]
            np.add(gT[t], dh_next, out=dh)
            di, dk = d_in[t], d_hh[t]
            dr, dzz, dn = di[:H], di[H:H2], di[H2:]
            # δn_pre = dh ⊙ (1 - z) ⊙ (1 - n²)
            np.multiply(n, n, out=tmp)
            np.subtract(1.0, tmp, out=tmp)
            np.multiply(dh, tmp, out=dn)
            np.subtract(1.0, z, out=tmp)
            dn *= tmp
            # δz_pre = dh ⊙ (h_prev - n) ⊙ z(1 - z)
            tmp *= z
            np.subtract(h_prev, n, out=dzz)
            dzz *= dh
            dzz *= tmp
            # δr_pre = δn_pre ⊙ (W_hn h + b_hn) ⊙ r(1 - r)
            np.subtract(1.0, r, out=tmp)
            tmp *= r
            tmp *= hw_n[t]
            np.multiply(dn, tmp, out=dr)
            dk[:H2] = di[:H2]
            np.multiply(dn, r, out=dk[H2:])
            # dh_{t-1} = dh ⊙ z + W_hhᵀ [δr δz δn⊙r]
            np.matmul(w_hhT, dk, out=dh_next)
            np.multiply(dh, z, out=tmp)
            dh_next += tmp
        mi = d_in.transpose(1, 0, 2).reshape(3 * H, T * N)
        mh = d_hh.transpose(1, 0, 2).reshape(3 * H, T * N)
        gx = (mi.T @ w_ih).reshape(T, N, I) if need[0] else None
        gw_ih = self._input_weight_grad(mi.T, x) if need[2] else None
        gw_hh = mh @ self._stack_prev(y, h0).reshape(T * N, H) if need[3] else None
        grads = [gx, dh_next.T if need[1] else None, gw_ih, gw_hh]
        if self.has_bias:
            grads += [mi.sum(axis=1) if need[4] else None, mh.sum(axis=1) if need[5] else None]
        return tuple(grads)


class RNNSequence(_Sequence):
    """One Elman RNN layer, one direction: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh).

    ``nonlinearity`` is 'tanh' (act' = 1 - h²) or 'relu' (act' = [h > 0]).
    Inputs x (T, N, I), h0 (N, H), w_ih (H, I), w_hh (H, H)[, b_ih, b_hh (H,)];
    output (T, N, H).  Backward: δa_t = (dh_t + δa_{t+1} W_hh) ⊙ act'(a_t).
    """

    __slots__ = ("relu",)
    name = "rnn_sequence"
    kind = "RNN"

    def __init__(self, reverse: bool = False, has_bias: bool = True, nonlinearity: str = "tanh") -> None:
        super().__init__(reverse, has_bias)
        self.relu = nonlinearity == "relu"

    def _mode(self) -> str:
        return "RNN_RELU" if self.relu else "RNN_TANH"

    def forward(self, m, *xs):
        x, (h0,), w_ih, w_hh, b_ih, b_hh = self._split(xs)
        T = x.shape[0]
        out = self._input_projection(x, w_ih, None if b_ih is None else b_ih + b_hh)
        w_hhT = w_hh.T
        h = h0
        for t in self._order(T):
            a = out[t]
            a += h @ w_hhT
            if self.relu:
                np.maximum(a, 0, out=a)
            else:
                np.tanh(a, out=a)
            h = a
        return out

    def vjp(self, m, need, g, y, *xs):
        if m.is_tensor:
            return self._vjp_recorded(need, g, xs)
        x, (h0,), w_ih, w_hh, b_ih, b_hh = self._split(xs)
        T, N, _ = x.shape
        H = h0.shape[-1]
        da = np.empty_like(y)
        dh_next = np.zeros((N, H), dtype=y.dtype)
        order = self._order(T)
        for t in reversed(order):
            d = da[t]
            np.add(g[t], dh_next, out=d)
            if self.relu:
                d *= y[t] > 0
            else:
                d *= 1.0 - y[t] * y[t]
            dh_next = d @ w_hh
        hprev = self._stack_prev(y, h0) if need[3] else y
        grads = self._weight_grads(need, da, da, x, hprev, w_ih)
        return (grads[0], dh_next if need[1] else None, *grads[1:])
