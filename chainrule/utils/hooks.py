"""``torch.utils.hooks``: the handle hook registrations return, and the serialisation markers.

:class:`RemovableHandle` is the class ``Module.register_forward_hook``,
``register_forward_pre_hook``, ``Tensor.register_hook`` and
``register_post_accumulate_grad_hook`` return (defined in :mod:`chainrule.autograd.hooks`).
``BackwardHook``, PyTorch's machinery behind ``Module.register_full_backward_hook``, is not
here: chainrule's Modules have those hooks through their own (``chainrule/nn/_backward_hook.py``).
"""

from __future__ import annotations

import warnings
from typing import Any, TypeVar

from chainrule.autograd.hooks import RemovableHandle

__all__ = ["RemovableHandle", "unserializable_hook", "warn_if_has_hooks"]

_F = TypeVar("_F")


def unserializable_hook(f: _F) -> _F:
    """Mark a function as a hook that is not meant to be serialised (sets
    ``f.__torch_unserializable__ = True``): :func:`warn_if_has_hooks` then stays silent about it."""
    f.__torch_unserializable__ = True  # type: ignore[attr-defined]
    return f


def warn_if_has_hooks(tensor: Any) -> None:
    """Warn (UserWarning) for each backward hook of ``tensor`` (``Tensor.register_hook``) that is
    not marked :func:`unserializable_hook`: saving a tensor does not save its hooks."""
    hooks = tensor._backward_hooks
    if hooks:
        for k in hooks:
            hook = hooks[k]
            if not hasattr(hook, "__torch_unserializable__"):
                warnings.warn(f"backward hook {hook!r} on tensor will not be serialized.  If this is expected, you can "
                              "decorate the function with @torch.utils.hooks.unserializable_hook to suppress this "
                              "warning", stacklevel=2)
