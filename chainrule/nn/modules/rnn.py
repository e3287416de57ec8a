"""Recurrent layers: RNN, LSTM, GRU (whole sequences) and RNNCell, LSTMCell, GRUCell (one step).

PyTorch's names, constructor arguments, defaults and parameter layout, so that a
``state_dict`` can be exchanged with ``torch.nn.LSTM`` & co.:

* ``weight_ih_l{k}`` (G·H, in) with in = input_size for k = 0 and D·H above;
  ``weight_hh_l{k}`` (G·H, H); ``bias_ih_l{k}``, ``bias_hh_l{k}`` (G·H,); the
  backward direction of a bidirectional layer has the suffix ``_reverse``.
  G = 4 for the LSTM (gate blocks i, f, g, o), 3 for the GRU (r, z, n), 1 for the RNN.
* every weight and bias starts as U(-1/√H, 1/√H).
* outputs ``(output, h_n)`` and, for the LSTM, ``(output, (h_n, c_n))``; output
  (L, N, D·H) or (N, L, D·H) with ``batch_first``; h_n, c_n (num_layers·D, N, H),
  ordered layer by layer, forward direction first.  Unbatched input (L, H_in)
  gives output (L, D·H) and states (num_layers·D, H).

The equations are in ``chainrule.nn.functional.recurrent``.  The sequence layers
run each layer and direction as one fused primitive (backprop through time in
NumPy); double backward through them works by a slower recorded recomputation
from the cells (see ``chainrule.nn.functional._rnn_kernel``).

Fast path after an embedding: when the input is the output of an embedding lookup
(``nn.Embedding`` / ``F.embedding`` as returned, or through an eval-mode ``Dropout``),
batched (2-D indices), the first layer computes its input projection once per
distinct index and its input-weight gradient from the adjoints summed per index,
with the same results to rounding (an LSTM so fed runs chainrule's own loop even where oneDNN
is installed: the fold saves more than oneDNN's LSTM gains).  Not folded (the plain path): anything else
between the embedding and the layer, unbatched input, the layers above the first,
and ``PackedSequence`` input (see ``chainrule.nn.functional.recurrent._input_fold``).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from chainrule.autograd.primitive import table_of
from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_default_dtype, to_numpy_dtype
from chainrule.backend.device import check_device
from chainrule.backend.dtype_check import DtypeError, check_same_dtype, mismatch_message
from chainrule.nn import init
from chainrule.nn.functional import recurrent as R
from chainrule.nn.functional.lstm_projected import lstm_projected
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.utils.rnn import PackedSequence, pad_packed_sequence
from chainrule.ops import shape as sh
from chainrule.ops.creation import zeros
from chainrule.ops.indexing import getitem

__all__ = ["GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNBase", "RNNCell", "RNNCellBase"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}
_FUNCS: dict[str, Callable[..., Any]] = {"RNN_TANH": R.rnn_tanh, "RNN_RELU": R.rnn_relu, "LSTM": R.lstm, "GRU": R.gru}


def _param(shape: tuple, dtype: Any) -> Parameter:
    return Parameter(zeros(shape, dtype=get_default_dtype() if dtype is None else to_numpy_dtype(dtype)))


def _check_sizes(name: str, input_size: Any, hidden_size: Any) -> None:
    for what, v in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v <= 0:
            raise ValueError(f"{name}: {what} must be a positive integer, got {v!r}")


class RNNBase(Module):
    """Shared machinery of RNN, LSTM and GRU (parameters, checks, unbatched inputs)."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        check_device(device, type(self).__name__)
        super().__init__()
        name = type(self).__name__
        _check_sizes(name, input_size, hidden_size)
        if not isinstance(num_layers, (int, np.integer)) or num_layers <= 0:
            raise ValueError(f"{name}: num_layers must be a positive integer, got {num_layers!r}")
        if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout should be a number in [0, 1] representing the probability of "
                             f"an element being zeroed, got {dropout!r}")
        if not isinstance(proj_size, (int, np.integer)) or isinstance(proj_size, bool) or proj_size < 0:
            raise ValueError(f"{name}: proj_size should be a positive integer or zero to disable projections, "
                             f"got {proj_size!r}")
        if proj_size:
            if mode != "LSTM":
                raise ValueError(f"{name}: proj_size argument is only supported for LSTM, not RNN or GRU")
            if proj_size >= hidden_size:
                raise ValueError(f"{name}: proj_size ({proj_size}) has to be smaller than hidden_size "
                                 f"({hidden_size})")
        self.mode = mode
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.proj_size = int(proj_size)
        G = _GATES[mode]
        D = 2 if bidirectional else 1
        H = self.hidden_size
        P = self.proj_size or H  # the size of h (with projections, W_hr maps the H-sized o ⊙ tanh c to P)
        self._flat_weights_names: list = []
        for layer in range(self.num_layers):
            for d in range(D):
                sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
                in_size = self.input_size if layer == 0 else D * P
                shapes: list[tuple[str, tuple[int, ...]]] = [("weight_ih", (G * H, in_size)), ("weight_hh", (G * H, P))]
                if self.bias:
                    shapes += [("bias_ih", (G * H,)), ("bias_hh", (G * H,))]
                if self.proj_size:
                    shapes.append(("weight_hr", (P, H)))
                for pname, shp in shapes:
                    setattr(self, pname + sfx, _param(shp, dtype))
                    self._flat_weights_names.append(pname + sfx)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias ~ U(-1/√H, 1/√H), as PyTorch."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for n in self._flat_weights_names:
            init.uniform_(getattr(self, n), -bound, bound)

    def flatten_parameters(self) -> None:
        """PyTorch compacts cuDNN weights here; on NumPy there is nothing to do."""

    @property
    def _flat_weights(self) -> list:
        """The parameters in PyTorch's ``_flat_weights`` order (looked up by name, so replacing one works)."""
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self) -> list:
        """Per layer and direction, [weight_ih, weight_hh(, bias_ih, bias_hh)(, weight_hr)]."""
        per = (4 if self.bias else 2) + (1 if self.proj_size else 0)
        w = self._flat_weights
        return [w[i : i + per] for i in range(0, len(w), per)]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        return s

    def _prepare(self, input: Tensor, hx: Any) -> tuple:
        """Check shapes; make unbatched input batched.  Returns (input, hx list or None, batched)."""
        name = type(self).__name__
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__}")
        if input.ndim not in (2, 3):
            raise ValueError(
                f"{name}: expected input of shape (L, N, {self.input_size})"
                + (" (batch_first: (N, L, ·))" if self.batch_first else "")
                + f" or unbatched (L, {self.input_size}), got {tuple(input.shape)}"
            )
        if input.shape[-1] != self.input_size:
            raise ValueError(
                f"{name}: input.size(-1) must be equal to input_size: expected {self.input_size}, "
                f"got shape {tuple(input.shape)}"
            )
        w = getattr(self, self._flat_weights_names[0])  # weight_ih_l0: the dtype the layer computes in
        if input._array.dtype != w._array.dtype:
            # a ValueError here, as PyTorch's RNN modules raise (the cells raise RuntimeError)
            raise ValueError(mismatch_message(name, "input", input._array.dtype, w._array.dtype, "the weight dtype"))
        batched = input.ndim == 3
        n_states = 2 if self.mode == "LSTM" else 1
        D = 2 if self.bidirectional else 1
        states = None
        if hx is not None:
            if self.mode == "LSTM" and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
                raise TypeError(f"{name}: hx must be a tuple (h_0, c_0)")
            if self.mode != "LSTM" and not isinstance(hx, Tensor):
                raise TypeError(f"{name}: hx must be a Tensor, got {type(hx).__name__}")
            states = list(hx) if self.mode == "LSTM" else [hx]
            for what, s in zip(("h_0", "c_0"), states):
                if isinstance(s, Tensor) and s._array.dtype != w._array.dtype:
                    raise DtypeError(mismatch_message(name, what, s._array.dtype, w._array.dtype))
        if not batched:
            input = sh.unsqueeze(input, 0 if self.batch_first else 1)
        N = input.shape[0] if self.batch_first else input.shape[1]
        if states is not None:
            for k, s in enumerate(states):
                size = self.proj_size if k == 0 and self.proj_size else self.hidden_size  # (h_0: P, c_0: H)
                want = (self.num_layers * D, N, size) if batched else (self.num_layers * D, size)
                if tuple(s.shape) != want:
                    what = "h_0" if k == 0 else "c_0"
                    raise ValueError(f"{name}: expected {what} of shape {want}, got {tuple(s.shape)}")
            if not batched:
                states = [sh.unsqueeze(s, 1) for s in states]
        assert states is None or len(states) == n_states
        return input, states, batched

    def forward(self, input: Tensor | PackedSequence, hx: Any = None) -> tuple:
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        x, states, batched = self._prepare(input, hx)
        if self.proj_size:
            res = lstm_projected(x, states or self._zero_states(x), self._flat_weights, self.bias,
                                 self.num_layers, self.dropout, self.training, self.bidirectional, self.batch_first)
        else:
            res = _FUNCS[self.mode](x, states, self._flat_weights, self.bias, self.num_layers, self.dropout,
                                    self.training, self.bidirectional, self.batch_first)
        out, finals = res[0], list(res[1:])
        if not batched:
            out = sh.squeeze(out, 0 if self.batch_first else 1)
            finals = [sh.squeeze(s, 1) for s in finals]
        if self.mode == "LSTM":
            return out, (finals[0], finals[1])
        return out, finals[0]


    def _zero_states(self, input: Tensor) -> list[Tensor]:
        """Zero (h_0, c_0) of a projected LSTM for batched ``input``: (layers·D, N, P) and (layers·D, N, H)."""
        n = self.num_layers * (2 if self.bidirectional else 1)
        N = input.shape[0] if self.batch_first else input.shape[1]
        return [input.new_zeros(n, N, size) for size in (self.proj_size, self.hidden_size)]

    def _forward_packed(self, packed: PackedSequence, hx: Any) -> tuple:
        """Run a PackedSequence: each sequence sees only its own steps.

        The sequences of equal length form one batch each, run without padding (so the
        reverse direction starts at each sequence's own last step and h_n is the state
        there); the outputs are gathered back into packed order.  ``hx`` and h_n are in the
        caller's batch order, as PyTorch's.
        """
        name = type(self).__name__
        if self.proj_size:
            raise NotImplementedError(f"{name}: a PackedSequence through an LSTM with proj_size; pad it "
                                      "(pad_packed_sequence) and pass the padded batch")
        data = packed.data
        if data.ndim != 2 or data.shape[1] != self.input_size:
            raise ValueError(f"{name}: expected PackedSequence data of shape (*, {self.input_size}), "
                             f"got {tuple(data.shape)}")
        padded, lens_t = pad_packed_sequence(packed)  # (T, B, in), caller's order
        lens = lens_t.tolist()  # (host data, as batch_sizes)
        fake = sh.unsqueeze(getitem(padded, 0), 0)  # (1, B, in): _prepare checks dtypes and hx shapes
        _, states, _ = self._prepare(fake, hx)
        m = table_of((padded,), name)
        outs, finals, members = [], [], []
        for L in sorted(set(lens)):
            members.append([b for b, n in enumerate(lens) if n == L])
            b = m.from_host(members[-1], np.int64)
            x = getitem(padded, (slice(0, L), b))
            st = None if states is None else [getitem(s, (slice(None), b)) for s in states]
            # (each group's shape is a one-off: no oneDNN primitive is made for it, see R._run)
            y, last = R._run(self.mode.lower(), self.mode, x, st, self._flat_weights, self.bias, self.num_layers,
                             self.dropout, self.training, self.bidirectional, False, None, onednn=False)
            outs.append(sh.reshape(y, (-1, y.shape[-1])))  # rows (t, j) -> t·n_g + j
            finals.append(list(last))
        # where each sequence's row of step t landed (its group's block, step t, its column), read
        # in packed order: step by step, the running sequences in sorted order
        where: dict = {}
        base = 0
        for group, L in zip(members, sorted(set(lens))):
            for j, b in enumerate(group):
                where[b] = (base + j, len(group))
            base += len(group) * L
        order = packed._sorted_order()
        rows = [where[b][0] + t * where[b][1] for t, n in enumerate(packed.batch_sizes.tolist()) for b in order[:n]]
        out = getitem(sh.cat(outs, 0), m.from_host(rows, np.int64))
        back = m.from_host(sorted(range(len(lens)), key=[b for g in members for b in g].__getitem__), np.int64)
        h = [getitem(sh.cat([f[k] for f in finals], 1), (slice(None), back)) for k in range(len(finals[0]))]
        out_packed = PackedSequence(out, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
        if self.mode == "LSTM":
            return out_packed, (h[0], h[1])
        return out_packed, h[0]


class RNN(RNNBase):
    """Multi-layer Elman RNN:  h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act = tanh or ReLU.

    ``RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True,
    batch_first=False, dropout=0.0, bidirectional=False)``.  forward(input, h_0=None)
    -> (output, h_n): input (L, N, H_in) [(N, L, H_in) if batch_first, or (L, H_in)],
    h_0 (num_layers·D, N, H); output (L, N, D·H); h_n (num_layers·D, N, H).

    The notes' identity RNN (IRNN) is ``RNN(..., nonlinearity='relu')`` with
    ``nn.init.eye_(rnn.weight_hh_l0)`` (and zero biases): the recurrence starts as the
    identity, so gradients neither explode nor vanish at initialisation.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        nonlinearity = kwargs.pop("nonlinearity", None)
        if nonlinearity is None and len(args) > 3 and isinstance(args[3], str):
            nonlinearity = args[3]
            args = args[:3] + args[4:]
        nonlinearity = "tanh" if nonlinearity is None else nonlinearity
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r}; choose 'tanh' or 'relu'")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", *args, **kwargs)
        self.nonlinearity = nonlinearity

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (", nonlinearity='relu'" if self.nonlinearity == "relu" else "")


class LSTM(RNNBase):
    """Multi-layer LSTM (PyTorch's equations; gate blocks i, f, g, o in the weights):

        i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)     f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
        g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)  o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t                   h_t = o_t ⊙ tanh(c_t)

    ``LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
    dropout=0.0, bidirectional=False, proj_size=0)``.  forward(input, (h_0, c_0)=None) ->
    (output, (h_n, c_n)) with output (L, N, D·H) and h_n, c_n (num_layers·D, N, H).  With
    ``proj_size`` P > 0, h_t = W_hr (o_t ⊙ tanh(c_t)) (``weight_hr_l{k}`` (P, H)): output
    (L, N, D·P), h_n (num_layers·D, N, P), c_n as before (``functional.lstm_projected``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    """Multi-layer GRU (PyTorch's equations; gate blocks r, z, n in the weights):

        r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)     z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
        n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))
        h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

    Same arguments and shapes as :class:`RNN` (without ``nonlinearity``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__("GRU", *args, **kwargs)


# ---------------------------------------------------------------------------------- cells
class RNNCellBase(Module):
    """Shared machinery of the cells: weight_ih (G·H, in), weight_hh (G·H, H), bias_ih, bias_hh (G·H,)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, gates: int, device: Any = None,
                 dtype: Any = None) -> None:
        check_device(device, type(self).__name__)
        super().__init__()
        _check_sizes(type(self).__name__, input_size, hidden_size)
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.bias = bool(bias)
        G, H = gates, self.hidden_size
        self.weight_ih = _param((G * H, self.input_size), dtype)
        self.weight_hh = _param((G * H, H), dtype)
        if self.bias:
            self.bias_ih = _param((G * H,), dtype)
            self.bias_hh = _param((G * H,), dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias ~ U(-1/√H, 1/√H), as PyTorch."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh):
            if p is not None:
                init.uniform_(p, -bound, bound)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        return s if self.bias else s + ", bias=False"

    def _check_input(self, input: Tensor) -> None:
        name = type(self).__name__
        if not isinstance(input, Tensor) or input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            got = tuple(input.shape) if isinstance(input, Tensor) else type(input).__name__
            raise ValueError(
                f"{name}: expected input of shape (N, {self.input_size}) or ({self.input_size},), got {got}"
            )
        if input._array.dtype is not self.weight_ih._array.dtype:
            check_same_dtype(name, input, self.weight_ih)  # RuntimeError as PyTorch's "mat1 and mat2 ..."

    def _check_states(self, states: tuple) -> None:
        dt = self.weight_hh._array.dtype
        for s in states:
            if isinstance(s, Tensor) and s._array.dtype is not dt:
                for what, s in zip(("h", "c"), states):  # name the state in the error
                    if isinstance(s, Tensor):
                        check_same_dtype(type(self).__name__, s, self.weight_hh, what)

    def _zeros(self, input: Tensor) -> Tensor:
        return input.new_zeros(input.shape[:-1] + (self.hidden_size,))

    def _weights(self) -> tuple:
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh


class RNNCell(RNNCellBase):
    """One Elman step: h' = act(W_ih x + b_ih + W_hh h + b_hh), act = tanh or ReLU.

    ``RNNCell(input_size, hidden_size, bias=True, nonlinearity='tanh')``;
    forward(input (N, H_in) or (H_in,), hx=None) -> h' (N, H) or (H,).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device: Any = None, dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: unknown nonlinearity {nonlinearity!r}; choose 'tanh' or 'relu'")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        self._check_input(input)
        h = self._zeros(input) if hx is None else hx
        self._check_states((h,))
        fn = R.rnn_tanh_cell if self.nonlinearity == "tanh" else R.rnn_relu_cell
        return fn(input, h, *self._weights())


class LSTMCell(RNNCellBase):
    """One LSTM step (gates i, f, g, o): c' = f ⊙ c + i ⊙ g,  h' = o ⊙ tanh(c').

    ``LSTMCell(input_size, hidden_size, bias=True)``; forward(input (N, H_in) or
    (H_in,), hx=(h, c) or None) -> (h', c'), each (N, H) or (H,).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Tensor, hx: Any = None) -> tuple:
        self._check_input(input)
        if hx is None:
            z = self._zeros(input)
            hx = (z, z)
        elif isinstance(hx, (tuple, list)):
            self._check_states(tuple(hx))
        return R.lstm_cell(input, hx, *self._weights())


class GRUCell(RNNCellBase):
    """One GRU step (gates r, z, n): h' = (1 - z) ⊙ n + z ⊙ h, n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)).

    ``GRUCell(input_size, hidden_size, bias=True)``; forward(input, hx=None) -> h'.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        self._check_input(input)
        h = self._zeros(input) if hx is None else hx
        self._check_states((h,))
        return R.gru_cell(input, h, *self._weights())
