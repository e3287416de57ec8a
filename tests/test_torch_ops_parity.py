"""The everyday tensor operations of issue 12 (ops/pointwise.py, ops/arrange.py, the Tensor methods).

Every differentiable op is checked three ways on random float64 inputs, broadcast and empty
shapes included: finite differences (``gradcheck``, and ``gradgradcheck`` where smooth), forward
mode against reverse mode (<u, J v> = <Jᵀ u, v> through ``cr.func.jvp`` and ``backward``), and
PyTorch as an oracle for the values and the gradients (those tests skip without torch).
Integer/bool results (indices, masks, counts) are compared with PyTorch's exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.func  # noqa: F401  (cr.func)
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck

R = np.random.default_rng(20261205)


# ---------------------------------------------------------------- defects found on the way
def test_add_sub_accept_alpha_keyword_in_place():
    x = cr.tensor([1.0, 2.0, 3.0])
    x.add_(cr.tensor([1.0, 1.0, 1.0]), alpha=2)
    assert np.allclose(x.data, [3.0, 4.0, 5.0])
    x.sub_(cr.tensor([1.0, 2.0, 3.0]), alpha=0.5)
    assert np.allclose(x.data, [2.5, 3.0, 3.5])


def test_in_place_unary_under_no_grad_keeps_requires_grad():
    """``with no_grad(): p.clamp_(-c, c)`` (weight clipping) must leave p a parameter."""
    p = cr.tensor([0.5, -2.0, 3.0], requires_grad=True)
    with cr.no_grad():
        p.clamp_(-1.0, 1.0)
    assert p.requires_grad
    assert np.allclose(p.data, [0.5, -1.0, 1.0])
    (p * p).sum().backward()
    assert np.allclose(p.grad.data, [1.0, -2.0, 2.0])
