"""``chainrule.multiprocessing``: Python's :mod:`multiprocessing` for processes that share tensors,
as ``torch.multiprocessing``.

Everything of :mod:`multiprocessing` is here under the same names (``Process``, ``Queue``,
``Pipe``, ``Pool``, ``get_context``, ``set_start_method``...), and

* :func:`spawn` / :func:`start_processes` run ``fn(i, *args)`` in ``nprocs`` processes and turn a
  child's exception or non-zero exit into :class:`ProcessRaisedException` (with the child's
  traceback) / :class:`ProcessExitedException` in the parent;
* tensors sent to other processes (a child's arguments, a ``Queue``, a ``Pipe``, a ``Pool``'s
  tasks) keep their values, dtype, shape, class and ``requires_grad``; a tensor in shared
  memory (``Tensor.share_memory_()``, ``Module.share_memory()``) arrives as *the same memory*,
  which is what Hogwild training needs.  A tensor not in shared memory travels by value (PyTorch
  moves it into shared memory on the way; chainrule copies it and leaves the sender's as it was).
* :func:`set_sharing_strategy` picks how shared memory is named to other processes:
  ``"file_descriptor"`` (the default on Linux) or ``"file_system"`` (``backend/shared_memory.py``).

The pickling of tensors is registered when chainrule is imported, so a plain
``multiprocessing.Queue`` carries shared tensors as well.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing import *  # noqa: F403  (the whole of Python's module, as torch.multiprocessing)

from chainrule.backend import shared_memory as _shm
from chainrule.multiprocessing import reductions as reductions
from chainrule.multiprocessing.reductions import init_reductions as init_reductions
from chainrule.multiprocessing.spawn import ENV_VAR_PARALLEL_START as ENV_VAR_PARALLEL_START
from chainrule.multiprocessing.spawn import ProcessContext as ProcessContext
from chainrule.multiprocessing.spawn import ProcessException as ProcessException
from chainrule.multiprocessing.spawn import ProcessExitedException as ProcessExitedException
from chainrule.multiprocessing.spawn import ProcessRaisedException as ProcessRaisedException
from chainrule.multiprocessing.spawn import SpawnContext as SpawnContext
from chainrule.multiprocessing.spawn import spawn as spawn
from chainrule.multiprocessing.spawn import start_processes as start_processes

__all__ = ["set_sharing_strategy", "get_sharing_strategy", "get_all_sharing_strategies"]
__all__ += multiprocessing.__all__


def set_sharing_strategy(new_strategy: str) -> None:
    """Set how tensors moved into shared memory from now on are shared with other processes.

    Args:
        new_strategy: one of :func:`get_all_sharing_strategies` (``"file_descriptor"``,
            ``"file_system"``).
    """
    if new_strategy not in _shm.ALL_STRATEGIES:
        raise AssertionError(
            f"invalid sharing strategy {new_strategy!r}, expected one of {set(_shm.ALL_STRATEGIES)}"
        )
    _shm.STRATEGY[0] = new_strategy


def get_sharing_strategy() -> str:
    """The current strategy for sharing CPU tensors."""
    return _shm.STRATEGY[0]


def get_all_sharing_strategies() -> set[str]:
    """The sharing strategies this system supports."""
    return set(_shm.ALL_STRATEGIES)
