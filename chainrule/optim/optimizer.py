"""The optimiser base class (PyTorch's ``torch.optim.Optimizer``).

An optimiser holds

* ``param_groups``: a list of dicts, each with its ``'params'`` (a list of
  Tensors) and its own hyper-parameters (``'lr'``, ``'momentum'``...), filled
  in from ``defaults`` where a group does not give them;
* ``state``: a dict keyed by the parameter Tensor itself (Tensors hash by
  identity) holding what the update rule remembers between steps
  (``'momentum_buffer'``, ``'exp_avg'``, ``'step'``...), stored as Tensors.

``step()`` gathers, for each group, the parameters that have a gradient, their
gradients and their state into lists of arrays and calls the optimiser's functional
update (``chainrule.optim._functional``, PyTorch's ``adam(params, grads, ...)``), which
writes ``p._array`` in place through the back-end table, outside the graph: no Tensor
is created on this hot path, hyper-parameters are Python floats (so a float32
parameter stays float32 under NumPy 2's promotion rules), and the temporaries an
update needs live in a scratch workspace (``self._work``) reused from step to step.
"""

from __future__ import annotations

import copy
import functools
from collections import OrderedDict
from typing import Any, Callable, Iterable

import numpy as np

from chainrule.autograd.grad_mode import DIFFERING, enable_grad
from chainrule.autograd.hooks import RemovableHandle, add_hook
from chainrule.autograd.host_steps import host_step
from chainrule.autograd.primitive import kernel, table_of
from chainrule.autograd.profiler import run_in_range
from chainrule.autograd.tensor import Tensor
from chainrule.autograd.version import bump_all
from chainrule.backend import ArrayMath, get_default_dtype, registry
from chainrule.optim._functional import Scratch

__all__ = ["Optimizer", "register_optimizer_step_post_hook", "register_optimizer_step_pre_hook", "required"]


class _Required:
    """Marker for a hyper-parameter that has no default and must be given."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


def _scalar_dtype() -> Any:
    """The dtype of PyTorch's 0-d state Tensors ('step', NAdam's 'mu_product', ASGD's 'eta'...):
    float64 when that is the default floating dtype, else float32."""
    d = get_default_dtype()
    return d if d.itemsize == 8 else ArrayMath.scalar(0.0, "float32").dtype


def _scalar_state(value: float, dtype: Any = None) -> Tensor:
    """A 0-d state Tensor holding ``value`` (float32 by default, as PyTorch's 'step')."""
    return Tensor._wrap(ArrayMath.scalar(value, "float32" if dtype is None else dtype))


def _zeros_state(p: Tensor) -> Tensor:
    """A state Tensor of zeros shaped and typed like parameter ``p``, on its device."""
    return kernel("zeros_like", p)


def _step_and_zeros(p: Tensor, *keys: str) -> dict[str, Tensor]:
    """A fresh state: ``'step'``, a 0-d counter of PyTorch's scalar dtype, then one buffer of
    zeros like ``p`` under each key (the state dict's key order is PyTorch's)."""
    state = {"step": _scalar_state(0.0, _scalar_dtype())}
    for key in keys:
        state[key] = _zeros_state(p)
    return state


def state_arrays(states: list, *keys: str) -> list[list]:
    """For each key, every parameter's state array under it, in parameter order: the argument
    lists of the functional updates (``F.adam(params, grads, exp_avgs, exp_avg_sqs, ...)``)."""
    return [[st[k]._array for st in states] for k in keys]


def _check_impl_flags(name: str, foreach: Any, capturable: bool, differentiable: bool) -> None:
    """PyTorch's implementation switches: ``foreach`` (one loop or fused lists) only selects how
    the same update is computed and is ignored; ``capturable`` (CUDA-graph capture) and
    ``differentiable`` (autograd through the step) have no CPU/NumPy counterpart and raise."""
    if capturable:
        raise RuntimeError(
            f"{name}: capturable=True is for CUDA-graph capture on an accelerator; chainrule runs on the CPU "
            "(use capturable=False)"
        )
    if differentiable:
        raise NotImplementedError(
            f"{name}: differentiable=True (autograd through the optimizer step) is not supported by chainrule; "
            "its optimizers update parameters outside the graph"
        )


def _check_betas(betas: Any) -> None:
    if len(betas) != 2:
        raise ValueError(f"Invalid betas: {betas} (expected two values)")
    for i, beta in enumerate(betas):
        if not 0.0 <= float(beta) < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")


def _check_nonneg(name: str, value: Any) -> None:
    """Raise ``ValueError("Invalid <name>: value")`` unless ``0 <= value``."""
    if not 0.0 <= float(value):
        raise ValueError(f"Invalid {name}: {value}")


def _check_adam_args(lr: float, betas: Any, eps: float, weight_decay: float) -> None:
    """The checks of the Adam family's common arguments (Adam, AdamW, Adamax, NAdam, RAdam), in
    PyTorch's order: lr, eps, betas, weight_decay."""
    _check_nonneg("learning rate", lr)
    _check_nonneg("epsilon value", eps)
    _check_betas(betas)
    _check_nonneg("weight_decay value", weight_decay)


# The step hooks of every optimiser (PyTorch's torch.optim.optimizer globals), run before and after
# each instance's own.  ``_STEP_HOOKED[0]`` turns True at the first step hook registered anywhere
# (global or on an instance) and stays so: until then a step's wrapper reads only that flag.
_global_optimizer_pre_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
_global_optimizer_post_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
_STEP_HOOKED = [False]

# the hook tables each optimiser holds, under PyTorch's attribute names
_HOOK_TABLES = (
    "_optimizer_step_pre_hooks", "_optimizer_step_post_hooks", "_optimizer_state_dict_pre_hooks",
    "_optimizer_state_dict_post_hooks", "_optimizer_load_state_dict_pre_hooks",
    "_optimizer_load_state_dict_post_hooks",
)


def register_optimizer_step_pre_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """Register a step pre-hook common to all optimisers (``torch.optim.optimizer``'s).

    ``hook(optimizer, args, kwargs) -> None or (new_args, new_kwargs)`` runs before every
    optimiser's ``step``, ahead of the optimiser's own pre-hooks; ``args`` are the step's
    positional arguments, the optimiser first.  Returns a handle whose ``remove()`` unregisters it.
    """
    _STEP_HOOKED[0] = True
    return add_hook(_global_optimizer_pre_hooks, hook)


def register_optimizer_step_post_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """Register a step post-hook common to all optimisers: ``hook(optimizer, args, kwargs)`` runs
    after every optimiser's ``step``, after the optimiser's own post-hooks.  Returns a handle."""
    _STEP_HOOKED[0] = True
    return add_hook(_global_optimizer_post_hooks, hook)


def has_step_hooks(opt: Any) -> bool:
    """Whether a step of ``opt`` runs some hook (its own or a global one): the compiled mode then
    assumes nothing about what the step writes (compiler/capture.py)."""
    if not _STEP_HOOKED[0]:
        return False
    d = opt.__dict__
    return bool(_global_optimizer_pre_hooks or _global_optimizer_post_hooks
                or d.get("_optimizer_step_pre_hooks") or d.get("_optimizer_step_post_hooks"))


def _noting_the_call(step: Callable[..., Any]) -> Callable[..., Any]:
    """``step`` that first sets ``optimizer._opt_called`` (a learning-rate scheduler's first
    ``step()`` reads it to warn when it comes before the optimizer's, lr_scheduler.py), and runs
    the step hooks around it once any exists (else that costs one list read)."""
    if getattr(step, "__notes_call__", False):
        return step

    @functools.wraps(step)
    def noted(self: Any, *args: Any, **kwargs: Any) -> Any:
        self._opt_called = True
        if _STEP_HOOKED[0]:
            return _hooked_step(step, self, args, kwargs)
        return step(self, *args, **kwargs)

    noted.__notes_call__ = True  # type: ignore[attr-defined]
    return noted


def _hooked_step(step: Callable[..., Any], self: Any, args: tuple, kwargs: dict) -> Any:
    """``step(self, *args, **kwargs)`` between the pre-hooks (global ones first) and the post-hooks
    (the optimiser's first), as PyTorch's: the hooks see the arguments with the optimiser first,
    and a pre-hook may replace them by returning ``(new_args, new_kwargs)``."""
    d = self.__dict__
    if d.get("_stepping"):  # a subclass's step calling super().step(): its hooks ran for this call
        return step(self, *args, **kwargs)
    pre = [*_global_optimizer_pre_hooks.values(), *d.get("_optimizer_step_pre_hooks", {}).values()]
    full = (self, *args)
    for hook in pre:
        result = hook(self, full, kwargs)
        if result is not None:
            if not (isinstance(result, tuple) and len(result) == 2):
                raise RuntimeError(f"{step} must return None or a tuple of (new_args, new_kwargs), but got {result}.")
            full, kwargs = result
    d["_stepping"] = True
    try:
        out = step(*full, **kwargs)
    finally:
        del d["_stepping"]
    for hook in [*d.get("_optimizer_step_post_hooks", {}).values(), *_global_optimizer_post_hooks.values()]:
        hook(self, full, kwargs)
    return out


class Optimizer:
    """Base class of all optimisers.

    Args:
        params: an iterable of Tensors, of ``(name, Tensor)`` pairs, or of dicts
            (parameter groups: ``{'params': [...], 'lr': 0.1, ...}``).
        defaults: the default hyper-parameters, used by groups that do not set them.

    Subclasses implement :meth:`step`; the update of one parameter reads
    ``p.grad._array`` and writes ``p._array`` in place.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # step() is a host step: a compiled plan calls it again on each replay (autograd/host_steps.py)
        super().__init_subclass__(**kwargs)
        # and, while a profiler records, a range named "Optimizer.step#<Class>.step" (as PyTorch's)
        if "step" in cls.__dict__:
            cls.step = host_step(_noting_the_call(cls.__dict__["step"]), "Optimizer.step")  # type: ignore[method-assign]

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: dict[Any, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        self._work = Scratch()  # the update's temporaries, reused across steps
        for table in _HOOK_TABLES:  # (registered through the register_*_hook methods below)
            setattr(self, table, OrderedDict())

        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors "
                f"or dicts, but got {type(params).__name__}"
            )
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    # -- parameter groups ----------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyper-parameters (e.g. a layer to unfreeze)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but "
                "the ordering of tensors in sets will change between runs; use a list instead"
            )
        params = list(params)
        names = []
        for i, p in enumerate(params):
            if isinstance(p, tuple) and len(p) == 2:  # (name, tensor) pairs, as from named_parameters()
                names.append(p[0])
                params[i] = p = p[1]
            if not isinstance(p, Tensor):
                raise TypeError(
                    "optimizer can only optimize Tensors, but one of the params is " + type(p).__name__
                )
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        if names:
            if len(names) != len(params):
                raise ValueError("all optimizer params should be given with names, or none of them")
            group["param_names"] = names
        group["params"] = params

        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            group.setdefault(name, default)

        if len({id(p) for p in params}) != len(params):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    # -- the training-loop calls ----------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's gradient: to None (default), or to zeros in place."""
        if DIFFERING:  # (some thread is not in plain recording mode: a profiler may record this call)
            return run_in_range("Optimizer.zero_grad", Optimizer._zero_grad, (self, set_to_none), {}, "zero_grad")
        self._zero_grad(set_to_none)

    def _zero_grad(self, set_to_none: bool) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    g = p.grad
                    g.detach_()
                    if g._array.flags.writeable:
                        g._array.fill(0)
                    else:
                        g._array = table_of((g._array,), "zero_grad").zeros_like(g._array)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; return ``closure()``'s loss if given."""
        raise NotImplementedError(f"{type(self).__name__}.step() is not implemented")

    @staticmethod
    def _eval_closure(closure: Callable[[], Any] | None) -> Any:
        """Run the closure (which re-computes the loss and calls backward) with grad enabled."""
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def _gather(self, group: dict[str, Any], init: Callable[[Tensor, dict[str, Any]], dict[str, Any]] | None
                ) -> tuple[list[Tensor], list[Any], list[Any], list[dict[str, Any]]]:
        """The lists a functional update takes: ``group``'s parameters that have a gradient,
        their arrays, their gradients' arrays, and their states (made by ``init(p, group)``
        the first time, as PyTorch's ``_init_group`` does; no states when ``init`` is None).

        It also counts the in-place write the update is about to make to each parameter
        (``p._version``): a backward through a graph recorded before this step then refuses
        to use the new weights, as PyTorch's does.
        """
        params = [p for p in group["params"] if p.grad is not None]
        state = self.state
        states: list[dict[str, Any]] = []
        if init is not None:
            states = [state.get(p) for p in params]  # type: ignore[misc]
            if None in states:  # first steps: make the missing states
                for i, p in enumerate(params):
                    if states[i] is None:
                        states[i] = state[p] = init(p, group)
        bump_all(params)
        ws = [p._array for p in params]
        if ws and (type(ws[0]) is not np.ndarray or self._work.m is not ArrayMath):  # (not the CPU's)
            m = table_of(ws, "optimizer step")
            if m is not self._work.m:  # the parameters moved: a workspace of their device
                self._work = Scratch(m)
        return params, ws, [p.grad._array for p in params if p.grad is not None], states

    # -- hooks ------------------------------------------------------------------------
    def _hook_table(self, name: str) -> OrderedDict:
        """The hook table ``name`` of this optimiser (made here when a subclass skipped ``__init__``)."""
        table = self.__dict__.get(name)
        if table is None:
            table = self.__dict__[name] = OrderedDict()
        return table

    def _register(self, name: str, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        return add_hook(self._hook_table(name), hook, prepend)

    def register_step_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Register ``hook(optimizer, args, kwargs) -> None or (new_args, new_kwargs)``, run before
        each ``step`` (after the global pre-hooks).  ``args`` are the step's positional arguments
        with the optimiser first; returning a pair replaces the arguments the step is called with.
        Returns a handle whose ``remove()`` unregisters the hook."""
        _STEP_HOOKED[0] = True
        return self._register("_optimizer_step_pre_hooks", hook)

    def register_step_post_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Register ``hook(optimizer, args, kwargs) -> None``, run after each ``step`` (before the
        global post-hooks), with the arguments the step was called with.  Returns a handle."""
        _STEP_HOOKED[0] = True
        return self._register("_optimizer_step_post_hooks", hook)

    def register_state_dict_pre_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """Register ``hook(optimizer) -> None``, run at the start of :meth:`state_dict`; with
        ``prepend`` it runs before the hooks already registered.  Returns a handle."""
        return self._register("_optimizer_state_dict_pre_hooks", hook, prepend)

    def register_state_dict_post_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """Register ``hook(optimizer, state_dict) -> state_dict or None``, run on the dict
        :meth:`state_dict` made: it may change it in place or return the one to hand back instead."""
        return self._register("_optimizer_state_dict_post_hooks", hook, prepend)

    def register_load_state_dict_pre_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """Register ``hook(optimizer, state_dict) -> state_dict or None``, run by :meth:`load_state_dict`
        before it loads, on a shallow copy of the dict given: it may change it in place or return
        the dict to load instead."""
        return self._register("_optimizer_load_state_dict_pre_hooks", hook, prepend)

    def register_load_state_dict_post_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """Register ``hook(optimizer) -> None``, run at the end of :meth:`load_state_dict`."""
        return self._register("_optimizer_load_state_dict_post_hooks", hook, prepend)

    def __getstate__(self) -> dict[str, Any]:
        # as PyTorch's: hooks are not part of a copied or pickled optimiser (a lambda would not pickle)
        return {k: v for k, v in self.__dict__.items() if k not in _HOOK_TABLES and k != "_stepping"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        for table in _HOOK_TABLES:
            self.__dict__.setdefault(table, OrderedDict())

    # -- saving and loading ---------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The optimiser's state in PyTorch's layout.

        ``{'state': {index: {'momentum_buffer': Tensor, ...}}, 'param_groups':
        [{hyper-parameters..., 'params': [index, ...]}]}``, where a parameter's
        index is its position counting through the groups in order.  The state
        Tensors are the optimiser's own (not copies), as in PyTorch: save them
        (``cr.save``) or deep-copy them before the next ``step``.  The state-dict hooks run
        around it (:meth:`register_state_dict_pre_hook`, :meth:`register_state_dict_post_hook`).
        """
        for pre_hook in list(self.__dict__.get("_optimizer_state_dict_pre_hooks", {}).values()):
            pre_hook(self)
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: s for p, s in self.state.items() if id(p) in index}
        state_dict = {"state": state, "param_groups": groups}
        for post_hook in list(self.__dict__.get("_optimizer_state_dict_post_hooks", {}).values()):
            result = post_hook(self, state_dict)
            if result is not None:
                state_dict = result
        return state_dict

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state from :meth:`state_dict` (of an optimiser over parameters of the same shapes).

        Hyper-parameters are taken from the saved groups; state Tensors are copied
        (floating ones cast to their parameter's dtype, except ``'step'``).  The load hooks run
        around it: the pre-hooks on a shallow copy of ``state_dict`` (one may return the dict to
        load instead), the post-hooks after the load.
        """
        state_dict = dict(state_dict)  # (a shallow copy, which the pre-hooks may change)
        for pre_hook in list(self.__dict__.get("_optimizer_load_state_dict_pre_hooks", {}).values()):
            result = pre_hook(self, state_dict)
            if result is not None:
                state_dict = result
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                "loaded state dict has a different number of parameter groups: "
                f"{len(saved_groups)} saved, the optimizer has {len(self.param_groups)}"
            )
        for i, (g, sg) in enumerate(zip(self.param_groups, saved_groups)):
            if len(g["params"]) != len(sg["params"]):
                raise ValueError(
                    f"loaded state dict contains a parameter group that doesn't match the size of "
                    f"optimizer's group: group {i} has {len(sg['params'])} saved parameters, "
                    f"the optimizer's has {len(g['params'])}"
                )
        id_map = {
            old: p
            for g, sg in zip(self.param_groups, saved_groups)
            for old, p in zip(sg["params"], g["params"])
        }
        new_state: dict[Any, dict[str, Any]] = {}
        for key, value in state_dict["state"].items():
            p = id_map.get(int(key) if isinstance(key, str) and key.isdigit() else key)
            if p is None:
                continue
            new_state[p] = {k: _load_state_value(p, k, v) for k, v in value.items()}
        new_groups = []
        for g, sg in zip(self.param_groups, saved_groups):
            ng = {k: copy.deepcopy(v) for k, v in sg.items() if k != "params"}
            ng["params"] = g["params"]
            if "param_names" in g and "param_names" not in ng:
                ng["param_names"] = g["param_names"]
            new_groups.append(ng)
        self.state = new_state
        self.param_groups = new_groups
        for post_hook in list(self.__dict__.get("_optimizer_load_state_dict_post_hooks", {}).values()):
            post_hook(self)

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key not in ("params", "param_names"):
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


def _load_state_value(p: Tensor, key: str, value: Any) -> Any:
    """Copy one saved state entry for parameter ``p`` (arrays and Tensors become new Tensors)."""
    if isinstance(value, (Tensor, np.ndarray)):  # (a loaded file holds host arrays)
        src = value._array if isinstance(value, Tensor) else value
        # Floating state takes its parameter's dtype, as in PyTorch; 'step' keeps its own.
        dtype = p._array.dtype if key != "step" and src.dtype.kind == "f" else src.dtype
        if src.ndim:  # on the parameter's device; 0-d state (counters) stays on the host
            src = registry.to_device(src, registry.device_of(p._array), "load_state_dict")
        m = table_of((src,), "load_state_dict")
        arr = m.empty(src.shape, dtype)
        m.copyto(arr, src)
        return Tensor._wrap(arr)
    if isinstance(value, dict):
        return {k: _load_state_value(p, k, v) for k, v in value.items()}
    return copy.deepcopy(value)
