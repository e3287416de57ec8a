"""How a Tensor crosses a process boundary through ``multiprocessing`` (PyTorch's
``torch.multiprocessing.reductions``, for CPU tensors).

``multiprocessing`` pickles what it sends (a started child's arguments, what goes through a
``Queue``, a ``Pipe``, a ``Pool``) with its own pickler, ``ForkingPickler``; this module
registers :func:`reduce_tensor` there for ``Tensor`` (and ``nn.Parameter`` registers itself),
so that only those transfers change, never ``pickle.dumps`` or ``copy.deepcopy``:

* a tensor in shared memory (:meth:`Tensor.share_memory_`) travels as a handle to its memory:
  the receiver's tensor is the same memory (writes on either side are seen by the other);
* any other CPU tensor travels by value, a copy (PyTorch moves the sender's storage into
  shared memory first; chainrule leaves the sender's tensor as it is);
* the class (``Tensor``, ``Parameter``) and ``requires_grad`` come along; ``grad``, the graph
  and hooks do not (a warning for hooks, as PyTorch);
* a non-leaf tensor that requires grad refuses, as PyTorch: autograd does not cross processes.
"""

from __future__ import annotations

import warnings
from multiprocessing.reduction import ForkingPickler
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.backend import shared_memory
from chainrule.backend.registry import device_of, to_device, to_host


def reduce_tensor(tensor: Tensor) -> tuple:
    """The pickle reduction of ``tensor`` for ``multiprocessing`` (see the module's docstring)."""
    if tensor.requires_grad and tensor._op is not None:
        raise RuntimeError(
            "Cowardly refusing to serialize non-leaf tensor which requires_grad, since autograd does not "
            "support crossing process boundaries.  If you just want to transfer the data, call detach() "
            "on the tensor before serializing (e.g., putting it on the queue)."
        )
    for hook in tensor._extras_or_empty().get("hooks", ()):
        warnings.warn(f"backward hook {hook!r} on tensor will not be serialized.", stacklevel=2)
    arr = tensor._array
    if shared_memory.is_shared(arr):
        payload: Any = shared_memory.reduce_array(arr)
        return (rebuild_shared_tensor, (type(tensor), payload, tensor.requires_grad))
    if type(arr) is np.ndarray:
        return (rebuild_tensor, (type(tensor), arr, tensor.requires_grad))
    # another back end's array travels through the host and goes back to its device on arrival
    return (rebuild_tensor, (type(tensor), to_host(arr), tensor.requires_grad, device_of(arr)))


def rebuild_tensor(cls: type, array: Any, requires_grad: bool, device: Any = None) -> Tensor:
    """A leaf of class ``cls`` (Tensor or a subclass such as Parameter) on ``array`` (moved to
    ``device`` when given)."""
    if device is not None:
        array = to_device(array, device, "rebuild_tensor")
    t = Tensor._wrap(array)
    if cls is not Tensor:  # a subclass (Parameter) made without its __init__, as Tensor._wrap makes one
        sub: Any = object.__new__(cls)
        for slot in ("_array", "requires_grad", "grad", "_op", "_parents"):
            setattr(sub, slot, getattr(t, slot))
        t = sub
    if requires_grad:
        t.requires_grad_(True)
    return t


def rebuild_shared_tensor(cls: type, payload: tuple, requires_grad: bool) -> Tensor:
    """:func:`rebuild_tensor` on the shared memory named by ``payload`` (``reduce_array``'s)."""
    rebuild, args = payload
    return rebuild_tensor(cls, rebuild(*args), requires_grad)


def register(cls: type) -> None:
    """Send tensors of exactly ``cls`` through :func:`reduce_tensor` (``ForkingPickler`` looks
    reducers up by exact type)."""
    ForkingPickler.register(cls, reduce_tensor)


register(Tensor)
