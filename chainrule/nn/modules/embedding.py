"""Embedding: a (num_embeddings, embedding_dim) table of learned vectors, looked up by index.

``weight`` starts as N(0, 1) (PyTorch's default) with the ``padding_idx`` row
zeroed; that row never receives a gradient.  Indices of any shape give
outputs of shape (*indices.shape, embedding_dim).
"""

from __future__ import annotations

from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.backend import default_generator, get_default_dtype, to_numpy_dtype
from chainrule.backend.device import check_device
from chainrule.nn import init
from chainrule.nn.functional.embedding import check_indices, embedding, normalize_padding_idx
from chainrule.nn.functional.embedding_bag import embedding_bag
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.ops.creation import as_tensor, empty

__all__ = ["Embedding", "EmbeddingBag"]


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
            self.weight = Parameter(empty((self.num_embeddings, self.embedding_dim), dtype=dt))
            self.reset_parameters()
        else:
            w = _weight if isinstance(_weight, Tensor) else as_tensor(_weight)
            if w.shape != (self.num_embeddings, self.embedding_dim):
                raise ValueError(f"Embedding: _weight must have shape ({self.num_embeddings}, "
                                 f"{self.embedding_dim}), got {tuple(w.shape)}")
            self.weight = Parameter(w, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        """weight ~ N(0, 1), with the padding row set to zero."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight._array[self.padding_idx] = 0

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
        w = embeddings if isinstance(embeddings, Tensor) else as_tensor(embeddings)
        if w.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D, got shape {tuple(w.shape)}")
        return cls(w.shape[0], w.shape[1], padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse,
                   _weight=w.detach().clone(), _freeze=freeze)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        return s


class EmbeddingBag(Module):
    """Sums, averages or takes the max of bags of embeddings without building the (B, L, D) tensor:
    ``EmbeddingBag(num_embeddings, embedding_dim, max_norm=None, norm_type=2.0,
    scale_grad_by_freq=False, mode='mean', sparse=False, _weight=None, include_last_offset=False,
    padding_idx=None)``.  forward(input, offsets=None, per_sample_weights=None) -> (B, D); input
    (B, L), or (n,) with offsets (B,).  ``weight`` ~ N(0, 1), the ``padding_idx`` row zero.
    Formulas in ``chainrule.nn.functional.embedding_bag``.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        mode: str = "mean",
        sparse: bool = False,
        _weight: Any = None,
        include_last_offset: bool = False,
        padding_idx: int | None = None,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        check_device(device, type(self).__name__)
        super().__init__()
        if mode not in ("sum", "mean", "max"):
            raise ValueError(f"EmbeddingBag: mode has to be one of sum, mean or max, got {mode!r}")
        if scale_grad_by_freq or sparse:
            raise NotImplementedError("EmbeddingBag: scale_grad_by_freq and sparse gradients are not supported")
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.max_norm, self.norm_type, self.mode = max_norm, norm_type, mode
        self.scale_grad_by_freq, self.sparse, self.include_last_offset = scale_grad_by_freq, sparse, include_last_offset
        self.padding_idx = normalize_padding_idx(padding_idx, self.num_embeddings, "EmbeddingBag")
        if _weight is None:
            dt = to_numpy_dtype(dtype) if dtype is not None else get_default_dtype()
            self.weight = Parameter(empty((self.num_embeddings, self.embedding_dim), dtype=dt))
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (self.num_embeddings, self.embedding_dim):
                raise ValueError(f"EmbeddingBag: _weight must have shape ({num_embeddings}, {embedding_dim}), "
                                 f"got {tuple(_weight.shape)}")
            self.weight = _weight if isinstance(_weight, Parameter) else Parameter(_weight)

    def reset_parameters(self) -> None:
        """weight ~ N(0, 1), the padding_idx row zero."""
        self.weight._array[...] = default_generator().standard_normal(self.weight._array.shape)
        if self.padding_idx is not None:
            self.weight._array[self.padding_idx] = 0

    @classmethod
    def from_pretrained(
        cls,
        embeddings: Any,
        freeze: bool = True,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        mode: str = "mean",
        sparse: bool = False,
        include_last_offset: bool = False,
        padding_idx: int | None = None,
    ) -> EmbeddingBag:
        """An EmbeddingBag whose weight is ``embeddings`` (V, D) (a copy); frozen (no gradient)
        unless freeze=False.  The padding_idx row is kept as given (not zeroed), as PyTorch."""
        w = embeddings if isinstance(embeddings, Tensor) else as_tensor(embeddings)
        if w.ndim != 2:
            raise ValueError(f"EmbeddingBag.from_pretrained: embeddings must be 2-D (V, D), got shape "
                             f"{tuple(w.shape)}")
        bag = cls(w.shape[0], w.shape[1], max_norm, norm_type, scale_grad_by_freq, mode, sparse,
                  _weight=w.detach().clone(), include_last_offset=include_last_offset, padding_idx=padding_idx)
        bag.weight.requires_grad = not freeze
        return bag

    def forward(self, input: Any, offsets: Any = None, per_sample_weights: Tensor | None = None) -> Tensor:
        return embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type, self.scale_grad_by_freq,
                             self.mode, self.sparse, per_sample_weights, self.include_last_offset, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}, mode={self.mode!r}"
        return s if self.padding_idx is None else s + f", padding_idx={self.padding_idx}"
