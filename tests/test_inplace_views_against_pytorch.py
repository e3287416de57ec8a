"""Random programs of views, in-place operations and elementwise operations (``random_programs``),
run in chainrule and in PyTorch (the oracle; skipped without it): the same values and the same
gradients.  This is the test that found in-place writes through views leaving their base
unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from random_programs import program, run

import chainrule as cr

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("first", range(0, 400, 50))
def test_random_view_and_in_place_programs_match_pytorch(first):
    for seed in range(first, first + 50):
        shape, steps = program(seed)
        rng = np.random.default_rng(seed)
        data = [rng.standard_normal(shape) for _ in range(2)]
        try:
            want_values, want_grads = run(torch, steps, data)
        except (RuntimeError, IndexError):  # (PyTorch refuses the program: nothing to compare)
            continue
        values, grads = run(cr, steps, data)
        for k, (a, b) in enumerate(zip(values, want_values)):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=f"seed {seed}, tensor {k}: {steps}")
        for a, b in zip(grads, want_grads):
            assert (a is None) == (b is None), f"seed {seed}: {steps}"
            if a is not None:
                np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10, err_msg=f"seed {seed}, gradient: {steps}")
