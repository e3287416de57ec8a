"""conv1d / conv2d / causal conv: forward against the definitional sum, gradients by finite differences."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck
from chainrule.ops.window import fold_nd, unfold_nd


def ref_conv2d(x, w, b, stride, pads, dilation, groups):
    """y[n, o, i, j] = b[o] + Σ_c Σ_a Σ_b w[o, c, a, b] x_pad[n, g·Cg + c, i·s + a·δ, j·s + b·δ], by loops."""
    (sh, sw), (dh, dw) = stride, dilation
    (ph0, ph1), (pw0, pw1) = pads
    n, c_in, h, wd = x.shape
    c_out, cg, kh, kw = w.shape
    xp = np.zeros((n, c_in, h + ph0 + ph1, wd + pw0 + pw1))
    xp[:, :, ph0:ph0 + h, pw0:pw0 + wd] = x
    ho = (h + ph0 + ph1 - dh * (kh - 1) - 1) // sh + 1
    wo = (wd + pw0 + pw1 - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, c_out, ho, wo))
    per_group = c_out // groups
    for s in range(n):
        for o in range(c_out):
            g = o // per_group
            for i in range(ho):
                for j in range(wo):
                    total = 0.0 if b is None else b[o]
                    for c in range(cg):
                        for a in range(kh):
                            for bb in range(kw):
                                total += w[o, c, a, bb] * xp[s, g * cg + c, i * sh + a * dh, j * sw + bb * dw]
                    out[s, o, i, j] = total
    return out


def ref_conv1d(x, w, b, stride, pads, dilation, groups):
    y = ref_conv2d(x[:, :, None, :], w[:, :, None, :], b, (1, stride), ((0, 0), pads), (1, dilation), groups)
    return y[:, :, 0]


RNG = np.random.default_rng(0)

CASES_2D = [
    # (N, C_in, H, W), (C_out, kh, kw), stride, padding, dilation, groups, bias
    ((2, 3, 5, 6), (4, 3, 3), 1, 0, 1, 1, True),
    ((1, 2, 6, 5), (3, 2, 3), (2, 1), 1, 1, 1, False),
    ((2, 4, 5, 5), (6, 3, 2), 1, (1, 2), (2, 1), 2, True),
    ((1, 4, 7, 6), (4, 3, 3), 2, 2, 2, 4, True),  # depthwise
    ((1, 2, 5, 4), (2, 3, 2), 1, "same", 1, 1, True),  # even kernel: the extra pad goes after
    ((1, 2, 6, 6), (2, 2, 3), 1, "same", 2, 2, False),
    ((1, 2, 4, 5), (3, 2, 2), 3, "valid", 1, 1, True),
]


def _pads2(padding, kernel, dilation):
    if padding == "valid":
        return ((0, 0), (0, 0))
    if padding == "same":
        out = []
        for k, d in zip(kernel, dilation):
            total = d * (k - 1)
            out.append((total // 2, total - total // 2))
        return tuple(out)
    p = padding if isinstance(padding, tuple) else (padding, padding)
    return ((p[0], p[0]), (p[1], p[1]))


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


@pytest.mark.parametrize("xshape, wshape, stride, padding, dilation, groups, bias", CASES_2D)
def test_conv2d_forward_matches_definition(xshape, wshape, stride, padding, dilation, groups, bias):
    c_out, kh, kw = wshape
    x = RNG.standard_normal(xshape)
    w = RNG.standard_normal((c_out, xshape[1] // groups, kh, kw))
    b = RNG.standard_normal(c_out) if bias else None
    y = F.conv2d(cr.tensor(x), cr.tensor(w), None if b is None else cr.tensor(b), stride, padding, dilation, groups)
    ref = ref_conv2d(x, w, b, _pair(stride), _pads2(padding, (kh, kw), _pair(dilation)), _pair(dilation), groups)
    assert y.shape == ref.shape
    np.testing.assert_allclose(y._array, ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("xshape, wshape, stride, padding, dilation, groups, bias", CASES_2D)
def test_conv2d_gradcheck(xshape, wshape, stride, padding, dilation, groups, bias):
    c_out, kh, kw = wshape
    n = min(xshape[0], 1)
    x = cr.tensor(RNG.standard_normal((n,) + xshape[1:]), requires_grad=True)
    w = cr.tensor(RNG.standard_normal((c_out, xshape[1] // groups, kh, kw)), requires_grad=True)
    b = cr.tensor(RNG.standard_normal(c_out), requires_grad=True) if bias else None
    args = (x, w, b) if bias else (x, w)
    assert gradcheck(lambda x, w, b=None: F.conv2d(x, w, b, stride, padding, dilation, groups), args)


def test_conv2d_second_order():
    x = cr.tensor(RNG.standard_normal((1, 2, 4, 4)), requires_grad=True)
    w = cr.tensor(RNG.standard_normal((2, 1, 2, 2)), requires_grad=True)
    b = cr.tensor(RNG.standard_normal(2), requires_grad=True)
    assert gradgradcheck(lambda x, w, b: F.conv2d(x, w, b, 2, 1, 1, 2), (x, w, b))


def test_conv2d_output_size_formula_of_the_notes():
    # (in - k + 2 pad) / stride + 1 = (32 - 5 + 2·2) / 1 + 1 = 32;  (32 - 5 + 0) / 3 + 1 = 10
    x = cr.zeros(1, 1, 32, 32)
    assert F.conv2d(x, cr.zeros(2, 1, 5, 5), padding=2).shape == (1, 2, 32, 32)
    assert F.conv2d(x, cr.zeros(2, 1, 5, 5), stride=3).shape == (1, 2, 10, 10)


def test_conv2d_float32_stays_float32_and_unbatched_input():
    x = cr.randn(3, 6, 6, requires_grad=True)
    w = cr.randn(4, 3, 3, 3, requires_grad=True)
    y = F.conv2d(x, w, padding=1)
    assert y.shape == (4, 6, 6) and y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32 and x.grad.shape == x.shape


CASES_1D = [
    ((2, 3, 7), (4, 3), 1, 0, 1, 1, True),
    ((1, 2, 8), (2, 3), 2, 1, 2, 2, False),
    ((1, 4, 6), (2, 2), 1, "same", 3, 2, True),
]


@pytest.mark.parametrize("xshape, wshape, stride, padding, dilation, groups, bias", CASES_1D)
def test_conv1d_forward_and_gradcheck(xshape, wshape, stride, padding, dilation, groups, bias):
    c_out, k = wshape
    x = RNG.standard_normal(xshape)
    w = RNG.standard_normal((c_out, xshape[1] // groups, k))
    b = RNG.standard_normal(c_out) if bias else None
    y = F.conv1d(cr.tensor(x), cr.tensor(w), None if b is None else cr.tensor(b), stride, padding, dilation, groups)
    pads = _pads2(padding, (k, k), (dilation, dilation))[0]
    np.testing.assert_allclose(y._array, ref_conv1d(x, w, b, stride, pads, dilation, groups), atol=1e-10)
    xt = cr.tensor(x[:1], requires_grad=True)
    wt = cr.tensor(w, requires_grad=True)
    bt = cr.tensor(b, requires_grad=True) if bias else None
    args = (xt, wt, bt) if bias else (xt, wt)
    assert gradcheck(lambda x, w, b=None: F.conv1d(x, w, b, stride, padding, dilation, groups), args)


@pytest.mark.parametrize("k, dilation", [(2, 1), (3, 2), (2, 4)])
def test_causal_conv1d_depends_only_on_the_past(k, dilation):
    x = RNG.standard_normal((1, 2, 9))
    w = RNG.standard_normal((3, 2, k))
    b = RNG.standard_normal(3)
    y = F.causal_conv1d(cr.tensor(x), cr.tensor(w), cr.tensor(b), dilation=dilation)._array
    assert y.shape == (1, 3, 9)
    # definition: y[t] = b + Σ_c Σ_i w[:, c, i] x[c, t - δ (k - 1 - i)], zero before the start
    for t in range(9):
        ref = b.copy()
        for i in range(k):
            src = t - dilation * (k - 1 - i)
            if src >= 0:
                ref = ref + w[:, :, i] @ x[0, :, src]
        np.testing.assert_allclose(y[0, :, t], ref, atol=1e-12)
    # changing the inputs after t leaves outputs up to t unchanged
    for t in range(9):
        x2 = x.copy()
        x2[:, :, t + 1:] = RNG.standard_normal(x2[:, :, t + 1:].shape)
        y2 = F.causal_conv1d(cr.tensor(x2), cr.tensor(w), cr.tensor(b), dilation=dilation)._array
        np.testing.assert_array_equal(y2[:, :, : t + 1], y[:, :, : t + 1])


def test_causal_conv1d_gradcheck():
    x = cr.tensor(RNG.standard_normal((1, 2, 6)), requires_grad=True)
    w = cr.tensor(RNG.standard_normal((2, 2, 3)), requires_grad=True)
    b = cr.tensor(RNG.standard_normal(2), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.causal_conv1d(x, w, b, dilation=2), (x, w, b))


def test_unfold_and_fold_are_transposes():
    # <unfold(x), c> = <x, fold(c)> for random x, c: Fold is the adjoint of Unfold
    geo = ((2, 3), (2, 1), (1, 2), ((1, 0), (2, 1)))
    x = RNG.standard_normal((2, 3, 5, 6))
    cols = unfold_nd(cr.tensor(x), *geo)
    c = RNG.standard_normal(cols.shape)
    back = fold_nd(cr.tensor(c), (5, 6), *geo)
    assert back.shape == x.shape
    np.testing.assert_allclose(np.sum(cols._array * c), np.sum(x * back._array), rtol=1e-12)
    xt = cr.tensor(RNG.standard_normal((1, 1, 4, 3)), requires_grad=True)
    assert gradgradcheck(lambda t: unfold_nd(t, *geo) ** 2, (xt,))


@pytest.mark.parametrize(
    "x, w, kwargs, message",
    [
        ((3, 8), (2, 3, 3, 3), {}, "expected 4-D input"),
        ((1, 3, 8, 8), (2, 4, 3, 3), {}, "expected input with 4 channels"),
        ((1, 4, 8, 8), (3, 2, 3, 3), {"groups": 2}, "groups=2 must divide"),
        ((1, 3, 2, 2), (2, 3, 3, 3), {}, "smaller than the dilated kernel"),
        ((1, 3, 8, 8), (2, 3, 3, 3), {"stride": 2, "padding": "same"}, "not supported for strided"),
        ((1, 3, 8, 8), (2, 3, 3), {}, "4-D weight"),
    ],
)
def test_conv2d_shape_errors(x, w, kwargs, message):
    with pytest.raises(ValueError, match=message):
        F.conv2d(cr.zeros(*x), cr.zeros(*w), **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"stride": 0}, "stride and dilation must be positive"),
        ({"padding": -1}, "non-negative"),
        ({"stride": 2, "output_padding": 2}, "must be smaller than either stride"),
        ({"stride": 1, "output_padding": 1}, "must be smaller than either stride"),
    ],
)
def test_conv_transpose_bad_geometry_is_a_runtime_error(kwargs, message):
    """PyTorch raises RuntimeError for these in the forward (the layer's constructor accepts them)."""
    with pytest.raises(RuntimeError, match=message):
        F.conv_transpose2d(cr.zeros(1, 1, 4, 4), cr.zeros(1, 1, 3, 3), **kwargs)
    layer = cr.nn.ConvTranspose2d(1, 1, 3, **kwargs)
    with pytest.raises(RuntimeError, match=message):
        layer(cr.zeros(1, 1, 4, 4))


def test_buffer_pool_hands_out_only_arrays_nobody_holds():
    from chainrule.backend.pool import BufferPool

    pool = BufferPool(per_shape=2, min_bytes=0)
    a = pool.empty((3, 4), np.float32)
    b = pool.empty((3, 4), np.float32)
    assert a is not b  # a is still held
    view = b[1:]
    del b
    c = pool.empty((3, 4), np.float32)
    assert c is not view.base  # a view keeps its base busy
    a_id = id(a)
    del a
    assert id(pool.empty((3, 4), np.float32)) == a_id  # a was released: reused
    z = pool.zeros((3, 4), np.float32)
    assert np.all(z == 0)
    assert pool.empty((2,), np.float64).shape == (2,)


def test_conv_outputs_survive_later_convolutions():
    # outputs kept by the caller are never recycled by the next layer call
    x = cr.randn(8, 3, 32, 32)  # output 8·16·30·30 floats: large enough for the pool
    w = cr.randn(16, 3, 3, 3)
    first = F.conv2d(x, w)
    saved = first._array.copy()
    for _ in range(3):
        F.conv2d(cr.randn(8, 3, 32, 32), w)
    np.testing.assert_array_equal(first._array, saved)


def test_functional_unfold_matches_loops_and_fold_is_its_transpose():
    x = RNG.standard_normal((2, 3, 5, 6))
    k, dl, p, s = (2, 3), (1, 2), 1, (2, 1)
    u = F.unfold(cr.tensor(x), k, dl, p, s)._array
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    ho, wo = 3, 4
    assert u.shape == (2, 3 * 6, ho * wo)
    for c in range(3):
        for a in range(2):
            for b in range(3):
                for i in range(ho):
                    for j in range(wo):
                        row, col = c * 6 + a * 3 + b, i * wo + j
                        assert u[:, row, col].tolist() == xp[:, c, i * 2 + a, j + 2 * b].tolist()
    cols = RNG.standard_normal(u.shape)
    back = F.fold(cr.tensor(cols), (5, 6), k, dl, p, s)._array
    np.testing.assert_allclose(np.sum(u * cols), np.sum(x * back), rtol=1e-12)
    xt = cr.tensor(x[:1, :1], requires_grad=True)
    assert gradcheck(lambda t: F.unfold(t, k, dl, p, s), (xt,))
    ct = cr.tensor(cols[:1, :6], requires_grad=True)
    assert gradcheck(lambda t: F.fold(t, (5, 6), k, dl, p, s), (ct,))
    with pytest.raises(ValueError, match="fold: expected input"):
        F.fold(cr.tensor(cols), (5, 7), k, dl, p, s)


def test_conv_pool_conv_chain_in_batch_last_layout():
    # conv outputs are views of batch-last memory; pooling and the next conv must read them right
    x = RNG.standard_normal((3, 2, 6, 6))
    w1, b1 = RNG.standard_normal((4, 2, 3, 3)), RNG.standard_normal(4)
    w2 = RNG.standard_normal((2, 4, 2, 2))
    h = F.conv2d(cr.tensor(x), cr.tensor(w1), cr.tensor(b1), padding=1)
    p = F.max_pool2d(cr.relu(h), 2)
    y = F.conv2d(p, cr.tensor(w2))
    ref_h = np.maximum(ref_conv2d(x, w1, b1, (1, 1), ((1, 1), (1, 1)), (1, 1), 1), 0)
    ref_p = ref_h.reshape(3, 4, 3, 2, 3, 2).max(axis=(3, 5))
    np.testing.assert_allclose(y._array, ref_conv2d(ref_p, w2, None, (1, 1), ((0, 0), (0, 0)), (1, 1), 1), atol=1e-10)
    xt = cr.tensor(x[:2], requires_grad=True)
    w1t, w2t = cr.tensor(w1, requires_grad=True), cr.tensor(w2, requires_grad=True)
    assert gradcheck(lambda a, u, v: F.conv2d(F.avg_pool2d(F.conv2d(a, u, padding=1), 2), v), (xt, w1t, w2t))


def test_chunked_products_give_the_same_convolution():
    import chainrule.nn.functional.conv as conv_module

    x = cr.tensor(RNG.standard_normal((3, 4, 9, 9)), requires_grad=True)
    w = cr.tensor(RNG.standard_normal((6, 2, 3, 3)), requires_grad=True)
    y0 = F.conv2d(x, w, groups=2)
    y0.sum().backward()
    gx0, gw0 = x.grad._array.copy(), w.grad._array.copy()
    x.grad = w.grad = None
    old = (conv_module.CHUNK_GEMMS, conv_module._GEMM_MNK, conv_module._MIN_CHUNK)
    conv_module.CHUNK_GEMMS, conv_module._GEMM_MNK, conv_module._MIN_CHUNK = True, 500, 7  # chunks + a remainder
    try:
        y1 = F.conv2d(x, w, groups=2)
        y1.sum().backward()
    finally:
        conv_module.CHUNK_GEMMS, conv_module._GEMM_MNK, conv_module._MIN_CHUNK = old
    np.testing.assert_allclose(y1._array, y0._array, atol=1e-12)
    np.testing.assert_allclose(x.grad._array, gx0, atol=1e-12)
    np.testing.assert_allclose(w.grad._array, gw0, atol=1e-12)


def test_input_gradient_in_column_blocks(monkeypatch):
    """The input gradient computed block by block (several blocks of output rows) is the
    gradient: finite differences, and the one-block computation."""
    import chainrule.nn.functional.conv as conv_module

    rng = np.random.default_rng(11)
    x = cr.tensor(rng.standard_normal((3, 2, 8, 5)), requires_grad=True)
    w = cr.tensor(rng.standard_normal((4, 2, 3, 2)), requires_grad=True)

    def fn(a, b):
        return F.conv2d(a, b, padding=(1, 0), stride=(2, 1))

    (gx_one,) = cr.autograd.grad(fn(x, w).square().sum(), [x])
    monkeypatch.setattr(conv_module, "BLOCK_COLUMNS", 8)  # one output row (4 × 3 columns) a block
    assert conv_module._rows_per_block((4, 4), 3) == 1
    (gx_blocks,) = cr.autograd.grad(fn(x, w).square().sum(), [x])
    np.testing.assert_allclose(gx_blocks._array, gx_one._array, rtol=1e-12, atol=1e-12)
    assert gradcheck(fn, (x, w))
