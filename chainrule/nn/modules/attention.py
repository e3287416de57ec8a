"""Attention layers: MultiheadAttention (PyTorch's layout) and AdditiveAttention (Bahdanau, the notes').

Formulas and mask conventions are in ``chainrule.nn.functional.attention``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_default_dtype, to_numpy_dtype
from chainrule.backend.device import check_device
from chainrule.nn import init
from chainrule.nn.functional import attention as A
from chainrule.nn.module import Module
from chainrule.nn.modules.linear import NonDynamicallyQuantizableLinear
from chainrule.nn.parameter import Parameter
from chainrule.ops import shape as sh
from chainrule.ops.creation import zeros

__all__ = ["AdditiveAttention", "MultiheadAttention"]


def _param(shape: tuple, dtype: Any) -> Parameter:
    dt = get_default_dtype() if dtype is None else to_numpy_dtype(dtype)
    return Parameter(zeros(shape, dtype=dt))


def _xavier_uniform_(p: Parameter, fan_in: int, fan_out: int) -> None:
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    init.uniform_(p, -bound, bound)


def _xavier_normal_(p: Parameter, fan_in: int, fan_out: int) -> None:
    std = math.sqrt(2.0 / (fan_in + fan_out))
    init.normal_(p, 0.0, std)


class MultiheadAttention(Module):
    """Multi-head attention (Vaswani et al.), PyTorch's ``nn.MultiheadAttention``.

        head_i = softmax((Q W_qᵢ)(K W_kᵢ)ᵀ / √d + M) (V W_vᵢ),   d = embed_dim / num_heads
        out = [head_1 … head_h] W_oᵀ + b_o

    ``MultiheadAttention(embed_dim, num_heads, dropout=0.0, bias=True,
    add_bias_kv=False, add_zero_attn=False, kdim=None, vdim=None, batch_first=False)``.

    Parameters (PyTorch's names and shapes): ``in_proj_weight`` (3E, E) = [W_q; W_k; W_v]
    when kdim = vdim = E, else ``q_proj_weight`` (E, E), ``k_proj_weight`` (E, kdim),
    ``v_proj_weight`` (E, vdim) (and ``in_proj_weight`` is None); ``in_proj_bias`` (3E,);
    ``out_proj.weight`` (E, E), ``out_proj.bias`` (E,); ``bias_k``, ``bias_v`` (1, 1, E)
    with ``add_bias_kv``.  Initialisation as PyTorch: Xavier-uniform projections,
    zero biases.

    forward(query, key, value, key_padding_mask=None, need_weights=True,
    attn_mask=None, average_attn_weights=True, is_causal=False) -> (attn_output,
    attn_weights): query (L, N, E), key (S, N, kdim), value (S, N, vdim) — (N, ·, ·)
    with ``batch_first`` — or unbatched (L, E); attn_output like query; attn_weights
    (N, L, S) averaged over heads, (N, h, L, S) if not ``average_attn_weights``,
    None if not ``need_weights``.  Masks: bool True = NOT allowed to attend, float =
    added; key_padding_mask (N, S); attn_mask (L, S) or (N·h, L, S).
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        check_device(device, type(self).__name__)
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(
                f"MultiheadAttention: embed_dim and num_heads must be > 0, got {embed_dim} and {num_heads}"
            )
        if embed_dim % num_heads:
            raise ValueError(
                f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})"
            )
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"MultiheadAttention: dropout must be in [0, 1], got {dropout}")
        E = embed_dim
        self.embed_dim = E
        self.kdim = E if kdim is None else kdim
        self.vdim = E if vdim is None else vdim
        self._qkv_same_embed_dim = self.kdim == E and self.vdim == E
        self.num_heads = num_heads
        self.dropout = float(dropout)
        self.batch_first = batch_first
        self.head_dim = E // num_heads
        if self._qkv_same_embed_dim:
            self.in_proj_weight = _param((3 * E, E), dtype)
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = _param((E, E), dtype)
            self.k_proj_weight = _param((E, self.kdim), dtype)
            self.v_proj_weight = _param((E, self.vdim), dtype)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = _param((3 * E,), dtype)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(E, E, bias=bias, dtype=dtype)
        if add_bias_kv:
            self.bias_k: Parameter | None = _param((1, 1, E), dtype)
            self.bias_v: Parameter | None = _param((1, 1, E), dtype)
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        E = self.embed_dim
        if self._qkv_same_embed_dim:
            _xavier_uniform_(self.in_proj_weight, E, 3 * E)  # PyTorch's fans for the (3E, E) matrix
        else:
            _xavier_uniform_(self.q_proj_weight, E, E)
            _xavier_uniform_(self.k_proj_weight, self.kdim, E)
            _xavier_uniform_(self.v_proj_weight, self.vdim, E)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None and self.bias_v is not None:
            _xavier_normal_(self.bias_k, E, E)
            _xavier_normal_(self.bias_v, E, E)

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}"

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None = None,
        need_weights: bool = True,
        attn_mask: Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple:
        batched = query.ndim == 3
        if self.batch_first and batched:
            query, key, value = (sh.transpose(t, 0, 1) for t in (query, key, value))
        out, weights = A.multi_head_attention_forward(
            query, key, value, self.embed_dim, self.num_heads,
            self.in_proj_weight, self.in_proj_bias, self.bias_k, self.bias_v, self.add_zero_attn,
            self.dropout, self.out_proj.weight, self.out_proj.bias,
            training=self.training, key_padding_mask=key_padding_mask, need_weights=need_weights,
            attn_mask=attn_mask, use_separate_proj_weight=not self._qkv_same_embed_dim,
            q_proj_weight=self.q_proj_weight, k_proj_weight=self.k_proj_weight, v_proj_weight=self.v_proj_weight,
            average_attn_weights=average_attn_weights, is_causal=is_causal,
        )
        if self.batch_first and batched:
            out = sh.transpose(out, 0, 1)
        return out, weights


class AdditiveAttention(Module):
    """Additive (Bahdanau) attention, the notes' equations:

        e_ij = v_aᵀ tanh(W_a s_{i-1} + U_a h_j),   a_ij = softmax_j(e_ij),   c_i = Σ_j a_ij h_j

    ``AdditiveAttention(query_dim, key_dim, hidden_dim)``; parameters ``W_a``
    (hidden_dim, query_dim), ``U_a`` (hidden_dim, key_dim), ``v_a`` (hidden_dim,),
    initialised U(-1/√fan_in, 1/√fan_in) like nn.Linear.

    forward(query, keys, values=None, mask=None) -> (context, weights):
    query = the decoder state s_{i-1}, (N, Dq) or (N, T_q, Dq); keys = the encoder
    annotations h_j, (N, T, Dk); values (N, T, Dv), default the keys; mask (N, T)
    bool, True = padded position (gets weight 0).  context (N, Dv) or (N, T_q, Dv);
    weights (N, T) or (N, T_q, T), each row summing to 1.

    Typical use in a seq2seq decoder step: ``context, a = attn(s_prev, encoder_outputs,
    mask=src_pad_mask)`` then feed ``cat([y_prev_embedding, context])`` to the decoder cell.
    """

    def __init__(self, query_dim: int, key_dim: int, hidden_dim: int, device: Any = None, dtype: Any = None) -> None:
        check_device(device, type(self).__name__)
        super().__init__()
        for what, v in (("query_dim", query_dim), ("key_dim", key_dim), ("hidden_dim", hidden_dim)):
            if not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"AdditiveAttention: {what} must be a positive integer, got {v!r}")
        self.query_dim, self.key_dim, self.hidden_dim = int(query_dim), int(key_dim), int(hidden_dim)
        self.W_a = _param((hidden_dim, query_dim), dtype)
        self.U_a = _param((hidden_dim, key_dim), dtype)
        self.v_a = _param((hidden_dim,), dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for p, fan_in in ((self.W_a, self.query_dim), (self.U_a, self.key_dim), (self.v_a, self.hidden_dim)):
            b = 1.0 / math.sqrt(fan_in)
            init.uniform_(p, -b, b)

    def extra_repr(self) -> str:
        return f"query_dim={self.query_dim}, key_dim={self.key_dim}, hidden_dim={self.hidden_dim}"

    def forward(self, query: Tensor, keys: Tensor, values: Tensor | None = None, mask: Any = None) -> tuple:
        return A.additive_attention(query, keys, self.W_a, self.U_a, self.v_a, values=values, mask=mask)
