"""OpInfo-style oracle: the done tensor functions of torch, torch.Tensor and torch.nn.functional
compared with PyTorch, values and gradients, on random float64 inputs (issue 12 item 7).

The table ``SPECS`` maps a name to its sample inputs: each sample is a list of arguments (NumPy
arrays become tensors on both sides; float arrays require grad) and keyword arguments, with
ordinary, broadcast and empty shapes. For every sample the outputs must match PyTorch's
(integer/bool outputs exactly), and the gradients of ``sum(w * out)`` for a random ``w`` with
respect to every float input too. The done names of the three namespaces (from the committed
coverage table, docs/reference/api-coverage.json) that have no sample here are listed in
``NOT_COVERED`` with the reason; a test keeps the two lists complete. Skipped without PyTorch
(the gradcheck tests of each op still run then).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as crF

torch = pytest.importorskip("torch")
tF = torch.nn.functional

R = np.random.default_rng(12)
COVERAGE = json.loads((Path(__file__).resolve().parent.parent / "docs/reference/api-coverage.json").read_text())


def u(*shape, lo=-2.0, hi=2.0):
    return R.uniform(lo, hi, shape)


def pos(*shape):
    return R.uniform(0.3, 2.0, shape)


def unit(*shape):
    return R.uniform(-0.9, 0.9, shape)


def ints(hi, *shape):
    return R.integers(0, hi, shape)


class Idx:
    """An integer-array argument (indices, targets): a long tensor on both sides, no grad."""

    def __init__(self, a):
        self.a = np.asarray(a, dtype=np.int64)


class Const:
    """A float argument that is not differentiated (targets, class weights, running statistics)."""

    def __init__(self, a):
        self.a = np.asarray(a, dtype=np.float64)


def nograd(samples):
    """The samples with every float array as a Const (ops PyTorch does not differentiate)."""
    def c(a):
        return Const(a) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
    return [([c(a) for a in args], {k: c(v) for k, v in kw.items()}) for args, kw in samples]


class Mask:
    def __init__(self, a):
        self.a = np.asarray(a, dtype=bool)


UNARY_SHAPES = [(3, 4), (), (0, 3), (2, 3, 2)]
BINARY_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((0, 4), (4,)), ((), (2, 2))]


def unary(gen=u, **kw):
    return [([gen(*s)], kw) for s in UNARY_SHAPES]


def binary(gen=u, gen2=None, **kw):
    gen2 = gen2 or gen
    return [([gen(*a), gen2(*b)], kw) for a, b in BINARY_SHAPES]


def reduce_(gen=u, dims=True, **kw):
    out = [([gen(3, 4)], kw), ([gen(2, 3, 4)], kw)]
    if dims:
        out += [([gen(3, 4)], dict(kw, dim=1)), ([gen(2, 3, 4)], dict(kw, dim=0, keepdim=True)),
                ([gen(2, 3, 4)], dict(kw, dim=-1))]
    return out


def dim_only(gen=u, **kw):
    return [([gen(3, 4)], dict(kw, dim=1)), ([gen(2, 3, 4)], dict(kw, dim=0)), ([gen(0, 4)], dict(kw, dim=1))]


# ------------------------------------------------------------------------------- the sample table
# (name, namespaces) -> samples; namespaces: "t" torch.<name>, "m" Tensor method, "f" F.<name>,
# "i" the in-place method ``name`` applied to a copy of the first argument (``y = x * 1; y.name(...)``)
SPECS: dict[tuple[str, str], list] = {}


def spec(names: str, ns: str, samples):
    for n in names.split():
        SPECS[(n, ns)] = samples


spec("abs neg negative sin cos tanh sigmoid atan sinh cosh asinh exp expm1 square sign sgn erf erfc "
     "relu deg2rad rad2deg exp2 sinc positive fix trunc floor ceil round frac nan_to_num tan absolute", "tm", unary())
spec("ravel", "tm", unary())
spec("clone detach", "tm", unary())
spec("log log2 log10 sqrt rsqrt reciprocal", "tm", unary(pos))
spec("log1p", "tm", unary(lambda *s: R.uniform(-0.5, 2.0, s)))
spec("asin acos atanh erfinv arcsin arccos arctanh", "tm", unary(unit))
spec("arctan arcsinh", "tm", unary())
spec("acosh arccosh", "tm", unary(lambda *s: R.uniform(1.2, 3.0, s)))
spec("logit", "tm", unary(lambda *s: R.uniform(0.1, 0.9, s)))
spec("i0", "tm", unary())  # (added by HACKING.md's recipe, with ldexp)
spec("add sub mul div subtract multiply divide true_divide maximum minimum atan2 arctan2 hypot fmax fmin "
     "logaddexp logaddexp2 copysign", "tm", binary())
spec("pow float_power", "tm", binary(pos))
spec("fmod remainder", "tm", binary(u, lambda *s: R.choice([-1.0, 1.0], s) * R.uniform(0.5, 2.0, s)))
spec("xlogy", "tm", binary(u, pos))
spec("ldexp", "tm", binary())
spec("eq ne lt le gt ge greater less greater_equal less_equal not_equal isclose", "tm", binary())
spec("isnan isinf isfinite isposinf isneginf signbit isreal", "tm", unary())
spec("sum mean nansum nanmean amax amin", "tm", reduce_())
spec("prod", "tm", [([u(3, 4)], {}), ([u(3, 4)], dict(dim=1)), ([u(2, 3, 4)], dict(dim=0, keepdim=True))])
spec("std var", "tm", reduce_() + [([u(3, 5)], dict(dim=1, correction=0)), ([u(4, 3)], dict(dim=0, unbiased=False))])
spec("logsumexp", "tm", dim_only())
spec("cumsum cumprod softmax log_softmax", "tm", dim_only())
spec("cummax cummin", "tm", [([u(3, 4)], dict(dim=1)), ([u(2, 3, 4)], dict(dim=0))])
spec("max min", "tm", [([u(3, 4)], {}), ([u(3, 4)], dict(dim=1)), ([u(2, 3, 4)], dict(dim=0, keepdim=True))])
spec("argmax argmin", "tm", [([u(3, 4)], {}), ([u(3, 4)], dict(dim=1)), ([u(2, 3, 4)], dict(dim=-1, keepdim=True))])
spec("all any count_nonzero", "tm", [([u(3, 4) > 0], {}), ([u(3, 4) > 0], dict(dim=1))])
spec("norm", "tm", [([u(3, 4)], {}), ([u(3, 4)], dict(p=1, dim=1)), ([u(2, 3, 4)], dict(dim=(1, 2)))])
spec("median", "tm", [([u(3, 5)], {}), ([u(3, 5)], dict(dim=1))])
spec("sort", "tm", [([u(3, 4)], {}), ([u(3, 4)], dict(dim=0, descending=True))])
spec("argsort", "tm", [([u(3, 4)], {}), ([u(3, 4)], dict(dim=0, descending=True))])
spec("topk", "tm", [([u(3, 5), 2], {}), ([u(4, 3), 2], dict(dim=0, largest=False))])
spec("kthvalue", "tm", [([u(3, 5), 2], {}), ([u(4, 3), 1], dict(dim=0))])
spec("clamp clip", "tm", [([u(3, 4)], dict(min=-0.5, max=0.7)), ([u(3, 4)], dict(min=0.1))])
spec("clamp_min", "tm", [([u(3, 4), 0.2], {})])
spec("clamp_max", "tm", [([u(3, 4), 0.2], {})])
spec("lerp", "tm", [([u(3, 4), u(3, 4), 0.3], {}), ([u(3, 4), u(4), u(3, 4)], {})])
spec("addcmul addcdiv", "tm", [([u(3, 4), u(3, 4), pos(4)], dict(value=0.5))])
spec("where", "t", [([Mask(u(3, 4) > 0), u(3, 4), u(4)], {}), ([Mask(u(0, 2) > 0), u(0, 2), u(0, 2)], {})])
spec("matmul", "tm", [([u(3, 4), u(4, 2)], {}), ([u(2, 3, 4), u(4)], {}), ([u(4), u(2, 4, 3)], {}),
                      ([u(2, 1, 3, 4), u(5, 4, 2)], {}), ([u(0, 4), u(4, 2)], {})])
spec("mm", "tm", [([u(3, 4), u(4, 2)], {}), ([u(0, 4), u(4, 2)], {})])
spec("bmm", "tm", [([u(2, 3, 4), u(2, 4, 5)], {})])
spec("mv", "tm", [([u(3, 4), u(4)], {})])
spec("dot inner vdot", "tm", [([u(4), u(4)], {})])
spec("outer", "tm", [([u(3), u(4)], {})])
spec("ger", "m", [([u(3), u(4)], {})])
spec("cross", "tm", [([u(4, 3), u(4, 3)], dict(dim=1))])
spec("kron", "tm", [([u(2, 3), u(3, 2)], {})])
spec("addmm", "tm", [([u(3, 2), u(3, 4), u(4, 2)], {}), ([u(2), u(3, 4), u(4, 2)], dict(beta=0.5, alpha=2.0))])
spec("addmv", "tm", [([u(3), u(3, 4), u(4)], {})])
spec("baddbmm", "tm", [([u(2, 3, 5), u(2, 3, 4), u(2, 4, 5)], {})])
spec("tensordot", "t", [([u(3, 4, 2), u(4, 2, 5)], dict(dims=2))])
spec("einsum", "t", [(["ij,jk->ik", u(3, 4), u(4, 2)], {}), (["bij,bjk->bik", u(2, 3, 4), u(2, 4, 5)], {}),
                     (["ii->i", u(3, 3)], {}), (["i,j->ij", u(3), u(2)], {})])
spec("tril triu", "tm", [([u(4, 4)], {}), ([u(3, 5)], dict(diagonal=1)), ([u(2, 3, 3)], dict(diagonal=-1))])
spec("diag", "tm", [([u(4, 4)], {}), ([u(3)], {}), ([u(3, 4)], dict(diagonal=1))])
spec("diagonal", "tm", [([u(4, 4)], {}), ([u(2, 3, 4)], dict(offset=1, dim1=1, dim2=2))])
spec("diag_embed", "tm", [([u(2, 3)], {})])
spec("flip", "tm", [([u(3, 4), (0,)], {}), ([u(2, 3, 4), (0, 2)], {})])
spec("fliplr flipud", "tm", [([u(3, 4)], {})])
spec("roll", "tm", [([u(3, 4), 1], {}), ([u(3, 4), (1, -2), (0, 1)], {})])
spec("rot90", "tm", [([u(3, 4)], {}), ([u(3, 4), 2, (0, 1)], {})])
spec("transpose swapaxes swapdims", "tm", [([u(3, 4), 0, 1], {}), ([u(2, 3, 4), -1, 0], {})])
spec("t", "tm", [([u(3, 4)], {}), ([u(3)], {})])
spec("permute", "t", [([u(2, 3, 4), (2, 0, 1)], {})])
spec("movedim moveaxis", "tm", [([u(2, 3, 4), 0, -1], {})])
spec("reshape", "tm", [([u(3, 4), (2, 6)], {}), ([u(3, 4), (-1,)], {}), ([u(0, 4), (4, 0)], {})])
spec("flatten", "tm", [([u(2, 3, 4)], {}), ([u(2, 3, 4)], dict(start_dim=1))])
spec("unflatten", "tm", [([u(2, 12), 1, (3, 4)], {})])
spec("squeeze", "tm", [([u(3, 1, 4)], {}), ([u(3, 1, 4)], dict(dim=1))])
spec("unsqueeze", "tm", [([u(3, 4), 1], {}), ([u(3, 4), -1], {})])
spec("narrow", "tm", [([u(5, 4), 0, 1, 3], {})])
spec("chunk", "tm", [([u(6, 4), 3], {}), ([u(5, 4), 2], dict(dim=0))])
spec("split", "tm", [([u(6, 4), 2], {}), ([u(5, 4), [2, 3]], {})])
spec("tensor_split", "tm", [([u(7, 4), 3], {})])
spec("unbind", "tm", [([u(3, 4)], {}), ([u(3, 4)], dict(dim=1))])
spec("hsplit vsplit", "tm", [([u(4, 4), 2], {})])
spec("cat concat concatenate", "t", [([[u(2, 3), u(1, 3)]], {}), ([[u(2, 3), u(2, 1)]], dict(dim=1)),
                                     ([[u(0, 3), u(2, 3)]], {})])
spec("stack", "t", [([[u(2, 3), u(2, 3)]], {}), ([[u(2, 3), u(2, 3)]], dict(dim=-1))])
spec("hstack vstack dstack column_stack row_stack", "t", [([[u(2, 3), u(2, 3)]], {})])
spec("broadcast_to", "tm", [([u(3, 1), (2, 3, 4)], {})])
spec("expand", "m", [([u(3, 1), 2, 3, 4], {})])
spec("repeat", "m", [([u(2, 3), 2, 1, 2], {})])
spec("tile", "tm", [([u(2, 3), (2, 2)], {})])
spec("repeat_interleave", "tm", [([u(2, 3), 2], {}), ([u(2, 3), 2], dict(dim=1))])
spec("gather", "tm", [([u(3, 4), 1, Idx(ints(4, 3, 2))], {})])
spec("take_along_dim", "tm", [([u(3, 4), Idx(ints(4, 3, 2))], dict(dim=1))])
spec("index_select", "tm", [([u(4, 3), 0, Idx([0, 2, 2])], {}), ([u(4, 3), 1, Idx([1])], {})])
spec("take", "tm", [([u(3, 4), Idx([0, 5, 11])], {})])
spec("masked_fill", "tm", [([u(3, 4), Mask(u(3, 4) > 0), 0.5], {}), ([u(3, 4), Mask(u(4) > 0), -1.0], {})])
spec("masked_select", "tm", [([u(3, 4), Mask(u(3, 4) > 0)], {})])
spec("scatter_add", "tm", [([u(3, 4), 1, Idx(ints(4, 3, 2)), u(3, 2)], {})])
spec("scatter", "tm", [([u(3, 4), 1, Idx([[0, 1], [2, 3], [1, 0]]), u(3, 2)], {})])
spec("index_add", "tm", [([u(4, 3), 0, Idx([0, 2, 2]), u(3, 3)], {})])
spec("index_copy", "tm", [([u(4, 3), 0, Idx([0, 3]), u(2, 3)], {})])
spec("index_fill", "tm", [([u(4, 3), 0, Idx([0, 3]), 0.5], {})])
spec("nonzero argwhere", "tm", [([u(3, 4) > 0], {})])
spec("unique", "tm", [([Idx(ints(4, 10))], {})])
spec("bincount", "tm", [([Idx(ints(5, 10))], {})])
spec("searchsorted", "t", [([np.sort(u(6)), u(3, 2)], {})])
spec("bucketize", "t", [([u(3, 2), np.sort(u(6))], {})])
spec("histc", "tm", [([u(20)], dict(bins=5, min=-2, max=2))])
spec("cdist", "t", [([u(3, 4), u(5, 4)], {}), ([u(2, 3, 4), u(2, 5, 4)], dict(p=1.0))])
spec("dist", "tm", [([u(3, 4), u(3, 4)], {}), ([u(3, 4), u(4)], dict(p=1))])
spec("cosine_similarity", "f", [([u(3, 4), u(3, 4)], {}), ([u(3, 4), u(4)], dict(dim=-1))])
spec("pairwise_distance", "f", [([u(3, 4), u(3, 4)], {})])
spec("cov corrcoef", "tm", [([u(3, 6)], {})])
spec("trapezoid trapz", "t", [([u(3, 5)], {})])
spec("diff", "tm", [([u(3, 5)], {}), ([u(3, 5)], dict(dim=0))])
spec("logcumsumexp", "tm", [([u(3, 4), 1], {})])
spec("aminmax", "tm", [([u(3, 4)], dict(dim=1))])
spec("mode", "tm", [([np.round(u(3, 6))], {})])
spec("block_diag", "t", [([u(2, 2), u(1, 3)], {})])
spec("cartesian_prod", "t", [([u(3), u(2)], {})])
spec("triu_indices tril_indices", "t", [([3, 4], {}), ([4, 4, 1], {})])
spec("vander", "t", nograd([([u(4)], dict(N=3))]))  # PyTorch's own vander backward fails
spec("heaviside", "tm", nograd([([u(3, 4), u(4)], {})]))  # no derivative in PyTorch
spec("frac", "tm", unary())
spec("floor_divide", "tm", nograd([([u(3, 4), np.full(4, 0.7)], {})]))
spec("bitwise_and bitwise_or bitwise_xor", "tm", [([Idx(ints(8, 3, 4)), Idx(ints(8, 4))], {})])
spec("logical_and logical_or logical_xor", "tm", [([u(3, 4) > 0, u(4) > 0], {})])
spec("logical_not", "tm", [([u(3, 4) > 0], {})])
spec("numel", "t", [([u(3, 4)], {}), ([u(0, 4)], {})])
spec("allclose equal", "tm", [([u(3, 4), u(3, 4)], {})])
spec("zeros_like ones_like", "t", [([u(3, 4)], {})])
spec("full_like", "t", [([u(3, 4), 2.5], {})])

spec("addbmm", "tm", [([u(3, 5), u(2, 3, 4), u(2, 4, 5)], {})])
spec("addr", "tm", [([u(3, 4), u(3), u(4)], dict(alpha=2.0))])
spec("atleast_1d atleast_2d atleast_3d", "t", [([u()], {}), ([u(3)], {}), ([u(2, 3)], {})])
spec("bitwise_not", "tm", [([Idx(ints(8, 3, 4))], {})])
spec("bitwise_left_shift bitwise_right_shift", "tm", [([Idx(ints(8, 3, 4)), Idx(ints(3, 4))], {})])
spec("gcd lcm", "tm", [([Idx(ints(20, 3, 4)), Idx(ints(20, 4))], {})])
spec("chain_matmul", "t", [([u(2, 3), u(3, 4), u(4, 2)], {})])
spec("combinations", "t", [([u(4)], {}), ([u(4)], dict(r=3, with_replacement=True))])
spec("cumulative_trapezoid", "t", [([u(3, 5)], {})])
spec("diagflat", "tm", [([u(3)], {}), ([u(2, 2)], dict(offset=1))])
spec("diagonal_scatter", "tm", [([u(3, 3), u(3)], {})])
spec("select_scatter", "tm", [([u(3, 4), u(4), 0, 1], {})])
spec("slice_scatter", "tm", [([u(5, 4), u(2, 4)], dict(start=1, end=3))])
spec("dsplit", "tm", [([u(2, 2, 4), 2], {})])
spec("isin", "t", [([Idx(ints(5, 3, 4)), Idx([1, 3])], {})])
spec("masked_scatter", "tm", [([u(3, 4), Mask(u(3, 4) > 0), u(12)], {})])
spec("meshgrid", "t", [([u(3), u(2)], dict(indexing="ij")), ([u(3), u(2)], dict(indexing="xy"))])
spec("msort", "tm", [([u(4, 3)], {})])
spec("quantile", "tm", [([u(3, 5), 0.3], {}), ([u(3, 5), 0.75], dict(dim=1, keepdim=True))])
spec("rsub", "t", [([u(3, 4), u(4)], {})])
spec("select", "tm", [([u(3, 4), 1, 2], {})])
spec("split_with_sizes", "tm", [([u(5, 4), [2, 3]], {})])
spec("unsafe_chunk", "tm", [([u(6, 4), 3], {})])
spec("unsafe_split", "tm", [([u(6, 4), 2], {})])
spec("std_mean var_mean", "t", [([u(3, 4)], {}), ([u(3, 4)], dict(dim=1))])
spec("unique_consecutive", "tm", [([Idx([1, 1, 2, 2, 3, 1, 1])], {})])
spec("broadcast_tensors", "t", [([u(3, 1), u(4)], {})])
spec("sum_to_size", "m", [([u(3, 4), 1, 4], {}), ([u(2, 3, 4), 3, 1], {})])
spec("expand_as view_as reshape_as type_as", "m", [([u(1, 4), u(3, 4)], {})])
spec("view", "m", [([u(3, 4), 2, 6], {}), ([u(3, 4), -1], {})])
spec("permute", "m", [([u(2, 3, 4), 2, 0, 1], {})])
spec("unfold", "m", [([u(3, 7), 1, 3, 2], {})])
spec("where", "m", [([u(3, 4), Mask(u(3, 4) > 0), u(4)], {})])
spec("contiguous", "m", unary())
spec("digamma lgamma", "tm", unary(pos))
spec("mvlgamma", "tm", [([R.uniform(1.5, 4.0, (3, 4)), 2], {}), ([R.uniform(1.5, 4.0, (5,)), 3], {})])
spec("polygamma", "t", [([1, pos(3, 4)], {}), ([2, pos(5)], {})])
spec("polygamma", "m", [([pos(3, 4), 1], {})])
spec("nanmedian", "tm", [([u(3, 5)], {}), ([u(3, 5)], dict(dim=1))])
spec("scatter_reduce", "tm", [([u(3, 4), 1, Idx(ints(4, 3, 2)), u(3, 2)], dict(reduce=r, include_self=i))
                              for r in ("sum", "mean") for i in (True, False)])
# (scatter_reduce: chainrule raises NotImplementedError for reduce='prod'/'amax'/'amin', so only sum/mean here)
spec("trace", "m", [([u(3, 3)], {}), ([u(2, 4)], {})])  # (torch.trace: chainrule.trace is the notes' table)
spec("unravel_index", "t", [([Idx([1, 5, 11]), (3, 4)], {})])
spec("numel nelement dim ndimension", "m", [([u(3, 4)], {}), ([u()], {})])
spec("fill_", "i", [([u(3, 4), 0.5], {})])
spec("zero_", "i", [([u(3, 4)], {})])
spec("copy_", "i", [([u(3, 4), u(4)], {}), ([u(3, 4), u(3, 4)], {})])
spec("fill_diagonal_", "i", [([u(3, 3), 2.0], {}), ([u(5, 2), 1.0], dict(wrap=True))])

# torch.nn.functional
spec("relu relu6 elu selu celu gelu silu mish softplus softsign hardtanh hardsigmoid hardswish "
     "logsigmoid tanhshrink softshrink hardshrink sigmoid tanh", "f", unary())
spec("leaky_relu", "f", unary() + [([u(3, 4), 0.2], {})])
spec("elu", "f", unary() + [([u(3, 4)], dict(alpha=0.5))])
spec("gelu", "f", unary() + [([u(3, 4)], dict(approximate="tanh"))])
spec("softplus", "f", [([u(3, 4)], dict(beta=2.0, threshold=1.0))])
spec("threshold", "f", [([u(3, 4), 0.1, -1.0], {})])
spec("glu", "f", [([u(3, 4)], {}), ([u(4, 3)], dict(dim=0))])
spec("softmax log_softmax softmin", "f", dim_only())
spec("normalize", "f", [([u(3, 4)], {}), ([u(3, 4)], dict(p=1.0, dim=0))])
spec("linear", "f", [([u(3, 4), u(2, 4), u(2)], {}), ([u(2, 3, 4), u(2, 4)], {}), ([u(0, 4), u(2, 4), u(2)], {})])
spec("bilinear", "f", [([u(3, 4), u(3, 2), u(5, 4, 2), u(5)], {})])
spec("soft_margin_loss", "f", [([u(3, 4), Const(np.sign(u(3, 4)))], {}),
                               ([u(5), Const(np.sign(u(5)))], dict(reduction="sum"))])
spec("mse_loss l1_loss smooth_l1_loss huber_loss", "f",
     [([u(3, 4), u(3, 4)], {}),
      ([u(3, 4), u(3, 4)], dict(reduction="sum")), ([u(3, 4), u(3, 4)], dict(reduction="none"))])
spec("binary_cross_entropy", "f", [([R.uniform(0.05, 0.95, (3, 4)), R.uniform(0, 1, (3, 4))], {}),
                                   ([R.uniform(0.05, 0.95, (5,)), R.uniform(0, 1, (5,)), Const(pos(5))], {})])
spec("binary_cross_entropy_with_logits", "f", [([u(3, 4), R.uniform(0, 1, (3, 4))], {}),
                                               ([u(3, 4), R.uniform(0, 1, (3, 4))], dict(pos_weight=Const(pos(4))))])
spec("cross_entropy", "f", [([u(5, 4), Idx(ints(4, 5))], {}), ([u(5, 4), Idx(ints(4, 5))], dict(label_smoothing=0.1)),
                            ([u(2, 4, 3), Idx(ints(4, 2, 3))], {}), ([u(5, 4), Idx([0, 1, -100, 2, 3])], {}),
                            ([u(5, 4), Idx(ints(4, 5))], dict(weight=Const(pos(4)), reduction="sum")),
                            ([u(5, 4), R.dirichlet(np.ones(4), 5)], {})])
# (the reference composition: PyTorch's chunked path, options=..., is compared in tests/test_linear_cross_entropy.py)
spec("linear_cross_entropy", "f", [([u(5, 3), u(4, 3), Idx(ints(4, 5))], {}),
                                   ([u(5, 3), u(4, 3), Idx([0, 1, -100, 2, 3])],
                                    dict(linear_bias=Const(u(4)), weight=Const(pos(4)), reduction="sum")),
                                   ([u(3), u(4, 3), Idx(2)], dict(reduction="none")),
                                   ([u(2, 3), u(4, 2, 3), Idx(ints(4, 2, 2))], dict(label_smoothing=0.1)),
                                   ([u(5, 3), u(4, 3), R.dirichlet(np.ones(4), 5)], dict(reduction="none")),
                                   ([u(5, 3), u(4, 3), R.dirichlet(np.ones(4), 5)], dict(ignore_index=1))])
spec("nll_loss", "f", [([u(5, 4), Idx(ints(4, 5))], {}), ([u(5, 4), Idx(ints(4, 5))], dict(weight=Const(pos(4))))])
spec("kl_div", "f", [([u(3, 4), R.uniform(0.1, 1, (3, 4))], dict(reduction="batchmean")),
                     ([u(3, 4), u(3, 4)], dict(reduction="sum", log_target=True))])
spec("poisson_nll_loss", "f", [([u(3, 4), pos(3, 4)], {})])
spec("gaussian_nll_loss", "f", [([u(3, 4), u(3, 4), pos(3, 4)], {})])
spec("margin_ranking_loss", "f", [([u(5), u(5), np.sign(u(5))], {})])
spec("hinge_embedding_loss", "f", [([u(5), np.sign(u(5))], {})])
spec("cosine_embedding_loss", "f", [([u(5, 3), u(5, 3), np.sign(u(5))], {})])
spec("triplet_margin_loss", "f", [([u(5, 3), u(5, 3), u(5, 3)], {})])
spec("multilabel_soft_margin_loss", "f", [([u(3, 4), (u(3, 4) > 0).astype(float)], {})])
spec("multi_margin_loss", "f", [([u(5, 4), Idx(ints(4, 5))], {})])
spec("conv1d", "f", [([u(2, 3, 8), u(4, 3, 3), u(4)], {}),
                     ([u(2, 4, 9), u(4, 2, 3)], dict(stride=2, padding=1, groups=2))])
spec("conv2d", "f", [([u(2, 3, 6, 6), u(4, 3, 3, 3), u(4)], {}),
                     ([u(1, 2, 7, 7), u(2, 2, 3, 3)], dict(stride=2, padding=1, dilation=2))])
spec("conv_transpose1d", "f", [([u(2, 3, 5), u(3, 2, 3), u(2)], dict(stride=2))])
spec("conv_transpose2d", "f", [([u(1, 3, 4, 4), u(3, 2, 3, 3)], dict(stride=2, padding=1))])
spec("avg_pool1d", "f", [([u(2, 3, 8), 2], {})])
spec("avg_pool2d", "f", [([u(2, 3, 6, 6), 2], {}), ([u(1, 2, 7, 7), 3], dict(stride=2, padding=1))])
spec("max_pool1d", "f", [([u(2, 3, 8), 2], {})])
spec("max_pool2d", "f", [([u(2, 3, 6, 6), 2], {}), ([u(1, 2, 7, 7), 3], dict(stride=2, padding=1))])
spec("adaptive_avg_pool1d", "f", [([u(2, 3, 8), 3], {})])
spec("adaptive_avg_pool2d", "f", [([u(2, 3, 6, 7), (2, 3)], {})])
spec("adaptive_max_pool1d", "f", [([u(2, 3, 8), 3], {})])
spec("adaptive_max_pool2d", "f", [([u(2, 3, 6, 7), (2, 3)], {})])
spec("layer_norm", "f", [([u(3, 4), (4,)], {}), ([u(2, 3, 4), (3, 4), u(3, 4), u(3, 4)], {})])
spec("group_norm", "f", [([u(2, 4, 3), 2], {}), ([u(2, 4, 3), 2, u(4), u(4)], {})])
spec("rms_norm", "f", [([u(3, 4), (4,)], {})])
spec("batch_norm", "f", [([u(5, 3), Const(np.zeros(3)), Const(np.ones(3))], dict(training=True)),
                         ([u(5, 3, 4), Const(u(3)), Const(pos(3)), u(3), u(3)], {})])
spec("instance_norm", "f", [([u(2, 3, 5)], {})])
spec("embedding", "f", [([Idx(ints(5, 2, 3)), u(5, 4)], {}), ([Idx(ints(5, 4)), u(5, 4)], dict(padding_idx=0))])
spec("one_hot", "f", [([Idx(ints(4, 5))], {}), ([Idx(ints(3, 2, 2)), 5], {})])
spec("pad", "f", [([u(2, 3), (1, 2)], {}), ([u(1, 2, 3, 4), (1, 1, 2, 0)], dict(mode="reflect")),
                  ([u(1, 2, 4), (2, 1)], dict(mode="replicate")), ([u(1, 2, 4), (2, 1)], dict(mode="circular"))])
spec("pixel_shuffle", "f", [([u(1, 8, 2, 3), 2], {})])
spec("pixel_unshuffle", "f", [([u(1, 2, 4, 6), 2], {})])
spec("interpolate", "f", [([u(1, 2, 5)], dict(scale_factor=2)),
                          ([u(1, 2, 3, 4)], dict(size=(5, 6), mode="bilinear", align_corners=False))])
spec("unfold", "f", [([u(1, 2, 5, 5), 2], {})])
spec("fold", "f", [([u(1, 8, 16), (5, 5), 2], {})])
spec("scaled_dot_product_attention", "f", [([u(2, 3, 4), u(2, 5, 4), u(2, 5, 2)], {}),
                                           ([u(2, 4, 4), u(2, 4, 4), u(2, 4, 3)], dict(is_causal=True))])
spec("relu_", "f", nograd(unary()))
spec("upsample upsample_nearest", "f", [([u(1, 2, 5)], dict(scale_factor=2))])
spec("upsample_bilinear", "f", [([u(1, 2, 3, 4)], dict(size=(5, 6)))])
spec("embedding_bag", "f", [([Idx(ints(5, 2, 3)), u(5, 4)], dict(mode="mean")),
                            ([Idx(ints(5, 2, 3)), u(5, 4)], dict(mode="max"))])
spec("celu_ elu_ selu_ hardtanh_ leaky_relu_ threshold_", "f", [])
for _n in ("celu_", "elu_", "selu_", "hardtanh_", "leaky_relu_"):
    SPECS[(_n, "f")] = nograd(unary())
SPECS[("threshold_", "f")] = nograd([([u(3, 4), 0.1, -1.0], {})])
spec("adaptive_avg_pool3d adaptive_max_pool3d", "f", [([u(1, 2, 4, 5, 6), (2, 3, 2)], {})])
spec("adaptive_max_pool1d_with_indices", "f", [([u(2, 3, 8), 3], {})])
spec("adaptive_max_pool2d_with_indices", "f", [([u(2, 3, 6, 7), (2, 3)], {})])
spec("avg_pool3d max_pool3d", "f", [([u(1, 2, 4, 4, 4), 2], {})])
spec("max_pool1d_with_indices", "f", [([u(2, 3, 8), 2], {})])
spec("max_pool2d_with_indices", "f", [([u(2, 3, 6, 6), 2], {})])
spec("channel_shuffle", "f", [([u(1, 6, 2, 2), 3], {})])
spec("conv3d", "f", [([u(1, 2, 4, 4, 4), u(3, 2, 2, 2, 2), u(3)], {})])
spec("conv_transpose3d", "f", [([u(1, 2, 3, 3, 3), u(2, 3, 2, 2, 2)], dict(stride=2))])
spec("local_response_norm", "f", [([u(2, 5, 4), 3], {})])
spec("lp_pool1d", "f", [([pos(2, 3, 8), 2, 2], {})])
spec("lp_pool2d", "f", [([pos(2, 3, 6, 6), 2, 2], {})])
spec("lp_pool3d", "f", [([pos(1, 2, 4, 4, 4), 2, 2], {})])
spec("multilabel_margin_loss", "f", [([u(3, 4), Idx([[3, 0, -1, 1], [0, 1, 2, 3], [1, -1, 0, 0]])], {})])
spec("pdist", "f", [([u(5, 3)], {}), ([u(4, 3)], dict(p=1.0))])
spec("triplet_margin_with_distance_loss", "f", [([u(5, 3), u(5, 3), u(5, 3)], {}),
                                               ([u(5, 3), u(5, 3), u(5, 3)], dict(swap=True, margin=0.5))])
spec("prelu", "f", [([u(2, 3, 4), pos(3)], {})])


# ------------------------------------------------------------------------------- the harness
def to_lib(arg, lib):
    """A sample argument for one library: float arrays as float64 leaves that require grad."""
    if isinstance(arg, Idx):
        return (torch.from_numpy(arg.a.copy()) if lib == "torch" else cr.tensor(arg.a.copy())), None
    if isinstance(arg, Const):
        return (torch.from_numpy(arg.a.copy()) if lib == "torch" else cr.tensor(arg.a.copy())), None
    if isinstance(arg, Mask):
        return (torch.from_numpy(arg.a.copy()) if lib == "torch" else cr.tensor(arg.a.copy())), None
    if isinstance(arg, np.ndarray):
        floating = arg.dtype.kind == "f"
        if lib == "torch":
            t = torch.tensor(arg.copy(), requires_grad=floating)
        else:
            t = cr.tensor(arg.copy(), requires_grad=floating)
        return t, (t if floating else None)
    if isinstance(arg, list) and arg and isinstance(arg[0], np.ndarray):
        pairs = [to_lib(a, lib) for a in arg]
        return [p[0] for p in pairs], [p[1] for p in pairs]
    return arg, None


def flat(out):
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in flat(o)]
    return [out]


def as_np(t):
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    if isinstance(t, cr.Tensor):
        return np.asarray(t.detach().numpy())
    return np.asarray(t)


def call(name, where, lib, args, kw):
    if where == "i":
        first, rest = args[0], args[1:]
        y = first * 1 if first.is_floating_point() else first.clone()  # (a non-leaf: in-place allowed)
        getattr(y, name)(*rest, **kw)
        return y
    if where == "m":
        first, rest = args[0], args[1:]
        return getattr(first, name)(*rest, **kw)
    mod = {"t": torch if lib == "torch" else cr, "f": tF if lib == "torch" else crF}[where]
    return getattr(mod, name)(*args, **kw)


def _in_place_specs():
    """Every done in-place method ``op_`` whose out-of-place ``op`` has Tensor-method samples."""
    done = {n for n, v in COVERAGE["namespaces"]["torch.Tensor"].items() if v["status"] == "done"}
    methods = {n: smp for (n, ns), smp in SPECS.items() if "m" in ns}
    for n in sorted(done):
        if n.endswith("_") and n[:-1] in methods:
            SPECS[(n, "i")] = [(a, kw) for a, kw in methods[n[:-1]] if isinstance(a[0], (np.ndarray, Idx))]


_in_place_specs()

CASES = [
    pytest.param(name, where, i, id=f"{where}.{name}[{i}]")
    for (name, ns), samples in SPECS.items()
    for where in ns
    for i in range(len(samples))
]


@pytest.mark.parametrize("name, where, i", CASES)
def test_values_and_gradients_match_pytorch(name, where, i):
    ns = next(k for k in SPECS if k[0] == name and where in k[1])[1]
    args, kw = SPECS[(name, ns)][i]
    if where == "m" and not isinstance(args[0], (np.ndarray, Idx, Mask)):
        pytest.skip("first argument is not a tensor")
    kw_np = {k: v for k, v in kw.items()}
    res = {}
    for lib in ("torch", "cr"):
        conv = [to_lib(a, lib) for a in args]
        kwc = {k: to_lib(v, lib)[0] for k, v in kw_np.items()}
        largs = [c[0] for c in conv]
        leaves = []
        for c in conv:
            if isinstance(c[1], list):
                leaves += [x for x in c[1] if x is not None]
            elif c[1] is not None:
                leaves.append(c[1])
        try:
            out = flat(call(name, where, lib, largs, kwc))
        except Exception as exc:  # PyTorch refuses this sample: chainrule must refuse it too
            if lib == "torch":
                with pytest.raises(Exception):  # noqa: B017,PT011  (any clear error will do)
                    conv = [to_lib(a, "cr") for a in args]
                    call(name, where, "cr", [c[0] for c in conv], {k: to_lib(v, "cr")[0] for k, v in kw_np.items()})
                return
            raise AssertionError(f"{name}: PyTorch accepts this sample, chainrule raises {exc!r}") from exc
        res[lib] = (out, leaves)
    (t_out, t_leaves), (c_out, c_leaves) = res["torch"], res["cr"]
    assert len(t_out) == len(c_out), f"{name}: {len(c_out)} outputs, PyTorch gives {len(t_out)}"
    for k, (a, b) in enumerate(zip(t_out, c_out, strict=True)):
        an, bn = as_np(a), as_np(b)
        assert an.shape == bn.shape, f"{name} output {k}: shape {bn.shape}, PyTorch {an.shape}"
        if an.dtype.kind in "biu" or an.dtype == bool:
            np.testing.assert_array_equal(bn, an, err_msg=f"{name} output {k}")
        else:
            np.testing.assert_allclose(bn, an, rtol=1e-7, atol=1e-10, err_msg=f"{name} output {k}")
    # gradients of sum(w * out) over the float outputs that carry a graph
    diff = [(a, b) for a, b in zip(t_out, c_out, strict=True)
            if isinstance(a, torch.Tensor) and a.requires_grad and a.dtype.is_floating_point]
    if not diff or not t_leaves:
        return
    if not all(isinstance(b, cr.Tensor) and b.requires_grad for _, b in diff):
        # chainrule records no graph where the derivative is zero everywhere (comparisons written
        # in place into a float tensor, eq_/gt_...): PyTorch's gradient must then be zero too
        t_loss = sum((a * torch.from_numpy(R.standard_normal(tuple(a.shape)))).sum() for a, _ in diff)
        for g in torch.autograd.grad(t_loss, t_leaves, allow_unused=True):
            assert g is None or not g.numpy(force=True).any(), f"{name}: PyTorch's gradient is not zero"
        return
    t_loss, c_loss = 0.0, 0.0
    for a, b in diff:
        w = R.standard_normal(tuple(a.shape))
        t_loss = t_loss + (a * torch.from_numpy(w)).sum()
        c_loss = c_loss + (b * cr.tensor(w)).sum()
    try:
        tg = torch.autograd.grad(t_loss, t_leaves, allow_unused=True)
    except NotImplementedError:  # PyTorch lacks this derivative (in-place asinh_...): values only
        return
    cg = cr.autograd.grad(c_loss, c_leaves, allow_unused=True)
    for k, (a, b) in enumerate(zip(tg, cg, strict=True)):
        an = np.zeros(t_leaves[k].shape) if a is None else a.numpy(force=True)  # (force: ZeroTensor)
        bn = np.zeros(c_leaves[k].shape) if b is None else as_np(b)
        np.testing.assert_allclose(bn, an, rtol=1e-6, atol=1e-9, err_msg=f"{name}: gradient of input {k}")


# ------------------------------------------------------------------------------- not covered here
# The done names of torch, torch.Tensor and torch.nn.functional that have no sample above, by reason.
NOT_COVERED: dict[str, str] = {
    "factory or conversion, not a function of tensors (checked against PyTorch in tests/test_torch_namespace.py, "
    "tests/test_tensor_api.py, tests/test_layout.py)": (
        "torch.arange torch.as_tensor torch.empty torch.empty_like torch.empty_strided torch.eye torch.from_numpy "
        "torch.full "
        "torch.linspace torch.logspace torch.ones torch.zeros torch.tensor torch.scalar_tensor "
        "Tensor.new_empty Tensor.new_full Tensor.new_ones Tensor.new_tensor Tensor.new_zeros "
        "Tensor.bool Tensor.byte Tensor.char Tensor.double Tensor.float Tensor.half Tensor.int Tensor.long "
        "Tensor.short Tensor.to Tensor.type Tensor.cpu Tensor.cuda Tensor.numpy Tensor.tolist Tensor.item "
        "Tensor.bfloat16"
    ),
    "a compiler, not a function of tensors (compiled against eager in tests/test_compile_*.py)": "torch.compile",
    "random draw: the streams differ from PyTorch's by design, compared in distribution in the ops' own tests": (
        "torch.bernoulli torch.multinomial torch.normal torch.rand torch.rand_like torch.randint torch.randn "
        "torch.randn_like torch.randperm Tensor.bernoulli Tensor.bernoulli_ Tensor.cauchy_ Tensor.geometric_ "
        "Tensor.log_normal_ Tensor.exponential_ Tensor.multinomial Tensor.normal_ "
        "Tensor.random_ Tensor.uniform_ F.dropout F.dropout1d F.dropout2d F.dropout3d F.alpha_dropout "
        "F.feature_alpha_dropout F.rrelu F.rrelu_ F.gumbel_softmax"
    ),
    "dtype/shape queries and global state, no numerics (tests/test_torch_namespace.py, tests/test_tensor_api.py)": (
        "torch.broadcast_shapes torch.can_cast torch.promote_types torch.result_type torch.is_complex "
        "torch.is_floating_point torch.is_nonzero torch.is_same_size torch.is_signed torch.is_tensor "
        "torch.get_default_device torch.get_default_dtype torch.set_default_device torch.set_default_dtype "
        "torch.get_float32_matmul_precision torch.set_float32_matmul_precision torch.get_num_interop_threads "
        "torch.get_num_threads torch.set_num_interop_threads torch.set_num_threads torch.is_autocast_enabled "
        "torch.is_grad_enabled torch.manual_seed torch.load torch.save "
        "Tensor.T Tensor.mT Tensor.device Tensor.dtype Tensor.element_size Tensor.get_device Tensor.is_complex "
        "Tensor.layout "
        "Tensor.is_contiguous Tensor.is_cpu Tensor.is_cuda Tensor.is_floating_point Tensor.is_nonzero "
        "Tensor.is_same_size Tensor.is_signed Tensor.itemsize Tensor.name Tensor.nbytes Tensor.ndim Tensor.shape "
        "Tensor.size Tensor.storage_offset Tensor.stride"
    ),
    "autograd machinery, not an op (tests/test_engine_autograd.py)": (
        "Tensor.backward Tensor.grad Tensor.grad_fn Tensor.is_leaf Tensor.register_hook "
        "Tensor.register_post_accumulate_grad_hook Tensor.requires_grad Tensor.requires_grad_ Tensor.retain_grad "
        "Tensor.retains_grad"
    ),
    "index arguments as a tuple of tensors (the harness passes tensors and lists only; "
    "tests/test_torch_ops_parity.py covers it)": "torch.index_put Tensor.index_put Tensor.index_put_",
    "a module-level helper of nn.MultiheadAttention (tests/test_nn_attention_functional.py)": (
        "F.multi_head_attention_forward"
    ),
    "shared memory between processes, not a function of values (tests/test_multiprocessing.py)": (
        "Tensor.share_memory_ Tensor.is_shared"
    ),
    "pinned memory needs an accelerator: raises / False as PyTorch's CPU build (tests/test_tensor_pin_memory.py)": (
        "Tensor.pin_memory Tensor.is_pinned"
    ),
}

# issue 12's coverage additions: their oracle tests live in the files named (one table per part)
NOT_COVERED.update({
    "no values to compare: inference-mode marks and memory addresses (tests/test_inference_tensors.py)": (
        "Tensor.is_inference Tensor.data_ptr Tensor.const_data_ptr"
    ),
    "compared with PyTorch (values and gradients where differentiable) in tests/test_coverage_toplevel.py": (
        "torch.abs_ torch.acos_ torch.acosh_ torch.addmv_ torch.arccos_ torch.arccosh_ torch.arcsin_ torch.arcsinh_ "
        "torch.arctan_ torch.arctanh_ torch.asin_ torch.asinh_ torch.atan_ torch.atanh_ torch.ceil_ torch.clamp_ "
        "torch.clamp_max_ torch.clamp_min_ torch.clip_ torch.cos_ torch.cosh_ torch.deg2rad_ torch.erf_ torch.erfc_ "
        "torch.exp2_ torch.exp_ torch.expm1_ torch.fill_ torch.fix_ torch.floor_ torch.frac_ torch.gcd_ torch.lcm_ "
        "torch.log10_ torch.log1p_ torch.log2_ torch.log_ torch.logit_ torch.nan_to_num_ torch.neg_ torch.negative_ "
        "torch.rad2deg_ torch.reciprocal_ torch.relu_ torch.round_ torch.rsqrt_ torch.sigmoid_ torch.sin_ "
        "torch.sinc_ torch.sinh_ torch.sqrt_ torch.square_ torch.tan_ torch.tanh_ torch.trunc_ torch.xlogy_ "
        "torch.zero_ torch.selu_ torch.celu_ torch.threshold_ "
        "torch.conv1d torch.conv2d torch.conv3d torch.conv_transpose1d torch.conv_transpose2d torch.conv_transpose3d "
        "torch.bilinear torch.cosine_similarity torch.pairwise_distance torch.pdist torch.pixel_shuffle "
        "torch.pixel_unshuffle torch.prelu torch.hardshrink torch.rms_norm torch.adaptive_avg_pool1d "
        "torch.adaptive_max_pool1d torch.avg_pool1d torch.max_pool1d torch.max_pool1d_with_indices torch.max_pool2d "
        "torch.max_pool3d torch.celu torch.selu torch.rrelu torch.threshold torch.batch_norm torch.instance_norm "
        "torch.layer_norm torch.group_norm torch.embedding torch.binary_cross_entropy_with_logits "
        "torch.cosine_embedding_loss torch.margin_ranking_loss torch.hinge_embedding_loss torch.kl_div "
        "torch.poisson_nll_loss torch.triplet_margin_loss torch.range torch.fill torch.ger "
        "torch.hann_window torch.hamming_window torch.blackman_window torch.bartlett_window torch.kaiser_window "
        "torch.nanquantile torch.renorm torch.put torch.histogram torch.frexp torch.nextafter "
        "Tensor.det Tensor.logdet Tensor.inverse Tensor.cholesky Tensor.cholesky_inverse Tensor.matrix_power "
        "Tensor.matrix_exp Tensor.pinverse Tensor.renorm Tensor.renorm_ Tensor.hardshrink Tensor.nanquantile "
        "Tensor.svd Tensor.qr Tensor.put Tensor.put_ Tensor.nextafter Tensor.nextafter_ Tensor.frexp "
        "Tensor.histogram Tensor.prelu Tensor.slogdet Tensor.cholesky_solve Tensor.triangular_solve"
    ),
    "compared with PyTorch (values; gradients in x) in tests/test_special_more.py": (
        "torch.igamma torch.igammac torch.i0_ Tensor.igamma Tensor.igammac Tensor.igamma_ Tensor.igammac_"
    ),
    "compared with PyTorch (values and gradients) in tests/test_coverage_linalg.py": (
        "torch.det torch.logdet torch.slogdet torch.inverse torch.cholesky torch.cholesky_inverse "
        "torch.cholesky_solve torch.matrix_exp torch.matrix_power torch.pinverse torch.svd torch.qr "
        "torch.triangular_solve"
    ),
    "randomised: checked by their defining properties and against the exact SVD in tests/test_lowrank.py": (
        "torch.svd_lowrank torch.pca_lowrank"
    ),
    "compared with PyTorch (values and gradients) in tests/test_linalg_householder.py": (
        "torch.geqrf torch.orgqr torch.ormqr Tensor.geqrf Tensor.orgqr Tensor.ormqr"
    ),
    "compared with PyTorch (values, pivots and gradients) in tests/test_linalg_lu.py": (
        "torch.lu torch.lu_solve torch.lu_unpack Tensor.lu Tensor.lu_solve"
    ),
    "compared with PyTorch (values and gradients) in tests/test_coverage_nn.py": (
        "F.max_unpool1d F.max_unpool2d F.max_unpool3d F.max_pool3d_with_indices F.adaptive_max_pool3d_with_indices"
    ),
    "random draw or dropout in training mode (in distribution / eval mode: tests/test_coverage_toplevel.py)": (
        "torch.binomial torch.poisson torch.randint_like torch.seed torch.dropout torch.dropout_ torch.alpha_dropout "
        "torch.alpha_dropout_ torch.feature_alpha_dropout torch.feature_alpha_dropout_ torch.rrelu_"
    ),
    "global state, flags or conversion, no numerics (tests/test_coverage_toplevel.py, against PyTorch's)": (
        "torch.are_deterministic_algorithms_enabled torch.get_deterministic_debug_mode torch.get_rng_state "
        "torch.set_rng_state torch.initial_seed torch.is_anomaly_check_nan_enabled torch.is_anomaly_enabled "
        "torch.is_deterministic_algorithms_warn_only_enabled torch.is_inference torch.is_inference_mode_enabled "
        "torch.is_warn_always_enabled torch.set_anomaly_enabled torch.set_deterministic_debug_mode "
        "torch.set_warn_always torch.use_deterministic_algorithms torch.asarray torch.get_device torch.detach_"
    ),
    "a Tensor sharing storage without grad (tests/test_tensor_data.py)": "Tensor.data",
    "compared with PyTorch (values and gradients) in tests/test_scatter_index_reduce.py": (
        "torch.index_reduce Tensor.index_reduce Tensor.index_reduce_"
    ),
    "a function transform, not a function of tensors (against PyTorch in tests/test_func_vmap.py)": "torch.vmap",
    "compared with PyTorch (values and gradients) in tests/test_grid_sample.py and tests/test_ctc_loss.py": (
        "F.affine_grid F.grid_sample F.ctc_loss"
    ),
    "compared with PyTorch in tests/test_misc_parity.py": "torch.ldexp_ torch.histogramdd",
    "random windows unless _random_samples are given (with them, compared with PyTorch exactly, values, indices "
    "and gradients, in tests/test_fractional_pool_lrn.py)": (
        "F.fractional_max_pool2d F.fractional_max_pool2d_with_indices F.fractional_max_pool3d "
        "F.fractional_max_pool3d_with_indices"
    ),
    "a tuple of tensors (compared with PyTorch, values and gradients, in tests/test_gradient_fd.py)": "torch.gradient",
    "not a function of tensors (a type's name, print options; against PyTorch in tests/test_misc_parity.py)": (
        "torch.typename torch.set_printoptions"
    ),
    "an in-place change of shape, no numerics (against PyTorch in tests/test_resize_as.py)": (
        "torch.resize_as_ Tensor.resize_as_"
    ),
    "iterative, from random starting vectors, eigenvectors up to sign (values, |vectors| and gradients "
    "against PyTorch and the full eigendecomposition in tests/test_lobpcg.py)": "torch.lobpcg",
})

_PREFIX = {"torch": "torch", "Tensor": "torch.Tensor", "F": "torch.nn.functional"}
_KEYS = {"torch": "t", "torch.Tensor": "mi", "torch.nn.functional": "f"}


def _uncovered(ns: str) -> set[str]:
    done = {n for n, v in COVERAGE["namespaces"][ns].items() if v["status"] == "done"}
    return {n for n in done if not any(k[0] == n and set(_KEYS[ns]) & set(k[1]) for k in SPECS)}


def test_every_done_tensor_function_is_covered_or_listed_with_a_reason():
    listed: dict[str, set[str]] = {ns: set() for ns in _KEYS}
    for names in NOT_COVERED.values():
        for dotted in names.split():
            prefix, name = dotted.split(".", 1)
            listed[_PREFIX[prefix]].add(name)
    for ns in _KEYS:
        missing = sorted(_uncovered(ns) - listed[ns])
        assert not missing, f"{ns}: done, no oracle sample and not in NOT_COVERED: {missing}"
        stale = sorted(listed[ns] - _uncovered(ns))
        assert not stale, f"{ns}: in NOT_COVERED but covered (or no longer done): {stale}"
