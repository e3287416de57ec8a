"""``chainrule.nn.parallel``: ``DataParallel`` (without a GPU: the module itself) and
``DistributedDataParallel`` (data-parallel training across processes), with PyTorch's
``scatter``, ``gather`` (``scatter_kwargs`` in ``nn.parallel.scatter_gather``), ``replicate``,
``parallel_apply`` and ``data_parallel``, which need CUDA for tensors and raise a CPU-only
PyTorch build's errors (see each module's docstring)."""

import warnings
from typing import Any

from chainrule.nn.parallel.data_parallel import DataParallel, data_parallel
from chainrule.nn.parallel.distributed import DistributedDataParallel
from chainrule.nn.parallel.parallel_apply import parallel_apply
from chainrule.nn.parallel.replicate import replicate
from chainrule.nn.parallel.scatter_gather import gather, scatter

__all__ = [
    "replicate",
    "scatter",
    "parallel_apply",
    "gather",
    "data_parallel",
    "DataParallel",
    "DistributedDataParallel",
]


class DistributedDataParallelCPU(DistributedDataParallel):
    """Deprecated alias of :class:`DistributedDataParallel` (PyTorch's; a ``FutureWarning`` at construction)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn(
            "`torch.nn.parallel.DistributedDataParallelCPU` is deprecated, "
            "please use `torch.nn.parallel.DistributedDataParallel` instead.",
            FutureWarning,
            stacklevel=2,
        )
        super().__init__(*args, **kwargs)
