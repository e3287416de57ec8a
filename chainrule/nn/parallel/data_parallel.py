"""``nn.DataParallel`` and ``nn.parallel.data_parallel``, as PyTorch runs them without a GPU.

PyTorch's ``DataParallel`` splits each batch across the CUDA devices, runs a replica of
the module on each and gathers the outputs.  When no accelerator is available (a
CPU-only build, or a machine without GPUs) its constructor keeps only ``module`` and
``device_ids = []`` (whatever ``device_ids``, ``output_device`` and ``dim`` were passed:
they are ignored, without a warning) and ``forward`` simply calls the module.  chainrule
has no CUDA, so this is what it does:

* ``dp.module`` is the wrapped module, whose parameters are ``dp``'s (the same tensors);
* ``dp.state_dict()`` keys carry the ``module.`` prefix (save ``dp.module.state_dict()``
  to load into an unwrapped model), and ``dp.load_state_dict`` expects them;
* ``train()`` / ``eval()`` reach the module as for any child;
* attributes of the wrapped model are reached through ``dp.module`` only: like PyTorch's,
  ``DataParallel`` does not forward attribute lookups (``dp.fc`` is an ``AttributeError``).

The functional form ``data_parallel`` has no such fallback in PyTorch: it raises
``RuntimeError("device type could not be determined")`` without an accelerator, and so here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from chainrule.nn.module import Module
from chainrule.nn.parallel.parallel_apply import parallel_apply
from chainrule.nn.parallel.replicate import replicate
from chainrule.nn.parallel.scatter_gather import gather, scatter_kwargs

__all__ = ["DataParallel", "data_parallel"]

T = TypeVar("T", bound=Module)


class DataParallel(Module, Generic[T]):
    """Data parallelism at the module level; without a GPU, the module itself (see the module docstring).

    Args:
        module: the module to parallelise (``self.module``).
        device_ids: CUDA devices; ignored without one (``self.device_ids`` is ``[]``).
        output_device: the outputs' device; ignored without a GPU.
        dim: the dimension the batch is split along; ignored without a GPU.
    """

    device_ids: list[int]

    def __init__(
        self,
        module: T,
        device_ids: Sequence[Any] | None = None,
        output_device: Any = None,
        dim: int = 0,
    ) -> None:
        super().__init__()
        # no accelerator (torch._utils._get_available_device_type() is None): PyTorch stops here
        self.module = module
        self.device_ids = []

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        """``module(*inputs, **kwargs)``: with no devices, PyTorch's ``forward`` calls the module directly."""
        return self.module(*inputs, **kwargs)

    def replicate(self, module: T, device_ids: Sequence[Any]) -> list[T]:
        """``nn.parallel.replicate(module, device_ids, not torch.is_grad_enabled())``."""
        from chainrule.autograd.grad_mode import is_grad_enabled

        return replicate(module, device_ids, not is_grad_enabled())

    def scatter(
        self, inputs: tuple[Any, ...], kwargs: dict[str, Any] | None, device_ids: Sequence[Any]
    ) -> tuple[tuple[Any, ...], tuple[dict[str, Any], ...]]:
        """``nn.parallel.scatter_kwargs(inputs, kwargs, device_ids, dim=0)``."""
        return scatter_kwargs(inputs, kwargs, device_ids, dim=0)

    def parallel_apply(self, replicas: Sequence[T], inputs: Sequence[Any], kwargs: Any) -> list[Any]:
        """``nn.parallel.parallel_apply(replicas, inputs, kwargs, self.device_ids[:len(replicas)])``."""
        return parallel_apply(replicas, inputs, kwargs, self.device_ids[: len(replicas)])

    def gather(self, outputs: Any, output_device: Any) -> Any:
        """``nn.parallel.gather(outputs, output_device, dim=0)``."""
        return gather(outputs, output_device, dim=0)


def data_parallel(
    module: Module,
    inputs: Any,
    device_ids: Sequence[Any] | None = None,
    output_device: Any = None,
    dim: int = 0,
    module_kwargs: Any | None = None,
) -> Any:
    """Evaluate ``module(*inputs)`` in parallel across the GPUs in ``device_ids`` (the functional ``DataParallel``).

    Needs an accelerator: PyTorch raises ``RuntimeError("device type could not be
    determined")`` without one, whatever the arguments, and so does chainrule."""
    raise RuntimeError("device type could not be determined")
