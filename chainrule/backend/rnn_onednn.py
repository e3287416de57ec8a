"""Table entries of the LSTM layer through oneDNN (``onednn.py``): one layer, one direction, a
whole sequence forward, and backpropagation through time, float32.

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
"""

from __future__ import annotations

import ctypes
from typing import Any, Sequence

import numpy as np

from chainrule.backend import onednn
from chainrule.backend.onednn import ARG, Step, any_md, layout, readable

_LEFT2RIGHT, _RIGHT2LEFT = 1, 2  # dnnl_rnn_direction_t


def _state_view(a: np.ndarray) -> tuple:
    """(shape, strides) of a state (N, H) seen as oneDNN's (layers 1, directions 1, N, H)."""
    return (1, 1) + a.shape, (a.size, a.size) + layout(a)


def _weights_view(w: np.ndarray, H: int) -> tuple:
    """(shape, strides) of PyTorch's weights (4H, In) seen as oneDNN's (1, 1, In, 4, H):
    element [i, gate, o] is w[gate·H + o, i]."""
    s0, s1 = layout(w)
    return (1, 1, w.shape[1], 4, H), (w.size, w.size, s1, H * s0, s0)


def _bias_view(b: np.ndarray, H: int) -> tuple:
    """(shape, strides) of a bias (4H,) seen as oneDNN's (1, 1, 4, H)."""
    (s,) = layout(b)
    return (1, 1, 4, H), (b.size, b.size, H * s, s)


def _mds(T: int, N: int, I: int, H: int) -> dict:
    """Descriptors whose layouts the primitive chooses, one per argument of the forward."""
    state = (1, 1, N, H)
    return {"src_layer": any_md((T, N, I)), "src_iter": any_md(state), "src_iter_c": any_md(state),
            "weights_layer": any_md((1, 1, I, 4, H)), "weights_iter": any_md((1, 1, H, 4, H)),
            "bias": any_md((1, 1, 4, H)), "dst_layer": any_md((T, N, H)), "dst_iter": any_md(state),
            "dst_iter_c": any_md(state)}


_FORWARD_ORDER = ("src_layer", "src_iter", "src_iter_c", "weights_layer", "weights_iter", None, None, "bias",
                  "dst_layer", "dst_iter", "dst_iter_c")  # (None: no peephole, no projection)


def _forward_pd(prop: int, direction: int, dims: tuple) -> Any:
    lib = onednn.library()
    mds = _mds(*dims)
    pd = ctypes.c_void_p()
    onednn.check(lib.dnnl_lstm_forward_primitive_desc_create(
        ctypes.byref(pd), onednn.engine(), prop, direction,
        *[None if n is None else mds[n] for n in _FORWARD_ORDER], ctypes.c_uint(0), onednn.attr()), "LSTM forward")
    onednn.destroy(*mds.values())
    return pd


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


class LstmOnednnMath:
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
        prop = onednn.FORWARD_TRAINING if keep else onednn.FORWARD_INFERENCE
        direction = _RIGHT2LEFT if reverse else _LEFT2RIGHT

        def make() -> Step:
            user = _user(arrays, ("dst_layer", "dst_iter", "dst_iter_c"), H)
            if keep:
                user["workspace"] = (ARG["workspace"], None, None, True)
            return Step(_forward_pd(prop, direction, (T, N, I, H)), user)

        step = onednn.cached(_key("lstm forward", arrays, reverse) + (keep,), make)
        workspace = None
        if keep:
            workspace = np.empty(max(1, step.nbytes["workspace"]), np.uint8)
            arrays["workspace"] = workspace
        step.run(arrays)
        return out, workspace

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
        direction = _RIGHT2LEFT if reverse else _LEFT2RIGHT
        names = ("src_layer", "src_iter", "src_iter_c", "weights_layer", "weights_iter", None, None, "bias",
                 "dst_layer", "dst_iter", "dst_iter_c", "diff_src_layer", "diff_src_iter", "diff_src_iter_c",
                 "diff_weights_layer", "diff_weights_iter", None, None, "diff_bias", "diff_dst_layer",
                 "diff_dst_iter", "diff_dst_iter_c")

        def make() -> Step:
            lib = onednn.library()
            hint = _forward_pd(onednn.FORWARD_TRAINING, direction, (T, N, I, H))
            fwd = _mds(T, N, I, H)
            diff = {"diff_" + n: any_md(shape) for n, shape in (
                ("src_layer", (T, N, I)), ("src_iter", (1, 1, N, H)), ("src_iter_c", (1, 1, N, H)),
                ("weights_layer", (1, 1, I, 4, H)), ("weights_iter", (1, 1, H, 4, H)), ("bias", (1, 1, 4, H)),
                ("dst_layer", (T, N, H)), ("dst_iter", (1, 1, N, H)), ("dst_iter_c", (1, 1, N, H)))}
            mds = {**fwd, **diff}
            pd = ctypes.c_void_p()
            onednn.check(lib.dnnl_lstm_backward_primitive_desc_create(
                ctypes.byref(pd), onednn.engine(), onednn.BACKWARD, direction,
                *[None if n is None else mds[n] for n in names], ctypes.c_uint(0), hint, onednn.attr()),
                "LSTM backward")
            lib.dnnl_primitive_desc_destroy(hint)
            onednn.destroy(*mds.values())
            # oneDNN adds the weights' and bias's gradients to what their memory holds
            accumulated = ("diff_weights_layer", "diff_weights_iter", "diff_bias")
            return Step(pd, _user(arrays, tuple(grads), H), accumulates=accumulated)

        onednn.cached(_key("lstm backward", arrays, reverse), make).run(arrays)
        return tuple(grads.values())


def applies(arrays: Sequence) -> bool:
    """Whether an LSTM layer of these arrays goes to oneDNN: all float32, no empty dimension, and
    the library installed."""
    return all(a.dtype == np.float32 and a.size for a in arrays) and onednn.available()
