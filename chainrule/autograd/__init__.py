"""Automatic differentiation: the engine, grad mode, custom Functions, checks and tables.

``backward`` and ``grad`` run reverse mode; ``forward_ad`` and
``chainrule.func.jvp`` run forward mode; ``gradcheck``/``gradgradcheck``
compare against finite differences; ``detect_anomaly`` finds the first NaN;
``trace`` prints the notes' forward/backward tables; ``profiler`` times every op
(``torch.autograd.profiler``, under ``chainrule.profiler``).
"""

from chainrule.autograd import forward_ad, functional, graph, profiler
from chainrule.autograd import sharing as _sharing  # noqa: F401  (tensors through multiprocessing)
from chainrule.autograd.anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from chainrule.autograd.engine import backward, grad
from chainrule.autograd.function import Function, FunctionCtx, once_differentiable
from chainrule.autograd.grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_multithreading_enabled,
    no_grad,
    set_grad_enabled,
    set_multithreading_enabled,
)
from chainrule.autograd.gradcheck import GradcheckError, gradcheck, gradgradcheck
from chainrule.autograd.graphviz import to_dot
from chainrule.autograd.primitive import Primitive, apply
from chainrule.autograd.saved import SavedTensor
from chainrule.autograd.tensor import Tensor
from chainrule.autograd.trace import Table, trace
from chainrule.autograd.variable import Variable

__all__ = [
    "Function", "FunctionCtx", "GradcheckError", "Primitive", "SavedTensor", "Table", "Tensor", "apply", "backward",
    "detect_anomaly", "enable_grad", "forward_ad", "functional", "grad", "graph", "gradcheck", "gradgradcheck",
    "inference_mode",
    "is_anomaly_enabled", "is_grad_enabled", "is_multithreading_enabled", "no_grad", "once_differentiable",
    "profiler", "set_detect_anomaly", "set_grad_enabled", "set_multithreading_enabled", "to_dot", "trace",
    "Variable",
]
