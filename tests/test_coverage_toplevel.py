"""PyTorch's top-level functions added for issue 12's coverage (chainrule/_torch_toplevel.py,
chainrule/_torch_extra.py, chainrule/special.py): in-place spellings, functional layers with
ATen's signatures, global state, windows, nanquantile & co, torch.special.  Values and gradients
against PyTorch where it is installed; gradcheck (float64) and formulas always."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd.gradcheck import gradcheck

R = np.random.default_rng(51205)


def _torch():
    return pytest.importorskip("torch")


# -- in-place top-level functions: torch.f_(x, ...) == x.f_(...) -----------------------------------
INPLACE = [
    ("abs_", "u", ()), ("acos_", "unit", ()), ("acosh_", "big", ()), ("arccos_", "unit", ()),
    ("arccosh_", "big", ()), ("arcsin_", "unit", ()), ("arcsinh_", "u", ()), ("arctan_", "u", ()),
    ("arctanh_", "unit", ()), ("asin_", "unit", ()), ("asinh_", "u", ()), ("atan_", "u", ()),
    ("atanh_", "unit", ()), ("ceil_", "u", ()), ("clamp_", "u", (-0.5, 0.5)), ("clamp_max_", "u", (0.3,)),
    ("clamp_min_", "u", (0.3,)), ("clip_", "u", (-0.5, 0.5)), ("cos_", "u", ()), ("cosh_", "u", ()),
    ("deg2rad_", "u", ()), ("erf_", "u", ()), ("erfc_", "u", ()), ("exp2_", "u", ()), ("exp_", "u", ()),
    ("expm1_", "u", ()), ("fix_", "u", ()), ("floor_", "u", ()), ("frac_", "u", ()), ("log10_", "pos", ()),
    ("log1p_", "pos", ()), ("log2_", "pos", ()), ("log_", "pos", ()), ("logit_", "prob", ()),
    ("nan_to_num_", "u", ()), ("neg_", "u", ()), ("negative_", "u", ()), ("rad2deg_", "u", ()),
    ("reciprocal_", "pos", ()), ("relu_", "u", ()), ("round_", "u", ()), ("rsqrt_", "pos", ()),
    ("sigmoid_", "u", ()), ("sin_", "u", ()), ("sinc_", "u", ()), ("sinh_", "u", ()), ("sqrt_", "pos", ()),
    ("square_", "u", ()), ("tan_", "unit", ()), ("tanh_", "u", ()), ("trunc_", "u", ()), ("zero_", "u", ()),
    ("fill_", "u", (2.5,)), ("selu_", "u", ()), ("celu_", "u", (0.7,)), ("threshold_", "u", (0.1, -3.0)),
]


def _gen(kind: str, shape: tuple) -> np.ndarray:
    lo, hi = {"u": (-2, 2), "unit": (-0.9, 0.9), "pos": (0.2, 2), "prob": (0.1, 0.9), "big": (1.1, 3)}[kind]
    return R.uniform(lo, hi, shape)


@pytest.mark.parametrize("name, kind, args", INPLACE, ids=[c[0] for c in INPLACE])
def test_in_place_function_changes_its_argument_as_pytorch(name, kind, args):
    torch = _torch()
    a = _gen(kind, (3, 4))
    x, t = cr.tensor(a), torch.tensor(a)
    out = getattr(cr, name)(x, *args)
    ref = getattr(torch, name)(t, *args)
    assert out is x  # in place: the same object comes back
    assert np.allclose(x.numpy(), ref.numpy(), rtol=1e-12, atol=1e-12, equal_nan=True)


def test_binary_in_place_functions_match_pytorch():
    torch = _torch()
    a, b, v = R.uniform(0.5, 2, (3, 4)), R.uniform(0.5, 2, (3, 4)), R.standard_normal(4)
    m = R.standard_normal((3, 4))
    i, j = R.integers(1, 30, (3, 4)), R.integers(1, 30, (3, 4))
    for name, xs, args in [("xlogy_", a, (b,)), ("gcd_", i, (j,)), ("lcm_", i, (j,)), ("addmv_", a[:, 0], (m, v))]:
        x, t = cr.tensor(xs), torch.tensor(xs)
        assert getattr(cr, name)(x, *[cr.tensor(y) for y in args]) is x
        getattr(torch, name)(t, *[torch.tensor(y) for y in args])
        assert np.allclose(x.numpy(), t.numpy()), name


def test_in_place_functions_follow_the_in_place_rules():
    """Through the Tensor method: a leaf that requires grad refuses, the version counter moves,
    and on a non-leaf the gradient flows through the rebound value."""
    leaf = cr.tensor([0.5, -1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        cr.exp_(leaf)
    v = leaf._version
    with cr.no_grad():
        cr.clamp_(leaf, -0.7, 0.7)
    assert leaf._version > v and np.allclose(leaf.detach().numpy(), [0.5, -0.7])
    a = cr.tensor([0.3, 0.8], dtype=cr.float64, requires_grad=True)
    h = a * 2
    cr.sigmoid_(h)
    h.sum().backward()
    s = 1 / (1 + np.exp(-2 * np.array([0.3, 0.8])))
    assert np.allclose(a.grad.numpy(), 2 * s * (1 - s))
    with pytest.raises(TypeError, match="abs_.*Tensor"):
        cr.abs_([1.0, -2.0])


def test_plain_method_spellings():
    x = cr.tensor([1.0, 2.0])
    assert cr.get_device(x) == -1  # CPU, as PyTorch's
    assert np.allclose(cr.ger(x, cr.tensor([3.0, 4.0])).numpy(), [[3, 4], [6, 8]])
    y = cr.tensor([1.0, 2.0], requires_grad=True) * 1
    cr.detach_(y)
    assert not y.requires_grad


def test_fill_out_of_place():
    x = cr.tensor([[1.0, 2.0]], dtype=cr.float64, requires_grad=True)
    v = cr.tensor(3.0, dtype=cr.float64, requires_grad=True)
    y = cr.fill(x, v)
    assert np.allclose(y.detach().numpy(), [[3.0, 3.0]]) and np.allclose(x.detach().numpy(), [[1.0, 2.0]])
    (y * cr.tensor([[2.0, 5.0]], dtype=cr.float64)).sum().backward()
    assert np.allclose(x.grad.numpy(), 0.0) and np.isclose(v.grad.item(), 7.0)  # d/dv Σ w v = Σ w
    with pytest.raises(RuntimeError, match="0-dimension"):
        cr.fill(x, cr.ones(2))


# -- functional layers at torch.* with ATen's signatures --------------------------------------------
def _pair(shape_a, shape_b=None):
    a = R.standard_normal(shape_a)
    return (a,) if shape_b is None else (a, R.standard_normal(shape_b))


FUNCTIONAL = [
    ("conv1d", lambda L, x, w: L.conv1d(x, w, None, 1, 1), [(2, 3, 7), (4, 3, 3)]),
    ("conv2d", lambda L, x, w: L.conv2d(x, w, None, 2, 1, 1, 1), [(1, 2, 6, 5), (3, 2, 3, 3)]),
    ("conv3d", lambda L, x, w: L.conv3d(x, w), [(1, 2, 4, 4, 4), (2, 2, 2, 2, 2)]),
    ("conv_transpose1d", lambda L, x, w: L.conv_transpose1d(x, w, None, 2), [(1, 2, 5), (2, 3, 3)]),
    ("conv_transpose2d", lambda L, x, w: L.conv_transpose2d(x, w, None, 2, 1, 1), [(1, 2, 3, 3), (2, 3, 3, 3)]),
    ("conv_transpose3d", lambda L, x, w: L.conv_transpose3d(x, w), [(1, 2, 2, 2, 2), (2, 1, 2, 2, 2)]),
    ("bilinear", lambda L, a, b, w: L.bilinear(a, b, w), [(3, 2), (3, 4), (5, 2, 4)]),
    ("cosine_similarity", lambda L, a, b: L.cosine_similarity(a, b), [(3, 4), (3, 4)]),
    ("pairwise_distance", lambda L, a, b: L.pairwise_distance(a, b), [(3, 4), (3, 4)]),
    ("pdist", lambda L, a: L.pdist(a), [(4, 3)]),
    ("pixel_shuffle", lambda L, x: L.pixel_shuffle(x, 2), [(1, 8, 2, 3)]),
    ("pixel_unshuffle", lambda L, x: L.pixel_unshuffle(x, 2), [(1, 2, 4, 6)]),
    ("prelu", lambda L, x, w: L.prelu(x, w), [(2, 3, 4), (3,)]),
    ("hardshrink", lambda L, x: L.hardshrink(x, 0.3), [(3, 5)]),
    ("rms_norm", lambda L, x, w: L.rms_norm(x, [4], w, 1e-6), [(3, 4), (4,)]),
    ("adaptive_avg_pool1d", lambda L, x: L.adaptive_avg_pool1d(x, 3), [(2, 3, 7)]),
    ("adaptive_max_pool1d", lambda L, x: L.adaptive_max_pool1d(x, 3)[0], [(2, 3, 7)]),
    ("avg_pool1d", lambda L, x: L.avg_pool1d(x, 3, 2, 1), [(2, 3, 8)]),
    ("max_pool1d", lambda L, x: L.max_pool1d(x, 2), [(2, 3, 8)]),
    ("max_pool1d_with_indices", lambda L, x: L.max_pool1d_with_indices(x, 3, 2)[0], [(2, 3, 8)]),
    ("max_pool2d", lambda L, x: L.max_pool2d(x, 2, 1), [(1, 2, 5, 5)]),
    ("max_pool3d", lambda L, x: L.max_pool3d(x, 2), [(1, 2, 4, 4, 4)]),
    ("dropout_eval", lambda L, x: L.dropout(x, 0.5, False), [(3, 4)]),
    ("alpha_dropout_eval", lambda L, x: L.alpha_dropout(x, 0.5, False), [(3, 4)]),
    ("feature_alpha_dropout_eval", lambda L, x: L.feature_alpha_dropout(x, 0.5, False), [(2, 3, 4)]),
    ("celu", lambda L, x: L.celu(x, 0.8), [(3, 4)]),
    ("selu", lambda L, x: L.selu(x), [(3, 4)]),
    ("rrelu_eval", lambda L, x: L.rrelu(x), [(3, 4)]),
    ("threshold", lambda L, x: L.threshold(x, 0.2, -1.0), [(3, 4)]),
    ("batch_norm", lambda L, x, w, b: L.batch_norm(x, w, b, None, None, True, 0.1, 1e-5, False),
     [(4, 3), (3,), (3,)]),
    ("instance_norm", lambda L, x, w, b: L.instance_norm(x, w, b, None, None, True, 0.1, 1e-5, False),
     [(2, 3, 5), (3,), (3,)]),
    ("layer_norm", lambda L, x, w, b: L.layer_norm(x, [4], w, b), [(3, 4), (4,), (4,)]),
    ("group_norm", lambda L, x, w, b: L.group_norm(x, 2, w, b), [(2, 4, 3), (4,), (4,)]),
]


def _oracle(f, shapes, torch, grad=True, grad_rtol=1e-8):
    arrs = [R.standard_normal(s) for s in shapes]
    xs = [cr.tensor(a, requires_grad=grad) for a in arrs]
    ts = [torch.tensor(a, requires_grad=grad) for a in arrs]
    y, yt = f(cr, *xs), f(torch, *ts)
    assert tuple(y.shape) == tuple(yt.shape)
    assert np.allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-9, atol=1e-10)
    if grad:
        g = R.standard_normal(tuple(yt.shape))
        y.backward(cr.tensor(g))
        yt.backward(torch.tensor(g))
        for x, t in zip(xs, ts):
            if t.grad is None:  # an input the output does not depend on differentiably (a mask)
                assert x.grad is None or not x.grad.numpy().any()
                continue
            assert np.allclose(x.grad.numpy(), t.grad.numpy(), rtol=grad_rtol, atol=1e-9)


@pytest.mark.parametrize("name, f, shapes", FUNCTIONAL, ids=[c[0] for c in FUNCTIONAL])
def test_functional_at_top_level_matches_pytorch(name, f, shapes):
    # celu: PyTorch's float64 backward computes with 1/alpha rounded to float32 (off by ~2e-9
    # relative from exp(x/α), which chainrule's gradient matches exactly)
    _oracle(f, shapes, _torch(), grad_rtol=1e-7 if name == "celu" else 1e-8)


def test_embedding_takes_weight_first_and_minus_one_as_no_padding():
    torch = _torch()
    w = R.standard_normal((5, 3))
    idx = np.array([[0, 2], [4, 2]])
    for pad in (-1, 2):
        wc, wt = cr.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
        y, yt = cr.embedding(wc, cr.tensor(idx), pad), torch.embedding(wt, torch.tensor(idx), pad)
        assert np.allclose(y.detach().numpy(), yt.detach().numpy())
        y.sum().backward()
        yt.sum().backward()
        assert np.allclose(wc.grad.numpy(), wt.grad.numpy())


LOSSES = [
    ("binary_cross_entropy_with_logits", lambda L, x, y, r: L.binary_cross_entropy_with_logits(x, y.sigmoid(), None,
                                                                                                 None, r), 2),
    ("cosine_embedding_loss", lambda L, a, b, r: L.cosine_embedding_loss(a, b, (a[:, 0] > 0) * 2.0 - 1, 0.1, r), 2),
    ("margin_ranking_loss", lambda L, a, b, r: L.margin_ranking_loss(a[:, 0], b[:, 0], (a[:, 1] > 0) * 2.0 - 1,
                                                                     0.2, r), 2),
    ("hinge_embedding_loss", lambda L, a, b, r: L.hinge_embedding_loss(a, (b > 0) * 2.0 - 1, 1.0, r), 2),
    ("kl_div", lambda L, a, b, r: L.kl_div(a.log_softmax(-1), b.softmax(-1), r), 2),
    ("poisson_nll_loss", lambda L, a, b, r: L.poisson_nll_loss(a, b.abs(), True, False, 1e-8, r), 2),
    ("triplet_margin_loss", lambda L, a, b, r: L.triplet_margin_loss(a, b, a.flip(0), 1.0, 2.0, 1e-6, False, r), 2),
]


@pytest.mark.parametrize("reduction", [0, 1, 2])
@pytest.mark.parametrize("name, f, n", LOSSES, ids=[c[0] for c in LOSSES])
def test_losses_take_aten_int_reduction(name, f, n, reduction):
    torch = _torch()
    _oracle(lambda L, a, b: f(L, a, b, reduction), [(4, 3), (4, 3)], torch)


def test_bad_int_reduction_is_refused():
    with pytest.raises(ValueError, match="kl_div: reduction must be 0"):
        cr.kl_div(cr.zeros(2), cr.zeros(2), 3)


def test_dropout_keeps_its_expectation_and_in_place_forms_write_in_place():
    x = cr.ones(20000)
    y = cr.dropout(x, 0.3, True)
    kept = y.numpy() != 0
    assert abs(kept.mean() - 0.7) < 0.02 and np.allclose(y.numpy()[kept], 1 / 0.7)
    z = cr.ones(4)
    assert cr.dropout_(z, 0.5, False) is z or np.allclose(z.numpy(), 1.0)
    w = cr.tensor([-1.0, 2.0])
    cr.relu_(w)
    assert np.allclose(w.numpy(), [0.0, 2.0])


# -- creation and state ----------------------------------------------------------------------------
def test_range_includes_the_end_and_warns():
    torch = _torch()
    with pytest.warns(UserWarning, match="deprecated"):
        r = cr.range(1, 2, 0.25)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rt = torch.range(1, 2, 0.25)
    assert np.allclose(r.numpy(), rt.numpy()) and r.dtype == cr.float32
    with pytest.warns(UserWarning):
        assert cr.range(5).shape == (6,)


def test_randint_like_and_asarray():
    x = cr.zeros(3, 4, dtype=cr.int64)
    r = cr.randint_like(x, 5, 9)
    assert r.shape == x.shape and r.dtype == x.dtype and r.numpy().min() >= 5 and r.numpy().max() < 9
    assert cr.randint_like(x, 3).numpy().max() < 3
    a = np.arange(4.0)
    t = cr.asarray(a)
    a[0] = 7.0
    assert t[0].item() == 7.0  # shares the NumPy array's memory
    c = cr.asarray(a, copy=True)
    a[1] = 9.0
    assert c[1].item() == 1.0
    u = cr.tensor([1.0, 2.0])
    assert cr.asarray(u) is u
    assert cr.asarray(u, dtype=cr.float64).dtype == cr.float64
    with pytest.raises(ValueError, match="copy=False"):
        cr.asarray(u, dtype=cr.float64, copy=False)
    assert np.allclose(cr.asarray([[1, 2]], dtype=cr.float32).numpy(), [[1.0, 2.0]])


def test_rng_state_round_trip_and_seeds():
    cr.manual_seed(123)
    assert cr.initial_seed() == 123
    state = cr.get_rng_state()
    assert state.dtype == cr.uint8 and state.ndim == 1
    a = cr.rand(5).numpy()
    cr.set_rng_state(state)
    assert np.array_equal(cr.rand(5).numpy(), a)
    s = cr.seed()
    assert cr.initial_seed() == s
    with pytest.raises(TypeError, match="uint8"):
        cr.set_rng_state(cr.zeros(3))
    with pytest.raises(RuntimeError, match="set_rng_state"):
        cr.set_rng_state(cr.zeros(3, dtype=cr.uint8))


def test_deterministic_and_warn_flags_round_trip():
    torch = _torch()
    try:
        for lib in (cr, torch):
            assert lib.are_deterministic_algorithms_enabled() is False
            lib.set_deterministic_debug_mode("warn")
            assert lib.get_deterministic_debug_mode() == 1 and lib.is_deterministic_algorithms_warn_only_enabled()
            lib.use_deterministic_algorithms(True)
            assert lib.get_deterministic_debug_mode() == 2 and lib.are_deterministic_algorithms_enabled()
            lib.set_warn_always(True)
            assert lib.is_warn_always_enabled()
            with pytest.raises(RuntimeError, match="debug_mode"):
                lib.set_deterministic_debug_mode("loud")
    finally:
        for lib in (cr, torch):
            lib.use_deterministic_algorithms(False)
            lib.set_warn_always(False)


def test_anomaly_and_inference_switches():
    torch = _torch()
    for lib in (cr, torch):
        assert not lib.is_anomaly_enabled()
        lib.set_anomaly_enabled(True)
        try:
            assert lib.is_anomaly_enabled() and lib.is_anomaly_check_nan_enabled()
        finally:
            lib.set_anomaly_enabled(False)
        assert not lib.is_inference_mode_enabled()
        with lib.inference_mode():
            assert lib.is_inference_mode_enabled()
        assert lib.is_inference(lib.ones(2)) is False


# -- windows ---------------------------------------------------------------------------------------
WINDOWS = ["hann_window", "hamming_window", "blackman_window", "bartlett_window", "kaiser_window"]


@pytest.mark.parametrize("name", WINDOWS)
def test_windows_match_pytorch(name):
    torch = _torch()
    for n in (0, 1, 2, 5, 8):
        for periodic in (True, False):
            a = getattr(cr, name)(n, periodic, dtype=cr.float64).numpy()
            b = getattr(torch, name)(n, periodic, dtype=torch.float64).numpy()
            assert a.shape == b.shape and np.allclose(a, b, atol=1e-12)


def test_windows_from_their_formulas():
    n = 9  # symmetric: w[k] for k = 0..8 with N - 1 = 8
    k = np.arange(n)
    assert np.allclose(cr.hann_window(n, False, dtype=cr.float64).numpy(), np.sin(np.pi * k / 8) ** 2)
    assert np.allclose(cr.bartlett_window(n, False, dtype=cr.float64).numpy(), 1 - np.abs(k - 4) / 4)
    assert np.allclose(cr.hann_window(8, True, dtype=cr.float64).numpy(), np.sin(np.pi * np.arange(8) / 8) ** 2)
    assert cr.hamming_window(5).dtype == cr.float32 and cr.kaiser_window(5, False)[2].item() == pytest.approx(1.0)
    with pytest.raises(RuntimeError, match="hann_window: window_length"):
        cr.hann_window(-1)


# -- tensor functions ------------------------------------------------------------------------------
def test_nanquantile_matches_pytorch_and_numpy():
    torch = _torch()
    x = R.standard_normal((4, 6))
    x[0, 1] = x[1, 3] = np.nan
    x[2, :] = np.nan
    q = [0.1, 0.5, 0.9]
    for dim in (None, 0, 1):
        for interp in ("linear", "lower", "higher", "midpoint", "nearest"):
            for keep in (False, True):
                a = cr.nanquantile(cr.tensor(x), cr.tensor(q, dtype=cr.float64), dim=dim, keepdim=keep,
                                   interpolation=interp).numpy()
                b = torch.nanquantile(torch.tensor(x), torch.tensor(q, dtype=torch.float64), dim=dim, keepdim=keep,
                                      interpolation=interp).numpy()
                assert a.shape == b.shape and np.allclose(a, b, equal_nan=True)
    assert np.isclose(cr.nanquantile(cr.tensor(x[1]), 0.5).item(), np.nanquantile(x[1], 0.5))
    xs = R.standard_normal((3, 5))
    xs[0, 2] = np.nan
    xt = cr.tensor(xs, requires_grad=True)
    tt = torch.tensor(xs, requires_grad=True)
    cr.nanquantile(xt, 0.3, dim=1).sum().backward()
    torch.nanquantile(tt, 0.3, dim=1).sum().backward()
    assert np.allclose(xt.grad.numpy(), tt.grad.numpy())


def test_renorm():
    torch = _torch()
    x = R.standard_normal((3, 4, 2))
    for p, dim, maxnorm in [(2, 0, 1.0), (1, 1, 2.0), (3, 2, 0.5)]:
        _oracle(lambda L, a: L.renorm(a, p, dim, maxnorm), [(3, 4, 2)], torch)
    y = cr.renorm(cr.tensor(x), 2, 0, 1.0).numpy()
    norms = np.sqrt((x**2).sum((1, 2)))
    expect = x * np.where(norms > 1.0, 1.0 / (norms + 1e-7), 1.0)[:, None, None]
    assert np.allclose(y, expect)
    assert gradcheck(lambda a: cr.renorm(a, 2, 1, 0.8), [cr.tensor(x, requires_grad=True)])


def test_put_and_its_gradient():
    torch = _torch()
    a, s = R.standard_normal((2, 3)), R.standard_normal(3)
    for acc in (False, True):
        idx = [0, -1, 4] if not acc else [1, 1, 5]
        xa, sa = cr.tensor(a, requires_grad=True), cr.tensor(s, requires_grad=True)
        xt, st = torch.tensor(a, requires_grad=True), torch.tensor(s, requires_grad=True)
        y = cr.put(xa, cr.tensor(idx), sa, accumulate=acc)
        yt = torch.put(xt, torch.tensor(idx), st, accumulate=acc)
        assert np.allclose(y.detach().numpy(), yt.detach().numpy())
        g = R.standard_normal((2, 3))
        y.backward(cr.tensor(g))
        yt.backward(torch.tensor(g))
        assert np.allclose(xa.grad.numpy(), xt.grad.numpy()) and np.allclose(sa.grad.numpy(), st.grad.numpy())
    with pytest.raises(IndexError, match="put"):
        cr.put(cr.zeros(2), cr.tensor([2]), cr.ones(1))


def test_histogram_frexp_nextafter():
    torch = _torch()
    x = R.standard_normal(50)
    h, e = cr.histogram(cr.tensor(x), 7)
    ht, et = torch.histogram(torch.tensor(x), 7)
    assert np.allclose(h.numpy(), ht.numpy()) and np.allclose(e.numpy(), et.numpy())
    w = R.uniform(0, 1, 50)
    h, _ = cr.histogram(cr.tensor(x), 5, range=(-1.0, 1.0), weight=cr.tensor(w), density=True)
    ht, _ = torch.histogram(torch.tensor(x), 5, range=(-1.0, 1.0), weight=torch.tensor(w), density=True)
    assert np.allclose(h.numpy(), ht.numpy())
    m, ex = cr.frexp(cr.tensor([8.0, 0.3, -5.0, 0.0]))
    assert np.allclose(m.numpy() * 2.0 ** ex.numpy(), [8.0, 0.3, -5.0, 0.0]) and ex.dtype == cr.int32
    mt, ext = torch.frexp(torch.tensor([8.0, 0.3, -5.0, 0.0]))
    assert np.allclose(m.numpy(), mt.numpy()) and np.array_equal(ex.numpy(), ext.numpy())
    n = cr.nextafter(cr.tensor([1.0], dtype=cr.float64), cr.tensor([2.0], dtype=cr.float64))
    assert n.item() == 1.0 + np.finfo(np.float64).eps


def test_binomial_and_poisson_draws_have_the_right_moments():
    cr.manual_seed(0)
    c = cr.full((20000,), 10.0)
    b = cr.binomial(c, cr.full((20000,), 0.3)).numpy()
    assert abs(b.mean() - 3.0) < 0.05 and abs(b.var() - 2.1) < 0.1 and b.dtype == np.float32
    p = cr.poisson(cr.full((20000,), 4.0)).numpy()
    assert abs(p.mean() - 4.0) < 0.06 and abs(p.var() - 4.0) < 0.2
    with pytest.raises(RuntimeError, match="binomial: prob"):
        cr.binomial(c[:2], cr.tensor([0.5, 1.5]))


# -- torch.special -----------------------------------------------------------------------------------
SPECIAL = [
    ("ndtr", "u"), ("ndtri", "prob"), ("log_ndtr", "u"), ("entr", "pos"), ("erfcx", "u"), ("expit", "u"),
    ("gammaln", "pos"), ("psi", "pos"), ("digamma", "pos"), ("erf", "u"), ("erfc", "u"), ("erfinv", "unit"),
    ("exp2", "u"), ("expm1", "u"), ("log1p", "pos"), ("sinc", "u"), ("logit", "prob"),
]


@pytest.mark.parametrize("name, kind", SPECIAL, ids=[c[0] for c in SPECIAL])
def test_special_matches_pytorch(name, kind):
    torch = _torch()
    a = _gen(kind, (3, 4))
    x, t = cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, yt = getattr(cr.special, name)(x), getattr(torch.special, name)(t)
    assert np.allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-10)
    y.sum().backward()
    yt.sum().backward()
    assert np.allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-8)


def test_special_formulas_and_gradients():
    x = cr.tensor([-1.5, 0.0, 0.7], dtype=cr.float64, requires_grad=True)
    assert np.allclose(cr.special.ndtr(x).detach().numpy(), [0.5 * math.erfc(-v / math.sqrt(2)) for v in
                                                             [-1.5, 0.0, 0.7]])
    assert np.allclose(cr.special.ndtri(cr.special.ndtr(x)).detach().numpy(), x.detach().numpy())
    assert cr.special.entr(cr.tensor([0.0])).item() == 0.0 and cr.special.entr(cr.tensor([-1.0])).item() == -math.inf
    assert cr.special.xlog1py(cr.tensor([0.0]), cr.tensor([-1.0])).item() == 0.0
    for f in (cr.special.ndtr, cr.special.log_ndtr, cr.special.erfcx):
        assert gradcheck(f, [x])
    p = cr.tensor([0.2, 1.5], dtype=cr.float64, requires_grad=True)
    assert gradcheck(cr.special.entr, [p])
    assert gradcheck(lambda a, b: cr.special.xlog1py(a, b), [x, p.sum() + x * 0])
    assert np.allclose(cr.special.softmax(x, 0).detach().numpy(), np.exp([-1.5, 0, 0.7]) / np.exp([-1.5, 0, 0.7]).sum())
    assert np.isclose(cr.special.multigammaln(cr.tensor(2.5, dtype=cr.float64), 2).item(),
                      0.5 * math.log(math.pi) + math.lgamma(2.5) + math.lgamma(2.0))


def test_xlogy_gradient_at_x_zero_is_log_y():
    """d/dx x log y = log y, also at x = 0 (PyTorch masks it only where y <= 0, whose log is not
    finite).  chainrule.xlogy returned 0 there (it replaced the whole expression by 0 at x = 0)."""
    x = cr.tensor([0.0, 2.0, 0.0, 0.0], dtype=cr.float64, requires_grad=True)
    y = cr.tensor([3.0, 2.0, 0.0, -1.0], dtype=cr.float64, requires_grad=True)
    out = cr.xlogy(x, y)
    assert np.allclose(out.detach().numpy(), [0.0, 2 * math.log(2.0), 0.0, 0.0])
    out.sum().backward()
    assert np.allclose(x.grad.numpy(), [math.log(3.0), math.log(2.0), 0.0, 0.0])
    assert np.allclose(y.grad.numpy(), [0.0, 1.0, 0.0, 0.0])
    assert gradcheck(cr.xlogy, [cr.tensor([0.0, 1.5], dtype=cr.float64, requires_grad=True),
                                cr.tensor([0.7, 2.0], dtype=cr.float64, requires_grad=True)])
    torch = _torch()
    _oracle(lambda L, a, b: L.xlogy(a * (a > 0), b.abs() + 0.1), [(5,), (5,)], torch)


def test_xlog1py_matches_pytorch():
    torch = _torch()
    a, b = np.array([0.0, 1.0, 2.0, 0.0]), np.array([-1.0, 0.5, 3.0, 2.0])
    _oracle(lambda L, x, y: L.special.xlog1py(x, y + 2.0), [(4,), (4,)], torch)
    assert np.allclose(cr.special.xlog1py(cr.tensor(a), cr.tensor(b)).numpy(),
                       torch.special.xlog1py(torch.tensor(a), torch.tensor(b)).numpy())


# -- the Tensor methods of the same functions (chainrule/_tensor_methods_extra.py) -----------------
METHODS = [
    ("det", (3, 3), ()), ("logdet", "pd", ()), ("inverse", (3, 3), ()), ("cholesky", "pd", ()),
    ("cholesky_inverse", "tri", ()), ("matrix_power", (3, 3), (3,)), ("matrix_exp", (3, 3), ()),
    ("pinverse", (4, 3), ()), ("renorm", (3, 4), (2, 0, 1.0)), ("hardshrink", (3, 4), (0.4,)),
    ("nanquantile", (3, 4), (0.3, 1)),
]


@pytest.mark.parametrize("name, shape, args", METHODS, ids=[c[0] for c in METHODS])
def test_tensor_methods_match_pytorch(name, shape, args):
    torch = _torch()
    if shape == "pd":
        m = R.standard_normal((3, 3))
        a = m @ m.T + 3 * np.eye(3)
    elif shape == "tri":
        a = np.tril(R.standard_normal((3, 3))) + 3 * np.eye(3)
    else:
        a = R.standard_normal(shape)
    x, t = cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, yt = getattr(x, name)(*args), getattr(t, name)(*args)
    assert np.allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-9, atol=1e-10)
    g = R.standard_normal(tuple(yt.shape))
    y.backward(cr.tensor(g))
    yt.backward(torch.tensor(g))
    assert np.allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-8, atol=1e-9)


def test_in_place_methods_renorm_put_nextafter():
    torch = _torch()
    a = R.standard_normal((3, 4))
    x, t = cr.tensor(a), torch.tensor(a)
    assert x.renorm_(2, 1, 0.5) is x
    t.renorm_(2, 1, 0.5)
    assert np.allclose(x.numpy(), t.numpy())
    src = cr.tensor([1.0, 2.0], dtype=cr.float64, requires_grad=True)
    base = cr.tensor(a, requires_grad=True)
    h = base * 1
    h.put_(cr.tensor([0, 5]), src)
    (h * 3).sum().backward()
    assert np.allclose(src.grad.numpy(), [3.0, 3.0])
    expect = np.full((3, 4), 3.0)
    expect.flat[[0, 5]] = 0.0  # overwritten: no gradient to the old values
    assert np.allclose(base.grad.numpy(), expect)
    leaf = cr.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        leaf.renorm_(2, 0, 0.5)
    n = cr.tensor([1.0], dtype=cr.float64)
    n.nextafter_(cr.tensor([0.0], dtype=cr.float64))
    assert n.item() == 1.0 - np.finfo(np.float64).epsneg
    s = cr.tensor(a).svd()
    st = torch.tensor(a).svd()
    assert np.allclose(s.S.numpy(), st.S.numpy())
    q = cr.tensor(a.T).qr()
    assert np.allclose((q.Q @ q.R).numpy(), a.T)
