"""Calling a Module with other tensors in place of its parameters and buffers.

``reparametrized(module, tensors)`` is the context manager under ``torch.func.functional_call``
(``chainrule.func.functional_call``): for the duration of the ``with`` block, each dotted name
(``"0.weight"``, ``"bn.running_mean"``) in ``tensors`` is looked up in its sub-module's
``_parameters`` or ``_buffers`` table and replaced by the given tensor, so that the layers'
``self.weight`` reads it; on leaving, even by an exception, the original tensors go back.
Nothing is copied: gradients of the module's output flow to the given tensors.

``functional_call`` here is ``torch.nn.utils.stateless.functional_call``, PyTorch's older
spelling (deprecated since PyTorch 2.0, with a ``FutureWarning``): one dict, the rest as
``torch.func.functional_call``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.func import functional_call as _functional_call
from chainrule.nn.module import STRUCTURE, Module

__all__ = ["functional_call", "reparametrized"]

_MISSING = object()


def _tied_names(module: Module) -> dict[str, list[str]]:
    """name -> every name (itself included) under which the same tensor is registered."""
    groups: dict[int, list[str]] = {}
    for name, t in [*module.named_parameters(remove_duplicate=False), *module.named_buffers(remove_duplicate=False)]:
        groups.setdefault(id(t), []).append(name)
    return {n: names for names in groups.values() for n in names}


def _expand_ties(module: Module, tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    """Give every tied name the tensor given for one of its names (``tie_weights=True``)."""
    tied = _tied_names(module)
    out = dict(tensors)
    for name, t in tensors.items():
        for other in tied.get(name, [name]):
            if other == name:
                continue
            if other in tensors and tensors[other] is not t:
                raise ValueError(
                    f"functional_call got different tensors for {sorted(tied[name])}, which are tied "
                    "(one tensor registered under several names); pass one of them, or tie_weights=False"
                )
            out[other] = t
    return out


def _check_strict(module: Module, names: set[str]) -> None:
    known = set(_tied_names(module))
    missing, unexpected = sorted(known - names), sorted(names - known)
    if missing or unexpected:
        lines = [f"Error(s) in reparametrizing for {type(module).__name__}:"]
        if unexpected:
            lines.append("\tUnexpected key(s): " + ", ".join(repr(n) for n in unexpected) + ".")
        if missing:
            lines.append("\tMissing key(s): " + ", ".join(repr(n) for n in missing) + ".")
        raise RuntimeError("\n".join(lines))


@contextmanager
def reparametrized(module: Module, tensors: dict[str, Tensor], tie_weights: bool = True,
                   strict: bool = False) -> Iterator[Module]:
    """Within the block, ``module``'s parameters/buffers named in ``tensors`` are those tensors.

    A name the module has no parameter or buffer for becomes a plain attribute of its
    sub-module for the block (as in PyTorch), unless ``strict``, which also requires every
    parameter and buffer to be given.  ``tie_weights``: a tensor given for one name of a
    tied group (``b.weight = a.weight``) stands for all the group's names.
    """
    if not isinstance(module, Module):
        raise TypeError(f"functional_call: expected a Module, got {type(module).__name__}")
    for name, t in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"functional_call: names must be dotted strings, got {name!r}")
        if not isinstance(t, Tensor):
            raise TypeError(f"functional_call: the value for {name!r} must be a Tensor, got {type(t).__name__}")
    if tie_weights:
        tensors = _expand_ties(module, tensors)
    if strict:
        _check_strict(module, set(tensors))
    swapped: list[tuple[Any, str, Any]] = []  # (table or module, name, old value or _MISSING)
    STRUCTURE[0] += 1  # (a compiled call's guards look at the Modules again)
    try:
        for name, t in tensors.items():
            path, _, leaf = name.rpartition(".")
            owner = module.get_submodule(path)
            for table in (owner._parameters, owner._buffers):
                if leaf in table:
                    swapped.append((table, leaf, table[leaf]))
                    table[leaf] = t
                    break
            else:  # not a parameter or buffer: a plain attribute for the call
                swapped.append((owner, leaf, owner.__dict__.get(leaf, _MISSING)))
                object.__setattr__(owner, leaf, t)
        yield module
    finally:
        for where, leaf, old in reversed(swapped):
            if isinstance(where, Module):
                if old is _MISSING:
                    object.__delattr__(where, leaf)
                else:
                    object.__setattr__(where, leaf, old)
            else:
                where[leaf] = old
        STRUCTURE[0] += 1


def functional_call(module: Module, parameters_and_buffers: dict[str, Tensor], args: Any = None,
                    kwargs: dict[str, Any] | None = None, *, tie_weights: bool = True,
                    strict: bool = False) -> Any:
    """``torch.nn.utils.stateless.functional_call``: deprecated, use ``torch.func.functional_call``.

    Args:
        module: the Module to call.
        parameters_and_buffers: dotted name -> Tensor, used in place of the module's own.
        args: the positional argument(s) of the call (a tuple, or one argument).
        kwargs: keyword arguments of the call.
        tie_weights: a tensor given for one of several tied names stands for them all.
        strict: require exactly the module's parameter and buffer names.

    Returns:
        What ``module(*args, **kwargs)`` returns.
    """
    warnings.warn(
        "`torch.nn.utils.stateless.functional_call` is deprecated as of PyTorch 2.0; "
        "use `torch.func.functional_call` instead, which is a drop-in replacement",
        FutureWarning,
        stacklevel=2,
    )
    return _functional_call(module, parameters_and_buffers, args, kwargs, tie_weights=tie_weights, strict=strict)
