"""The handle every hook registration returns (``torch.utils.hooks.RemovableHandle``).

One class for the Module hooks (``register_forward_hook``...) and the Tensor hooks
(``register_hook``, ``register_post_accumulate_grad_hook``): the hooks live in an
``OrderedDict`` keyed by the handle's ``id`` (a counter shared by all handles, so ids never
repeat), and ``handle.remove()`` deletes that key.  As PyTorch's, the handle refers to the dict
weakly (a handle does not keep a Module's or a Tensor's hooks alive), removing twice is harmless,
and ``with handle:`` removes the hook on leaving the block.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from typing import Any, Callable

__all__ = ["RemovableHandle"]


class RemovableHandle:
    """A handle which provides the capability to remove a hook.

    Args:
        hooks_dict: an ``OrderedDict`` of hooks, indexed by hook ``id`` (the caller stores the
            hook under ``handle.id``).
        extra_dict: a dict or a list of dicts whose key ``id`` is deleted too on ``remove()``.
    """

    id: int
    next_id: int = 0

    def __init__(self, hooks_dict: Any, *, extra_dict: Any = None) -> None:
        self.hooks_dict_ref = weakref.ref(hooks_dict)
        self.id = RemovableHandle.next_id
        RemovableHandle.next_id += 1
        self.extra_dict_ref: tuple = ()
        if isinstance(extra_dict, dict):
            self.extra_dict_ref = (weakref.ref(extra_dict),)
        elif isinstance(extra_dict, list):
            self.extra_dict_ref = tuple(weakref.ref(d) for d in extra_dict)
        self._on_remove: Callable[[], None] | None = None  # chainrule's: a Module's structure counter

    def remove(self) -> None:
        """Unregister the hook (a second call, or a call after its owner is gone: nothing)."""
        if self._on_remove is not None:
            self._on_remove()
        hooks_dict = self.hooks_dict_ref()
        if hooks_dict is not None and self.id in hooks_dict:
            del hooks_dict[self.id]
        for ref in self.extra_dict_ref:
            extra_dict = ref()
            if extra_dict is not None and self.id in extra_dict:
                del extra_dict[self.id]

    def __getstate__(self) -> tuple:
        return (self.hooks_dict_ref(), self.id, tuple(ref() for ref in self.extra_dict_ref))

    def __setstate__(self, state: tuple) -> None:
        # a dict that is gone pickles as None: the handle then refers to a dead (empty) one
        self.hooks_dict_ref = weakref.ref(OrderedDict() if state[0] is None else state[0])
        self.id = state[1]
        RemovableHandle.next_id = max(RemovableHandle.next_id, self.id + 1)
        self.extra_dict_ref = () if len(state) < 3 or state[2] is None else tuple(weakref.ref(d) for d in state[2])
        self._on_remove = None

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, type: Any, value: Any, tb: Any) -> None:
        self.remove()


def add_hook(hooks: OrderedDict, hook: Any, prepend: bool = False) -> RemovableHandle:
    """Store ``hook`` in ``hooks`` under a new handle's id (first of them with ``prepend``, so it
    runs before those registered already); returns the handle."""
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle
