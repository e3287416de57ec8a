"""A compiled Module that returns several tensors with graphs, as PyTorch programs write them
(nanoGPT's ``logits, loss = model(x, y)``, a dict of outputs): the replay returns them as one
graph node (compiler/api.py ``ReplayNode``, packed), and backward() from any of them, or from
several, gives eager's gradients.  Compared with the same model run eagerly, bit for bit with
the NumPy plan (``fusion=False``), to rounding with fused loops."""

from __future__ import annotations

import collections
import dataclasses
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.nn import functional as F

VOCAB, EMBED, T = 11, 8, 6


class TinyLM(nn.Module):
    """Embedding → LayerNorm → Linear(GELU) → Linear head; forward(idx, targets) returns
    (logits, loss) as nanoGPT's GPT does (loss None without targets)."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, EMBED)
        self.ln = nn.LayerNorm(EMBED)
        self.ff = nn.Linear(EMBED, 16)
        self.head = nn.Linear(16, VOCAB)

    def forward(self, idx, targets=None):
        h = F.gelu(self.ff(self.ln(self.emb(idx))))
        logits = self.head(h)
        loss = None if targets is None else F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1))
        return logits, loss


def _compiled(fn):
    """The CompiledFunction behind an OptimizedModule (its stats, its plans)."""
    return fn.__dict__["_compiled"]


def _batches(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return [(cr.tensor(rng.integers(0, VOCAB, (4, T))), cr.tensor(rng.integers(0, VOCAB, (4, T)))) for _ in range(n)]


class _Wrapped(nn.Module):
    """TinyLM's (logits, loss) handed to ``make``: the model returning another kind of output."""

    def __init__(self, inner, make=None):
        super().__init__()
        self.inner = inner
        self.make = make

    def forward(self, idx, targets):
        return self.make(*self.inner(idx, targets))


def _train(compiled, objective, fusion=False, out_kind="tuple"):
    cr.manual_seed(0)
    model = TinyLM()
    forward = model
    if out_kind == "dict":
        class AsDict(_Wrapped):
            def forward(self, idx, targets):  # (the dict in forward itself: its constant 3 is the code's)
                logits, loss = self.inner(idx, targets)
                return {"logits": logits, "loss": loss, "steps": 3}

        forward = AsDict(model)
    fn = cr.compile(forward, options={"fusion": fusion}) if compiled else forward
    opt = optim.AdamW(model.parameters(), lr=1e-2)
    losses, grads = [], []
    for x, y in _batches():
        opt.zero_grad()
        out = fn(x, y)
        if out_kind == "dict":
            assert out["steps"] == 3 and set(out) == {"logits", "loss", "steps"}
            logits, loss = out["logits"], out["loss"]
        else:
            logits, loss = out
        assert logits.shape == (4, T, VOCAB) and loss.shape == ()
        objective(logits, loss).backward()
        losses.append(loss.item())
        grads.append([p.grad.numpy().copy() for p in model.parameters()])
        opt.step()
    return model, losses, grads, _compiled(fn) if compiled else None


OBJECTIVES = {
    "loss": lambda logits, loss: loss,
    "loss and logits": lambda logits, loss: loss + 0.1 * (logits * logits).mean(),
    "logits only": lambda logits, loss: logits[:, -1].sum(),
}


@pytest.mark.parametrize("which", list(OBJECTIVES))
def test_logits_and_loss_replay_with_eagers_gradients(which):
    objective = OBJECTIVES[which]
    model_e, losses_e, grads_e, _ = _train(False, objective)
    model_c, losses_c, grads_c, fn = _train(True, objective)
    assert fn.stats["replays"] >= 10 and fn.stats["eager"] == 0
    assert "def backward(saved, gs)" in fn.entries[-1].plan.source
    assert losses_e == losses_c
    for ge, gc in zip(grads_e, grads_c):
        for a, b in zip(ge, gc):
            np.testing.assert_array_equal(a, b)
    for p, q in zip(model_e.parameters(), model_c.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())


def test_fused_plan_agrees_to_rounding_and_dict_outputs_keep_their_shape():
    objective = OBJECTIVES["loss and logits"]
    model_e, losses_e, grads_e, _ = _train(False, objective, out_kind="dict")
    model_c, losses_c, grads_c, fn = _train(True, objective, fusion=True, out_kind="dict")
    assert fn.stats["replays"] >= 10 and fn.stats["eager"] == 0
    np.testing.assert_allclose(losses_c, losses_e, rtol=1e-5)
    for ge, gc in zip(grads_e, grads_c):
        for a, b in zip(ge, gc):
            np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)


def test_the_packed_outputs_are_independent_tensors():
    """Each returned tensor is its own tensor: editing one's values (no_grad) leaves the other."""
    cr.manual_seed(0)
    fn = cr.compile(TinyLM())
    x, y = _batches(1)[0]
    for _ in range(3):
        logits, loss = fn(x, y)
    assert _compiled(fn).stats["replays"] == 2
    before = loss.item()
    with cr.no_grad():
        logits.fill_(0.0)
    assert loss.item() == before


def test_outputs_of_two_dtypes_with_graphs_replay():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2)

        def forward(self, x):
            y = self.lin(x)
            return y, y.double() * 2.0

    cr.manual_seed(0)
    m = Two()
    fn = cr.compile(m)
    x = cr.tensor(np.ones((4, 3), np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            m.zero_grad(set_to_none=True)
            a, b = fn(x)
            assert (a.dtype, b.dtype) == (cr.float32, cr.float64)
            (a.sum() + b.sum()).backward()
            np.testing.assert_allclose(m.lin.weight.grad.numpy(), np.full((2, 3), 12.0))
            assert m.lin.weight.grad.dtype == cr.float32
            np.testing.assert_array_equal(b.detach().numpy(), 2.0 * a.detach().numpy().astype(np.float64))
    assert _compiled(fn).stats["replays"] >= 1
    m.zero_grad(set_to_none=True)
    _, b = fn(x)
    b.sum().backward()  # (only the float64 output used: the other's gradient is zeros of its dtype)
    np.testing.assert_allclose(m.lin.weight.grad.numpy(), np.full((2, 3), 8.0))


@dataclasses.dataclass
class _Output:
    logits: cr.Tensor
    loss: cr.Tensor | None = None


@dataclasses.dataclass(frozen=True)
class _FrozenOutput:
    logits: cr.Tensor
    loss: cr.Tensor


class _ModelOutput(collections.OrderedDict):
    """Hugging Face's ``ModelOutput`` in small: a dict whose dataclass fields are its keys."""

    def __post_init__(self):
        for f in dataclasses.fields(self):
            if getattr(self, f.name) is not None:
                self[f.name] = getattr(self, f.name)


@dataclasses.dataclass
class _CausalLMOutput(_ModelOutput):
    loss: cr.Tensor | None = None
    logits: cr.Tensor | None = None


_NamedOutput = collections.namedtuple("_NamedOutput", ["logits", "loss"])


@pytest.mark.parametrize("cls", [_NamedOutput, _Output, _FrozenOutput, _CausalLMOutput],
                         ids=["namedtuple", "dataclass", "frozen", "model_output"])
def test_a_namedtuple_or_dataclass_of_outputs_keeps_its_class_and_replays(cls):
    """A returned namedtuple is rebuilt field by field; a dataclass (Hugging Face's ModelOutput
    among them) by calling its class with its fields: the same class, keys and gradients as
    eager."""

    def make(logits, loss):
        return cls(logits=logits, loss=loss)

    grads = []
    for compiled in (False, True):
        cr.manual_seed(0)
        model = TinyLM()
        fn = cr.compile(_Wrapped(model, make), options={"fusion": False}) if compiled else _Wrapped(model, make)
        for x, y in _batches(4):
            model.zero_grad()
            out = fn(x, y)
            assert type(out) is cls and out.logits.shape == (4, T, VOCAB)
            if cls is _CausalLMOutput:
                assert list(out.keys()) == ["loss", "logits"] and out["loss"] is out.loss
            out.loss.backward()
        grads.append([p.grad.numpy().copy() for p in model.parameters()])
        if compiled:
            assert _compiled(fn).stats["replays"] == 3 and _compiled(fn).stats["eager"] == 0
    for a, b in zip(*grads):
        np.testing.assert_array_equal(a, b)


def test_a_dataclass_with_a_tensor_outside_its_init_fields_runs_eagerly():
    @dataclasses.dataclass
    class Late:
        logits: cr.Tensor
        loss: cr.Tensor | None = dataclasses.field(init=False, default=None)

    def make(logits, loss):
        out = Late(logits)
        out.loss = loss  # (a replay calling Late(logits) would lose it)
        return out

    cr.manual_seed(0)
    fn = cr.compile(_Wrapped(TinyLM(), make))
    with pytest.warns(UserWarning, match="a field its __init__ does not take"):
        outs = [fn(x, y) for x, y in _batches(3)]
    assert all(o.loss is not None for o in outs) and _compiled(fn).stats["replays"] == 0


l = None  # a module-level name that is also an attribute name below (the capture reads both kinds)


def test_a_global_tensor_named_like_an_attribute_is_no_input_of_the_backward():
    """The capture finds tensors through the names a function's code reads, and attribute names
    are among them: here ``self.l`` finds the global ``l``, a tensor whose graph an earlier
    backward() freed.  The backward pass gives it no gradient, so the replayed node must not
    take it as an input (it did, and backward() failed on the freed graph)."""
    global l

    class Uses(nn.Module):
        def __init__(self):
            super().__init__()
            self.l = nn.Linear(4, 3)

        def forward(self, x):
            return F.relu(self.l(x)).sum()

    w = cr.tensor(np.ones(3, np.float32), requires_grad=True)
    l = (w * 2.0).sum()
    l.backward()
    cr.manual_seed(0)
    m = Uses()
    fn = cr.compile(m)
    x = cr.tensor(np.linspace(-1, 1, 20, dtype=np.float32).reshape(5, 4))
    try:
        for _ in range(3):
            m.zero_grad()
            fn(x).backward()
    finally:
        l = None
    assert _compiled(fn).stats["replays"] == 2
    want = ((x.numpy() @ m.l.weight.detach().numpy().T + m.l.bias.detach().numpy()) > 0).astype(np.float32)
    np.testing.assert_allclose(m.l.bias.grad.numpy(), want.sum(0), rtol=1e-6)


def test_a_parameter_only_an_unused_output_depends_on_gets_no_gradient():
    """Two outputs, the loss built from the first: the parameter only the second depends on
    keeps ``.grad`` None, as in eager (it got zeros: weight decay and momentum then moved it),
    and a parameter the used output depends on gets its gradient, zero or not."""

    class Two(cr.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = cr.nn.Parameter(cr.ones(3))
            self.v = cr.nn.Parameter(cr.ones(3))
            self.z = cr.nn.Parameter(cr.ones(3))

        def forward(self, x):
            return (x * self.w).sum() + (self.z * 0).sum(), x * self.v

    for compiled in (False, True):
        m = Two()
        f = cr.compile(m) if compiled else m
        for _ in range(4):
            m.zero_grad()
            loss, aux = f(cr.ones(3))
            loss.backward()
            assert m.v.grad is None, compiled
            np.testing.assert_array_equal(m.w.grad.numpy(), np.ones(3))
            np.testing.assert_array_equal(m.z.grad.numpy(), np.zeros(3))
        m.zero_grad()
        loss, aux = f(cr.ones(3))
        aux.sum().backward()  # (now only the second output is used)
        assert m.w.grad is None and m.z.grad is None
        np.testing.assert_array_equal(m.v.grad.numpy(), np.ones(3))


class _Rotary(nn.Module):
    """A table filled at the first call and kept (as rotary embeddings keep cos and sin): the
    first call changes Python state, the later ones only read it."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(EMBED, EMBED)
        self.cached = 0
        self.table = None

    def forward(self, x):
        n = x.shape[-2]
        if n > self.cached:
            self.table = cr.arange(n * EMBED).reshape(n, EMBED).float().sin()
            self.cached = n
        return self.lin(x) * self.table[:n]


def test_a_cache_filled_at_the_first_call_is_captured_again_and_replays():
    xs = [cr.tensor(np.random.default_rng(k).standard_normal((2, T, EMBED)).astype(np.float32)) for k in range(5)]
    outs = []
    for compiled in (False, True):
        cr.manual_seed(0)
        m = _Rotary()
        fn = cr.compile(m, options={"fusion": False}) if compiled else m
        outs.append([fn(x).detach().numpy() for x in xs])
        if compiled:  # the first capture changed the cache: no entry; the second makes the plan
            assert _compiled(fn).stats == {"captures": 2, "replays": 3, "eager": 0, "diverged": 0}
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)


class _TwoOutputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(2, 2)
        self.b = nn.Linear(2, 2)

    def forward(self, x):
        return self.a(x), self.b(x).sum(dim=1)


def test_each_outputs_gradient_reaches_the_backward_plan_in_its_own_memory_order():
    # The gradient of z comes F-ordered from the product below (as a flow's base log-density
    # gives it); the bias gradient is the column sum of it, which NumPy adds pairwise in that
    # order and row after row in C order. Cut from a packed copy, it was C-ordered: last bits.
    import copy

    cr.manual_seed(0)
    eager = _TwoOutputs()
    model = cr.compile(copy.deepcopy(eager))
    w = cr.tensor(np.random.default_rng(1).standard_normal((128, 3)).astype(np.float32))
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = cr.tensor(rng.standard_normal((128, 2)).astype(np.float32))
        grads = []
        for m in (eager, model):
            m.zero_grad()
            z, s = m(x)
            (z.T @ w).sum().backward(retain_graph=True)
            s.sum().backward()
            grads.append([p.grad.numpy().copy() for p in m.parameters()])
        for ge, gc in zip(*grads):
            np.testing.assert_array_equal(ge, gc)
