"""Long-range dependencies (notes 004): the adding problem, IRNN vs tanh RNN vs LSTM.

The adding problem (Hochreiter & Schmidhuber 1997; Le et al. 2015): each input step is
x_t = (u_t, m_t) with u_t ~ U(0, 1) and a marker m_t that is 1 at exactly two steps (one
in each half of the sequence) and 0 elsewhere; the target is the sum of the two marked
u's.  Predicting the mean, 1, has mean squared error Var(u_a + u_b) = 2/12 = 1/6, so an
MSE well below 1/6 means the network carried information across the sequence.

Models (``kind``):

* ``"irnn"`` — h_t = ReLU(W_hh h_{t-1} + W_ih x_t + b) with W_hh = I, b = 0 at
  initialisation (the notes' "identity RNN": the identity map neither explodes nor
  vanishes at the start);
* ``"tanh"`` — h_t = tanh(W_hh h_{t-1} + W_ih x_t + b), PyTorch's U(-1/√H, 1/√H) init;
* ``"lstm"`` — the LSTM (gates i, f, g, o; c_t = f ⊙ c_{t-1} + i ⊙ g), same init,
  forget-gate bias 1.

Read-out y = wᵀ h_T + b_out.  :meth:`SequenceRegressor.hidden_grad_norms` returns
‖∂L/∂h_t‖ for t = 1..T (backprop through time by the step-by-step cells), which shows
gradients vanishing (tanh) or surviving (IRNN, LSTM) back to the first steps.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import optim
from chainrule.autograd import grad
from chainrule.autograd.tensor import Tensor
from chainrule.nn.utils import clip_grad_norm_


def adding_problem(n: int, T: int, seed: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """``n`` adding-problem sequences of length ``T``: X (T, n, 2) float32, y (n,) float32."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    u = rng.uniform(0, 1, (T, n))
    m = np.zeros((T, n))
    half = T // 2
    a = rng.integers(0, half, n)
    b = rng.integers(half, T, n)
    m[a, np.arange(n)] = 1
    m[b, np.arange(n)] = 1
    y = u[a, np.arange(n)] + u[b, np.arange(n)]
    return np.stack([u, m], -1).astype(np.float32), y.astype(np.float32)


_CELL: dict[str, Callable[..., Any]] = {"irnn": F.rnn_relu_cell, "tanh": F.rnn_tanh_cell, "lstm": F.lstm_cell}
_SEQ: dict[str, Callable[..., Any]] = {"irnn": F.rnn_relu, "tanh": F.rnn_tanh, "lstm": F.lstm}


class SequenceRegressor:
    """One recurrent layer (``kind`` irnn / tanh / lstm) of width H plus a linear read-out of h_T.

    Parameters: weight_ih (G·H, 2), weight_hh (G·H, H), bias_ih, bias_hh (G·H,) with G = 4
    for the LSTM and 1 otherwise, and the read-out w (H,), b_out ().
    """

    def __init__(self, kind: str, hidden_size: int = 32, input_size: int = 2, seed: int = 0) -> None:
        if kind not in _CELL:
            raise ValueError(f"SequenceRegressor: kind must be one of {sorted(_CELL)}, got {kind!r}")
        rng = np.random.default_rng(seed)
        H, G = hidden_size, 4 if kind == "lstm" else 1
        k = 1 / np.sqrt(H)
        if kind == "irnn":
            w_ih = rng.normal(0, 0.001, (H, input_size))
            w_hh = np.eye(H)
            b_ih, b_hh = np.zeros(H), np.zeros(H)
        else:
            w_ih = rng.uniform(-k, k, (G * H, input_size))
            w_hh = rng.uniform(-k, k, (G * H, H))
            b_ih, b_hh = rng.uniform(-k, k, G * H), rng.uniform(-k, k, G * H)
            if kind == "lstm":
                b_ih[H : 2 * H] = 1.0  # forget gate open at the start
        mk = lambda a: cr.tensor(a, dtype=np.float32, requires_grad=True)
        self.kind, self.hidden_size = kind, H
        self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh = map(mk, (w_ih, w_hh, b_ih, b_hh))
        self.w_out = mk(rng.uniform(-k, k, H))
        self.b_out = mk(np.array(1.0))  # start at the mean target

    def parameters(self) -> list[Tensor]:
        return [self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, self.w_out, self.b_out]

    def _rnn_params(self) -> list[Tensor]:
        return [self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh]

    def __call__(self, X: Any) -> Tensor:
        """X (T, N, 2) -> predictions (N,), using the fused sequence kernel."""
        out = _SEQ[self.kind](cr.as_tensor(X), None, self._rnn_params())[0]
        return out[-1] @ self.w_out + self.b_out

    def hidden_states(self, X: Any) -> tuple[list[Tensor], Tensor]:
        """Run the cells step by step: ([h_1, ..., h_T], prediction (N,))."""
        X = cr.as_tensor(X)
        N, H = X.shape[1], self.hidden_size
        h = cr.zeros((N, H), dtype=X.dtype)
        c = cr.zeros((N, H), dtype=X.dtype)
        hs = []
        for t in range(X.shape[0]):
            if self.kind == "lstm":
                h, c = F.lstm_cell(X[t], (h, c), *self._rnn_params())
            else:
                h = _CELL[self.kind](X[t], h, *self._rnn_params())
            hs.append(h)
        return hs, hs[-1] @ self.w_out + self.b_out

    def hidden_grad_norms(self, X: Any, y: Any) -> np.ndarray:
        """‖∂L/∂h_t‖ (Frobenius over the batch) for t = 1..T, L = mean squared error."""
        hs, pred = self.hidden_states(X)
        r = pred - cr.as_tensor(y)
        loss = (r * r).mean()
        grads = grad(loss, hs, allow_unused=True)
        return np.array([0.0 if g is None else float(np.linalg.norm(g._array)) for g in grads])

    def mse(self, X: Any, y: Any) -> float:
        with cr.no_grad():
            r = self(X)._array - np.asarray(y)
        return float(np.mean(r * r))

    def fit(
        self,
        T: int,
        steps: int = 300,
        batch_size: int = 64,
        lr: float = 1e-3,
        clip: float = 1.0,
        seed: int = 0,
        stop_when: Callable[[SequenceRegressor], bool] | None = None,
        check_every: int = 100,
    ) -> list[float]:
        """Adam on fresh adding-problem batches each step, gradients clipped to norm ``clip``.

        With ``stop_when``, training stops at the first multiple of ``check_every`` steps where
        ``stop_when(self)`` is true (e.g. a held-out MSE has reached a target).  Returns the
        training losses, one per step taken.
        """
        rng = np.random.default_rng(seed)
        opt = optim.Adam(self.parameters(), lr=lr)
        history: list[float] = []
        for step in range(1, steps + 1):
            X, y = adding_problem(batch_size, T, rng)
            opt.zero_grad()
            r = self(X) - cr.as_tensor(y)
            loss = (r * r).mean()
            loss.backward()
            clip_grad_norm_(self.parameters(), clip)
            opt.step()
            history.append(loss.item())
            if stop_when is not None and step % check_every == 0 and step < steps and stop_when(self):
                break
        return history
