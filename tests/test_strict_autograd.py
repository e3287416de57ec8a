"""autograd/ through the back-end table (issue 11, items 1 and 5): every autograd feature run
on strict tensors (tests/strict_backend.py: arrays that NumPy refuses) gives what the same
computation gives on the CPU, to 1e-12 in float64.

Covered: backward with retain_graph and create_graph (double backward), autograd.grad with
host and device seeds, a leaf used many times (its contributions summed at the end), custom
Functions (one and two outputs, forward mode, one whose backward calls autograd.grad), forward
-mode dual numbers, anomaly detection, trace tables, tensor hooks, retain_grad, post-accumulate
-grad hooks, gradcheck and gradgradcheck.  Any autograd code that bypassed the table would
meet a strict array with a NumPy function and fail loudly.
"""

from __future__ import annotations

import numpy as np
import pytest
from strict_backend import DEVICE, StrictArray
from strict_backend import host as _host

import chainrule as cr
from chainrule.autograd import forward_ad as fwAD
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck

TOL = dict(rtol=1e-12, atol=1e-12)




def _leaves(*arrays, device=None):
    """float64 leaves requiring grad, on the CPU or moved to ``device``."""
    out = []
    for a in arrays:
        t = cr.tensor(np.asarray(a, dtype=np.float64))
        out.append((t if device is None else t.to(device)).requires_grad_())
    return out


_RNG = np.random.default_rng(7)
X0, W0 = _RNG.standard_normal(4), _RNG.standard_normal(4)


def _both(fn):
    """fn(x, w) -> list of tensors, run on CPU leaves and on strict leaves: (cpu, strict)."""
    cpu = fn(*_leaves(X0, W0))
    dev = fn(*_leaves(X0, W0, device=DEVICE))
    return cpu, dev


def _same(cpu, dev):
    assert len(cpu) == len(dev)
    for c, d in zip(cpu, dev):
        if c is None:
            assert d is None
            continue
        assert d.device == DEVICE and type(d._array) is StrictArray
        np.testing.assert_allclose(_host(d), _host(c), **TOL)


def _f(x, w):
    """A small graph with a fan-out (x used three times): sum(tanh(x w) x + exp(x) w)."""
    return ((x * w).tanh() * x + x.exp() * w).sum()


# ---------------------------------------------------------------- reverse mode
def test_backward_retain_graph_twice(strict):
    def run(x, w):
        y = _f(x, w)
        y.backward(retain_graph=True)
        y.backward()  # the gradients accumulate
        return [x.grad, w.grad]

    _same(*_both(run))


def test_backward_with_a_gradient_from_host_and_from_the_device(strict):
    def run(x, w):
        y = x * w + x.sin()
        y.backward(gradient=[1.0, -2.0, 0.5, 3.0])  # host data: moved to y's device
        g1 = x.grad.clone()
        x.grad = None
        y2 = x * w + x.sin()
        y2.backward(gradient=cr.ones_like(y2) * 2)
        return [g1, x.grad, w.grad]

    _same(*_both(run))


def test_a_leaf_used_many_times(strict):
    """w feeds 20 ops: the fast walk sums its 20 contributions once, with the table's sum_of."""

    def run(x, w):
        h = x
        for _ in range(20):
            h = (h * w + x).tanh()
        h.sum().backward()
        return [x.grad, w.grad]

    _same(*_both(run))


def test_autograd_grad_and_double_backward(strict):
    def run(x, w):
        (gx,) = cr.autograd.grad(_f(x, w), x, create_graph=True)
        (gw,) = cr.autograd.grad(gx.sum(), w, retain_graph=True)  # d/dw of sum_i dy/dx_i
        (gx * gx).sum().backward()  # double backward into both leaves
        return [gx, gw, x.grad, w.grad]

    _same(*_both(run))


def test_grad_outputs_and_unused_inputs(strict):
    def run(x, w):
        y = x * x
        v = cr.tensor([1.0, 2.0, 3.0, 4.0], dtype=cr.float64).to(y.device)
        return list(cr.autograd.grad(y, [x, w], grad_outputs=v, allow_unused=True))

    cpu, dev = _both(run)
    assert cpu[1] is None and dev[1] is None
    _same(cpu, dev)


def test_backward_inputs_argument(strict):
    def run(x, w):
        _f(x, w).backward(inputs=[w])
        return [x.grad, w.grad]

    _same(*_both(run))


# ---------------------------------------------------------------- custom Functions
class _Cube(cr.autograd.Function):
    """y = x³;  dy/dx = 3x² (backward written with differentiable ops: double backward works)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x * x

    @staticmethod
    def jvp(ctx, dx):
        (x,) = ctx.saved_tensors
        return dx * 3 * x * x


class _SinCos(cr.autograd.Function):
    """Two outputs (sin x, cos x); the second one's tangent is left None in jvp when unused."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sin(), x.cos()

    @staticmethod
    def backward(ctx, gs, gc):
        (x,) = ctx.saved_tensors
        return gs * x.cos() - gc * x.sin()

    @staticmethod
    def jvp(ctx, dx):
        (x,) = ctx.saved_tensors
        return dx * x.cos(), None


class _ReentrantSquare(cr.autograd.Function):
    """y = x²; backward computes 2x with autograd.grad on a graph of its own (re-entrant engine)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        with cr.enable_grad():
            z = x.detach().requires_grad_()
            (dz,) = cr.autograd.grad((z * z).sum(), z)
        return g * dz


def test_custom_functions_backward_and_double_backward(strict):
    def run(x, w):
        s, c = _SinCos.apply(x)
        y = (_Cube.apply(x) * w + s * c + _ReentrantSquare.apply(w)).sum()
        (gx,) = cr.autograd.grad(y, x, create_graph=True)
        gx.sum().backward()
        return [gx, x.grad, w.grad]

    _same(*_both(run))


def test_custom_functions_forward_mode(strict):
    def run(x, w):
        with fwAD.dual_level():
            d = fwAD.make_dual(x.detach(), w.detach())
            s, c = _SinCos.apply(d)
            return [fwAD.unpack_dual(_Cube.apply(d)).tangent, fwAD.unpack_dual(s).tangent]

    _same(*_both(run))


# ---------------------------------------------------------------- forward mode
def test_dual_numbers(strict):
    def run(x, w):
        with fwAD.dual_level():
            d = fwAD.make_dual(x.detach(), [1.0, 0.0, -1.0, 2.0])  # a host tangent: to x's device
            e = fwAD.make_dual(w.detach(), w.detach() * 2)  # a device tangent
            y = (d * e).tanh() + d.exp() / (1 + e * e)
            primal, tangent = fwAD.unpack_dual(y)
            return [primal, tangent]

    _same(*_both(run))


# ---------------------------------------------------------------- anomaly detection
@pytest.mark.filterwarnings("ignore:invalid value encountered in log")
def test_anomaly_detection_names_the_op(strict):
    x = cr.tensor([1.0, -1.0], dtype=cr.float64).to(DEVICE).requires_grad_()
    with cr.autograd.detect_anomaly():
        with pytest.raises(RuntimeError, match="forward value of 'log' contains NaN .1 of 2 elements"):
            x.log()
        y = (x * x).sqrt()  # fine forward; d sqrt at 0 would be inf, not NaN
        y.sum().backward()
    np.testing.assert_allclose(_host(x.grad), [1.0, -1.0], **TOL)


def test_anomaly_detection_in_backward(strict):
    class _NanGrad(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return g * float("nan")

    x = cr.tensor([1.0, 2.0], dtype=cr.float64).to(DEVICE).requires_grad_()
    with cr.autograd.detect_anomaly():
        y = _NanGrad.apply(x).sum()
        with pytest.raises(RuntimeError, match="NaN"):
            y.backward()


# ---------------------------------------------------------------- trace tables
def test_trace_tables(strict):
    def table(device):
        x, w = _leaves(X0[:2], W0[:2], device=device)
        x.name, w.name = "x", "w"
        return cr.trace(((x * w).tanh() * x).sum(), [x, w], mode="both", direction=[1.0, -1.0])

    cpu, dev = table(None), table(DEVICE)
    assert str(cpu) == str(dev)
    for rc, rd in zip(cpu.rows, dev.rows):
        for key in ("value", "tangent", "adjoint"):
            assert type(rd[key]) is np.ndarray  # the table's cells are host copies
            np.testing.assert_allclose(rd[key], rc[key], **TOL)
        assert rc["partials"].keys() == rd["partials"].keys()
        for k in rc["partials"]:
            np.testing.assert_allclose(rd["partials"][k], rc["partials"][k], **TOL)


# ---------------------------------------------------------------- hooks
def test_hooks_retain_grad_and_post_accumulate(strict):
    def run(x, w):
        seen = []
        h = x * w
        h.retain_grad()
        h.register_hook(lambda g: g * 2)  # doubles everything upstream of h
        w.register_hook(lambda g: g + 1)
        w.register_post_accumulate_grad_hook(lambda p: seen.append(p.grad.clone()))
        (h.tanh() * w).sum().backward()
        assert len(seen) == 1
        return [h.grad, x.grad, w.grad, seen[0]]

    _same(*_both(run))


# ---------------------------------------------------------------- gradcheck
def test_gradcheck_and_gradgradcheck_on_the_device(strict):
    x, w = _leaves(X0, W0, device=DEVICE)
    assert gradcheck(_f, (x, w))
    assert gradgradcheck(_f, (x, w))
    assert gradcheck(lambda a: _Cube.apply(a), (x,))
    # a wrong derivative is still caught there
    class _Wrong(cr.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * a

        @staticmethod
        def backward(ctx, g):
            return g

    assert not gradcheck(lambda a: _Wrong.apply(a), (x,), raise_exception=False)
