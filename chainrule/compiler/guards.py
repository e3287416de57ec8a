"""``chainrule.compile``'s guards: what a plan assumed, written as the lines of one check.

A plan replays only calls like the one it captured.  :func:`arg_tensors` writes the checks of
the arguments (their structure, their plain values, the tensors among them and where each is
found); :func:`guard_checks` adds, after the capture, those of every tensor the plan reads (shape,
dtype, ``requires_grad``, its gradient's), of the Modules it went through (the same parameters,
buffers, submodules, hooks and plain attributes, ``training``), of grad mode and the default
dtype, and of the names the function's code reads.  ``plan.build_guard`` compiles the lines into
one function; a line that fails returns False, and the call is captured again or runs eagerly.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from chainrule.autograd.grad_mode import HOOKS
from chainrule.autograd.size import Size
from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_default_dtype
from chainrule.compiler.capture import Captured, named_tuple, state_tensor_ids, watched
from chainrule.compiler.reach import guardable, user_class, user_object
from chainrule.nn.module import STRUCTURE as module_structure
from chainrule.nn.module import Module
from chainrule.optim.optimizer import _STEP_HOOKED, Optimizer, has_step_hooks


def float_check(e: str, lines: list[str]) -> str:
    """The guard's line that checks float argument ``e`` by value (``arg_tensors``)."""
    return next(line for line in lines if line.startswith(f"if type({e}) is not float or {e} != "))


def guard_checks(cap: Captured, found: list[tuple[str, Tensor]], arg_lines: list[str], arg_ns: dict[str, Any],
            objects: Sequence[tuple[str, Any]] = ()) -> tuple[list[str], list[str], dict[str, Any]]:
    """(where each tracked tensor is found at replay, the guard's lines, its namespace)."""
    ns = dict(arg_ns)
    lines = list(arg_lines)
    for e, obj in objects:  # an argument object's values that the code reads (its tensors: found)
        lines += _contents_checks(e, obj, ns, cap.code_names, tensors=False)
    # one tensor in several arguments is one array of the plan, distinct tensors are distinct
    # arrays (each gets its own gradient): a call that passes them otherwise is another kind
    places: dict[int, list[str]] = {}
    for place, t in found:
        places.setdefault(id(t), []).append(place)
    for paths in places.values():
        lines += [f"if {p} is not {paths[0]}: return False" for p in paths[1:]]
    if len(places) > 1:
        lines.append(f"if len({{{', '.join(f'id({ps[0]})' for ps in places.values())}}}) != {len(places)}: "
                     "return False")
    where: list[str] = []
    arg_paths = {id(t): path for path, t in found}
    state = state_tensor_ids(cap) if found else set()
    for i, t in enumerate(cap.tracked):
        path = arg_paths.get(id(t))
        if path is None:
            path = f"T{i}"
            ns[path] = t
        elif id(t) in state:  # an argument that is also a parameter, a buffer or a name's tensor: the
            ns[f"T{i}"] = t  # plan reads both as one array, so the argument must be that tensor
            lines.append(f"if {path} is not T{i}: return False")
        where.append(path)
        lines += _tensor_checks(path, cap.facts[i], ns)
    index = {id(t): i for i, t in enumerate(cap.tracked)}
    mod_index = {id(m): j for j, m in enumerate(cap.modules)}
    # the Modules' checks run only when some Module changed since they last passed (nn/module.py's STRUCTURE)
    ns["STRUCTURE"], ns["SEEN"] = module_structure, [module_structure[0]]
    lines.append("if STRUCTURE[0] != SEEN[0]:")
    classes: dict[type, str] = {}
    for j, m in enumerate(cap.modules):
        ns[f"M{j}"] = m
        cls = classes.setdefault(type(m), f"K{len(classes)}")
        ns[cls] = type(m)
        lines.append(f"    if M{j}.training is not {cap.training[j]} or type(M{j}) is not {cls}: return False")
        lines += ["    " + line for line in _module_checks(f"M{j}", m, index, mod_index, where, ns)]
    lines.append("    SEEN[0] = STRUCTURE[0]")
    for c, name in classes.items():  # (setting a class attribute moves no Module's STRUCTURE: every call)
        lines += _class_checks(name, c)
    lines.append(f"if grad_enabled() is not {cap.grad_enabled}: return False")
    ns["default_dtype"], ns["DEFAULT"] = get_default_dtype, get_default_dtype()
    lines.append("if default_dtype() != DEFAULT: return False")  # (the dtype of new floating tensors)
    # a hook registered on a tracked tensor since the capture: its Python must run (eagerly); the
    # tensors the function makes itself can only get one from the function, which the capture saw
    ns["HOOKS"], ns["watched"] = HOOKS, watched
    lines.append(f"if (HOOKS.any or HOOKS.post_acc) and watched(({''.join(w + ', ' for w in where)})): return False")
    # an optimiser's step hooks run again at each replay (the step is a host step); what the plan
    # assumed its step writes holds only while it has step hooks as it had at the capture
    steppers = {id(o): o for st in cap.tape.steps if st.kind == "host" for o in st.args[:2] if isinstance(o, Optimizer)}
    if steppers:
        ns["STEP_HOOKED"], ns["has_step_hooks"] = _STEP_HOOKED, has_step_hooks
        for k, o in enumerate(steppers.values()):
            ns[f"OPT{k}"] = o
            lines.append(f"if STEP_HOOKED[0] and has_step_hooks(OPT{k}) is not {has_step_hooks(o)}: return False")
    lines.append("# the names the function reads")  # (an eager entry's guard stops here: see _capture)
    for k, (space, name, obj) in enumerate(cap.names):
        if isinstance(obj, (dict, list, tuple, np.ndarray)) or user_object(obj) \
                or name == "self" and hasattr(obj, "__dict__"):
            ns[f"N{k}"] = space
            lines += _contents_checks(f"read_name(N{k}, {name!r})", obj, ns, cap.code_names)
        if not guardable(obj):
            continue
        ns[f"N{k}"] = space
        if isinstance(obj, (bool, int, float, str)):
            ns[f"n{k}"] = obj
            lines.append(f"if read_name(N{k}, {name!r}) != n{k}: return False")
        else:
            ns[f"n{k}"] = obj
            lines.append(f"if read_name(N{k}, {name!r}) is not n{k}: return False")
    return where, lines, ns


_PLAIN = (bool, int, float, str)


def _plain_value(v: Any) -> bool:
    """A value a plan may hold as a constant: a number, a string, None, or a tuple of them (a
    ``Size`` too: a shape kept in an attribute)."""
    return v is None or type(v) in _PLAIN or (type(v) is tuple or type(v) is Size) and len(v) <= 8 \
        and all(_plain_value(x) for x in v)


def _literal(v: Any) -> str:
    """A plain value as the guard's source writes it (a ``Size`` as the tuple it equals)."""
    if isinstance(v, tuple):
        return "(" + "".join(_literal(x) + ", " for x in v) + ")"
    return repr(v)


def _module_checks(e: str, m: Module, index: dict[int, int], mod_index: dict[int, int], where: list[str],
                   ns: dict[str, Any]) -> list[str]:
    """What a Module holds: the same Parameters, buffers and submodules, as many hooks, as many
    attributes, the same plain ones (Dropout's p, BatchNorm's momentum, a layer's stride...) and
    the same functions among them (``self.act = F.relu``; ``forward`` set on the instance)."""
    lines = []
    for table in ("_parameters", "_buffers", "_modules"):
        items = m.__dict__.get(table, {})
        lines.append(f"if len({e}.{table}) != {len(items)}: return False")
        for name, v in items.items():
            if v is None:
                lines.append(f"if {e}.{table}.get({name!r}) is not None: return False")
            elif table == "_modules" and id(v) in mod_index:
                lines.append(f"if {e}.{table}.get({name!r}) is not M{mod_index[id(v)]}: return False")
            elif id(v) in index:
                lines.append(f"if {e}.{table}.get({name!r}) is not {where[index[id(v)]]}: return False")
    for hooks in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"):
        n = len(m.__dict__.get(hooks, ()))
        lines.append(f"if len({e}.__dict__.get({hooks!r}, ())) != {n}: return False")
    # as many attributes (one set on the instance since, such as a ``forward`` wrapper, is new code)
    lines.append(f"if len({e}.__dict__) != {len(vars(m))}: return False")
    for name, v in vars(m).items():
        if name != "training" and _plain_value(v):
            lines.append(f"if {e}.__dict__.get({name!r}) != {_literal(v)}: return False")
        elif isinstance(v, Tensor) and id(v) in index:  # a tensor kept as a plain attribute (a mask)
            lines.append(f"if {e}.__dict__.get({name!r}) is not {where[index[id(v)]]}: return False")
        elif callable(v) and not isinstance(v, (Module, Tensor)):  # a function it calls (self.act = F.relu)
            key = f"f{len(ns)}"
            ns[key] = v
            lines.append(f"if {e}.__dict__.get({name!r}) is not {key}: return False")
    return lines


def _class_checks(e: str, cls: type) -> list[str]:
    """The plain class attributes of a Module class of the user's (``scale = 1.0`` in the class
    body, which forward may read as ``self.scale``): the same values.  The library's own classes
    are left out (their class attributes are constants)."""
    lines = []
    for k, c in enumerate(cls.__mro__):
        if not user_class(c):
            continue
        for n, v in vars(c).items():
            if n.startswith("__") or not _plain_value(v):
                continue
            lines.append(f"if {e}.__mro__[{k}].__dict__.get({n!r}) != {_literal(v)}: return False")
    return lines


def _contents_checks(e: str, obj: Any, ns: dict[str, Any], code_names: frozenset, depth: int = 2,
                     tensors: bool = True) -> list[str]:
    """Values a plan may have read through a named container: a dict's, a list's or an object's
    numbers and strings (the same values) and Modules, optimisers, schedulers and tensors (the
    same objects; not tensors when ``tensors`` is False: an argument's, which the plan reads
    where they are), a NumPy array's values (a copy is compared), and the same of the user's
    objects inside them, ``depth`` levels down.  Of an object, only the attributes the
    function's code names (``self.model``, not a counter its caller keeps there)."""
    if isinstance(obj, np.ndarray):
        name = f"a{len(ns)}"
        ns[name] = obj.copy()
        return [f"if not np.array_equal({e}, {name}): return False"]
    if isinstance(obj, (list, tuple)):  # (a list of scales a forward indexes: the same items)
        if len(obj) > 32:
            return []
        ns[type(obj).__name__] = type(obj)  # (list, tuple, Size)
        lines = [f"if type({e}) is not {type(obj).__name__} or len({e}) != {len(obj)}: return False"]
        for i, v in enumerate(obj):
            if _plain_value(v):
                lines.append(f"if {e}[{i}] != {_literal(v)}: return False")
            elif not tensors and isinstance(v, Tensor):
                continue
            elif guardable(v):
                name = f"o{len(ns)}"
                ns[name] = v
                lines.append(f"if {e}[{i}] is not {name}: return False")
            elif depth and _container(v):  # (a loss object in a list of them: what its code reads)
                lines += _contents_checks(f"{e}[{i}]", v, ns, code_names, depth - 1, tensors)
        return lines
    items = obj if isinstance(obj, dict) else {k: v for k, v in vars(obj).items() if k in code_names}
    kept = {k: v for k, v in items.items() if type(k) is str and (_plain_value(v) or guardable(v))
            and (tensors or not isinstance(v, Tensor))}
    if len(kept) > 32:
        return []
    get = (lambda k: f"{e}.get({k!r})") if isinstance(obj, dict) else (lambda k: f"getattr({e}, {k!r}, None)")
    lines = []
    for k, v in kept.items():
        if _plain_value(v):
            lines.append(f"if {get(k)} != {_literal(v)}: return False")
        else:
            name = f"o{len(ns)}"
            ns[name] = v
            lines.append(f"if {get(k)} is not {name}: return False")
    for k, v in items.items():  # (a config inside a config, a dict a trainer holds, a loss object in a dict)
        if depth and type(k) is str and _container(v):
            lines += _contents_checks(get(k), v, ns, code_names, depth - 1, tensors)
    return lines


def _container(v: Any) -> bool:
    """What :func:`_contents_checks` looks into: a dict, a list or tuple (not one of plain values,
    checked as a value), a NumPy array, an object of the user's."""
    return isinstance(v, (dict, list, tuple, np.ndarray)) and not _plain_value(v) or user_object(v)


def _tensor_checks(e: str, facts: tuple, ns: dict[str, Any]) -> list[str]:
    shape, dtype, requires_grad, grad, cls = facts
    key = f"d_{dtype}"
    ns[key] = dtype
    ns[f"A_{cls.__name__}"] = cls
    # (a dtype is compared by identity first: NumPy's dtypes are shared objects, so that is the
    # common case, and a dtype's == costs more than the rest of the line)
    lines = [f"a = {e}._array",
             f"if type(a) is not A_{cls.__name__} or a.shape != {shape!r} or a.dtype is not {key} and a.dtype != {key} "
             f"or {e}.requires_grad is not {requires_grad}: return False"]
    if grad is None:
        lines.append(f"if {e}.grad is not None: return False")
    else:
        gkey = f"d_{grad[1]}"
        ns[gkey] = grad[1]
        lines += [f"g = {e}.grad", f"if g is None or type(g._array) is not ndarray or g._array.shape != {grad[0]!r} "
                  f"or g._array.dtype is not {gkey} and g._array.dtype != {gkey}: return False"]
    return lines


def arg_tensors(args: tuple, kwargs: dict, lines: list[str], ns: dict[str, Any],
                 objects: list[tuple[str, Any]] | None = None) -> list[tuple[str, Tensor]]:
    """The tensors among the arguments with the source text that reaches each; the guard
    lines for the arguments' structure and their other values.  A namedtuple or an object of
    the user's (a batch, a config) is checked by class, its tensors are found in its fields,
    and it goes into ``objects`` (its other values are checked after the capture: those the
    function's code reads, see :func:`guard_checks`)."""
    found: list[tuple[str, Tensor]] = []

    def walk(x: Any, e: str, depth: int) -> None:
        if isinstance(x, Tensor):
            lines.append(f"if not isinstance({e}, Tensor): return False")
            found.append((e, x))
        elif (named_tuple(x) or user_object(x)) and depth < 3 and objects is not None:
            cls = f"k{len(ns)}"
            ns[cls] = type(x)
            lines.append(f"if type({e}) is not {cls}: return False")  # (a namedtuple's length is its class's)
            if named_tuple(x):
                for i, v in enumerate(x):
                    walk(v, f"{e}[{i}]", depth + 1)
                return
            objects.append((e, x))
            for k, v in vars(x).items():
                if k.isidentifier() and (isinstance(v, Tensor) or type(v) in (tuple, list, dict) or named_tuple(v)):
                    walk(v, f"{e}.{k}", depth + 1)
        elif type(x) in (tuple, list) and depth < 3:
            lines.append(f"if type({e}) is not {type(x).__name__} or len({e}) != {len(x)}: return False")
            for i, v in enumerate(x):
                walk(v, f"{e}[{i}]", depth + 1)
        elif type(x) is dict and depth < 3 and all(type(k) is str for k in x):
            lines.append(f"if type({e}) is not dict or sorted({e}) != {sorted(x)!r}: return False")
            for k, v in x.items():
                walk(v, f"{e}[{k!r}]", depth + 1)
        elif type(x) is np.ndarray:  # host data: a plan may hold what Python computed from its values
            name = f"a{len(ns)}"
            ns[name] = x.copy()
            lines.append(f"if type({e}) is not ndarray or {e}.shape != {x.shape!r} or {e}.dtype != {name}.dtype "
                         f"or not np.array_equal({e}, {name}): return False")
        elif type(x) is Size:  # (a shape passed in: its ints)
            ns["Size"] = Size
            lines.append(f"if type({e}) is not Size or {e} != {_literal(x)}: return False")
        elif x is None or type(x) in (bool, int, float, str):
            lines.append(f"if type({e}) is not {type(x).__name__} or {e} != {x!r}: return False"
                         if x is not None else f"if {e} is not None: return False")
            if type(x) is float and x == 0:  # (0.0 == -0.0, yet what Python computes from them differs)
                ns["copysign"] = math.copysign
                lines[-1] = lines[-1].replace(": return False", f" or copysign(1.0, {e}) != {math.copysign(1.0, x)}"
                                              ": return False")
        else:
            name = f"o{len(ns)}"
            ns[name] = x
            lines.append(f"if {e} is not {name}: return False")

    walk(args, "args", 0)
    walk(kwargs, "kwargs", 0)
    return found
