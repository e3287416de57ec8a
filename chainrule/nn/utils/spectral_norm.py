"""Spectral normalisation with a forward pre-hook (PyTorch's ``torch.nn.utils.spectral_norm``).

The parameter ``name`` is replaced by ``name_orig`` (the Parameter object itself, trained) and two
buffers ``name_u``, ``name_v``; before every forward call

    W = W_orig / σ,   σ = uᵀ W_mat v

with W_mat the weight as a matrix (d_dim × Π other dimensions) and u, v from power iteration,
in training mode ``n_power_iterations`` rounds of v ← W_matᵀu/‖W_matᵀu‖, u ← W_mat v/‖W_mat v‖
first.  The state_dict holds ``name_orig``, ``name_u`` and ``name_v``, as PyTorch's.  The newer
:func:`chainrule.nn.utils.parametrizations.spectral_norm` does the same as a parametrization.
"""

from __future__ import annotations

from typing import Any

from chainrule.autograd.grad_mode import no_grad
from chainrule.autograd.tensor import Tensor
from chainrule.nn.functional.distance import normalize
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.utils.parametrizations import _as_matrix, _default_dim, _power_iteration
from chainrule.ops import creation

__all__ = ["SpectralNorm", "remove_spectral_norm", "spectral_norm"]


class SpectralNorm:
    """The forward pre-hook that recomputes ``module.<name>`` = ``<name>_orig`` / σ."""

    def __init__(self, name: str = "weight", n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12) -> None:
        if n_power_iterations <= 0:
            raise ValueError(f"spectral_norm: n_power_iterations must be positive, got {n_power_iterations}")
        self.name, self.dim, self.n_power_iterations, self.eps = name, dim, n_power_iterations, eps

    def reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        """The weight (d₀, …) as the matrix (d_dim, Π others)."""
        return _as_matrix(weight, self.dim)

    def compute_weight(self, module: Module, do_power_iteration: bool) -> Tensor:
        """W_orig / (uᵀ W_mat v), after power iteration on the buffers u, v when asked."""
        weight = getattr(module, self.name + "_orig")
        u = getattr(module, self.name + "_u")
        v = getattr(module, self.name + "_v")
        W = self.reshape_weight_to_matrix(weight)
        if do_power_iteration:
            _power_iteration(W.detach(), u, v, self.n_power_iterations, self.eps, v_first=True)
        sigma = (u.clone() * (W @ v.clone())).sum()
        return weight / sigma

    def remove(self, module: Module) -> None:
        with no_grad():
            weight = self.compute_weight(module, do_power_iteration=False)
        for suffix in ("", "_u", "_v", "_orig"):
            if suffix:
                delattr(module, self.name + suffix)
            elif self.name in module.__dict__:
                object.__delattr__(module, self.name)
        module.register_parameter(self.name, Parameter(weight.detach().clone()))

    def __call__(self, module: Module, inputs: Any) -> None:
        object.__setattr__(module, self.name, self.compute_weight(module, do_power_iteration=module.training))


def spectral_norm(
    module: Module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12, dim: int | None = None
) -> Module:
    """Divide ``module.<name>`` by its spectral norm σ before every forward call (see the module docstring).

    Args:
        module: the module.
        name: the parameter to normalise.
        n_power_iterations: power-iteration rounds per training forward pass (positive).
        eps: the lower bound of the norms in the power iteration.
        dim: the dimension of W_mat's rows (None: 1 for transposed convolutions, else 0).

    Returns:
        The module, with ``<name>_orig`` (Parameter), ``<name>_u`` (d_dim) and ``<name>_v`` (Π others).
    """
    for hook in module._forward_pre_hooks.values():
        if isinstance(hook, SpectralNorm) and hook.name == name:
            raise RuntimeError(f"spectral_norm: cannot register two spectral_norm hooks on the same parameter {name}")
    weight = module._parameters.get(name)
    if not isinstance(weight, Parameter):
        raise ValueError(f"spectral_norm: {type(module).__name__} has no parameter {name!r}")
    dim = _default_dim(module, dim)
    if not -weight.ndim <= dim < weight.ndim:
        raise IndexError(f"spectral_norm: dim {dim} is out of range for a weight of {weight.ndim} dimensions")
    fn = SpectralNorm(name, n_power_iterations, dim % weight.ndim, eps)
    with no_grad():
        h, w = fn.reshape_weight_to_matrix(weight).shape
        u = normalize(creation.randn(h, dtype=weight.dtype), dim=0, eps=eps)
        v = normalize(creation.randn(w, dtype=weight.dtype), dim=0, eps=eps)
    del module._parameters[name]
    module.register_parameter(name + "_orig", weight)
    object.__setattr__(module, name, weight.detach())
    module.register_buffer(name + "_u", u)
    module.register_buffer(name + "_v", v)
    module.register_forward_pre_hook(fn)
    return module


def remove_spectral_norm(module: Module, name: str = "weight") -> Module:
    """Undo :func:`spectral_norm`: ``module.<name>`` becomes one Parameter with the current W_orig/σ."""
    hooks = module._forward_pre_hooks
    for key, hook in list(hooks.items()):
        if isinstance(hook, SpectralNorm) and hook.name == name:
            hook.remove(module)
            del hooks[key]
            return module
    raise ValueError(f"spectral_norm of '{name}' not found in {type(module).__name__}")
