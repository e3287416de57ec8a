"""PyTorch's module path ``torch.nn.modules.sparse``: ``Embedding``, defined in
:mod:`chainrule.nn.modules.embedding`."""

from chainrule.nn.modules.embedding import Embedding

__all__ = ["Embedding"]
