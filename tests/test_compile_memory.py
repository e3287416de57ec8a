"""The compiled mode's memory against eager's: a capture or a replay holds no array longer
than the eager step would.

Measured with ``tracemalloc`` (NumPy reports its arrays' memory to it), started before the
models are built, so that freeing an array made earlier counts: the figure is the peak of
the traced memory during one call, above the traced memory when the call began.

The model has large weights and a small batch, so that its gradients are most of a step's
memory: ``zero_grad()`` lets go of last step's gradients before backward makes new ones, and
the compiled step must let go of them as early (a replay writes the gradients back at its
end; a capture lifts them into traced arrays).
"""

from __future__ import annotations

import tracemalloc

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.autograd.grad_mode import HOOKS

WEIGHTS = 2 * 512 * 1024 * 8  # bytes of the two weight matrices (float64): one set of gradients
COMPILING = 1 << 20  # what making a plan may take besides arrays: Python compiling its source, the plan itself


def _step(seed: int = 0, set_to_none: bool = True):
    cr.manual_seed(seed)
    model = nn.Sequential(nn.Linear(512, 1024), nn.ReLU(), nn.Linear(1024, 512)).double()
    opt = optim.SGD(model.parameters(), lr=0.01)

    def step(x):
        opt.zero_grad(set_to_none=set_to_none)
        loss = (model(x) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    return model, step


def _growth(step, x, calls: int) -> list[int]:
    """Per call: the traced memory's peak during the call above what it was at its start."""
    out = []
    for _ in range(calls):
        start = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        step(x)
        out.append(tracemalloc.get_traced_memory()[1] - start)
    return out


def test_a_replay_and_a_capture_let_go_of_last_steps_gradients_as_eager_does(monkeypatch):
    # (a hooked tensor an earlier test left alive would put eager on its general walk)
    monkeypatch.setattr(HOOKS, "any", False)
    monkeypatch.setattr(HOOKS, "live", 0)
    tracemalloc.start()
    try:
        x = cr.tensor(np.random.default_rng(0).standard_normal((4, 512)))
        _, eager = _step()
        _, plain = _step()
        compiled = cr.compile(plain)
        eager_growth = _growth(eager, x, 4)
        compiled_growth = _growth(compiled, x, 6)
    finally:
        tracemalloc.stop()
    assert compiled.stats["captures"] == 2 and compiled.stats["replays"] == 4
    steady = max(eager_growth[1:])  # (the first eager call makes the gradients: nothing to let go of)
    assert steady < WEIGHTS / 4, eager_growth  # eager frees the old gradients before making new ones
    # the second capture (the first to find gradients) and the first replay (which generates the
    # plan): no more than eager's and the cost of compiling; the later replays: within 64 KiB
    assert max(compiled_growth[1:3]) <= steady + COMPILING, (compiled_growth, eager_growth)
    assert max(compiled_growth[3:]) <= steady + 65536, (compiled_growth, eager_growth)


def test_gradients_kept_by_the_step_are_not_let_go_of():
    """``zero_grad(set_to_none=False)`` keeps the gradient arrays (zeroed in place): the replay
    must write into them, so it may not drop them early; and a gradient the caller holds stays
    as it was."""
    _, eager = _step(set_to_none=False)
    model, plain = _step(set_to_none=False)
    compiled = cr.compile(plain)
    x = cr.tensor(np.random.default_rng(1).standard_normal((4, 512)))
    for _ in range(4):
        assert eager(x).item() == compiled(x).item()
    assert compiled.stats["replays"] >= 2
    _, eager2 = _step(seed=2)
    model2, plain2 = _step(seed=2)
    compiled2 = cr.compile(plain2)
    for _ in range(3):
        eager2(x)
        compiled2(x)
    held = model2[0].weight.grad
    kept = held.numpy().copy()
    compiled2(x)
    eager2(x)
    assert model2[0].weight.grad is not held
    np.testing.assert_array_equal(held.numpy(), kept)


def test_a_plan_is_generated_at_its_first_replay():
    """A training step's first capture sees no gradients yet, so its plan never replays: it is
    never generated and holds no buffers; ``explain()`` generates it when asked."""
    _, plain = _step()
    compiled = cr.compile(plain)
    x = cr.tensor(np.random.default_rng(2).standard_normal((4, 512)))
    compiled(x)
    compiled(x)
    first, second = compiled.entries
    assert first.plan._built is None and second.plan._built is None
    compiled(x)
    assert first.plan._built is None and second.plan._built is not None
    # the replay drops last step's gradients right after its guards, before the first product
    source = second.plan.source
    assert source.index(".grad = None") < source.index("matmul")
    assert "replay:" in first.plan.explain() and first.plan._built is not None


def test_a_replay_that_diverges_leaves_last_steps_gradients_in_place():
    """The gradients are dropped only after the replay's value guards: a replay that diverges
    hands the call to eager, whose other branch here adds to last step's gradients."""

    def make():
        cr.manual_seed(3)
        model = nn.Linear(4, 2).double()
        opt = optim.SGD(model.parameters(), lr=0.01)

        def step(x):
            loss = model(x).sum()
            if loss < 0:  # (a value guard; the branch captured, as x > 0 makes the loss negative here)
                opt.zero_grad()
            loss.backward()  # the other branch accumulates onto last step's gradients
            opt.step()
            return loss

        return model, step

    model_e, eager = make()
    model_c, plain = make()
    compiled = cr.compile(plain)
    signs = [1, 1, 1, -1, 1, -1, -1, 1, 1, -1, 1, 1]
    rng = np.random.default_rng(4)
    for sign in signs:
        x = cr.tensor(sign * (np.abs(rng.standard_normal((3, 4))) + 3))
        assert eager(x).item() == compiled(x).item()
        for pe, pc in zip(model_e.parameters(), model_c.parameters()):
            np.testing.assert_array_equal(pe.detach().numpy(), pc.detach().numpy())
            np.testing.assert_array_equal(pe.grad.numpy(), pc.grad.numpy())
    assert compiled.stats["diverged"] >= 2 and compiled.stats["replays"] >= 4, compiled.stats
    # (the zero_grad branch's replay does drop them; the other branch is a plan of its own)
    assert any(".grad = None" in e.plan.source for e in compiled.entries if e.plan is not None)


def test_a_plan_not_yet_generated_holds_no_argument_of_its_capture():
    """Until its first replay a plan keeps what it will need to generate its replay, but not
    the tensors its capture was called with (a batch), nor the capture's result."""
    import gc
    import weakref

    _, plain = _step()
    compiled = cr.compile(plain)
    x = cr.tensor(np.random.default_rng(5).standard_normal((4, 512)))
    gone = weakref.ref(x)
    loss = compiled(x)
    result = weakref.ref(loss)
    del x, loss
    gc.collect()
    assert compiled.entries[0].plan._built is None
    assert gone() is None and result() is None


def test_the_guard_is_compiled_at_its_first_call_not_during_the_capture(monkeypatch):
    """Python's compiler takes about 0.8 MiB for a while for a guard of a hundred lines; during
    the capture every array of the step is still held, so the guard is compiled when it is first
    asked (the next call), and from then on the compiled function answers directly."""
    from chainrule.compiler import plan

    compiled_names: list[str] = []
    real = plan._Writer.compile

    def spy(self, name):
        compiled_names.append(name)
        return real(self, name)

    monkeypatch.setattr(plan._Writer, "compile", spy)
    x = cr.tensor(np.random.default_rng(0).standard_normal((4, 512)))
    _, step = _step()
    compiled = cr.compile(step)
    compiled(x)  # the first capture: no guard compiled
    assert "guard" not in compiled_names
    (entry,) = compiled.entries
    stub = entry.guard
    compiled(x)  # asks the first entry (compiled now; it fails: gradients exist), captures a second
    assert compiled_names.count("guard") == 1 and entry.guard is not stub
    assert entry.guard.__code__.co_filename == "<chainrule.compile guard>"
    compiled(x)  # the second entry's guard, then its plan (generated at its first replay)
    assert compiled_names.count("guard") == 2 and compiled.stats["replays"] == 1
    compiled(x)
    assert compiled_names.count("guard") == 2 and compiled.stats["replays"] == 2
