"""Module: the base class of every layer and model (PyTorch's ``torch.nn.Module``).

A Module owns three ordered dictionaries, filled by attribute assignment:

* ``_parameters``: name -> Parameter (or None), the learnable tensors;
* ``_buffers``: name -> Tensor (or None), state that is saved but not learned
  (batch norm's running statistics);
* ``_modules``: name -> Module (or None), the sub-modules.

``self.fc = nn.Linear(3, 4)`` registers a sub-module, ``self.w = Parameter(...)``
a parameter; ``named_parameters()`` walks the tree and gives dotted names
(``"fc.weight"``) — the same names ``state_dict()`` uses, so weights can be
exchanged with PyTorch.  A parameter shared by two sub-modules is listed once.

``model(x)`` calls ``forward(x)`` (and any forward hooks); ``train()``/``eval()``
set the ``training`` flag that dropout and batch norm read.
"""

from __future__ import annotations

import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from chainrule.autograd.hooks import RemovableHandle, add_hook
from chainrule.autograd.host_steps import untraceable
from chainrule.autograd.primitive import table_of
from chainrule.autograd.tensor import Tensor
from chainrule.autograd.version import bump, share
from chainrule.backend import registry, to_numpy_dtype
from chainrule.backend.device import CPU
from chainrule.nn._backward_hook import BackwardHook
from chainrule.nn.parameter import Buffer, Parameter
from chainrule.ops.creation import zeros_like
from chainrule.ops.methods import cuda_device, parse_to_args

__all__ = ["Module"]

if TYPE_CHECKING:
    from typing import ParamSpec, Protocol, TypeVar

    _P = ParamSpec("_P")
    _R = TypeVar("_R", covariant=True)

    class _HasForward(Protocol[_P, _R]):
        """Anything with a ``forward``; ``Module.__call__`` takes its parameters and result type."""

        def forward(self, *args: _P.args, **kwargs: _P.kwargs) -> _R: ...


# Module.type("torch.DoubleTensor"): the legacy tensor type names and their dtypes
_TYPE_NAMES = {
    "FloatTensor": "float32", "DoubleTensor": "float64", "HalfTensor": "float16", "BFloat16Tensor": "bfloat16",
    "LongTensor": "int64", "IntTensor": "int32", "ShortTensor": "int16", "CharTensor": "int8",
    "ByteTensor": "uint8", "BoolTensor": "bool",
}

_EXTRA_STATE = "_extra_state"  # (the state_dict key of a module's get_extra_state(), after its prefix)


class _IncompatibleKeys(NamedTuple):
    missing_keys: list
    unexpected_keys: list


# Counts changes to any Module's attributes, parameters, buffers, submodules and hooks: a
# compiled plan (chainrule/compiler) re-checks the Modules it assumed only when this moved.
STRUCTURE = [0]


def _bump_structure() -> None:
    STRUCTURE[0] += 1


def _add_module_hook(hooks: OrderedDict, hook: Callable, prepend: bool = False) -> RemovableHandle:
    """Register ``hook`` in a Module's ``hooks`` (first with ``prepend``): the handle's
    ``remove()`` also tells a compiled plan that the Module changed."""
    STRUCTURE[0] += 1
    h = add_hook(hooks, hook, prepend)
    h._on_remove = _bump_structure
    return h


# Whether any Module of this process has had a backward hook: until then a call without forward
# hooks skips the two backward tables (the hot path stays as short as before they existed).  Set
# once, never reset, as the engine's HOOKS.post_acc.  (Put a hook in a module's _backward_hooks
# through register_full_backward_hook, not by writing into the dict.)
_BACKWARD_HOOKS_SEEN = False


def _backward_hooks_seen() -> None:
    global _BACKWARD_HOOKS_SEEN
    _BACKWARD_HOOKS_SEEN = True


_HOOK_TABLES = (
    "_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called", "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs", "_backward_hooks", "_backward_pre_hooks", "_state_dict_hooks",
    "_state_dict_pre_hooks", "_load_state_dict_pre_hooks", "_load_state_dict_post_hooks",
)


def _init_hook_tables(d: dict) -> None:
    """A Module's hook tables (PyTorch's attribute names), each an ``OrderedDict`` by handle id;
    those present already (a module pickled by an older chainrule has fewer) are kept."""
    for name in _HOOK_TABLES:
        if name not in d:
            d[name] = OrderedDict()


class Module:
    """Base class of layers and models: subclass it, create sub-layers in ``__init__``, define ``forward``.

    ``training`` is True after construction; ``eval()`` sets it to False.
    """

    training: bool
    _version = 1
    dump_patches: bool = False  # (PyTorch's: no state-dict upgrade patches written)
    call_super_init: bool = False  # (PyTorch's: Module.__init__ does not call super().__init__)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            raise TypeError(f"{type(self).__name__}.__init__() got unexpected arguments {args} {kwargs}")
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = OrderedDict()
        _init_hook_tables(d)
        d["_is_full_backward_hook"] = None

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def _call_impl(self, *args: Any, **kwargs: Any) -> Any:
        d = self.__dict__
        if not (d["_forward_hooks"] or d["_forward_pre_hooks"]
                or (_BACKWARD_HOOKS_SEEN and (d["_backward_hooks"] or d["_backward_pre_hooks"]))):
            return self.forward(*args, **kwargs)
        return self._call_with_hooks(args, kwargs)

    def _call_with_hooks(self, args: tuple, kwargs: dict) -> Any:
        """``forward`` with this module's hooks, in PyTorch's order: forward pre hooks, the input
        side of the backward hooks, ``forward``, forward hooks, the output side of the backward
        hooks.  (A call without hooks never comes here: ``_call_impl`` stays two dict tests, and
        one name test until some module gets a backward hook.)"""
        d = self.__dict__
        untraceable(f"a hook of {type(self).__name__} ran (a replay would not run its Python)")
        with_kw = d["_forward_pre_hooks_with_kwargs"]
        for hid, hook in list(d["_forward_pre_hooks"].items()):
            if hid in with_kw:
                res = hook(self, args, kwargs)
                if res is not None:
                    if not (isinstance(res, tuple) and len(res) == 2):
                        raise RuntimeError(
                            "forward pre-hook must return None or a tuple of (new_args, new_kwargs), "
                            f"but got {res}."
                        )
                    args, kwargs = res
            else:
                res = hook(self, args)
                if res is not None:
                    args = res if isinstance(res, tuple) else (res,)
        bw_hook = None
        if d["_backward_hooks"] or d["_backward_pre_hooks"]:
            bw_hook = BackwardHook(self, list(d["_backward_hooks"].values()), list(d["_backward_pre_hooks"].values()))
            args = bw_hook.setup_inputs(args)
        called: set = set()
        fw_kw = d["_forward_hooks_with_kwargs"]
        out = None  # (what an always_call hook gets when forward itself raised)
        try:
            out = self.forward(*args, **kwargs)
            for hid, hook in list(d["_forward_hooks"].items()):
                called.add(hid)
                res = hook(self, args, kwargs, out) if hid in fw_kw else hook(self, args, out)
                if res is not None:
                    out = res
        except Exception:
            # always_call=True: those hooks run even when forward (or an earlier hook) raised
            for hid, hook in list(d["_forward_hooks"].items()):
                if hid in d["_forward_hooks_always_called"] and hid not in called:
                    try:
                        res = hook(self, args, kwargs, out) if hid in fw_kw else hook(self, args, out)
                        if res is not None:
                            out = res
                    except Exception as e:  # (the first error is the one raised, as PyTorch's)
                        warnings.warn(f"forward hook with always_call=True raised an exception that was ignored: {e!r}",
                                      stacklevel=2)
            raise
        if bw_hook is not None:
            out = bw_hook.setup_outputs(out)
        return out

    if TYPE_CHECKING:
        # For type checkers, ``model(x)`` has the parameters and the result type of the
        # subclass's ``forward`` (``nn.Linear(3, 2)(x)`` is a Tensor, not Any).
        def __call__(self: _HasForward[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R: ...
    else:
        __call__ = _call_impl

    # -- hooks -------------------------------------------------------------------
    def register_forward_hook(
        self, hook: Callable, *, prepend: bool = False, with_kwargs: bool = False, always_call: bool = False
    ) -> RemovableHandle:
        """``hook(module, args, output)`` runs after ``forward``; a non-None result replaces the output.

        ``with_kwargs=True``: ``hook(module, args, kwargs, output)``.  ``prepend=True``: it runs
        before the hooks already registered.  ``always_call=True``: it runs even when ``forward``
        raises (with output None), before the exception goes on."""
        h = _add_module_hook(self._forward_hooks, hook, prepend)
        h.extra_dict_ref = (weakref.ref(self._forward_hooks_with_kwargs),
                            weakref.ref(self._forward_hooks_always_called))
        if with_kwargs:
            self._forward_hooks_with_kwargs[h.id] = True
        if always_call:
            self._forward_hooks_always_called[h.id] = True
        return h

    def register_forward_pre_hook(self, hook: Callable, *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """``hook(module, args)`` runs before ``forward``; a non-None result replaces the
        positional arguments (a non-tuple is made a 1-tuple).

        ``with_kwargs=True``: ``hook(module, args, kwargs)``, which may return ``(args, kwargs)``.
        ``prepend=True``: it runs before the hooks already registered."""
        h = _add_module_hook(self._forward_pre_hooks, hook, prepend)
        h.extra_dict_ref = (weakref.ref(self._forward_pre_hooks_with_kwargs),)
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs[h.id] = True
        return h

    def _backward_kind(self, full: bool) -> None:
        # PyTorch refuses to mix the deprecated hook and the full ones on one module
        kind = self.__dict__.get("_is_full_backward_hook")
        if kind is not None and kind != full and self._backward_hooks:
            raise RuntimeError(
                "Cannot use both regular backward hooks and full backward hooks on a single Module. "
                "Please use only one of them."
            )
        self.__dict__["_is_full_backward_hook"] = full

    def register_full_backward_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """``hook(module, grad_input, grad_output) -> tuple | None`` runs each time the gradients
        with respect to this module's inputs are computed.

        ``grad_input`` has one entry per positional argument of the call: dL/d arg, or None for
        a non-Tensor and for a tensor that does not require grad; ``grad_output`` one per output
        (per element of a tuple output).  A returned tuple (one entry per argument) replaces
        ``grad_input`` in the rest of the backward pass.  The tensors must not be changed in
        place.  ``prepend=True``: it runs before the hooks already registered (see
        ``nn/_backward_hook.py``)."""
        self._backward_kind(True)
        _backward_hooks_seen()
        return _add_module_hook(self._backward_hooks, hook, prepend)

    def register_full_backward_pre_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """``hook(module, grad_output) -> tuple | None`` runs each time the gradients with respect
        to this module's outputs are computed, before the module is differentiated; a returned
        tuple (one entry per output) replaces ``grad_output``."""
        _backward_hooks_seen()
        return _add_module_hook(self._backward_pre_hooks, hook, prepend)

    def register_backward_hook(self, hook: Callable) -> RemovableHandle:
        """PyTorch's deprecated backward hook: ``hook(module, grad_input, grad_output)``.

        PyTorch's gives the gradients of the last graph node of ``forward`` (not the module's
        inputs, unless ``forward`` is one node); chainrule's node boundaries are not PyTorch's,
        so it calls the hook with the values :meth:`register_full_backward_hook` documents, and
        warns.  Use :meth:`register_full_backward_hook`."""
        self._backward_kind(False)
        warnings.warn(
            "register_backward_hook is deprecated (PyTorch: it misses some grad_input when forward is "
            "several autograd Nodes); chainrule calls it as register_full_backward_hook, with the "
            "gradients of the module's inputs. Use register_full_backward_hook.",
            FutureWarning,
            stacklevel=2,
        )
        _backward_hooks_seen()
        return _add_module_hook(self._backward_hooks, hook, False)

    def register_state_dict_pre_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(module, prefix, keep_vars) -> None`` runs before :meth:`state_dict` adds this
        module's entries."""
        return add_hook(self._state_dict_pre_hooks, hook)

    def register_state_dict_post_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(module, state_dict, prefix, local_metadata) -> None`` runs once this module's
        entries and its sub-modules' are in ``state_dict``; it may edit ``state_dict`` in place
        (a non-None result is an error, as PyTorch's)."""
        return add_hook(self._state_dict_hooks, hook)

    def register_load_state_dict_pre_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(module, state_dict, prefix, local_metadata, strict, missing_keys,
        unexpected_keys, error_msgs) -> None`` runs before :meth:`load_state_dict` loads this
        module's entries; it may edit ``state_dict`` (a shallow copy of the one given: rename or
        convert old keys)."""
        return add_hook(self._load_state_dict_pre_hooks, hook)

    def register_load_state_dict_post_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(module, incompatible_keys) -> None`` runs after :meth:`load_state_dict` loaded
        the values; ``incompatible_keys`` has ``missing_keys`` and ``unexpected_keys`` lists, which
        it may edit in place: with ``strict=True`` the error reports what is left in them."""
        return add_hook(self._load_state_dict_post_hooks, hook)

    # -- registration --------------------------------------------------------------
    def _check_name(self, name: Any, kind: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f'{kind} name can\'t be empty or contain ".", got {name!r}')
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {kind} before Module.__init__() call")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or None, a declared but absent one such as ``bias=False``)."""
        STRUCTURE[0] += 1
        self._check_name(name, "parameter")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute {name!r} already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign {type(param).__name__} object to parameter {name!r} "
                "(chainrule.nn.Parameter or None required)"
            )
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a buffer: state saved in ``state_dict`` (if ``persistent``) but not trained."""
        STRUCTURE[0] += 1
        self._check_name(name, "buffer")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute {name!r} already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign {type(tensor).__name__} object to buffer {name!r} (Tensor or None required)"
            )
        if isinstance(tensor, Buffer):
            persistent = tensor._extra.get("persistent", persistent)
            tensor = share(Tensor._wrap(tensor._array), tensor)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a sub-module (also what ``self.name = module`` does)."""
        STRUCTURE[0] += 1
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_name(name, "module")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute {name!r} already exists")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value: Any) -> None:
        STRUCTURE[0] += 1
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            _remove_from(name, d, self._buffers, self._modules)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as parameter {name!r} "
                    "(chainrule.nn.Parameter or None expected)"
                )
            params[name] = None
        elif isinstance(value, Module):
            if params is None:
                raise AttributeError("cannot assign a module before Module.__init__() call")
            _remove_from(name, d, params, self._buffers)
            self._modules[name] = value
        elif params is not None and name in d["_modules"]:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as child module {name!r} (Module or None expected)"
                )
            d["_modules"][name] = None
        elif isinstance(value, Buffer):
            _remove_from(name, d, params, self._modules)
            self.register_buffer(name, value)
        elif params is not None and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer {name!r} (Tensor or None expected)")
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            table = d.get(key)
            if table is not None and name in table:
                return table[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        STRUCTURE[0] += 1
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self) -> list:
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))

    # -- walking the tree ----------------------------------------------------------
    def named_modules(self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True) -> Iterator:
        """(dotted name, module) for this module and every descendant, depth first; each module once."""
        if memo is None:
            memo = set()
        stack = [(prefix, self)]
        while stack:  # iterative: deep Sequentials do not hit the recursion limit
            name, mod = stack.pop()
            if remove_duplicate:
                if id(mod) in memo:
                    continue
                memo.add(id(mod))
            yield name, mod
            children = [(name + ("." if name else "") + k, m) for k, m in mod._modules.items() if m is not None]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator:
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def _named_members(self, table: str, prefix: str, recurse: bool, remove_duplicate: bool = True) -> Iterator:
        seen: set = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for mod_name, mod in mods:
            for name, t in getattr(mod, table).items():
                if t is None or (remove_duplicate and id(t) in seen):
                    continue
                seen.add(id(t))
                yield mod_name + ("." if mod_name else "") + name, t

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True) -> Iterator:
        """(dotted name, Parameter) pairs; a parameter shared by several modules comes once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True) -> Iterator:
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> Module:
        """The sub-module at dotted path ``target`` (``""`` is self)."""
        mod: Module = self
        if not target:
            return mod
        for part in target.split("."):
            if part not in mod._modules or mod._modules[part] is None:
                raise AttributeError(f"{type(mod).__name__} has no sub-module {part!r} (looking up {target!r})")
            mod = mod._modules[part]
        return mod

    def get_parameter(self, target: str) -> Parameter:
        mod_path, _, name = target.rpartition(".")
        mod = self.get_submodule(mod_path)
        if name not in mod._parameters:
            raise AttributeError(f"{type(mod).__name__} has no parameter {name!r} (looking up {target!r})")
        return mod._parameters[name]

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at dotted path ``target`` (``"bn.running_mean"``); AttributeError if the
        path names no sub-module or that sub-module has no such buffer."""
        mod_path, _, name = target.rpartition(".")
        mod = self.get_submodule(mod_path)
        if name not in mod._buffers:
            if hasattr(mod, name):
                raise AttributeError(f"`{name}` is not a buffer (looking up {target!r})")
            raise AttributeError(f"{type(mod).__name__} has no attribute `{name}` (looking up {target!r})")
        return mod._buffers[name]

    def set_submodule(self, target: str, module: Module, strict: bool = False) -> None:
        """Put ``module`` at dotted path ``target`` (``"block.0.fc"``), replacing what is there.

        The path's parents must exist; the last name may be new unless ``strict=True`` (then
        it must name an existing sub-module).  ``target=""`` is an error, as is a last name
        that is another kind of attribute (a parameter, a plain attribute)."""
        if target == "":
            raise ValueError("set_submodule(): cannot set the submodule without a target name")
        if not isinstance(module, Module):
            raise TypeError(f"set_submodule(): `module` is not a Module, found {type(module).__name__}")
        parent_path, _, name = target.rpartition(".")
        parent = self.get_submodule(parent_path)
        if strict and name not in parent._modules:
            raise AttributeError(f"{type(parent).__name__} has no attribute `{name}` (setting {target!r})")
        if hasattr(parent, name) and name not in parent._modules:
            raise AttributeError(f"`{name}` is not an nn.Module (setting {target!r})")
        setattr(parent, name, module)

    def num_parameters(self, trainable_only: bool = False) -> int:
        """The number of scalar parameters (shared ones counted once)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def summary(self) -> str:
        """A table: each sub-module's dotted name, type and number of parameters of its own, and the total."""
        rows = [("(name)", "(type)", "(parameters)")]
        for name, mod in self.named_modules():
            own = sum(p.numel() for p in mod._parameters.values() if p is not None)
            rows.append((name or "(model)", type(mod).__name__, f"{own:,}"))
        rows.append(("total", "", f"{self.num_parameters():,}"))
        rows.append(("trainable", "", f"{self.num_parameters(trainable_only=True):,}"))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        return "\n".join(f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:>{widths[2]}}" for a, b, c in rows)

    # -- modes ---------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout active, batch norm uses batch statistics) on every sub-module."""
        if not isinstance(mode, bool):
            raise ValueError("train(): mode is expected to be a bool")
        for m in self.modules():
            m.__dict__["training"] = mode
        STRUCTURE[0] += 1
        return self

    def eval(self) -> Module:
        """Evaluation mode: the same as ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of all parameters (set them to None, or to zero)."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad = zeros_like(p.grad)

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every sub-module (children first) and then on self; returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # -- dtype ---------------------------------------------------------------------
    def _apply(self, convert: Callable[[np.ndarray], np.ndarray], floating_only: bool = True,
               recurse: bool = True) -> Module:
        """Replace the arrays of every parameter and buffer in place (the Parameter objects stay)."""
        for m in self.modules() if recurse else (self,):
            for table in (m._parameters, m._buffers):
                for t in table.values():
                    if t is None or (floating_only and t._array.dtype.kind != "f"):
                        continue
                    t._array = convert(t._array)
                    if t.grad is not None:
                        t.grad = Tensor._wrap(convert(t.grad._array))
        return self

    def share_memory(self) -> Module:
        """Move every parameter and buffer (and their gradients) into shared memory
        (:meth:`Tensor.share_memory_`), so that processes this module is sent to work on the
        same values (Hogwild training); returns self.  Call it before creating optimisers or
        views of the parameters."""
        for m in self.modules():
            for table in (m._parameters, m._buffers):
                for t in table.values():
                    if t is not None:
                        t.share_memory_()
                        if t.grad is not None:
                            t.grad.share_memory_()
        return self

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """``to(dtype)``, ``to(device, dtype)`` or ``to(tensor)``: move parameters and buffers
        (and their gradients) to a device and/or cast the floating ones, in place (the
        Parameter objects stay, so optimisers keep working on them).

        A device without a registered back end raises, as does a non-floating dtype (TypeError,
        as PyTorch).  Moving copies through the host (``backend/registry.py``).
        """
        where = f"{type(self).__name__}.to()"
        dev, dtype, _, _ = parse_to_args(where, args, kwargs)
        if dev is not None:
            target = registry.target_device(dev, where) or CPU
            self._apply(lambda a: registry.to_device(a, target, where), floating_only=False)
        if dtype is None:
            return self
        dt = to_numpy_dtype(dtype)
        if dt.kind != "f":
            raise TypeError(f"to(): modules can only be cast to floating dtypes, got {dt}")
        return self._apply(lambda a: registry.backend_of(a).math.astype(a, dt))

    def to_empty(self, *, device: Any, recurse: bool = True) -> Module:
        """Replace every parameter's and buffer's values by uninitialised memory of the same
        shape and dtype on ``device`` (in place: the Parameter objects stay), as after building
        a model on the ``meta`` device; ``recurse=False``: this module's own only.  A gradient
        is replaced likewise, as PyTorch's.  Returns self."""
        where = f"{type(self).__name__}.to_empty()"
        target = registry.target_device(device, where)

        def fresh(a: Any) -> Any:
            empty = table_of((a,), where).empty(a.shape, a.dtype)
            return empty if target is None else registry.to_device(registry.to_host(empty), target, where)

        return self._apply(fresh, floating_only=False, recurse=recurse)

    def type(self, dst_type: Any) -> Module:
        """Cast every parameter and buffer (integer ones too, as PyTorch's) to ``dst_type``: a
        dtype (``torch.float64``) or a tensor type name (``"torch.DoubleTensor"``), in place.
        A dtype chainrule cannot compute in (bfloat16) raises TypeError."""
        if isinstance(dst_type, str) and dst_type.removeprefix("torch.") in _TYPE_NAMES:
            dst_type = _TYPE_NAMES[dst_type.removeprefix("torch.")]
        elif isinstance(dst_type, type) and dst_type.__name__ in _TYPE_NAMES:  # (torch.DoubleTensor itself)
            dst_type = _TYPE_NAMES[dst_type.__name__]
        try:
            npdt = to_numpy_dtype(dst_type)
        except (TypeError, ValueError) as e:
            if "bfloat16" in str(dst_type):
                raise
            raise TypeError(f"{type(self).__name__}.type(): expected a dtype or a tensor type name, "
                            f"got {dst_type!r}") from e
        return self._apply(lambda a: registry.backend_of(a).math.astype(a, npdt), floating_only=False)

    def bfloat16(self) -> Module:
        """Cast the floating parameters and buffers to bfloat16: chainrule computes with NumPy,
        which has no bfloat16, so this raises the TypeError ``to(torch.bfloat16)`` raises."""
        from chainrule.backend.numpy_backend import bfloat16

        return self.to(bfloat16)

    def compile(self, *args: Any, **kwargs: Any) -> None:
        """Compile this module in place (PyTorch 2.2's ``Module.compile``): its calls go through
        ``chainrule.compile`` of its ``forward`` (same arguments as :func:`chainrule.compile`);
        the module stays the same object, with the same ``state_dict`` keys (no ``_orig_mod.``
        prefix).  Forward hooks still run around the compiled forward, eagerly.  The compiled
        function is ``module.forward`` (``module.forward.stats``, ``.explain()``); ``del
        module.forward`` undoes it."""
        # (the compiler sits above nn: imported when called, as chainrule.compile itself imports it)
        from chainrule.compiler.api import CompiledFunction
        from chainrule.compiler.api import compile as compile_fn

        if isinstance(self.__dict__.get("forward"), CompiledFunction):  # (again: start from the eager forward)
            del self.__dict__["forward"]
        compiled = compile_fn(type(self).forward.__get__(self), *args, **kwargs)
        object.__setattr__(self, "forward", compiled)
        STRUCTURE[0] += 1

    def float(self) -> Module:
        return self.to(np.float32)

    def double(self) -> Module:
        return self.to(np.float64)

    def half(self) -> Module:
        return self.to(np.float16)

    def cpu(self) -> Module:
        """Parameters and buffers moved to the CPU (in place); returns self."""
        return self.to(CPU)

    def cuda(self, device: Any = None) -> Module:
        """Parameters and buffers moved to a CUDA device (in place); raises unless a 'cuda'
        back end is registered (PyTorch on a CPU-only build raises too)."""
        return self.to(cuda_device(device, f"{type(self).__name__}.cuda()"))

    # -- state dicts -----------------------------------------------------------------
    def _walk_state(self, out: dict, prefix: str, keep_vars: bool, hooks: bool,
                    extra: dict | None = None) -> dict:
        """Every module's parameters and persistent buffers into ``out`` under dotted names
        (a module reached twice under both names), each module's entries before its
        sub-modules'.  ``hooks``: also each module's state-dict pre hooks (before its entries),
        its extra state, and its post hooks (after its sub-modules'), as PyTorch's recursion;
        else ``extra`` gets key -> module for the modules that keep extra state.  Iterative:
        deep Sequentials do not hit the recursion limit."""
        prefix = prefix.rstrip(".")
        stack: list[tuple[bool, str, Module]] = [(False, prefix + "." if prefix else "", self)]
        while stack:
            leaving, pre, mod = stack.pop()
            md = mod.__dict__
            if leaving:  # (post hooks: after the module's own entries and its sub-modules')
                for hook in list(md["_state_dict_hooks"].values()):
                    if hook(mod, out, pre, {"version": mod._version}) is not None:
                        raise RuntimeError("state_dict post-hook must return None")
                continue
            if hooks:
                for hook in list(md["_state_dict_pre_hooks"].values()):
                    hook(mod, pre, keep_vars)
            for name, p in md["_parameters"].items():
                if p is not None:
                    out[pre + name] = p if keep_vars else p.detach()
            for name, b in md["_buffers"].items():
                if b is not None and name not in md["_non_persistent_buffers_set"]:
                    out[pre + name] = b if keep_vars else b.detach()
            if type(mod).get_extra_state is not Module.get_extra_state:
                if hooks:
                    out[pre + _EXTRA_STATE] = mod.get_extra_state()
                elif extra is not None:
                    extra[pre + _EXTRA_STATE] = mod
            if hooks and md["_state_dict_hooks"]:
                stack.append((True, pre, mod))
            for name, child in reversed(md["_modules"].items()):
                if child is not None:
                    stack.append((False, pre + name + ".", child))
        return out

    def state_dict(self, destination: dict | None = None, prefix: str = "",
                   keep_vars: bool = False) -> dict[str, Any]:
        """Dotted name -> tensor for every parameter and persistent buffer (values shared, not
        copied; ``keep_vars=True``: the Parameters themselves), and ``prefix + "_extra_state"``
        -> :meth:`get_extra_state` for each module whose class defines it.  State-dict hooks run
        as PyTorch's: a module's pre hooks before its entries, its post hooks after its
        sub-modules'."""
        out = OrderedDict() if destination is None else destination
        return self._walk_state(out, prefix, keep_vars, hooks=True)

    def get_extra_state(self) -> Any:
        """The state to keep in :meth:`state_dict` beyond parameters and buffers (any picklable
        object).  A subclass that defines it (and :meth:`set_extra_state`) gets the entry
        ``prefix + "_extra_state"``; the base class has none and raises."""
        raise RuntimeError(
            "Reached a code path in Module.get_extra_state() that should never be called. "
            "Define get_extra_state() in your module to keep extra state in its state_dict."
        )

    def set_extra_state(self, state: Any) -> None:
        """Restore what :meth:`get_extra_state` returned (called by :meth:`load_state_dict` with
        the ``_extra_state`` entry); the base class raises."""
        raise RuntimeError(
            "Reached a code path in Module.set_extra_state() that should never be called. "
            "Define set_extra_state() in your module to load its extra state."
        )

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> _IncompatibleKeys:
        """Copy values from ``state_dict`` into this module's parameters and buffers.

        With ``strict=True`` (the default) missing and unexpected keys are an error;
        shape mismatches are always an error.  The error lists every problem found.
        Returns ``(missing_keys, unexpected_keys)``.  Each module's load-state-dict pre hooks
        run first (on a shallow copy of ``state_dict``, which they may edit), an
        ``_extra_state`` entry goes to that module's :meth:`set_extra_state`, and the post
        hooks run after the values are loaded, before the strict check, and may edit the
        missing/unexpected key lists in place.
        """
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"load_state_dict(): expected a dict, got {type(state_dict).__name__}")
        metadata = getattr(state_dict, "_metadata", None)
        state_dict = OrderedDict(state_dict)  # (hooks edit this copy, not the caller's dict)
        if metadata is not None:
            state_dict._metadata = metadata
        for name, mod in list(self.named_modules()):  # lazy layers not yet run take the checkpoint's shapes
            hook = getattr(mod, "_materialize_from_state", None)
            if hook is not None:
                hook(state_dict, name + "." if name else "")
        missing: list = []
        unexpected: list = []
        error_msgs: list = []
        post_hooked = []
        for name, mod in self.named_modules(remove_duplicate=False):
            pre = name + "." if name else ""
            if mod._load_state_dict_pre_hooks:
                meta = {} if metadata is None else metadata.get(name, {})
                for hook in list(mod._load_state_dict_pre_hooks.values()):
                    hook(mod, state_dict, pre, meta, strict, missing, unexpected, error_msgs)
            if mod._load_state_dict_post_hooks:
                post_hooked.append(mod)
        extra: dict[str, Module] = {}
        own = self._walk_state(OrderedDict(), "", True, hooks=False, extra=extra)
        missing.extend(k for k in list(own) + list(extra) if k not in state_dict)
        unexpected.extend(k for k in state_dict if k not in own and k not in extra)
        problems = list(error_msgs)
        updates = []
        for k, target in own.items():
            if k not in state_dict:
                continue
            v = state_dict[k]
            arr = v._array if isinstance(v, Tensor) else table_of(()).from_host(v)  # host data
            if arr.shape != target._array.shape:
                problems.append(
                    f"size mismatch for {k}: copying a param with shape {tuple(arr.shape)} from checkpoint, "
                    f"the shape in current model is {tuple(target._array.shape)}"
                )
                continue
            updates.append((target, arr))
        if problems or (strict and (missing or unexpected) and not post_hooked):
            self._load_error(problems, missing, unexpected, strict)  # (nothing copied yet)
        for target, arr in updates:
            if type(arr) is not np.ndarray or type(target._array) is not np.ndarray:
                # another back end's array on either side: copy through the host, onto the
                # device of the state dict's tensor (assign) or of the parameter (copy_)
                if assign:
                    target._array = table_of((arr,), "load_state_dict").copy(arr)
                else:
                    host = registry.to_host(arr).astype(target._array.dtype)  # (a copy)
                    target._array = registry.to_device(host, registry.device_of(target._array))
                    bump(target)
            elif assign:
                target._array = arr.copy()
            elif target._array.flags.writeable:
                target._array[...] = arr
                bump(target)  # copied in place: an in-place change, as PyTorch's param.copy_
            else:
                target._array = arr.astype(target._array.dtype)  # (a copy)
        for k, mod in extra.items():
            if k in state_dict:
                mod.set_extra_state(state_dict[k])
        if post_hooked:  # (sub-modules' hooks before their parents', as PyTorch's)
            keys = _IncompatibleKeys(missing, unexpected)
            for mod in reversed(post_hooked):
                for hook in list(mod._load_state_dict_post_hooks.values()):
                    if hook(mod, keys) is not None:
                        raise RuntimeError("load_state_dict post-hook must return None")
            if strict and (missing or unexpected):
                self._load_error([], missing, unexpected, strict)
        return _IncompatibleKeys(missing, unexpected)

    def _load_error(self, problems: list, missing: list, unexpected: list, strict: bool) -> None:
        problems = list(problems)
        if strict:
            if unexpected:
                problems.insert(0, "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
            if missing:
                problems.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
        raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(problems))

    # -- printing --------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside this module's parentheses in ``repr`` (layers override it)."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        lines = []
        extra = self.extra_repr()
        if extra:
            lines.extend(extra.split("\n"))
        for name, m in self._modules.items():
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {body}")
        if not lines:
            return f"{self._get_name()}()"
        if len(lines) == 1 and not self._modules:
            return f"{self._get_name()}({lines[0]})"
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        _init_hook_tables(self.__dict__)
        self.__dict__.setdefault("_is_full_backward_hook", None)
        if self.__dict__["_backward_hooks"] or self.__dict__["_backward_pre_hooks"]:
            _backward_hooks_seen()


def _remove_from(name: str, d: dict, *tables: dict | None) -> None:
    for table in tables:
        if table is not None and name in table:
            del table[name]
    d.pop(name, None)
