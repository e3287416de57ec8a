"""The optimiser base class (PyTorch's ``torch.optim.Optimizer``).

An optimiser holds

* ``param_groups``: a list of dicts, each with its ``'params'`` (a list of
  Tensors) and its own hyper-parameters (``'lr'``, ``'momentum'``...), filled
  in from ``defaults`` where a group does not give them;
* ``state``: a dict keyed by the parameter Tensor itself (Tensors hash by
  identity) holding what the update rule remembers between steps
  (``'momentum_buffer'``, ``'exp_avg'``, ``'step'``...), stored as Tensors.

``step()`` reads each parameter's ``.grad`` and updates ``p._array`` in place with
NumPy, outside the graph: no Tensor is created on this hot path, hyper-parameters
are used as Python floats (so a float32 parameter stays float32 under NumPy 2's
promotion rules), and the temporaries an update needs live in a small scratch
workspace reused from step to step.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Iterable

import numpy as np

from chainrule.autograd.grad_mode import enable_grad
from chainrule.autograd.tensor import Tensor
from chainrule.autograd.version import bump

__all__ = ["Optimizer", "required"]


class _Scalars:
    """Hyper-parameters as 0-d arrays of a parameter's dtype, made once per dtype.

    A ufunc takes a 0-d array of its operand's dtype about twice as fast as a
    Python float (no scalar conversion or promotion), which matters for the
    many small parameters of an MLP; the arithmetic is the same, since NumPy 2
    casts a Python float to the array's dtype anyway.
    """

    __slots__ = ("values", "by_dtype")

    def __init__(self, *values: float) -> None:
        self.values = values
        self.by_dtype: dict[np.dtype, tuple[np.ndarray, ...]] = {}

    def __call__(self, dtype: np.dtype) -> tuple[np.ndarray, ...]:
        c = self.by_dtype.get(dtype)
        if c is None:
            c = self.by_dtype[dtype] = tuple(np.array(v, dtype=dtype) for v in self.values)
        return c


class _Required:
    """Marker for a hyper-parameter that has no default and must be given."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


def _count_step(state: dict[str, Any]) -> float:
    """Add one to ``state['step']`` (a 0-d Tensor, as in PyTorch) and return the new count.

    Written with item assignment: an in-place ufunc on a 0-d array costs ~40x more.
    """
    st = state["step"]._array
    step = float(st) + 1.0
    st[()] = step
    return step


def _check_nonneg(name: str, value: Any) -> None:
    """Raise ``ValueError("Invalid <name>: value")`` unless ``0 <= value``."""
    if not 0.0 <= float(value):
        raise ValueError(f"Invalid {name}: {value}")


class Optimizer:
    """Base class of all optimisers.

    Args:
        params: an iterable of Tensors, of ``(name, Tensor)`` pairs, or of dicts
            (parameter groups: ``{'params': [...], 'lr': 0.1, ...}``).
        defaults: the default hyper-parameters, used by groups that do not set them.

    Subclasses implement :meth:`step`; the update of one parameter reads
    ``p.grad._array`` and writes ``p._array`` in place.
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: dict[Any, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        self._work: dict[tuple, np.ndarray] = {}  # scratch arrays, see _scratch

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
                        g._array = np.zeros_like(g._array)

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

    def _scratch(self, like: np.ndarray, slot: int = 0) -> np.ndarray:
        """A scratch array shaped and typed like ``like``, reused across parameters and steps.

        One flat buffer per (dtype, slot), as large as the largest parameter seen:
        an update rule writes its temporaries there with ``out=`` instead of
        allocating new arrays.  ``slot`` tells apart the temporaries one update
        needs at the same time.
        """
        key = (like.dtype, slot)
        buf = self._work.get(key)
        if buf is None or buf.size < like.size:
            buf = self._work[key] = np.empty(like.size, dtype=like.dtype)
        return buf[: like.size].reshape(like.shape)

    def _grad_term(self, p: Tensor, weight_decay: float, maximize: bool) -> np.ndarray:
        """The gradient the rule uses: ``±∂E/∂w + λ w`` (L2 weight decay, coupled as in PyTorch).

        Returns ``p.grad._array`` itself when there is nothing to add (no copy), else a scratch array.
        Every rule calls it once per parameter just before writing ``p._array`` in place, so it
        also counts that write (``p._version``): a backward through a graph recorded before
        this step then refuses to use the new weights, as PyTorch's does.
        """
        bump(p)
        g = p.grad._array  # type: ignore[union-attr]  # step() calls this for parameters with a grad only
        if weight_decay == 0.0 and not maximize:
            return g
        d = self._scratch(p._array, 0)
        if weight_decay == 0.0:
            np.negative(g, d)
        else:
            np.multiply(p._array, np.array(weight_decay, dtype=d.dtype), d)
            if maximize:
                np.subtract(d, g, d)
            else:
                np.add(d, g, d)
        return d

    # -- saving and loading ---------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The optimiser's state in PyTorch's layout.

        ``{'state': {index: {'momentum_buffer': Tensor, ...}}, 'param_groups':
        [{hyper-parameters..., 'params': [index, ...]}]}``, where a parameter's
        index is its position counting through the groups in order.  The state
        Tensors are the optimiser's own (not copies), as in PyTorch: save them
        (``cr.save``) or deep-copy them before the next ``step``.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: s for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state from :meth:`state_dict` (of an optimiser over parameters of the same shapes).

        Hyper-parameters are taken from the saved groups; state Tensors are copied
        (floating ones cast to their parameter's dtype, except ``'step'``).
        """
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
    if isinstance(value, (Tensor, np.ndarray)):
        arr = np.array(value._array if isinstance(value, Tensor) else value, copy=True)
        if key != "step" and arr.dtype.kind == "f" and arr.dtype != p._array.dtype:
            arr = arr.astype(p._array.dtype)
        return Tensor._wrap(arr)
    if isinstance(value, dict):
        return {k: _load_state_value(p, k, v) for k, v in value.items()}
    return copy.deepcopy(value)
