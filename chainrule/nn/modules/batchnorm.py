"""PyTorch's module path ``torch.nn.modules.batchnorm``: the batch-normalisation layers, defined
in :mod:`chainrule.nn.modules.normalization` and :mod:`chainrule.nn.modules.sync_batchnorm`
(programs import them from either)."""

from chainrule.nn.modules.normalization import BatchNorm1d, BatchNorm2d
from chainrule.nn.modules.sync_batchnorm import SyncBatchNorm

__all__ = ["BatchNorm1d", "BatchNorm2d", "SyncBatchNorm"]
