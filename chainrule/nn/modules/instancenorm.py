"""PyTorch's module path ``torch.nn.modules.instancenorm``: the classes are defined elsewhere in chainrule
(programs import them from either)."""

from chainrule.nn.modules.normalization_extra import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d

__all__ = ["InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"]
