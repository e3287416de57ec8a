"""torch.func.rearrange: einops patterns by reshape/permute, compared with NumPy index arithmetic,
finite differences and PyTorch's functorch implementation."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck
from chainrule.func import rearrange

X = np.arange(2 * 6 * 4, dtype=np.float64).reshape(2, 6, 4)

CASES = [
    ("a b c -> a b c", {}, (2, 6, 4)),
    ("a b c -> c a b", {}, (2, 6, 4)),
    ("a b c -> c (a b)", {}, (2, 6, 4)),
    ("a (b1 b2) c -> b1 a b2 c", {"b1": 3}, (2, 6, 4)),
    ("a (b1 b2) c -> b1 a b2 c", {"b2": 3}, (2, 6, 4)),
    ("a (b1 b2) c -> a (b2 b1) c", {"b1": 2, "b2": 3}, (2, 6, 4)),
    ("... c -> c ...", {}, (2, 6, 4)),
    ("a ... -> (...) a", {}, (2, 6, 4)),
    ("... -> (...)", {}, (2, 6, 4)),
    ("a b c ... -> a b c ...", {}, (2, 6, 4)),
    ("a b c -> a 1 b c 1", {}, (2, 6, 4)),
    ("a b c -> a b c ()", {}, (2, 6, 4)),
    ("a b c -> (a b c)", {}, (2, 6, 4)),
    ("a b c -> (c 1 a) b", {}, (2, 6, 4)),
    ("a b c 1 -> a b c", {}, (2, 6, 4, 1)),
    ("a () b c -> c b a", {}, (2, 1, 6, 4)),
    ("b (h h1) (w w1) -> b h w (h1 w1)", {"h1": 2, "w1": 2}, (2, 6, 4)),
]


@pytest.mark.parametrize("pattern,lengths,shape", CASES)
def test_values_and_gradients(pattern, lengths, shape):
    x = cr.tensor(X.reshape(shape), requires_grad=True)
    y = rearrange(x, pattern, **lengths)
    # every element moves, none is made or lost: the values are a permutation of the input's
    assert sorted(y.detach().numpy().ravel().tolist()) == sorted(X.ravel().tolist())
    x0 = cr.tensor(X.reshape(shape) / 10, requires_grad=True)
    assert gradcheck(lambda t: rearrange(t, pattern, **lengths), (x0,))


def test_values_from_index_arithmetic():
    # "b (h1 h) w -> (b h1) h w": element [b, h1·H + h, w] goes to [b·H1 + h1, h, w]
    y = rearrange(cr.tensor(X), "b (h1 h) w -> (b h1) h w", h1=2).numpy()
    for b in range(2):
        for h1 in range(2):
            for h in range(3):
                for w in range(4):
                    assert y[b * 2 + h1, h, w] == X[b, h1 * 3 + h, w]
    # "a b c -> c (a b)": [a, b, c] -> [c, a·6 + b]
    z = rearrange(cr.tensor(X), "a b c -> c (a b)").numpy()
    assert np.array_equal(z, X.transpose(2, 0, 1).reshape(4, 12))


def test_list_of_tensors_is_stacked_and_0d_identity():
    ts = [cr.tensor(X[0]), cr.tensor(X[1])]
    assert np.array_equal(rearrange(ts, "n b c -> b (n c)").numpy(), X.transpose(1, 0, 2).reshape(6, 8))
    assert rearrange(cr.tensor(3.0), " -> ").item() == 3.0


def test_second_derivative_and_forward_mode():
    x = cr.tensor(X / 10, requires_grad=True)
    f = lambda t: rearrange(t * t, "a (b1 b2) c -> (c b2) a b1", b1=2)  # noqa: E731
    assert gradgradcheck(f, (x,))
    v = cr.tensor(np.ones_like(X))
    _, jv = cr.func.jvp(f, (cr.tensor(X / 10),), (v,))
    assert np.allclose(jv.numpy(), rearrange(cr.tensor(2 * X / 10), "a (b1 b2) c -> (c b2) a b1", b1=2).numpy())


@pytest.mark.parametrize("pattern,lengths,exc,match", [
    ("a b -> a b", {}, ValueError, "number of dimensions in the pattern \\(2\\) must be equal"),
    ("a b c d ... -> a b c d ...", {}, ValueError, "less than or equal"),
    ("a b c -> a b", {}, ValueError, "only on one side"),
    ("a b c -> a b d", {}, ValueError, "only on one side"),
    ("a (b c) d -> a b c d", {}, ValueError, "cannot infer"),
    ("a b c -> a b c", {"z": 2}, ValueError, "not found"),
    ("a b c -> (a b c", {}, ValueError, "imbalanced parentheses"),
    ("a b c) -> a b c", {}, ValueError, "not balanced"),
    ("(a b) c d -> a b c d", {"a": 5}, ValueError, "cannot be split"),
    ("(a b) c d -> a b c d", {"a": 2, "b": 2}, ValueError, "product 4"),
    ("a b c -> a b c 2", {}, ValueError, "size 1"),
    ("a a c -> a c", {}, ValueError, "duplicate"),
    ("a b c", {}, ValueError, "single '->'"),
    ("a b c -> a ((b c))", {}, ValueError, "one-level"),
    ("a b c -> a b c ...", {}, ValueError, "right side, but not left"),
    ("(a ...) -> a ...", {}, ValueError, "left side is not allowed"),
    ("a b _c -> a b _c", {}, ValueError, "underscore"),
    ("a b c! -> a b c", {}, ValueError, "unknown character"),
    ("a b .c -> a b c", {}, ValueError, "dots only inside"),
    ("a 1 c -> a c", {}, ValueError, "says 1"),
    ("a b c -> a b c", {"a": 2.0}, TypeError, "integers"),
])
def test_errors(pattern, lengths, exc, match):
    with pytest.raises(exc, match=match):
        rearrange(cr.tensor(X), pattern, **lengths)


def test_bad_tensor_argument():
    with pytest.raises(TypeError, match="Tensor or a list"):
        rearrange(X, "a b c -> c b a")


@pytest.mark.parametrize("pattern,lengths,shape", CASES)
def test_matches_pytorch(pattern, lengths, shape):
    torch = pytest.importorskip("torch")
    from torch.func import rearrange as t_rearrange

    a = X.reshape(shape)
    x, tx = cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = rearrange(x, pattern, **lengths), t_rearrange(tx, pattern, **lengths)
    assert y.shape == tuple(ty.shape)
    assert np.array_equal(y.detach().numpy(), ty.detach().numpy())
    w = np.cos(np.arange(y.numel(), dtype=np.float64)).reshape(y.shape)
    (y * cr.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    assert np.array_equal(x.grad.numpy(), tx.grad.numpy())


def test_matches_pytorch_on_a_list_and_the_docstring_examples():
    torch = pytest.importorskip("torch")
    from torch.func import rearrange as t_rearrange

    img = np.random.default_rng(0).standard_normal((4, 6, 8, 3))
    for pattern, lengths in [("b h w c -> (b h) w c", {}), ("b h w c -> h (b w) c", {}),
                             ("b h w c -> b (c h w)", {}), ("b (h1 h) (w1 w) c -> (b h1 w1) h w c", {"h1": 2, "w1": 2}),
                             ("b (h h1) (w w1) c -> b h w (c h1 w1)", {"h1": 2, "w1": 2})]:
        assert np.array_equal(rearrange(cr.tensor(img), pattern, **lengths).numpy(),
                              t_rearrange(torch.tensor(img), pattern, **lengths).numpy())
    parts = [img[0], img[1]]
    assert np.array_equal(rearrange([cr.tensor(p) for p in parts], "n h w c -> h (n w) c").numpy(),
                          t_rearrange([torch.tensor(p) for p in parts], "n h w c -> h (n w) c").numpy())
