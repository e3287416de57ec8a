"""``torch.multiprocessing.reductions``: how tensors are pickled by ``multiprocessing``.

The reducers live in ``chainrule.autograd.sharing`` (registered when chainrule is imported, for
``Tensor`` and ``nn.Parameter``); this module names them as PyTorch does.
"""

from __future__ import annotations

from chainrule.autograd.sharing import rebuild_shared_tensor, rebuild_tensor, reduce_tensor, register
from chainrule.autograd.tensor import Tensor

__all__ = ["init_reductions", "rebuild_shared_tensor", "rebuild_tensor", "reduce_tensor"]


def init_reductions() -> None:
    """Register :func:`reduce_tensor` with ``multiprocessing``'s pickler for ``Tensor`` and
    ``nn.Parameter`` (already done at import; calling it again changes nothing)."""
    from chainrule.nn.parameter import Parameter

    register(Tensor)
    register(Parameter)
