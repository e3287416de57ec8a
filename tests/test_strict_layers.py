"""nn/ layers through the back-end table (issue 11, items 1 and 5): every layer and functional of
convolution, pooling, padding, vision, embedding, linear, dropout, attention, distance, the
extra activations, the initialisers and Module's state handling, run on the strict back end
(tests/strict_backend.py: arrays NumPy refuses) and compared with the CPU in float64.

Forward, backward (the gradients of Σ w·y for a fixed random w), and forward mode where the
CPU supports it.  An operation that calls NumPy on an array instead of the table, or makes a
constant on the CPU, fails loudly on the strict device.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import numpy as np
import pytest
from strict_backend import DEVICE, StrictArray
from strict_backend import host as _host

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule.autograd import forward_ad as fwAD

TOL = 1e-12





def _tensors(out: Any) -> list:
    return [o for o in (out if isinstance(out, (tuple, list)) else (out,)) if isinstance(o, cr.Tensor)]


def _same(got: Any, want: Any) -> None:
    gs, ws = _tensors(got), _tensors(want)
    assert len(gs) == len(ws)
    for g, w in zip(gs, ws):
        assert g.device == DEVICE and type(g._array) is StrictArray
        assert g.dtype == w.dtype and tuple(g.shape) == tuple(w.shape)
        np.testing.assert_allclose(_host(g), _host(w), rtol=TOL, atol=TOL)


def _loss(out: Any, seed: int = 7) -> cr.Tensor:
    """Σ w·y over the floating outputs, w fixed random (made on the CPU, moved to y's device)."""
    rng = np.random.default_rng(seed)
    total = None
    for y in _tensors(out):
        if y.dtype.kind != "f" or not y.requires_grad:
            continue
        w = cr.tensor(rng.standard_normal(tuple(y.shape))).to(y.dtype).to(y.device)
        term = (y * w).sum()
        total = term if total is None else total + term
    return total


def check(fn: Callable, *inputs: Any, seed: int | None = None, jvp: bool = True) -> None:
    """fn on CPU inputs against fn on their strict copies: outputs, input gradients, and (when the
    CPU has a forward-mode rule) the tangent of a random input direction.  ``seed`` reseeds the
    default generator before each call (random layers draw the same numbers on both devices)."""

    def run(args: list) -> Any:
        if seed is not None:
            cr.manual_seed(seed)
        return fn(*args)

    leaves = [x.detach().requires_grad_(x.dtype.kind == "f") if isinstance(x, cr.Tensor) else x for x in inputs]
    moved = [x.detach().to("strict").requires_grad_(x.dtype.kind == "f") if isinstance(x, cr.Tensor) else x
             for x in inputs]
    want = run(leaves)
    got = run(moved)
    _same(got, want)
    loss = _loss(want)
    if loss is None:
        return
    loss.backward()
    _loss(got).backward()
    for c, s in zip(leaves, moved):
        if isinstance(c, cr.Tensor) and c.grad is not None:
            assert s.grad is not None and s.grad.device == DEVICE
            np.testing.assert_allclose(_host(s.grad), _host(c.grad), rtol=TOL, atol=TOL)
    if jvp:
        _check_jvp(run, inputs)


def _check_jvp(run: Callable, inputs: tuple) -> None:
    rng = np.random.default_rng(11)
    floats = [i for i, x in enumerate(inputs) if isinstance(x, cr.Tensor) and x.dtype.kind == "f"]
    if not floats:
        return
    k = floats[0]
    direction = cr.tensor(rng.standard_normal(tuple(inputs[k].shape)))

    def tangent(dev: str) -> Any:
        args = [x.detach().to(dev) if isinstance(x, cr.Tensor) else x for x in inputs]
        with fwAD.dual_level():
            args[k] = fwAD.make_dual(args[k], direction.to(dev))
            return [fwAD.unpack_dual(y).tangent for y in _tensors(run(args))]

    try:
        want = tangent("cpu")
    except NotImplementedError:  # no forward-mode rule on the CPU either
        return
    got = tangent("strict")
    for g, w in zip(got, want):
        if w is None:
            assert g is None
            continue
        assert g.device == DEVICE
        np.testing.assert_allclose(_host(g), _host(w), rtol=TOL, atol=TOL)


def t(*shape: int, seed: int = 0, low: float | None = None) -> cr.Tensor:
    a = np.random.default_rng(seed + 100 * len(shape)).standard_normal(shape)
    return cr.tensor(np.abs(a) + low if low is not None else a)


def idx(values: Any) -> cr.Tensor:
    return cr.tensor(values, dtype=cr.int64)


def check_module(make: Callable[[], nn.Module], *inputs: Any, train: bool = False, seed: int | None = None,
                 call: Callable | None = None) -> None:
    """The same module (double precision) on both devices: outputs, input and parameter gradients."""
    cr.manual_seed(0)
    cpu = make().double()
    dev = copy.deepcopy(cpu).to("strict")
    cpu.train(train)
    dev.train(train)
    call = call or (lambda mod, *xs: mod(*xs))
    xs_c = [x.detach().requires_grad_(x.dtype.kind == "f") if isinstance(x, cr.Tensor) else x for x in inputs]
    xs_s = [x.detach().to("strict").requires_grad_(x.dtype.kind == "f") if isinstance(x, cr.Tensor) else x
            for x in inputs]
    if seed is not None:
        cr.manual_seed(seed)
    want = call(cpu, *xs_c)
    if seed is not None:
        cr.manual_seed(seed)
    got = call(dev, *xs_s)
    _same(got, want)
    _loss(want).backward()
    _loss(got).backward()
    for (name, p), q in zip(cpu.named_parameters(), dev.parameters()):
        if p.grad is None:
            assert q.grad is None, name
            continue
        assert q.grad.device == DEVICE, name
        np.testing.assert_allclose(_host(q.grad), _host(p.grad), rtol=TOL, atol=TOL, err_msg=name)
    for c, s in zip(xs_c, xs_s):
        if isinstance(c, cr.Tensor) and c.grad is not None:
            np.testing.assert_allclose(_host(s.grad), _host(c.grad), rtol=TOL, atol=TOL)


# ---------------------------------------------------------------- convolution
CONV = {
    "conv1d": lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1),
    "conv1d_same_dilated": lambda x, w, b: F.conv1d(x, w, b, padding="same", dilation=2),
    "causal_conv1d": lambda x, w, b: F.causal_conv1d(x, w, b, dilation=2),
}


@pytest.mark.parametrize("name", list(CONV))
def test_conv1d_functionals(strict, name):
    check(CONV[name], t(2, 4, 9), t(6, 4, 3, seed=1), t(6, seed=2))


def test_conv2d_grouped_strided(strict):
    check(lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2), groups=2),
          t(2, 4, 7, 8), t(6, 2, 3, 3, seed=1), t(6, seed=2))


def test_conv2d_without_bias_and_unbatched(strict):
    check(lambda x, w: F.conv2d(x, w), t(3, 6, 6), t(2, 3, 2, 2, seed=1))


def test_conv3d(strict):
    check(lambda x, w, b: F.conv3d(x, w, b, padding=1, stride=2), t(2, 2, 5, 5, 4), t(3, 2, 3, 3, 3, seed=1),
          t(3, seed=2))


@pytest.mark.parametrize("d", [1, 2, 3])
def test_conv_transpose(strict, d):
    fn = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[d]
    x = t(2, 4, *([4] * d))
    w = t(4, 3, *([3] * d), seed=1)
    check(lambda a, u, b: fn(a, u, b, stride=2, padding=1, output_padding=1), x, w, t(3, seed=2))


def test_unfold_fold(strict):
    check(lambda x: F.fold(F.unfold(x, 3, padding=1, stride=2), (6, 7), 3, padding=1, stride=2), t(2, 3, 6, 7))


@pytest.mark.parametrize("padding", [1, "same", "valid"])
def test_conv2d_module_paddings(strict, padding):
    check_module(lambda: nn.Conv2d(3, 4, 3, padding=padding), t(2, 3, 6, 5))


@pytest.mark.parametrize("make, shape", [
    (lambda: nn.Conv1d(3, 4, 3, stride=2), (2, 3, 9)),
    (lambda: nn.Conv3d(2, 3, 2), (1, 2, 4, 4, 4)),
    (lambda: nn.ConvTranspose1d(3, 2, 3, stride=2), (2, 3, 5)),
    (lambda: nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1), (2, 3, 4, 4)),
])
def test_conv_modules(strict, make, shape):
    check_module(make, t(*shape))


# ---------------------------------------------------------------- pooling
POOLS = {
    "max_pool1d": (lambda x: F.max_pool1d(x, 3, 2, padding=1, return_indices=True), (2, 3, 9)),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2), (2, 3, 6, 6)),
    "max_pool2d_overlap_ceil": (lambda x: F.max_pool2d(x, 3, 2, padding=1, ceil_mode=True, return_indices=True),
                                (2, 3, 7, 6)),
    "max_pool2d_dilated": (lambda x: F.max_pool2d(x, 2, 1, dilation=2), (1, 2, 6, 6)),
    "max_pool3d": (lambda x: F.max_pool3d(x, 2, return_indices=True), (1, 2, 4, 4, 4)),
    "avg_pool1d": (lambda x: F.avg_pool1d(x, 3, 2, padding=1), (2, 3, 9)),
    "avg_pool2d_no_pad_count": (lambda x: F.avg_pool2d(x, 3, 2, padding=1, ceil_mode=True,
                                                      count_include_pad=False), (2, 3, 7, 6)),
    "avg_pool2d_divisor": (lambda x: F.avg_pool2d(x, 2, divisor_override=3), (2, 3, 6, 6)),
    "avg_pool3d": (lambda x: F.avg_pool3d(x, 2), (1, 2, 4, 4, 4)),
    "adaptive_avg_pool1d": (lambda x: F.adaptive_avg_pool1d(x, 4), (2, 3, 9)),
    "adaptive_avg_pool2d": (lambda x: F.adaptive_avg_pool2d(x, (3, 2)), (2, 3, 7, 5)),
    "adaptive_avg_pool2d_1": (lambda x: F.adaptive_avg_pool2d(x, 1), (2, 3, 7, 5)),
    "adaptive_avg_pool3d": (lambda x: F.adaptive_avg_pool3d(x, (2, 3, 2)), (1, 2, 5, 6, 4)),
    "adaptive_max_pool1d": (lambda x: F.adaptive_max_pool1d(x, 4, return_indices=True), (2, 3, 9)),
    "adaptive_max_pool2d": (lambda x: F.adaptive_max_pool2d(x, (3, 2), return_indices=True), (2, 3, 7, 5)),
    "adaptive_max_pool3d": (lambda x: F.adaptive_max_pool3d(x, 2, return_indices=True), (1, 2, 4, 5, 4)),
    "lp_pool2d": (lambda x: F.lp_pool2d(x, 2.0, 2), (2, 3, 6, 6)),
    "local_response_norm": (lambda x: F.local_response_norm(x, 3), (2, 5, 4, 4)),
}


@pytest.mark.parametrize("name", list(POOLS))
def test_pooling(strict, name):
    fn, shape = POOLS[name]
    check(fn, t(*shape, low=0.1) if name.startswith("lp") else t(*shape))


@pytest.mark.parametrize("d", [1, 2])
def test_max_unpool(strict, d):
    pool = {1: F.max_pool1d, 2: F.max_pool2d}[d]
    unpool = {1: F.max_unpool1d, 2: F.max_unpool2d}[d]

    def fn(x):
        y, i = pool(x, 2, return_indices=True)
        return unpool(y, i, 2)

    check(fn, t(2, 3, *([6] * d)))


@pytest.mark.parametrize("make, shape", [
    (lambda: nn.MaxPool2d(2), (2, 3, 6, 6)),
    (lambda: nn.AvgPool2d(3, 2, 1), (2, 3, 6, 6)),
    (lambda: nn.AdaptiveAvgPool2d((2, 3)), (2, 3, 6, 7)),
    (lambda: nn.AdaptiveMaxPool2d(2), (2, 3, 6, 7)),
    (lambda: nn.LPPool1d(2, 3), (2, 3, 9)),
    (lambda: nn.LocalResponseNorm(2), (2, 4, 3, 3)),
])
def test_pooling_modules(strict, make, shape):
    check(lambda x: make()(x), t(*shape))


# ---------------------------------------------------------------- padding and vision
@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad(strict, mode):
    check(lambda x: F.pad(x, (2, 1, 1, 2), mode=mode, value=0.5 if mode == "constant" else None), t(2, 3, 4, 5))


def test_pad_negative_constant(strict):
    check(lambda x: F.pad(x, (-1, 2, 0, -1)), t(2, 3, 4, 5))


@pytest.mark.parametrize("make", [nn.ReflectionPad2d, nn.ReplicationPad2d, nn.ZeroPad2d, nn.CircularPad2d])
def test_padding_modules(strict, make):
    check(lambda x: make((1, 2, 2, 1))(x), t(2, 3, 4, 5))


INTERPOLATE = {
    "nearest": (dict(scale_factor=2, mode="nearest"), (2, 3, 4, 5)),
    "nearest_size": (dict(size=(7, 3), mode="nearest"), (2, 3, 4, 5)),
    "nearest-exact": (dict(size=(7, 3), mode="nearest-exact"), (2, 3, 4, 5)),
    "linear": (dict(size=7, mode="linear"), (2, 3, 5)),
    "bilinear": (dict(scale_factor=1.5, mode="bilinear"), (2, 3, 4, 5)),
    "bilinear_corners": (dict(size=(6, 7), mode="bilinear", align_corners=True), (2, 3, 4, 5)),
    "trilinear": (dict(size=(3, 4, 5), mode="trilinear"), (1, 2, 2, 3, 4)),
    "area": (dict(size=(2, 3), mode="area"), (2, 3, 4, 6)),
    "bicubic": (dict(size=(6, 3), mode="bicubic"), (2, 3, 4, 5)),
}


@pytest.mark.parametrize("name", list(INTERPOLATE))
def test_interpolate(strict, name):
    kwargs, shape = INTERPOLATE[name]
    check(lambda x: F.interpolate(x, **kwargs), t(*shape))


def test_upsample_modules_and_shuffles(strict):
    check(lambda x: nn.Upsample(scale_factor=2, mode="bilinear")(x), t(1, 2, 3, 3))
    check(lambda x: F.pixel_unshuffle(F.pixel_shuffle(x, 2) * 2, 2), t(2, 8, 3, 3))
    check(lambda x: F.channel_shuffle(x, 2), t(2, 4, 3, 3))


# ---------------------------------------------------------------- embedding
def test_embedding(strict):
    check(lambda w, i: F.embedding(i, w, padding_idx=1), t(6, 4), idx([[0, 1, 3], [5, 3, 3]]))


def test_embedding_max_norm(strict):
    check(lambda w, i: F.embedding(i, w, max_norm=1.0), t(6, 4), idx([0, 2, 2, 5]))


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_2d(strict, mode):
    check(lambda w, i: F.embedding_bag(i, w, mode=mode, padding_idx=2), t(7, 3), idx([[0, 2, 4], [6, 6, 1]]))


@pytest.mark.parametrize("last", [False, True])
def test_embedding_bag_offsets(strict, last):
    off = [0, 2, 2, 5] if last else [0, 2, 2]
    check(lambda w, i, o: F.embedding_bag(i, w, o, mode="mean", include_last_offset=last), t(7, 3),
          idx([0, 3, 1, 1, 6, 2]), idx(off))


def test_embedding_bag_per_sample_weights(strict):
    check(lambda w, i, o, p: F.embedding_bag(i, w, o, mode="sum", per_sample_weights=p), t(7, 3),
          idx([0, 3, 1, 1, 6]), idx([0, 1, 3]), t(5, seed=4))


def test_embedding_modules(strict):
    check_module(lambda: nn.Embedding(8, 3, padding_idx=0), idx([[1, 0, 7], [2, 2, 5]]))
    check_module(lambda: nn.EmbeddingBag(8, 3, mode="max"), idx([[1, 0, 7], [2, 2, 5]]))
    check_module(lambda: nn.Embedding.from_pretrained(t(5, 2), freeze=False), idx([4, 0]))


def test_one_hot(strict):
    check(lambda i: F.one_hot(i, 5), idx([[0, 3], [4, 1]]))
    check(lambda i: F.one_hot(i), idx([2, 0, 1]))


# ---------------------------------------------------------------- linear
def test_linear(strict):
    check(lambda x, w, b: F.linear(x, w, b), t(4, 3), t(5, 3, seed=1), t(5, seed=2))
    check(lambda x, w: F.linear(x, w), t(2, 4, 3), t(5, 3, seed=1))


def test_linear_big_enough_for_the_pooled_product(strict):
    check(lambda x, w, b: F.linear(x, w, b), t(300, 20), t(120, 20, seed=1), t(120, seed=2))


def test_linear_modules(strict):
    check_module(lambda: nn.Linear(3, 4), t(5, 3))
    check_module(lambda: nn.Bilinear(3, 2, 4), t(5, 3), t(5, 2, seed=1))
    check(lambda a, b, w, c: F.bilinear(a, b, w, c), t(5, 3), t(5, 2, seed=1), t(4, 3, 2, seed=2), t(4, seed=3))


# ---------------------------------------------------------------- dropout
def test_dropout_eval_is_the_identity(strict):
    check(lambda x: F.dropout(x, 0.5, training=False), t(4, 5))
    check_module(lambda: nn.Dropout(0.3), t(4, 5))


DROPOUT = {
    "dropout": lambda x: F.dropout(x, 0.4),
    "dropout_all": lambda x: F.dropout(x, 1.0),
    "dropout1d": lambda x: F.dropout1d(x.reshape(2, 6, 5), 0.5),
    "dropout2d": lambda x: F.dropout2d(x.reshape(2, 3, 2, 5), 0.5),
    "dropout3d": lambda x: F.dropout3d(x.reshape(1, 3, 2, 2, 5), 0.5),
    "alpha_dropout": lambda x: F.alpha_dropout(x, 0.3, training=True),
    "feature_alpha_dropout": lambda x: F.feature_alpha_dropout(x.reshape(2, 6, 5), 0.3, training=True),
}


@pytest.mark.parametrize("name", list(DROPOUT))
def test_dropout_with_a_seed_drops_the_same_units_on_any_device(strict, name):
    check(DROPOUT[name], t(12, 5), seed=5)


# ---------------------------------------------------------------- attention
def test_scaled_dot_product_attention(strict):
    q, k, v = t(2, 3, 4, 5), t(2, 3, 6, 5, seed=1), t(2, 3, 6, 2, seed=2)
    check(lambda a, b, c: F.scaled_dot_product_attention(a, b, c), q, k, v)
    check(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, is_causal=True), q, k, v)
    keep = cr.tensor(np.random.default_rng(3).random((4, 6)) > 0.3)
    check(lambda a, b, c, m: F.scaled_dot_product_attention(a, b, c, attn_mask=m), q, k, v, keep)
    check(lambda a, b, c, m: F.scaled_dot_product_attention(a, b, c, attn_mask=m), q, k, v, t(4, 6, seed=4))


def test_scaled_dot_product_attention_dropout(strict):
    q, k, v = t(2, 3, 4, 5), t(2, 3, 6, 5, seed=1), t(2, 3, 6, 2, seed=2)
    check(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, dropout_p=0.3), q, k, v, seed=2)


def test_multihead_attention(strict):
    x, mem = t(4, 2, 6), t(5, 2, 6, seed=1)
    check_module(lambda: nn.MultiheadAttention(6, 2), x, mem, mem)
    pad = cr.tensor([[False, False, True, False, True], [False, True, False, False, False]])
    check_module(lambda: nn.MultiheadAttention(6, 3, add_bias_kv=True, add_zero_attn=True), x, mem, mem, pad,
                 call=lambda m, q, k, v, p: m(q, k, v, key_padding_mask=p, average_attn_weights=False))
    check_module(lambda: nn.MultiheadAttention(6, 2, batch_first=True, kdim=3, vdim=4), t(2, 4, 6),
                 t(2, 5, 3, seed=2), t(2, 5, 4, seed=3))
    causal = nn.Transformer.generate_square_subsequent_mask(4, dtype=cr.float64).to("strict")
    check_module(lambda: nn.MultiheadAttention(6, 2), x,
                 call=lambda m, q: m(q, q, q, attn_mask=causal if q.device == DEVICE else causal.cpu()))
    check_module(lambda: nn.MultiheadAttention(6, 2), x, call=lambda m, q: m(q, q, q, is_causal=True,
                                                                                attn_mask=None))
    bool_causal = cr.tensor(np.triu(np.ones((4, 4), dtype=bool), 1))
    check_module(lambda: nn.MultiheadAttention(6, 2), x, bool_causal, call=lambda m, q, a: m(q, q, q, attn_mask=a))


def test_transformer_layers(strict):
    x = t(2, 5, 8)
    check_module(lambda: nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True), x)
    check_module(lambda: nn.TransformerEncoderLayer(8, 2, 16, dropout=0.2, batch_first=True, norm_first=True), x,
                 train=True, seed=3)
    check_module(lambda: nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, batch_first=True), x, t(2, 3, 8, seed=1))


def test_additive_attention(strict):
    pad = cr.tensor([[False, False, True], [False, True, True]])
    check(lambda q, k, w, u, a, v, m: F.additive_attention(q, k, w, u, a, v, mask=m), t(2, 4), t(2, 3, 5, seed=1),
          t(6, 4, seed=3), t(6, 5, seed=4), t(6, seed=5), t(2, 3, 2, seed=2), pad)
    check_module(lambda: nn.AdditiveAttention(4, 5, 6), t(2, 3, 4), t(2, 3, 5, seed=1), pad,
                 call=lambda m, q, k, p: m(q, k, mask=p))


# ---------------------------------------------------------------- distances and extra activations
DIST = {
    "pairwise_distance": lambda a, b: F.pairwise_distance(a, b, p=3.0),
    "cosine_similarity": lambda a, b: F.cosine_similarity(a, b),
    "normalize": lambda a, b: F.normalize(a, p=1.5, dim=0),
    "pdist": lambda a, b: F.pdist(a),
    "cdist": lambda a, b: cr.cdist(a, b),
}


@pytest.mark.parametrize("name", list(DIST))
def test_distances(strict, name):
    check(DIST[name], t(4, 3), t(4, 3, seed=1))


ACT = {
    "glu": lambda x: F.glu(x, -1),
    "rrelu_eval": lambda x: F.rrelu(x),
    "rrelu_train": lambda x: F.rrelu(x, training=True),
    "celu": lambda x: F.celu(x, 0.7),
    "softmin": lambda x: F.softmin(x, 1),
    "threshold": lambda x: F.threshold(x, 0.1, -2.0),
    "tanhshrink": lambda x: F.tanhshrink(x),
    "softshrink": lambda x: F.softshrink(x, 0.3),
    "hardshrink": lambda x: F.hardshrink(x, 0.3),
    "gumbel_softmax": lambda x: F.gumbel_softmax(x, 0.5),
    "gumbel_softmax_hard": lambda x: F.gumbel_softmax(x, 0.5, hard=True),
    "prelu": lambda x: F.prelu(x, cr.tensor([0.2, -0.1, 0.3, 0.5], dtype=cr.float64).to(x.device)),
}


@pytest.mark.parametrize("name", list(ACT))
def test_extra_activations(strict, name):
    check(ACT[name], t(3, 4), seed=9)


INPLACE = {
    "elu_": lambda x: F.elu_(x, 0.5),
    "selu_": F.selu_,
    "celu_": F.celu_,
    "leaky_relu_": lambda x: F.leaky_relu_(x, 0.2),
    "hardtanh_": F.hardtanh_,
    "threshold_": lambda x: F.threshold_(x, 0.1, 3.0),
    "rrelu_": F.rrelu_,
}


@pytest.mark.parametrize("name", list(INPLACE))
def test_inplace_activations(strict, name):
    x = t(3, 4)
    want = INPLACE[name](x.clone())
    s = x.to("strict")
    got = INPLACE[name](s)
    assert got is s
    _same(got, want)


def test_activation_modules(strict):
    check_module(lambda: nn.PReLU(4, 0.3), t(2, 4, 3))
    check_module(lambda: nn.RReLU(), t(2, 4, 3), train=True, seed=1)
    check_module(lambda: nn.Softmin(1), t(2, 4))


# ---------------------------------------------------------------- init and Module
INIT = {
    "uniform_": lambda p: nn.init.uniform_(p, -0.5, 2.0),
    "normal_": lambda p: nn.init.normal_(p, 1.0, 0.5),
    "trunc_normal_": lambda p: nn.init.trunc_normal_(p, 0.0, 1.0, -0.5, 0.5),
    "constant_": lambda p: nn.init.constant_(p, 0.25),
    "zeros_": nn.init.zeros_,
    "ones_": nn.init.ones_,
    "eye_": lambda p: nn.init.eye_(p[0, 0]),
    "dirac_": lambda p: nn.init.dirac_(p, 2),
    "orthogonal_": lambda p: nn.init.orthogonal_(p, 1.5),
    "xavier_uniform_": nn.init.xavier_uniform_,
    "xavier_normal_": nn.init.xavier_normal_,
    "kaiming_uniform_": lambda p: nn.init.kaiming_uniform_(p, a=5 ** 0.5),
    "kaiming_normal_": lambda p: nn.init.kaiming_normal_(p, mode="fan_out", nonlinearity="relu"),
}


@pytest.mark.parametrize("name", list(INIT))
def test_init_on_a_strict_parameter(strict, name):
    cpu = nn.Parameter(cr.zeros(4, 2, 3, 3, dtype=cr.float64))
    dev = nn.Parameter(cr.zeros(4, 2, 3, 3, dtype=cr.float64).to("strict"))
    with cr.no_grad():
        cr.manual_seed(4)
        INIT[name](cpu)
        cr.manual_seed(4)
        INIT[name](dev)
    assert type(dev._array) is StrictArray
    np.testing.assert_allclose(_host(dev), _host(cpu), rtol=TOL, atol=TOL)


def test_module_reset_and_zero_grad_on_strict(strict):
    net = nn.Sequential(nn.Conv2d(2, 3, 3), nn.Flatten(), nn.Linear(12, 2), nn.Embedding(3, 2)).double()
    net.to("strict")
    cr.manual_seed(2)
    for m in (net[0], net[2], net[3]):
        m.reset_parameters()
    ref = nn.Sequential(nn.Conv2d(2, 3, 3), nn.Flatten(), nn.Linear(12, 2), nn.Embedding(3, 2)).double()
    cr.manual_seed(2)
    for m in (ref[0], ref[2], ref[3]):
        m.reset_parameters()
    for p, q in zip(ref.parameters(), net.parameters()):
        np.testing.assert_allclose(_host(q), _host(p), rtol=TOL)
    for p in net.parameters():
        p.grad = cr.ones_like(p)
    net.zero_grad(set_to_none=False)
    for p in net.parameters():
        assert p.grad.device == DEVICE and not _host(p.grad).any()


def test_load_state_dict_into_a_strict_module(strict):
    src = nn.Linear(3, 2).double()
    dst = nn.Linear(3, 2).double().to("strict")
    dst.load_state_dict(src.state_dict())  # CPU values copied onto the strict device
    assert dst.weight.device == DEVICE
    np.testing.assert_array_equal(_host(dst.weight), _host(src.weight))
    dst.load_state_dict({k: v.numpy() for k, v in nn.Linear(3, 2).double().state_dict().items()})
    assert dst.bias.device == DEVICE


def test_deepcopy_of_a_strict_parameter_keeps_its_gradient_there(strict):
    p = nn.Parameter(cr.ones(2, dtype=cr.float64).to("strict"))
    p.grad = cr.full((2,), 3.0, dtype=cr.float64).to("strict")
    q = copy.deepcopy(p)
    assert q.device == DEVICE and q.grad.device == DEVICE and _host(q.grad).tolist() == [3.0, 3.0]


def test_a_lenet_step_on_strict(strict):
    """Conv → ReLU → max-pool → Linear: the w3 model's layers, one training step on each device."""
    def make():
        return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3),
                             nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(6, 5), nn.Dropout(0.2))

    check_module(make, t(3, 1, 8, 8), train=True, seed=6)


def test_embedding_indices_on_another_device_name_both(strict):
    w = t(5, 3).to("strict")
    for fn in (lambda i: F.embedding(i, w), lambda i: F.embedding_bag(i.reshape(1, 2), w)):
        with pytest.raises(RuntimeError, match="expected all tensors to be on the same device.*cpu and strict:0"):
            fn(idx([1, 2]))
