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


class _IncompatibleKeys(NamedTuple):
    missing_keys: list
    unexpected_keys: list


# Counts changes to any Module's attributes, parameters, buffers, submodules and hooks: a
# compiled plan (chainrule/compiler) re-checks the Modules it assumed only when this moved.
STRUCTURE = [0]


def _bump_structure() -> None:
    STRUCTURE[0] += 1


def _add_module_hook(hooks: OrderedDict, hook: Callable) -> RemovableHandle:
    """Register ``hook`` in a Module's ``hooks``: the handle's ``remove()`` also tells a compiled
    plan that the Module changed."""
    STRUCTURE[0] += 1
    h = add_hook(hooks, hook)
    h._on_remove = _bump_structure
    return h


class Module:
    """Base class of layers and models: subclass it, create sub-layers in ``__init__``, define ``forward``.

    ``training`` is True after construction; ``eval()`` sets it to False.
    """

    training: bool
    _version = 1

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            raise TypeError(f"{type(self).__name__}.__init__() got unexpected arguments {args} {kwargs}")
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = OrderedDict()
        d["_forward_hooks"] = OrderedDict()
        d["_forward_pre_hooks"] = OrderedDict()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def _call_impl(self, *args: Any, **kwargs: Any) -> Any:
        d = self.__dict__
        if not (d["_forward_hooks"] or d["_forward_pre_hooks"]):
            return self.forward(*args, **kwargs)
        untraceable(f"a forward hook of {type(self).__name__} ran (a replay would not run its Python)")
        for hook in list(d["_forward_pre_hooks"].values()):
            res = hook(self, args)
            if res is not None:
                args = res if isinstance(res, tuple) else (res,)
        out = self.forward(*args, **kwargs)
        for hook in list(d["_forward_hooks"].values()):
            res = hook(self, args, out)
            if res is not None:
                out = res
        return out

    if TYPE_CHECKING:
        # For type checkers, ``model(x)`` has the parameters and the result type of the
        # subclass's ``forward`` (``nn.Linear(3, 2)(x)`` is a Tensor, not Any).
        def __call__(self: _HasForward[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R: ...
    else:
        __call__ = _call_impl

    # -- hooks -------------------------------------------------------------------
    def register_forward_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(module, inputs, output)`` runs after ``forward``; a non-None result replaces the output."""
        return _add_module_hook(self._forward_hooks, hook)

    def register_forward_pre_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(module, inputs)`` runs before ``forward``; a non-None result replaces the inputs."""
        return _add_module_hook(self._forward_pre_hooks, hook)

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
    def _apply(self, convert: Callable[[np.ndarray], np.ndarray], floating_only: bool = True) -> Module:
        """Replace the arrays of every parameter and buffer in place (the Parameter objects stay)."""
        for m in self.modules():
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
    def state_dict(self, destination: dict | None = None, prefix: str = "", keep_vars: bool = False) -> dict[str, Any]:
        """Dotted name -> tensor for every parameter and persistent buffer (values shared, not copied)."""
        out = OrderedDict() if destination is None else destination
        for mod_name, mod in self.named_modules(prefix=prefix.rstrip("."), remove_duplicate=False):
            pre = mod_name + "." if mod_name else ""
            for name, p in mod._parameters.items():
                if p is not None:
                    out[pre + name] = p if keep_vars else p.detach()
            for name, b in mod._buffers.items():
                if b is not None and name not in mod._non_persistent_buffers_set:
                    out[pre + name] = b if keep_vars else b.detach()
        return out

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> _IncompatibleKeys:
        """Copy values from ``state_dict`` into this module's parameters and buffers.

        With ``strict=True`` (the default) missing and unexpected keys are an error;
        shape mismatches are always an error.  The error lists every problem found.
        Returns ``(missing_keys, unexpected_keys)``.
        """
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"load_state_dict(): expected a dict, got {type(state_dict).__name__}")
        for name, mod in list(self.named_modules()):  # lazy layers not yet run take the checkpoint's shapes
            hook = getattr(mod, "_materialize_from_state", None)
            if hook is not None:
                hook(state_dict, name + "." if name else "")
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems = []
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
        if strict:
            if unexpected:
                problems.insert(0, "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
            if missing:
                problems.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
        if problems:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(problems)
            )
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
        return _IncompatibleKeys(missing, unexpected)

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


def _remove_from(name: str, d: dict, *tables: dict | None) -> None:
    for table in tables:
        if table is not None and name in table:
            del table[name]
    d.pop(name, None)
