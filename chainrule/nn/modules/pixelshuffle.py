"""PyTorch's module path ``torch.nn.modules.pixelshuffle``: the classes are defined elsewhere in chainrule
(programs import them from either)."""

from chainrule.nn.modules.upsampling import PixelShuffle, PixelUnshuffle

__all__ = ["PixelShuffle", "PixelUnshuffle"]
