"""``torch.jit`` on chainrule.compile (chainrule/jit.py): scripted and traced Modules and functions
replay and give the eager numbers, share the original's parameters, and TorchScript's markers are
what they are in PyTorch's eager mode (PyTorch as the oracle where installed)."""

# ruff: noqa: UP006, UP045  (typing.List, Optional...: the spellings TorchScript code uses)
from __future__ import annotations

import typing
from typing import Dict, List, Optional, Tuple

import numpy as np
import pytest

import chainrule as torch
import chainrule.nn as nn
import chainrule.nn.functional as F


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3))


def test_a_scripted_module_replays_the_modules_numbers_and_shares_its_parameters():
    m = _mlp().eval()
    s = torch.jit.script(m)
    assert isinstance(s, torch.jit.ScriptModule) and isinstance(s, torch.jit.RecursiveScriptModule)
    assert isinstance(s, nn.Module)
    assert list(s.state_dict()) == list(m.state_dict())  # (no _orig_mod. prefix, as PyTorch's ScriptModule)
    assert all(a is b for a, b in zip(s.parameters(), m.parameters()))
    assert s[0] is m[0] and len(s) == 4 and list(s) == list(m)
    x = torch.randn(5, 4)
    for _ in range(4):
        np.testing.assert_array_equal(s(x).detach().numpy(), m(x).detach().numpy())
    assert s._compiled.stats["replays"] >= 3


def test_train_and_eval_on_the_scripted_module_reach_the_forward_that_runs():
    m = _mlp()
    s = torch.jit.script(m)
    s.eval()
    assert not m.training and not m[2].training
    x = torch.randn(64, 4)
    np.testing.assert_array_equal(s(x).detach().numpy(), s(x).detach().numpy())  # (dropout off)
    s.train()
    assert m.training and m[2].training
    assert not np.array_equal(s(x).detach().numpy(), s(x).detach().numpy())  # (dropout draws again at each call)


def test_training_through_a_scripted_module_equals_eager_training():
    def run(script: bool) -> list:
        torch.manual_seed(1)
        m = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
        net = torch.jit.script(m) if script else m
        opt = torch.optim.SGD(m.parameters(), lr=0.1)
        rng = np.random.default_rng(0)
        losses = []
        for _ in range(6):
            x = torch.tensor(rng.standard_normal((16, 4)).astype(np.float32))
            y = torch.tensor(rng.standard_normal((16, 1)).astype(np.float32))
            opt.zero_grad()
            loss = F.mse_loss(net(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses + [p.detach().numpy().copy() for p in m.parameters()]

    for a, b in zip(run(True), run(False)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_a_traced_module_ran_once_at_the_trace_as_pytorchs_does():
    """Tracing a Module in training mode runs its forward with the example: batch norm's
    statistics move once (as under PyTorch's trace)."""
    bn = nn.BatchNorm1d(3)
    t = torch.jit.trace(bn, torch.randn(8, 3) + 5)
    assert isinstance(t, torch.jit.TopLevelTracedModule) and isinstance(t, torch.jit.TracedModule)
    assert int(bn.num_batches_tracked) == 1 and float(bn.running_mean.mean()) > 0.3


def test_a_traced_function_follows_its_branches_on_later_calls():
    """A TorchScript trace freezes the branch its example took; a captured call is guarded, so
    an input that takes the other branch gets that branch's answer."""
    def f(x):
        return x * 2 if float(x.sum()) > 0 else x - 1

    g = torch.jit.trace(f, torch.ones(3))
    assert isinstance(g, torch.jit.ScriptFunction) and g.__name__ == "f"
    np.testing.assert_array_equal(g(torch.ones(3)).detach().numpy(), [2, 2, 2])
    np.testing.assert_array_equal(g(-torch.ones(3)).detach().numpy(), [-2, -2, -2])
    np.testing.assert_array_equal(g(torch.full((3,), 4.0)).detach().numpy(), [8, 8, 8])


def test_a_scripted_function_as_a_decorator():
    @torch.jit.script
    def gelu_tanh(x):
        return 0.5 * x * (1 + torch.tanh(0.7978845608028654 * (x + 0.044715 * x ** 3)))

    x = torch.linspace(-3, 3, 7, dtype=torch.float64)
    v = x.numpy()
    want = 0.5 * v * (1 + np.tanh(np.sqrt(2 / np.pi) * (v + 0.044715 * v ** 3)))
    for _ in range(3):
        np.testing.assert_allclose(gelu_tanh(x).detach().numpy(), want, rtol=1e-12)


def test_trace_module_compiles_each_named_method():
    class Coder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(3, 2)

        def forward(self, x):
            return self.lin(x)

        def encode(self, x):
            return torch.relu(self.lin(x)) * 2

    m = Coder()
    x = torch.randn(4, 3)
    t = torch.jit.trace_module(m, {"forward": x, "encode": (x,)})
    for _ in range(3):
        np.testing.assert_array_equal(t.encode(x).detach().numpy(), (torch.relu(m.lin(x)) * 2).detach().numpy())
        np.testing.assert_array_equal(t(x).detach().numpy(), m(x).detach().numpy())
    with pytest.raises(ValueError, match="inputs must be a dict"):
        torch.jit.trace_module(m, {})


def test_trace_needs_an_example():
    with pytest.raises(ValueError, match="example_inputs"):
        torch.jit.trace(nn.Linear(2, 2))


def test_freeze_and_optimize_for_inference_keep_pytorchs_checks():
    m = nn.Linear(2, 2)
    with pytest.raises(RuntimeError, match="Freezing expects a ScriptModule"):
        torch.jit.freeze(m.eval())
    s = torch.jit.script(nn.Linear(2, 2))
    with pytest.raises(RuntimeError, match="only implemented for modules in eval mode"):
        torch.jit.freeze(s)
    assert torch.jit.freeze(s.eval()) is s
    with pytest.raises(RuntimeError, match="optimize_for_inference expects a ScriptModule"):
        torch.jit.optimize_for_inference(m)
    s.train()
    assert torch.jit.optimize_for_inference(s) is s and not s.training


def test_the_markers_of_model_code_are_what_they_are_in_eager_pytorch():
    assert torch.jit.is_scripting() is False and torch.jit.is_tracing() is False
    assert torch.jit.Final is typing.Final
    assert torch.jit.annotate(List[int], []) == []
    a = torch.jit.Attribute(3, int)
    assert a.value == 3 and a.type is int and tuple(a) == (3, int)

    def f(x):
        return x + 1

    for marker in (torch.jit.ignore, torch.jit.ignore(drop=True), torch.jit.unused, torch.jit.export,
                   torch.jit.script_method, torch.jit.script_if_tracing, torch.jit.interface):
        assert marker(f) is f
    fut = torch.jit.fork(f, 2)
    assert fut.done() and fut.wait() == 3 and torch.jit.wait(fut) == 3 and fut.then(lambda u: u.wait() * 2).wait() == 6
    bad = torch.jit.fork(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        torch.jit.wait(bad)


@pytest.mark.parametrize("obj, kind, want", [
    ([1, 2], List[int], True), ([1, "a"], List[int], False), ([], List[int], True),
    ({"a": 1.0}, Dict[str, float], True), ({"a": 1}, Dict[str, float], False), (None, Optional[int], True),
    (3, Optional[int], True), ("x", Optional[int], False), ((1, "a"), Tuple[int, str], True),
    ((1, 2), Tuple[int, str], False), (1.0, float, True), (1, float, False), ((1,), Tuple[int, int], False),
    ([[1], [2, 3]], List[List[int]], True), (True, int, True),
])
def test_isinstance_checks_the_elements_of_typing_containers(obj, kind, want):
    assert torch.jit.isinstance(obj, kind) is want
    try:
        import torch as real
    except ImportError:
        return
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert real.jit.isinstance(obj, kind) is want


def test_isinstance_of_a_variadic_tuple():
    """``Tuple[int, ...]`` (which PyTorch's eager isinstance answers False for whatever the tuple)."""
    assert torch.jit.isinstance((1, 2, 3), Tuple[int, ...]) and torch.jit.isinstance((), Tuple[int, ...])
    assert not torch.jit.isinstance((1, "a"), Tuple[int, ...])


def test_isinstance_of_a_union_written_with_a_bar():
    assert torch.jit.isinstance(None, int | None) and torch.jit.isinstance([1], list[int] | None)
    assert not torch.jit.isinstance("a", int | None)


def test_isinstance_of_a_tensor():
    assert torch.jit.isinstance({"w": torch.ones(2)}, Dict[str, torch.Tensor])
    assert not torch.jit.isinstance({"w": 1.0}, Dict[str, torch.Tensor])


def test_the_fusers_settings_are_kept_as_pytorch_keeps_them():
    first = torch.jit.set_fusion_strategy([("DYNAMIC", 3)])
    assert first == [("STATIC", 2), ("DYNAMIC", 10)]
    assert torch.jit.set_fusion_strategy(first) == [("DYNAMIC", 3)]
    with pytest.raises(ValueError, match="STATIC"):
        torch.jit.set_fusion_strategy([("FAST", 1)])
    torch.jit.enable_onednn_fusion(True)
    assert torch.jit.onednn_fusion_enabled()
    torch.jit.enable_onednn_fusion(False)
    with torch.jit.fuser("fuser1"), torch.jit.optimized_execution(True), torch.jit.strict_fusion():
        pass
    with pytest.raises(Exception, match="unrecognized fuser option"):
        with torch.jit.fuser("fuser9"):
            pass


def test_a_pytorch_1_program_with_torchscript_markers_runs_scripted():
    """The way PyTorch 1 model code is written: ``Final`` constants, an ignored helper, a branch on
    ``is_scripting``; scripted, it trains as the eager model does."""

    class Block(nn.Module):
        scale: torch.jit.Final[float]

        def __init__(self) -> None:
            super().__init__()
            self.scale = 0.5
            self.fc = nn.Linear(6, 6)

        @torch.jit.ignore
        def describe(self) -> str:
            return f"Block(scale={self.scale})"

        def forward(self, x):
            h = self.fc(x) * self.scale
            if not torch.jit.is_scripting():
                h = h + torch.jit.annotate(torch.Tensor, x)
            return torch.relu(h)

    torch.manual_seed(3)
    eager = Block()
    torch.manual_seed(3)
    scripted = torch.jit.script(Block())
    assert scripted.describe() == "Block(scale=0.5)"
    x = torch.randn(7, 6)
    for _ in range(3):
        np.testing.assert_array_equal(scripted(x).detach().numpy(), eager(x).detach().numpy())
