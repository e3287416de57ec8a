"""PyTorch's module path ``torch.nn.modules.channelshuffle``: the classes are defined elsewhere in chainrule
(programs import them from either)."""

from chainrule.nn.modules.upsampling import ChannelShuffle

__all__ = ["ChannelShuffle"]
