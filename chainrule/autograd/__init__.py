"""Automatic differentiation: the engine, grad mode, custom Functions, checks and tables.

``backward`` and ``grad`` run reverse mode; ``forward_ad`` and
``chainrule.func.jvp`` run forward mode; ``gradcheck``/``gradgradcheck``
compare against finite differences; ``detect_anomaly`` finds the first NaN;
``trace`` prints the notes' forward/backward tables.
"""

from chainrule.autograd.engine import backward, grad
from chainrule.autograd.grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from chainrule.autograd.primitive import Primitive, apply
from chainrule.autograd.tensor import Tensor

__all__ = [
    "Primitive",
    "Tensor",
    "apply",
    "backward",
    "enable_grad",
    "grad",
    "inference_mode",
    "is_grad_enabled",
    "no_grad",
    "set_grad_enabled",
]
