"""The notes' linear models, the XOR constructions, and random-features regression.

Notation of the notes (004): inputs X (N, D), targets t (N,), weights w (D,), bias b.

* Linear regression  y = X w + b,  cost E(w) = 1/(2N) ||X w + b 1 - t||²,
  ∇_w E = 1/N Xᵀ (X w + b 1 - t).
  Direct solution: ∇E = 0  ⇒  w = (XᵀX)⁻¹ Xᵀ t (on X with a column of ones for b),
  computed by least squares.  Gradient descent: w ← w - α ∇_w E.
* Polynomial feature map ψ(x) = [1, x, x², ..., x^m]ᵀ; y = wᵀψ(x) is linear in ψ(x);
  the degree m is a hyper-parameter chosen on a validation set.
* Logistic regression  z = wᵀx + b, y = σ(z),  L_CE(y, t) = -t log y - (1-t) log(1-y).
* Softmax regression (K classes)  z = W x + b,  y_k = e^{z_k} / Σ_m e^{z_m},
  L_CE = -tᵀ log y;  Jacobian ∂y_k/∂z_j = y_k (δ_kj - y_j);  ∂L/∂z = y - t.
* XOR: the 2-unit ReLU net of notes 000, h1 = (x1 + x2)+, h2 = (x1 + x2 - 1)+,
  y = h1 - 2 h2; and the feature map ψ(x) = [x1, x2, x1 x2] that makes XOR linearly separable.
* Random-features regression (double descent): φ(x) = ReLU(V x) with P random
  rows of V, min-norm least squares on φ; the test error peaks near P = N.

All trainable models keep their parameters as ``chainrule`` tensors and are fitted with
chainrule's autograd and optimisers; the direct solutions use NumPy's least squares.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

import chainrule as cr
from chainrule import optim
from chainrule.autograd.tensor import Tensor


def _f64(a: Any) -> np.ndarray:
    return np.asarray(a._array if isinstance(a, Tensor) else a, dtype=np.float64)


# ----------------------------------------------------------------------------- linear regression
def linear_regression_direct(X: Any, t: Any) -> tuple[np.ndarray, float]:
    """The direct solution w = (X̃ᵀX̃)⁻¹ X̃ᵀ t with X̃ = [X 1]; returns (w (D,), b).

    Solved with ``np.linalg.lstsq`` (same solution, numerically safer than inverting XᵀX).
    """
    X, t = _f64(X), _f64(t).reshape(-1)
    if X.ndim != 2 or X.shape[0] != t.shape[0]:
        raise ValueError(f"linear_regression_direct: expected X (N, D) and t (N,), got {tuple(X.shape)} and"
                         f" {tuple(t.shape)}")
    Xb = np.hstack([X, np.ones((X.shape[0], 1))])
    sol, *_ = np.linalg.lstsq(Xb, t, rcond=None)
    return sol[:-1], float(sol[-1])


class LinearRegression:
    """y = X w + b trained by full-batch gradient descent on E = 1/(2N)||Xw + b - t||².

    Parameters ``weight`` (D,) and ``bias`` () are chainrule tensors; ``fit`` runs
    ``steps`` updates w ← w - α ∇_w E with the gradient from autograd.
    """

    def __init__(self, in_features: int, dtype: Any = np.float64) -> None:
        self.weight = cr.zeros(in_features, dtype=dtype, requires_grad=True)
        self.bias = cr.zeros((), dtype=dtype, requires_grad=True)

    def parameters(self) -> list[Tensor]:
        return [self.weight, self.bias]

    def __call__(self, X: Any) -> Tensor:
        return cr.as_tensor(X, dtype=self.weight.dtype) @ self.weight + self.bias

    def cost(self, X: Any, t: Any) -> Tensor:
        r = self(X) - cr.as_tensor(t, dtype=self.weight.dtype)
        return (r * r).mean() / 2

    def fit(self, X: Any, t: Any, lr: float = 0.1, steps: int = 1000) -> list[float]:
        opt = optim.SGD(self.parameters(), lr=lr)
        history = []
        for _ in range(steps):
            opt.zero_grad()
            loss = self.cost(X, t)
            loss.backward()
            opt.step()
            history.append(loss.item())
        return history


def polynomial_features(x: Any, degree: int) -> np.ndarray:
    """ψ(x) = [x, x², ..., x^m] of shape (N, m) for a 1-D input x (N,) (bias kept separate)."""
    x = _f64(x).reshape(-1)
    return np.stack([x**p for p in range(1, degree + 1)], 1) if degree > 0 else np.zeros((x.size, 0))


def select_polynomial_degree(
    x_train: Any, t_train: Any, x_val: Any, t_val: Any, degrees: Sequence[int] = tuple(range(0, 13))
) -> tuple[int, dict[int, float]]:
    """Fit each degree m by least squares on the training set; pick the lowest validation MSE.

    Returns (best m, {m: validation mean squared error}).
    """
    errors = {}
    for m in degrees:
        w, b = linear_regression_direct(polynomial_features(x_train, m), t_train)
        pred = polynomial_features(x_val, m) @ w + b
        errors[m] = float(np.mean((pred - _f64(t_val).reshape(-1)) ** 2))
    best = min(errors, key=lambda m: (errors[m], m))
    return best, errors


# ----------------------------------------------------------------------------- classification
def binary_cross_entropy_with_logits(z: Tensor, t: Tensor) -> Tensor:
    """mean L_CE(σ(z), t) = mean[log(1 + e^z) - t z], with log(1 + e^z) = z⁺ + log(1 + e^{-|z|})."""
    softplus = cr.relu(z) + cr.log1p(cr.exp(-cr.abs(z)))
    return (softplus - t * z).mean()


def softmax_cross_entropy(z: Tensor, target: Any) -> Tensor:
    """mean over rows of L_CE = -tᵀ log softmax(z); ``target`` is class ids (N,) or one-hot (N, K)."""
    logy = cr.log_softmax(z, -1)
    tgt = np.asarray(target._array if isinstance(target, Tensor) else target)
    if tgt.ndim == 1:
        onehot = np.zeros(z.shape, dtype=z.dtype)
        onehot[np.arange(tgt.size), tgt.astype(np.int64)] = 1
        tgt = onehot
    return -(cr.as_tensor(tgt, dtype=z.dtype) * logy).sum() / z.shape[0]


def softmax_jacobian(y: Any) -> np.ndarray:
    """The notes' softmax Jacobian J_kj = ∂y_k/∂z_j = y_k (δ_kj - y_j) = diag(y) - y yᵀ, for y (K,)."""
    y = _f64(y).reshape(-1)
    return np.diag(y) - np.outer(y, y)


class LogisticRegression:
    """Binary linear classifier y = σ(wᵀx + b) trained on the cross-entropy with Adam/SGD."""

    def __init__(self, in_features: int, dtype: Any = np.float64) -> None:
        self.weight = cr.zeros(in_features, dtype=dtype, requires_grad=True)
        self.bias = cr.zeros((), dtype=dtype, requires_grad=True)

    def parameters(self) -> list[Tensor]:
        return [self.weight, self.bias]

    def __call__(self, X: Any) -> Tensor:
        """The logit z (N,)."""
        return cr.as_tensor(X, dtype=self.weight.dtype) @ self.weight + self.bias

    def loss(self, X: Any, t: Any) -> Tensor:
        return binary_cross_entropy_with_logits(self(X), cr.as_tensor(t, dtype=self.weight.dtype))

    def predict_proba(self, X: Any) -> np.ndarray:
        with cr.no_grad():
            return cr.sigmoid(self(X))._array

    def predict(self, X: Any) -> np.ndarray:
        return (self.predict_proba(X) > 0.5).astype(np.int64)

    def fit(self, X: Any, t: Any, lr: float = 0.1, steps: int = 500, weight_decay: float = 0.0) -> list[float]:
        return _fit_full_batch(self, X, t, lr, steps, weight_decay)


class SoftmaxRegression:
    """K-class linear classifier y = softmax(W x + b), W (K, D), trained on -tᵀ log y."""

    def __init__(self, in_features: int, num_classes: int, dtype: Any = np.float64) -> None:
        self.weight = cr.zeros((num_classes, in_features), dtype=dtype, requires_grad=True)
        self.bias = cr.zeros(num_classes, dtype=dtype, requires_grad=True)

    def parameters(self) -> list[Tensor]:
        return [self.weight, self.bias]

    def __call__(self, X: Any) -> Tensor:
        """The logits z (N, K)."""
        return cr.as_tensor(X, dtype=self.weight.dtype) @ self.weight.t() + self.bias

    def loss(self, X: Any, t: Any) -> Tensor:
        return softmax_cross_entropy(self(X), t)

    def predict_proba(self, X: Any) -> np.ndarray:
        with cr.no_grad():
            return cr.softmax(self(X), -1)._array

    def predict(self, X: Any) -> np.ndarray:
        return self.predict_proba(X).argmax(-1)

    def fit(self, X: Any, t: Any, lr: float = 0.1, steps: int = 500, weight_decay: float = 0.0) -> list[float]:
        return _fit_full_batch(self, X, t, lr, steps, weight_decay)


def _fit_full_batch(model: Any, X: Any, t: Any, lr: float, steps: int, weight_decay: float) -> list[float]:
    opt = optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    history = []
    for _ in range(steps):
        opt.zero_grad()
        loss = model.loss(X, t)
        loss.backward()
        opt.step()
        history.append(loss.item())
    return history


# ----------------------------------------------------------------------------- XOR
XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_T = np.array([0.0, 1.0, 1.0, 0.0])


class ReLUNet2:
    """The notes' two-hidden-unit ReLU network: h = (W x + c)+ (W (2, 2), c (2,)), y = βᵀh + b.

    ``ReLUNet2.xor()`` loads the hand-built weights of notes 000:
    h1 = (x1 + x2)+, h2 = (x1 + x2 - 1)+, β = [1, -2], b = 0, so y = h1 - 2 h2 = XOR(x1, x2).
    The default constructor draws small random weights (for learning XOR).
    """

    def __init__(self, hidden: int = 2, seed: int | None = None, dtype: Any = np.float64) -> None:
        rng = np.random.default_rng(seed)
        self.W = cr.tensor(rng.normal(0, 1.0, (hidden, 2)), dtype=dtype, requires_grad=True)
        self.c = cr.tensor(np.full(hidden, 0.1), dtype=dtype, requires_grad=True)  # small + bias for ReLU
        self.beta = cr.tensor(rng.normal(0, 1.0, hidden), dtype=dtype, requires_grad=True)
        self.b = cr.zeros((), dtype=dtype, requires_grad=True)

    @classmethod
    def xor(cls) -> ReLUNet2:
        net = cls()
        net.W = cr.tensor([[1.0, 1.0], [1.0, 1.0]], dtype=np.float64)
        net.c = cr.tensor([0.0, -1.0], dtype=np.float64)
        net.beta = cr.tensor([1.0, -2.0], dtype=np.float64)
        net.b = cr.tensor(0.0, dtype=np.float64)
        return net

    def parameters(self) -> list[Tensor]:
        return [self.W, self.c, self.beta, self.b]

    def hidden(self, X: Any) -> Tensor:
        return cr.relu(cr.as_tensor(X, dtype=self.W.dtype) @ self.W.t() + self.c)

    def __call__(self, X: Any) -> Tensor:
        return self.hidden(X) @ self.beta + self.b

    def fit(self, X: Any, t: Any, lr: float = 0.05, steps: int = 2000) -> list[float]:
        """Minimise the squared error 1/2 mean (y - t)² with Adam."""
        opt = optim.Adam(self.parameters(), lr=lr)
        tt = cr.as_tensor(t, dtype=self.W.dtype)
        history = []
        for _ in range(steps):
            opt.zero_grad()
            r = self(X) - tt
            loss = (r * r).mean() / 2
            loss.backward()
            opt.step()
            history.append(loss.item())
        return history


def xor_feature_map(X: Any) -> np.ndarray:
    """ψ(x) = [x1, x2, x1·x2] (N, 3): XOR becomes linearly separable (y = x1 + x2 - 2 x1 x2)."""
    X = _f64(X)
    return np.stack([X[:, 0], X[:, 1], X[:, 0] * X[:, 1]], 1)


# ----------------------------------------------------------------------------- double descent
def random_features_regression(
    X_train: Any,
    t_train: Any,
    X_test: Any,
    t_test: Any,
    n_features: Sequence[int],
    seed: int = 0,
    ridge: float = 0.0,
) -> dict[int, tuple[float, float]]:
    """Test error against the number P of random ReLU features (double descent).

    φ(x) = max(0, V x) / √P with V (P, D) ~ N(0, 1/D); the weights are the minimum-norm
    least-squares solution w = φ⁺ t (pseudo-inverse), or ridge (φᵀφ + λI)⁻¹φᵀt when
    ``ridge`` = λ > 0 (explicit regularisation smooths the peak away).
    Returns {P: (train MSE, test MSE)}; without ridge the test error peaks near P = N.
    """
    Xtr, Xte = _f64(X_train), _f64(X_test)
    ttr, tte = _f64(t_train).reshape(-1), _f64(t_test).reshape(-1)
    D = Xtr.shape[1]
    rng = np.random.default_rng(seed)
    Vall = rng.normal(0, 1 / np.sqrt(D), (max(n_features), D))
    out = {}
    for P in n_features:
        V = Vall[:P]
        Ftr = np.maximum(Xtr @ V.T, 0) / np.sqrt(P)
        Fte = np.maximum(Xte @ V.T, 0) / np.sqrt(P)
        if ridge > 0:
            w = np.linalg.solve(Ftr.T @ Ftr + ridge * np.eye(P), Ftr.T @ ttr)
        else:
            w = np.linalg.pinv(Ftr, rcond=1e-10) @ ttr
        out[P] = (float(np.mean((Ftr @ w - ttr) ** 2)), float(np.mean((Fte @ w - tte) ** 2)))
    return out
