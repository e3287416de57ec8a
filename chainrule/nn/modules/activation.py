"""Activation layers: the module forms of ``chainrule.nn.functional.activation``.

PyTorch's names, constructor arguments and ``repr``.  ``inplace=True`` (where PyTorch has it)
writes into the input and returns it, as PyTorch does (a hook's saved output sees it).  Formulas and
the derivatives used at kinks are listed in ``chainrule.nn.functional.activation``.  The notes' units without a PyTorch
counterpart: ``Step`` (Heaviside, ½ at 0), ``Sign``, ``PiecewiseLinear``,
``Swish``/``ESwish`` and ``Maxout``.
"""

from __future__ import annotations

from chainrule.autograd.tensor import Tensor
from chainrule.nn.functional import activation as F
from chainrule.nn.module import Module
from chainrule.nn.modules._elsewhere import reexports

__all__ = [
    "ELU",
    "GELU",
    "SELU",
    "SiLU",
    "ESwish",
    "Heaviside",
    "Hardsigmoid",
    "Hardswish",
    "Hardtanh",
    "LeakyReLU",
    "LogSigmoid",
    "LogSoftmax",
    "Maxout",
    "Mish",
    "PiecewiseLinear",
    "ReLU",
    "ReLU6",
    "Sigmoid",
    "Sign",
    "Softmax",
    "Softplus",
    "Softsign",
    "Step",
    "Swish",
    "Tanh",
]

class _Inplace(Module):
    """An activation with PyTorch's ``inplace`` flag (``ops.inplace.in_place``)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = bool(inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class ReLU(_Inplace):
    """max(0, x); derivative 0 at 0."""

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(input, self.inplace)


class ReLU6(_Inplace):
    """min(max(0, x), 6)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.relu6(input, self.inplace)


class LeakyReLU(Module):
    """x for x > 0, negative_slope·x otherwise (the notes' leaky ReLU is ``LeakyReLU(0.1)``)."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = bool(inplace)

    def forward(self, input: Tensor) -> Tensor:
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(Module):
    """x for x > 0, α(e^x - 1) for x <= 0 (the notes' table)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = bool(inplace)

    def forward(self, input: Tensor) -> Tensor:
        return F.elu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class SELU(_Inplace):
    """scale · ELU(x, α), α ≈ 1.6733, scale ≈ 1.0507."""

    def forward(self, input: Tensor) -> Tensor:
        return F.selu(input, self.inplace)


class Softplus(Module):
    """(1/β) ln(1 + e^(βx)), linear where βx > threshold."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input: Tensor) -> Tensor:
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class GELU(Module):
    """x Φ(x) (exact, erf) or its tanh approximation (``approximate='tanh'``)."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return F.gelu(input, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(_Inplace):
    """x σ(x)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.silu(input, self.inplace)


class Swish(Module):
    """x σ(βx) with a constant β (β = 1: SiLU)."""

    def __init__(self, beta: float = 1.0) -> None:
        super().__init__()
        self.beta = beta

    def forward(self, input: Tensor) -> Tensor:
        return F.swish(input, self.beta)

    def extra_repr(self) -> str:
        return f"beta={self.beta}"


class ESwish(Module):
    """E-swish (the notes' activation slide): β · x · σ(x)."""

    def __init__(self, beta: float = 1.25) -> None:
        super().__init__()
        self.beta = beta

    def forward(self, input: Tensor) -> Tensor:
        return F.eswish(input, self.beta)

    def extra_repr(self) -> str:
        return f"beta={self.beta}"


class Mish(_Inplace):
    """x tanh(softplus(x))."""

    def forward(self, input: Tensor) -> Tensor:
        return F.mish(input, self.inplace)


class Hardsigmoid(_Inplace):
    """PyTorch's hard sigmoid relu6(x + 3)/6."""

    def forward(self, input: Tensor) -> Tensor:
        return F.hardsigmoid(input, self.inplace)


class Hardswish(_Inplace):
    """x · relu6(x + 3)/6."""

    def forward(self, input: Tensor) -> Tensor:
        return F.hardswish(input, self.inplace)


class Hardtanh(Module):
    """min(max(min_val, x), max_val)."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        if min_val > max_val:
            raise ValueError(f"Hardtanh: min_val ({min_val}) cannot be greater than max_val ({max_val})")
        self.min_val = min_val
        self.max_val = max_val
        self.inplace = bool(inplace)

    def forward(self, input: Tensor) -> Tensor:
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}" + (", inplace=True" if self.inplace else "")


class PiecewiseLinear(Module):
    """The notes' piece-wise linear unit: 0 (z <= -½), z + ½ (-½ < z < ½), 1 (z >= ½)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.piecewise_linear(input)


class Sigmoid(Module):
    """σ(x) = 1/(1 + e^-x)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.sigmoid(input)


class Tanh(Module):
    """tanh x."""

    def forward(self, input: Tensor) -> Tensor:
        return F.tanh(input)


class LogSigmoid(Module):
    """log σ(x), stable."""

    def forward(self, input: Tensor) -> Tensor:
        return F.logsigmoid(input)


class Softsign(Module):
    """x / (1 + |x|)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.softsign(input)


class Step(Module):
    """The notes' unit step (Heaviside): 0 (z < 0), ``value_at_zero`` = ½ (z = 0), 1 (z > 0);
    zero gradient everywhere."""

    def __init__(self, value_at_zero: float = 0.5) -> None:
        super().__init__()
        self.value_at_zero = value_at_zero

    def forward(self, input: Tensor) -> Tensor:
        return F.step(input, self.value_at_zero)

    def extra_repr(self) -> str:
        return f"value_at_zero={self.value_at_zero}"


Heaviside = Step


class Sign(Module):
    """The notes' signum: -1, 0, 1; zero gradient everywhere."""

    def forward(self, input: Tensor) -> Tensor:
        return F.sign(input)


class _DimActivation(Module):
    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_DimActivation):
    """softmax along ``dim``.  Pass ``dim`` (usually -1, the class dimension last); ``dim=None``
    keeps PyTorch's legacy implicit choice (0 for 0-, 1- and 3-D input, else 1) with a warning."""

    def forward(self, input: Tensor) -> Tensor:
        return F.softmax(input, self.dim, _stacklevel=4)


class LogSoftmax(_DimActivation):
    """log softmax along ``dim`` (``dim=None`` as in :class:`Softmax`)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.log_softmax(input, self.dim, _stacklevel=4)


class Maxout(Module):
    """Maxout over groups of ``pool_size`` consecutive features along ``dim``:
    (..., C, ...) -> (..., C / pool_size, ...).  After a linear layer with k·m outputs
    this is the notes' max(w_1ᵀx + b_1, ..., w_kᵀx + b_k); ``nn.MaxoutLinear`` packages both."""

    def __init__(self, pool_size: int, dim: int = -1) -> None:
        super().__init__()
        if int(pool_size) < 1:
            raise ValueError(f"Maxout: pool_size must be a positive int, got {pool_size}")
        self.pool_size = int(pool_size)
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.maxout(input, self.pool_size, self.dim)

    def extra_repr(self) -> str:
        return f"pool_size={self.pool_size}, dim={self.dim}"


# PyTorch keeps these classes in torch.nn.modules.activation; chainrule defines them in the files
# named here, which import this one: served on first use (see _elsewhere.py).
__getattr__ = reexports(__name__, {
    "CELU": "chainrule.nn.modules.activation_extra",
    "GLU": "chainrule.nn.modules.activation_extra",
    "Hardshrink": "chainrule.nn.modules.activation_extra",
    "PReLU": "chainrule.nn.modules.activation_extra",
    "RReLU": "chainrule.nn.modules.activation_extra",
    "Softmax2d": "chainrule.nn.modules.activation_extra",
    "Softmin": "chainrule.nn.modules.activation_extra",
    "Softshrink": "chainrule.nn.modules.activation_extra",
    "Tanhshrink": "chainrule.nn.modules.activation_extra",
    "Threshold": "chainrule.nn.modules.activation_extra",
    "MultiheadAttention": "chainrule.nn.modules.attention",
})
