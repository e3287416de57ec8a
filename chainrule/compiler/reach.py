"""Capture, what a call reaches: the Modules, optimisers, schedulers and tensors a compiled
function can read and write (its arguments, closure, defaults, the globals its code names, the
user's functions and objects found there), the names a plan guards, and the Python state a
replay would not update (compared before and after a capture, capture.py).

A reader following capture -> plan -> replay can skip this file: it answers "which objects?",
capture.py "what did the call do with them?"."""

from __future__ import annotations

import dis
import functools
import io
import os
import types
from collections.abc import Iterator
from typing import Any, Callable

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.nn.module import Module
from chainrule.optim.lr_scheduler import LRScheduler
from chainrule.optim.optimizer import Optimizer

_STATEFUL = (Module, Optimizer, LRScheduler, Tensor)


def find_state(fn: Callable[..., Any], args: tuple, kwargs: dict, arg_tensors: list[Tensor]
               ) -> tuple[list[Module], list[Tensor], list, frozenset]:
    """(modules, tensors, named objects, the names its code reads) a call of ``fn`` can reach.

    Looked at: ``fn`` itself (a Module, a bound method's object), the arguments, the closure,
    the default values of its parameters, and the globals named by its code (and by the code
    of functions nested in it), the same for the user's functions found there (a ``loss_fn``
    the step calls), one level into lists, tuples and dicts.  An optimiser brings its parameters, a scheduler its
    optimiser.  ``named`` lists (namespace, name, object) for the closure and global names,
    which the plan guards where :func:`guardable` (same object, or same value for a Python
    number or string)."""
    found: list[Any] = []
    named: list[tuple[Any, str, Any]] = []
    target = fn.__self__ if isinstance(fn, types.MethodType) else fn
    found.append(target)
    if target is not fn and not isinstance(target, Module):  # a bound method's object (a trainer)
        named.append(({"self": target}, "self", target))
        if hasattr(target, "__dict__"):  # (also a library's: chainrule's Trainer compiles its own step)
            found.extend(leaves_of(vars(target)))
    found.extend(arg_tensors)
    found.extend(leaves_of(args))
    found.extend(leaves_of(kwargs))
    code_fn = target.forward if isinstance(target, Module) else getattr(fn, "__func__", fn)
    if isinstance(code_fn, types.MethodType):
        code_fn = code_fn.__func__
    visited: set[int] = set()
    code_names: set[str] = set()  # every name the code reads (globals, attributes: self.model...)

    def scan(todo: list[Any]) -> None:
        """The functions, and the user's functions they reach through names (not the library's):
        their closures, defaults and the globals their code names go into ``named``."""
        while todo:
            f = todo.pop()
            code = getattr(f, "__code__", None)
            if code is None or id(f) in visited or len(visited) > 64:
                continue
            visited.add(id(f))
            for i, cell in enumerate(f.__closure__ or ()):
                try:
                    obj = cell.cell_contents
                except ValueError:  # an empty cell
                    continue
                named.append((cell, code.co_freevars[i], obj))
                todo += _user_functions(obj)
            for obj in (*(f.__defaults__ or ()), *(f.__kwdefaults__ or {}).values()):  # (def f(x, model=model))
                found.extend(leaves_of(obj))
                todo += _user_functions(obj)
            glb = f.__globals__
            code_names.update(_names(code))
            for name in sorted(_global_names(code)):
                if name in glb:
                    named.append((glb, name, glb[name]))
                    todo += _user_functions(glb[name])

    scan([code_fn])
    for _, _, obj in named:
        found.extend(leaves_of(obj))
    modules, tensors = stateful(found)
    # the Module classes of the user's: what their methods read (a global in forward) is read by
    # the call too, and so is what their instances hold besides tensors (a config, a list...)
    classes: set[type] = set()
    while True:
        methods = []
        for m in modules:
            for c in type(m).__mro__:
                if user_class(c) and c not in classes:
                    classes.add(c)
                    methods += _methods(c)
        if not methods:
            break
        n = len(named)
        scan(methods)
        for _, _, obj in named[n:]:
            found.extend(leaves_of(obj))
        modules, tensors = stateful(found)
    for m in modules:
        if user_class(type(m)):  # (an attribute no code of the call names, it cannot read: a list of
            for name, v in vars(m).items():  # log-probabilities the training loop appends to)
                if name in _MODULE_OWN or name not in code_names:
                    continue
                if isinstance(v, (dict, list, tuple, np.ndarray)) or user_object(v) \
                        or isinstance(getattr(v, "rng", v), np.random.Generator):
                    named.append((vars(m), name, v))
    return modules, tensors, named, frozenset(code_names)


def stateful(found: list[Any]) -> tuple[list[Module], list[Tensor]]:
    """(Modules, tensors) that the objects in ``found`` are or hold: a Module with its submodules,
    parameters, buffers and tensor attributes, an optimiser's parameters, a scheduler's optimiser."""
    modules: list[Module] = []
    tensors: list[Tensor] = []
    seen: set[int] = set()

    def add_tensor(t: Any) -> None:
        if isinstance(t, Tensor) and id(t) not in seen:
            seen.add(id(t))
            tensors.append(t)

    def add(obj: Any) -> None:
        if isinstance(obj, Module):
            for m in obj.modules():
                if id(m) not in seen:
                    seen.add(id(m))
                    modules.append(m)
                    for v in vars(m).values():  # tensors kept as plain attributes (a mask, a table)
                        add_tensor(v)
            for p in obj.parameters():
                add_tensor(p)
            for b in obj.buffers():
                add_tensor(b)
        elif isinstance(obj, Optimizer):
            for g in obj.param_groups:
                for p in g["params"]:
                    add_tensor(p)
        elif isinstance(obj, LRScheduler):
            add(obj.optimizer)
        else:
            add_tensor(obj)

    for obj in found:
        add(obj)
    return modules, tensors


_MODULE_OWN = frozenset(vars(Module()))  # what Module.__init__ sets on every instance (its tables)


def user_class(c: type) -> bool:
    """A class of the user's in a Module's MRO (not Module, object, or chainrule's own layers)."""
    return c is not Module and c is not object and c.__module__.split(".")[0] != "chainrule"


def _methods(c: type) -> list[Any]:
    """The functions defined in class ``c`` (methods, static and class methods, properties' getters),
    but ``__init__``: it runs when an object is built, never in a call, and what it reads (the
    global config a layer's size comes from, the lists it starts) would be checked for nothing."""
    out = []
    for name, v in vars(c).items():
        if name == "__init__":
            continue
        if isinstance(v, (staticmethod, classmethod)):
            v = v.__func__
        elif isinstance(v, property):
            v = v.fget
        if isinstance(v, types.FunctionType):
            out.append(v)
    return out


_LIBRARY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _user_functions(obj: Any, depth: int = 2) -> list:
    """``obj`` if it is a function of the user's (not chainrule's, not an installed package's); the
    methods of its class if it is an object of the user's (a loss object that is called); the
    same for what a list, tuple or dict holds, ``depth`` levels down (``losses = [Focal(), Dice()]``)."""
    if isinstance(obj, (list, tuple, dict)):
        items = list(obj.values() if isinstance(obj, dict) else obj)[:64] if depth else []
        return [f for o in items for f in _user_functions(o, depth - 1)]
    if isinstance(obj, types.MethodType):
        obj = obj.__func__
    if user_object(obj):
        return [f for c in type(obj).__mro__ for f in _methods(c) if _users_code(f)]
    return [obj] if isinstance(obj, types.FunctionType) and _users_code(obj) else []


def _users_code(f: types.FunctionType) -> bool:
    """Whether function ``f`` is the user's: not chainrule's, not an installed package's."""
    path = f.__code__.co_filename
    return not (path.startswith(_LIBRARY) or "site-packages" in path or "dist-packages" in path)


def user_object(obj: Any) -> bool:
    """An instance of a class of the user's (a trainer, a config): not a Module, tensor, class,
    function or library object."""
    mod = type(obj).__module__
    return mod not in ("builtins", "numpy") and mod.split(".")[0] != "chainrule" and hasattr(obj, "__dict__") \
        and not isinstance(obj, (Module, Tensor, type, types.FunctionType, types.MethodType, types.ModuleType))


def leaves_of(obj: Any, depth: int = 3, budget: list | None = None) -> list:
    """The Modules, optimisers, schedulers and tensors in ``obj``: itself, or inside lists,
    tuples, dicts and the user's objects, up to ``depth`` levels and 512 containers (a tensor
    the search misses is read as a constant: see docs/how-to/compile.md)."""
    if isinstance(obj, _STATEFUL):
        return [obj]
    budget = [512] if budget is None else budget
    if depth == 0 or budget[0] <= 0:
        return []
    if isinstance(obj, (list, tuple)):
        items: Any = obj
    elif isinstance(obj, dict):
        items = obj.values()
    elif user_object(obj) or has_host_steps(obj):
        items = vars(obj).values()
    else:
        return []
    budget[0] -= 1
    return [x for o in items for x in leaves_of(o, depth - 1, budget)]


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _names(c)
    return names


_GLOBAL_OPS = frozenset(("LOAD_GLOBAL", "LOAD_NAME", "STORE_GLOBAL", "DELETE_GLOBAL"))


def _global_names(code: types.CodeType) -> set[str]:
    """The global names ``code`` (and the functions defined in it) reads or binds: not its
    attribute names, so that a global ``log_sigma`` the training loop rebinds each step is not
    taken for the ``self.log_sigma`` a forward reads."""
    names = {ins.argval for ins in dis.get_instructions(code) if ins.opname in _GLOBAL_OPS}
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _global_names(c)
    return names


_FUNCTIONS = (types.FunctionType, types.BuiltinFunctionType, types.MethodType, functools.partial)


def guardable(obj: Any) -> bool:
    """Names worth a guard: the library's stateful objects, functions (``act = F.relu``, rebound
    to another: the same object) and Python numbers and strings (a plan holds the value they
    had); classes and Python modules are assumed fixed."""
    return isinstance(obj, (*_STATEFUL, *_FUNCTIONS, bool, int, float, str)) or obj is None


def read_name(ns: Any, name: str) -> Any:
    """The object a guarded name is bound to now (a closure cell's contents or a global)."""
    if type(ns) is dict:
        return ns.get(name, _MISSING)
    try:
        return ns.cell_contents
    except ValueError:
        return _MISSING


_MISSING = object()


def python_state(modules: list[Module], named: list, arg_objects: Any = ()) -> dict[str, Any]:
    """What a replay would leave as it is, to compare before and after the capture: the Python
    numbers, strings and flags in the Modules' attributes, the length of the lists, dicts and
    sets the function names, the same in the user's objects among its arguments (a config),
    and the state of Python's and NumPy's global generators (a draw from them would be a
    constant of the plan)."""
    import random

    legacy: Any = np.random.get_state()  # (compared by value: its repr took 7 ms)
    name, keys, pos, has_gauss, gauss = legacy
    state: dict[str, Any] = {"Python's random module": random.getstate(),
                             "NumPy's global random state": (name, keys.tobytes(), pos, has_gauss, gauss)}
    for m in modules:
        for k, v in vars(m).items():
            if isinstance(v, (bool, int, float, str)) and k != "training":
                state[f"{type(m).__name__}.{k}"] = v
    for ns, name, _ in named:
        _snapshot(read_name(ns, name), name, state, 3, [512])
    for where, obj in arg_objects:  # (named by where the call has them: args[1])
        _snapshot(obj, where, state, 3, [512])
    return state


def _snapshot(obj: Any, name: str, state: dict[str, Any], depth: int, budget: list) -> None:
    """Into ``state``: the Python values a replay would not update, in ``obj`` and up to
    ``depth`` levels inside it (lists, dicts, objects: a trainer's counter, a GradScaler's scale;
    a NumPy generator's position, also inside a chainrule ``Generator``)."""
    if isinstance(obj, (bool, int, float, str)):
        state[name] = obj
    elif isinstance(obj, np.random.Generator):  # a draw from it (generator=g) would be a constant of the plan
        state[f"the state of the random generator {name}"] = obj.bit_generator.state
    elif isinstance(obj, Iterator) and not isinstance(obj, io.IOBase):  # next() inside is not repeated
        state[f"the iterator {name}"] = object()
    elif depth > 0 and budget[0] > 0 and (isinstance(obj, (list, dict, set)) or _holds_python_state(obj)):
        budget[0] -= 1
        if isinstance(obj, (list, dict, set)):
            state[f"the length of {name}"] = len(obj)
        if isinstance(obj, (list, dict)):
            items = list(obj.items()) if isinstance(obj, dict) else list(enumerate(obj))
            for k, v in items[:64]:
                if not isinstance(v, (bool, int, float, str)):  # (the items' own values: data, not state)
                    _snapshot(v, f"{name}[{k!r}]", state, depth - 1, budget)
        elif not isinstance(obj, set):
            for k, v in vars(obj).items():
                _snapshot(v, f"{name}.{k}", state, depth - 1, budget)


def _holds_python_state(obj: Any) -> bool:
    """An object whose Python attributes a replay would not update: not a Module (checked
    apart), an optimiser, a scheduler or another object with host steps (a GradScaler: their
    state changes in host steps), a tensor, a class, a function or a module."""
    return hasattr(obj, "__dict__") and not isinstance(obj, (
        Module, Optimizer, LRScheduler, Tensor, type, types.FunctionType, types.MethodType, types.ModuleType)) \
        and not has_host_steps(obj)


def has_host_steps(obj: Any) -> bool:
    """Whether ``obj``'s class has methods marked as host steps besides an optimiser's and a
    scheduler's (a GradScaler's ``step``/``update``): its tensors are state the plan reads and
    writes, found as a user's object's are, and its Python state changes in its host steps."""
    cls = type(obj)
    return cls.__module__.split(".")[0] == "chainrule" and not isinstance(obj, (Optimizer, LRScheduler)) and any(
        getattr(v, "__host_step__", False) for c in cls.__mro__ for v in vars(c).values())


def changed_state(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [k for k, v in before.items() if k not in after or after[k] != v]
