"""Parametrizations: a module's tensor computed from other tensors (``torch.nn.utils.parametrize``).

``register_parametrization(module, "weight", P)`` makes ``module.weight`` a function of a new
parameter: with the unconstrained tensor X stored in ``module.parametrizations.weight.original``,

    module.weight = Pₖ(… P₂(P₁(X)))            (P₁ the first registered, Pₖ the last)

recomputed at every read (or once per ``cached()`` block).  The module's class is swapped for a
subclass of it, ``Parametrized<Class>``, that holds a property ``weight``; reading it runs the
chain, assigning to it runs the right inverses backwards (X ← P₁⁻¹(… Pₖ⁻¹(value))).  When the
first parametrization has ``right_inverse``, X starts as P₁⁻¹(weight) instead of the weight.
The state_dict keys are PyTorch's: ``parametrizations.weight.original`` (or ``original0``,
``original1``... when ``right_inverse`` returns several tensors) and the parametrizations' own
parameters and buffers as ``parametrizations.weight.<i>.<name>``, so checkpoints load either way.

The ``original`` tensor is the module's Parameter object itself (its values replaced in place),
so an optimiser built before the registration keeps training it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from chainrule.autograd.grad_mode import no_grad
from chainrule.autograd.primitive import table_of
from chainrule.autograd.tensor import Tensor
from chainrule.autograd.version import bump
from chainrule.nn.module import STRUCTURE, Module
from chainrule.nn.modules.container import ModuleDict, ModuleList
from chainrule.nn.parameter import Parameter

__all__ = [
    "ParametrizationList",
    "cached",
    "is_parametrized",
    "register_parametrization",
    "remove_parametrizations",
    "transfer_parametrizations_and_params",
    "type_before_parametrizations",
]

_cache_depth = [0]  # nesting depth of cached() blocks
_cache: dict[tuple[int, str], Tensor] = {}


@contextmanager
def cached() -> Iterator[None]:
    """Inside the block, each parametrized tensor is computed once, at its first read, and reused.

    For a weight read several times per step (a recurrent layer's time loop); the cache is
    emptied when the outermost block ends.
    """
    _cache_depth[0] += 1
    try:
        yield
    finally:
        _cache_depth[0] -= 1
        if not _cache_depth[0]:
            _cache.clear()


def _set_values(target: Tensor, value: Tensor) -> None:
    """``target.set_(value)``: the target object keeps its identity, takes value's array (a copy)."""
    target._array = table_of((value,)).copy(value.detach()._array)
    bump(target)


def _register_tensor(module: Module, name: str, t: Tensor) -> None:
    if isinstance(t, Parameter):
        module.register_parameter(name, t)
    else:
        module.register_buffer(name, t)


def _describe(t: Any) -> str:
    return f"{type(t).__name__}" if not isinstance(t, Tensor) else f"Tensor of shape {tuple(t.shape)}, dtype {t.dtype}"


class ParametrizationList(ModuleList):
    """The parametrizations P₁…Pₖ of one tensor, and its unconstrained value(s) ``original``.

    ``forward()`` (no input) returns Pₖ(…P₁(original)) — or Pₖ(…P₁(original0, original1, …))
    when the first parametrization's ``right_inverse`` returned a sequence of tensors.
    """

    is_tensor: bool
    ntensors: int
    unsafe: bool

    def __init__(self, modules: Sequence[Module], original: Tensor, unsafe: bool = False) -> None:
        if not modules:
            raise ValueError("ParametrizationList requires one or more modules")
        super().__init__(modules)
        self.unsafe = unsafe
        shape, dtype = tuple(original.shape), original.dtype
        before = original._array  # (restored if the checks below fail)
        new: Any = original
        with no_grad():
            for p in reversed(list(self)):
                if hasattr(p, "right_inverse"):
                    try:
                        new = p.right_inverse(new)
                    except NotImplementedError:  # (taken as the identity, as PyTorch does)
                        pass
        if not isinstance(new, (Tensor, Sequence)):
            raise ValueError(f"'right_inverse' must return a Tensor or a Sequence of tensors, got {type(new).__name__}")
        self.is_tensor = isinstance(new, Tensor)
        self.ntensors = 1 if self.is_tensor else len(new)
        if isinstance(new, Tensor):
            if new.dtype != dtype:
                raise ValueError(
                    "register_parametrization: when `right_inverse` returns one tensor it may not change the "
                    f"dtype: original {dtype}, right_inverse(original) {new.dtype}"
                )
            if new is not original:
                _set_values(original, new)
            _register_tensor(self, "original", original)
        else:
            for i, t in enumerate(new):
                if not isinstance(t, Tensor):
                    raise ValueError(
                        f"'right_inverse' must return a Tensor or a Sequence of tensors; element {i} is a "
                        f"{type(t).__name__}"
                    )
                t = t.detach().clone()
                if isinstance(original, Parameter):
                    t = Parameter(t, original.requires_grad)
                _register_tensor(self, f"original{i}", t)
        if not unsafe:
            try:
                self._check(shape, dtype)
            except Exception:
                if self.is_tensor and original._array is not before:  # the module is left as it was
                    original._array = before
                    bump(original)
                raise

    def _check(self, shape: tuple, dtype: Any) -> None:
        """The chain keeps the registered tensor's shape and dtype (the checks ``unsafe`` skips)."""
        with no_grad():
            z = self()
        if not isinstance(z, Tensor):
            raise ValueError(f"a parametrization must return a Tensor, got {type(z).__name__}")
        if z.dtype != dtype:
            raise ValueError(
                "register_parametrization: a parametrization may not change the dtype of the tensor unless "
                f"unsafe=True: original {dtype}, parametrized {z.dtype}"
            )
        if tuple(z.shape) != shape:
            raise ValueError(
                "register_parametrization: a parametrization may not change the shape of the tensor unless "
                f"unsafe=True: original {shape}, parametrized {tuple(z.shape)}"
            )

    def right_inverse(self, value: Tensor) -> None:
        """Set ``original`` so that the chain gives ``value``: original ← P₁⁻¹(…Pₖ⁻¹(value)), without gradient."""
        with no_grad():
            new: Any = value
            for p in reversed(list(self)):
                if not hasattr(p, "right_inverse"):
                    raise RuntimeError(f"parametrization {type(p).__name__} does not implement right_inverse.")
                new = p.right_inverse(new)
            if self.is_tensor:
                if not isinstance(new, Tensor):
                    raise ValueError(f"`right_inverse` should return a Tensor, got {type(new).__name__}")
                if new.dtype != self.original.dtype:
                    raise ValueError(
                        f"the tensor returned by `right_inverse` has dtype {new.dtype}, "
                        f"while `original` has dtype {self.original.dtype}"
                    )
                _set_values(self.original, new)
            else:
                if not isinstance(new, Sequence) or len(new) != self.ntensors:
                    raise ValueError(
                        f"`right_inverse` must return a sequence of {self.ntensors} tensors, got {_describe(new)}"
                    )
                for i, t in enumerate(new):
                    orig = getattr(self, f"original{i}")
                    if not isinstance(t, Tensor) or t.dtype != orig.dtype:
                        raise ValueError(
                            f"element {i} returned by `right_inverse` must be a Tensor of dtype {orig.dtype}, "
                            f"got {_describe(t)}"
                        )
                    _set_values(orig, t)

    def forward(self) -> Tensor:
        mods = list(self)
        if self.is_tensor:
            x = mods[0](self.original)
        else:
            x = mods[0](*(getattr(self, f"original{i}") for i in range(self.ntensors)))
        for p in mods[1:]:
            x = p(x)
        return x


def _property(name: str) -> property:
    def compute(chain: ParametrizationList) -> Tensor:
        try:
            return chain()
        except AttributeError as e:  # (raised from a property it would become "no attribute 'weight'")
            raise RuntimeError(f"the parametrization of {name!r} raised AttributeError: {e}") from e

    def get(self: Module) -> Tensor:
        chain = self.parametrizations[name]
        if not _cache_depth[0]:
            return compute(chain)
        key = (id(self), name)
        t = _cache.get(key)
        if t is None:
            t = _cache[key] = compute(chain)
        return t

    def set_(self: Module, value: Tensor) -> None:
        self.parametrizations[name].right_inverse(value)

    return property(get, set_, doc=f"``{name}``, computed by ``parametrizations.{name}``")


def _getstate(self: Module) -> Any:
    raise RuntimeError(
        "Serialization of parametrized modules is only supported through state_dict(); "
        "save module.state_dict() and register the parametrizations again before loading it"
    )


def _deepcopy(self: Module, memo: dict) -> Module:
    # a copy gets a class of its own, so that removing a parametrization from one module
    # (which deletes the class's property) leaves the other as it was
    cls = type(self)
    own = {k: v for k, v in cls.__dict__.items() if k not in ("__dict__", "__weakref__")}
    replica: Module = object.__new__(type(cls.__name__, cls.__bases__, own))
    memo[id(self)] = replica
    replica.__dict__.update(copy.deepcopy(self.__dict__, memo))
    return replica


def _inject_class(module: Module) -> None:
    cls = type(module)
    new = type(
        f"Parametrized{cls.__name__}",
        (cls,),
        {"__getstate__": _getstate, "__deepcopy__": _deepcopy, "__qualname__": f"Parametrized{cls.__qualname__}"},
    )
    module.__class__ = new


def is_parametrized(module: Module, tensor_name: str | None = None) -> bool:
    """Whether ``module`` has a parametrization on ``tensor_name`` (on any tensor when None)."""
    parametrizations = module.__dict__.get("_modules", {}).get("parametrizations")
    if not isinstance(parametrizations, ModuleDict):
        return False
    return len(parametrizations) > 0 if tensor_name is None else tensor_name in parametrizations


def type_before_parametrizations(module: Module) -> type:
    """The module's class as it was before its first parametrization (``type(module)`` when none)."""
    return type(module).__bases__[0] if is_parametrized(module) else type(module)


def _check_like(what: str, got: Any, want: Tensor) -> None:
    if not isinstance(got, Tensor):
        raise ValueError(f"register_parametrization: {what} must return a Tensor, got {type(got).__name__}")
    if got.dtype != want.dtype or tuple(got.shape) != tuple(want.shape):
        raise ValueError(
            f"register_parametrization: {what} may not change the dtype or shape of the tensor unless unsafe=True: "
            f"expected shape {tuple(want.shape)} dtype {want.dtype}, got shape {tuple(got.shape)} dtype {got.dtype}"
        )


def register_parametrization(
    module: Module, tensor_name: str, parametrization: Module, *, unsafe: bool = False
) -> Module:
    """Make ``module.<tensor_name>`` = parametrization(X) for a new unconstrained tensor X.

    Args:
        module: the module whose parameter or buffer is parametrized.
        tensor_name: the name of that parameter or buffer (or of an already parametrized tensor:
            the new parametrization is then applied after the others).
        parametrization: a Module whose ``forward`` maps X to the tensor (same shape and dtype
            unless ``unsafe``); with a method ``right_inverse(value)``, X starts as
            ``right_inverse(<current tensor>)`` and assigning ``module.<tensor_name> = value``
            is allowed. ``right_inverse`` may return a sequence of tensors: ``forward`` then
            takes as many arguments (``original0``, ``original1``...).
        unsafe: skip the checks that the parametrization keeps the tensor's shape and dtype.

    Returns:
        The module (its class now ``Parametrized<Class>``).
    """
    if not isinstance(module, Module):
        raise TypeError(f"register_parametrization: module must be a Module, got {type(module).__name__}")
    if not isinstance(parametrization, Module):
        raise TypeError(
            f"register_parametrization: the parametrization must be a Module, got {type(parametrization).__name__}"
        )
    parametrization.train(module.training)
    STRUCTURE[0] += 1
    if is_parametrized(module, tensor_name):
        if not unsafe:
            y = getattr(module, tensor_name)
            x = parametrization(y)
            _check_like("the parametrization", x, y)
            if hasattr(parametrization, "right_inverse"):
                try:
                    z = parametrization.right_inverse(x)
                except NotImplementedError:
                    pass
                else:
                    _check_like("right_inverse", z, y)
        chain = module.parametrizations[tensor_name]
        chain.append(parametrization)
        chain.unsafe |= unsafe
        return module
    if tensor_name in module._parameters or tensor_name in module._buffers:
        original = getattr(module, tensor_name)
        if original is None:
            raise ValueError(f"register_parametrization: {type(module).__name__}.{tensor_name} is None")
        chain = ParametrizationList([parametrization], original, unsafe=unsafe)
        delattr(module, tensor_name)
        if not is_parametrized(module):
            _inject_class(module)
            module.parametrizations = ModuleDict()
        module.parametrizations[tensor_name] = chain
        setattr(type(module), tensor_name, _property(tensor_name))
        return module
    raise ValueError(
        f"Module '{type(module).__name__}' does not have a parameter, a buffer, or a parametrized element "
        f"with name '{tensor_name}'"
    )


def remove_parametrizations(module: Module, tensor_name: str, leave_parametrized: bool = True) -> Module:
    """Remove every parametrization of ``module.<tensor_name>``; it becomes a plain tensor again.

    With ``leave_parametrized=True`` the tensor keeps its current parametrized value (written
    into the ``original`` Parameter object, which is registered again under ``tensor_name``);
    with False it becomes ``original`` unchanged (impossible when ``right_inverse`` returned
    several tensors).  When no parametrization is left the module gets its class back.
    """
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"Module {type(module).__name__} does not have a parametrization on {tensor_name}")
    chain = module.parametrizations[tensor_name]
    if chain.is_tensor:
        original = chain.original
        if leave_parametrized:
            with no_grad():
                t = getattr(module, tensor_name)
            _set_values(original, t)
    else:
        if not leave_parametrized:
            raise ValueError(
                "remove_parametrizations: cannot leave unparametrized (leave_parametrized=False) a tensor "
                "that is parametrized in terms of a sequence of tensors"
            )
        with no_grad():
            t = getattr(module, tensor_name)
        requires_grad = chain.original0.requires_grad
        original = Parameter(t.detach().clone(), requires_grad) if isinstance(chain.original0, Parameter) else t
    STRUCTURE[0] += 1
    delattr(type(module), tensor_name)
    del module.parametrizations[tensor_name]
    _cache.pop((id(module), tensor_name), None)
    _register_tensor(module, tensor_name, original)
    if not is_parametrized(module):
        delattr(module, "parametrizations")
        module.__class__ = type(module).__bases__[0]
    return module


def transfer_parametrizations_and_params(
    from_module: Module, to_module: Module, tensor_name: str | None = None
) -> Module:
    """Register ``from_module``'s parametrizations of ``tensor_name`` (of all its parametrized
    tensors when None) on ``to_module`` too, and copy their ``original`` values over.

    The parametrization modules themselves are shared, not copied.  A tensor ``to_module`` lacks
    is first created as a Parameter with ``from_module``'s current (parametrized) value.
    """
    if not is_parametrized(from_module):
        return to_module
    names = list(from_module.parametrizations) if tensor_name is None else [tensor_name]
    for name in names:
        if not is_parametrized(from_module, name):
            raise ValueError(f"transfer_parametrizations_and_params: {name!r} is not parametrized in from_module")
        source = from_module.parametrizations[name]
        if not hasattr(to_module, name):
            with no_grad():
                value = getattr(from_module, name).detach().clone()
            to_module.register_parameter(name, Parameter(value))
        for p in source:
            register_parametrization(to_module, name, p)
        target = to_module.parametrizations[name]
        with no_grad():
            if source.is_tensor:
                _set_values(target.original, source.original)
            else:
                for i in range(source.ntensors):
                    _set_values(getattr(target, f"original{i}"), getattr(source, f"original{i}"))
    return to_module
