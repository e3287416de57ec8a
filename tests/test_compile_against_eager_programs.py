"""Random programs of views, in-place operations and elementwise operations
(``random_programs``), each compiled once and called on three inputs: the replays give eager's
loss and gradients, bit for bit without fused loops, to rounding with them (libm's sin and exp
in a loop against NumPy's).  This is the test that found fused loops reading a mask made before
them as floats."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from random_programs import body, program, run

import chainrule as cr


def _loss_and_grads(fn, data):
    leaves = [cr.tensor(d, requires_grad=True) for d in data]
    loss = fn(*leaves)
    loss.backward()
    return [loss.detach().numpy()] + [None if leaf.grad is None else leaf.grad.numpy().copy() for leaf in leaves]


@pytest.mark.parametrize("fusion", [False, True])
@pytest.mark.parametrize("first", range(0, 160, 40))
def test_compiled_random_programs_give_eagers_numbers(first, fusion):
    rtol = 1e-9 if fusion else 0.0
    for seed in range(first, first + 40):
        shape, steps = program(seed)
        f = body(cr, steps)

        def loss(a, b, f=f):
            return f(a, b)[1]

        compiled = cr.compile(loss, options={"fusion": fusion})
        rng = np.random.default_rng(seed)
        for call in range(3):
            data = [rng.standard_normal(shape) for _ in range(2)]
            try:
                want = _loss_and_grads(loss, data)
            except RuntimeError:  # (an in-place edit of a value a backward needs: eager refuses it)
                break
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # (a program that runs eagerly says so)
                got = _loss_and_grads(compiled, data)
            for a, b in zip(got, want):
                assert (a is None) == (b is None), f"seed {seed}, call {call}: {steps}"
                if a is not None:
                    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol, err_msg=f"seed {seed}, call {call}: {steps}")


@pytest.mark.parametrize("first", range(0, 120, 40))
def test_compiled_random_programs_returning_every_tensor_give_eagers_numbers(first):
    """The same programs returning every tensor they made beside the loss (one graph node of
    several outputs): eager's values, and eager's gradients, None where the loss does not reach
    a leaf (an output nothing used gave zeros)."""
    for seed in range(first, first + 40):
        shape, steps = program(seed)
        compiled = cr.compile(body(cr, steps), options={"fusion": False})
        rng = np.random.default_rng(seed)
        for call in range(3):
            data = [rng.standard_normal(shape) for _ in range(2)]
            try:
                want = run(cr, steps, data)
            except RuntimeError:
                break
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                got = run(cr, steps, data, wrap=lambda f, c=compiled: c)
            for a, b in zip(got[0] + got[1], want[0] + want[1]):
                assert (a is None) == (b is None), f"seed {seed}, call {call}: {steps}"
                if a is not None:
                    np.testing.assert_array_equal(a, b, err_msg=f"seed {seed}, call {call}: {steps}")
