"""torch.nn.utils.parametrize and torch.nn.utils.parametrizations (orthogonal, spectral_norm, weight_norm).

Values from the formulas (a symmetric matrix is triu + triuᵀ, QᵀQ = I, σ₁(W/σ) = 1, g·v/‖v‖),
gradients against finite differences (gradcheck / gradgradcheck in float64), training with an
optimiser, state_dict round trips, and PyTorch as the oracle of the key names and values.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck
from chainrule.nn.utils import parametrizations as P
from chainrule.nn.utils import parametrize

R = np.random.default_rng(5)


def npy(t) -> np.ndarray:
    return t.detach().numpy()


def f64(*shape: int, requires_grad: bool = False) -> cr.Tensor:
    return cr.tensor(R.standard_normal(shape), dtype=cr.float64, requires_grad=requires_grad)


class Symmetric(nn.Module):
    """X ↦ triu(X) + triu(X, 1)ᵀ; right_inverse: triu(A) (so that forward(right_inverse(A)) = A for symmetric A)."""

    def forward(self, X: cr.Tensor) -> cr.Tensor:
        return X.triu() + X.triu(1).mT

    def right_inverse(self, A: cr.Tensor) -> cr.Tensor:
        return A.triu()


class Double(nn.Module):
    def forward(self, X: cr.Tensor) -> cr.Tensor:
        return 2 * X

    def right_inverse(self, A: cr.Tensor) -> cr.Tensor:
        return A / 2


class NoInverse(nn.Module):
    def forward(self, X: cr.Tensor) -> cr.Tensor:
        return X + 1


class Split(nn.Module):
    """(a, b) ↦ a + b; right_inverse: (A/2, A/2) — a parametrization of two tensors."""

    def forward(self, a: cr.Tensor, b: cr.Tensor) -> cr.Tensor:
        return a + b

    def right_inverse(self, A: cr.Tensor) -> tuple[cr.Tensor, cr.Tensor]:
        return A / 2, A / 2


def linear(n_in: int = 3, n_out: int = 3) -> nn.Linear:
    layer = nn.Linear(n_in, n_out).double()
    with cr.no_grad():
        layer.weight.copy_(f64(n_out, n_in))
    return layer


# ------------------------------------------------------------------------------ parametrize
def test_register_makes_the_weight_the_parametrization_of_original():
    m = linear()
    w0 = m.weight
    parametrize.register_parametrization(m, "weight", Symmetric())
    orig = m.parametrizations.weight.original
    assert orig is w0  # the Parameter object is kept (optimisers keep working on it)
    np.testing.assert_array_equal(npy(orig), np.triu(npy(orig)))  # original = right_inverse(weight)
    W = npy(m.weight)
    np.testing.assert_allclose(W, W.T)
    A = npy(orig)
    np.testing.assert_allclose(W, np.triu(A) + np.triu(A, 1).T)
    assert type(m).__name__ == "ParametrizedLinear" and isinstance(m, nn.Linear)
    assert parametrize.type_before_parametrizations(m) is nn.Linear
    assert parametrize.is_parametrized(m) and parametrize.is_parametrized(m, "weight")
    assert not parametrize.is_parametrized(m, "bias")
    assert list(m.state_dict()) == ["bias", "parametrizations.weight.original"]
    assert {n for n, _ in m.named_parameters()} == {"bias", "parametrizations.weight.original"}
    x = f64(4, 3)
    np.testing.assert_allclose(npy(m(x)), npy(x) @ W.T + npy(m.bias))


def test_assigning_runs_the_right_inverse_and_a_chain_applies_in_order():
    m = linear()
    parametrize.register_parametrization(m, "weight", Symmetric())
    parametrize.register_parametrization(m, "weight", Double())
    assert len(m.parametrizations.weight) == 2
    A = f64(3, 3)
    S = A + A.mT
    m.weight = S
    np.testing.assert_allclose(npy(m.weight), npy(S), atol=1e-14)
    np.testing.assert_allclose(npy(m.parametrizations.weight.original), np.triu(npy(S) / 2), atol=1e-15)
    X = npy(m.parametrizations.weight.original)
    np.testing.assert_allclose(npy(m.weight), 2 * (np.triu(X) + np.triu(X, 1).T))


def test_gradients_reach_original_and_training_keeps_the_constraint():
    m = linear(3, 3)
    opt = cr.optim.SGD(m.parameters(), lr=0.1)  # built before the registration
    parametrize.register_parametrization(m, "weight", Symmetric())
    x, y = f64(16, 3), f64(16, 3)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = ((m(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    g = m.parametrizations.weight.original.grad
    assert g is not None and np.allclose(np.tril(npy(g), -1), 0)  # the lower part does not enter W
    np.testing.assert_allclose(npy(m.weight), npy(m.weight).T)


def test_gradcheck_through_a_parametrized_module():
    m = linear()
    parametrize.register_parametrization(m, "weight", Symmetric())
    parametrize.register_parametrization(m, "weight", Double())
    chain = m.parametrizations.weight
    x = f64(2, 3)

    def through_module(o: cr.Tensor) -> cr.Tensor:
        chain._parameters["original"] = o  # the module's output as a function of its original
        return m(x)

    o = f64(3, 3, requires_grad=True)
    assert gradcheck(through_module, (o,))
    assert gradgradcheck(through_module, (o,))
    # against the formula W = 2 (triu(o) + triu(o, 1)ᵀ)
    through_module(o).sum().backward()
    o2 = o.detach().clone().requires_grad_(True)
    (x @ (2 * (o2.triu() + o2.triu(1).mT)).mT).sum().backward()
    np.testing.assert_allclose(npy(o.grad), npy(o2.grad))


def test_a_parametrization_of_several_tensors():
    m = linear()
    w = m.weight.detach().clone()
    parametrize.register_parametrization(m, "weight", Split())
    chain = m.parametrizations.weight
    assert not chain.is_tensor and chain.ntensors == 2
    assert list(m.state_dict()) == ["bias", "parametrizations.weight.original0", "parametrizations.weight.original1"]
    np.testing.assert_allclose(npy(chain.original0), npy(w) / 2)
    np.testing.assert_allclose(npy(m.weight), npy(w))
    assert isinstance(chain.original0, nn.Parameter)
    with pytest.raises(ValueError, match="sequence of tensors"):
        parametrize.remove_parametrizations(m, "weight", leave_parametrized=False)
    parametrize.remove_parametrizations(m, "weight")
    assert type(m) is nn.Linear and isinstance(m.weight, nn.Parameter)
    np.testing.assert_allclose(npy(m.weight), npy(w))


def test_cached_computes_once_per_block():
    m = linear()
    calls = []

    class Counting(nn.Module):
        def forward(self, X: cr.Tensor) -> cr.Tensor:
            calls.append(1)
            return X * 1.0

    parametrize.register_parametrization(m, "weight", Counting())
    calls.clear()
    with parametrize.cached():
        a, b = m.weight, m.weight
        with parametrize.cached():
            c = m.weight
    assert a is b is c and len(calls) == 1
    m.weight  # noqa: B018 (a read outside the block computes again)
    assert len(calls) == 2


@pytest.mark.parametrize("leave", [True, False])
def test_remove_parametrizations(leave: bool):
    m = linear()
    w0 = m.weight
    parametrize.register_parametrization(m, "weight", Symmetric())
    parametrize.register_parametrization(m, "bias", Double())
    value = m.weight.detach().clone()
    original = m.parametrizations.weight.original.detach().clone()
    parametrize.remove_parametrizations(m, "weight", leave_parametrized=leave)
    assert m.weight is w0 and isinstance(m.weight, nn.Parameter)
    np.testing.assert_allclose(npy(m.weight), (value if leave else original).detach().numpy())
    assert type(m).__name__ == "ParametrizedLinear"  # bias is still parametrized
    parametrize.remove_parametrizations(m, "bias")
    assert type(m) is nn.Linear and "parametrizations" not in m._modules
    assert list(m.state_dict()) == ["weight", "bias"]


def test_buffers_and_deepcopy():
    m = nn.BatchNorm1d(3).double()
    parametrize.register_parametrization(m, "running_var", Double())
    assert "parametrizations.running_var.original" in m.state_dict()
    assert not isinstance(m.parametrizations.running_var.original, nn.Parameter)
    np.testing.assert_allclose(npy(m.running_var), np.ones(3))
    m2 = copy.deepcopy(m)
    parametrize.remove_parametrizations(m2, "running_var")
    assert type(m2) is nn.BatchNorm1d and type(m).__name__ == "ParametrizedBatchNorm1d"
    np.testing.assert_allclose(npy(m.running_var), np.ones(3))


def test_state_dict_round_trip():
    a, b = linear(), linear()
    for layer in (a, b):
        parametrize.register_parametrization(layer, "weight", Symmetric())
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(npy(b.weight), npy(a.weight))


def test_bad_input_raises():
    m = linear()
    with pytest.raises(ValueError, match="does not have a parameter, a buffer"):
        parametrize.register_parametrization(m, "nope", Double())
    with pytest.raises(TypeError, match="must be a Module"):
        parametrize.register_parametrization(m, "weight", lambda x: x)  # type: ignore[arg-type]

    class Shrink(nn.Module):
        def forward(self, X: cr.Tensor) -> cr.Tensor:
            return X[:1]

    class ShrinkSymmetric(Symmetric):  # right_inverse rewrites the original before the check fails
        def forward(self, X: cr.Tensor) -> cr.Tensor:
            return X[:1]

    w = npy(m.weight).copy()
    for bad in (Shrink(), ShrinkSymmetric()):
        with pytest.raises(ValueError, match="shape"):
            parametrize.register_parametrization(m, "weight", bad)
        assert isinstance(m.weight, nn.Parameter) and type(m) is nn.Linear  # nothing changed
        np.testing.assert_array_equal(npy(m.weight), w)
    parametrize.register_parametrization(m, "weight", Shrink(), unsafe=True)
    assert tuple(m.weight.shape) == (1, 3)
    with pytest.raises(ValueError, match="does not have a parametrization on bias"):
        parametrize.remove_parametrizations(m, "bias")
    m2 = linear()
    parametrize.register_parametrization(m2, "weight", NoInverse())
    with pytest.raises(RuntimeError, match="does not implement right_inverse"):
        m2.weight = f64(3, 3)


def test_key_names_and_values_match_pytorch():
    torch = pytest.importorskip("torch")

    class TSymmetric(torch.nn.Module):
        def forward(self, X):
            return X.triu() + X.triu(1).mT

        def right_inverse(self, A):
            return A.triu()

    ours = linear(4, 4)
    theirs = torch.nn.Linear(4, 4).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(npy(ours.weight)))
        theirs.bias.copy_(torch.from_numpy(npy(ours.bias)))
    parametrize.register_parametrization(ours, "weight", Symmetric())
    parametrize.register_parametrization(ours, "weight", Double())
    torch.nn.utils.parametrize.register_parametrization(theirs, "weight", TSymmetric())

    class TDouble(torch.nn.Module):
        def forward(self, X):
            return 2 * X

    torch.nn.utils.parametrize.register_parametrization(theirs, "weight", TDouble())
    assert list(ours.state_dict()) == list(theirs.state_dict())
    np.testing.assert_allclose(npy(ours.weight), npy(theirs.weight))
    np.testing.assert_allclose(npy(ours.parametrizations.weight.original),
                               npy(theirs.parametrizations.weight.original))
    # a checkpoint of one loads into the other
    theirs.load_state_dict({k: torch.from_numpy(npy(v)) for k, v in ours.state_dict().items()})
    x = f64(2, 4)
    np.testing.assert_allclose(theirs(torch.from_numpy(npy(x))).detach().numpy(), npy(ours(x)))


# ------------------------------------------------------------------------------- orthogonal
def _orthogonality_error(W: np.ndarray) -> float:
    G = W.swapaxes(-1, -2) @ W if W.shape[-2] >= W.shape[-1] else W @ W.swapaxes(-1, -2)
    return float(np.abs(G - np.eye(G.shape[-1])).max())


@pytest.mark.parametrize("omap", ["matrix_exp", "cayley", "householder"])
@pytest.mark.parametrize("shape", [(3, 3), (5, 3), (3, 5)])
@pytest.mark.parametrize("triv", [True, False])
def test_orthogonal_gives_orthogonal_matrices(omap: str, shape: tuple, triv: bool):
    m = linear(shape[1], shape[0])
    P.orthogonal(m, orthogonal_map=omap, use_trivialization=triv)
    assert _orthogonality_error(npy(m.weight)) < 1e-13
    keys = ["bias", "parametrizations.weight.original"] + (["parametrizations.weight.0.base"] if triv else [])
    assert list(m.state_dict()) == keys


def test_orthogonal_default_map_and_the_qr_factor():
    sq, tall = linear(3, 3), linear(2, 4)
    w = npy(sq.weight).copy()
    P.orthogonal(sq)
    P.orthogonal(tall)
    assert sq.parametrizations.weight[0].orthogonal_map.value == "matrix_exp"
    assert tall.parametrizations.weight[0].orthogonal_map.value == "householder"
    # the weight starts as Q of W = QR with R upper triangular with a positive diagonal
    Q = npy(sq.weight)
    Rm = Q.T @ w
    np.testing.assert_allclose(np.tril(Rm, -1), 0, atol=1e-13)
    assert (np.diag(Rm) > 0).all()
    # an orthogonal matrix assigned is kept as it is
    Q0 = np.linalg.qr(R.standard_normal((3, 3)))[0]
    sq.weight = cr.tensor(Q0)
    np.testing.assert_allclose(npy(sq.weight), Q0, atol=1e-13)


def test_orthogonal_batched_weight():
    m = nn.Module()
    m.register_buffer("w", f64(2, 4, 3))
    P.orthogonal(m, "w", orthogonal_map="cayley")
    assert _orthogonality_error(npy(m.w)) < 1e-13


def test_orthogonal_trains_and_stays_orthogonal():
    m = linear(4, 4)
    P.orthogonal(m)
    opt = cr.optim.Adam(m.parameters(), lr=0.05)
    x = f64(32, 4)
    target = x @ cr.tensor(np.linalg.qr(R.standard_normal((4, 4)))[0])
    losses = []
    for _ in range(8):
        opt.zero_grad()
        loss = ((m(x) - target) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert _orthogonality_error(npy(m.weight)) < 1e-12


@pytest.mark.parametrize("omap", ["matrix_exp", "cayley", "householder"])
def test_orthogonal_maps_gradcheck(omap: str):
    orth = P._Orthogonal(f64(4, 3), P._OrthMaps(omap), use_trivialization=False)
    X = cr.tensor(0.3 * R.standard_normal((4, 3)), dtype=cr.float64, requires_grad=True)
    assert gradcheck(orth, (X,))
    assert gradgradcheck(orth, (X,))
    Xw = cr.tensor(0.3 * R.standard_normal((2, 4)), dtype=cr.float64, requires_grad=True)  # wide: transposed
    orth_w = P._Orthogonal(f64(2, 4), P._OrthMaps(omap), use_trivialization=False)
    assert gradcheck(orth_w, (Xw,))


def test_orthogonal_bad_input():
    with pytest.raises(ValueError, match="matrix or batch of matrices"):
        P.orthogonal(nn.Linear(3, 3), "bias")
    with pytest.raises(ValueError, match="orthogonal_map has to be one of"):
        P.orthogonal(nn.Linear(3, 3), orthogonal_map="svd")
    with pytest.raises(ValueError, match="no parameter or buffer"):
        P.orthogonal(nn.Linear(3, 3), "nope")
    m = P.orthogonal(linear(3, 3))
    with pytest.raises(ValueError, match="shape"):
        m.weight = f64(2, 3)
    m2 = P.orthogonal(linear(3, 3), orthogonal_map="matrix_exp", use_trivialization=False)
    with pytest.raises(NotImplementedError, match="use_trivialization=False"):
        m2.weight = f64(3, 3)


@pytest.mark.parametrize(
    "omap,shape,triv",
    [("matrix_exp", (3, 3), True), ("cayley", (3, 3), True), ("householder", (3, 3), True),
     ("matrix_exp", (4, 3), False), ("cayley", (3, 4), False), ("householder", (5, 3), False),
     ("householder", (3, 5), False)],
)
def test_orthogonal_matches_pytorch(omap: str, shape: tuple, triv: bool):
    torch = pytest.importorskip("torch")
    ours = linear(shape[1], shape[0])
    theirs = torch.nn.Linear(shape[1], shape[0]).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(npy(ours.weight)))
        theirs.bias.copy_(torch.from_numpy(npy(ours.bias)))
    P.orthogonal(ours, orthogonal_map=omap, use_trivialization=triv)
    torch.nn.utils.parametrizations.orthogonal(theirs, orthogonal_map=omap, use_trivialization=triv)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[k].detach().numpy(), npy(v), atol=1e-12, err_msg=k)
    np.testing.assert_allclose(npy(ours.weight), npy(theirs.weight), atol=1e-12)
    # the gradient with respect to the unconstrained tensor
    G = R.standard_normal(shape)
    (ours.weight * cr.tensor(G)).sum().backward()
    (theirs.weight * torch.from_numpy(G)).sum().backward()
    np.testing.assert_allclose(npy(ours.parametrizations.weight.original.grad),
                               npy(theirs.parametrizations.weight.original.grad), atol=1e-11)


# ---------------------------------------------------------------------------- spectral norm
def test_spectral_norm_converges_to_unit_largest_singular_value():
    m = linear(6, 4)
    U, V = np.linalg.qr(R.standard_normal((4, 4)))[0], np.linalg.qr(R.standard_normal((6, 4)))[0]
    with cr.no_grad():  # singular values 2, 1, 0.5, 0.1: power iteration gains a factor 2 per round
        m.weight.copy_(cr.tensor(U @ np.diag([2.0, 1.0, 0.5, 0.1]) @ V.T))
    P.spectral_norm(m, n_power_iterations=3)
    for _ in range(10):
        m(f64(2, 6))
    s = np.linalg.svd(npy(m.weight), compute_uv=False)
    assert abs(s[0] - 1) < 1e-12
    np.testing.assert_allclose(npy(m.weight), npy(m.parametrizations.weight.original) / 2.0, rtol=1e-12)
    assert list(m.state_dict()) == ["bias", "parametrizations.weight.original",
                                    "parametrizations.weight.0._u", "parametrizations.weight.0._v"]


def test_spectral_norm_buffers_move_in_training_only():
    m = P.spectral_norm(linear(5, 4))
    sn = m.parametrizations.weight[0]
    u0, v0 = npy(sn._u).copy(), npy(sn._v).copy()
    W = npy(m.parametrizations.weight.original)
    m.eval()
    w_eval = npy(m.weight)
    np.testing.assert_array_equal(npy(sn._u), u0)
    np.testing.assert_allclose(w_eval, W / (u0 @ W @ v0))  # σ = uᵀ W v with the stored vectors
    m.train()
    m.weight  # noqa: B018
    u1 = W @ v0 / np.linalg.norm(W @ v0)
    v1 = W.T @ u1 / np.linalg.norm(W.T @ u1)
    np.testing.assert_allclose(npy(sn._u), u1, atol=1e-14)
    np.testing.assert_allclose(npy(sn._v), v1, atol=1e-14)


def test_spectral_norm_gradcheck_and_conv_dims():
    sn = P._SpectralNorm(f64(4, 5), n_power_iterations=2).eval()
    W = f64(4, 5, requires_grad=True)
    assert gradcheck(sn, (W,))
    assert gradgradcheck(sn, (W,))
    conv = P.spectral_norm(nn.ConvTranspose2d(3, 6, 2).double())
    assert conv.parametrizations.weight[0]._u.shape == (6,)  # dim=1: the output channels
    conv2 = P.spectral_norm(nn.Conv2d(3, 6, 2).double())
    assert conv2.parametrizations.weight[0]._u.shape == (6,) and conv2.parametrizations.weight[0]._v.shape == (12,)
    with pytest.raises(ValueError, match="n_power_iterations"):
        P.spectral_norm(nn.Linear(3, 3), n_power_iterations=0)
    with pytest.raises(IndexError, match="dim"):
        P.spectral_norm(nn.Linear(3, 3), dim=2)


def test_spectral_norm_matches_pytorch():
    torch = pytest.importorskip("torch")
    ours = P.spectral_norm(linear(5, 4), n_power_iterations=2)
    theirs = torch.nn.utils.parametrizations.spectral_norm(torch.nn.Linear(5, 4).double(), n_power_iterations=2)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    theirs.load_state_dict({k: torch.from_numpy(npy(v).copy()) for k, v in ours.state_dict().items()})
    for _ in range(2):
        x = f64(3, 5)
        np.testing.assert_allclose(npy(ours(x)), theirs(torch.from_numpy(npy(x))).detach().numpy(), atol=1e-12)
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[k].detach().numpy(), npy(v), atol=1e-12, err_msg=k)


# ------------------------------------------------------------------------------ weight norm
@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_formula(dim):
    m = linear(5, 4)
    w = npy(m.weight).copy()
    P.weight_norm(m, dim=dim)
    chain = m.parametrizations.weight
    g, v = npy(chain.original0).copy(), npy(chain.original1).copy()
    if dim is None:
        assert g.shape == ()
        np.testing.assert_allclose(g, np.linalg.norm(w))
    else:
        np.testing.assert_allclose(g, np.linalg.norm(w, axis=1 - dim, keepdims=True))
    np.testing.assert_allclose(npy(m.weight), w)  # the same function after registration
    with cr.no_grad():
        chain.original0.mul_(3.0)
    norm = np.linalg.norm(v) if dim is None else np.linalg.norm(v, axis=1 - dim, keepdims=True)
    np.testing.assert_allclose(npy(m.weight), 3 * g * v / norm)


@pytest.mark.parametrize("dim", [0, 1, -2, None])
def test_weight_norm_gradcheck_and_pytorch(dim):
    wn = P._WeightNorm(dim)
    gshape = {0: (4, 1), 1: (1, 3), -2: (4, 1), None: ()}[dim]
    g, v = f64(*gshape, requires_grad=True), f64(4, 3, requires_grad=True)
    assert gradcheck(wn, (g, v))
    assert gradgradcheck(wn, (g, v))
    torch = pytest.importorskip("torch")
    ours = P.weight_norm(linear(3, 4), dim=dim)
    theirs = torch.nn.utils.parametrizations.weight_norm(torch.nn.Linear(3, 4).double(), dim=dim)
    assert tuple(ours.parametrizations.weight.original0.shape) == tuple(theirs.parametrizations.weight.original0.shape)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    theirs.load_state_dict({k: torch.from_numpy(npy(v).copy()) for k, v in ours.state_dict().items()})
    x = f64(2, 3)
    np.testing.assert_allclose(npy(ours(x)), theirs(torch.from_numpy(npy(x))).detach().numpy(), atol=1e-13)


def test_orthogonal_householder_unreflected_columns_match_pytorch():
    """An upper-triangular weight: columns with nothing below the diagonal need no reflection (τ = 0)."""
    torch = pytest.importorskip("torch")
    w = np.triu(R.standard_normal((4, 3)))
    w[2, 2] = 0.0
    w[3, 2] = 0.5
    ours, theirs = linear(3, 4), torch.nn.Linear(3, 4).double()
    with cr.no_grad():
        ours.weight.copy_(cr.tensor(w))
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(w))
    P.orthogonal(ours, orthogonal_map="householder", use_trivialization=False)
    torch.nn.utils.parametrizations.orthogonal(theirs, orthogonal_map="householder", use_trivialization=False)
    np.testing.assert_allclose(npy(ours.parametrizations.weight.original),
                               npy(theirs.parametrizations.weight.original), atol=1e-12)
    np.testing.assert_allclose(npy(ours.weight), npy(theirs.weight), atol=1e-12)


def test_transfer_parametrizations_and_params():
    src = linear()
    parametrize.register_parametrization(src, "weight", Symmetric())
    parametrize.register_parametrization(src, "bias", Double())
    dst = linear()
    parametrize.transfer_parametrizations_and_params(src, dst)
    assert list(dst.state_dict()) == ["parametrizations.weight.original", "parametrizations.bias.original"]
    np.testing.assert_array_equal(npy(dst.weight), npy(src.weight))
    np.testing.assert_array_equal(npy(dst.bias), npy(src.bias))
    assert dst.parametrizations.weight.original is not src.parametrizations.weight.original
    fresh = nn.Module()  # a tensor the target lacks is created
    parametrize.transfer_parametrizations_and_params(src, fresh, "weight")
    np.testing.assert_allclose(npy(fresh.weight), npy(src.weight))
    assert parametrize.transfer_parametrizations_and_params(linear(), dst) is dst  # nothing to transfer
