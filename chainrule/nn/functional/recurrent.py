"""Recurrent cells and multi-layer recurrent sequences (functional forms of RNN, LSTM, GRU).

Notation (the notes' and PyTorch's): x_t the input at time t, h_t the hidden
state, c_t the LSTM cell state, σ the logistic sigmoid, ⊙ the elementwise product.

Cells (one time step; compositions of Tensor ops, so they support double backward
and forward mode):

* ``rnn_tanh_cell`` / ``rnn_relu_cell``:  h' = act(W_ih x + b_ih + W_hh h + b_hh)
* ``lstm_cell``:  [i f g o] = W_ih x + b_ih + W_hh h + b_hh (gate order i, f, g, o);
  i, f, o = σ(·), g = tanh(·);  c' = f ⊙ c + i ⊙ g;  h' = o ⊙ tanh(c')
* ``gru_cell``:  r = σ(W_ir x + b_ir + W_hr h + b_hr),  z = σ(W_iz x + b_iz + W_hz h + b_hz),
  n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),  h' = (1 - z) ⊙ n + z ⊙ h

Sequences (``rnn_tanh``, ``rnn_relu``, ``lstm``, ``gru``): several layers, one or
two directions, dropout between layers, run by the fused per-layer kernels of
``_rnn_kernel`` (backprop through time in NumPy) unless ``fused=False``.
"""

from __future__ import annotations

from typing import Any, Sequence

from chainrule.autograd.grad_mode import STATE
from chainrule.autograd.primitive import apply, table_of
from chainrule.autograd.tensor import Tensor
from chainrule.backend import rnn_onednn
from chainrule.nn.functional import _rnn_kernel as K
from chainrule.nn.functional.dropout import dropout as _dropout
from chainrule.nn.functional.embedding import lookup_source
from chainrule.ops import elementwise as ew
from chainrule.ops import shape as sh
from chainrule.ops.indexing import getitem
from chainrule.ops.linalg import matmul

__all__ = [
    "gru",
    "gru_cell",
    "lstm",
    "lstm_cell",
    "rnn_relu",
    "rnn_relu_cell",
    "rnn_tanh",
    "rnn_tanh_cell",
]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


# ------------------------------------------------------------------------------ cells
def _check_cell(name: str, input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, gates: int) -> None:
    H = w_hh.shape[-1]
    if w_ih.ndim != 2 or w_hh.shape != (gates * H, H):
        raise ValueError(
            f"{name}: expected w_ih ({gates}·H, input_size) and w_hh ({gates * H}, {H}), "
            f"got {tuple(w_ih.shape)} and {tuple(w_hh.shape)}"
        )
    if input.ndim not in (1, 2) or input.shape[-1] != w_ih.shape[1]:
        raise ValueError(
            f"{name}: expected input of shape (N, {w_ih.shape[1]}) or ({w_ih.shape[1]},), "
            f"got {tuple(input.shape)}"
        )
    want = tuple(input.shape[:-1]) + (H,)
    if tuple(hx.shape) != want:
        raise ValueError(f"{name}: expected hidden state of shape {want}, got {tuple(hx.shape)}")


def _affine(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    y = matmul(x, sh.t(w))
    return y if b is None else y + b


def _pre(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Any, b_hh: Any) -> Tensor:
    return _affine(input, w_ih, b_ih) + _affine(hx, w_hh, b_hh)


def rnn_tanh_cell(
    input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None, b_hh: Tensor | None = None
) -> Tensor:
    """One Elman step with tanh: h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh).

    input (N, I) or (I,); hx (N, H) or (H,); w_ih (H, I); w_hh (H, H); biases (H,).
    """
    _check_cell("rnn_tanh_cell", input, hx, w_ih, w_hh, 1)
    return ew.tanh(_pre(input, hx, w_ih, w_hh, b_ih, b_hh))


def rnn_relu_cell(
    input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None, b_hh: Tensor | None = None
) -> Tensor:
    """One Elman step with ReLU: h' = max(0, x W_ihᵀ + b_ih + h W_hhᵀ + b_hh) (the notes' IRNN step)."""
    _check_cell("rnn_relu_cell", input, hx, w_ih, w_hh, 1)
    return ew.relu(_pre(input, hx, w_ih, w_hh, b_ih, b_hh))


def lstm_cell(
    input: Tensor,
    hx: Sequence[Tensor],
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
) -> tuple:
    """One LSTM step; returns (h', c').

    input (N, I) or (I,); hx = (h, c), each (N, H) or (H,); w_ih (4H, I); w_hh (4H, H);
    biases (4H,).  Gates in PyTorch's order i, f, g, o:
    i = σ(·), f = σ(·), g = tanh(·), o = σ(·);  c' = f ⊙ c + i ⊙ g;  h' = o ⊙ tanh(c').
    """
    if not isinstance(hx, (tuple, list)) or len(hx) != 2:
        raise TypeError("lstm_cell: hx must be a pair (h, c)")
    h, c = hx
    _check_cell("lstm_cell", input, h, w_ih, w_hh, 4)
    if tuple(c.shape) != tuple(h.shape):
        raise ValueError(f"lstm_cell: expected cell state of shape {tuple(h.shape)}, got {tuple(c.shape)}")
    H = w_hh.shape[1]
    z = _pre(input, h, w_ih, w_hh, b_ih, b_hh)
    i = ew.sigmoid(getitem(z, (..., slice(0, H))))
    f = ew.sigmoid(getitem(z, (..., slice(H, 2 * H))))
    g = ew.tanh(getitem(z, (..., slice(2 * H, 3 * H))))
    o = ew.sigmoid(getitem(z, (..., slice(3 * H, 4 * H))))
    c_new = f * c + i * g
    h_new = o * ew.tanh(c_new)
    return h_new, c_new


def gru_cell(
    input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None, b_hh: Tensor | None = None
) -> Tensor:
    """One GRU step (PyTorch's equations, gate order r, z, n); returns h'.

    input (N, I) or (I,); hx (N, H) or (H,); w_ih (3H, I); w_hh (3H, H); biases (3H,).
    r = σ(W_ir x + b_ir + W_hr h + b_hr);  z = σ(W_iz x + b_iz + W_hz h + b_hz);
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn));  h' = (1 - z) ⊙ n + z ⊙ h.
    """
    _check_cell("gru_cell", input, hx, w_ih, w_hh, 3)
    H = w_hh.shape[1]
    a = _affine(input, w_ih, b_ih)
    b = _affine(hx, w_hh, b_hh)

    def part(t: Tensor, k: int) -> Tensor:
        return getitem(t, (..., slice(k * H, (k + 1) * H)))

    r = ew.sigmoid(part(a, 0) + part(b, 0))
    z = ew.sigmoid(part(a, 1) + part(b, 1))
    n = ew.tanh(part(a, 2) + r * part(b, 2))
    return n + z * (hx - n)


# -------------------------------------------------------------------------- sequences
def _layer_composed(
    mode: str, x: Tensor, states: list, ws: list, reverse: bool, fold: K.InputFold | None = None,
    onednn: bool = True,
) -> tuple:
    """One layer, one direction, by the cells in a Python loop: (output (T, N, H), final states).
    (``fold`` and ``onednn`` are ignored: the cells project every step's input themselves.)"""
    T = x.shape[0]
    steps = range(T - 1, -1, -1) if reverse else range(T)
    outs: list = [None] * T
    if mode == "LSTM":
        h, c = states
        for t in steps:
            h, c = lstm_cell(getitem(x, t), (h, c), *ws)
            outs[t] = h
        return sh.stack(outs, 0), [h, c]
    cell = {"GRU": gru_cell, "RNN_TANH": rnn_tanh_cell, "RNN_RELU": rnn_relu_cell}[mode]
    h = states[0]
    for t in steps:
        h = cell(getitem(x, t), h, *ws)
        outs[t] = h
    return sh.stack(outs, 0), [h]


def _layer_fused(
    mode: str, x: Tensor, states: list, ws: list, reverse: bool, fold: K.InputFold | None = None,
    onednn: bool = True,
) -> tuple:
    """One layer, one direction, by the fused sequence primitive (``fold``: see ``_input_fold``;
    ``onednn=False``: chainrule's own loop even where oneDNN's primitive could run it)."""
    T = x.shape[0]
    has_bias = len(ws) == 4
    if mode == "LSTM":  # (with the fold, chainrule's own loop: see _input_fold)
        on_onednn = onednn and fold is None and _on_onednn(mode, x, [*states, *ws])
        op: K._Sequence = (K.OnednnLSTMSequence if on_onednn else K.LSTMSequence)(reverse, has_bias)
    elif mode == "GRU":
        on_onednn = onednn and _on_onednn(mode, x, [*states, *ws])
        op = (K.OnednnGRUSequence if on_onednn else K.GRUSequence)(reverse, has_bias)
    else:
        op = K.RNNSequence(reverse, has_bias, "relu" if mode == "RNN_RELU" else "tanh")
    op.keep = STATE.enabled and any(t.requires_grad for t in (x, *states, *ws))
    op.fold = fold
    source = () if fold is None or fold.source is None else (fold.source,)  # (see InputFold: its gradient)
    y = apply(op, x, *states, *ws, *source)
    last = 0 if reverse else T - 1
    if mode == "LSTM":
        return getitem(y, slice(0, T)), [getitem(y, last), getitem(y, T)]
    return y, [getitem(y, last)]


def _on_onednn(mode: str, x: Tensor, tensors: list) -> bool:
    """Whether an LSTM or GRU of these tensors can run on oneDNN's primitive (``OnednnLSTMSequence``,
    ``OnednnGRUSequence``): on the CPU, all float32 and non-empty, oneDNN installed.  Such a
    layer projects its input itself, so it takes no input fold.  An LSTM whose input an embedding
    lookup gives runs chainrule's own loop with the fold instead, its products on oneDNN's sgemm
    and its cell on the same threads (``backend/recurrent_math.py``): w4's step 24 -> 28.5 steps/s
    (docs/performance.md#lstm-fold-onednn)."""
    return (mode in ("LSTM", "GRU") and x.device.type == "cpu"
            and rnn_onednn.applies([t._array for t in (x, *tensors)]))


def _input_fold(input: Tensor, batch_first: bool) -> K.InputFold | None:
    """The first layer's input fold (``_rnn_kernel.InputFold``) when ``input`` is an embedding
    lookup's output E[idx] with 2-D indices, else None.

    Decided from the graph, never from the values: ``input`` must be the lookup's output
    itself, unchanged since (``embedding.lookup_source``), as ``F.embedding`` /
    ``nn.Embedding`` return it, or through anything that returns its input as it is
    (``Dropout`` in eval mode).  Not folded: any other op in between (a transpose of
    one's own, training-mode dropout, a slice), unbatched input (the module unsqueezes
    it), the layers after the first (their input is the previous layer's output), and
    the packed-sequence path (it runs slices of the padded input).
    """
    src = lookup_source(input)
    if src is None:
        return None
    E, op = src
    idx = op.idx
    if idx.ndim != 2 or idx.shape + E._array.shape[1:] != tuple(input.shape):
        return None
    m = table_of((E._array,), "recurrent layer")
    # the table as an input of the layers only where x's graph leads to it (a recorded lookup):
    # a lookup under no_grad gave x no gradient path to E, and must not gain one here
    source = E if input._op is op and input.requires_grad else None
    return K.InputFold(m, E._array, idx.T if batch_first else idx, op.padding_idx, source)  # indices time-major


def _check_sequence(
    name: str, input: Tensor, hx: list, params: list, gates: int, num_layers: int, D: int, has_biases: bool
) -> tuple:
    per = 4 if has_biases else 2
    if len(params) != num_layers * D * per:
        raise ValueError(
            f"{name}: expected {num_layers * D * per} weight tensors "
            f"(num_layers={num_layers}, directions={D}, has_biases={has_biases}), got {len(params)}"
        )
    H = params[1].shape[1]
    for layer in range(num_layers):
        for d in range(D):
            w_ih, w_hh = params[(layer * D + d) * per : (layer * D + d) * per + 2]
            in_size = input.shape[-1] if layer == 0 else D * H
            if tuple(w_ih.shape) != (gates * H, in_size) or tuple(w_hh.shape) != (gates * H, H):
                raise ValueError(
                    f"{name}: layer {layer} direction {d}: expected weight_ih ({gates * H}, {in_size}) and "
                    f"weight_hh ({gates * H}, {H}), got {tuple(w_ih.shape)} and {tuple(w_hh.shape)}"
                )
    N = input.shape[1]
    for k, s in enumerate(hx):
        want = (num_layers * D, N, H)
        if tuple(s.shape) != want:
            what = "h0" if k == 0 else "c0"
            raise ValueError(f"{name}: expected {what} of shape {want}, got {tuple(s.shape)}")
    return H, N


def _run(
    name: str,
    mode: str,
    input: Tensor,
    hx: Any,
    params: Sequence[Tensor],
    has_biases: bool,
    num_layers: int,
    dropout: float,
    train: bool,
    bidirectional: bool,
    batch_first: bool,
    fused: bool | None,
    onednn: bool = True,
) -> tuple:
    """The shared driver of rnn_tanh/rnn_relu/lstm/gru; returns (output, [h_n, (c_n)]).

    ``onednn=False`` keeps the layers off oneDNN's primitives: a caller running many one-off
    shapes (``RNNBase._forward_packed``: one pass per distinct length) would pay for making a
    primitive per shape more than the passes cost on chainrule's own loop."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__}")
    if input.ndim != 3:
        raise ValueError(f"{name}: expected a 3-D input (L, N, H_in) or (N, L, H_in), got shape {tuple(input.shape)}")
    if not 0.0 <= dropout <= 1.0:
        raise ValueError(f"{name}: dropout must be a probability in [0, 1], got {dropout}")
    params = list(params)
    D = 2 if bidirectional else 1
    per = 4 if has_biases else 2
    x = sh.transpose(input, 0, 1) if batch_first else input
    n_states = 2 if mode == "LSTM" else 1
    H = params[1].shape[1] if len(params) > 1 else 0
    if hx is None:
        hx = [input.new_zeros((num_layers * D, x.shape[1], H))] * n_states
    else:
        hx = list(hx) if isinstance(hx, (tuple, list)) else [hx]
        if len(hx) != n_states:
            raise ValueError(f"{name}: expected {n_states} initial state tensor(s), got {len(hx)}")
    _check_sequence(name, x, hx, params, _GATES[mode], num_layers, D, has_biases)
    if x.shape[0] == 0:
        raise ValueError(f"{name}: the input sequence is empty (length 0)")
    if fused is None:
        fused = STATE.forward_depth == 0  # the fused kernels have no forward-mode rule
    run_layer = _layer_fused if fused else _layer_composed
    # (an LSTM takes the fold on oneDNN's machines too: its own loop then runs on oneDNN's threads)
    foldable = fused and (mode == "LSTM" or not onednn or not _on_onednn(mode, x, [*hx, *params]))
    fold = _input_fold(input, batch_first) if foldable else None
    finals: list = [[] for _ in range(n_states)]
    for layer in range(num_layers):
        outs = []
        for d in range(D):
            k = layer * D + d
            states = [getitem(s, k) for s in hx]
            ws = params[k * per : (k + 1) * per]
            out, last = run_layer(mode, x, states, ws, reverse=d == 1, fold=fold if layer == 0 else None,
                                  onednn=onednn)
            outs.append(out)
            for j in range(n_states):
                finals[j].append(last[j])
        x = sh.cat(outs, 2) if D == 2 else outs[0]
        if train and dropout > 0 and layer < num_layers - 1:
            x = _dropout(x, dropout)
    output = sh.transpose(x, 0, 1) if batch_first else x
    return output, [sh.stack(f, 0) for f in finals]


_SEQ_DOC = """
    input (L, N, H_in), or (N, L, H_in) with ``batch_first``; ``hx`` the initial
    state{s} of shape (num_layers·D, N, H) (zeros when None), D = 2 if
    ``bidirectional`` else 1.  ``params`` lists, layer by layer and direction by
    direction (forward first), w_ih (G·H, in), w_hh (G·H, H) and, with
    ``has_biases``, b_ih (G·H,), b_hh (G·H,) — the order of PyTorch's
    ``_flat_weights``.  Layer k > 0 reads the concatenated outputs of layer k-1
    (in = D·H), with dropout(p=``dropout``) between layers when ``train``.
    ``fused`` (default: on unless forward-mode AD is active) runs each layer and
    direction as one fused primitive (fast; double backward by a recorded
    recomputation); ``fused=False`` composes the cells step by step.
    When ``input`` is an embedding lookup's output E[idx] (``F.embedding``,
    ``nn.Embedding``, as returned), the fused first layer computes its input
    projection once per distinct index, (E_u W_ihᵀ + b)[idx], and dW_ih, db from
    the adjoints summed per index: the same numbers to rounding (the cases it
    covers: ``recurrent._input_fold``).
"""


def rnn_tanh(
    input: Tensor,
    hx: Tensor | None,
    params: Sequence[Tensor],
    has_biases: bool = True,
    num_layers: int = 1,
    dropout: float = 0.0,
    train: bool = False,
    bidirectional: bool = False,
    batch_first: bool = False,
    fused: bool | None = None,
) -> tuple:
    out, (h,) = _run("rnn_tanh", "RNN_TANH", input, hx, params, has_biases, num_layers, dropout, train,
                     bidirectional, batch_first, fused)
    return out, h


def rnn_relu(
    input: Tensor,
    hx: Tensor | None,
    params: Sequence[Tensor],
    has_biases: bool = True,
    num_layers: int = 1,
    dropout: float = 0.0,
    train: bool = False,
    bidirectional: bool = False,
    batch_first: bool = False,
    fused: bool | None = None,
) -> tuple:
    out, (h,) = _run("rnn_relu", "RNN_RELU", input, hx, params, has_biases, num_layers, dropout, train,
                     bidirectional, batch_first, fused)
    return out, h


def gru(
    input: Tensor,
    hx: Tensor | None,
    params: Sequence[Tensor],
    has_biases: bool = True,
    num_layers: int = 1,
    dropout: float = 0.0,
    train: bool = False,
    bidirectional: bool = False,
    batch_first: bool = False,
    fused: bool | None = None,
) -> tuple:
    out, (h,) = _run("gru", "GRU", input, hx, params, has_biases, num_layers, dropout, train,
                     bidirectional, batch_first, fused)
    return out, h


def lstm(
    input: Tensor,
    hx: Sequence[Tensor] | None,
    params: Sequence[Tensor],
    has_biases: bool = True,
    num_layers: int = 1,
    dropout: float = 0.0,
    train: bool = False,
    bidirectional: bool = False,
    batch_first: bool = False,
    fused: bool | None = None,
) -> tuple:
    out, (h, c) = _run("lstm", "LSTM", input, hx, params, has_biases, num_layers, dropout, train,
                       bidirectional, batch_first, fused)
    return out, h, c


rnn_tanh.__doc__ = (
    "Multi-layer Elman RNN with tanh: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh); "
    "returns (output (L, N, D·H), h_n (num_layers·D, N, H)).\n" + _SEQ_DOC.format(s="")
)
rnn_relu.__doc__ = (
    "Multi-layer Elman RNN with ReLU (the notes' identity RNN when W_hh = I): "
    "h_t = max(0, W_ih x_t + b_ih + W_hh h_{t-1} + b_hh); returns (output, h_n).\n" + _SEQ_DOC.format(s="")
)
gru.__doc__ = (
    "Multi-layer GRU (gates r, z, n; see ``gru_cell``); returns (output (L, N, D·H), "
    "h_n (num_layers·D, N, H)).\n" + _SEQ_DOC.format(s="")
)
lstm.__doc__ = (
    "Multi-layer LSTM (gates i, f, g, o; see ``lstm_cell``); returns (output (L, N, D·H), "
    "h_n, c_n (num_layers·D, N, H)).  ``hx`` = (h0, c0) or None.\n" + _SEQ_DOC.format(s="s")
)
