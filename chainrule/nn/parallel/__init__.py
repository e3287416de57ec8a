"""``chainrule.nn.parallel``: data-parallel training across processes (``DistributedDataParallel``)."""

from chainrule.nn.parallel.distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
