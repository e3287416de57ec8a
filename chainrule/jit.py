"""``torch.jit`` — TorchScript, PyTorch 1's compiler — as PyTorch programs use it, on
:func:`chainrule.compile`.

Programs written for PyTorch 1 call ``torch.jit.script(model)`` or ``torch.jit.trace(model,
example)`` where PyTorch 2 programs call ``torch.compile(model)``, and model code carries
TorchScript's markers (``@torch.jit.ignore``, ``torch.jit.is_scripting()``,
``torch.jit.annotate(List[int], [])``, ``Final`` attributes).  Here the markers are what they are
in PyTorch's eager mode (the function itself, False, the value), and ``script``/``trace`` compile
with ``chainrule.compile``: the first call of each kind is captured, later ones replay (see
``docs/how-to/compile.md``).  What differs from TorchScript:

* a traced or scripted function is the Python function, captured: its control flow is followed
  on every call (guarded), where a TorchScript trace freezes the branches its example took;
* a scripted Module shares the original's parameters, buffers and submodules (as PyTorch's
  shares the parameters), and ``train()``/``eval()`` on it set the original's flags too, since
  the original's ``forward`` is what runs;
* ``freeze``/``optimize_for_inference`` return the module as it is: a plan reads the parameters
  where they are, so there is nothing to inline;
* no TorchScript archives: ``torch.jit.save``/``load`` are not here, since such a file holds
  code that runs when it is loaded.  Save ``model.state_dict()`` with ``torch.save`` instead.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import types
import typing
from collections.abc import Iterator
from typing import Any, Callable, Final, NamedTuple  # (torch.jit.Final is typing.Final)

from chainrule.compiler.api import CompiledFunction
from chainrule.nn.module import Module

__all__ = [
    "Attribute", "Error", "Final", "Future", "RecursiveScriptModule", "ScriptFunction", "ScriptModule",
    "ScriptWarning", "TopLevelTracedModule", "TracedModule", "TracerWarning", "TracingCheckError", "annotate",
    "enable_onednn_fusion", "export", "fork", "freeze", "fuser", "ignore", "interface", "is_scripting",
    "is_tracing", "isinstance", "onednn_fusion_enabled", "optimize_for_inference", "optimized_execution",
    "script", "script_if_tracing", "script_method", "set_fusion_strategy", "strict_fusion", "trace",
    "trace_module", "unused", "wait",
]


class Error(RuntimeError):
    """``torch.jit.Error``: what TorchScript raises from a scripted ``raise``."""


class TracerWarning(Warning):
    """``torch.jit.TracerWarning`` (programs filter it: ``warnings.filterwarnings("ignore", category=...)``)."""


class ScriptWarning(Warning):
    """``torch.jit.ScriptWarning``."""


class TracingCheckError(Exception):
    """``torch.jit.TracingCheckError``: a trace whose check run disagreed with it (a captured
    call is guarded instead, so it is never raised here)."""


class Attribute(NamedTuple):
    """``torch.jit.Attribute(value, type)``: in eager Python, as in PyTorch's, the pair itself."""

    value: Any
    type: Any


# ---- the markers of model code: what they are in PyTorch's eager mode -----------------------------

def is_scripting() -> bool:
    """False: a compiled function runs its Python (``if not torch.jit.is_scripting():`` takes the
    Python branch, which a capture follows)."""
    return False


def is_tracing() -> bool:
    """False, as :func:`is_scripting`."""
    return False


def annotate(the_type: Any, the_value: Any) -> Any:
    """``torch.jit.annotate(List[int], [])``: the value."""
    return the_value


def ignore(drop: Any = False, **kwargs: Any) -> Any:
    """``@torch.jit.ignore`` or ``@torch.jit.ignore(drop=True)``: the function itself (a
    capture records what it computes like any other Python)."""
    if callable(drop):
        return drop
    return lambda fn: fn


def unused(fn: Callable) -> Callable:
    """``@torch.jit.unused``: the function itself."""
    return fn


def export(fn: Callable) -> Callable:
    """``@torch.jit.export``: the method itself."""
    return fn


def interface(obj: Any) -> Any:
    """``@torch.jit.interface``: the class itself."""
    return obj


def script_method(fn: Callable) -> Callable:
    """``@torch.jit.script_method`` (old ``ScriptModule`` subclasses): the method itself."""
    return fn


def script_if_tracing(fn: Callable) -> Callable:
    """``@torch.jit.script_if_tracing``: the function itself."""
    return fn


def isinstance(obj: Any, target_type: Any) -> bool:  # noqa: A001  (PyTorch's name)
    """``torch.jit.isinstance(obj, List[int])``: ``isinstance`` that also checks the elements of
    ``List``, ``Dict``, ``Tuple`` (``Tuple[int, ...]`` too) and the members of ``Optional``/``Union``.
    An empty container matches any element type."""
    if target_type is Any:
        return True
    origin = typing.get_origin(target_type)
    args = typing.get_args(target_type)
    if origin is None:
        if target_type is None or target_type is type(None):
            return obj is None
        return builtins.isinstance(obj, target_type)
    if origin is typing.Union or origin is types.UnionType:
        return any(isinstance(obj, a) for a in args)
    if origin is list:
        return builtins.isinstance(obj, list) and all(isinstance(x, args[0]) for x in obj) if args else \
            builtins.isinstance(obj, list)
    if origin is dict:
        return builtins.isinstance(obj, dict) and (not args or all(
            isinstance(k, args[0]) and isinstance(v, args[1]) for k, v in obj.items()))
    if origin is tuple:
        if not builtins.isinstance(obj, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(isinstance(x, args[0]) for x in obj)
        return not args or len(obj) == len(args) and all(isinstance(x, a) for x, a in zip(obj, args))
    return builtins.isinstance(obj, origin)


# ---- fork and wait ------------------------------------------------------------------------------

class Future:
    """The result of :func:`fork`: already computed (PyTorch's eager ``fork`` runs the call at once too)."""

    def __init__(self, value: Any = None, error: BaseException | None = None) -> None:
        self._value, self._error = value, error

    def wait(self) -> Any:
        """The call's result (its exception raised again)."""
        if self._error is not None:
            raise self._error
        return self._value

    value = wait

    def done(self) -> bool:
        return True

    def then(self, callback: Callable[[Future], Any]) -> Future:
        """A Future of ``callback(self)``."""
        return fork(callback, self)


def fork(func: Callable, *args: Any, **kwargs: Any) -> Future:
    """``torch.jit.fork(fn, *args)``: ``fn(*args)`` now, as a :class:`Future`."""
    try:
        return Future(func(*args, **kwargs))
    except Exception as e:
        return Future(error=e)


def wait(future: Future) -> Any:
    """``torch.jit.wait(fut)``: its result."""
    return future.wait()


# ---- script and trace ---------------------------------------------------------------------------

class ScriptModule(Module):
    """A Module compiled by :func:`script` or :func:`trace`: calls go through
    ``chainrule.compile``'s capture and replay of the original's ``forward``.  It shares the
    original's parameters, buffers and submodules (``state_dict`` keys are the original's, as a
    PyTorch ScriptModule's are), and answers the original's other attributes and methods."""

    def __init__(self, mod: Module, compiled: CompiledFunction) -> None:
        super().__init__()
        d = self.__dict__
        d["_parameters"], d["_buffers"], d["_modules"] = mod._parameters, mod._buffers, mod._modules
        d["training"] = mod.training
        d["original_name"] = type(mod).__name__
        d["_orig"] = mod
        d["_compiled"] = compiled

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.__dict__["_compiled"](*args, **kwargs)

    def train(self, mode: bool = True) -> ScriptModule:
        """As ``Module.train``, and the original's own flag too: its ``forward`` is what runs."""
        super().train(mode)
        self.__dict__["_orig"].training = mode
        return self

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            orig = self.__dict__.get("_orig")
            if orig is None:
                raise
            return getattr(orig, name)

    # a container's protocol, as the original has it (scripted[0], len(scripted), for m in scripted)
    def __getitem__(self, index: Any) -> Any:
        return self.__dict__["_orig"][index]

    def __len__(self) -> int:
        return len(self.__dict__["_orig"])

    def __iter__(self) -> Iterator:
        return iter(self.__dict__["_orig"])

    def __contains__(self, item: Any) -> bool:
        return item in self.__dict__["_orig"]

    def explain(self) -> str:
        """The compiled forward's plans (``chainrule.compile``'s ``explain``)."""
        return self.__dict__["_compiled"].explain()

    def extra_repr(self) -> str:
        return f"original_name={self.__dict__['original_name']}"


class RecursiveScriptModule(ScriptModule):
    """What :func:`script` returns for a Module (PyTorch's class name, for ``isinstance`` checks)."""


class TracedModule(ScriptModule):
    """A traced Module (PyTorch's class name)."""


class TopLevelTracedModule(TracedModule):
    """What :func:`trace` returns for a Module (PyTorch's class name)."""


class ScriptFunction:
    """A function compiled by :func:`script` or :func:`trace`."""

    def __init__(self, fn: Callable, compiled: CompiledFunction) -> None:
        functools.update_wrapper(self, fn)
        self._compiled = compiled

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._compiled(*args, **kwargs)

    def explain(self) -> str:
        return self._compiled.explain()


def _compiled(fn: Callable) -> CompiledFunction:
    """``fn`` compiled with ``chainrule.compile``'s defaults (what ``torch.compile(fn)`` makes)."""
    return CompiledFunction(fn, name=getattr(fn, "__name__", None))


def script(obj: Any, optimize: Any = None, _frames_up: int = 0, _rcb: Any = None,
           example_inputs: Any = None) -> Any:
    """``torch.jit.script``: a Module becomes a :class:`RecursiveScriptModule`, a function a
    :class:`ScriptFunction`, both compiled by ``chainrule.compile``; a class (a TorchScript
    class), or what is scripted already, comes back as it is."""
    if builtins.isinstance(obj, (ScriptModule, ScriptFunction)) or builtins.isinstance(obj, type):
        return obj
    if builtins.isinstance(obj, Module):
        return RecursiveScriptModule(obj, _compiled(obj))
    if callable(obj):
        return ScriptFunction(obj, _compiled(obj))
    raise TypeError(f"torch.jit.script: expected a Module, a function or a class, got {type(obj).__name__}")


def _example(example_inputs: Any) -> tuple:
    if example_inputs is None:
        return ()
    return tuple(example_inputs) if builtins.isinstance(example_inputs, (tuple, list)) else (example_inputs,)


def trace(func: Any, example_inputs: Any = None, optimize: Any = None, check_trace: bool = True,
          check_inputs: Any = None, check_tolerance: float = 1e-5, strict: bool = True,
          _force_outplace: bool = False, _module_class: Any = None, _compilation_unit: Any = None,
          example_kwarg_inputs: dict | None = None, _store_inputs: bool = True) -> Any:
    """``torch.jit.trace``: ``func`` (a Module or a function) compiled by ``chainrule.compile``
    and called once with the example inputs, as PyTorch's trace runs it (a Module in training
    mode updates its batch-norm statistics then, as in PyTorch).  The call is captured, so later
    calls of the same kind replay it; unlike a TorchScript trace, a call that takes another
    branch is captured again instead of replaying the example's (``check_trace`` has nothing to
    check)."""
    if example_inputs is None and example_kwarg_inputs is None:
        raise ValueError("torch.jit.trace: give example_inputs (a tensor or a tuple of them) or example_kwarg_inputs")
    if builtins.isinstance(func, (ScriptModule, ScriptFunction)):
        traced = func
    elif builtins.isinstance(func, Module):
        traced = TopLevelTracedModule(func, _compiled(func))
    elif callable(func):
        traced = ScriptFunction(func, _compiled(func))
    else:
        raise TypeError(f"torch.jit.trace: expected a Module or a function, got {type(func).__name__}")
    traced(*_example(example_inputs), **(example_kwarg_inputs or {}))
    return traced


def trace_module(mod: Module, inputs: dict[str, Any], optimize: Any = None, check_trace: bool = True,
                 check_inputs: Any = None, check_tolerance: float = 1e-5, strict: bool = True,
                 _force_outplace: bool = False, _module_class: Any = None, _compilation_unit: Any = None,
                 example_inputs_is_kwarg: bool = False, _store_inputs: bool = True) -> TopLevelTracedModule:
    """``torch.jit.trace_module(mod, {"forward": x, "encode": y})``: each named method compiled
    and called once with its example inputs (a dict of keyword arguments where
    ``example_inputs_is_kwarg``)."""
    if not builtins.isinstance(mod, Module):
        raise TypeError(f"torch.jit.trace_module: expected a Module, got {type(mod).__name__}")
    if not builtins.isinstance(inputs, dict) or not inputs:
        raise ValueError("torch.jit.trace_module: inputs must be a dict of method name -> example inputs")
    traced = TopLevelTracedModule(mod, _compiled(mod))
    for name, example in inputs.items():
        method = traced if name == "forward" else ScriptFunction(getattr(mod, name), _compiled(getattr(mod, name)))
        if name != "forward":
            traced.__dict__[name] = method
        if example_inputs_is_kwarg:
            method(**example)
        else:
            method(*_example(example))
    return traced


def freeze(mod: ScriptModule, preserved_attrs: list[str] | None = None, optimize_numerics: bool = True) -> ScriptModule:
    """``torch.jit.freeze``: the module as it is (PyTorch's checks kept: a scripted module in
    eval mode); a plan reads the parameters where they are, with nothing to inline."""
    if not builtins.isinstance(mod, ScriptModule):
        raise RuntimeError("Freezing expects a ScriptModule as input. Please use torch.jit.script or torch.jit.trace "
                           "to script your 'nn.Module'.")
    if mod.training:
        raise RuntimeError("Freezing is currently only implemented for modules in eval mode. Please call .eval() on "
                           "your module before freezing.")
    return mod


def optimize_for_inference(mod: ScriptModule, other_methods: list[str] | None = None) -> ScriptModule:
    """``torch.jit.optimize_for_inference``: the scripted module in eval mode (:func:`freeze`)."""
    if not builtins.isinstance(mod, ScriptModule):
        raise RuntimeError("optimize_for_inference expects a ScriptModule as input. Please use torch.jit.script or "
                           "torch.jit.trace to script your 'nn.Module'.")
    mod.eval()
    return freeze(mod)


# ---- the fusers' settings: taken, without effect (chainrule.compile has one fuser, always on) -------

_FUSION: dict[str, Any] = {"strategy": [("STATIC", 2), ("DYNAMIC", 10)], "onednn": False}


def set_fusion_strategy(strategy: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """``torch.jit.set_fusion_strategy([("STATIC", 2), ("DYNAMIC", 10)])``: kept and the previous
    one returned, as in PyTorch; it changes nothing here."""
    for entry in strategy:
        if not builtins.isinstance(entry, tuple) or len(entry) != 2 or entry[0] not in ("STATIC", "DYNAMIC") \
                or not builtins.isinstance(entry[1], int):
            raise ValueError(f"torch.jit.set_fusion_strategy: expected (\"STATIC\" or \"DYNAMIC\", depth) pairs, "
                             f"got {entry!r}")
    old, _FUSION["strategy"] = _FUSION["strategy"], list(strategy)
    return old


def enable_onednn_fusion(enabled: bool) -> None:
    """Kept (:func:`onednn_fusion_enabled` reads it back); it changes nothing here."""
    _FUSION["onednn"] = bool(enabled)


def onednn_fusion_enabled() -> bool:
    return bool(_FUSION["onednn"])


@contextlib.contextmanager
def optimized_execution(should_optimize: bool) -> Iterator[None]:
    """A ``with`` block PyTorch 1 programs use around scripted calls: nothing to switch."""
    yield


@contextlib.contextmanager
def fuser(name: str) -> Iterator[None]:
    """``with torch.jit.fuser("fuser1"):``: the name checked as PyTorch does; nothing to switch."""
    if name not in ("fuser0", "fuser1", "fuser2", "fuser3", "none"):
        raise Exception(f"unrecognized fuser option (name: {name})")
    yield


class strict_fusion:  # noqa: N801  (PyTorch's name)
    """``with torch.jit.strict_fusion():``: PyTorch checks inside a scripted function that the
    block fused entirely; here it is a plain block."""

    def __enter__(self) -> strict_fusion:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

