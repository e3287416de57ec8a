"""Fused sequence primitives: one recurrent layer, one direction, the whole sequence at once.

A per-time-step composition of Tensor ops (``lstm_cell`` in a Python loop) is
correct but records ~15 graph nodes per step.  These primitives instead run the
time loop in ``forward`` (keeping the gate activations) and do backpropagation
through time in ``vjp``, on the back end's arrays through its table ``m``:

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
  computed once per distinct index and dW_ih, db from the adjoints summed per index; so is
  E's own gradient, in place of dX, in a backward pass where nobody watches dX.

The LSTM's time loop is a table entry (``m.lstm_forward`` / ``m.lstm_backward``,
``backend/recurrent_math.py``: the compiled cell where a C compiler is available, else
its NumPy twin, same numbers to rounding).  The GRU and RNN loops are written here with
the table's entries.  The GRU's loop runs feature-major: the states are kept transposed,
hᵀ (H, N), so the step matmul is W_hh hᵀ and every gate block (H, N) is one contiguous
array; its sigmoid gates use σ(a) = (1 + tanh(a/2)) / 2 with their weight rows
pre-scaled by 1/2, so one ``tanh`` call serves all gates.

Inputs of every primitive: ``x (T, N, I), h0 (N, H) [, c0 (N, H)], w_ih (G·H, I),
w_hh (G·H, H) [, b_ih (G·H,), b_hh (G·H,)]`` with PyTorch's layouts (G = 4 for
the LSTM gates i, f, g, o; 3 for the GRU gates r, z, n; 1 for the plain RNN).
``reverse=True`` runs t = T-1 … 0 (the backward direction of a bidirectional
layer) without flipping any array; output[t] still belongs to input position t.

Outputs (one array per primitive; the layer functions slice it):

* LSTM: (T + 1, N, H): rows 0..T-1 are h_t, row T is the last cell state c_n;
* GRU, RNN: (T, N, H): the h_t.

The last hidden state h_n is output[T-1] (output[0] when ``reverse``).

Double backward (``create_graph=True``): the time loop cannot be recorded, so when
the backward pass is recorded the ``vjp`` rebuilds the layer from the cells (Tensor
ops) on the inputs and differentiates that graph with ``autograd.grad`` (slow, but
exact and differentiable again).  Forward mode (``jvp``) is not implemented here; the
layer functions use the composed cells when forward mode is active.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.engine import grad
from chainrule.autograd.grad_mode import STATE
from chainrule.autograd.primitive import Primitive, apply
from chainrule.backend.recurrent_math import step_order


def _with_bias_column(m: Any, w: Any, b: Any, dt: np.dtype) -> Any:
    """[W | b] (G·H, I + 1), or W itself (as ``dt``) without a bias: the bias rides along in the
    products as the weight of an input that is always 1."""
    wa = w.astype(dt, copy=False)
    return wa if b is None else m.concatenate([wa, b.astype(dt, copy=False)[:, None]], axis=1)


def _with_ones(m: Any, x: Any, ones: bool, dt: np.dtype) -> Any:
    """[X | 1] (T·N, I + 1) from x (T, N, I), or X (T·N, I) without the ones: a pooled copy in ``dt``."""
    T, N, I = x.shape
    xo = m.pooled_empty((T, N, I + (1 if ones else 0)), dt)
    xo[..., :I] = x
    xo[..., I:] = 1.0
    return xo.reshape(T * N, xo.shape[2])  # (sizes spelled out: -1 is ambiguous for an empty batch)


def _project_fm(m: Any, x: Any, w: Any, b: Any, dt: np.dtype) -> Any:
    """W x_t + b for every step, feature-major: (T, G·H, N) from x (T, N, I), w (G·H, I), b (G·H,).

    One batched matmul; the bias rides along as an extra input row of ones.
    """
    T, N, I = x.shape
    xa = m.pooled_empty((T, I if b is None else I + 1, N), dt)
    xa[:, :I] = x.transpose(0, 2, 1)
    xa[:, I:] = 1.0
    wa = _with_bias_column(m, w, b, dt)
    return m.matmul(wa, xa, out=m.pooled_empty((T, wa.shape[0], N), dt))


class InputFold:
    """The first layer's input is an embedding lookup, x = E[idx]: its projection, folded.

    Every input row is a row of E, so the input projection of every step is a row of one
    table, X W_ihᵀ + b = (E_u W_ihᵀ + b)[rows], computed once per distinct index (E_u
    (U, I): the rows of E that idx uses; ``rows`` (T·N,) says which of them each position
    reads, time-major).  Backward, with S (U, G) the pre-activation adjoints summed per
    distinct index (a scatter-add by ``rows``): dW_ih = dZᵀ X = Sᵀ E_u and db = Σ dZ = Σ S,
    so [dW_ih | db] = Sᵀ [E_u | 1].

    The gradient of x itself is dZ W_ih (T·N, I), which the lookup's vjp sums per index into
    E's gradient.  Where nobody can see x's gradient (``STATE.unwatched``: no hook,
    ``retain_grad`` or ``autograd.grad`` input in the backward pass) and the layer takes E
    as an input of its own (``source``), it gives E its share directly instead, by the same
    sums in another order: Σ_{positions of row u} dZ W_ih = S_u W_ih, one (U, G) @ (G, I)
    product instead of (T·N, G) @ (G, I) (w4: 65 rows instead of 2,048), placed at the rows
    idx uses (:meth:`table_grad`).  x then gets no gradient from the layer; whatever else
    reads x still sends its own through the lookup (gradients add up: the two routes sum).

    The table's rows.  Where E has no more rows than the batch has positions (V ≤ T·N: a
    character model), the table has one row per row of E (U = V, ``first`` None) and ``rows``
    is idx itself: every shape follows from V and the batch's shape, so that a compiled plan
    replays batches that use different sets of rows (w4's 65 characters; a text whose rare
    characters come and go).  Otherwise (a larger vocabulary) it has one row per distinct index,
    U ≤ T·N (``first``: which; ``m.distinct_rows``), a count that follows the values: nothing
    here reads it on the host, so that a compiled plan replays batches with any count of
    distinct words (a word model), their arrays sized at run time.

    Exact: the same sums as the unfolded path, with every product over a row of E done
    once instead of once per position.  Only the rows idx uses take part: a NaN or inf in an
    unused row of E changes nothing (with the whole table, E_u holds such rows as zeros
    (``used``), and E's gradient is 0 there whatever W_ih holds).  Shared by the two directions
    of a bidirectional layer (each brings its own W_ih).
    """

    __slots__ = ("m", "src", "rows", "shape", "_xu", "first", "used", "num", "padding_idx", "source")

    def __init__(self, m: Any, E: Any, idx: Any, padding_idx: int | None = None, source: Any = None) -> None:
        """m the arrays' table, E (V, I) the table's array, idx (T, N) the time-major indices
        (checked by the lookup), ``padding_idx`` the lookup's (its row gets no gradient), ``source``
        the Tensor E when x is the lookup's recorded output (the layers then take it as an input
        of their own: :meth:`table_grad`), else None."""
        T, N = idx.shape
        self.m = m
        if E.shape[0] <= T * N:  # the whole table (see the class docstring)
            self.first = None
            self.used, self.rows = m.used_rows(idx.reshape(T * N), E.shape[0])
            self.src = m.where(self.used[:, None], E, 0)  # E_u (V, I), unused rows 0: a copy
        else:
            self.first, self.rows = m.distinct_rows(idx.reshape(T * N), E.shape[0])
            self.used = None
            self.src = E[self.first]  # E_u (U, I): a copy, whatever happens to E afterwards
        self.shape = (T, N)
        self._xu: dict = {}
        self.num = E.shape[0]
        self.padding_idx = padding_idx
        self.source = source

    def xu(self, ones: bool, dt: np.dtype) -> Any:
        """[E_u | 1] (U, I + 1), or E_u without the ones, in ``dt`` (made once per call of the layer)."""
        key = (ones, dt)
        a = self._xu.get(key)
        if a is None:  # (U is not read: a compiled plan replays batches with any count of distinct rows)
            m, src = self.m, self.src
            a = m.astype(m.concatenate((src, m.ones_like(src[:, :1])), axis=1) if ones else src, dt)
            self._xu[key] = a
        return a

    def table(self, w: Any, b: Any, dt: np.dtype) -> Any:
        """P = E_u Wᵀ + b (U, G) from w (G, I), b (G,) or None."""
        return self.m.matmul(self.xu(b is not None, dt), _with_bias_column(self.m, w, b, dt).T)

    def project(self, w: Any, b: Any, dt: np.dtype) -> Any:
        """W x_t + b for every step, batch-major (T, N, G): P read by index."""
        return self.table(w, b, dt).take(self.rows.reshape(self.shape), axis=0)

    def project_fm(self, w: Any, b: Any, dt: np.dtype) -> Any:
        """W x_t + b for every step, feature-major (T, G, N) (as ``_project_fm``)."""
        T, N = self.shape
        tab = self.table(w, b, dt)
        out = self.m.pooled_empty((T, tab.shape[1], N), dt)
        out[...] = tab.take(self.rows.reshape(T, N), axis=0).transpose(0, 2, 1)
        return out

    def sum_rows(self, d: Any) -> Any:
        """S (U, G): the rows of d (T·N, G) summed per distinct index."""
        return self.m.row_sums(self.rows, d, self.src)

    def weight_grad(self, d: Any, ones: bool, summed: Any = None) -> Any:
        """dZᵀ [X | 1] = Sᵀ [E_u | 1] (G, I + 1), or dZᵀ X = Sᵀ E_u (G, I), from d = dZ (T·N, G)
        (``summed``: S, when the caller has it already)."""
        S = self.sum_rows(d) if summed is None else summed
        return self.m.matmul(S.T, self.xu(ones, d.dtype))

    def table_grad(self, S: Any, w: Any) -> Any:
        """The layer's share of dE (V, I), from S (U, G) and w = W_ih (G, I): row first[u] gets
        S_u W_ih (= the sum of dZ W_ih over the positions that read it), every other row 0, and
        the padding row 0 (as the lookup's own vjp gives it)."""
        m = self.m
        SW = m.matmul(S, w.astype(S.dtype, copy=False))
        if self.first is None:  # (S's unused rows are 0, but 0 · inf is not: those rows are set)
            dE = m.where(self.used[:, None], SW, 0)
        else:
            dE = m.zeros((self.num, w.shape[1]), S.dtype)
            dE[self.first] = SW
        if self.padding_idx is not None:
            dE[self.padding_idx] = 0
        return dE


class _Cut(Primitive):
    """y = x.  Its vjp passes the gradient on only once ``open`` (see ``_vjp_recorded``)."""

    __slots__ = ("open",)
    name = "sequence_input"
    saves_inputs = ()
    saves_output = False

    def __init__(self) -> None:
        self.open = False

    def forward(self, m, x):
        return x

    def vjp(self, m, need, g, y, x):
        return (g if self.open else None,)

    def jvp(self, m, dxs, y, x):
        return dxs[0]


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
        # set when x is an embedding lookup (see InputFold); when its ``source`` is set, the
        # layer's last input is that table E, whose values the vjp never reads
        self.fold: InputFold | None = None

    def saved_inputs(self, need: tuple) -> Any:
        """Every input but the embedding table a folded layer takes last (only its gradient)."""
        fold = self.fold
        return range(len(need) - (fold is not None and fold.source is not None))

    def _to_table(self, need: tuple) -> bool:
        """Whether this backward gives x's gradient to the embedding table directly (InputFold)."""
        fold = self.fold
        return fold is not None and fold.source is not None and need[-1] and STATE.unwatched

    def _row_sums(self, d_in: Any, need: tuple, k: int) -> Any:
        """S (U, G), the input projection's adjoint d_in (T·N, G) summed per distinct index, where
        the fold's dW_ih (``need[k]``) or the table's gradient (``_to_table``) reads it; else None."""
        fold = self.fold
        return fold.sum_rows(d_in) if fold is not None and (need[k] or self._to_table(need)) else None

    def _input_grads(self, m: Any, need: tuple, d_in: Any, w_ih: Any, x_shape: tuple, S: Any) -> tuple:
        """(gradient of x, gradient of the table E or None) from the input projection's adjoint
        d_in (T·N, G): dZ W_ih, or, given to the table (``_to_table``), None and
        ``fold.table_grad`` from the row sums S (``_row_sums``)."""
        fold = self.fold
        if fold is not None and S is not None and self._to_table(need):
            return None, fold.table_grad(S, w_ih)
        if not need[0]:
            return None, None
        out = m.pooled_empty((d_in.shape[0], x_shape[-1]), d_in.dtype)
        return m.matmul(d_in, w_ih.astype(d_in.dtype, copy=False), out=out).reshape(x_shape), None

    def _order(self, T: int) -> range:
        return step_order(T, self.reverse)

    def _stack_prev(self, m, hs, h0):
        """(T, N, H): the h_{t-1} that entered each step t."""
        if self.reverse:
            return m.concatenate([hs[1:], h0[None]], axis=0)
        return m.concatenate([h0[None], hs[:-1]], axis=0)

    def _input_projection(self, x, w_ih, bias):
        """X W_ihᵀ + bias, batch-major (T, N, G) (read from the folded table when there is one)."""
        if self.fold is not None:
            return self.fold.project(w_ih, bias, np.result_type(x.dtype, w_ih.dtype))
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

    def _weight_grads(self, m, need, dz_in, dz_hh, x, hprev, w_ih):
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
        S = self._row_sums(d_in, need, k)
        gx, gE = self._input_grads(m, need, d_in, w_ih, x.shape, S)
        gw_ih = self._input_weight_grad(d_in, x, S) if need[k] else None
        gw_hh = d_hh.T @ hprev.reshape(T * N, H) if need[k + 1] else None
        out = [gx, gw_ih, gw_hh]
        if self.has_bias:
            out.append(d_in.sum(axis=0) if need[k + 2] else None)
            out.append(d_hh.sum(axis=0) if need[k + 3] else None)
        if self.fold is not None and self.fold.source is not None:
            out.append(gE)
        return out

    def _input_weight_grad(self, d_in, x, S=None):
        """dW_ih = d_inᵀ X from the input projection's adjoint d_in (T·N, G) (= Sᵀ E_u with the fold,
        ``S`` its row sums when the caller has them)."""
        if self.fold is not None:
            return self.fold.weight_grad(d_in, False, S)
        return d_in.T @ x.reshape(-1, x.shape[-1])

    def _mode(self) -> str:
        return self.kind

    def _vjp_recorded(self, need, g, xs):
        """The vjp when the backward pass is recorded (create_graph=True, double backward).

        The time loop cannot be differentiated again, so the layer is rebuilt from the
        composed cells and that graph is differentiated by the engine (re-entered: this runs
        inside a backward pass), with every step recorded: the gradients come out as
        differentiable Tensors.  The rebuilt layer reads each input through a stand-in
        (``_Cut``) whose vjp is closed during that walk: a vjp returns partial derivatives
        with respect to the node's own inputs (an input computed from another one, h0 from
        x, must not pass its share on: the outer walk does that), and the walk ends there
        (no vjp, hook or ``retain_grad`` of the graph before the layer runs twice).
        """
        from chainrule.nn.functional.recurrent import _layer_composed
        from chainrule.ops import shape as sh

        cut = _Cut()
        stand_ins = [apply(cut, t) if t.requires_grad else t for t in xs]
        x, states, w_ih, w_hh, b_ih, b_hh = self._split(stand_ins)
        ws = [w_ih, w_hh] + ([b_ih, b_hh] if self.has_bias else [])
        out, finals = _layer_composed(self._mode(), x, list(states), ws, self.reverse)
        if self.n_states == 2:
            out = sh.cat([out, sh.unsqueeze(finals[1], 0)], 0)
        wanted = [s for s, t, n in zip(stand_ins, xs, need) if n and t.requires_grad]
        got = iter(() if not wanted else grad(out, wanted, g, create_graph=True, allow_unused=True))
        cut.open = True  # from now on an identity: the gradients depend on xs through the stand-ins
        return tuple(next(got) if n and t.requires_grad else None for t, n in zip(xs, need))

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

    The input projections of all steps are one product [X | 1] [W_ih | b]ᵀ (T·N, 4H), or,
    with the input fold (``self.fold``: x is an embedding lookup E[idx]), a table
    P = [E_u | 1] [W_ih | b]ᵀ (U, 4H) with one row per distinct index, read by the time
    loop at row rows[t, n].  The loop and backpropagation through time are the table's
    ``lstm_forward`` / ``lstm_backward`` (``backend/recurrent_math.py``); from the stacked
    gate adjoints dZ (T·N, 4H) that it returns, the weight gradients are single products:
    [dW_ih | db] = dZᵀ [X | 1] (= Sᵀ [E_u | 1] with the fold, S the rows of dZ summed per
    distinct index), dW_hh = dZᵀ H_prev with H_prev read in place from the output (forward
    direction: the output is written after a copy of h0, so [h0; h_0 … h_{T-2}] lies in one array
    and dW_hh is one product; w4: 5.44 -> 5.22 ms against dZᵀ over the outputs plus dZ_0ᵀ h0),
    dx = dZ W_ih.  (w4, U = 65 of 2,048 rows: 4.3 ms of projection and 4.8 ms of dW_ih
    product become ~0.1 ms and 0.7 ms with the fold.)
    """

    name = "lstm_sequence"
    kind = "LSTM"
    n_states = 2
    fresh_grads = True  # every gradient is a new array (or a view the engine copies)

    def forward(self, m, *xs):
        x, (h0, c0), w_ih, w_hh, b_ih, b_hh = self._split(xs)
        T, N, _ = x.shape
        G = w_hh.shape[0]
        dt = np.result_type(x.dtype, w_ih.dtype)
        m.lstm_threads(dt)  # (before the first product: see the entry)
        bias = None if b_ih is None else b_ih + b_hh
        fold = self.fold
        if fold is None:
            xo = _with_ones(m, x, bias is not None, dt)
            z = m.matmul(xo, _with_bias_column(m, w_ih, bias, dt).T, out=m.pooled_empty((T * N, G), dt))
            z, rows = z.reshape(T, N, G), None
        else:
            xo = fold.xu(bias is not None, dt)
            z, rows = fold.table(w_ih, bias, dt), fold.rows.reshape(T, N)
        buf = prev = None
        if self.keep and not self.reverse:
            # [h0; h_0 … h_{T-1}; c_n] in one array: its first T rows are H_prev, the h_{t-1}
            # entering each step, so that dW_hh = dZᵀ H_prev is one product in the backward
            full = m.pooled_empty((T + 2, N, w_hh.shape[1]), dt)
            full[0] = h0
            buf, prev = full[1:], full[:T]
        out, state = m.lstm_forward(z, rows, h0, c0, w_hh, self.reverse, self.keep, buf)
        # [X | 1] (or [E_u | 1]) is kept: the backward pass multiplies it by dZ (or S)
        self.saved = (state, xo, prev) if self.keep else None
        return out

    def vjp(self, m, need, g, y, *xs):
        if m.is_tensor:
            return self._vjp_recorded(need, g, xs)
        x, (h0, c0), w_ih, w_hh, b_ih, b_hh = self._split(xs)
        state, xo, prev = self.saved
        T, N, I = x.shape
        H = h0.shape[-1]
        dZ, dh0, dc0 = m.lstm_backward(state, g, h0, c0, w_hh, self.reverse, need[1])
        dt = dZ.dtype
        # weight gradients from the stacked gate adjoints dZ (T·N, 4H), rows (t, n):
        #   dW_ih = dZᵀ X,  dW_hh = dZᵀ H_prev,  db = dZᵀ 1,  dx = dZ W_ih
        # H_prev (the h_{t-1} entering each step) is the output shifted by one step, read in
        # place: forward, the first T rows of the array the output lies in after h0 (one
        # product); reverse, y[t+1] and h0 for t = T-1 (two products)
        k = 3
        G = 4 * H
        grads = [None] * len(xs)
        S = self._row_sums(dZ, need, k)
        grads[0], gE = self._input_grads(m, need, dZ, w_ih, (T, N, I), S)
        if gE is not None:
            grads[-1] = gE
        grads[1] = dh0 if need[1] else None
        grads[2] = dc0 if need[2] else None
        bias = self.has_bias and (need[k + 2] or need[k + 3])
        if need[k]:  # [dW_ih | db] = dZᵀ [X | 1] in one product (cheaper than a separate row sum)
            lhs = dZ if S is None else S
            gwx = m.matmul(lhs.T, xo, out=m.pooled_empty((G, I + (1 if self.has_bias else 0)), dt))
            grads[k] = gwx
            if self.has_bias:  # the two as arrays of their own (the engine keeps gradients as they are)
                gw_ih = m.pooled_empty((G, I), dt)
                gw_ih[...] = gwx[:, :I]
                grads[k], db = gw_ih, gwx[:, I].copy()
        elif bias:
            db = dZ.sum(axis=0)
        if need[k + 1] and prev is not None:  # H_prev whole, h0 in its first rows (see forward)
            grads[k + 1] = m.matmul(dZ.T, prev.reshape(T * N, H), out=m.pooled_empty((G, H), dt))
        elif need[k + 1]:
            n = (T - 1) * N  # the steps whose h_{t-1} is an output
            if self.reverse:
                gw_hh = m.matmul(dZ[:n].T, y[1:T].reshape(n, H), out=m.pooled_empty((G, H), dt))
                first = dZ[n:]
            else:
                gw_hh = m.matmul(dZ[N:].T, y[: T - 1].reshape(n, H), out=m.pooled_empty((G, H), dt))
                first = dZ[:N]
            gw_hh += m.matmul(first.T, h0)  # (the table's product: BLAS keeps one thread while oneDNN holds them)
            grads[k + 1] = gw_hh
        if bias:
            grads[k + 2] = db if need[k + 2] else None
            grads[k + 3] = db.copy() if need[k + 3] else None  # its own array: each leaf owns its gradient
        return tuple(grads)


class OnednnLSTMSequence(LSTMSequence):
    """:class:`LSTMSequence` computed by oneDNN's LSTM primitive (``backend/rnn_onednn.py``, the
    kernel under PyTorch's CPU LSTM; an optional extra): float32 on the CPU, when it is
    installed.  The same equations and inputs; the forward leaves a workspace (the gates of every
    step) that the backward reads, and the backward gives every gradient in one call.  The input
    fold is not used (oneDNN projects every step's input itself).  When the backward pass is
    recorded (create_graph) it is rebuilt from the cells, as :class:`LSTMSequence`'s."""

    name = "lstm_sequence_onednn"

    def forward(self, m, *xs):
        x, (h0, c0), w_ih, w_hh, b_ih, b_hh = self._split(xs)
        bias = None if b_ih is None else b_ih + b_hh
        out, workspace = m.lstm_onednn_forward(x, h0, c0, w_ih, w_hh, bias, self.reverse, self.keep)
        self.saved = (workspace, bias) if self.keep else None
        return out

    def vjp(self, m, need, g, y, *xs):
        if m.is_tensor:
            return self._vjp_recorded(need, g, xs)
        x, (h0, c0), w_ih, w_hh, b_ih, b_hh = self._split(xs)
        workspace, bias = self.saved
        dx, dh0, dc0, dw_ih, dw_hh, db = m.lstm_onednn_backward(x, h0, c0, w_ih, w_hh, bias, y, workspace, g,
                                                                self.reverse)
        grads = [dx, dh0, dc0, dw_ih, dw_hh]
        if self.has_bias:
            grads += [db, db.copy()]  # (two arrays: each leaf owns its gradient)
        return tuple(a if n else None for a, n in zip(grads, need))


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
        dt = np.result_type(x.dtype, w_ih.dtype)
        scale = m.ones((3 * H, 1), dt)
        scale[:H2] = 0.5
        b = None
        if b_ih is not None:
            b = b_ih.astype(dt, copy=True)
            b[:H2] += b_hh[:H2]
            b *= scale[:, 0]
        if self.fold is None:
            P = _project_fm(m, x, w_ih * scale, b, dt)  # (T, 3H, N) input projections
        else:
            P = self.fold.project_fm(w_ih * scale, b, dt)
        b_hn = None if b_hh is None else b_hh[H2:].astype(dt)[:, None]
        w_rec = w_hh * scale
        acts = m.empty((T, 3 * H, N), dt)  # [r z n]ᵀ per step
        hw_n = m.pooled_empty((T, H, N), dt)  # W_hn h_{t-1} + b_hn
        hs = m.pooled_empty((T, H, N), dt)
        rec = m.empty((3 * H, N), dt)
        h = h0.T.astype(dt, order="C")
        for t in self._order(T):
            a = acts[t]
            m.matmul(w_rec, h, out=rec)
            rz = a[:H2]
            m.add(rec[:H2], P[t, :H2], out=rz)
            m.tanh(rz, out=rz)
            rz *= 0.5
            rz += 0.5
            hn = hw_n[t]
            if b_hn is not None:
                m.add(rec[H2:], b_hn, out=hn)
            else:
                hn[...] = rec[H2:]
            n = a[H2:]
            m.multiply(a[:H], hn, out=n)
            n += P[t, H2:]
            m.tanh(n, out=n)
            # h = n + z ⊙ (h_prev - n)
            h_t = hs[t]
            m.subtract(h, n, out=h_t)
            h_t *= a[H:H2]
            h_t += n
            h = h_t
        self.saved = (acts, hw_n, hs)
        return hs.transpose(0, 2, 1).copy()

    def vjp(self, m, need, g, y, *xs):
        if m.is_tensor:
            return self._vjp_recorded(need, g, xs)
        x, (h0,), w_ih, w_hh, b_ih, b_hh = self._split(xs)
        acts, hw_n, hs = self.saved
        T, N, I = x.shape
        H = h0.shape[-1]
        H2 = 2 * H
        dt = acts.dtype
        w_hhT = w_hh.T.astype(dt, order="C")  # (H, 3H)
        gT = g.transpose(0, 2, 1).astype(dt, order="C")  # (T, H, N)
        h0T = h0.T.astype(dt, order="C")
        d_in = m.pooled_empty(acts.shape, dt)  # adjoint of W_ih x + b_ih (per step, [r z n])
        d_hh = m.pooled_empty(acts.shape, dt)  # adjoint of W_hh h + b_hh
        dh_next = m.zeros((H, N), dt)
        dh = m.empty((H, N), dt)
        tmp = m.empty((H, N), dt)
        order = self._order(T)
        first = order[0]
        for t in reversed(order):
            a = acts[t]
            r, z, n = a[:H], a[H:H2], a[H2:]
            if t == first:
                h_prev = h0T
            else:
                h_prev = hs[t + 1] if self.reverse else hs[t - 1]
            m.add(gT[t], dh_next, out=dh)
            di, dk = d_in[t], d_hh[t]
            dr, dzz, dn = di[:H], di[H:H2], di[H2:]
            # δn_pre = dh ⊙ (1 - z) ⊙ (1 - n²)
            m.multiply(n, n, out=tmp)
            m.subtract(1.0, tmp, out=tmp)
            m.multiply(dh, tmp, out=dn)
            m.subtract(1.0, z, out=tmp)
            dn *= tmp
            # δz_pre = dh ⊙ (h_prev - n) ⊙ z(1 - z)
            tmp *= z
            m.subtract(h_prev, n, out=dzz)
            dzz *= dh
            dzz *= tmp
            # δr_pre = δn_pre ⊙ (W_hn h + b_hn) ⊙ r(1 - r)
            m.subtract(1.0, r, out=tmp)
            tmp *= r
            tmp *= hw_n[t]
            m.multiply(dn, tmp, out=dr)
            dk[:H2] = di[:H2]
            m.multiply(dn, r, out=dk[H2:])
            # dh_{t-1} = dh ⊙ z + W_hhᵀ [δr δz δn⊙r]
            m.matmul(w_hhT, dk, out=dh_next)
            m.multiply(dh, z, out=tmp)
            dh_next += tmp
        # the input side's adjoints as rows (t, n), (T·N, 3H): one copy that transposes each step's
        # (3H, N) block, which the input fold's row sums then read as they are (its transposed
        # (3H, T·N) form cost them a second, whole-array transposing copy: 9 ms of w4's GRU step)
        di_rows = d_in.transpose(0, 2, 1).reshape(T * N, 3 * H)
        mh = d_hh.transpose(1, 0, 2).reshape(3 * H, T * N)
        S = self._row_sums(di_rows, need, 2)
        gx, gE = self._input_grads(m, need, di_rows, w_ih, x.shape, S)
        gw_ih = self._input_weight_grad(di_rows, x, S) if need[2] else None
        gw_hh = mh @ self._stack_prev(m, y, h0).reshape(T * N, H) if need[3] else None
        grads = [gx, dh_next.T if need[1] else None, gw_ih, gw_hh]
        if self.has_bias:
            grads += [di_rows.sum(axis=0) if need[4] else None, mh.sum(axis=1) if need[5] else None]
        if self.fold is not None and self.fold.source is not None:
            grads.append(gE)
        return tuple(grads)


class OnednnGRUSequence(GRUSequence):
    """:class:`GRUSequence` computed by oneDNN's "linear before reset" GRU primitive
    (``backend/rnn_onednn.py``; PyTorch's GRU equations): float32 on the CPU, when the ``onednn``
    extra is installed.  As :class:`OnednnLSTMSequence`: the forward leaves a workspace that
    the backward reads, the backward gives every gradient in one call, no input fold, and a
    recorded backward pass (create_graph) is rebuilt from the cells."""

    name = "gru_sequence_onednn"
    fresh_grads = True  # every gradient is a new array

    def forward(self, m, *xs):
        x, (h0,), w_ih, w_hh, b_ih, b_hh = self._split(xs)
        out, *state = m.gru_onednn_forward(x, h0, w_ih, w_hh, b_ih, b_hh, self.reverse, self.keep)
        self.saved = state if self.keep else None  # workspace, then the weights and bias in oneDNN's order
        return out

    def vjp(self, m, need, g, y, *xs):
        if m.is_tensor:
            return self._vjp_recorded(need, g, xs)
        x, (h0,) = xs[0], xs[1:2]
        workspace, w_layer, w_iter, bias = self.saved
        grads = m.gru_onednn_backward(x, h0, w_layer, w_iter, bias, y, workspace, g, self.reverse)
        grads = grads if self.has_bias else grads[:4]
        return tuple(a if n else None for a, n in zip(grads, need))


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
                m.maximum(a, 0, out=a)
            else:
                m.tanh(a, out=a)
            h = a
        return out

    def vjp(self, m, need, g, y, *xs):
        if m.is_tensor:
            return self._vjp_recorded(need, g, xs)
        x, (h0,), w_ih, w_hh, b_ih, b_hh = self._split(xs)
        T, N, _ = x.shape
        H = h0.shape[-1]
        da = m.empty_like(y)
        dh_next = m.zeros((N, H), y.dtype)
        order = self._order(T)
        for t in reversed(order):
            d = da[t]
            m.add(g[t], dh_next, out=d)
            if self.relu:
                d *= y[t] > 0
            else:
                d *= 1.0 - y[t] * y[t]
            dh_next = d @ w_hh
        hprev = self._stack_prev(m, y, h0) if need[3] else y
        grads = self._weight_grads(m, need, da, da, x, hprev, w_ih)
        return (grads[0], dh_next if need[1] else None, *grads[1:])
