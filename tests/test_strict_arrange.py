"""ops/arrange.py through the door: every function of the file (sorting, top-k, scans, rolls,
splits, index updates, counts, unique, searchsorted, einsum...) run on the strict back end
(tests/strict_backend.py, arrays NumPy refuses) against the same call on the CPU, forward,
backward and (where the op has forward mode) jvp, float64 to 1e-12.

The cases are the PyTorch-parity tables of tests/test_torch_ops_parity.py (their arrange.py
rows), with the library argument ``L`` replaced by one that makes its constants (``T(L, ...)``,
``L.tensor``) and factories on the strict device: any array operation that bypasses the
back-end table fails loudly there.
"""

from __future__ import annotations

import numpy as np
import pytest
from strict_backend import DEVICE, StrictArray
from strict_backend import host as _host
from test_torch_ops_parity import DIFF, EXACT, _make

import chainrule as cr
from chainrule.autograd import forward_ad as fwAD

# the parity tables' rows that exercise ops/arrange.py
_FIRST, _LAST = list(DIFF).index("tril"), list(DIFF).index("nanmean")
ARRANGE_DIFF = list(DIFF)[_FIRST : _LAST + 1] + [
    "masked_scatter", "index_put", "index_put_accumulate", "select_scatter", "slice_scatter",
    "diagonal_scatter", "diagonal_scatter_dims", "unfold", "unfold_step", "dist", "dist_p3", "cov",
    "cov_correction0", "corrcoef", "trapezoid", "trapezoid_x", "cumulative_trapezoid", "vander",
    "chain_matmul", "mode", "block_diag", "combinations", "combinations_replacement",
    "scatter_reduce_sum", "scatter_reduce_mean_exclude_self", "scatter_reduce_mean", "scatter_reduce_prod",
    "scatter_reduce_amax_exclude_self", "scatter_reduce_amin", "index_reduce_prod_amax", "nanmedian",
    "nanmedian_dim_with_nan", "sum_to_size", "sum_to_size_lead",
]  # fmt: skip
ARRANGE_EXACT = [
    "argsort", "sort_nan", "sort_ints", "topk", "topk_all_sorted", "kthvalue_median", "median_even_lower",
    "cummax_cummin", "cummax_ties", "cumsum_ints", "nonzero", "count_nonzero", "bincount",
    "bucketize_searchsorted", "histc", "unique", "unique_consecutive", "repeat_interleave_counts_only",
    "tril_triu_indices", "unravel_index", "mode_ties", "scatter_reduce_ints", "nanmedian_nan",
]  # fmt: skip

# rows of our own for what the tables leave out: id -> (f(L, *inputs), input specs)
D3 = (("u", (2, 3, 4)),)
EXTRA = {
    "dsplit_atleast": (lambda L, x: L.dsplit(x, 2) + (L.atleast_1d(x[0, 0, 0]), L.atleast_2d(x[0, 0])), D3),
    "diagonal_scatter_square": (
        lambda L, x, s: L.diagonal_scatter(x, s, 0, 0, 2),
        (("u", (3, 3, 3)), ("u", (3, 3))),
    ),
    "unique_dim_inverse_counts": (
        lambda L: L.unique(L.tensor([[1, 2], [0, 5], [1, 2]]), dim=0, return_inverse=True, return_counts=True),
        (),
    ),
    "searchsorted_sorter": (
        lambda L: L.searchsorted(L.tensor([3.0, 1.0, 2.0]), L.tensor([1.5, 3.0]), sorter=L.tensor([1, 2, 0])),
        (),
    ),
    "nonzero_0d": (lambda L: (L.nonzero(L.tensor(2.0)), L.nonzero(L.tensor(0.0), as_tuple=True)[0]), ()),
    "scalar_tensor": (lambda L: L.scalar_tensor(2.5, dtype=cr.float64), ()),
    "is_nonzero_sizes": (lambda L: L.tensor([float(L.is_nonzero(L.tensor([0.5]))), 1.0]), ()),
    "cumprod_ints_0d_and_empty": (
        lambda L: (L.cumprod(L.tensor([[2, 3], [4, 5]]), 1), L.cumsum(L.tensor(3.0), 0), L.cumprod(L.tensor(2), 0)),
        (),
    ),
    "median_empty": (lambda L: L.median(L.tensor(np.zeros((0,)))), ()),
    "index_add_copy_fill_0d_index": (
        lambda L, x: (L.index_add(x, 0, L.tensor(1), x[:1]), L.index_copy(x, 1, L.tensor([3]), x[:, :1])),
        (("u", (3, 4)),),
    ),
    "take_unravel": (lambda L, x: L.take(x, L.tensor([-1, 0])), (("u", (3, 4)),)),
    "histc_range_ints": (lambda L: L.histc(L.tensor([1.0, 2.0, 2.0, 9.0]), bins=3, min=0, max=3), ()),
    "scatter_value_reduce_add": (
        lambda L, x: L.scatter(x, 1, L.tensor([[0], [1], [0]]), 2.0, reduce="add"),
        (("u", (3, 4)),),
    ),
    "quantile_nearest_all": (
        lambda L, x: (x.quantile(L.tensor([0.25, 0.5]), interpolation="nearest", keepdim=True),
                      x.quantile(0.75, 1, interpolation="lower"), x.quantile(0.75, 1, interpolation="higher")),
        (("distinct", (3, 4)),),
    ),
    "diff_bool_append": (
        lambda L, x: (L.diff(x > 0, append=x[:, :1] > 1), L.diff(x, append=x[:, :2])),
        (("u", (3, 4)),),
    ),
    "nansum_nanmean_nan": (
        lambda L, x: (L.nansum(x.masked_fill(x > 1, np.nan), 1), L.nanmean(x.masked_fill(x > 1, np.nan), 0)),
        (("u", (3, 4)),),
    ),
    "small_wrappers": (
        lambda L, x: (L.clone(x), L.detach(x), *L.split_with_sizes(x, [1, 2]), L.swapdims(x, 0, 1), L.ravel(x),
                      L.row_stack([x, x]), L.trapz(x), L.select(x, 1, 0), x.sum_to_size(1, 4), x.trace()),
        (("u", (3, 4)),),
    ),
}  # fmt: skip


class OnStrict:
    """chainrule as the tables' ``L``, making constants and factory results on the strict device."""

    FACTORIES = ("tril_indices", "triu_indices", "scalar_tensor")

    def __getattr__(self, name):
        fn = getattr(cr, name)
        if name in self.FACTORIES:
            return lambda *a, **k: fn(*a, device="strict", **k)
        return fn

    @staticmethod
    def tensor(data, dtype=None):
        return cr.tensor(data, dtype=dtype).to("strict")



def _outs(res) -> list:
    return [o for o in (res if isinstance(res, (tuple, list)) else [res])]



def _same(got: list, want: list, where: str) -> None:
    assert len(got) == len(want), where
    for k, (g, w) in enumerate(zip(got, want)):
        assert g.device == DEVICE and type(g._array) is StrictArray, (where, k, g.device)
        assert g.dtype == w.dtype and tuple(g.shape) == tuple(w.shape), (where, k)
        np.testing.assert_allclose(_host(g), _host(w), rtol=1e-12, atol=1e-300, err_msg=f"{where} [{k}]")


def _case(name: str):
    if name in EXTRA:
        return EXTRA[name]
    f, specs, _ = DIFF[name]
    return f, specs


def _run(name: str, arrays: list, lib, device: str):
    xs = [cr.tensor(a).to(device).requires_grad_(True) for a in arrays]
    return xs, _outs(_case(name)[0](lib, *xs))


DIFF_CASES = ARRANGE_DIFF + list(EXTRA)


@pytest.mark.filterwarnings("ignore:torch.chain_matmul is deprecated")
@pytest.mark.parametrize("name", DIFF_CASES)
def test_forward_and_backward_on_strict(strict, name):
    arrays = _make(_case(name)[1])
    cx, cpu = _run(name, arrays, cr, "cpu")
    sx, got = _run(name, arrays, OnStrict(), "strict")
    _same(got, cpu, name)
    weights = [np.linspace(-1.0, 2.0, int(np.prod(o.shape))).reshape(o.shape) for o in cpu]
    pairs = [(c, s, w) for c, s, w in zip(cpu, got, weights) if c.requires_grad]
    if not pairs:
        return
    sum((c * cr.tensor(w)).sum() for c, _, w in pairs).backward()
    sum((s * cr.tensor(w).to("strict")).sum() for _, s, w in pairs).backward()
    for c, s in zip(cx, sx):
        if c.grad is None:
            assert s.grad is None, name
            continue
        _same([s.grad], [c.grad], name + " (gradient)")


@pytest.mark.parametrize("name", DIFF_CASES)
def test_jvp_on_strict(strict, name):
    f, specs = _case(name)
    arrays = _make(specs)
    if not arrays:
        pytest.skip("no input to give a tangent")
    tangents = [np.cos(np.arange(a.size)).reshape(a.shape) for a in arrays]

    def tangent_outs(lib, device):
        with fwAD.dual_level():
            xs = [fwAD.make_dual(cr.tensor(a).to(device), cr.tensor(t).to(device)) for a, t in zip(arrays, tangents)]
            outs = [o for o in _outs(f(lib, *xs)) if np.dtype(o.dtype).kind == "f"]
            return [fwAD.unpack_dual(o).tangent for o in outs]

    try:
        want = tangent_outs(cr, "cpu")
    except NotImplementedError as e:  # no forward mode for this op on any device
        pytest.skip(str(e))
    got = tangent_outs(OnStrict(), "strict")
    assert [g is None for g in got] == [w is None for w in want], name
    _same([g for g in got if g is not None], [w for w in want if w is not None], name + " (tangent)")


@pytest.mark.filterwarnings("ignore:invalid value encountered")
@pytest.mark.parametrize("name", ARRANGE_EXACT)
def test_integer_and_bool_results_on_strict(strict, name):
    with np.errstate(invalid="ignore", divide="ignore"):
        want, got = EXACT[name](cr), EXACT[name](OnStrict())
    _same(list(got), list(want), name)
    assert not any(g.requires_grad for g in got)


def test_diagonal_scatter_puts_the_diagonal_where_diagonal_reads_it():
    """diagonal_scatter(x, diagonal(y, 0, 0, 2), 0, 0, 2) copies y's diagonal into x: on a cube
    (every axis of size 3) the source's diagonal axis was taken for its other axis."""
    rng = np.random.default_rng(5)
    x, y = (cr.tensor(rng.standard_normal((3, 3, 3))) for _ in range(2))
    out = cr.diagonal_scatter(x, cr.diagonal(y, 0, 0, 2), 0, 0, 2)
    want = x.numpy().copy()
    for i in range(3):
        want[i, :, i] = y.numpy()[i, :, i]
    np.testing.assert_array_equal(out.numpy(), want)
