"""PyTorch's module path ``torch.nn.modules.instancenorm``: the classes are defined elsewhere in chainrule
(programs import them from either)."""

from chainrule.nn.modules.normalization_extra import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d

__all__ = ["InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"]

from chainrule.nn.modules._elsewhere import reexports  # noqa: E402

# the lazy twins are defined in lazy.py, which imports the layers: served on first use
__getattr__ = reexports(__name__, {f"LazyInstanceNorm{d}d": "chainrule.nn.modules.lazy" for d in (1, 2, 3)})
