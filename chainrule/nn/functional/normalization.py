"""Batch normalisation and layer normalisation.

Both standardise activations and then scale and shift them (the notes):

    μ = (1/m) Σ_i z_i,   σ² = (1/m) Σ_i (z_i - μ)²,   ẑ_i = (z_i - μ) / sqrt(σ² + ε),   z_i^B = γ ẑ_i + β

Batch norm takes the statistics per channel over the batch (and the spatial
positions); layer norm over the trailing ``normalized_shape`` of each sample.

The standardisation ẑ = Normalize(z) is one fused primitive.  With
s = 1/sqrt(σ² + ε) and m the number of elements averaged, its Jacobian is
the symmetric matrix (s/m)(m I - 1 1ᵀ - ẑ ẑᵀ), so

    vjp:  dL/dz = s (g - mean(g) - ẑ · mean(g ẑ))
    jvp:  dẑ    = s (dz - mean(dz) - ẑ · mean(dz ẑ))

(the mean of ẑ is 0 and that of ẑ² is σ²/(σ² + ε), which is where these come from).
Training-mode batch norm (``BatchNormTrain``) and layer norm (``LayerNormAffine``) fold the
scale and shift γ ẑ + β into the same primitive, one compiled kernel each way.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.autograd.grad_mode import no_grad
from chainrule.autograd.primitive import Primitive, apply, apply1
from chainrule.autograd.tensor import Tensor
from chainrule.backend.dtype_check import DtypeError, DtypeNotImplementedError, mismatch_message


def standardization_vjp(m: Any, s: Any, zhat: Any, g: Any, axes: tuple) -> Any:
    """The standardisation's Jacobian (s/m)(m I - 1 1ᵀ - ẑ ẑᵀ) applied to g over ``axes``:
    s (g - mean(g) - ẑ · mean(g ẑ)) (the module docstring; symmetric, so also the jvp of dz)."""
    return s * (g - m.mean(g, axes, True) - zhat * m.mean(g * zhat, axes, True))


def recorded_standardization(m: Any, x: Any, axes: tuple, eps: float) -> tuple:
    """(ẑ, s = 1/sqrt(σ² + ε)) over ``axes`` recomputed from x with table m's ops: under
    create_graph the rules use these, so second derivatives see their dependence on x."""
    xc = x - m.mean(x, axes, True)
    s = (m.mean(xc * xc, axes, True) + eps) ** -0.5
    return xc * s, s


class Normalize(Primitive):
    """ẑ = (z - mean(z)) / sqrt(var(z) + ε) over ``axes`` (biased variance); see the module docstring."""

    __slots__ = ("axes", "eps", "inv", "mean", "var")
    name = "normalize"
    # the vjp recomputes ẑ from x and the saved statistics instead of reading y, so that y may
    # be changed in place (a residual add after a non-affine norm), as PyTorch allows
    saves_output = False

    def __init__(self, axes: tuple, eps: float) -> None:
        self.axes = axes
        self.eps = eps

    def forward(self, m, x):
        mean = x.mean(axis=self.axes, keepdims=True)
        xc = x - mean
        var = (xc * xc).mean(axis=self.axes, keepdims=True)
        inv = 1.0 / m.sqrt(var + m.scalar(self.eps, x.dtype))
        self.mean, self.var, self.inv = mean, var, inv
        xc *= inv
        return xc

    def _inv(self, m, x):
        return recorded_standardization(m, x, self.axes, self.eps)[1] if m.is_tensor else self.inv

    def vjp(self, m, need, g, y, x):
        if m.is_tensor:  # recorded (create_graph): ẑ and s as functions of x
            zhat, inv = recorded_standardization(m, x, self.axes, self.eps)
        else:
            zhat, inv = (x - self.mean) * self.inv, self.inv
        return (standardization_vjp(m, inv, zhat, g, self.axes),)

    def jvp(self, m, dxs, y, x):  # (runs with the forward, before y can be changed)
        return standardization_vjp(m, self._inv(m, x), y, dxs[0], self.axes)


class BatchNormTrain(Primitive):
    """y = γ ẑ + β with ẑ = Normalize(x) over ``axes`` and γ, β per channel (dim 1): training-mode
    batch norm as one primitive (3-4× fewer passes over the activations than the composition).

    With m values per channel, s = 1/sqrt(σ² + ε), Σ over ``axes``:

        dL/dβ = Σ g,   dL/dγ = Σ g ẑ,   dL/dx = γ s (g - (dL/dβ)/m - ẑ (dL/dγ)/m)

    (the Normalize vjp with g γ in place of g; its two means are the parameter gradients / m).
    """

    __slots__ = ("axes", "eps", "inv", "mean", "var", "xhat")
    name = "batch_norm"
    # the vjp reads the saved ẑ and s (or, recorded, x) and γ, never y or β: y may be changed in
    # place (ResNet's ``out = bn(conv(out)); out += shortcut``), as PyTorch allows
    saves_output = False
    saves_inputs = (0, 1)

    def __init__(self, axes: tuple, eps: float) -> None:
        self.axes = axes
        self.eps = eps

    def forward(self, m, x, w, b):
        y, self.mean, self.var, self.inv, self.xhat = m.batch_norm_train(x, w, b, self.axes, self.eps)
        return y

    def _xhat_inv(self, m, x):
        return recorded_standardization(m, x, self.axes, self.eps) if m.is_tensor else (self.xhat, self.inv)

    def vjp(self, m, need, g, y, x, w, b):
        if m.is_tensor:  # recorded (create_graph): the formula above on Tensors
            a = self.axes
            xhat, inv = self._xhat_inv(m, x)
            count = math.prod(x.shape) // x.shape[1]
            gb = m.sum(g, a, True)
            gw = m.sum(g * xhat, a, True)
            gx = m.reshape(w, gb.shape) * inv * (g - gb / count - xhat * (gw / count)) if need[0] else None
        else:
            gx, gw, gb = m.batch_norm_train_vjp(g, self.xhat, self.inv, w, self.axes, need[0])
        return (gx, m.reshape(gw, w.shape) if need[1] else None, m.reshape(gb, b.shape) if need[2] else None)

    def jvp(self, m, dxs, y, x, w, b):
        a = self.axes
        xhat, inv = self._xhat_inv(m, x)
        dx, dw, db = dxs
        dxhat = standardization_vjp(m, inv, xhat, dx, a)
        shape = (-1,) + (1,) * (x.ndim - 2)
        return dxhat * m.reshape(w, shape) + xhat * m.reshape(dw, shape) + m.reshape(db, shape)


class LayerNormAffine(Primitive):
    """y = γ ẑ + β with ẑ = Normalize(x) over the ``k`` trailing axes (rows of D values) and γ, β
    of their shape, each optional (inputs: x, then γ if ``weight``, then β if ``bias``): layer
    norm as one primitive, one compiled pass each way instead of Normalize's and the affine's.

    With s = 1/sqrt(σ² + ε) per row and Σ_rows over the leading axes:

        dL/dβ = Σ_rows g,   dL/dγ = Σ_rows g ẑ,   dL/dx = s (g γ - mean_row(g γ) - ẑ mean_row(g γ ẑ))

    (the Normalize vjp with g γ in place of g).  The forward keeps μ and s per row; ẑ is
    recomputed from x where needed.
    """

    __slots__ = ("k", "eps", "weight", "bias", "mean", "rstd")
    name = "layer_norm"
    saves_output = False  # the vjp reads x and γ, never y

    def __init__(self, k: int, eps: float, weight: bool, bias: bool) -> None:
        self.k = k
        self.eps = eps
        self.weight = weight
        self.bias = bias

    def saved_inputs(self, need: tuple) -> tuple:
        return (0, 1) if self.weight else (0,)

    def _params(self, wb: tuple) -> tuple:
        return (wb[0] if self.weight else None), (wb[-1] if self.bias else None)

    def forward(self, m, x, *wb):
        w, b = self._params(wb)
        y, self.mean, self.rstd = m.layer_norm(x, w, b, self.k, self.eps)
        return y

    def _xhat_rstd(self, m, x):
        if not m.is_tensor:
            return (x - self.mean) * self.rstd, self.rstd
        return recorded_standardization(m, x, tuple(range(x.ndim - self.k, x.ndim)), self.eps)

    def vjp(self, m, need, g, y, x, *wb):
        w, _ = self._params(wb)
        need_w, need_b = self.weight and need[1], self.bias and need[-1]
        if m.is_tensor:  # recorded (create_graph): the formula above on Tensors
            a = tuple(range(x.ndim - self.k, x.ndim))
            lead = tuple(range(x.ndim - self.k))
            xhat, rstd = self._xhat_rstd(m, x)
            gg = g * w if w is not None else g
            gx = standardization_vjp(m, rstd, xhat, gg, a) if need[0] else None
            gw = m.sum(g * xhat, lead, False) if need_w else None
            gb = m.sum(g, lead, False) if need_b else None
        else:
            gx, gw, gb = m.layer_norm_vjp(g, x, self.mean, self.rstd, w, self.k, need[0], need_w, need_b)
        return (gx,) + ((gw,) if self.weight else ()) + ((gb,) if self.bias else ())

    def jvp(self, m, dxs, y, x, *wb):
        w, _ = self._params(wb)
        dw, db = self._params(dxs[1:])
        a = tuple(range(x.ndim - self.k, x.ndim))
        xhat, rstd = self._xhat_rstd(m, x)
        dx = dxs[0]
        dy = standardization_vjp(m, rstd, xhat, dx, a)
        if w is not None:
            dy = dy * w + xhat * dw
        if db is not None:
            dy = dy + db
        return dy


def check_norm_dtypes(where: str, input: Tensor, params: tuple, kind_first: bool) -> tuple:
    """Check the dtypes of a normalisation's input and its ``params`` ((name, tensor or None)...).

    As PyTorch on the CPU: integer or bool input is refused (DtypeNotImplementedError, there is
    no integer kernel) and every parameter must have the input's dtype (DtypeError), except
    that float16 input may use float32 parameters ("mixed dtype": computed and returned in
    float16).  ``kind_first`` gives PyTorch's order of the two checks (batch_norm checks the
    input's kind first, layer_norm the parameters first), which decides the exception type
    of integer input with parameters.  Returns the params converted to float16 where mixed.
    """
    dt = input._array.dtype

    def kind() -> None:
        if dt.kind != "f":
            raise DtypeNotImplementedError(
                f"{where}: not implemented for input dtype {dt}; normalisation needs floating "
                f"input: convert it with input.to(float32)"
            )

    if kind_first:
        kind()
    out = []
    for name, t in params:
        if t is not None and t._array.dtype != dt:
            if dt == np.float16 and t._array.dtype == np.float32:
                t = t.to(dt)  # differentiable: the gradient is converted back to float32
            else:
                raise DtypeError(mismatch_message(where, "input", dt, t._array.dtype, f"the {name}'s"))
        out.append(t)
    if not kind_first:
        kind()
    return tuple(out)


def _same(dt: np.dtype, t: Tensor | None) -> bool:
    return t is None or t._array.dtype is dt


def _affine(y: Tensor, weight: Tensor | None, bias: Tensor | None, shape: tuple) -> Tensor:
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
    _layer: str = "batch_norm",
) -> Tensor:
    """Batch normalisation of input (N, C) or (N, C, *spatial), per channel C.

    training (or no running statistics): μ, σ² over N and the spatial
    positions (m = N·H·W values per channel), ẑ = (z - μ)/sqrt(σ² + ε); the
    running statistics are updated in place as
    running = (1 - momentum)·running + momentum·batch, with the *unbiased*
    variance σ²·m/(m - 1) for running_var.  Otherwise the running statistics
    are used: ẑ = (z - running_mean)/sqrt(running_var + ε).  Then γ ẑ + β with
    weight γ (C,) and bias β (C,).
    """
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected input (N, C) or (N, C, *spatial), got shape {tuple(input.shape)}")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise ValueError(f"batch_norm: expected {name} of shape ({c},) for input {tuple(input.shape)}, "
                             f"got {tuple(t.shape)}")
    dt = input._array.dtype
    if not (dt.kind == "f" and _same(dt, running_mean) and _same(dt, running_var) and _same(dt, weight)
            and _same(dt, bias)):  # the common case costs four comparisons; the rest is checked here
        _, _, weight, bias = check_norm_dtypes(
            _layer, input,
            (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)), True,
        )
    shape = (c,) + (1,) * (input.ndim - 2)
    axes = (0,) + tuple(range(2, input.ndim))
    if training or running_mean is None or running_var is None:
        count = input.shape[0] * math.prod(input.shape[2:])  # values per channel
        if training and count == 1:
            raise ValueError(
                f"batch_norm: expected more than 1 value per channel when training, got input size {tuple(input.shape)}"
            )
        if count == 0 or c == 0:
            # nothing to normalise (PyTorch): the empty output, still a function of the affine
            # parameters so that they get their (zero) gradients; the running statistics stay
            # as they are (a mean over no values is undefined)
            return _affine(input * 1.0, weight, bias, shape)
        if weight is not None and bias is not None:
            op: BatchNormTrain | Normalize = BatchNormTrain(axes, eps)
            y = apply(op, input, weight, bias)
        else:
            op = Normalize(axes, eps)
            y = _affine(apply1(op, input), weight, bias, shape)
        if training and running_mean is not None and running_var is not None:
            with no_grad():
                mu = op.mean.reshape(c)
                var = op.var.reshape(c) * (count / (count - 1) if count > 1 else 1.0)
                rm, rv = running_mean._array, running_var._array
                rm *= 1.0 - momentum
                rm += (momentum * mu).astype(rm.dtype, copy=False)
                rv *= 1.0 - momentum
                rv += (momentum * var).astype(rv.dtype, copy=False)
        return y
    # eval: a fixed affine map per channel, z · scale + shift
    scale, shift = running_affine(running_mean, running_var, eps, input.dtype, shape)
    return _affine(input * scale + shift, weight, bias, shape)


def running_affine(running_mean: Tensor, running_var: Tensor, eps: float, dtype: Any, shape: tuple) -> tuple:
    """(s, -μ s) in ``dtype`` and ``shape``, s = 1/sqrt(running_var + ε): normalising with the
    running statistics is z · s + (-μ s) (constants: no gradient reaches the statistics)."""
    with no_grad():
        inv = 1.0 / (running_var + eps).sqrt()
        return (inv.to(dtype).reshape(shape), (-running_mean * inv).to(dtype).reshape(shape))


def layer_norm(
    input: Tensor,
    normalized_shape: Any,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
    _layer: str = "layer_norm",
) -> Tensor:
    """Layer normalisation over the trailing ``normalized_shape`` dims of each sample.

    ẑ = (z - μ)/sqrt(σ² + ε) with μ, σ² (biased) over those dims, then γ ẑ + β,
    γ and β of shape ``normalized_shape`` (either may be None: no scale, no shift); one
    primitive, ``LayerNormAffine``.
    """
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or tuple(input.shape[input.ndim - k:]) != shape or input.ndim < k:
        raise ValueError(
            f"layer_norm: expected input with shape (*, {', '.join(map(str, shape))}), got {tuple(input.shape)}"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise ValueError(f"layer_norm: expected {name} of shape {shape}, got {tuple(t.shape)}")
    dt = input._array.dtype
    if not (dt.kind == "f" and _same(dt, weight) and _same(dt, bias)):
        weight, bias = check_norm_dtypes(_layer, input, (("weight", weight), ("bias", bias)), False)
    op = LayerNormAffine(k, eps, weight is not None, bias is not None)
    return apply(op, input, *(t for t in (weight, bias) if t is not None))
