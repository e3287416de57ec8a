"""Table entries of the LSTM and GRU layers through oneDNN (``onednn.py``): one layer, one
direction, a whole sequence forward, and backpropagation through time, float32.

PyTorch's CPU LSTM is oneDNN's LSTM primitive.  It runs a step's recurrent product and its
gate arithmetic as one threaded kernel, where chainrule's own loop (``recurrent_math.py``) calls
OpenBLAS for the product and a one-thread C cell for the gates: on w4's layer (T 64, N 32,
H 256) at two threads, 8.7 ms forward against 18.6.  The equations are those of
``recurrent_math.py`` (PyTorch's, gates i, f, g, o):

    a_t = W_ih x_t + W_hh h_{t-1} + b;  i, f, o = σ(a_t),  g = tanh(a_t)
    c_t = f ⊙ c_{t-1} + i ⊙ g;  h_t = o ⊙ tanh(c_t)

with one bias b = b_ih + b_hh (their gradients are equal: both are db).  Shapes (PyTorch's
layouts, any strides: oneDNN reorders them): x (T, N, I), h0, c0 (N, H), w_ih (4H, I), w_hh
(4H, H), b (4H,).  oneDNN's own names: the layer input is ``src_layer``, the states
``src_iter`` / ``src_iter_c``, the weights ``weights_layer`` (seen as (1, 1, I, 4, H)) and
``weights_iter``; the training forward leaves a ``workspace`` (the gates of every step) that
the backward reads.  ``reverse`` runs t = T-1 … 0 (oneDNN's right-to-left direction); output
row t still belongs to input position t.

The GRU is oneDNN's "linear before reset" GRU, which is PyTorch's (gates r, z, n):

    r = σ(W_ir x + b_ir + W_hr h + b_hr),  z = σ(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),  h' = (1 - z) ⊙ n + z ⊙ h

oneDNN orders the gates u (= z), r, n, and its bias has four rows, (b_iz + b_hz, b_ir + b_hr,
b_in, b_hn): b_hn stays apart because r multiplies it.  So the GRU entries take PyTorch's
weights, put their gate blocks in oneDNN's order (a copy of the weights per forward, (3H, I + H)
floats, small against the layer's work, which the backward reads again), and put the gradients
back in PyTorch's order.
"""

from __future__ import annotations

import ctypes
from typing import Any, NamedTuple, Sequence

import numpy as np

from chainrule.backend import onednn
from chainrule.backend.onednn import ARG, Step, any_md, layout, readable

_LEFT2RIGHT, _RIGHT2LEFT = 1, 2  # dnnl_rnn_direction_t


def _state_view(a: np.ndarray) -> tuple:
    """(shape, strides) of a state (N, H) seen as oneDNN's (layers 1, directions 1, N, H)."""
    return (1, 1) + a.shape, (a.size, a.size) + layout(a)


def _weights_view(w: np.ndarray, H: int) -> tuple:
    """(shape, strides) of PyTorch's weights (G·H, In) seen as oneDNN's (1, 1, In, G, H):
    element [i, gate, o] is w[gate·H + o, i]."""
    s0, s1 = layout(w)
    return (1, 1, w.shape[1], w.shape[0] // H, H), (w.size, w.size, s1, H * s0, s0)


def _bias_view(b: np.ndarray, H: int) -> tuple:
    """(shape, strides) of a bias (B·H,) seen as oneDNN's (1, 1, B, H)."""
    (s,) = layout(b)
    return (1, 1, b.size // H, H), (b.size, b.size, H * s, s)


class _Cell(NamedTuple):
    """What differs between the LSTM and the GRU primitive: the gate count G, the bias rows
    (the GRU's has one more than its gates), the state names, and the argument orders of the
    C functions that describe the forward and the backward (None: an argument left out, the
    LSTM's peephole and projection)."""

    what: str
    gates: int
    bias_rows: int
    states: tuple
    forward_fn: str
    forward_order: tuple
    backward_fn: str
    backward_order: tuple


def _backward_order(forward_order: tuple) -> tuple:
    """The backward's arguments: the forward's, then the gradient of each in the same order."""
    return forward_order + tuple(None if n is None else "diff_" + n for n in forward_order)


_LSTM_ORDER = ("src_layer", "src_iter", "src_iter_c", "weights_layer", "weights_iter", None, None, "bias",
               "dst_layer", "dst_iter", "dst_iter_c")
_GRU_ORDER = ("src_layer", "src_iter", "weights_layer", "weights_iter", "bias", "dst_layer", "dst_iter")
LSTM = _Cell("LSTM", 4, 4, ("iter", "iter_c"), "dnnl_lstm_forward_primitive_desc_create", _LSTM_ORDER,
             "dnnl_lstm_backward_primitive_desc_create", _backward_order(_LSTM_ORDER))
GRU = _Cell("GRU", 3, 4, ("iter",), "dnnl_lbr_gru_forward_primitive_desc_create", _GRU_ORDER,
            "dnnl_lbr_gru_backward_primitive_desc_create", _backward_order(_GRU_ORDER))


def _mds(cell: _Cell, dims: tuple, diff: bool = False) -> dict:
    """Descriptors whose layouts the primitive chooses, one per argument of the forward (and,
    with ``diff``, of the gradients too).  ``dims`` = (T, N, I, H)."""
    T, N, I, H = dims
    state = (1, 1, N, H)
    shapes = {"src_layer": (T, N, I), "weights_layer": (1, 1, I, cell.gates, H),
              "weights_iter": (1, 1, H, cell.gates, H), "bias": (1, 1, cell.bias_rows, H), "dst_layer": (T, N, H)}
    for s in cell.states:
        shapes["src_" + s] = shapes["dst_" + s] = state
    if diff:
        shapes.update({"diff_" + n: shape for n, shape in shapes.items()})
    return {n: any_md(shape) for n, shape in shapes.items()}


def _forward_pd(cell: _Cell, prop: int, direction: int, dims: tuple) -> Any:
    mds = _mds(cell, dims)
    pd = ctypes.c_void_p()
    onednn.check(getattr(onednn.library(), cell.forward_fn)(
        ctypes.byref(pd), onednn.engine(), prop, direction,
        *[None if n is None else mds[n] for n in cell.forward_order], ctypes.c_uint(0), onednn.attr()),
        f"{cell.what} forward")
    onednn.destroy(*mds.values())
    return pd


def _backward_pd(cell: _Cell, direction: int, dims: tuple) -> Any:
    lib = onednn.library()
    hint = _forward_pd(cell, onednn.FORWARD_TRAINING, direction, dims)
    mds = _mds(cell, dims, diff=True)
    pd = ctypes.c_void_p()
    onednn.check(getattr(lib, cell.backward_fn)(
        ctypes.byref(pd), onednn.engine(), onednn.BACKWARD, direction,
        *[None if n is None else mds[n] for n in cell.backward_order], ctypes.c_uint(0), hint, onednn.attr()),
        f"{cell.what} backward")
    lib.dnnl_primitive_desc_destroy(hint)
    onednn.destroy(*mds.values())
    return pd


# oneDNN adds the weights' and bias's gradients to what their memory holds
_ACCUMULATED = ("diff_weights_layer", "diff_weights_iter", "diff_bias")


def _user(arrays: dict, outputs: tuple, H: int) -> dict:
    """The Step's description of the caller's arrays (name -> (DNNL_ARG, shape, strides, is output))."""
    user = {}
    for name, a in arrays.items():
        if name == "workspace":
            shape, strides = None, None
        elif name.endswith(("weights_layer", "weights_iter")):
            shape, strides = _weights_view(a, H)
        elif name.endswith("bias"):
            shape, strides = _bias_view(a, H)
        elif name.endswith(("_iter", "_iter_c")):
            shape, strides = _state_view(a)
        else:
            shape, strides = a.shape, layout(a)
        user[name] = (ARG[name], shape, strides, name in outputs)
    return user


def _key(kind: str, arrays: dict, reverse: bool) -> tuple:
    return (kind, reverse) + tuple((n, a.shape, layout(a)) for n, a in arrays.items() if n != "workspace")


def _run_forward(cell: _Cell, arrays: dict, dims: tuple, reverse: bool, keep: bool) -> Any:
    """Run the forward primitive of ``cell`` on ``arrays`` (name -> array, the outputs among
    them); returns the workspace it leaves when ``keep`` (the training forward), else None."""
    prop = onednn.FORWARD_TRAINING if keep else onednn.FORWARD_INFERENCE
    direction = _RIGHT2LEFT if reverse else _LEFT2RIGHT
    outputs = tuple(n for n in arrays if n.startswith("dst_"))

    def make() -> Step:
        user = _user(arrays, outputs, dims[-1])
        if keep:
            user["workspace"] = (ARG["workspace"], None, None, True)
        return Step(_forward_pd(cell, prop, direction, dims), user)

    step = onednn.cached(_key(f"{cell.what.lower()} forward", arrays, reverse) + (keep,), make)
    workspace = None
    if keep:
        workspace = np.empty(max(1, step.nbytes["workspace"]), np.uint8)
        arrays["workspace"] = workspace
    step.run(arrays)
    return workspace


def _run_backward(cell: _Cell, arrays: dict, outputs: tuple, dims: tuple, reverse: bool) -> None:
    """Run the backward primitive of ``cell`` on ``arrays``, writing the gradients ``outputs`` names."""
    direction = _RIGHT2LEFT if reverse else _LEFT2RIGHT

    def make() -> Step:
        return Step(_backward_pd(cell, direction, dims), _user(arrays, outputs, dims[-1]), accumulates=_ACCUMULATED)

    onednn.cached(_key(f"{cell.what.lower()} backward", arrays, reverse), make).run(arrays)


def _swap_r_z(a: np.ndarray, H: int) -> np.ndarray:
    """A copy of ``a`` (3H, ...) with its first two gate blocks swapped: PyTorch's GRU order
    (r, z, n) to oneDNN's (u = z, r, n), and back (the swap is its own inverse)."""
    return np.concatenate((a[H : 2 * H], a[:H], a[2 * H :]))


def _gru_bias(b_ih: Any, b_hh: Any, H: int) -> np.ndarray:
    """oneDNN's GRU bias (4H,): b_iz + b_hz, b_ir + b_hr, b_in, b_hn (zeros without a bias)."""
    b = np.zeros(4 * H, np.float32)
    if b_ih is not None:
        b[:H] = b_ih[H : 2 * H] + b_hh[H : 2 * H]
        b[H : 2 * H] = b_ih[:H] + b_hh[:H]
        b[2 * H : 3 * H] = b_ih[2 * H :]
        b[3 * H :] = b_hh[2 * H :]
    return b


class RecurrentOnednnMath:
    @staticmethod
    def lstm_onednn_forward(x: Any, h0: Any, c0: Any, w_ih: Any, w_hh: Any, b: Any, reverse: bool,
                            keep: bool) -> tuple:
        """(out (T + 1, N, H) = [h_0 … h_{T-1}; c_n], workspace): the workspace (a uint8 array,
        what :meth:`lstm_onednn_backward` reads) only when ``keep``, else None.  ``b`` is
        b_ih + b_hh (4H,), or None (no bias)."""
        x, h0, c0, w_ih, w_hh = (readable(a) for a in (x, h0, c0, w_ih, w_hh))
        T, N, I = x.shape
        H = h0.shape[-1]
        b = np.zeros(4 * H, np.float32) if b is None else readable(b)
        out = np.empty((T + 1, N, H), np.float32)
        h_n = np.empty((N, H), np.float32)  # (also out[0] or out[T-1]; oneDNN writes both or neither)
        arrays = {"src_layer": x, "src_iter": h0, "src_iter_c": c0, "weights_layer": w_ih, "weights_iter": w_hh,
                  "bias": b, "dst_layer": out[:T], "dst_iter": h_n, "dst_iter_c": out[T]}
        return out, _run_forward(LSTM, arrays, (T, N, I, H), reverse, keep)

    @staticmethod
    def lstm_onednn_backward(x: Any, h0: Any, c0: Any, w_ih: Any, w_hh: Any, b: Any, out: Any, workspace: Any,
                             g: Any, reverse: bool) -> tuple:
        """(dx (T, N, I), dh0, dc0 (N, H), dW_ih (4H, I), dW_hh (4H, H), db (4H,)) from the
        forward's inputs, its output ``out`` and workspace, and g = dL/dout (T + 1, N, H) (row T:
        dL/dc_n; dL/dh_n arrives through its row of ``out``)."""
        x, h0, c0, w_ih, w_hh, g = (readable(a) for a in (x, h0, c0, w_ih, w_hh, g))
        T, N, I = x.shape
        H = h0.shape[-1]
        b = np.zeros(4 * H, np.float32) if b is None else readable(b)
        f32 = np.float32
        grads = {"diff_src_layer": np.empty((T, N, I), f32), "diff_src_iter": np.empty((N, H), f32),
                 "diff_src_iter_c": np.empty((N, H), f32), "diff_weights_layer": np.empty(w_ih.shape, f32),
                 "diff_weights_iter": np.empty(w_hh.shape, f32), "diff_bias": np.empty(4 * H, f32)}
        arrays = {"src_layer": x, "src_iter": h0, "src_iter_c": c0, "weights_layer": w_ih, "weights_iter": w_hh,
                  "bias": b, "dst_layer": out[:T], "dst_iter": out[0 if reverse else T - 1], "dst_iter_c": out[T],
                  "diff_dst_layer": g[:T], "diff_dst_iter": np.zeros((N, H), f32), "diff_dst_iter_c": g[T],
                  **grads, "workspace": workspace}
        _run_backward(LSTM, arrays, tuple(grads), (T, N, I, H), reverse)
        return tuple(grads.values())

    @staticmethod
    def gru_onednn_forward(x: Any, h0: Any, w_ih: Any, w_hh: Any, b_ih: Any, b_hh: Any, reverse: bool,
                           keep: bool) -> tuple:
        """(out (T, N, H) = [h_0 … h_{T-1}], workspace, w_layer, w_iter, bias).  PyTorch's layouts
        and gate order in: w_ih (3H, I), w_hh (3H, H), b_ih, b_hh (3H,) or both None (no bias).
        Out, beside the output: the workspace (a uint8 array) only when ``keep``, else None, and
        the weights and bias in oneDNN's order (:func:`_swap_r_z`, :func:`_gru_bias`), which
        :meth:`gru_onednn_backward` reads with the workspace instead of making them again."""
        x, h0 = readable(x), readable(h0)
        T, N, I = x.shape
        H = h0.shape[-1]
        out = np.empty((T, N, H), np.float32)
        h_n = np.empty((N, H), np.float32)  # (also out[0] or out[T-1])
        w_layer, w_iter, bias = _swap_r_z(w_ih, H), _swap_r_z(w_hh, H), _gru_bias(b_ih, b_hh, H)
        arrays = {"src_layer": x, "src_iter": h0, "weights_layer": w_layer, "weights_iter": w_iter, "bias": bias,
                  "dst_layer": out, "dst_iter": h_n}
        return out, _run_forward(GRU, arrays, (T, N, I, H), reverse, keep), w_layer, w_iter, bias

    @staticmethod
    def gru_onednn_backward(x: Any, h0: Any, w_layer: Any, w_iter: Any, bias: Any, out: Any, workspace: Any,
                            g: Any, reverse: bool) -> tuple:
        """(dx (T, N, I), dh0 (N, H), dW_ih (3H, I), dW_hh (3H, H), db_ih, db_hh (3H,)) in
        PyTorch's gate order, from the forward's inputs x and h0, what it returned (the weights and
        bias in oneDNN's order, its output ``out`` and workspace), and g = dL/dout (T, N, H)
        (dL/dh_n arrives through its row of ``out``)."""
        x, h0, g = (readable(a) for a in (x, h0, g))
        T, N, I = x.shape
        H = h0.shape[-1]
        f32 = np.float32
        grads = {"diff_src_layer": np.empty((T, N, I), f32), "diff_src_iter": np.empty((N, H), f32),
                 "diff_weights_layer": np.empty((3 * H, I), f32), "diff_weights_iter": np.empty((3 * H, H), f32),
                 "diff_bias": np.empty(4 * H, f32)}
        arrays = {"src_layer": x, "src_iter": h0, "weights_layer": w_layer, "weights_iter": w_iter, "bias": bias,
                  "dst_layer": out, "dst_iter": out[0 if reverse else T - 1], "diff_dst_layer": g,
                  "diff_dst_iter": np.zeros((N, H), f32), **grads, "workspace": workspace}
        _run_backward(GRU, arrays, tuple(grads), (T, N, I, H), reverse)
        db = grads["diff_bias"]  # rows u (= z), r, n (input side), n (hidden side)
        d_z, d_r = db[:H], db[H : 2 * H]
        db_ih = np.concatenate((d_r, d_z, db[2 * H : 3 * H]))
        db_hh = np.concatenate((d_r, d_z, db[3 * H :]))
        return (grads["diff_src_layer"], grads["diff_src_iter"], _swap_r_z(grads["diff_weights_layer"], H),
                _swap_r_z(grads["diff_weights_iter"], H), db_ih, db_hh)


def applies(arrays: Sequence) -> bool:
    """Whether an LSTM or GRU layer of these arrays goes to oneDNN: all float32, no empty dimension, and
    the library installed."""
    return all(a.dtype == np.float32 and a.size for a in arrays) and onednn.available()
