"""``torch.autograd.SavedTensor``: one tensor a custom ``Function`` saved for its backward.

``ctx.save_for_backward(a, b)`` keeps one ``SavedTensor`` per argument; the Function's graph
node (``out.grad_fn``) hands them out as ``grad_fn._raw_saved_tensors`` and their values as
``grad_fn.saved_tensors``, as PyTorch's ``BackwardCFunction`` does.  ``register_hooks(pack,
unpack)`` changes how the value is kept: ``pack_hook(tensor)`` runs at once and its result is
kept instead of the tensor; each later use (``unpack()``, ``ctx.saved_tensors`` in backward)
gets ``unpack_hook(packed)``.  This is what ``torch.autograd.graph.saved_tensors_hooks`` does for
every saved tensor (offloading to disk, compressing, counting).

Built-in ops are different: what their backward reads is the node's inputs and output
themselves (``Tensor._parents`` and the tensor), so their ``grad_fn`` has no ``_saved_*``
attributes.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable

from chainrule.autograd.tensor import Tensor

FREED_MSG = (
    "Trying to backward through the graph a second time (or directly access saved tensors after they "
    "have already been freed). Saved intermediate values of the graph are freed when you call .backward() "
    "or autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time "
    "or if you need to access saved tensors after calling backward."
)


class SavedTensor:
    """A tensor saved for backward (or None), with optional pack/unpack hooks.

    Made by ``ctx.save_for_backward``, not by users; read through ``grad_fn._raw_saved_tensors``.
    """

    __slots__ = ("_tensor", "_none", "_packed", "_unpack_hook", "_hooked", "_graph")

    def __init__(self, tensor: Tensor | None) -> None:
        self._tensor = tensor
        self._none = tensor is None
        self._packed: Any = None
        self._unpack_hook: Callable[[Any], Any] | None = None
        self._hooked = False
        self._graph: Any = None  # weak reference to the graph tensor of the node that saved it

    def _check_alive(self) -> None:
        out = None if self._graph is None else self._graph()
        if out is not None and out._op is not None and out._parents is None:
            raise RuntimeError(FREED_MSG)

    def register_hooks(self, pack_hook: Callable[[Tensor], Any], unpack_hook: Callable[[Any], Tensor]) -> None:
        """Keep ``pack_hook(tensor)`` instead of the tensor; each use gets ``unpack_hook(packed)``.

        ``pack_hook`` runs now (once); the saved tensor itself is let go by this object.  One
        pair of hooks per saved tensor (a second call raises RuntimeError, as in PyTorch).

        Args:
            pack_hook: tensor -> any object to keep.
            unpack_hook: that object -> a Tensor with the saved tensor's values (the one backward uses).
        """
        if not callable(pack_hook) or not callable(unpack_hook):
            raise TypeError(
                f"SavedTensor.register_hooks: pack_hook and unpack_hook must be callables, got "
                f"{type(pack_hook).__name__} and {type(unpack_hook).__name__}"
            )
        if self._hooked:
            raise RuntimeError(
                "Calling register_hooks on a saved tensor whose hooks have already been set. "
                "Hint: only one pair of hooks is allowed at a time."
            )
        self._check_alive()
        if not self._none:
            self._packed = pack_hook(self._tensor)  # type: ignore[arg-type]  # (not None: _none is False)
            self._tensor = None
        self._unpack_hook = unpack_hook
        self._hooked = True

    def _value(self) -> Tensor | None:
        """The saved value: the tensor, or ``unpack_hook(packed)`` (no liveness check: the engine's)."""
        if not self._hooked:
            return self._tensor
        if self._none or self._unpack_hook is None:
            return None  # (None was saved)
        out = self._unpack_hook(self._packed)
        if not isinstance(out, Tensor):
            raise TypeError(
                f"Output of saved tensor unpack_hook expected to be a Tensor but got result of type "
                f"{type(out).__name__}"
            )
        return out

    def unpack(self) -> Tensor | None:
        """The saved tensor (through ``unpack_hook`` when hooks are registered); None if None was
        saved.  RuntimeError once a backward without ``retain_graph`` has freed the node."""
        self._check_alive()
        return self._value()

    @property
    def data(self) -> Any:
        """What is kept: the tensor, or ``pack_hook``'s result once hooks are registered."""
        return self._packed if self._hooked else self._tensor

    def __repr__(self) -> str:
        return f"<SavedTensor {'hooked' if self._hooked else 'plain'}>"


def bind(saved: tuple, graph_tensor: Tensor) -> None:
    """Tie saved tensors to the graph tensor of their node (freed together)."""
    ref = weakref.ref(graph_tensor)
    for s in saved:
        s._graph = ref


# ---------------------------------------------------------------- saved_tensors_hooks (autograd/graph.py)
# A built-in op's backward reads its node's inputs and output (``_parents``, the tensor itself).
# While a ``saved_tensors_hooks`` context is open (``STATE.saved_hooks``, which puts the thread on
# the slow recording path, so that nothing is paid without one), ``pack_saved`` packs the ones the
# vjp reads (``op.saved_inputs(need)``, ``op.saves_output``) as the node is recorded and keeps
# them in the node's extras as ``"saved"``: (unpack_hook, [(input index or -1 for the output,
# packed), ...]).  The engine's general walk (taken while such a node lives: ``_extras`` holds
# the hook counter) gives the vjp ``unpacked(...)``'s values instead of the tensors'.

def pack_saved(op: Any, out: Tensor) -> None:
    """Pack what ``op``'s backward will read of the node ``out`` with the innermost pack hook."""
    from chainrule.autograd.grad_mode import STATE

    hooks = STATE.saved_hooks
    pack, unpack = hooks[-1]
    parents = out._parents
    idx = [k for k in op.saved_inputs(out._need) if isinstance(parents[k], Tensor)]
    # (ops run by a pack hook are not packed themselves, as in PyTorch; they stay on the slow
    # path, where an empty list packs nothing)
    STATE.saved_hooks = []
    try:
        packed = [(k, pack(parents[k])) for k in idx]
        if op.saves_output:
            packed.append((-1, pack(out)))
    finally:
        STATE.saved_hooks = hooks
    if packed:
        out._extras()["saved"] = (unpack, packed)


def unpacked(t: Tensor, parents: tuple, saved: tuple) -> tuple[Tensor, list]:
    """(the output, the inputs) that the vjp of node ``t`` reads: the unpack hook's tensors
    where values were packed, ``t`` and ``parents`` elsewhere."""
    unpack, packed = saved
    y: Tensor = t
    xs = list(parents)
    for k, p in packed:
        v = unpack(p)
        if not isinstance(v, Tensor):
            raise TypeError(
                f"Output of saved tensor unpack_hook expected to be a Tensor but got result of type "
                f"{type(v).__name__}"
            )
        if k < 0:
            y = v
        else:
            xs[k] = v
    return y, xs
