"""PyTorch's module path ``torch.nn.modules.fold``: ``Fold`` and ``Unfold``, defined in
:mod:`chainrule.nn.modules.conv`."""

from chainrule.nn.modules.conv import Fold, Unfold

__all__ = ["Fold", "Unfold"]
