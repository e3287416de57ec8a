"""``torch.nn.attention.bias``: causal masks that ``F.scaled_dot_product_attention`` takes as
``attn_mask`` without materialising them where it need not.

For a query of length L and a key/value of length S:

* :func:`causal_upper_left` (L, S): query i sees keys j ≤ i, the triangle aligned to the upper
  left corner; the same as ``is_causal=True``::

      L=3, S=4:  [[1, 0, 0, 0],
                  [1, 1, 0, 0],
                  [1, 1, 1, 0]]

* :func:`causal_lower_right` (L, S): query i sees keys j ≤ i + (S - L), aligned to the lower
  right corner (the last query sees every key: decoding L new tokens after S - L cached ones)::

      L=3, S=4:  [[1, 1, 0, 0],
                  [1, 1, 1, 0],
                  [1, 1, 1, 1]]

  With L > S its first L - S rows see no key at all (PyTorch warns that this gives NaN; its
  scaled_dot_product_attention, and chainrule's, give those rows zeros); with
  L = S the two variants are the same mask.

A :class:`CausalBias` is not a Tensor here (PyTorch's is a Tensor subclass so that
``__torch_function__`` can route the call); ``scaled_dot_product_attention`` recognises it.
"""

from __future__ import annotations

from enum import IntEnum, auto
from typing import Any
from warnings import warn

from chainrule.autograd.tensor import Tensor

__all__ = ["CausalBias", "CausalVariant", "causal_lower_right", "causal_upper_left"]


class CausalVariant(IntEnum):
    """Which corner the causal triangle is aligned to: ``UPPER_LEFT`` (1) or ``LOWER_RIGHT`` (2)."""

    UPPER_LEFT = auto()
    LOWER_RIGHT = auto()


class CausalBias:
    """A causal attention mask of shape (``seq_len_q``, ``seq_len_kv``), kept as its variant and
    two lengths; :meth:`_materialize` makes the boolean Tensor (True = takes part).

    Args:
        variant: :class:`CausalVariant` (anything else: AssertionError, as PyTorch).
        seq_len_q: the query's length L.
        seq_len_kv: the key's and value's length S.
    """

    def __init__(self, variant: CausalVariant, seq_len_q: int, seq_len_kv: int) -> None:
        if not isinstance(variant, CausalVariant):
            raise AssertionError(f"variant must be a CausalVariant, got {type(variant).__name__}")
        self.variant = variant
        self.seq_len_q = seq_len_q
        self.seq_len_kv = seq_len_kv
        if seq_len_q > seq_len_kv and variant == CausalVariant.LOWER_RIGHT:
            warn("Lower right causal bias will produce NaNs in the output when seq_len_q > seq_len_kv!", stacklevel=2)

    def _ones(self, device: Any) -> Tensor:
        from chainrule.ops.creation import ones

        return ones(self.seq_len_q, self.seq_len_kv, dtype=bool, device=device)

    def _upper_left(self, device: Any) -> Tensor:
        """tril(ones(L, S)): query i sees keys j ≤ i."""
        from chainrule.ops.arrange import tril

        return tril(self._ones(device))

    def _lower_right(self, device: Any) -> Tensor:
        """tril(ones(L, S), S - L): query i sees keys j ≤ i + S - L."""
        from chainrule.ops.arrange import tril

        return tril(self._ones(device), diagonal=self.seq_len_kv - self.seq_len_q)

    def _materialize(self, device: Any = None) -> Tensor:
        """The mask as a boolean Tensor (L, S) on ``device`` (None: the CPU)."""
        if self.variant == CausalVariant.UPPER_LEFT:
            return self._upper_left(device)
        return self._lower_right(device)

    @staticmethod
    def _dispatch(query: Tensor, key: Tensor, value: Tensor, attn_mask: CausalBias, dropout_p: float = 0.0,
                  is_causal: bool = False, scale: float | None = None, enable_gqa: bool = False) -> Tensor:
        """``scaled_dot_product_attention`` with this mask: ``is_causal=True`` (the fused causal
        kernel) for the upper-left variant or equal lengths, else the materialised mask."""
        from chainrule.nn.functional import scaled_dot_product_attention

        if is_causal:
            raise ValueError("CausalBias should not be used with causal=True")
        if attn_mask.seq_len_q == attn_mask.seq_len_kv or attn_mask.variant == CausalVariant.UPPER_LEFT:
            return scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=dropout_p,
                                                is_causal=True, scale=scale, enable_gqa=enable_gqa)
        if attn_mask.variant == CausalVariant.LOWER_RIGHT:
            return scaled_dot_product_attention(query, key, value, attn_mask=attn_mask._materialize(query.device),
                                                dropout_p=dropout_p, is_causal=False, scale=scale,
                                                enable_gqa=enable_gqa)
        raise ValueError(f"CausalBias.variant must be a CausalVariant type, but found: {attn_mask.variant}")

    def __repr__(self) -> str:
        return repr(self._materialize())


def causal_upper_left(*size: int) -> CausalBias:
    """The upper-left causal mask of size (L, S): ``tril(ones(L, S))``, what ``is_causal=True``
    means."""
    if len(size) != 2:
        raise AssertionError("causal_upper_left only supports 2D tensors")
    seq_len_q, seq_len_kv = size
    return CausalBias(CausalVariant.UPPER_LEFT, seq_len_q, seq_len_kv)


def causal_lower_right(*size: int) -> CausalBias:
    """The lower-right causal mask of size (L, S): ``tril(ones(L, S), diagonal=S - L)``."""
    if len(size) != 2:
        raise AssertionError("causal_lower_right only supports 2D tensors")
    seq_len_q, seq_len_kv = size
    return CausalBias(CausalVariant.LOWER_RIGHT, seq_len_q, seq_len_kv)
