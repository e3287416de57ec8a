"""Utilities (PyTorch's ``torch.utils``): ``chainrule.utils.data``, ``chainrule.utils.checkpoint``."""

from chainrule.utils import checkpoint, data

__all__ = ["checkpoint", "data"]
