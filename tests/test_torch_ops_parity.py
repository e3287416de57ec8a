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


def test_masked_fill_in_place_under_no_grad_keeps_requires_grad():
    p = cr.tensor([0.5, -2.0, 3.0], requires_grad=True)
    with cr.no_grad():
        p.masked_fill_(cr.tensor([True, False, False]), 0.0)
    assert p.requires_grad
    assert np.allclose(p.data, [0.0, -2.0, 3.0])


# ---------------------------------------------------------------- the table of differentiable ops
def gen(kind: str, shape: tuple) -> np.ndarray:
    """float64 inputs in a range where the op and its finite differences are well defined."""
    if kind == "u":
        return R.uniform(-2.0, 2.0, shape)
    if kind == "pos":
        return R.uniform(0.2, 2.0, shape)
    if kind == "unit":
        return R.uniform(-0.9, 0.9, shape)
    if kind == "prob":
        return R.uniform(0.1, 0.9, shape)
    if kind == "gt1":
        return R.uniform(1.2, 3.0, shape)
    if kind == "away":
        return R.uniform(0.3, 2.0, shape) * R.choice([-1.0, 1.0], shape)
    if kind == "frac":  # at least 0.1 from an integer: no jump of floor/round/fmod within reach
        return R.integers(-3, 3, shape) + R.uniform(0.1, 0.4, shape) + R.choice([0.0, 0.5], shape)
    if kind == "hundredths":  # x * 10 at 0.02 past a tenth: 0.03 from round(x * 10, decimals=1)'s jumps
        return R.integers(-300, 300, shape) / 100 + 0.002
    if kind == "distinct":  # no ties (sort, topk, cummax, median)
        n = int(np.prod(shape))
        return (R.permutation(n) * 0.37 + R.uniform(0, 0.1, n)).reshape(shape) - 0.2 * n
    raise ValueError(kind)


def T(lib, a, dtype=None):
    """A constant (index, mask) for either library."""
    a = np.asarray(a)
    return lib.tensor(a) if dtype is None else lib.tensor(a, dtype=dtype)


M34 = (("u", (3, 4)),)
EMPTY = (("u", (0, 3)),)

# id -> (f(lib, *inputs), input specs, smooth (also gradgradcheck))
DIFF = {
    # pointwise, unary
    "sinh": (lambda L, x: L.sinh(x), M34, True),
    "cosh": (lambda L, x: x.cosh(), M34, True),
    "tan": (lambda L, x: L.tan(x), (("unit", (3, 4)),), True),
    "asin": (lambda L, x: L.asin(x), (("unit", (2, 3)),), True),
    "acos": (lambda L, x: x.acos(), (("unit", (2, 3)),), True),
    "atan": (lambda L, x: L.atan(x), M34, True),
    "arcsinh": (lambda L, x: L.arcsinh(x), M34, True),
    "acosh": (lambda L, x: L.acosh(x), (("gt1", (5,)),), True),
    "atanh": (lambda L, x: L.atanh(x), (("unit", (5,)),), True),
    "log2": (lambda L, x: L.log2(x), (("pos", (3, 4)),), True),
    "log10": (lambda L, x: x.log10(), (("pos", (3, 4)),), True),
    "exp2": (lambda L, x: L.exp2(x), M34, True),
    "expm1": (lambda L, x: L.expm1(x), M34, True),
    "erf": (lambda L, x: L.erf(x), M34, True),
    "erfc": (lambda L, x: L.erfc(x), (("u", (4, 5)),), True),
    "erfinv": (lambda L, x: L.erfinv(x), (("unit", (3, 4)),), True),
    "logit": (lambda L, x: L.logit(x), (("prob", (3, 4)),), True),
    "logit_eps": (lambda L, x: x.logit(eps=0.05), (("u", (3, 4)),), False),
    "floor": (lambda L, x: L.floor(x) * x, (("frac", (3, 4)),), False),
    "ceil": (lambda L, x: L.ceil(x) * x, (("frac", (3, 4)),), False),
    "trunc": (lambda L, x: L.trunc(x) + x, (("frac", (3, 4)),), False),
    "round": (lambda L, x: L.round(x) * x, (("frac", (3, 4)),), False),
    "round_decimals": (lambda L, x: L.round(x * 10, decimals=1) + x, (("hundredths", (3, 4)),), False),
    "frac": (lambda L, x: L.frac(x) * x, (("frac", (3, 4)),), False),
    "sgn": (lambda L, x: L.sgn(x) * x, (("away", (3, 4)),), False),
    "square": (lambda L, x: L.square(x), M34, True),
    "rsqrt": (lambda L, x: L.rsqrt(x), (("pos", (3, 4)),), True),
    "reciprocal": (lambda L, x: L.reciprocal(x), (("away", (3, 4)),), True),
    "clamp_min": (lambda L, x: L.clamp_min(x, 0.1), (("away", (3, 4)),), False),
    "clamp_max": (lambda L, x: x.clamp_max(0.1), (("away", (3, 4)),), False),
    "nan_to_num": (lambda L, x: L.nan_to_num(L.log(x), nan=0.5), (("away", (3, 4)),), False),
    "sinh_empty": (lambda L, x: L.sinh(x), EMPTY, True),
    "atan_0d": (lambda L, x: L.atan(x), (("u", ()),), True),
    # pointwise, binary with broadcasting
    "atan2": (lambda L, a, b: L.atan2(a, b), (("away", (3, 1)), ("away", (4,))), True),
    "hypot": (lambda L, a, b: L.hypot(a, b), (("away", (3, 1)), ("away", (4,))), True),
    "fmod": (lambda L, a, b: L.fmod(a, b), (("u", (3, 4)), ("away", (4,))), False),
    "remainder": (lambda L, a, b: L.remainder(a, b), (("u", (3, 4)), ("away", (4,))), False),
    "fmod_scalar": (lambda L, a: L.fmod(a, 0.7), (("u", (3, 4)),), False),
    "xlogy": (lambda L, a, b: L.xlogy(a, b), (("u", (3, 1)), ("pos", (4,))), True),
    "logaddexp": (lambda L, a, b: L.logaddexp(a, b), (("u", (3, 1)), ("u", (4,))), True),
    "logaddexp2": (lambda L, a, b: L.logaddexp2(a, b), (("u", (3, 1)), ("u", (4,))), True),
    "lerp": (lambda L, a, b, w: L.lerp(a, b, w), (("u", (3, 4)), ("u", (4,)), ("u", (3, 1))), True),
    "lerp_scalar": (lambda L, a, b: a.lerp(b, 0.3), (("u", (3, 4)), ("u", (4,))), True),
    "addcmul": (lambda L, a, b, c: L.addcmul(a, b, c, value=0.5), (("u", (3, 4)), ("u", (4,)), ("u", (3, 1))), True),
    "addcdiv": (lambda L, a, b, c: a.addcdiv(b, c, value=-2), (("u", (3, 4)), ("u", (4,)), ("away", (3, 1))), True),
    "float_power": (lambda L, a, b: L.float_power(a, b), (("pos", (3, 4)), ("u", (4,))), True),
    "div_floor": (
        lambda L, a, b: L.div(a, b, rounding_mode="floor") + a * b,
        (("frac", (3, 4)), ("away", (4,))),
        False,
    ),
    "div_trunc": (lambda L, a, b: a.div(b, rounding_mode="trunc") + a, (("frac", (3, 4)), ("away", (4,))), False),
    "atan2_empty": (lambda L, a, b: L.atan2(a, b), (("away", (0, 1)), ("away", (4,))), True),
    # triangles and diagonals
    "tril": (lambda L, x: L.tril(x), M34, True),
    "tril_offset_batch": (lambda L, x: x.tril(-1), (("u", (2, 3, 4)),), True),
    "triu": (lambda L, x: L.triu(x, 1), M34, True),
    "triu_empty": (lambda L, x: L.triu(x), EMPTY, True),
    "diagonal": (lambda L, x: L.diagonal(x, 1), M34, True),
    "diagonal_dims": (lambda L, x: x.diagonal(-1, 2, 0), (("u", (3, 2, 4)),), True),
    "diag_embed": (lambda L, x: L.diag_embed(x), (("u", (2, 3)),), True),
    "diag_embed_offset_dims": (lambda L, x: L.diag_embed(x, 1, 0, 2), (("u", (2, 3)),), True),
    "diag_vector": (lambda L, x: L.diag(x, -1), (("u", (3,)),), True),
    "diag_matrix": (lambda L, x: x.diag(1), M34, True),
    "diagflat": (lambda L, x: L.diagflat(x), (("u", (2, 2)),), True),
    "trace": (lambda L, x: x.trace(), M34, True),  # (method: chainrule.trace is the trace table)
    # order statistics (gradients go to the selected entries)
    "sort": (lambda L, x: L.sort(x, 1)[0], (("distinct", (3, 4)),), True),
    "sort_descending": (lambda L, x: x.sort(0, descending=True)[0], (("distinct", (3, 4)),), True),
    "msort": (lambda L, x: L.msort(x), (("distinct", (3, 4)),), True),
    "topk": (lambda L, x: L.topk(x, 2)[0], (("distinct", (3, 4)),), True),
    "topk_smallest": (lambda L, x: x.topk(3, dim=0, largest=False).values, (("distinct", (4, 2)),), True),
    "kthvalue": (lambda L, x: L.kthvalue(x, 2, 1)[0], (("distinct", (3, 4)),), True),
    "kthvalue_keepdim": (lambda L, x: x.kthvalue(3, 0, True).values, (("distinct", (3, 4)),), True),
    "median": (lambda L, x: L.median(x), (("distinct", (3, 4)),), True),
    "median_dim": (lambda L, x: x.median(1).values, (("distinct", (3, 4)),), True),
    "quantile": (lambda L, x: L.quantile(x, 0.3), (("distinct", (3, 4)),), True),
    "quantile_dim_q_vector": (
        lambda L, x: L.quantile(x, T(L, [0.1, 0.5, 0.9]), dim=1, keepdim=True),
        (("distinct", (3, 4)),),
        True,
    ),
    "quantile_midpoint": (lambda L, x: x.quantile(0.4, dim=0, interpolation="midpoint"), (("distinct", (5, 2)),), True),
    "cummax": (lambda L, x: L.cummax(x, 1)[0], (("distinct", (3, 4)),), True),
    "cummin": (lambda L, x: x.cummin(0).values, (("distinct", (3, 4)),), True),
    # scans
    "cumsum": (lambda L, x: L.cumsum(x, 1), M34, True),
    "cumsum_dim0_empty": (lambda L, x: x.cumsum(0), EMPTY, True),
    "cumprod": (lambda L, x: L.cumprod(x, 1), M34, True),
    "cumprod_with_zero": (lambda L, x: L.cumprod(x * T(L, [1.0, 0.0, 1.0, 1.0]), 1), M34, True),
    "logcumsumexp": (lambda L, x: L.logcumsumexp(x, 0), M34, True),
    "diff": (lambda L, x: L.diff(x), M34, True),
    "diff_n2_prepend": (lambda L, x, p: L.diff(x, 2, 0, prepend=p), (("u", (3, 4)), ("u", (1, 4))), True),
    # moving, tiling, splitting, stacking
    "roll": (lambda L, x: L.roll(x, 1, 1), M34, True),
    "roll_flat": (lambda L, x: x.roll(-2), M34, True),
    "roll_dims": (lambda L, x: L.roll(x, (1, -1), (0, 1)), M34, True),
    "narrow": (lambda L, x: L.narrow(x, 1, 1, 2), M34, True),
    "select": (lambda L, x: x.select(1, -1), M34, True),
    "swapaxes": (lambda L, x: L.swapaxes(x, 0, 2), (("u", (2, 3, 4)),), True),
    "moveaxis": (lambda L, x: L.moveaxis(x, (0, 1), (2, 0)), (("u", (2, 3, 4)),), True),
    "ravel": (lambda L, x: x.ravel(), M34, True),
    "tile": (lambda L, x: L.tile(x, (2, 1, 2)), M34, True),
    "repeat_interleave": (lambda L, x: L.repeat_interleave(x, 2, 0), M34, True),
    "repeat_interleave_counts": (lambda L, x: x.repeat_interleave(T(L, [1, 0, 3, 2]), dim=1), M34, True),
    "repeat_interleave_flat": (lambda L, x: L.repeat_interleave(x, 2), M34, True),
    "tensor_split": (lambda L, x: L.tensor_split(x, 3, 1), M34, True),
    "tensor_split_indices": (lambda L, x: x.tensor_split([1, 3], dim=1), M34, True),
    "hsplit": (lambda L, x: L.hsplit(x, 2), M34, True),
    "vsplit": (lambda L, x: L.vsplit(x, [1]), M34, True),
    "hstack": (lambda L, a, b: L.hstack([a, b]), (("u", (3, 2)), ("u", (3, 1))), True),
    "vstack": (lambda L, a, b: L.vstack([a, b]), (("u", (4,)), ("u", (2, 4))), True),
    "dstack": (lambda L, a, b: L.dstack([a, b]), (("u", (2, 3)), ("u", (2, 3))), True),
    "column_stack": (lambda L, a, b: L.column_stack([a, b]), (("u", (3,)), ("u", (3, 2))), True),
    "atleast_3d": (lambda L, a: L.atleast_3d(a), (("u", (4,)),), True),
    "meshgrid_ij": (lambda L, a, b: L.meshgrid(a, b, indexing="ij"), (("u", (3,)), ("u", (2,))), True),
    "meshgrid_xy": (
        lambda L, a, b, c: L.meshgrid(a, b, c, indexing="xy"),
        (("u", (3,)), ("u", (2,)), ("u", (2,))),
        True,
    ),
    "cartesian_prod": (lambda L, a, b: L.cartesian_prod(a, b), (("u", (3,)), ("u", (2,))), True),
    "fliplr": (lambda L, x: L.fliplr(x), M34, True),
    "flipud": (lambda L, x: x.flipud(), M34, True),
    "rot90": (lambda L, x: L.rot90(x), M34, True),
    "rot90_k2": (lambda L, x: L.rot90(x, 2, (1, 2)), (("u", (2, 3, 4)),), True),
    "rot90_k3": (lambda L, x: x.rot90(-1, [0, 1]), M34, True),
    # selection and index updates
    "masked_select": (lambda L, x: L.masked_select(x, T(L, [[True, False, True, True]])), M34, True),
    "take": (lambda L, x: L.take(x, T(L, [[0, 5], [11, 5]])), M34, True),
    "take_along_dim": (lambda L, x: L.take_along_dim(x, T(L, [[0], [3], [1]]), 1), M34, True),
    "index_add": (
        lambda L, x, s: L.index_add(x, 1, T(L, [0, 2, 0]), s, alpha=2.0),
        (("u", (3, 4)), ("u", (3, 3))),
        True,
    ),
    "index_copy": (lambda L, x, s: x.index_copy(0, T(L, [2, 0]), s), (("u", (3, 4)), ("u", (2, 4))), True),
    "index_fill": (lambda L, x: L.index_fill(x, 1, T(L, [1, 3]), -1.5), M34, True),
    "scatter_src": (
        lambda L, x, s: L.scatter(x, 1, T(L, [[2, 0], [1, 3], [0, 1]]), s),
        (("u", (3, 4)), ("u", (3, 2))),
        True,
    ),
    "scatter_src_larger": (
        lambda L, x, s: L.scatter(x, 1, T(L, [[2], [1], [0]]), s) * 1,
        (("u", (3, 4)), ("u", (3, 3))),
        True,
    ),
    "scatter_value": (lambda L, x: x.scatter(0, T(L, [[2, 0, 1, 1]]), 0.25), M34, True),
    # (torch's scatter(reduce=) has no derivative: its oracle is scatter_add, the same sum)
    "scatter_add_reduce": (
        lambda L, x, s: (
            L.scatter(x, 0, T(L, [[2, 0, 2, 1], [2, 2, 0, 0]]), s, reduce="add")
            if L is cr
            else L.scatter_add(x, 0, T(L, [[2, 0, 2, 1], [2, 2, 0, 0]]), s)
        ),
        (("u", (3, 4)), ("u", (2, 4))),
        True,
    ),
    # products
    "einsum_matmul": (lambda L, a, b: L.einsum("ij,jk->ik", a, b), (("u", (3, 4)), ("u", (4, 2))), True),
    "einsum_batch": (lambda L, a, b: L.einsum("bij,bjk->bik", a, b), (("u", (2, 3, 4)), ("u", (2, 4, 2))), True),
    "einsum_ellipsis_broadcast": (
        lambda L, a, b: L.einsum("...ij,jk->...ik", a, b),
        (("u", (2, 3, 4)), ("u", (4, 5))),
        True,
    ),
    "einsum_ellipsis_size1": (
        lambda L, a, b: L.einsum("...ij,...jk", a, b),
        (("u", (1, 3, 4)), ("u", (2, 4, 5))),
        True,
    ),
    "einsum_implicit": (lambda L, a, b: L.einsum("ij,jk", a, b), (("u", (3, 4)), ("u", (4, 2))), True),
    "einsum_outer_list": (lambda L, a, b: L.einsum("i,j->ij", [a, b]), (("u", (3,)), ("u", (2,))), True),
    "einsum_sum_all": (lambda L, a: L.einsum("ij->", a), M34, True),
    "einsum_summed_letter": (lambda L, a, b: L.einsum("ij,k->i", a, b), (("u", (3, 4)), ("u", (2,))), True),
    "einsum_diagonal": (lambda L, a: L.einsum("ii->i", a), (("u", (3, 3)),), True),
    "einsum_trace": (lambda L, a: L.einsum("ii", a), (("u", (3, 3)),), True),
    "einsum_three": (
        lambda L, a, b, c: L.einsum("ij,jk,kl->il", a, b, c),
        (("u", (2, 3)), ("u", (3, 4)), ("u", (4, 2))),
        True,
    ),
    "einsum_attention": (
        lambda L, q, k: L.einsum("bhqd,bhkd->bhqk", q, k),
        (("u", (1, 2, 3, 4)), ("u", (1, 2, 5, 4))),
        True,
    ),
    "einsum_empty": (lambda L, a, b: L.einsum("ij,jk->ik", a, b), (("u", (0, 4)), ("u", (4, 2))), True),
    "tensordot": (lambda L, a, b: L.tensordot(a, b, 2), (("u", (2, 3, 4)), ("u", (3, 4, 2))), True),
    "tensordot_pairs": (
        lambda L, a, b: L.tensordot(a, b, ([0, 2], [2, 0])),
        (("u", (2, 3, 4)), ("u", (4, 5, 2))),
        True,
    ),
    "inner": (lambda L, a, b: L.inner(a, b), (("u", (2, 3)), ("u", (4, 3))), True),
    "vdot": (lambda L, a, b: L.vdot(a, b), (("u", (3,)), ("u", (3,))), True),
    "mv": (lambda L, a, b: L.mv(a, b), (("u", (3, 4)), ("u", (4,))), True),
    "addmm": (
        lambda L, c, a, b: L.addmm(c, a, b, beta=0.5, alpha=2.0),
        (("u", (2,)), ("u", (3, 4)), ("u", (4, 2))),
        True,
    ),
    "addmv": (lambda L, c, a, b: c.addmv(a, b, alpha=-1.0), (("u", (3,)), ("u", (3, 4)), ("u", (4,))), True),
    "addr": (lambda L, c, a, b: L.addr(c, a, b, beta=2.0), (("u", (3, 2)), ("u", (3,)), ("u", (2,))), True),
    "baddbmm": (
        lambda L, c, a, b: L.baddbmm(c, a, b, beta=0.5),
        (("u", (2, 3, 2)), ("u", (2, 3, 4)), ("u", (2, 4, 2))),
        True,
    ),
    "addbmm": (
        lambda L, c, a, b: L.addbmm(c, a, b, alpha=0.5),
        (("u", (3, 2)), ("u", (2, 3, 4)), ("u", (2, 4, 2))),
        True,
    ),
    "kron": (lambda L, a, b: L.kron(a, b), (("u", (2, 3)), ("u", (3, 2))), True),
    "kron_ranks": (lambda L, a, b: L.kron(a, b), (("u", (2,)), ("u", (3, 2))), True),
    "cross": (lambda L, a, b: L.cross(a, b, dim=1), (("u", (2, 3)), ("u", (1, 3))), True),
    "cdist": (lambda L, a, b: L.cdist(a, b), (("distinct", (3, 2)), ("u", (4, 2))), True),
    "cdist_p1": (lambda L, a, b: L.cdist(a, b, p=1.0), (("distinct", (3, 2)), ("u", (4, 2))), False),
    # the three compute modes give the same distances (PyTorch's mm route differs by rounding only)
    "cdist_mm": (
        lambda L, a, b: L.cdist(a, b, 2.0, "use_mm_for_euclid_dist"),
        (("distinct", (3, 2)), ("u", (4, 2))),
        True,
    ),
    "cdist_no_mm": (
        lambda L, a, b: L.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist"),
        (("distinct", (2, 3, 2)), ("u", (2, 4, 2))),
        True,
    ),
    "cdist_if_necessary_p1": (
        lambda L, a, b: L.cdist(a, b, p=1.0, compute_mode="use_mm_for_euclid_dist_if_necessary"),
        (("distinct", (3, 2)), ("u", (4, 2))),
        False,
    ),
    # statistics pairs
    "std_mean": (lambda L, x: L.std_mean(x, 1), M34, True),
    "var_mean": (lambda L, x: L.var_mean(x, dim=0, keepdim=True, correction=0), M34, True),
    "aminmax": (lambda L, x: L.aminmax(x, dim=1), (("distinct", (3, 4)),), True),
    "nansum": (lambda L, x: L.nansum(x, 1), M34, True),
    "nanmean": (lambda L, x: x.nanmean(), M34, True),
    # in place on a recorded tensor (the graph sees the change)
    "add_alpha_": (lambda L, a, b: (a * 1).add_(b, alpha=2.0), (("u", (3, 4)), ("u", (4,))), True),
    "sub_alpha_": (lambda L, a, b: (a * 1).sub_(b, alpha=0.5), (("u", (3, 4)), ("u", (4,))), True),
    "addcmul_": (
        lambda L, a, b, c: (a * 1).addcmul_(b, c, value=0.5),
        (("u", (3, 4)), ("u", (4,)), ("u", (3, 1))),
        True,
    ),
    "addcdiv_": (
        lambda L, a, b, c: (a * 1).addcdiv_(b, c, value=2.0),
        (("u", (3, 4)), ("u", (4,)), ("away", (3, 1))),
        True,
    ),
    "mul_": (lambda L, a, b: (a * 1).mul_(b), (("u", (3, 4)), ("u", (4,))), True),
    "div_floor_": (
        lambda L, a, b: (a * 1).div_(b, rounding_mode="floor") * a,
        (("frac", (3, 4)), ("away", (4,))),
        False,
    ),
    "lerp_": (lambda L, a, b: (a * 1).lerp_(b, 0.25), (("u", (3, 4)), ("u", (4,))), True),
    "exp_": (lambda L, a: (a * 1).exp_(), M34, True),
    "sigmoid_": (lambda L, a: (a * 1).sigmoid_(), M34, True),
    "tanh_": (lambda L, a: (a * 1).tanh_(), M34, True),
    "tril_": (lambda L, a: (a * 1).tril_(), M34, True),
    "clamp_min_": (lambda L, a: (a * 1).clamp_min_(0.1), (("away", (3, 4)),), False),
    "index_add_": (lambda L, x, s: (x * 1).index_add_(0, T(L, [1, 1]), s), (("u", (3, 4)), ("u", (2, 4))), True),
    "scatter_": (lambda L, x, s: (x * 1).scatter_(1, T(L, [[1], [0], [3]]), s), (("u", (3, 4)), ("u", (3, 1))), True),
    "masked_fill_": (lambda L, x: (x * 1).masked_fill_(T(L, [True, False, False, True]), 2.0), M34, True),
    "fill_diagonal_": (lambda L, x: (x * 1).fill_diagonal_(0.5), M34, True),
}


# round 2 (second priority names)
DIFF.update(
    {
        "fmax": (lambda L, a, b: L.fmax(a, b), (("distinct", (3, 1)), ("u", (4,))), True),
        "fmin": (lambda L, a, b: a.fmin(b), (("distinct", (3, 4)), ("u", (4,))), True),
        "copysign": (lambda L, a, b: L.copysign(a, b), (("away", (3, 4)), ("away", (4,))), True),
        "deg2rad_rad2deg": (lambda L, x: L.deg2rad(x) + x.rad2deg(), M34, True),
        "sinc": (lambda L, x: L.sinc(x), (("away", (3, 4)),), True),
        "rsub": (lambda L, a, b: L.rsub(a, b, alpha=2.0), (("u", (3, 4)), ("u", (4,))), True),
        "masked_scatter": (
            lambda L, x, s: L.masked_scatter(x, T(L, [[True, False, True, False]]), s),
            (("u", (3, 4)), ("u", (2, 4))),
            True,
        ),
        "index_put": (lambda L, x, v: x.index_put((T(L, [0, 2]), T(L, [1, 3])), v), (("u", (3, 4)), ("u", (2,))), True),
        "index_put_accumulate": (
            lambda L, x, v: x.index_put((T(L, [0, 0, 2]),), v, accumulate=True),
            (("u", (3, 4)), ("u", (3, 4))),
            True,
        ),
        "select_scatter": (lambda L, x, s: L.select_scatter(x, s, 1, 2), (("u", (3, 4)), ("u", (3,))), True),
        "slice_scatter": (lambda L, x, s: L.slice_scatter(x, s, 1, 0, 4, 2), (("u", (3, 4)), ("u", (3, 2))), True),
        "diagonal_scatter": (lambda L, x, s: L.diagonal_scatter(x, s, 1), (("u", (3, 4)), ("u", (3,))), True),
        "diagonal_scatter_dims": (
            lambda L, x, s: L.diagonal_scatter(x, s, 0, 0, 2),
            (("u", (3, 2, 3)), ("u", (2, 3))),
            True,
        ),
        "unfold": (lambda L, x: x.unfold(1, 2, 1), M34, True),
        "unfold_step": (lambda L, x: x.unfold(0, 2, 2), (("u", (5, 2)),), True),
        "dist": (lambda L, a, b: L.dist(a, b), (("u", (3, 4)), ("u", (4,))), True),
        "dist_p3": (lambda L, a, b: a.dist(b, 3), (("u", (3, 4)), ("u", (4,))), False),
        "cov": (lambda L, x: L.cov(x), M34, True),
        "cov_correction0": (lambda L, x: x.cov(correction=0), (("u", (5,)),), True),
        "corrcoef": (lambda L, x: L.corrcoef(x), M34, True),
        "trapezoid": (lambda L, y: L.trapezoid(y, dx=0.5), M34, True),
        "trapezoid_x": (lambda L, y, x: L.trapezoid(y, x, dim=0), (("u", (3, 4)), ("u", (3,))), True),
        "cumulative_trapezoid": (lambda L, y: L.cumulative_trapezoid(y), M34, True),
        "vander": (lambda L, x: L.vander(x, 4), (("u", (3,)),), True),
        "chain_matmul": (
            lambda L, a, b, c: L.chain_matmul(a, b, c),
            (("u", (2, 3)), ("u", (3, 4)), ("u", (4, 2))),
            True,
        ),
        "mode": (lambda L, x: L.mode(x, 1)[0], (("distinct", (3, 4)),), True),
        "block_diag": (lambda L, a, b, c: L.block_diag(a, b, c), (("u", (2, 3)), ("u", (2,)), ("u", (1, 1))), True),
        "combinations": (lambda L, x: L.combinations(x, 2), (("u", (4,)),), True),
        "combinations_replacement": (lambda L, x: L.combinations(x, 3, with_replacement=True), (("u", (3,)),), True),
        "t_": (lambda L, x: (x * 1).t_(), M34, True),
        "transpose_": (lambda L, x: (x * 1).transpose_(0, 2), (("u", (2, 3, 4)),), True),
        "squeeze_unsqueeze_": (lambda L, x: (x * 1).unsqueeze_(0).squeeze_(2), (("u", (3, 1, 4)),), True),
        "addmm_": (
            lambda L, c, a, b: (c * 1).addmm_(a, b, alpha=0.5),
            (("u", (3, 2)), ("u", (3, 4)), ("u", (4, 2))),
            True,
        ),
        "masked_scatter_": (
            lambda L, x, s: (x * 1).masked_scatter_(T(L, [True, False, True, False]), s),
            (("u", (3, 4)), ("u", (6,))),
            True,
        ),
    }
)


# log-gamma and the polygamma functions (torch's own polygamma(1) is good to ~5e-10: mpmath checks below)
DIFF.update(
    {
        "lgamma": (lambda L, x: L.lgamma(x), (("pos", (3, 4)),), True),
        "lgamma_negative": (lambda L, x: (x - 3.0).lgamma(), (("frac", (3, 4)),), True),
        "digamma": (lambda L, x: L.digamma(x), (("pos", (3, 4)),), True),
        "digamma_negative": (lambda L, x: L.digamma(x - 3.0), (("frac", (3, 4)),), True),
        "polygamma_1": (lambda L, x: L.polygamma(1, x), (("pos", (3, 4)),), True),
        "polygamma_2": (lambda L, x: x.polygamma(2), (("gt1", (3, 4)),), True),
        "mvlgamma": (lambda L, x: L.mvlgamma(x, 3), (("gt1", (3, 4)),), True),
    }
)


DIFF.update(
    {
        "scatter_reduce_sum": (
            lambda L, x, s: L.scatter_reduce(x, 0, T(L, [[2, 0, 2, 1], [2, 2, 0, 0]]), s, "sum"),
            (("u", (3, 4)), ("u", (2, 4))),
            True,
        ),
        "scatter_reduce_mean_exclude_self": (
            lambda L, x, s: x.scatter_reduce(1, T(L, [[0, 0], [3, 1], [2, 2]]), s, "mean", include_self=False),
            (("u", (3, 4)), ("u", (3, 2))),
            True,
        ),
        "scatter_reduce_mean": (
            lambda L, x, s: L.scatter_reduce(x, 1, T(L, [[0, 0, 1], [3, 1, 3], [2, 2, 2]]), s, reduce="mean"),
            (("u", (3, 4)), ("u", (3, 3))),
            True,
        ),
        "scatter_reduce_prod": (
            lambda L, x, s: L.scatter_reduce(x, 0, T(L, [[2, 0, 2, 1], [2, 2, 0, 0]]), s, "prod"),
            (("u", (3, 4)), ("u", (2, 4))),
            True,
        ),
        "scatter_reduce_amax_exclude_self": (
            lambda L, x, s: x.scatter_reduce(1, T(L, [[0, 0], [3, 1], [2, 2]]), s, "amax", include_self=False),
            (("u", (3, 4)), ("u", (3, 2))),
            True,
        ),
        "scatter_reduce_amin": (
            lambda L, x, s: L.scatter_reduce(x, 1, T(L, [[0, 0, 1], [3, 1, 3], [2, 2, 2]]), s, reduce="amin"),
            (("u", (3, 4)), ("u", (3, 3))),
            True,
        ),
        "index_reduce_prod_amax": (
            lambda L, x, s: (x.index_reduce(0, T(L, [2, 0, 2]), s, "prod"),
                             L.index_reduce(x, 0, T(L, [1, 1, 0]), s, "amax", include_self=False)),
            (("u", (3, 4)), ("u", (3, 4))),
            True,
        ),
    }
)


DIFF.update(
    {
        "nanmedian": (lambda L, x: L.nanmedian(x), (("distinct", (3, 4)),), True),
        "nanmedian_dim_with_nan": (
            lambda L, x: x.masked_fill(T(L, [[False, True, False, True]]), np.nan).nanmedian(1, keepdim=True)[0],
            (("distinct", (3, 4)),),
            True,
        ),
        "sum_to_size": (lambda L, x: x.sum_to_size(3, 1), M34, True),
        "sum_to_size_lead": (lambda L, x: x.sum_to_size((1, 4)), (("u", (2, 3, 4)),), True),
    }
)


# cases without a torch oracle, and why
NO_ORACLE = {
    "vander": "torch.vander's backward fails its own version-counter check (torch 2.x)",
    "scatter_src_larger": "torch's ScatterBackward refuses a src larger than the index (torch 2.x)",
}


# torch's own polygamma(1) (also the derivative of its digamma) is good to ~5e-10 only; ours is
# checked against mpmath to 1e-11 in test_polygamma_against_mpmath
LOOSE = {"polygamma_1", "digamma", "digamma_negative"}


def _outs(res) -> list:
    return list(res) if isinstance(res, (tuple, list)) else [res]


def _make(specs) -> list[np.ndarray]:
    return [gen(kind, shp) for kind, shp in specs]


def _diff_fn(f):
    """f on chainrule tensors, keeping only the floating outputs (for gradcheck)."""

    def fn(*xs):
        outs = [o for o in _outs(f(cr, *xs)) if np.dtype(o.dtype).kind == "f"]
        return outs[0] if len(outs) == 1 else tuple(outs)

    return fn


@pytest.mark.filterwarnings("ignore:invalid value encountered in log")  # nan_to_num's NaNs on purpose
@pytest.mark.parametrize("name", sorted(DIFF))
def test_gradcheck_reverse_and_forward(name):
    f, specs, _ = DIFF[name]
    xs = [cr.tensor(a, requires_grad=True) for a in _make(specs)]
    assert gradcheck(_diff_fn(f), xs, check_forward_ad=True)


@pytest.mark.filterwarnings("ignore:invalid value encountered in log")
@pytest.mark.parametrize("name", sorted(n for n in DIFF if DIFF[n][2]))
def test_gradgradcheck(name):
    f, specs, _ = DIFF[name]
    xs = [cr.tensor(a, requires_grad=True) for a in _make(specs)]
    assert gradgradcheck(_diff_fn(f), xs)


@pytest.mark.filterwarnings("ignore:invalid value encountered in log")  # nan_to_num's NaNs on purpose
@pytest.mark.filterwarnings("ignore:torch.chain_matmul is deprecated")
@pytest.mark.parametrize("name", sorted(DIFF))
def test_values_and_gradients_match_torch(name):
    torch = pytest.importorskip("torch")
    if name in NO_ORACLE:
        pytest.skip(NO_ORACLE[name])
    f, specs, _ = DIFF[name]
    arrays = _make(specs)
    cx = [cr.tensor(a, requires_grad=True) for a in arrays]
    tx = [torch.tensor(a, requires_grad=True) for a in arrays]
    cres, tres = _outs(f(cr, *cx)), _outs(f(torch, *tx))
    assert len(cres) == len(tres)
    c_total, t_total = None, None
    for co, to in zip(cres, tres):
        expected = to.detach().numpy()
        assert tuple(co.shape) == tuple(expected.shape), name
        rtol = 1e-8 if name in LOOSE else 1e-10
        assert np.allclose(co.data, expected, rtol=rtol, atol=1e-12, equal_nan=True), name
        if to.dtype.is_floating_point and to.requires_grad:
            u = R.standard_normal(expected.shape)
            c_total = (co * cr.tensor(u)).sum() + (0 if c_total is None else c_total)
            t_total = (to * torch.tensor(u)).sum() + (0 if t_total is None else t_total)
    if t_total is None:
        return
    c_total.backward()
    t_total.backward()
    for c, t in zip(cx, tx):
        want = np.zeros(t.shape) if t.grad is None else t.grad.numpy()
        got = np.zeros(c.shape) if c.grad is None else c.grad.data
        assert np.allclose(got, want, rtol=1e-8 if name in LOOSE else 1e-9, atol=1e-11), name


# ---------------------------------------------------------------- integer and bool results (no gradient)
SPECIAL = np.array([[0.0, -0.0, 1.5, -2.5], [np.nan, np.inf, -np.inf, 2.5], [1e-9, -1e-9, 3.0, 3.0]])
D34 = np.array([[0.3, -1.2, 2.2, 0.7], [1.1, 0.9, -0.4, 2.0], [-2.5, 0.1, 1.4, -0.6]])
INTS = np.array([[7, -7, 5, 0], [-3, 4, -9, 12]])
IDX = np.array([3, 1, 1, 0, 5, 3, 3])

# id -> f(lib) building its inputs with T(lib, ...); every output is compared with torch's exactly
EXACT = {
    "eq": lambda L: [L.eq(T(L, D34), 0.9), T(L, D34).eq(T(L, D34[0])), T(L, D34) == T(L, D34)],
    "ne_gt_ge_lt_le": lambda L: [
        L.ne(T(L, D34), 0.3),
        L.gt(T(L, D34), T(L, D34[:, :1])),
        T(L, D34).ge(0.7),
        L.lt(T(L, D34), 0.0),
        T(L, D34).le(T(L, D34[1])),
        L.greater(T(L, D34), 1.0),
        L.less_equal(T(L, D34), 1.1),
        T(L, D34).not_equal(2.0),
    ],
    "logical": lambda L: [
        L.logical_and(T(L, D34) > 0, T(L, D34) < 1),
        L.logical_or(T(L, D34) > 2, T(L, D34) < -2),
        L.logical_xor(T(L, D34) > 0, T(L, D34) > 1),
        L.logical_not(T(L, D34) > 0),
        T(L, INTS).logical_not(),
    ],
    "isnan_isinf_isfinite": lambda L: [
        L.isnan(T(L, SPECIAL)),
        T(L, SPECIAL).isinf(),
        L.isfinite(T(L, SPECIAL)),
        L.isposinf(T(L, SPECIAL)),
        T(L, SPECIAL).isneginf(),
        L.isfinite(T(L, INTS)),
    ],
    "signbit": lambda L: [L.signbit(T(L, SPECIAL))],
    "isclose": lambda L: [
        L.isclose(T(L, SPECIAL), T(L, SPECIAL) + 1e-7),
        T(L, SPECIAL).isclose(T(L, SPECIAL), equal_nan=True),
        L.isclose(T(L, D34), T(L, D34 * (1 + 1e-4)), rtol=1e-3),
    ],
    "rounding": lambda L: [
        L.floor(T(L, SPECIAL)),
        L.ceil(T(L, SPECIAL)),
        L.round(T(L, SPECIAL)),
        L.trunc(T(L, SPECIAL)),
        L.round(T(L, D34), decimals=1),
        L.round(T(L, [0.5, 1.5, 2.5, -0.5])),
    ],
    "rounding_ints": lambda L: [L.floor(T(L, INTS)), L.round(T(L, INTS)), T(L, INTS).trunc()],
    "div_rounding_ints": lambda L: [
        L.div(T(L, INTS), 2, rounding_mode="floor"),
        L.div(T(L, INTS), -2, rounding_mode="trunc"),
        L.div(T(L, INTS), T(L, [2, -3, 4, 5]), rounding_mode="trunc"),
        L.floor_divide(T(L, INTS), 3),
        L.div(T(L, INTS), 4),
    ],
    "fmod_remainder_ints": lambda L: [
        L.fmod(T(L, INTS), 4),
        L.remainder(T(L, INTS), 4),
        L.remainder(T(L, INTS), -3),
        L.fmod(T(L, INTS), T(L, [3, -3, 2, 5])),
    ],
    "fmod_remainder_floats": lambda L: [
        L.fmod(T(L, D34), -0.5),
        L.remainder(T(L, D34), -0.5),
        L.remainder(-1.0, T(L, D34)),
    ],
    "heaviside": lambda L: [L.heaviside(T(L, SPECIAL[0]), T(L, [0.5]))],
    "nan_to_num": lambda L: [
        L.nan_to_num(T(L, SPECIAL)),
        L.nan_to_num(T(L, SPECIAL), nan=1.0, posinf=9.0, neginf=-9.0),
        L.nan_to_num(T(L, SPECIAL.astype(np.float32))),
    ],
    "integer_promotion": lambda L: [L.sinh(T(L, INTS)), L.log2(T(L, [1, 2, 8])), T(L, INTS).reciprocal()],
    "argsort": lambda L: [
        L.argsort(T(L, D34)),
        L.argsort(T(L, D34), dim=0, descending=True),
        T(L, [3.0, 1.0, 3.0, 1.0, 2.0]).argsort(stable=True),
        T(L, [3.0, 1.0, 3.0, 1.0, 2.0]).argsort(stable=True, descending=True),
    ],
    "sort_nan": lambda L: (
        list(L.sort(T(L, [2.0, np.nan, -1.0, np.inf])))
        + list(L.sort(T(L, [2.0, np.nan, -1.0, np.inf]), descending=True))
    ),
    "sort_ints": lambda L: list(L.sort(T(L, INTS), 1)) + list(L.sort(T(L, INTS), 0, descending=True)),
    "topk": lambda L: list(L.topk(T(L, D34), 2)) + list(T(L, D34).topk(1, dim=0, largest=False)),
    "topk_all_sorted": lambda L: list(L.topk(T(L, D34[0]), 4)),
    "kthvalue_median": lambda L: list(L.kthvalue(T(L, D34), 2)) + list(T(L, D34).median(0)) + [L.median(T(L, D34))],
    "median_even_lower": lambda L: [L.median(T(L, [4.0, 1.0, 3.0, 2.0]))],
    "cummax_cummin": lambda L: list(L.cummax(T(L, D34), 1)) + list(L.cummin(T(L, D34), 0)),
    "cummax_ties": lambda L: list(L.cummax(T(L, [1.0, 3.0, 3.0, 2.0, 3.0]), 0)),
    "cumsum_ints": lambda L: [
        L.cumsum(T(L, INTS), 1),
        L.cumsum(T(L, [True, False, True]), 0),
        L.cumprod(T(L, INTS), 0),
        T(L, INTS).cumsum(1, dtype=L.float64),
    ],
    "nonzero": lambda L: [L.nonzero(T(L, INTS)), T(L, INTS).nonzero(as_tuple=True)[1], L.argwhere(T(L, D34) > 1)],
    "count_nonzero": lambda L: [L.count_nonzero(T(L, INTS)), L.count_nonzero(T(L, INTS), dim=1)],
    "one_hot": lambda L: [_F(L).one_hot(T(L, IDX)), _F(L).one_hot(T(L, [[0, 2], [1, 0]]), num_classes=4)],
    "bincount": lambda L: [
        L.bincount(T(L, IDX)),
        T(L, IDX).bincount(minlength=8),
        L.bincount(T(L, IDX), weights=T(L, np.linspace(0, 1, 7))),
    ],
    "bucketize_searchsorted": lambda L: [
        L.bucketize(T(L, D34), T(L, [-1.0, 0.0, 0.9, 2.0])),
        L.bucketize(T(L, D34), T(L, [-1.0, 0.0, 0.9, 2.0]), right=True),
        L.searchsorted(T(L, [[0.0, 1.0, 2.0], [-1.0, 0.5, 0.9]]), T(L, [[0.5, 2.0], [0.9, -3.0]])),
        L.searchsorted(T(L, [0.0, 1.0, 1.0, 2.0]), T(L, [1.0, 1.5]), side="right"),
    ],
    "histc": lambda L: [L.histc(T(L, D34), bins=5), T(L, D34).histc(4, min=-1, max=1)],
    "unique": lambda L: (
        list(L.unique(T(L, IDX), return_inverse=True, return_counts=True))
        + [L.unique(T(L, [[1, 2], [1, 2], [0, 5]]), dim=0)]
    ),
    "unique_consecutive": lambda L: list(
        L.unique_consecutive(T(L, [1, 1, 2, 2, 3, 1, 1, 2]), return_inverse=True, return_counts=True)
    ),
    "repeat_interleave_counts_only": lambda L: [L.repeat_interleave(T(L, [2, 0, 3]))],
    "equal_allclose": lambda L: [
        T(
            L,
            np.array(
                [
                    L.equal(T(L, D34), T(L, D34)),
                    L.equal(T(L, D34), T(L, D34[:2])),
                    L.allclose(T(L, D34), T(L, D34 + 1e-9)),
                    T(L, D34).allclose(T(L, D34 + 1e-3)),
                    T(L, D34).equal(T(L, D34 + 1)),
                ]
            ),
        )
    ],
    "sizes": lambda L: [T(L, np.array([T(L, D34).nelement(), T(L, D34).ndimension(), L.numel(T(L, D34))]))],
    "type_as_new_full": lambda L: [
        T(L, D34).type_as(T(L, INTS)),
        T(L, INTS).new_full((2, 3), 7),
        T(L, D34).new_full([2], 0.5),
        T(L, D34).new_empty(2, 3).fill_(1.0),
    ],
    "in_place_plain": lambda L: [
        T(L, D34).clone().add_(T(L, D34), alpha=3),
        T(L, D34).clone().div_(0.3, rounding_mode="floor"),
        T(L, INTS).clone().div_(3, rounding_mode="trunc"),
        T(L, D34).clone().floor_(),
        T(L, D34).clone().fill_diagonal_(-1.0),
        T(L, np.zeros((5, 2))).fill_diagonal_(1.0, wrap=True),
        T(L, np.zeros((7, 3))).fill_diagonal_(2.0, wrap=True),
        T(L, np.zeros((3, 3, 3))).fill_diagonal_(1.0),
        T(L, D34).clone().index_fill_(0, T(L, [2]), 0.0),
        T(L, D34).clone().sqrt_(),
        T(L, INTS).clone().remainder_(5),
        T(L, D34).clone().eq_(0.3),
    ],
}


EXACT.update(
    {
        "bitwise": lambda L: [
            L.bitwise_and(T(L, INTS), 6),
            T(L, INTS).bitwise_or(T(L, [1, 2, 4, 8])),
            L.bitwise_xor(T(L, INTS), -1),
            L.bitwise_not(T(L, INTS)),
            L.bitwise_not(T(L, [True, False])),
            L.bitwise_left_shift(T(L, INTS), 2),
            L.bitwise_right_shift(T(L, INTS), 1),
            L.gcd(T(L, INTS), T(L, [6])),
            L.lcm(T(L, INTS), T(L, [4, 6, 10, 3])),
        ],
        "isin": lambda L: [L.isin(T(L, INTS), T(L, [7, 0, 4])), L.isin(T(L, INTS), T(L, [7, 0]), invert=True)],
        "tril_triu_indices": lambda L: [
            L.tril_indices(3, 4),
            L.tril_indices(4, 3, -1),
            L.triu_indices(3, 4, 1),
            L.triu_indices(3, 3),
        ],
        "unravel_index": lambda L: list(L.unravel_index(T(L, [0, 5, 11]), (3, 4))),
        "mode_ties": lambda L: list(L.mode(T(L, [[1.0, 2.0, 2.0, 1.0, 3.0], [5.0, 4.0, 4.0, 5.0, 5.0]]))),
        "queries": lambda L: [
            T(
                L,
                np.array(
                    [
                        T(L, D34).is_contiguous(),
                        T(L, D34).element_size(),
                        T(L, INTS).itemsize,
                        T(L, D34).nbytes,
                        T(L, D34).t().stride(0),
                        T(L, D34).stride(1),
                        T(L, [2.0]).is_nonzero(),
                        T(L, D34).is_same_size(T(L, D34.T)),
                        T(L, D34).storage_offset(),
                        T(L, D34).get_device(),
                    ]
                ),
            )
        ],
        "scatter_reduce_ints": lambda L: [
            L.scatter_reduce(T(L, INTS), 1, T(L, [[0, 0, 1], [3, 3, 3]]), T(L, [[1, 2, 3], [4, 5, 7]]), "mean"),
            L.scatter_reduce(
                T(L, INTS), 1, T(L, [[0, 0, 1], [3, 3, 3]]), T(L, [[1, 2, 3], [4, 5, 7]]), "sum", include_self=False
            ),
            L.scatter_reduce(
                T(L, INTS), 1, T(L, [[0, 0, 1], [3, 3, 3]]), T(L, [[1, 2, 3], [4, 5, 7]]), "amax", include_self=False
            ),
            L.scatter_reduce(T(L, INTS), 1, T(L, [[0, 0, 1], [3, 3, 3]]), T(L, [[1, 2, 3], [4, 5, 7]]), "prod"),
        ],
        "nanmedian_nan": lambda L: [
            # (an all-NaN row's index is implementation-defined in torch: not compared)
            L.nanmedian(T(L, [[np.nan, 1.0, 3.0, 2.0], [4.0, np.nan, 1.0, np.nan]]), 1)[1],
            L.nanmedian(T(L, [[np.nan] * 4]), 1)[0],
            L.nanmedian(T(L, [np.nan, 2.0, np.nan])),
        ],
        "small_dtypes": lambda L: [T(L, INTS).byte(), T(L, INTS).char(), T(L, INTS).short()],
        "fmax_nan": lambda L: [
            L.fmax(T(L, SPECIAL[1]), T(L, [1.0, np.nan, 0.0, np.nan])),
            L.fmin(T(L, SPECIAL[1]), T(L, [1.0, np.nan, 0.0, np.nan])),
        ],
    }
)


def _F(lib):
    """torch.nn.functional, or chainrule's (imported: ``chainrule.nn`` may not be an attribute yet)."""
    import chainrule.nn.functional as F

    return F if lib is cr else lib.nn.functional


def _np(t):
    return t.detach().numpy() if hasattr(t, "detach") and not isinstance(t, cr.Tensor) else t.data


@pytest.mark.filterwarnings("ignore:invalid value encountered")
@pytest.mark.parametrize("name", sorted(EXACT))
def test_integer_and_bool_results_match_torch(name):
    torch = pytest.importorskip("torch")
    with np.errstate(invalid="ignore", divide="ignore"):
        got, want = EXACT[name](cr), EXACT[name](torch)
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        wa = _np(w)
        assert np.dtype(g.dtype) == wa.dtype, (name, k, g.dtype, wa.dtype)
        assert tuple(g.shape) == wa.shape, (name, k)
        tol = 1e-6 if wa.dtype == np.float32 else 1e-12
        assert (
            np.allclose(g.data, wa, rtol=tol, atol=0, equal_nan=True)
            if wa.dtype.kind == "f"
            else (np.array_equal(g.data, wa))
        ), (name, k, g.data, wa)
        assert not g.requires_grad


# ---------------------------------------------------------------- values from mathematics (run without torch too)
def test_values_from_mathematics():
    n = cr.arange(1, 6, dtype=cr.float64)
    assert np.array_equal(cr.cumsum(n, 0).data, n.data * (n.data + 1) / 2)  # triangular numbers
    assert np.array_equal(cr.cumprod(n, 0).data, [1, 2, 6, 24, 120])
    assert np.allclose(cr.logcumsumexp(cr.log(n), 0).data, np.log(n.data * (n.data + 1) / 2))
    x = cr.tensor([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0]])
    assert np.array_equal(cr.sort(x, 1).values.data, [[1, 2, 3], [0, 4, 5]])
    assert np.array_equal(cr.topk(x, 2).indices.data, [[0, 2], [1, 2]])
    m = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert cr.einsum("ii", m).item() == 5.0 and m.trace().item() == 5.0
    assert np.array_equal(cr.einsum("ij,jk->ik", m, m).data, [[7, 10], [15, 22]])
    assert np.array_equal(cr.tril(m).data, [[1, 0], [3, 4]]) and np.array_equal(m.triu(1).data, [[0, 2], [0, 0]])
    assert np.array_equal(cr.roll(cr.arange(5), 2).data, [3, 4, 0, 1, 2])
    assert np.array_equal(cr.diag(cr.tensor([1, 2])).data, [[1, 0], [0, 2]])
    assert np.array_equal(cr.kron(cr.eye(2), m).data[2:, 2:], m.data)
    t = cr.tensor([-0.999, -0.5, 0.0, 0.3, 0.9999], dtype=cr.float64)
    assert np.allclose(cr.erf(cr.erfinv(t)).data, t.data, rtol=1e-13, atol=1e-15)
    big = cr.tensor([6.0, 10.0], dtype=cr.float64)  # erfc without cancellation: erfc(x) ~ e^(-x²)/(x√π)
    assert np.allclose(cr.erfc(big).data * big.data * np.sqrt(np.pi) * np.exp(big.data**2), 1, rtol=2e-2)
    assert np.array_equal(cr.isnan(cr.tensor([1.0, np.nan])).data, [False, True])
    assert np.array_equal(cr.fmod(cr.tensor([-7.0, 7.0]), 3).data, [-1.0, 1.0])
    assert np.array_equal(cr.remainder(cr.tensor([-7.0, 7.0]), 3).data, [2.0, 1.0])
    assert cr.median(cr.tensor([4.0, 1.0, 3.0, 2.0])).item() == 2.0  # the lower of the two middles
    assert np.allclose(cr.quantile(cr.tensor([0.0, 1.0, 2.0, 3.0]), 0.5).item(), 1.5)
    assert np.array_equal(
        cr.nn.functional.one_hot(cr.tensor([2, 0]), 3).data
        if hasattr(cr, "nn")
        else _F(cr).one_hot(cr.tensor([2, 0]), 3).data,
        [[0, 0, 1], [1, 0, 0]],
    )


def test_comparisons_and_indices_never_require_grad():
    x = cr.tensor([1.0, -2.0, 3.0], requires_grad=True)
    for out in (
        x.eq(1.0),
        cr.gt(x, 0),
        x.isnan(),
        x.argsort(),
        x.topk(2).indices,
        x.sort().indices,
        cr.nonzero(x > 0),
        cr.isclose(x, x),
    ):
        assert not out.requires_grad
    assert x.topk(2).values.requires_grad and x.sort().values.requires_grad


def test_torch_trace_is_the_method_and_chainrule_trace_the_table():
    """chainrule.trace stays the trace-table function (an existing feature); the matrix trace is
    Tensor.trace() and chainrule.ops.arrange.trace."""
    from chainrule.autograd import trace as trace_table

    assert cr.trace is trace_table
    assert cr.tensor([[1.0, 2.0], [3.0, 4.0]]).trace().item() == 5.0


# ---------------------------------------------------------------- bad input: clear errors naming the op
@pytest.mark.parametrize(
    "call, exc, words",
    [
        (lambda: cr.tril(cr.ones(3)), RuntimeError, ["tril", "2 dimensions", "(3,)"]),
        (lambda: cr.topk(cr.ones(2, 3), 4), RuntimeError, ["topk", "k (4)", "size 3"]),
        (lambda: cr.kthvalue(cr.ones(3), 0), RuntimeError, ["kthvalue", "out of range"]),
        (lambda: cr.einsum("ij,jk->ik", cr.ones(2, 3), cr.ones(4, 2)), RuntimeError, ["einsum", "j", "3", "4"]),
        (lambda: cr.einsum("ij->i", cr.ones(2, 3), cr.ones(3)), RuntimeError, ["einsum", "1 operands", "2 tensors"]),
        (lambda: cr.einsum("ii->i", cr.ones(2, 3)), RuntimeError, ["einsum", "repeated", "(2, 3)"]),
        (lambda: cr.narrow(cr.ones(4), 0, 3, 2), IndexError, ["narrow", "size 4"]),
        (lambda: _F(cr).one_hot(cr.tensor([0.5])), RuntimeError, ["one_hot", "float"]),
        (lambda: _F(cr).one_hot(cr.tensor([3]), 2), RuntimeError, ["one_hot", "num_classes"]),
        (lambda: cr.div(cr.ones(2), 2, rounding_mode="round"), ValueError, ["rounding_mode", "round"]),
        (lambda: cr.cross(cr.ones(2, 4), cr.ones(2, 4)), RuntimeError, ["cross", "size 3"]),
        (lambda: cr.roll(cr.ones(3, 3), (1, 2), 0), RuntimeError, ["roll", "same length"]),
        (lambda: cr.tensor([1, 2]).exp_(), RuntimeError, ["exp_", "float", "int64"]),
        (lambda: cr.tensor([1, 2]).div_(2), RuntimeError, ["div", "can't be cast"]),
        (lambda: cr.ones(2, requires_grad=True).exp_(), RuntimeError, ["exp_", "leaf"]),
        (lambda: cr.quantile(cr.ones(3), 1.5), RuntimeError, ["quantile", "[0, 1]"]),
        (
            lambda: cr.index_add(cr.ones(3, 2), 0, cr.tensor([0, 1]), cr.ones(3, 2)),
            RuntimeError,
            ["index_add", "2 entries"],
        ),
        (lambda: cr.masked_select(cr.ones(3), cr.tensor([1, 0, 1])), RuntimeError, ["masked_select", "bool"]),
        (lambda: cr.bincount(cr.tensor([-1, 2])), RuntimeError, ["bincount", "non-negative"]),
        (lambda: cr.eq(1, 2), TypeError, ["eq", "Tensor"]),
        (lambda: cr.diagonal(cr.ones(3, 3), 0, 1, 1), RuntimeError, ["diagonal", "same"]),
        # PyTorch's message: "bad is not a valid value for compute_mode"
        (lambda: cr.cdist(cr.ones(2, 3), cr.ones(4, 3), compute_mode="bad"), ValueError, ["bad", "compute_mode"]),
    ],
)
def test_bad_input_raises_a_clear_error(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def test_queries_and_dtype_rules_match_torch():
    torch = pytest.importorskip("torch")
    pairs = [(D34, 2.5), (INTS, 2.5), (INTS, 2), (np.array([True]), 1), (D34.astype(np.float32), D34)]
    for a, b in pairs:
        want = torch.result_type(torch.tensor(a), torch.tensor(b) if isinstance(b, np.ndarray) else b)
        got = cr.result_type(cr.tensor(a), cr.tensor(b) if isinstance(b, np.ndarray) else b)
        assert str(want).replace("torch.", "") == str(got), (a.dtype, b)
    names = ["float32", "float64", "int64", "int32", "uint8", "bool", "int8", "int16"]
    for f in names:
        for t in names:
            tf, tt = getattr(torch, f), getattr(torch, t)
            assert cr.can_cast(getattr(cr, f), getattr(cr, t)) == torch.can_cast(tf, tt), (f, t)
            assert str(cr.promote_types(getattr(cr, f), getattr(cr, t))) == str(torch.promote_types(tf, tt)).replace(
                "torch.", ""
            ), (f, t)
    assert cr.broadcast_shapes((2, 1), (3,), 1) == tuple(torch.broadcast_shapes((2, 1), (3,), 1))
    x = cr.tensor(D34)
    assert cr.is_floating_point(x) and not cr.is_floating_point(cr.tensor(INTS)) and not cr.is_complex(x)
    assert cr.is_signed(cr.tensor(INTS)) and not cr.is_signed(cr.tensor([True]))
    assert cr.is_nonzero(cr.tensor([0.5])) and not cr.is_nonzero(cr.tensor(0))
    with pytest.raises(RuntimeError, match="is_nonzero"):
        cr.is_nonzero(x)
    s = cr.scalar_tensor(3)
    assert s.shape == () and s.dtype == cr.float32 and s.item() == 3.0
    y = cr.tensor(D34, requires_grad=True)
    (cr.clone(y) * 2 + cr.detach(y)).sum().backward()
    assert np.array_equal(y.grad.data, np.full(D34.shape, 2.0))
    assert [p.shape for p in cr.split_with_sizes(x, [1, 3], 1)] == [(3, 1), (3, 3)]
    assert cr.concatenate([x, x], 1).shape == (3, 8)


def test_polygamma_against_mpmath():
    """ψ⁽ⁿ⁾ to float64 rounding on both sides of 0 and in the asymptotic range (mpmath's 50 digits)."""
    mpmath = pytest.importorskip("mpmath")
    x = np.array([-7.3, -2.5, -0.3, 0.01, 0.1, 0.5, 1.0, 2.7, 9.9, 10.5, 23.0, 50.0, 1e4])
    for n in range(5):
        got = cr.polygamma(n, cr.tensor(x)).data
        want = np.array([float(mpmath.polygamma(n, mpmath.mpf(v))) for v in x])
        # (1e-11: for x < 0 the recurrence's alternating terms cancel a little; elsewhere ~1e-16)
        assert np.allclose(got, want, rtol=1e-11, atol=0), n
    want = np.array([float(mpmath.loggamma(v).real) for v in x])
    assert np.allclose(cr.lgamma(cr.tensor(x)).data, want, rtol=1e-13, atol=1e-15)
    poles = cr.tensor([0.0, -1.0, -2.0])
    assert np.array_equal(cr.lgamma(poles).data, [np.inf] * 3)
    assert cr.digamma(poles).data[0] == -np.inf and np.isnan(cr.digamma(poles).data[1:]).all()


def test_random_in_place_fills_have_the_right_distribution():
    g = cr.Generator().manual_seed(0) if hasattr(cr.Generator(), "manual_seed") else None
    x = cr.empty(20000, dtype=cr.float64)
    assert abs(np.median(x.log_normal_(0.5, 0.25, generator=g).data) - np.exp(0.5)) < 0.02  # median e^μ
    assert abs(np.median(x.cauchy_(1.0, 2.0, generator=g).data) - 1.0) < 0.1  # median = location
    assert abs(x.geometric_(0.25, generator=g).data.mean() - 4.0) < 0.15  # mean 1/p, support 1, 2, ...
    assert x.data.min() >= 1
    p = cr.full((20000,), 0.3, dtype=cr.float64)
    assert abs(p.bernoulli(generator=g).data.mean() - 0.3) < 0.02 and not p.bernoulli().requires_grad
