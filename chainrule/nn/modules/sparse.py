"""PyTorch's module path ``torch.nn.modules.sparse``: ``Embedding``, defined in
:mod:`chainrule.nn.modules.embedding`."""

from chainrule.nn.modules._elsewhere import reexports
from chainrule.nn.modules.embedding import Embedding

__all__ = ["Embedding"]

# PyTorch keeps these classes in torch.nn.modules.sparse; chainrule defines them in the files
# named here, which import this one: served on first use (see _elsewhere.py).
__getattr__ = reexports(__name__, {
    "EmbeddingBag": "chainrule.nn.modules.embedding",
})
