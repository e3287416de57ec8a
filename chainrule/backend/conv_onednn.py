"""Table entries of the convolutions through oneDNN (``onednn.py``): forward, input gradient,
weight (and bias) gradient, float32, 1-D to 3-D, any stride, padding (also uneven), dilation and
groups.

For x (N, C_in, *S), W (C_out, C_in/G, *k), b (C_out,) and y (N, C_out, *outs):

    y[n, j, o] = b[j] + Σ_c Σ_k W[j, c, k] · x_pad[n, g·C_in/G + c, o·s + k·δ]   (g = j's group)

the definition of ``nn/functional/conv.py``; oneDNN computes it (and its two gradients) with its
own kernels, so results agree with im2col + BLAS to float32 rounding, not bit for bit.  The
arrays may have any strides (a reorder reads them); the results are new C-ordered arrays.
``geo`` is (stride, pads ((before, after) per dim), dilation, groups).
"""

from __future__ import annotations

import ctypes
import math
from typing import Any

import numpy as np

from chainrule.backend import onednn
from chainrule.backend.onednn import ARG, Step, any_md, layout, readable


def _geometry(geo: tuple) -> tuple:
    stride, pads, dilation, _groups = geo
    return (onednn.dims(stride), onednn.dims([d - 1 for d in dilation]),  # oneDNN counts dilation from 0
            onednn.dims([p[0] for p in pads]), onednn.dims([p[1] for p in pads]))


def _grouped_shape(shape: tuple, groups: int) -> tuple:
    """Weights (C_out, C_in/G, *k) as oneDNN's (G, C_out/G, C_in/G, *k) when G > 1."""
    return shape if groups == 1 else (groups, shape[0] // groups) + shape[1:]


def _grouped(shape: tuple, strides: tuple, groups: int) -> tuple:
    """(shape, strides) of the weights seen as :func:`_grouped_shape` (the group axis steps over
    C_out/G rows)."""
    if groups == 1:
        return shape, strides
    return _grouped_shape(shape, groups), (strides[0] * (shape[0] // groups),) + strides


def _forward_pd(xs: tuple, ws: tuple, ys: tuple, bias: bool, geo: tuple) -> Any:
    lib = onednn.library()
    mds = [any_md(xs), any_md(_grouped_shape(ws, geo[3])), any_md((ws[0],)) if bias else None, any_md(ys)]
    pd = ctypes.c_void_p()
    onednn.check(lib.dnnl_convolution_forward_primitive_desc_create(
        ctypes.byref(pd), onednn.engine(), onednn.FORWARD_TRAINING, onednn.CONVOLUTION_DIRECT,
        mds[0], mds[1], mds[2], mds[3], *_geometry(geo), onednn.attr()), "convolution forward")
    onednn.destroy(*mds)
    return pd


def _user(name: str, shape: tuple, strides: tuple, is_output: bool) -> tuple:
    return ARG[name], shape, strides, is_output


class ConvOnednnMath:
    @staticmethod
    def conv_onednn_forward(x: Any, w: Any, b: Any, outs: tuple, geo: tuple) -> Any:
        """y = conv(x, W) + b (b may be None), a new (N, C_out, *outs) array (``outs``: the
        output's spatial size, as ``ops.window.out_size`` gives it)."""
        x, w = readable(x), readable(w)
        groups = geo[3]
        ys = (x.shape[0], w.shape[0]) + tuple(outs)
        y = np.empty(ys, np.float32)
        wshape, wstrides = _grouped(w.shape, layout(w), groups)
        key = ("forward", x.shape, layout(x), w.shape, layout(w), b is not None, geo)

        def make() -> Step:
            pd = _forward_pd(x.shape, w.shape, ys, b is not None, geo)
            user = {"src": _user("src", x.shape, layout(x), False),
                    "weights": _user("weights", wshape, wstrides, False), "dst": _user("dst", ys, layout(y), True)}
            if b is not None:
                user["bias"] = _user("bias", b.shape, layout(b), False)
            return Step(pd, user)

        arrays = {"src": x, "weights": w, "dst": y}
        if b is not None:
            arrays["bias"] = b
        onednn.cached(key, make).run(arrays)
        return y

    @staticmethod
    def conv_onednn_input_grad(g: Any, w: Any, x_shape: tuple, geo: tuple) -> Any:
        """dL/dx from g = dL/dy: a new (N, C_in, *S) array."""
        g, w = readable(g), readable(w)
        groups = geo[3]
        gx = np.empty(x_shape, np.float32)
        wshape, wstrides = _grouped(w.shape, layout(w), groups)
        key = ("input grad", g.shape, layout(g), w.shape, layout(w), x_shape, geo)

        def make() -> Step:
            lib = onednn.library()
            hint = _forward_pd(x_shape, w.shape, g.shape, False, geo)
            mds = [any_md(x_shape), any_md(wshape), any_md(g.shape)]
            pd = ctypes.c_void_p()
            onednn.check(lib.dnnl_convolution_backward_data_primitive_desc_create(
                ctypes.byref(pd), onednn.engine(), onednn.CONVOLUTION_DIRECT, mds[0], mds[1], mds[2],
                *_geometry(geo), hint, onednn.attr()), "convolution input gradient")
            lib.dnnl_primitive_desc_destroy(hint)
            onednn.destroy(*mds)
            return Step(pd, {"diff_dst": _user("diff_dst", g.shape, layout(g), False),
                             "weights": _user("weights", wshape, wstrides, False),
                             "diff_src": _user("diff_src", x_shape, layout(gx), True)})

        onednn.cached(key, make).run({"diff_dst": g, "weights": w, "diff_src": gx})
        return gx

    @staticmethod
    def conv_onednn_weight_grad(x: Any, g: Any, w_shape: tuple, bias: bool, geo: tuple) -> tuple:
        """(dL/dW, dL/db or None) from x and g = dL/dy: new arrays shaped like W and b."""
        x, g = readable(x), readable(g)
        groups = geo[3]
        gw = np.empty(w_shape, np.float32)
        gb = np.empty(w_shape[0], np.float32) if bias else None
        wshape, wstrides = _grouped(w_shape, layout(gw), groups)
        key = ("weight grad", x.shape, layout(x), g.shape, layout(g), w_shape, bias, geo)

        def make() -> Step:
            lib = onednn.library()
            hint = _forward_pd(x.shape, w_shape, g.shape, bias, geo)
            mds = [any_md(x.shape), any_md(wshape), any_md((w_shape[0],)) if bias else None, any_md(g.shape)]
            pd = ctypes.c_void_p()
            onednn.check(lib.dnnl_convolution_backward_weights_primitive_desc_create(
                ctypes.byref(pd), onednn.engine(), onednn.CONVOLUTION_DIRECT, mds[0], mds[1], mds[2],
                mds[3], *_geometry(geo), hint, onednn.attr()), "convolution weight gradient")
            lib.dnnl_primitive_desc_destroy(hint)
            onednn.destroy(*mds)
            user = {"src": _user("src", x.shape, layout(x), False),
                    "diff_dst": _user("diff_dst", g.shape, layout(g), False),
                    "diff_weights": _user("diff_weights", wshape, wstrides, True)}
            if bias:
                user["diff_bias"] = _user("diff_bias", (w_shape[0],), (1,), True)
            return Step(pd, user)

        arrays = {"src": x, "diff_dst": g, "diff_weights": gw}
        if gb is not None:
            arrays["diff_bias"] = gb
        onednn.cached(key, make).run(arrays)
        return gw, gb


def applies(dtype: Any, shapes: tuple) -> bool:
    """Whether a convolution of these arrays goes to oneDNN: float32, no empty dimension, and the
    library installed."""
    return dtype == np.float32 and all(math.prod(s) for s in shapes) and onednn.available()
