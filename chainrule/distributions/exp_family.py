"""Exponential families (PyTorch's ``torch.distributions.ExponentialFamily``)."""

from __future__ import annotations

from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.distributions.distribution import Distribution
from chainrule.distributions.utils import sum_rightmost

__all__ = ["ExponentialFamily"]


class ExponentialFamily(Distribution):
    r"""Densities of the form p(x; η) = h(x) exp(ηᵀ T(x) − A(η)).

    A subclass gives its natural parameters η (``_natural_params``), the log normaliser A
    (``_log_normalizer(*η)``) and E[log h(x)] (``_mean_carrier_measure``).  Then, since
    E[T(x)] = ∇A(η), the entropy is H = A(η) − ηᵀ∇A(η) − E[log h(x)] (a Bregman divergence),
    which ``entropy`` computes with autograd.  The families here override ``entropy`` with their
    closed forms; this one is the generic fallback (not differentiable in the parameters, as in
    PyTorch, since η is detached).
    """

    @property
    def _natural_params(self) -> tuple[Tensor, ...]:
        raise NotImplementedError(f"{type(self).__name__} does not give its natural parameters")

    def _log_normalizer(self, *natural_params: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not give its log normaliser")

    @property
    def _mean_carrier_measure(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not give E[log h(x)]")

    def entropy(self) -> Tensor:
        """A(η) − ηᵀ∇A(η) − E[log h(x)], with ∇A by autograd."""
        from chainrule.autograd.engine import grad
        from chainrule.autograd.grad_mode import enable_grad

        result = -self._mean_carrier_measure
        with enable_grad():
            eta = [p.detach().requires_grad_() for p in self._natural_params]
            log_norm = self._log_normalizer(*eta)
            grads = grad(log_norm.sum(), eta, create_graph=True)
        result = result + log_norm
        n_batch = len(self._batch_shape)
        for e, g in zip(eta, grads):
            result = result - sum_rightmost(e * g, e.ndim - n_batch)
        return result
