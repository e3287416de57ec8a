"""``torch.nn.modules.linear_cross_entropy_options``: :class:`LinearCrossEntropyOptions`, which chainrule
defines beside the function that reads it, in ``chainrule/nn/functional/linear_cross_entropy.py``."""

from chainrule.nn.functional.linear_cross_entropy import LinearCrossEntropyOptions

__all__ = ["LinearCrossEntropyOptions"]
