"""F.linear_cross_entropy, nn.LinearCrossEntropyLoss, nn.LinearCrossEntropyOptions.

Values from the formula (log-softmax written out in NumPy), finite differences (gradcheck,
gradgradcheck, forward mode) on both paths (the reference composition and the chunked op),
PyTorch 2.13 as oracle, the errors, and the chunked path's memory (tracemalloc: NumPy reports
its arrays to it) against the full (N, C) logits.
"""

import tracemalloc
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck
from chainrule.backend.pool import POOL
from chainrule.nn.functional.linear_cross_entropy import LinearCrossEntropyChunked

Opts = nn.LinearCrossEntropyOptions
R = np.random.default_rng(7)

# None: the reference composition; the others: the chunked op (chunks of 2 rows, of 3, and PyTorch's
# automatic size)
OPTIONS = [None, Opts(batch_chunk_size=2), Opts(batch_chunk_size=3), Opts()]
OPTION_IDS = ["reference", "chunk2", "chunk3", "auto"]


def t64(a, grad=False):
    return cr.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def formula(x, W, t, b=None, w=None, reduction="mean", ignore_index=-100):
    """ℓ_i = -w_{t_i} log softmax(x_i Wᵀ + b)[t_i] (0 where ignored); 'mean' divides by Σ w_{t_i}."""
    z = x @ W.T + (0 if b is None else b)
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    keep = t != ignore_index
    ts = np.where(keep, t, 0)
    wt = (np.ones(W.shape[0]) if w is None else w)[ts] * keep
    rows = -wt * logp[np.arange(len(t)), ts]
    if reduction == "none":
        return rows
    return rows.sum() / wt.sum() if reduction == "mean" else rows.sum()


def sample(n=7, i=3, c=6, ignored=(2,)):
    x, W, b = R.standard_normal((n, i)), R.standard_normal((c, i)), R.standard_normal(c)
    t = R.integers(0, c, n)
    t[list(ignored)] = -100
    return x, W, b, t, R.uniform(0.5, 2.0, c)


# --------------------------------------------------------------------------- values from the formula
@pytest.mark.parametrize("opts", OPTIONS, ids=OPTION_IDS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_values_equal_the_formula(opts, reduction):
    x, W, b, t, w = sample()
    for bias in (None, b):
        for cw in (None, w):
            got = F.linear_cross_entropy(t64(x), t64(W), cr.tensor(t), linear_bias=None if bias is None else t64(bias),
                                         weight=None if cw is None else t64(cw), reduction=reduction, options=opts)
            np.testing.assert_allclose(got.numpy(), formula(x, W, t, bias, cw, reduction), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("opts", OPTIONS, ids=OPTION_IDS)
def test_ignore_index_given_and_none(opts):
    x, W, _, t, _ = sample(ignored=())
    t[[1, 4]] = 2
    got = F.linear_cross_entropy(t64(x), t64(W), cr.tensor(t), ignore_index=2, reduction="none", options=opts)
    np.testing.assert_allclose(got.numpy(), formula(x, W, t, reduction="none", ignore_index=2), rtol=1e-12)
    assert got.numpy()[1] == 0 and got.numpy()[4] == 0
    # None means -100 for class indices (cross_entropy's default)
    t[3] = -100
    a = F.linear_cross_entropy(t64(x), t64(W), cr.tensor(t), options=opts)
    b = F.cross_entropy(t64(x) @ t64(W).T, cr.tensor(t))
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)


@pytest.mark.parametrize("opts", OPTIONS, ids=OPTION_IDS)
def test_every_target_ignored(opts):
    """'mean' over nothing is 0/0 = NaN with zero gradients (cross_entropy's rule); 'sum' is 0."""
    x, W, _, _, _ = sample()
    t = np.full(7, -100)
    xt, Wt = t64(x, True), t64(W, True)
    loss = F.linear_cross_entropy(xt, Wt, cr.tensor(t), options=opts)
    assert np.isnan(loss.detach().numpy())
    loss.backward()
    assert not xt.grad.numpy().any() and not Wt.grad.numpy().any()
    assert F.linear_cross_entropy(t64(x), t64(W), cr.tensor(t), reduction="sum", options=opts).numpy() == 0


@pytest.mark.parametrize("opts", OPTIONS, ids=OPTION_IDS)
def test_unbatched_input(opts):
    x, W, b, _, _ = sample()
    got = F.linear_cross_entropy(t64(x[0]), t64(W), cr.tensor(4), linear_bias=t64(b), reduction="none", options=opts)
    assert got.shape == ()
    np.testing.assert_allclose(got.numpy(), formula(x[:1], W, np.array([4]), b, reduction="none")[0], rtol=1e-12)


@pytest.mark.parametrize("opts", OPTIONS, ids=OPTION_IDS)
def test_empty_batch(opts):
    W = t64(R.standard_normal((5, 3)), True)
    x = t64(np.zeros((0, 3)), True)
    t = cr.tensor(np.zeros(0, dtype=np.int64))
    assert np.isnan(F.linear_cross_entropy(x, W, t, options=opts).item())
    assert F.linear_cross_entropy(x, W, t, reduction="sum", options=opts).item() == 0
    none = F.linear_cross_entropy(x, W, t, reduction="none", options=opts)
    assert none.shape == (0,)
    F.linear_cross_entropy(x, W, t, reduction="sum", options=opts).backward()
    assert x.grad.shape == (0, 3) and W.grad.shape == (5, 3) and not W.grad.numpy().any()


def test_k_dimensional_and_probability_targets_equal_the_composition():
    x = R.standard_normal((3, 4))
    W = R.standard_normal((5, 2, 3, 4))  # C = 5, out_features (2, 3)
    b = R.standard_normal((5, 2, 3))
    logits = np.einsum("ni,cdei->ncde", x, W) + b
    t = R.integers(0, 5, (3, 2, 3))
    t[0, 1, 2] = -100
    got = F.linear_cross_entropy(t64(x), t64(W), cr.tensor(t), linear_bias=t64(b), reduction="none")
    want = F.cross_entropy(t64(logits), cr.tensor(t), reduction="none")
    assert got.shape == (3, 2, 3)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)
    p = R.dirichlet(np.ones(5), (3, 2, 3)).transpose(0, 3, 1, 2)  # (N, C, d1, d2)
    got = F.linear_cross_entropy(t64(x), t64(W), t64(p), linear_bias=t64(b), label_smoothing=0.2)
    want = F.cross_entropy(t64(logits), t64(p), label_smoothing=0.2)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


def test_unsupported_options_fall_back_with_a_warning():
    x, W, _, t, _ = sample(ignored=())
    probs = R.dirichlet(np.ones(6), 7)
    cases = [
        (t64(W), cr.tensor(t), dict(label_smoothing=0.1)),
        (t64(W), t64(probs), {}),
        (t64(R.standard_normal((6, 2, 3))), cr.tensor(R.integers(0, 6, (7, 2))), {}),
    ]
    for Wt, target, kw in cases:
        with pytest.warns(UserWarning, match="options.. ignored"):
            got = F.linear_cross_entropy(t64(x), Wt, target, options=Opts(batch_chunk_size=2), **kw)
        ref = F.linear_cross_entropy(t64(x), Wt, target, **kw)
        np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the chunked path warns about nothing
        F.linear_cross_entropy(t64(x), t64(W), cr.tensor(t), options=Opts(batch_chunk_size=2))


# --------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("opts", OPTIONS, ids=OPTION_IDS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradcheck_gradgradcheck_and_forward_mode(opts, reduction):
    x, W, b, t, w = sample(n=5, i=3, c=4, ignored=(1,))
    xt, Wt, bt = t64(x, True), t64(W, True), t64(b, True)
    tt, wt = cr.tensor(t), t64(w)

    def f(x, W, b):
        return F.linear_cross_entropy(x, W, tt, linear_bias=b, weight=wt, reduction=reduction, options=opts)

    def g(x, W):
        return F.linear_cross_entropy(x, W, tt, reduction=reduction, options=opts)

    assert gradcheck(f, (xt, Wt, bt), check_forward_ad=True)
    assert gradgradcheck(f, (xt, Wt, bt))
    assert gradcheck(g, (xt, Wt), check_forward_ad=True)
    assert gradgradcheck(g, (xt, Wt))


def test_chunked_gradients_equal_the_reference_and_allow_a_second_backward():
    x, W, b, t, w = sample(n=11, i=4, c=9)
    grads = []
    for opts in (None, Opts(batch_chunk_size=4)):
        xt, Wt, bt = t64(x, True), t64(W, True), t64(b, True)
        loss = F.linear_cross_entropy(xt, Wt, cr.tensor(t), linear_bias=bt, weight=t64(w), options=opts)
        loss.backward(retain_graph=True)
        loss.backward()  # no allow_retain_graph needed: the chunked backward consumes nothing
        grads.append([a.grad.numpy() for a in (xt, Wt, bt)])
    for a, c in zip(*grads):
        np.testing.assert_allclose(c, a, rtol=1e-10, atol=1e-13)


def test_only_the_wanted_gradients():
    x, W, b, t, _ = sample()
    xt, Wt, bt = t64(x), t64(W, True), t64(b)
    F.linear_cross_entropy(xt, Wt, cr.tensor(t), linear_bias=bt, options=Opts(batch_chunk_size=3)).backward()
    assert xt.grad is None and bt.grad is None and Wt.grad.shape == W.shape


def test_float32_and_float16():
    x, W, b, t, _ = sample(n=9, i=5, c=12)
    want = formula(x, W, t, b)
    for dt, tol in ((np.float32, 1e-5), (np.float16, 5e-3)):
        args = [cr.tensor(a.astype(dt), requires_grad=True) for a in (x, W, b)]
        got = F.linear_cross_entropy(args[0], args[1], cr.tensor(t), linear_bias=args[2], options=Opts())
        assert got.dtype == dt
        np.testing.assert_allclose(got.item(), want, rtol=tol)
        got.backward()
        assert all(a.grad.dtype == dt for a in args)


# --------------------------------------------------------------------------- memory
def _peak(fn):
    POOL.clear()  # arrays the buffer pool keeps would not count again
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_chunked_path_never_holds_the_full_logits():
    N, I, C, B = 256, 8, 4096, 16
    x = cr.tensor(R.standard_normal((N, I)).astype(np.float32), requires_grad=True)
    W = cr.tensor(0.1 * R.standard_normal((C, I)).astype(np.float32), requires_grad=True)
    t = cr.tensor(R.integers(0, C, N))
    logits_bytes = N * C * 4  # 4 MiB

    def step(opts):
        def run():
            x.grad = W.grad = None
            F.linear_cross_entropy(x, W, t, options=opts).backward()
        return run

    chunked = _peak(step(Opts(batch_chunk_size=B)))
    reference = _peak(step(None))
    # a (B, C) block is 1/16 of the logits; the chunked op holds three of them, plus W's gradient
    assert chunked < logits_bytes / 2, (chunked, logits_bytes)
    assert reference > logits_bytes, (reference, logits_bytes)
    assert _peak(step(Opts())) < logits_bytes / 2  # the automatic size ("aspect_ratio:2") chunks too


# --------------------------------------------------------------------------- errors
def test_bad_input_raises_clear_errors():
    x, W = t64(R.standard_normal((4, 3))), t64(R.standard_normal((5, 3)))
    t = cr.tensor([0, 1, 2, 3])
    with pytest.raises(RuntimeError, match=r"linear_cross_entropy: expected input with dimensionality 1 or 2.*\(2, 4,"):
        F.linear_cross_entropy(t64(np.zeros((2, 4, 3))), W, t)
    with pytest.raises(ValueError, match="linear_weight with dimensionality at least 2"):
        F.linear_cross_entropy(x, t64(np.zeros(3)), t)
    with pytest.raises(RuntimeError, match=r"in_features\), got 3 and 4"):
        F.linear_cross_entropy(x, t64(np.zeros((5, 4))), t)
    with pytest.raises(RuntimeError, match=r"expected linear_bias shape \(5,\).*got \(4,\)"):
        F.linear_cross_entropy(x, W, t, linear_bias=t64(np.zeros(4)))
    with pytest.raises(RuntimeError, match="requires batched input"):
        F.linear_cross_entropy(t64(np.zeros(3)), t64(np.zeros((5, 2, 3))), cr.tensor(0))
    with pytest.raises(RuntimeError, match="ignore_index cannot be specified when target contains probabilities"):
        F.linear_cross_entropy(x, W, t64(np.full((4, 5), 0.2)), ignore_index=-100)
    with pytest.raises(TypeError, match="dtype"):
        F.linear_cross_entropy(cr.tensor(np.zeros((4, 3), np.float32)), W, t)
    with pytest.raises(ValueError, match="reduction"):
        F.linear_cross_entropy(x, W, t, reduction="batchmean")
    with pytest.raises(ValueError, match="label_smoothing"):
        F.linear_cross_entropy(x, W, t, label_smoothing=1.5)
    with pytest.raises(TypeError, match="options must be a LinearCrossEntropyOptions"):
        F.linear_cross_entropy(x, W, t, options={"batch_chunk_size": 2})
    for opts in (None, Opts(batch_chunk_size=2)):
        with pytest.raises(ValueError, match=r"batch size \(4\) to match target batch size \(3\)"):
            F.linear_cross_entropy(x, W, cr.tensor([0, 1, 2]), options=opts)
        with pytest.raises(IndexError, match="target 7 is out of range for 5 classes"):
            F.linear_cross_entropy(x, W, cr.tensor([0, 1, 7, 3]), options=opts)
        with pytest.raises(TypeError, match="integer dtype"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (a floating target is no chunked case: options ignored)
            F.linear_cross_entropy(x, W, t64([0, 1, 2, 3]), options=opts)


def test_options_validate_and_resolve_like_pytorch():
    for bad in (dict(batch_chunk_size=0), dict(batch_chunk_size=2.0), dict(chunking_method="rows"),
                dict(chunking_method="aspect_ratio:0"), dict(acc_policy="fast"), dict(acc_dtype=np.int32)):
        with pytest.raises(ValueError):
            Opts(**bad)
    with pytest.raises(ValueError, match="give different chunk sizes"):
        Opts(batch_chunk_size=3, chunking_method="aspect_ratio")._adjust(64, 8, 1000, np.float32)
    o = Opts()._adjust(64, 8, 1000, np.float32, cr.device("cpu"))
    # ceil(64 / ceil(1000 / 8)) = 1 row, halved to 0, at least 1
    assert (o.acc_policy, o.chunking_method, o.batch_chunk_size, o.acc_dtype) == ("compact", "aspect_ratio:2", 1,
                                                                                   np.float32)
    assert Opts(batch_chunk_size=1000)._adjust(64, 8, 1000, np.float64).batch_chunk_size == 64
    assert Opts()._adjust(64, 8, 1000, np.float16, cr.device("cpu")).acc_dtype == np.float32
    with pytest.raises(AttributeError):
        Opts().batch_chunk_size = 3  # frozen, as PyTorch's dataclass


def test_chunk_sizes_equal_pytorchs():
    torch = pytest.importorskip("torch")
    dtypes = {np.float32: torch.float32, np.float64: torch.float64}
    for n, i, c in [(64, 8, 1000), (1000, 16, 50000), (7, 3, 6), (5, 100, 10), (1, 1, 1), (0, 4, 9)]:
        for kw in ({}, dict(chunking_method="aspect_ratio"), dict(chunking_method="aspect_ratio:4"),
                   dict(batch_chunk_size=3, chunking_method=None), dict(chunking_method=None)):
            for dt in dtypes:
                ours = Opts(**kw)._adjust(n, i, c, dt, cr.device("cpu"))
                theirs = torch.nn.LinearCrossEntropyOptions(**kw)._adjust(n, i, c, dtypes[dt], torch.device("cpu"))
                assert (ours.batch_chunk_size, ours.chunking_method, ours.acc_policy) == (
                    theirs.batch_chunk_size, theirs.chunking_method, theirs.acc_policy), (n, i, c, kw)


# --------------------------------------------------------------------------- PyTorch as oracle
@pytest.mark.parametrize("opts", OPTIONS, ids=OPTION_IDS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("bias, class_weight", [(False, False), (True, False), (False, True), (True, True)])
def test_against_pytorch(opts, reduction, bias, class_weight):
    torch = pytest.importorskip("torch")
    x, W, b, t, w = sample(n=9, i=4, c=7, ignored=(3,))
    ours = [t64(a, True) for a in (x, W, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, W, b)]
    topts = None if opts is None else torch.nn.LinearCrossEntropyOptions(batch_chunk_size=opts.batch_chunk_size)
    got = F.linear_cross_entropy(ours[0], ours[1], cr.tensor(t), linear_bias=ours[2] if bias else None,
                                 weight=t64(w) if class_weight else None, reduction=reduction, options=opts)
    want = torch.nn.functional.linear_cross_entropy(
        theirs[0], theirs[1], torch.tensor(t), linear_bias=theirs[2] if bias else None,
        weight=torch.tensor(w) if class_weight else None, reduction=reduction, options=topts)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-12, atol=1e-14)
    g = R.standard_normal(tuple(want.shape))
    got.backward(t64(g))
    want.backward(torch.tensor(g))
    for a, c in zip(ours, theirs):
        if c.grad is not None:
            np.testing.assert_allclose(a.grad.numpy(), c.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_against_pytorch_other_cases():
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional

    def both(x, W, target, target_is_index=True, **kw):
        ours = [t64(a, True) for a in (x, W)]
        theirs = [torch.tensor(a, requires_grad=True) for a in (x, W)]
        a = F.linear_cross_entropy(*ours, cr.tensor(target) if target_is_index else t64(target), **kw)
        c = tF.linear_cross_entropy(*theirs, torch.tensor(target), **kw)
        np.testing.assert_allclose(a.detach().numpy(), c.detach().numpy(), rtol=1e-12, atol=1e-14)
        a.sum().backward()
        c.sum().backward()
        for p, q in zip(ours, theirs):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-13)

    x, W = R.standard_normal((6, 4)), R.standard_normal((5, 4))
    t = R.integers(0, 5, 6)
    both(x, W, t, label_smoothing=0.15, weight=None)
    both(x, W, t, ignore_index=int(t[0]), reduction="none")
    both(x, W, R.dirichlet(np.ones(5), 6), target_is_index=False)  # probabilities (N, C)
    both(x[0], W, np.array(2))  # unbatched
    both(x[0], W, R.dirichlet(np.ones(5)), target_is_index=False)  # unbatched probabilities (C,)
    Wk = R.standard_normal((5, 3, 4))
    both(x, Wk, R.integers(0, 5, (6, 3)), reduction="none")  # K-dimensional
    both(x, Wk, R.dirichlet(np.ones(5), (6, 3)).transpose(0, 2, 1), target_is_index=False, label_smoothing=0.1)
    both(np.zeros((0, 4)), W, np.zeros(0, dtype=np.int64), reduction="sum")  # empty batch


def test_module_against_pytorch():
    torch = pytest.importorskip("torch")
    for kw in (dict(), dict(bias=True, reduction="sum"), dict(out_features=(3, 2), bias=True),
               dict(bias=True, options=Opts(batch_chunk_size=2)), dict(label_smoothing=0.1, ignore_index=1)):
        tkw = dict(kw)
        if "options" in kw:
            tkw["options"] = torch.nn.LinearCrossEntropyOptions(batch_chunk_size=2)
        w = R.uniform(0.5, 2.0, 6)
        ours = nn.LinearCrossEntropyLoss(4, 6, weight=t64(w), dtype=cr.float64, **kw)
        theirs = torch.nn.LinearCrossEntropyLoss(4, 6, weight=torch.tensor(w), dtype=torch.float64, **tkw)
        assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
        theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
        x = R.standard_normal((5, 4))
        t = R.integers(0, 6, (5, *kw.get("out_features", ())))
        a, c = ours(t64(x), cr.tensor(t)), theirs(torch.tensor(x), torch.tensor(t))
        np.testing.assert_allclose(a.detach().numpy(), c.detach().numpy(), rtol=1e-12)
        a.sum().backward()
        c.sum().backward()
        for name, p in ours.named_parameters():
            np.testing.assert_allclose(p.grad.numpy(), dict(theirs.named_parameters())[name].grad.numpy(),
                                       rtol=1e-10, atol=1e-13)


def test_module_checks_and_repr():
    with pytest.raises(RuntimeError, match=r"weight shape to be \(6,\)"):  # (also a ValueError)
        nn.LinearCrossEntropyLoss(4, 6, weight=t64(np.ones(5)))
    with pytest.raises(ValueError, match="label_smoothing"):
        nn.LinearCrossEntropyLoss(4, 6, label_smoothing=-0.1)
    m = nn.LinearCrossEntropyLoss(4, 6, out_features=(2,), bias=True)
    assert m.linear.weight.shape == (12, 4) and m.linear.bias.shape == (12,)
    assert "in_features=4, num_classes=6, out_features=(2,), bias=True, reduction=mean" in repr(m)


def test_the_op_is_one_node():
    x, W, _, t, _ = sample()
    loss = F.linear_cross_entropy(t64(x, True), t64(W, True), cr.tensor(t), options=Opts(batch_chunk_size=2))
    assert isinstance(loss._op, LinearCrossEntropyChunked)
