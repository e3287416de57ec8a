"""Weight normalisation (Salimans & Kingma 2016), PyTorch's ``torch.nn.utils.weight_norm``.

The parameter ``name`` of a module is replaced by a direction ``name_v`` and a magnitude
``name_g`` and recomputed before every forward call:

    w = g · v / ‖v‖,   ‖v‖ taken over every dimension except ``dim`` (over all of them for dim=None)

so g (shape: 1 everywhere except ``dim``) sets each output's norm and v only its direction.
The state_dict then holds ``name_g`` and ``name_v`` (after the module's other parameters),
as PyTorch's.  ``remove_weight_norm`` folds them back into one parameter.
"""

from __future__ import annotations

from typing import Any

from chainrule.autograd.grad_mode import no_grad
from chainrule.autograd.tensor import Tensor
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.ops import reduction as rd

__all__ = ["remove_weight_norm", "weight_norm"]


def _norm_except_dim(v: Tensor, dim: int | None) -> Tensor:
    if dim is None or dim == -1:  # PyTorch maps None to -1: the norm of the whole tensor
        return rd.norm(v, 2)
    others = tuple(a for a in range(v.ndim) if a != dim)
    return rd.norm(v, 2, others, keepdim=True) if others else rd.norm(v, 2, (), keepdim=True)


class _WeightNorm:
    def __init__(self, name: str, dim: int | None) -> None:
        self.name, self.dim = name, dim

    def compute(self, module: Module) -> Tensor:
        g = getattr(module, self.name + "_g")
        v = getattr(module, self.name + "_v")
        return v * (g / _norm_except_dim(v, self.dim))

    def __call__(self, module: Module, inputs: Any) -> None:
        object.__setattr__(module, self.name, self.compute(module))


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Reparametrise ``module.<name>`` as g · v/‖v‖ (see the module docstring); returns the module."""
    hooks = module.__dict__.setdefault("_weight_norm_hooks", {})
    if name in hooks:
        raise RuntimeError(f"weight_norm: cannot register two weight_norm hooks on the same parameter {name}")
    w = module._parameters.get(name)
    if not isinstance(w, Parameter):
        raise ValueError(f"weight_norm: {type(module).__name__} has no parameter {name!r}")
    if dim is not None and dim < -1:
        dim += w.ndim
    fn = _WeightNorm(name, dim)
    with no_grad():
        g = _norm_except_dim(w, dim).to(w.dtype)
        v = w.clone()
    del module._parameters[name]
    module.register_parameter(name + "_g", Parameter(g))
    module.register_parameter(name + "_v", Parameter(v))
    object.__setattr__(module, name, fn.compute(module))
    hooks[name] = (fn, module.register_forward_pre_hook(fn))
    return module


def remove_weight_norm(module: Module, name: str = "weight") -> Module:
    """Undo :func:`weight_norm`: ``module.<name>`` becomes one Parameter again (with the current g · v/‖v‖)."""
    hooks = module.__dict__.get("_weight_norm_hooks", {})
    if name not in hooks:
        raise ValueError(f"weight_norm of '{name}' not found in {type(module).__name__}")
    fn, handle = hooks.pop(name)
    handle.remove()
    w = fn.compute(module).detach()
    del module._parameters[name + "_g"]
    del module._parameters[name + "_v"]
    if name in module.__dict__:
        object.__delattr__(module, name)
    module.register_parameter(name, Parameter(w.clone()))
    return module
