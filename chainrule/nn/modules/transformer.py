"""The Transformer (Vaswani et al. 2017) as PyTorch's ``nn.Transformer*`` modules.

Built from :class:`~chainrule.nn.MultiheadAttention`, ``Linear``, ``LayerNorm`` and ``Dropout``
with PyTorch's attribute names, so that a ``state_dict`` moves between chainrule and PyTorch:

* ``TransformerEncoderLayer``: ``self_attn``, ``linear1`` (F, E), ``linear2`` (E, F), ``norm1``,
  ``norm2``, ``dropout`` (inside the feed-forward block), ``dropout1``, ``dropout2``;
* ``TransformerDecoderLayer``: the same plus ``multihead_attn`` (attention over the encoder's
  output, the "memory"), ``norm3`` and ``dropout3``;
* ``TransformerEncoder`` / ``TransformerDecoder``: ``layers.0 … layers.{n-1}`` (deep copies of
  the layer given) and an optional final ``norm``;
* ``Transformer``: ``encoder`` and ``decoder`` (each with a final LayerNorm).

One sub-layer with residual connection, E = d_model (post-norm, the paper's, the default):

    x ← LayerNorm(x + Dropout(Sublayer(x)))

or, with ``norm_first=True`` (pre-norm):  x ← x + Dropout(Sublayer(LayerNorm(x))).
The feed-forward sub-layer is  FF(x) = W₂ Dropout(act(W₁ x + b₁)) + b₂.

Masks follow nn.MultiheadAttention: a bool mask has True where attention is NOT allowed, a
float mask is added to the scores (-inf to forbid); ``*_key_padding_mask`` (N, S) marks padded
key positions.  ``is_causal=True`` without a mask forbids attending to later positions; with a
mask, the mask is used (PyTorch treats ``is_causal`` as a hint that the mask is causal).  Where
the mask is the causal one and nothing else masks keys, attention skips the scores above the
diagonal instead of computing and masking them (``functional._sdpa``, its causal form); the
stacks' ``is_causal=None`` looks for that, as PyTorch's do.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any, Callable

import numpy as np

from chainrule.autograd.grad_mode import is_grad_enabled
from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_default_dtype, to_numpy_dtype
from chainrule.backend.device import check_device
from chainrule.nn import init
from chainrule.nn.functional import activation as Fa
from chainrule.nn.module import Module
from chainrule.nn.modules.activation import GELU, ReLU
from chainrule.nn.modules.attention import MultiheadAttention
from chainrule.nn.modules.container import ModuleList
from chainrule.nn.modules.dropout import Dropout
from chainrule.nn.modules.linear import Linear
from chainrule.nn.modules.normalization import LayerNorm
from chainrule.ops.creation import full
from chainrule.ops.indexing import masked_fill
from chainrule.ops.shape import unsqueeze

__all__ = [
    "Transformer",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
]


def _activation(activation: Any, where: str) -> Callable[[Tensor], Tensor]:
    if isinstance(activation, str):
        if activation == "relu":
            return Fa.relu
        if activation == "gelu":
            return Fa.gelu
        raise RuntimeError(f"{where}: activation should be relu/gelu, not {activation}")
    if not callable(activation):
        raise TypeError(f"{where}: activation must be 'relu', 'gelu' or a callable, got {type(activation).__name__}")
    return activation


def _check_dims(where: str, d_model: int, nhead: int, dim_feedforward: int) -> None:
    for what, v in (("d_model", d_model), ("nhead", nhead), ("dim_feedforward", dim_feedforward)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v <= 0:
            raise ValueError(f"{where}: {what} must be a positive integer, got {v!r}")


def _check_input(where: str, what: str, x: Any, d_model: int) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{where}: {what} must be a Tensor, got {type(x).__name__}")
    if x.ndim not in (2, 3) or x.shape[-1] != d_model:
        raise ValueError(
            f"{where}: expected {what} of shape (S, N, {d_model}), (N, S, {d_model}) with batch_first, "
            f"or unbatched (S, {d_model}); got {tuple(x.shape)}"
        )


class _TransformerLayer(Module):
    """What the encoder and decoder layers share: the constructor (PyTorch gives both the same
    arguments), self-attention, feed-forward.

    Not a public module; a subclass says with ``_cross_attention`` whether it attends to a
    memory too (the decoder).
    """

    _cross_attention = False

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[[Tensor], Tensor] = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        """Check the arguments and create the sub-modules with PyTorch's names, in PyTorch's order.

        ``self_attn``, then ``multihead_attn`` when ``_cross_attention`` (the decoder), ``linear1``,
        ``dropout``, ``linear2``, ``norm1 … normK`` and ``dropout1 … dropoutK``, K = 2 (encoder) or
        3 (decoder), one per sub-layer.  The order fixes the ``state_dict``'s key order.
        """
        super().__init__()
        name = type(self).__name__
        check_device(device, name)
        _check_dims(name, d_model, nhead, dim_feedforward)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                            dtype=dtype)
        if self._cross_attention:
            self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                     batch_first=batch_first, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        n_sublayers = 3 if self._cross_attention else 2
        for i in range(1, n_sublayers + 1):
            setattr(self, f"norm{i}", LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        for i in range(1, n_sublayers + 1):
            setattr(self, f"dropout{i}", Dropout(dropout))
        self.batch_first = batch_first
        self.activation = _activation(activation, name)

    def _sa_block(self, x: Tensor, attn_mask: Any, key_padding_mask: Any, is_causal: bool) -> Tensor:
        """Self-attention of ``x`` then ``dropout1`` (the first sub-layer, without its residual)."""
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=is_causal)[0]
        return self.dropout1(x)

    def _feed_forward(self, x: Tensor) -> Tensor:
        """W₂ Dropout(act(W₁ x + b₁)) + b₂: the feed-forward sub-layer before its own dropout."""
        return self.linear2(self.dropout(self.activation(self.linear1(x))))


class TransformerEncoderLayer(_TransformerLayer):
    """Self-attention then a feed-forward network, each with a residual connection and LayerNorm.

    ``TransformerEncoderLayer(d_model, nhead, dim_feedforward=2048, dropout=0.1,
    activation='relu', layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True)``;
    ``activation`` is 'relu', 'gelu' or a callable.

    forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False): src (S, N, E),
    (N, S, E) with ``batch_first``, or unbatched (S, E); src_mask (S, S) or (N·nhead, S, S);
    src_key_padding_mask (N, S).  Returns a tensor shaped like src.
    """

    _cross_attention = False

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout2(self._feed_forward(x))

    def forward(self, src: Tensor, src_mask: Tensor | None = None, src_key_padding_mask: Tensor | None = None,
                is_causal: bool = False) -> Tensor:
        _check_input(type(self).__name__, "src", src, self.self_attn.embed_dim)
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x


class TransformerDecoderLayer(_TransformerLayer):
    """Masked self-attention, attention over the encoder's output (memory), then a feed-forward network.

    ``TransformerDecoderLayer(d_model, nhead, dim_feedforward=2048, dropout=0.1,
    activation='relu', layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True)``.

    forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False): tgt (T, N, E),
    memory (S, N, E) (batch-first (N, ·, E) with ``batch_first``); tgt_mask (T, T);
    memory_mask (T, S); key padding masks (N, T) and (N, S).  Returns a tensor shaped like tgt.
    """

    _cross_attention = True

    def _mha_block(self, x: Tensor, mem: Tensor, attn_mask: Any, key_padding_mask: Any, is_causal: bool) -> Tensor:
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                need_weights=False, is_causal=is_causal)[0]
        return self.dropout2(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout3(self._feed_forward(x))

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
    ) -> Tensor:
        name = type(self).__name__
        E = self.self_attn.embed_dim
        _check_input(name, "tgt", tgt, E)
        _check_input(name, "memory", memory, E)
        if memory.ndim != tgt.ndim:
            raise ValueError(f"{name}: tgt {tuple(tgt.shape)} and memory {tuple(memory.shape)} must both be "
                             "batched (3-D) or both unbatched (2-D)")
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x


def _clones(layer: Module, n: int, where: str) -> ModuleList:
    if not isinstance(layer, Module):
        raise TypeError(f"{where}: the layer must be a Module, got {type(layer).__name__}")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise ValueError(f"{where}: num_layers must be a non-negative integer, got {n!r}")
    # independent copies (PyTorch deep-copies too): each layer gets its own parameters
    return ModuleList([copy.deepcopy(layer) for _ in range(int(n))])


class TransformerEncoder(Module):
    """A stack of ``num_layers`` copies of an encoder layer, then ``norm`` (if given).

    ``TransformerEncoder(encoder_layer, num_layers, norm=None, enable_nested_tensor=True,
    mask_check=True)``.

    forward(src, mask=None, src_key_padding_mask=None, is_causal=None) -> like src.

    PyTorch runs an inference call (``use_nested_tensor``, first layer in eval mode, no gradient
    wanted, batched input, a right-padded ``src_key_padding_mask`` (N, S) and no ``mask``) on a
    nested tensor and pads the result back with zeros; chainrule computes every position and then
    sets the padded ones to 0 in that case, so both return the same tensor (padded rows: 0, or
    ``norm(0)``).  ``use_nested_tensor`` is ``enable_nested_tensor`` unless the layer cannot take
    that path, which PyTorch's warning names (``_why_not_nested``).
    """

    def __init__(self, encoder_layer: Module, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True) -> None:
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers, type(self).__name__)
        self.num_layers = int(num_layers)
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.use_nested_tensor = enable_nested_tensor
        self.mask_check = mask_check
        why = _why_not_nested(encoder_layer)
        if enable_nested_tensor and why:
            warnings.warn(f"enable_nested_tensor is True, but self.use_nested_tensor is False because {why}",
                          stacklevel=2)
            self.use_nested_tensor = False

    def forward(self, src: Tensor, mask: Tensor | None = None, src_key_padding_mask: Tensor | None = None,
                is_causal: bool | None = None) -> Tensor:
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                      is_causal=_causal_hint(is_causal, mask))
        padded = self._nested_padding(src, mask, src_key_padding_mask)
        if padded is not None:
            x = masked_fill(x, unsqueeze(padded, -1), 0.0)
        if self.norm is not None:
            x = self.norm(x)
        return x

    def _nested_padding(self, src: Tensor, mask: Any, key_padding_mask: Any) -> Tensor | None:
        """The padded positions (N, S), True where padded, when PyTorch would run this call on a
        nested tensor (and so return zeros there); else None.  (PyTorch's autocast condition
        never holds on the CPU, where chainrule runs.)"""
        first = self.layers[0] if len(self.layers) else None
        if (not getattr(self, "use_nested_tensor", False) or first is None or first.training or src.ndim != 3
                or key_padding_mask is None or mask is not None):
            return None
        if is_grad_enabled() and (src.requires_grad or any(p.requires_grad for p in first.parameters())):
            return None
        padded = key_padding_mask if key_padding_mask.dtype == np.bool_ else key_padding_mask != 0
        if padded.ndim != 2 or padded.shape[0] != src.shape[0]:
            return None
        # right-padded: no real position after a padded one (PyTorch's mask_check; without the
        # check PyTorch packs any mask as if it were right-padded, which chainrule does not copy)
        keep = (~padded).long()
        if not bool((keep[:, 1:] <= keep[:, :-1]).all()):
            return None
        return padded


def _why_not_nested(layer: Module) -> str:
    """Why PyTorch's encoder cannot run ``layer`` on nested tensors ('' when it can), in PyTorch's words."""
    enc = "encoder_layer"
    if not isinstance(layer, TransformerEncoderLayer):
        return f"{enc} was not TransformerEncoderLayer"
    attn = layer.self_attn
    if layer.norm_first:
        return f"{enc}.norm_first was True"
    if not attn.batch_first:
        return f"{enc}.self_attn.batch_first was not True(use batch_first for better inference performance)"
    if not attn._qkv_same_embed_dim:
        return f"{enc}.self_attn._qkv_same_embed_dim was not True"
    if attn.in_proj_bias is None:
        return f"{enc}.self_attn was passed bias=False"
    act = layer.activation
    if not (act is Fa.relu or act is Fa.gelu or isinstance(act, (ReLU, GELU))):
        return f"{enc}.activation_relu_or_gelu was not True"
    if layer.norm1.eps != layer.norm2.eps:
        return f"{enc}.norm1.eps was not equal to {enc}.norm2.eps"
    if attn.num_heads % 2 == 1:
        return f"{enc}.self_attn.num_heads is odd"
    return ""


def _causal_hint(is_causal: bool | None, mask: Any) -> bool:
    """The layers' ``is_causal``: as given, or, when None (PyTorch's default here, "find out")
    and there is a mask, True -- a hint that attention then takes only where the mask really is
    the causal one (``functional.attention._is_causal_mask``), as PyTorch detects it."""
    return bool(is_causal) if is_causal is not None else mask is not None


class TransformerDecoder(Module):
    """A stack of ``num_layers`` copies of a decoder layer, then ``norm`` (if given).

    ``TransformerDecoder(decoder_layer, num_layers, norm=None)``.

    forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False) -> like tgt.
    """

    def __init__(self, decoder_layer: Module, num_layers: int, norm: Module | None = None) -> None:
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers, type(self).__name__)
        self.num_layers = int(num_layers)
        self.norm = norm

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ) -> Tensor:
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=_causal_hint(tgt_is_causal, tgt_mask), memory_is_causal=memory_is_causal)
        if self.norm is not None:
            x = self.norm(x)
        return x


class Transformer(Module):
    """The encoder-decoder Transformer.

    ``Transformer(d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
    dim_feedforward=2048, dropout=0.1, activation='relu', custom_encoder=None,
    custom_decoder=None, layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True)``.
    Every parameter with more than one dimension starts Xavier-uniform (as PyTorch).

    forward(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
    tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None,
    tgt_is_causal=None, memory_is_causal=False): src (S, N, E), tgt (T, N, E) ((N, ·, E) with
    ``batch_first``, or unbatched) -> (T, N, E).  For autoregressive decoding pass
    ``tgt_mask=Transformer.generate_square_subsequent_mask(T)``.
    """

    def __init__(
        self,
        d_model: int = 512,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[[Tensor], Tensor] = "relu",
        custom_encoder: Module | None = None,
        custom_decoder: Module | None = None,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        check_device(device, type(self).__name__)
        super().__init__()
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                                            batch_first, norm_first, bias, dtype=dtype)
            self.encoder = TransformerEncoder(layer, num_encoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            dlayer = TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                                             batch_first, norm_first, bias, dtype=dtype)
            self.decoder = TransformerDecoder(dlayer, num_decoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    def forward(
        self,
        src: Tensor,
        tgt: Tensor,
        src_mask: Tensor | None = None,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        src_is_causal: bool | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ) -> Tensor:
        name = type(self).__name__
        _check_input(name, "src", src, self.d_model)
        _check_input(name, "tgt", tgt, self.d_model)
        if src.ndim != tgt.ndim:
            raise ValueError(f"{name}: src {tuple(src.shape)} and tgt {tuple(tgt.shape)} must both be batched "
                             "(3-D) or both unbatched (2-D)")
        if src.ndim == 3:
            b = 0 if self.batch_first else 1
            if src.shape[b] != tgt.shape[b]:
                raise RuntimeError(f"{name}: the batch number of src and tgt must be equal, got src "
                                   f"{tuple(src.shape)} and tgt {tuple(tgt.shape)}"
                                   + (" (batch_first=True)" if self.batch_first else ""))
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(
            tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask, tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
            memory_is_causal=memory_is_causal,
        )

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device: Any = None, dtype: Any = None) -> Tensor:
        """The (sz, sz) float causal mask: 0 on and below the diagonal, -inf above (position i sees j ≤ i)."""
        dt = get_default_dtype() if dtype is None else to_numpy_dtype(dtype)
        return full((sz, sz), -np.inf, dtype=dt, device=device).triu(1)
