"""Random programs of views, in-place operations and elementwise operations, for differential
tests: ``program(seed)`` draws one (a shape and 3 to 8 steps), ``run(lib, steps, data)`` runs it
with ``lib`` (chainrule or PyTorch) from two float64 leaves and returns every tensor it made and
the leaves' gradients.

Each program copies its leaves (in-place operations need non-leaves) and applies steps drawn
from a seeded generator: an elementwise or reducing operation, a view (transpose, slice,
select, narrow, reshape, permute...), or an in-place operation on a recent tensor or a view of
one (add_, mul_, clamp_, relu_, setitem, copy_ into a slice, zero_ of a slice, index_add_,
masked_fill_).  The loss sums a weighted sine of every tensor made.
"""

from __future__ import annotations

import random

UNARY = ("exp", "tanh", "sigmoid", "relu", "abs", "neg", "square", "softmax", "cumsum", "flip", "clamp")
BINARY = ("add", "mul", "sub", "div", "maximum", "where", "matmul")
VIEWS = ("t", "slice", "select", "unsqueeze_squeeze", "reshape", "narrow", "permute")
IN_PLACE = ("add_", "mul_", "clamp_", "relu_", "setitem", "copy_", "zero_slice", "index_add_", "masked_fill_")


def _unary(name, x):
    return {
        "exp": lambda: (x * 0.3).exp(), "tanh": x.tanh, "sigmoid": x.sigmoid, "relu": x.relu, "abs": x.abs,
        "neg": lambda: -x, "square": lambda: x * x, "softmax": lambda: x.softmax(-1),
        "cumsum": lambda: x.cumsum(-1), "flip": lambda: x.flip(-1), "clamp": lambda: x.clamp(-0.5, 0.7),
    }[name]()


def _binary(lib, name, x, y):
    if name == "add":
        return x + y
    if name == "mul":
        return x * y
    if name == "sub":
        return x - y
    if name == "div":
        return x / (y.abs() + 1)
    if name == "maximum":
        return lib.maximum(x, y)
    if name == "where":
        return lib.where(y > 0, x, y * 2)
    return x @ y.transpose(-1, -2) if x.dim() >= 2 else x * y


def _view(name, x):
    if name in ("t", "permute", "select") and x.dim() < 2 or name in ("slice", "narrow") and x.shape[-1] < 2:
        return None
    return {
        "t": lambda: x.transpose(-1, -2), "slice": lambda: x[..., 1:], "select": lambda: x[0],
        "unsqueeze_squeeze": lambda: x.unsqueeze(0).squeeze(0), "reshape": lambda: x.reshape(-1).reshape(x.shape),
        "narrow": lambda: x.narrow(-1, 0, x.shape[-1] - 1), "permute": lambda: x.permute(*reversed(range(x.dim()))),
    }[name]()


def _in_place(lib, name, x, y):
    if name == "add_":
        x.add_(y)
    elif name == "mul_":
        x.mul_(y * 0.5 + 1)
    elif name == "clamp_":
        x.clamp_(-1, 1)
    elif name == "relu_":
        x.relu_()
    elif name == "setitem":
        x[..., 0] = y[..., 0] * 3
    elif name == "copy_":
        x[..., :1].copy_(y[..., :1])
    elif name == "zero_slice":
        x[..., -1:].zero_()
    elif name == "index_add_":
        src = y[..., :2] if y.shape[-1] >= 2 else y[..., :1].expand(*y.shape[:-1], 2)
        x.index_add_(-1, lib.tensor([0, 0]), src)
    else:
        x.masked_fill_(y > 0.5, 0.25)


def program(seed):
    r = random.Random(seed)
    shape = r.choice([(3, 3), (2, 4), (4, 3), (2, 3, 3)])
    steps = []
    for _ in range(r.randint(3, 8)):
        kind = r.choice("ubviub")
        names = {"u": UNARY, "b": BINARY, "v": VIEWS, "i": IN_PLACE}[kind]
        steps.append((kind, r.choice(names), r.randrange(3), r.randrange(3)))
    return shape, steps


def body(lib, steps):
    """The program as a function of its two leaves: (every tensor it made, the loss)."""

    def f(a, b):
        made = [a * 1.0, b * 1.0]
        for kind, name, i, j in steps:
            _step(lib, made, kind, name, i, j)
        loss = sum(((t.sin() * (k + 1)).sum() for k, t in enumerate(made[2:])), (made[0] * 0).sum())
        return made, loss

    return f


def run(lib, steps, data, wrap=None):
    """(the tensors made, the leaves' gradients; None for a leaf the loss does not reach);
    ``wrap(f)`` replaces the program's function (``chainrule.compile``)."""
    f = body(lib, steps) if wrap is None else wrap(body(lib, steps))
    leaves = [lib.tensor(d, requires_grad=True) for d in data]
    made, loss = f(*leaves)
    loss.backward()
    return [t.detach().numpy().copy() for t in made], [None if leaf.grad is None else leaf.grad.numpy().copy()
                                                       for leaf in leaves]


def _step(lib, made, kind, name, i, j):
    x, y = made[-1 - i % len(made)], made[-1 - j % len(made)]
    if kind == "u":
        made.append(_unary(name, x))
    elif kind == "v":
        v = _view(name, x)
        if v is not None:
            made.append(v)
    elif kind == "b":
        made.append(_binary(lib, name, x, x if x.shape != y.shape else y))
    else:
        if x.shape != y.shape or x is y:
            y = x.detach() * 0.3
        _in_place(lib, name, x, y)
