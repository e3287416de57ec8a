"""Linear models of the notes (004): linear, polynomial, logistic and softmax regression.

1. Linear regression by the direct solution w = (XᵀX)⁻¹Xᵀt and by gradient descent
   w ← w - α/N Xᵀ(Xw - t): the two agree (to 1e-4).
2. Polynomial features ψ(x) = [1, x, ..., x^m]: the degree m is chosen on a validation set.
3. Logistic regression y = σ(wᵀx + b) with the cross-entropy, on two Gaussian classes.
4. Softmax regression y = softmax(Wx + b) on K Gaussian classes; the autograd Jacobian of
   the softmax is compared with the notes' ∂y_k/∂z_j = y_k(δ_kj - y_j).

Run:  python -m chainrule.examples.linear_models [--seed 0]
"""

from __future__ import annotations

import argparse
from typing import Any, Sequence

import numpy as np

import chainrule as cr
from chainrule.autograd import grad
from chainrule.models.regression import (
    LinearRegression,
    LogisticRegression,
    SoftmaxRegression,
    linear_regression_direct,
    polynomial_features,
    select_polynomial_degree,
    softmax_jacobian,
)


def make_blobs(n_per_class: int, k: int, dim: int = 2, spread: float = 1.5, seed: int = 0) -> tuple:
    """K Gaussian classes with centres on a circle of radius 3; returns (X (kn, dim), y (kn,))."""
    rng = np.random.default_rng(seed)
    angles = 2 * np.pi * np.arange(k) / k
    centres = np.zeros((k, dim))
    centres[:, 0], centres[:, 1] = 3 * np.cos(angles), 3 * np.sin(angles)
    X = np.concatenate([c + spread * rng.standard_normal((n_per_class, dim)) for c in centres])
    y = np.repeat(np.arange(k), n_per_class)
    perm = rng.permutation(y.size)
    return X[perm], y[perm]


def autograd_softmax_jacobian(z: np.ndarray) -> np.ndarray:
    """∂softmax(z)_k/∂z_j by reverse mode, one row per output k."""
    zt = cr.tensor(z, dtype=np.float64, requires_grad=True)
    rows = []
    for k in range(z.size):
        y = cr.softmax(zt, -1)
        (g,) = grad(y[k], [zt])
        rows.append(g.detach().numpy())
    return np.stack(rows)


def run(seed: int = 0, verbose: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {}
    say = print if verbose else (lambda *a, **k: None)
    rng = np.random.default_rng(seed)

    # 1. linear regression: direct vs gradient descent
    X = rng.standard_normal((200, 3))
    t = X @ np.array([1.5, -2.0, 0.5]) + 0.7 + 0.1 * rng.standard_normal(200)
    w_direct, b_direct = linear_regression_direct(X, t)
    lin = LinearRegression(3)
    lin.fit(X, t, lr=0.5, steps=300)
    diff = max(np.abs(lin.weight.detach().numpy() - w_direct).max(), abs(float(lin.bias.detach().numpy()) - b_direct))
    out["linear_max_abs_diff"] = float(diff)
    say("1. linear regression (N=200, D=3)")
    say(f"   direct  w = {np.round(w_direct, 4)}, b = {b_direct:.4f}")
    say(f"   GD      w = {np.round(lin.weight.detach().numpy(), 4)}, b = {float(lin.bias.detach().numpy()):.4f}")
    say(f"   max |difference| = {diff:.2e}")

    # 2. polynomial degree chosen on validation: t = sin(2πx) + noise
    def poly_data(n: int) -> tuple:
        x = rng.uniform(0, 1, n)
        return x, np.sin(2 * np.pi * x) + 0.2 * rng.standard_normal(n)

    (xtr, ttr), (xva, tva), (xte, tte) = poly_data(20), poly_data(50), poly_data(500)
    best, errs = select_polynomial_degree(xtr, ttr, xva, tva, degrees=range(0, 13))
    w, b = linear_regression_direct(polynomial_features(xtr, best), ttr)
    test_mse = float(np.mean((polynomial_features(xte, best) @ w + b - tte) ** 2))
    out["poly_degree"], out["poly_val_mse"], out["poly_test_mse"] = best, errs, test_mse
    say("2. polynomial regression, t = sin(2πx) + N(0, 0.2²), 20 training points")
    say("   degree: " + " ".join(f"{m:>6d}" for m in errs))
    say("   val MSE:" + " ".join(f"{e:6.3f}" if e < 100 else "   big" for e in errs.values()))
    say(f"   chosen m = {best}, test MSE = {test_mse:.4f} (noise variance 0.04)")

    # 3. logistic regression on two classes
    Xb, yb = make_blobs(100, 2, seed=seed)
    Xb_tr, yb_tr, Xb_te, yb_te = Xb[:150], yb[:150], Xb[150:], yb[150:]
    logit = LogisticRegression(2)
    logit.fit(Xb_tr, yb_tr, lr=0.1, steps=300)
    acc = float((logit.predict(Xb_te) == yb_te).mean())
    out["logistic_test_acc"] = acc
    say(f"3. logistic regression, 2 Gaussian classes: test accuracy {acc:.3f}")

    # 4. softmax regression on K = 4 classes, and the softmax Jacobian
    Xs, ys = make_blobs(100, 4, seed=seed + 1)
    soft = SoftmaxRegression(2, 4)
    soft.fit(Xs[:300], ys[:300], lr=0.1, steps=300)
    acc = float((soft.predict(Xs[300:]) == ys[300:]).mean())
    out["softmax_test_acc"] = acc
    z = rng.standard_normal(4)
    with cr.no_grad():
        y = cr.softmax(cr.tensor(z, dtype=np.float64), -1).detach().numpy()
    jac_err = float(np.abs(autograd_softmax_jacobian(z) - softmax_jacobian(y)).max())
    out["softmax_jacobian_err"] = jac_err
    say(f"4. softmax regression, K=4: test accuracy {acc:.3f}")
    say(f"   |autograd Jacobian - y_k(δ_kj - y_j)| max = {jac_err:.1e}")
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="chainrule.examples.linear_models", description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    return run(seed=args.seed)


if __name__ == "__main__":
    main()
