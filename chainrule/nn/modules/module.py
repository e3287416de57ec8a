"""PyTorch's module path ``torch.nn.modules.module``: ``Module``, defined in :mod:`chainrule.nn.module`."""

from chainrule.nn.module import Module

__all__ = ["Module"]
