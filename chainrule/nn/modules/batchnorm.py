"""PyTorch's module path ``torch.nn.modules.batchnorm``: the batch-normalisation layers, defined
in :mod:`chainrule.nn.modules.normalization` and :mod:`chainrule.nn.modules.sync_batchnorm`
(programs import them from either)."""

from chainrule.nn.modules._elsewhere import reexports
from chainrule.nn.modules.normalization import BatchNorm1d, BatchNorm2d, _BatchNorm
from chainrule.nn.modules.sync_batchnorm import SyncBatchNorm

__all__ = ["BatchNorm1d", "BatchNorm2d", "SyncBatchNorm", "_BatchNorm"]  # (_BatchNorm: for isinstance checks)

# PyTorch keeps these classes in torch.nn.modules.batchnorm; chainrule defines them in the files
# named here, which import this one: served on first use (see _elsewhere.py).
__getattr__ = reexports(__name__, {
    "BatchNorm3d": "chainrule.nn.modules.normalization_extra",
    **{f"LazyBatchNorm{d}d": "chainrule.nn.modules.lazy" for d in (1, 2, 3)},
})
