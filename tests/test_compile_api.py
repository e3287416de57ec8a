"""torch.compiler's functions and OptimizedModule's attributes, as PyTorch programs use them."""

from __future__ import annotations

import numpy as np

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
