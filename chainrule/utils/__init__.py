"""Utilities (PyTorch's ``torch.utils``): ``chainrule.utils.data``, ``chainrule.utils.checkpoint``,
``chainrule.utils.hooks``."""

from chainrule.utils import checkpoint, data, hooks

__all__ = ["checkpoint", "data", "hooks"]
