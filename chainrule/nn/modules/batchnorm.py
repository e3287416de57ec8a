"""PyTorch's module path ``torch.nn.modules.batchnorm``: the batch-normalisation layers, defined
in :mod:`chainrule.nn.modules.normalization` (programs import them from either)."""

from chainrule.nn.modules.normalization import BatchNorm1d, BatchNorm2d

__all__ = ["BatchNorm1d", "BatchNorm2d"]
