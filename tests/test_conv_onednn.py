"""Convolutions through oneDNN (backend/onednn.py, backend/conv_onednn.py): float32 convolutions
on the CPU take it when the library is installed (the ``onednn`` extra).  Checked against the
definition computed in float64 by the im2col path (itself checked by gradcheck), and against
PyTorch where it is installed; forward, both gradients, every option.  Skipped without oneDNN."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.backend import onednn, threads
from chainrule.nn.functional.conv import Conv, OnednnConv

pytestmark = pytest.mark.skipif(not onednn.available(), reason=onednn.status())

RTOL = 2e-4  # float32 against the float64 definition, relative to the largest value


def _leaf(a: np.ndarray, dtype) -> cr.Tensor:
    return cr.tensor(a, dtype=dtype, requires_grad=True)


def _run(fn, x, w, b, g, dtype, **kw):
    """(y, dx, dw, db) of fn at dtype, with dL/dy = g."""
    ts = [_leaf(a, dtype) if a is not None else None for a in (x, w, b)]
    y = fn(ts[0], ts[1], ts[2], **kw)
    y.backward(cr.tensor(g, dtype=dtype))
    return [y.detach().numpy()] + [t.grad.numpy() if t is not None else None for t in ts]


def _close(got, want):
    for a, e in zip(got, want):
        if e is None:
            assert a is None
            continue
        assert a.shape == e.shape
        scale = max(np.abs(e).max(), 1e-30)
        assert np.abs(a.astype(np.float64) - e).max() <= RTOL * scale, np.abs(a - e).max() / scale


CASES = [  # (fn, x shape, w shape, kwargs)
    (F.conv2d, (4, 3, 9, 8), (5, 3, 3, 3), {"padding": 1}),
    (F.conv2d, (2, 6, 11, 7), (4, 3, 3, 2), {"stride": (2, 1), "padding": (1, 0), "dilation": (2, 1), "groups": 2}),
    (F.conv2d, (3, 4, 6, 6), (4, 1, 3, 3), {"padding": "same", "groups": 4}),  # depthwise
    (F.conv2d, (2, 2, 7, 7), (3, 2, 2, 2), {"padding": "same"}),  # an even kernel: uneven padding
    (F.conv1d, (4, 3, 17), (6, 3, 5), {"stride": 2, "padding": 2}),
    (F.conv3d, (2, 2, 5, 6, 4), (3, 2, 3, 3, 1), {"padding": (1, 1, 0)}),
]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_onednn_convolution_matches_the_float64_definition(case, bias):
    fn, xs, ws, kw = CASES[case]
    rng = np.random.default_rng(case)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    b = rng.standard_normal(ws[0]) if bias else None
    y_shape = fn(cr.tensor(x), cr.tensor(w), None, **kw).shape
    g = rng.standard_normal(tuple(y_shape))
    want = _run(fn, x, w, b, g, cr.float64, **kw)
    got = _run(fn, x, w, b, g, cr.float32, **kw)
    _close(got, want)


def test_float32_takes_onednn_and_float64_im2col():
    x32, w32 = cr.randn(2, 3, 6, 6), cr.randn(4, 3, 3, 3, requires_grad=True)
    assert type(F.conv2d(x32, w32)._op) is OnednnConv
    assert type(F.conv2d(x32.double(), w32.double())._op) is Conv


def test_any_input_layout_and_a_broadcast_gradient():
    """A batch-last input (what im2col convolutions and pooling hand on) and ``y.sum()``'s
    gradient (a broadcast with zero strides) are read as they are."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 8, 8)).astype(np.float32)
    w = rng.standard_normal((2, 4, 3, 3)).astype(np.float32)
    x_last = np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
    xt, wt = cr.tensor(x_last, requires_grad=True), cr.tensor(w, requires_grad=True)
    F.conv2d(xt, wt, padding=1).sum().backward()
    want = _run(F.conv2d, x.astype(np.float64), w.astype(np.float64), None, np.ones((3, 2, 8, 8)), cr.float64,
                padding=1)
    _close([None, xt.grad.numpy(), wt.grad.numpy()], [None, want[1], want[2]])


def test_double_backward_composes_differentiable_ops():
    """create_graph: the gradient of the gradient (a penalty on ‖dL/dx‖²) matches float64's."""
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3))

    def second(dtype):
        xt, wt = _leaf(x, dtype), _leaf(w, dtype)
        (gx,) = cr.autograd.grad((F.conv2d(xt, wt, padding=1) ** 2).sum(), (xt,), create_graph=True)
        (gx ** 2).sum().backward()
        return wt.grad.numpy()

    _close([second(cr.float32)], [second(cr.float64)])


def test_matches_pytorch_bit_for_bit_where_installed():
    """PyTorch's CPU convolution is oneDNN's too: the same kernels give the same bits."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x = rng.standard_normal((8, 16, 12, 12)).astype(np.float32)
    w = rng.standard_normal((32, 16, 3, 3)).astype(np.float32)
    y = F.conv2d(cr.tensor(x), cr.tensor(w), padding=1).numpy()
    yt = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1).numpy()
    np.testing.assert_allclose(y, yt, rtol=1e-5, atol=1e-5)


def test_many_shapes_keep_a_bounded_cache():
    onednn._STEPS.clear()
    w = cr.randn(2, 1, 3, 3)
    for n in range(1, onednn._KEEP + 6):
        F.conv2d(cr.randn(1, 1, 3 + n % 40, 4 + n // 40), w)
    assert len(onednn.kept()) == onednn._KEEP


def test_products_of_many_shapes_leave_the_convolutions_steps_in_place(monkeypatch):
    """Each kind of step keeps its own most recent ones: a model's many product shapes (each a
    matmul primitive) do not push its convolutions' steps out, to be made again at each use."""
    monkeypatch.setattr(onednn, "_KEEP", 4)
    saved = onednn.HELD[0]
    onednn._STEPS.clear()
    try:
        onednn.HELD[0] = threads.settings()  # (the products go to oneDNN whatever the thread count)
        F.conv2d(cr.randn(2, 3, 8, 8), cr.randn(4, 3, 3, 3))
        conv = [key for key, _ in onednn.kept()]
        assert [key[0] for key in conv] == ["forward"]
        for n in range(8):  # (x @ Wᵀ: the matmul primitive)
            F.linear(cr.randn(64 + n, 128), cr.randn(128, 128))
    finally:
        onednn.HELD[0] = saved
    keys = [key for key, _ in onednn.kept()]
    assert conv[0] in keys
    assert [key[1][0] for key in keys if key[0] == "matmul"] == [68, 69, 70, 71]


def test_switched_off_by_the_environment(monkeypatch):
    monkeypatch.setenv("CHAINRULE_ONEDNN", "0")
    onednn.reset()
    try:
        assert not onednn.available() and "CHAINRULE_ONEDNN=0" in onednn.status()
        assert type(F.conv2d(cr.randn(1, 1, 4, 4), cr.randn(1, 1, 3, 3, requires_grad=True))._op) is Conv
    finally:
        monkeypatch.delenv("CHAINRULE_ONEDNN")
        onednn.reset()
    assert onednn.available()


def test_a_library_that_cannot_be_loaded_means_im2col(monkeypatch, tmp_path):
    """A path to nothing, and a file that is no library: not available, the reason given, and the
    convolution computed by im2col + BLAS."""
    junk = tmp_path / "libdnnl.so.3"
    junk.write_text("not a library")
    try:
        for path in (str(tmp_path / "missing.so"), str(junk)):
            monkeypatch.setenv("CHAINRULE_ONEDNN", path)
            onednn.reset()
            assert not onednn.available() and path in onednn.status()
            w = cr.randn(1, 1, 3, 3, requires_grad=True)
            assert type(F.conv2d(cr.randn(1, 1, 4, 4), w)._op) is Conv
    finally:
        monkeypatch.delenv("CHAINRULE_ONEDNN")
        onednn.reset()
    assert onednn.available()


def test_blas_runs_on_one_thread_once_onednn_holds_the_threads():
    """Two pools on the same cores stall each other (onednn.take_threads): once a oneDNN convolution
    runs with two threads, NumPy's BLAS runs on one; set again after ``set_num_threads``."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from chainrule.backend import threads

    def blas() -> list:
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    count, before = threads.intra_threads(), blas()
    if not before:
        pytest.skip("no BLAS library that threadpoolctl can see")
    try:
        cr.set_num_threads(2)
        assert set(blas()) == {2}
        F.conv2d(cr.randn(1, 1, 5, 5), cr.randn(1, 1, 3, 3))
        assert set(blas()) == {1}
        cr.set_num_threads(2)  # the same count set again: BLAS gets 2, the next convolution takes it back
        F.conv2d(cr.randn(1, 1, 5, 5), cr.randn(1, 1, 3, 3))
        assert set(blas()) == {1}
    finally:
        cr.set_num_threads(count)
        threadpool_limits(limits=before[0], user_api="blas")


def test_a_trained_cnn_follows_the_float64_one():
    """Ten SGD steps of a small CNN (conv, ReLU, max-pool, conv, linear) in float32 through oneDNN
    stay with the same steps in float64 (im2col) to float32 rounding."""
    def train(dtype):
        cr.manual_seed(0)
        model = cr.nn.Sequential(cr.nn.Conv2d(1, 4, 3, padding=1), cr.nn.ReLU(), cr.nn.MaxPool2d(2),
                                 cr.nn.Conv2d(4, 6, 3, stride=2), cr.nn.Flatten(), cr.nn.Linear(6, 3)).to(dtype)
        opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        rng = np.random.default_rng(1)
        x = cr.tensor(rng.standard_normal((5, 1, 8, 8)), dtype=dtype)
        y = cr.tensor(rng.integers(0, 3, 5))
        for _ in range(10):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
        return [p.detach().numpy() for p in model.parameters()]

    for a, b in zip(train(cr.float32), train(cr.float64)):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


# ---------------------------------------------------------------- transposed convolutions
T_CASES = [  # (fn, x shape, w shape (C_in, C_out/G, *k), kwargs)
    (F.conv_transpose2d, (3, 8, 4, 4), (8, 5, 4, 4), {"stride": 2, "padding": 1}),  # DCGAN's up-sampling
    (F.conv_transpose2d, (2, 6, 5, 5), (6, 3, 2, 2), {"stride": 2}),  # U-Net's
    (F.conv_transpose2d, (2, 4, 5, 4), (4, 3, 3, 3), {"stride": 2, "padding": 1, "output_padding": 1}),
    (F.conv_transpose2d, (2, 4, 5, 6), (4, 2, 3, 2), {"stride": (2, 1), "padding": (1, 0), "dilation": (2, 1),
                                                     "groups": 2}),
    (F.conv_transpose2d, (2, 3, 4, 4), (3, 2, 4, 4), {"stride": 1, "padding": 0}),  # the 1x1 noise-to-map case
    (F.conv_transpose1d, (3, 4, 7), (4, 6, 5), {"stride": 3, "padding": 2, "output_padding": 2}),
    (cr.conv_transpose3d, (2, 3, 3, 4, 2), (3, 2, 2, 3, 2), {"stride": 2, "padding": (0, 1, 0)}),
]


def _ops_of(y) -> str:
    return type(y._op).__name__  # (the primitive itself; grad_fn is a Node named as PyTorch names it)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", range(len(T_CASES)))
def test_transposed_convolution_runs_on_onednn_and_matches_the_float64_definition(case, bias):
    """float32 conv_transpose is the convolution's input gradient on oneDNN (its backward: the
    convolution and its weight gradient), without the zero-inserted input of the composed path;
    float64 keeps the composed definition (dilate, pad, convolve with the flipped kernel)."""
    fn, xs, ws, kw = T_CASES[case]
    rng = np.random.default_rng(20 + case)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    b = rng.standard_normal(ws[1] * kw.get("groups", 1)) if bias else None
    y64 = fn(cr.tensor(x), cr.tensor(w), None if b is None else cr.tensor(b), **kw)
    g = rng.standard_normal(tuple(y64.shape))
    y = fn(_leaf(x, cr.float32), _leaf(w, cr.float32), None if b is None else _leaf(b, cr.float32), **kw)
    assert _ops_of(y) == "OnednnConvTranspose"
    _close(_run(fn, x, w, b, g, cr.float32, **kw), _run(fn, x, w, b, g, cr.float64, **kw))


def test_transposed_convolution_matches_pytorch_where_installed():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    x = rng.standard_normal((4, 16, 8, 8)).astype(np.float32)
    w = rng.standard_normal((16, 8, 4, 4)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    g = rng.standard_normal((4, 8, 16, 16)).astype(np.float32)
    got = _run(F.conv_transpose2d, x, w, b, g, cr.float32, stride=2, padding=1)
    ts = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    yt = torch.nn.functional.conv_transpose2d(*ts, stride=2, padding=1)
    yt.backward(torch.from_numpy(g))
    for a, e in zip(got, [yt.detach().numpy()] + [t.grad.numpy() for t in ts]):
        np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-4 * np.abs(e).max())


def test_transposed_convolution_double_backward_and_forward_mode():
    """create_graph (a penalty on ‖dL/dx‖², through W) and a forward-mode tangent of float32's
    oneDNN path agree with float64's composed definition."""
    rng = np.random.default_rng(9)
    x, w = rng.standard_normal((2, 3, 4, 4)), rng.standard_normal((3, 2, 4, 4))
    dx, dw = rng.standard_normal(x.shape), rng.standard_normal(w.shape)
    kw = {"stride": 2, "padding": 1}

    def second(dtype):
        xt, wt = _leaf(x, dtype), _leaf(w, dtype)
        (gx,) = cr.autograd.grad((F.conv_transpose2d(xt, wt, **kw) ** 2).sum(), (xt,), create_graph=True)
        (gx ** 2).sum().backward()
        return [wt.grad.numpy(), xt.grad.numpy()]

    def tangent(dtype):
        args = tuple(cr.tensor(a, dtype=dtype) for a in (x, w))
        tans = tuple(cr.tensor(a, dtype=dtype) for a in (dx, dw))
        return [cr.func.jvp(lambda a, b: F.conv_transpose2d(a, b, **kw), args, tans)[1].numpy()]

    _close(second(cr.float32), second(cr.float64))
    _close(tangent(cr.float32), tangent(cr.float64))
