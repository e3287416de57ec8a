"""Weight initialisers (PyTorch's ``torch.nn.init``): fill a tensor in place and return it.

Every initialiser writes into ``tensor._array`` directly (no graph is recorded, as
under ``torch.no_grad``), keeps the tensor's dtype, and draws from ``generator``
(a ``cr.Generator`` or a ``numpy.random.Generator``) or else chainrule's default
generator (seeded by ``cr.manual_seed``).  The draws are made on the host and handed to
the tensor's device by its table (``m.from_host``), so a seed gives the same values on
every device.

The notes' advice, in these terms: small random weights break the symmetry of
an all-equal start; Xavier (Glorot) keeps the variance of the activations the
same from layer to layer (Var w = 2/(fan_in + fan_out)); He/Kaiming does the
same for ReLU layers (Var w = 2/fan_in); ReLU biases may start at a small
positive constant (``constant_(b, 0.01)``); the identity RNN starts its recurrent
matrix at the identity (``eye_``).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from numpy.random import Generator

from chainrule.autograd.primitive import table_of
from chainrule.autograd.tensor import Tensor
from chainrule.autograd.version import bump
from chainrule.backend import default_generator

__all__ = [
    "calculate_gain",
    "constant_",
    "dirac_",
    "eye_",
    "kaiming_normal_",
    "kaiming_uniform_",
    "normal_",
    "ones_",
    "orthogonal_",
    "trunc_normal_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]

_LINEAR_FNS = (
    "linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
)


def _rng(generator: Any) -> Generator:
    if generator is None:
        return default_generator()
    if isinstance(generator, Generator):
        return generator
    rng = getattr(generator, "rng", None)
    if isinstance(rng, Generator):
        return rng
    raise TypeError(f"init: generator must be a chainrule Generator or numpy Generator, got {type(generator).__name__}")


def _array(tensor: Any, fn: str) -> Any:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{fn}: expected a Tensor, got {type(tensor).__name__}")
    return tensor._array


def _fill(tensor: Tensor, values: Any) -> Tensor:
    """tensor ← values (a host array or a Python number), cast to its dtype, in place (shared with
    optimiser state), on its device."""
    tensor._array[...] = table_of((tensor,), "init").from_host(values)
    bump(tensor)  # an in-place change (tensor._version), as in PyTorch
    return tensor


def calculate_gain(nonlinearity: str, param: Any = None) -> float:
    """The recommended gain for an activation (PyTorch's table):

    linear / conv* / sigmoid: 1;  tanh: 5/3;  relu: √2;  leaky_relu: √(2 / (1 + s²)),
    s = ``param`` (default 0.01);  selu: 3/4.
    """
    if nonlinearity in _LINEAR_FNS or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4.0
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """fan_in = shape[1]·receptive field, fan_out = shape[0]·receptive field (receptive = Π shape[2:]).

    For Linear's weight (out, in) that is (in, out); for a conv weight (C_out, C_in, k...) it is
    (C_in·Πk, C_out·Πk)."""
    shp = tuple(_array(tensor, "init").shape)
    if len(shp) < 2:
        raise ValueError(
            f"init: fan in and fan out cannot be computed for a tensor with fewer than 2 dimensions "
            f"(got shape {shp})"
        )
    receptive = math.prod(shp[2:]) if len(shp) > 2 else 1
    return shp[1] * receptive, shp[0] * receptive


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"init: mode {mode!r} not supported, use 'fan_in' or 'fan_out'")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


# ---------------------------------------------------------------- plain fills
def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Any = None) -> Tensor:
    """Fill with samples of U(a, b)."""
    arr = _array(tensor, "uniform_")
    return _fill(tensor, _rng(generator).uniform(a, b, arr.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> Tensor:
    """Fill with samples of N(mean, std²)."""
    arr = _array(tensor, "normal_")
    return _fill(tensor, _rng(generator).normal(mean, std, arr.shape))


def trunc_normal_(
    tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0, generator: Any = None
) -> Tensor:
    """Fill with N(mean, std²) samples restricted to [a, b] (bounds in absolute units, as PyTorch).

    Drawn by rejection: samples outside [a, b] are redrawn until none is left (the same
    distribution as PyTorch's inverse-CDF method, not the same numbers).
    """
    arr = _array(tensor, "trunc_normal_")
    if not a < b:
        raise ValueError(f"trunc_normal_: need a < b, got a={a}, b={b}")
    if std <= 0:
        raise ValueError(f"trunc_normal_: std must be positive, got {std}")
    rng = _rng(generator)
    lo = (a - mean) / std
    hi = (b - mean) / std
    p = math.erf(hi / math.sqrt(2)) / 2 - math.erf(lo / math.sqrt(2)) / 2  # acceptance probability
    if p < 1e-6:
        raise ValueError(f"trunc_normal_: [a, b] = [{a}, {b}] holds almost none of N({mean}, {std}²)")
    out = rng.standard_normal(arr.size)
    bad = ((out < lo) | (out > hi)).nonzero()[0]
    while bad.size:
        out[bad] = rng.standard_normal(bad.size)
        bad = bad[(out[bad] < lo) | (out[bad] > hi)]
    return _fill(tensor, (out * std + mean).reshape(arr.shape))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``."""
    _array(tensor, "constant_")
    return _fill(tensor, val)


def zeros_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 1.0)


def eye_(tensor: Tensor) -> Tensor:
    """The identity matrix (ones on the diagonal of a 2-D tensor, zeros elsewhere): the notes'
    identity-RNN start for the recurrent weights (``nn.init.eye_(rnn.weight_hh_l0)``)."""
    arr = _array(tensor, "eye_")
    if arr.ndim != 2:
        raise ValueError(f"eye_: only 2-D tensors are supported, got shape {tuple(arr.shape)}")
    _fill(tensor, 0.0)
    for i in range(min(arr.shape)):
        arr[i, i] = 1
    return tensor


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """The Dirac delta for a conv weight (C_out, C_in, *k), 3-5-D: each output channel copies one
    input channel (the centre tap is 1), so a convolution with padding k//2 starts as the identity."""
    arr = _array(tensor, "dirac_")
    if arr.ndim not in (3, 4, 5):
        raise ValueError(f"dirac_: only 3-, 4- and 5-D tensors are supported, got shape {tuple(arr.shape)}")
    if arr.shape[0] % groups:
        raise ValueError(f"dirac_: dim 0 ({arr.shape[0]}) must be divisible by groups ({groups})")
    per = arr.shape[0] // groups
    n = min(per, arr.shape[1])
    _fill(tensor, 0.0)
    centre = tuple(s // 2 for s in arr.shape[2:])
    for g in range(groups):
        for d in range(n):
            arr[(g * per + d, d) + centre] = 1
    return tensor


def orthogonal_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """A (semi-)orthogonal matrix times ``gain`` (Saxe et al.): the tensor seen as (shape[0], rest)
    has orthonormal rows or columns, whichever are fewer.  QR of a Gaussian matrix, with the signs
    of R's diagonal folded into Q so that the result is uniform (Haar) distributed."""
    arr = _array(tensor, "orthogonal_")
    if arr.ndim < 2:
        raise ValueError(f"orthogonal_: only tensors with 2 or more dimensions are supported, got {tuple(arr.shape)}")
    if arr.size == 0:
        return tensor
    rows = arr.shape[0]
    cols = arr.size // rows
    flat = _rng(generator).standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    m = table_of((), "orthogonal_")  # on the host, as the draws
    q, r = m.qr(flat)
    d = m.sign(r.diagonal())
    d[d == 0] = 1.0
    q = q * d
    if rows < cols:
        q = q.T
    return _fill(tensor, (q * gain).reshape(arr.shape))


# ---------------------------------------------------------------- scaled by the fans
def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot/Xavier uniform: U(-a, a), a = gain·√(6 / (fan_in + fan_out)) (Var = gain²·2/(fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot/Xavier normal: N(0, std²), std = gain·√(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str, fn: str) -> float | None:
    if 0 in tuple(_array(tensor, fn).shape):
        warnings.warn(f"{fn}: initializing a zero-element tensor is a no-op", UserWarning, stacklevel=3)
        return None
    fan = _calculate_correct_fan(tensor, mode)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(
    tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator: Any = None
) -> Tensor:
    """He/Kaiming uniform: U(-bound, bound), bound = gain·√(3 / fan), gain = calculate_gain(nonlinearity, a).

    ``a=√5`` with the default leaky_relu gives bound = 1/√fan_in: nn.Linear's and nn.Conv's default."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_uniform_")
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(
    tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator: Any = None
) -> Tensor:
    """He/Kaiming normal: N(0, std²), std = gain / √fan (√(2/fan_in) for ReLU)."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_normal_")
    if std is None:
        return tensor
    return normal_(tensor, 0.0, std, generator)
