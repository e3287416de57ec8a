"""Embedding: a (num_embeddings, embedding_dim) table of learned vectors, looked up by index.

``weight`` starts as N(0, 1) (PyTorch's default) with the ``padding_idx`` row
zeroed; that row never receives a gradient.  Indices of any shape give
outputs of shape (*indices.shape, embedding_dim).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.backend import default_generator, get_default_dtype, to_numpy_dtype
from chainrule.backend.device import check_device
from chainrule.nn.functional.embedding import check_indices, embedding, normalize_padding_idx
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter

__all__ = ["Embedding"]


class Embedding(Module):
    """y[..., :] = weight[indices[...], :];  weight (num_embeddings, embedding_dim) ~ N(0, 1).

    ``max_norm``: looked-up rows with a larger ``norm_type``-norm are rescaled in
    place to that norm.  ``scale_grad_by_freq`` and ``sparse=True`` are not supported.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        _weight: Any = None,
        _freeze: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        check_device(device, type(self).__name__)
        super().__init__()
        if scale_grad_by_freq or sparse:
            raise NotImplementedError("Embedding: scale_grad_by_freq and sparse gradients are not supported")
        self.num_embeddings = int(num_embeddings)
        self.embedding_dim = int(embedding_dim)
        self.padding_idx = normalize_padding_idx(padding_idx, self.num_embeddings, "Embedding")
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        if _weight is None:
            dt = to_numpy_dtype(dtype) if dtype is not None else get_default_dtype()
            self.weight = Parameter(Tensor(np.empty((self.num_embeddings, self.embedding_dim), dtype=dt)))
            self.reset_parameters()
        else:
            w = _weight.data if isinstance(_weight, Tensor) else np.asarray(_weight)
            if w.shape != (self.num_embeddings, self.embedding_dim):
                raise ValueError(f"Embedding: _weight must have shape ({self.num_embeddings}, "
                                 f"{self.embedding_dim}), got {w.shape}")
            self.weight = Parameter(Tensor(w), requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        """weight ~ N(0, 1), with the padding row set to zero."""
        w = self.weight.data
        w[...] = default_generator().standard_normal(w.shape)
        if self.padding_idx is not None:
            w[self.padding_idx] = 0

    def forward(self, input: Any) -> Tensor:
        check_indices(input, self.num_embeddings, "Embedding")
        return embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type)

    @classmethod
    def from_pretrained(
        cls,
        embeddings: Any,
        freeze: bool = True,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
    ) -> Embedding:
        """An Embedding whose weight is ``embeddings`` (2-D); frozen (no gradient) unless freeze=False."""
        w = embeddings.data if isinstance(embeddings, Tensor) else np.asarray(embeddings)
        if w.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D, got shape {w.shape}")
        return cls(w.shape[0], w.shape[1], padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse,
                   _weight=w.copy(), _freeze=freeze)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        return s
