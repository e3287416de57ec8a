"""PyTorch's module path ``torch.nn.modules.flatten``: ``Flatten`` and ``Unflatten``, defined in
:mod:`chainrule.nn.modules.container`."""

from chainrule.nn.modules.container import Flatten, Unflatten

__all__ = ["Flatten", "Unflatten"]
