"""Hand-written NumPy training steps for w1 and w2: no framework, forward, backward and update written out.

The yardstick of issue 14's compiled mode: what a careful NumPy programmer gets for the same
step by writing every array operation by hand, as fast as NumPy allows. Every buffer is allocated
once in ``__init__``; a step computes with ``out=`` arguments and in-place updates only (matrix
products through ``np.matmul(..., out=)``, which calls BLAS, transposed operands included), and
never loops in Python over elements. The parameters and their gradients are views into one flat
buffer each, so the optimiser update is a handful of passes over all parameters at once instead of
a handful per parameter (the same trick as chainrule's ``FlatAdam``).

Layout and semantics are PyTorch's: a Linear layer's weight W is (out, in) and y = x Wᵀ + b;
everything is float32. ``tests/test_bench_numpy_steps.py`` checks both steps against chainrule's
eager step (and PyTorch's) from the same initial parameters: a benchmark of a wrong computation
is worthless.

    step = W1Adam(params, x, y)   # params: [W1, b1, W2, b2, W3, b3] as float32 arrays (copied)
    loss = step.step()            # one training step; returns the loss (a float) before the update
    step.params                   # the current parameters (views into one flat buffer)
"""

from __future__ import annotations

import math

import numpy as np

F32 = np.float32


class _FlatParams:
    """Parameters and gradients as views into two flat float32 buffers (created once)."""

    def __init__(self, params: list) -> None:
        arrays = [np.asarray(p, dtype=F32) for p in params]
        total = sum(a.size for a in arrays)
        self.flat = np.empty(total, F32)
        self.grad_flat = np.zeros(total, F32)
        self.params: list = []
        self.grads: list = []
        start = 0
        for a in arrays:
            stop = start + a.size
            view = self.flat[start:stop].reshape(a.shape)
            view[...] = a
            self.params.append(view)
            self.grads.append(self.grad_flat[start:stop].reshape(a.shape))
            start = stop


def _linear(x: np.ndarray, w: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out = x Wᵀ + b (W: (out, in), as PyTorch's Linear)."""
    np.matmul(x, w.T, out=out)
    out += b
    return out


def _linear_backward(dy: np.ndarray, x: np.ndarray, gw: np.ndarray, gb: np.ndarray) -> None:
    """dL/dW = dyᵀ x and dL/db = Σ_rows dy, written into the gradient views."""
    np.matmul(dy.T, x, out=gw)
    np.add.reduce(dy, 0, out=gb)  # the ufunc's reduce: np.sum's Python wrapper costs more than these sums


class W1Adam:
    """w1: MLP 13-32-32-1 (ReLU), BCEWithLogitsLoss (mean), Adam — one step by hand.

    Forward: h1 = relu(x W1ᵀ + b1), h2 = relu(h1 W2ᵀ + b2), z = h2 W3ᵀ + b3;
    loss = mean(max(z, 0) − z y + log(1 + e^{−|z|})) (the stable form of BCE on logits).
    Backward: dz = (σ(z) − y) / N, then the products and ReLU masks layer by layer.
    Adam (PyTorch's, bias-corrected): M ← β1 M + (1 − β1) g, S ← β2 S + (1 − β2) g²,
    θ ← θ − α M̂ / (√Ŝ + ε), computed as θ − (α c / (1 − β1^t)) M / (√S + ε c), c = √(1 − β2^t).
    """

    def __init__(self, params: list, x: np.ndarray, y: np.ndarray, lr: float = 1e-3,
                 betas: tuple = (0.9, 0.999), eps: float = 1e-8) -> None:
        if len(params) != 6:
            raise ValueError(f"W1Adam: expected 6 parameters [W1, b1, W2, b2, W3, b3], got {len(params)}")
        self._p = _FlatParams(params)
        self.params = self._p.params
        self.x = np.ascontiguousarray(x, dtype=F32)
        self.y = np.ascontiguousarray(y, dtype=F32).reshape(len(self.x), -1)
        self.lr, self.beta1, self.beta2, self.eps = lr, betas[0], betas[1], eps
        self.t = 0
        n = len(self.x)
        h1, h2, out = (w.shape[0] for w in self.params[0::2])
        self.h1, self.h2 = np.empty((n, h1), F32), np.empty((n, h2), F32)
        self.z, self.dz, self.e, self.r = (np.empty((n, out), F32) for _ in range(4))
        self.dh1, self.dh2 = np.empty_like(self.h1), np.empty_like(self.h2)
        self.mask1, self.mask2 = np.empty(self.h1.shape, bool), np.empty(self.h2.shape, bool)
        self.pos = np.empty((n, out), bool)
        size = self._p.flat.size
        self.m, self.v = np.zeros(size, F32), np.zeros(size, F32)
        self.tmp, self.tmp2 = np.empty(size, F32), np.empty(size, F32)

    def step(self) -> float:
        w1, b1, w2, b2, w3, b3 = self.params
        gw1, gb1, gw2, gb2, gw3, gb3 = self._p.grads
        x, y, h1, h2, z, e, r, dz = self.x, self.y, self.h1, self.h2, self.z, self.e, self.r, self.dz
        # forward
        np.maximum(_linear(x, w1, b1, h1), 0, out=h1)
        np.maximum(_linear(h1, w2, b2, h2), 0, out=h2)
        _linear(h2, w3, b3, z)
        # loss = mean(max(z, 0) − z y + log1p(e^{−|z|}))
        np.abs(z, out=e)
        np.negative(e, out=e)
        np.exp(e, out=e)  # e = e^{−|z|} ∈ (0, 1]
        np.log1p(e, out=r)
        np.maximum(z, 0, out=dz)
        dz += r
        np.multiply(z, y, out=r)
        dz -= r
        loss = float(np.add.reduce(dz, None)) / dz.size
        # dL/dz = (σ(z) − y) / N, σ(z) = 1/(1 + e) for z ≥ 0 and e/(1 + e) for z < 0
        np.add(e, 1, out=r)
        np.reciprocal(r, out=r)
        np.greater_equal(z, 0, out=self.pos)
        np.multiply(e, r, out=dz)
        np.copyto(dz, r, where=self.pos)
        dz -= y
        dz *= 1.0 / len(x)
        # backward
        _linear_backward(dz, h2, gw3, gb3)
        np.matmul(dz, w3, out=self.dh2)
        np.greater(h2, 0, out=self.mask2)
        np.multiply(self.dh2, self.mask2, out=self.dh2)
        _linear_backward(self.dh2, h1, gw2, gb2)
        np.matmul(self.dh2, w2, out=self.dh1)
        np.greater(h1, 0, out=self.mask1)
        np.multiply(self.dh1, self.mask1, out=self.dh1)
        _linear_backward(self.dh1, x, gw1, gb1)
        # Adam on the flat buffers
        self.t += 1
        b1_, b2_ = self.beta1, self.beta2
        c = math.sqrt(1.0 - b2_**self.t)
        step_size = self.lr * c / (1.0 - b1_**self.t)
        g, m, v, tmp, tmp2 = self._p.grad_flat, self.m, self.v, self.tmp, self.tmp2
        m *= b1_
        np.multiply(g, 1.0 - b1_, out=tmp)
        m += tmp  # M ← β1 M + (1 − β1) g
        v *= b2_
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - b2_
        v += tmp  # S ← β2 S + (1 − β2) g²
        np.sqrt(v, out=tmp2)
        tmp2 += self.eps * c
        np.divide(m, tmp2, out=tmp)
        tmp *= step_size
        self._p.flat -= tmp
        return loss


class W2SGD:
    """w2: MLP 784-512-512-10 (ReLU), CrossEntropyLoss (mean), SGD with momentum — one step by hand.

    Forward as :class:`W1Adam` with ten logits z per row; loss = mean(lse(z) − z_y), lse computed
    after subtracting the row maximum. Backward: dz = (softmax(z) − onehot(y)) / N.
    SGD with momentum μ, PyTorch's semantics (no dampening): v ← μ v + g (the first step v = g:
    v starts at zero and μ·0 + g is g exactly), θ ← θ − α v.
    """

    def __init__(self, params: list, x: np.ndarray, y: np.ndarray, lr: float = 0.01,
                 momentum: float = 0.9) -> None:
        if len(params) != 6:
            raise ValueError(f"W2SGD: expected 6 parameters [W1, b1, W2, b2, W3, b3], got {len(params)}")
        self._p = _FlatParams(params)
        self.params = self._p.params
        self.x = np.ascontiguousarray(x, dtype=F32)
        self.y = np.asarray(y, dtype=np.intp).reshape(-1)
        self.lr, self.momentum = lr, momentum
        n = len(self.x)
        h1, h2, out = (w.shape[0] for w in self.params[0::2])
        self.rows = np.arange(n)
        self.h1, self.h2 = np.empty((n, h1), F32), np.empty((n, h2), F32)
        self.z = np.empty((n, out), F32)
        self.zmax, self.se = np.empty((n, 1), F32), np.empty((n, 1), F32)
        self.dh1, self.dh2 = np.empty_like(self.h1), np.empty_like(self.h2)
        self.mask1, self.mask2 = np.empty(self.h1.shape, bool), np.empty(self.h2.shape, bool)
        size = self._p.flat.size
        self.v, self.tmp = np.zeros(size, F32), np.empty(size, F32)

    def step(self) -> float:
        w1, b1, w2, b2, w3, b3 = self.params
        gw1, gb1, gw2, gb2, gw3, gb3 = self._p.grads
        x, h1, h2, z, zmax, se, rows, y = self.x, self.h1, self.h2, self.z, self.zmax, self.se, self.rows, self.y
        # forward
        np.maximum(_linear(x, w1, b1, h1), 0, out=h1)
        np.maximum(_linear(h1, w2, b2, h2), 0, out=h2)
        _linear(h2, w3, b3, z)
        # loss = mean(lse(z) − z_y); z becomes z − max, then e^{z − max}, then dL/dz
        np.maximum.reduce(z, 1, keepdims=True, out=zmax)
        z -= zmax
        picked = z[rows, y]  # z_y − max (N values)
        np.exp(z, out=z)
        np.add.reduce(z, 1, keepdims=True, out=se)
        loss = (float(np.add.reduce(np.log(se), None)) - float(np.add.reduce(picked))) / len(x)
        np.divide(z, se, out=z)  # softmax
        z[rows, y] -= 1
        z *= 1.0 / len(x)
        dz = z
        # backward
        _linear_backward(dz, h2, gw3, gb3)
        np.matmul(dz, w3, out=self.dh2)
        np.greater(h2, 0, out=self.mask2)
        np.multiply(self.dh2, self.mask2, out=self.dh2)
        _linear_backward(self.dh2, h1, gw2, gb2)
        np.matmul(self.dh2, w2, out=self.dh1)
        np.greater(h1, 0, out=self.mask1)
        np.multiply(self.dh1, self.mask1, out=self.dh1)
        _linear_backward(self.dh1, x, gw1, gb1)
        # SGD with momentum on the flat buffers
        v, tmp = self.v, self.tmp
        v *= self.momentum
        v += self._p.grad_flat  # v ← μ v + g
        np.multiply(v, self.lr, out=tmp)
        self._p.flat -= tmp  # θ ← θ − α v
        return loss
