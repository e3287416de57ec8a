"""The LSTM with projections (``nn.LSTM(..., proj_size=P)``), as PyTorch defines it.

Each layer and direction keeps a cell state c of size H but carries a smaller hidden state h of
size P < H: the LSTM's usual output o_t ⊙ tanh(c_t) is projected by W_hr (P × H),

    i, f, g, o = σ, σ, tanh, σ of the four blocks of  W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
    c_t = f ⊙ c_{t-1} + i ⊙ g                      (N, H)
    h_t = W_hr (o ⊙ tanh(c_t))                     (N, P)

so W_hh is (4H × P), a layer above the first reads D·P features, and the layer's outputs and
h_n have P features (c_n keeps H).  This is a plain time loop of recorded tensor operations: the
fused sequence kernel of ``recurrent.py`` assumes h and c of one size.  Each time step's input
product is taken for the whole sequence at once, before the loop.
"""

from __future__ import annotations

from typing import Sequence

from chainrule.autograd.tensor import Tensor
from chainrule.nn.functional.dropout import dropout as _dropout
from chainrule.ops import elementwise as ew
from chainrule.ops import shape as sh
from chainrule.ops.linalg import matmul


def lstm_projected(input: Tensor, hx: Sequence[Tensor], params: Sequence[Tensor], has_biases: bool,
                   num_layers: int, dropout: float, train: bool, bidirectional: bool,
                   batch_first: bool) -> tuple[Tensor, Tensor, Tensor]:
    """(output, h_n, c_n) of a multi-layer LSTM with projections.

    input (L, N, in) ((N, L, in) with ``batch_first``); hx = (h_0 (layers·D, N, P),
    c_0 (layers·D, N, H)); params per layer and direction in PyTorch's order: W_ih, W_hh,
    (b_ih, b_hh,) W_hr.  output (L, N, D·P); h_n (layers·D, N, P); c_n (layers·D, N, H)."""
    per = 5 if has_biases else 3
    D = 2 if bidirectional else 1
    x = sh.transpose(input, 0, 1) if batch_first else input
    steps = x.shape[0]
    h_n, c_n = [], []
    for layer in range(num_layers):
        outs = []
        for d in range(D):
            k = layer * D + d
            w = params[k * per:(k + 1) * per]
            w_ih, w_hh, w_hr = w[0], w[1], w[-1]
            xw = matmul(x, sh.transpose(w_ih, 0, 1))  # (L, N, 4H): every step's input product at once
            if has_biases:
                xw = xw + (w[2] + w[3])
            h, c = hx[0][k], hx[1][k]
            w_hh_t, w_hr_t = sh.transpose(w_hh, 0, 1), sh.transpose(w_hr, 0, 1)  # (once, not per step)
            ys: list[Tensor] = []
            for t in (range(steps - 1, -1, -1) if d == 1 else range(steps)):
                gates = xw[t] + matmul(h, w_hh_t)
                i, f, g, o = sh.chunk(gates, 4, -1)
                c = ew.sigmoid(f) * c + ew.sigmoid(i) * ew.tanh(g)
                h = matmul(ew.sigmoid(o) * ew.tanh(c), w_hr_t)
                ys.append(h)
            outs.append(sh.stack(ys[::-1] if d == 1 else ys, 0))  # (in time order)
            h_n.append(h)
            c_n.append(c)
        x = outs[0] if D == 1 else sh.cat(outs, -1)
        if dropout and train and layer < num_layers - 1:
            x = _dropout(x, dropout, True)
    out = sh.transpose(x, 0, 1) if batch_first else x
    return out, sh.stack(h_n, 0), sh.stack(c_n, 0)
