"""torch.compiler's functions and OptimizedModule's attributes, as PyTorch programs use them."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as torch  # (as a PyTorch program would import it)


def test_optimized_module_answers_the_originals_attributes():
    lin = torch.nn.Linear(2, 3)
    m = torch.compile(lin)
    assert m.in_features == 2 and m.weight is lin.weight and m._orig_mod is lin
    assert list(m.state_dict()) == ["_orig_mod.weight", "_orig_mod.bias"]
    assert [p is q for p, q in zip(m.parameters(), lin.parameters())] == [True, True]


def test_is_compiling_is_true_only_inside_a_capture():
    seen = []

    def f(x):
        seen.append(torch.compiler.is_compiling())
        return x * 2.0

    fn = torch.compile(f)
    with __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore")  # (the list append makes that call eager)
        fn(torch.ones(2))
    assert seen == [True] and not torch.compiler.is_compiling()


def test_reset_makes_every_compiled_function_capture_again():
    fns = [torch.compile(lambda x: x + 1.0), torch.compile(lambda x: x * 3.0)]
    x = torch.ones(3)
    for fn in fns:
        fn(x)
        fn(x)
    assert all(fn.stats["captures"] == 1 for fn in fns)
    torch.compiler.reset()
    for fn in fns:
        assert np.array_equal(fn(x).numpy(), fn.fn(x).numpy())
    assert all(fn.stats["captures"] == 2 for fn in fns)


def test_disable_returns_the_function_itself():
    def f(x):
        return x

    assert torch.compiler.disable(f) is f
    assert torch.compiler.disable()(f) is f
    assert torch.compiler.disable(f, recursive=False, reason="debug") is f


class _Trainer:
    def __init__(self, seed: int) -> None:
        torch.manual_seed(seed)
        self.model = torch.nn.Linear(3, 2)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.1)

    def step(self, x, y):
        self.opt.zero_grad()
        loss = ((self.model(x) - y) ** 2).mean()
        loss.backward()
        self.opt.step()
        return loss


def test_a_bound_method_of_a_users_object_finds_its_model_and_optimizer():
    """The parameters reached through ``self`` are tracked (their gradients written back for
    the optimiser on every replay), and rebinding ``self.model`` captures again."""
    eager, comp = _Trainer(0), _Trainer(0)
    step = torch.compile(comp.step)
    x, y = torch.ones(4, 3), torch.zeros(4, 2)
    for _ in range(5):
        assert eager.step(x, y).item() == step(x, y).item()
    assert step.stats["replays"] >= 3
    for t in (eager, comp):
        torch.manual_seed(1)
        t.model = torch.nn.Linear(3, 2)
        t.opt = torch.optim.SGD(t.model.parameters(), lr=0.1)
    for _ in range(3):
        assert eager.step(x, y).item() == step(x, y).item()
    assert np.array_equal(eager.model.weight.detach().numpy(), comp.model.weight.detach().numpy())


def test_python_state_of_a_users_object_is_never_stale():
    """A counter the step increments on its object: Python state a replay would not update, so
    such a step runs eagerly (and captures no more than twice), with eager's numbers and state
    (a GradScaler's state changes in host steps instead:
    test_a_gradscaler_step_replays_with_a_fresh_scale_and_skips_as_eager)."""
    import warnings

    class Counting(_Trainer):
        calls = 0

        def step(self, x, y):
            self.calls += 1
            return super().step(x, y)

    t = Counting(0)
    step = torch.compile(t.step)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(6):
            step(torch.ones(4, 3), torch.zeros(4, 2))
    # (one capture more than the kinds of call: a call that only changed Python state is
    # captured again once, since a cache filled at the first call changes it once)
    assert t.calls == 6 and step.stats["captures"] <= 3 and step.stats["replays"] == 0


def test_a_rebound_tensor_attribute_and_the_default_dtype_are_guarded():
    class Masked(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(3, 3)
            self.mask = torch.ones(3)

        def forward(self, x):
            return self.lin(x) * self.mask

    m = Masked()
    cm = torch.compile(m)
    x = torch.ones(2, 3)
    with torch.no_grad():
        for _ in range(3):
            cm(x)
        m.mask = torch.zeros(3)  # a plain tensor attribute, rebound
        assert np.array_equal(cm(x).numpy(), np.zeros((2, 3), np.float32))
        f = torch.compile(lambda x: x + torch.ones(3))
        f(x)
        f(x)
        torch.set_default_dtype(torch.float64)
        try:
            assert f(x).dtype == torch.float64  # ones(3) is float64 now: captured again
        finally:
            torch.set_default_dtype(torch.float32)
        assert f(x).dtype == torch.float32


def test_python_state_one_level_down_is_seen_too():
    """A GradScaler held by a trainer whose bound method is compiled is found one level down:
    the step replays, with eager's losses and scale."""
    import warnings

    class Scaled(_Trainer):
        def __init__(self, seed: int) -> None:
            super().__init__(seed)
            self.scaler = torch.amp.GradScaler("cpu", init_scale=4.0, growth_interval=2)

        def step(self, x, y):
            self.opt.zero_grad()
            loss = ((self.model(x) - y) ** 2).mean()
            self.scaler.scale(loss).backward()
            self.scaler.step(self.opt)
            self.scaler.update()
            return loss

    eager, comp = Scaled(0), Scaled(0)
    step = torch.compile(comp.step)
    x, y = torch.ones(4, 3), torch.zeros(4, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(7):
            assert eager.step(x, y).item() == step(x, y).item()
    assert eager.scaler.get_scale() == comp.scaler.get_scale() == 32.0
    assert step.stats["replays"] >= 4


def test_trainer_compile_gives_eager_numbers_and_replays():
    """Trainer(compile=True): its step (forward, loss, finiteness check, backward, clipping,
    optimiser step) is captured twice and then replayed; the parameters and the history are
    eager's, bit for bit."""
    from chainrule.train import Trainer
    from chainrule.utils.data import DataLoader, TensorDataset

    rng = np.random.default_rng(0)
    x = rng.standard_normal((96, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)

    def fit(compile):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
        trainer = Trainer(model, torch.nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), 1e-2),
                          grad_clip=0.5, verbose=0, compile=compile)
        loader = DataLoader(TensorDataset(torch.tensor(x), torch.tensor(y)), batch_size=32, shuffle=True)
        history = trainer.fit(loader, epochs=6)
        return trainer, [p.detach().numpy() for p in model.parameters()], [r["loss"] for r in history.records]

    (_, pe, he), (tc, pc, hc) = fit(False), fit(True)
    assert all(np.array_equal(a, b) for a, b in zip(pe, pc)) and he == hc
    assert tc._step.stats["captures"] == 2 and tc._step.stats["replays"] == 6 * 3 - 2


def test_compile_as_a_decorator_on_a_method_binds_self():
    """``@torch.compile`` on ``forward`` in a class body: read from an instance it is a method
    bound to it, and the calls replay with eager's gradients."""
    cr, nn = torch, torch.nn

    class Decorated(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 3)

        @cr.compile
        def forward(self, x):
            return (self.lin(x) ** 2).sum()

    cr.manual_seed(0)
    m = Decorated()
    x = cr.tensor(np.linspace(-1, 1, 20, dtype=np.float32).reshape(5, 4))
    for _ in range(3):
        m.zero_grad()
        m(x).backward()
    assert Decorated.forward.stats["replays"] >= 1 and Decorated.forward.stats["eager"] == 0
    w, b = m.lin.weight.detach().numpy(), m.lin.bias.detach().numpy()
    y = x.numpy() @ w.T + b
    np.testing.assert_allclose(m.lin.weight.grad.numpy(), 2 * y.T @ x.numpy(), rtol=1e-5)
    assert Decorated.__dict__["forward"].__get__(None, Decorated) is Decorated.__dict__["forward"]


def test_a_value_check_after_the_optimizer_step_moves_before_it_and_replays():
    """A second cross_entropy after opt.step() (a validation loss in the step) checks that its
    targets are in range: a value read of an argument, which the optimizer's step does not
    write, so the check moves before the step and the call replays, with eager's numbers."""

    def make():
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Dropout(0.2), torch.nn.Linear(6, 3))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)

        def step(x, y):
            model.train()
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            model.eval()
            with torch.no_grad():
                val = torch.nn.functional.cross_entropy(model(x), y)
            return torch.stack([loss.detach(), val])

        return model, step

    rng = np.random.default_rng(0)
    batches = [(torch.tensor(rng.standard_normal((5, 4)).astype(np.float32)), torch.tensor(rng.integers(0, 3, 5)))
               for _ in range(6)]
    (m_e, eager), (m_c, step) = make(), make()
    compiled = torch.compile(step, options={"fusion": False})
    for x, y in batches:
        torch.manual_seed(1)
        want = eager(x, y).numpy()
        torch.manual_seed(1)
        assert np.array_equal(compiled(x, y).numpy(), want)
    assert compiled.stats["replays"] >= 4, compiled.stats
    for a, b in zip(m_e.parameters(), m_c.parameters()):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())


def _sign_flips(compiled, arguments):
    """A step whose weights' sum changes sign at every SGD step (s <- s (1 - 6 lr), lr = 1/3) and
    that reads the sign of its argument ``w`` after the step; called with ``arguments(lin)``,
    a list of the ``w`` of each call.  Returns (the results, the function)."""
    import warnings

    lin = torch.nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        lin.weight.fill_(0.1)
    opt = torch.optim.SGD(lin.parameters(), lr=1.0 / 3.0)

    def step(x, w):
        opt.zero_grad()
        loss = lin(x).pow(2).sum()
        loss.backward()
        opt.step()
        return loss.detach() * (1.0 if bool(w.sum() > 0) else -1.0)  # (w read after the step)

    fn = torch.compile(step, options={"fusion": False}) if compiled else step
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [float(fn(torch.ones(1, 3), w)) for w in arguments(lin)], fn


def test_a_read_after_the_step_of_an_argument_sharing_a_parameters_memory_stays_in_place():
    """An argument that is a view of a parameter is written by the optimizer's step through the
    parameter: a value read of it after the step must see the new values, so it does not move
    before the step (it would take the other branch)."""

    def views(lin):
        return [lin.weight[0]] * 6

    want, _ = _sign_flips(False, views)
    got, _ = _sign_flips(True, views)
    assert want[0] < 0 < want[1] and got == want


def test_a_call_whose_argument_shares_a_parameters_memory_is_not_replayed_on_a_moved_read():
    """The plan moved a read of an argument before the optimizer's step (the capture's argument
    was a tensor of its own); a later call passing a view of the parameter instead fails the
    guard's memory check and is captured anew, with eager's numbers."""

    def own_then_views(lin):
        return [torch.full((3,), 0.1)] * 3 + [lin.weight[0]] * 4

    want, _ = _sign_flips(False, own_then_views)
    got, fn = _sign_flips(True, own_then_views)
    assert got == want and fn.stats["replays"] >= 1
    assert any("overlapping" in e.guard_source for e in fn.entries)


def test_a_gradscaler_step_replays_with_a_fresh_scale_and_skips_as_eager():
    """``scaler.scale(loss).backward(); scaler.step(opt); scaler.update()``: the scale is a tensor
    the plan reads at each replay, and unscale_/step/update are host steps (their Python runs
    again each replay), so the step replays; the scale grows as eager's, and a step whose
    gradients are not finite is skipped and backs the scale off, as eager."""
    def make():
        torch.manual_seed(0)
        lin = torch.nn.Linear(3, 2)
        opt = torch.optim.SGD(lin.parameters(), lr=0.1)
        scaler = torch.amp.GradScaler("cpu", init_scale=4.0, growth_interval=2)

        def f(x):
            opt.zero_grad()
            loss = lin(x).pow(2).mean()
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            return loss

        return f, scaler, lin

    (f_e, sc_e, lin_e), (f_c, sc_c, lin_c) = make(), make()
    fc = torch.compile(f_c)
    xs = [torch.ones(4, 3) * (1 + i % 3) for i in range(9)]
    xs[5] = torch.full((4, 3), float("inf"))
    for x in xs:
        with np.errstate(invalid="ignore", over="ignore"):  # (the step given inf)
            a, b = f_e(x).item(), fc(x).item()
        assert a == b or (np.isnan(a) and np.isnan(b))
        assert sc_e.get_scale() == sc_c.get_scale()
        for p, q in zip(lin_e.parameters(), lin_c.parameters()):
            np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    assert sc_c.get_scale() != 4.0 and fc.stats["replays"] >= 6, fc.stats


def test_a_gradscaler_says_what_its_host_steps_write():
    """So that a replay writes back and reads again only those tensors around the call: the
    scale for ``update``; the optimizer's tensors for ``unscale_`` and ``step``; unknown with a
    closure."""
    lin = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(lin.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu")
    assert scaler.host_step_writes("update", (), {}) == [scaler._scale_tensor]
    assert scaler.host_step_writes("step", (opt,), {}) == [opt]
    assert scaler.host_step_writes("unscale_", (opt,), {}) == [opt]
    assert scaler.host_step_writes("step", (opt, lambda: 0.0), {}) is None


@pytest.mark.parametrize("reduce", ["amax", "amin", "prod"])
@pytest.mark.parametrize("include_self", [False, True])
def test_scatter_reduce_into_a_tensor_made_in_the_call_is_captured(reduce, include_self):
    # a GAT's edge softmax: the per-node max over incoming edges, into zeros made inside forward
    # (the base is a plain array there, src a traced one: the result must follow src)
    import warnings

    idx = torch.tensor([0, 0, 1, 2, 2, 2])

    def f(s):
        base = torch.zeros(4, 2)
        return base.scatter_reduce(0, idx.unsqueeze(-1).expand_as(s), s, reduce=reduce, include_self=include_self)

    compiled = torch.compile(f)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for step in range(3):
            s = torch.randn(6, 2)
            got = compiled(s).numpy()
            a = s.numpy()
            combine = {"amax": np.maximum, "amin": np.minimum, "prod": np.multiply}[reduce]
            want = np.zeros((4, 2), np.float32)
            for q, rows in ((0, [0, 1]), (1, [2]), (2, [3, 4, 5])):
                acc = a[rows[0]]
                for r in rows[1:]:
                    acc = combine(acc, a[r])
                want[q] = combine(acc, 0.0) if include_self else acc
            np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=f"call {step}")


def _edge_softmax(scores, index, num_nodes):
    # a GAT's softmax over the edges that share a target node, as graph code writes it: two
    # arrays made inside the call (torch.zeros), one reduced into, one added into in place
    index_h = index.unsqueeze(-1).expand_as(scores)
    smax = torch.zeros(num_nodes, scores.size(1), device=scores.device, dtype=scores.dtype)
    smax = smax.scatter_reduce(0, index_h, scores, reduce="amax", include_self=False)
    exp = torch.exp(scores - smax[index])
    denom = torch.zeros(num_nodes, scores.size(1), device=scores.device, dtype=scores.dtype)
    denom.index_add_(0, index, exp)
    return exp / (denom[index] + 1e-16)


@pytest.mark.parametrize("grad", [False, True])
def test_an_array_made_in_the_call_and_written_in_place_is_captured(grad):
    import warnings

    index = torch.tensor([0, 0, 1, 2, 2, 2, 3])
    w = torch.randn(3, 2, requires_grad=True)

    def f(x):
        out = _edge_softmax(x @ w, index, 4)
        if not grad:
            return out
        (out * out.detach().flip(0)).sum().backward()
        return out

    compiled = torch.compile(f)
    results = []
    with warnings.catch_warnings(), torch.set_grad_enabled(grad):
        warnings.simplefilter("error")  # (no call may run eagerly)
        for step in range(4):
            x = torch.randn(7, 3)
            w.grad = None
            got = compiled(x)
            got_grad = None if not grad else w.grad.clone()
            w.grad = None
            want = f(x)
            assert np.array_equal(got.detach().numpy(), want.detach().numpy()), f"call {step}"
            if grad:
                assert np.array_equal(got_grad.numpy(), w.grad.numpy()), f"call {step}"
            results.append((got.detach().numpy().copy(), got))
    assert compiled.stats["eager"] == 0 and compiled.stats["replays"] >= 2
    for copy, t in results:  # (each call's result is its own: a later replay writes no buffer it returned)
        assert np.array_equal(copy, t.detach().numpy())


def test_arrays_made_in_the_call_follow_the_tensor_they_are_made_like():
    # a factory inside a capture makes a traced array (a write into it is recorded); another
    # thread's factories meanwhile make plain NumPy arrays
    import threading

    from chainrule.ops.creation import making_with

    seen = {}

    class Marked:  # a table that marks what it made
        def __getattr__(self, name):
            fn = getattr(np, name)
            return lambda *a, **k: seen.setdefault(name, fn(*a, **k))

    with making_with(Marked()):
        made = torch.zeros(2, 3)
        other = []
        t = threading.Thread(target=lambda: other.append(torch.zeros(2, 3)))
        t.start()
        t.join()
    assert made._array is seen["zeros"]
    assert type(other[0]._array) is np.ndarray and other[0]._array is not seen["zeros"]
    assert torch.zeros(1)._array is not seen["zeros"]  # (closed: the host's table again)


def test_a_python_read_of_an_array_made_from_constants_is_no_guard():
    # torch.arange(4) made in the call is traced, but its sum reads 6 on every replay: no check
    def f(x):
        return x * int(torch.arange(4).sum())

    compiled = torch.compile(f)
    for _ in range(3):
        x = torch.randn(3)
        assert np.array_equal(compiled(x).numpy(), (x * 6).numpy())
    plan = compiled.explain().split("guard:")[0]
    assert " guard " not in plan and "x.numpy()" not in plan, plan
    assert compiled.stats["replays"] == 2
