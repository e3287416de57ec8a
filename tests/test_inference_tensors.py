"""Tensor.is_inference (tensors made under inference_mode, as PyTorch's) and Tensor.data_ptr
(the address of the first element), checked against PyTorch."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import chainrule as cr


def _facts(lib):
    """What a program can observe of inference mode, in one library."""
    x = lib.ones(3)
    out = {}
    with lib.inference_mode():
        y = x * 2
        out["op"] = y.is_inference()
        out["factory"] = lib.tensor([1.0]).is_inference()
        out["zeros"] = lib.zeros(2).is_inference()
        out["outside tensor"] = x.is_inference()
        out["view of a normal tensor"] = x[1:].is_inference()
        out["grad enabled"] = lib.is_grad_enabled()
        out["mode enabled"] = lib.is_inference_mode_enabled()
        with lib.inference_mode(False):
            out["inner False: grad"] = lib.is_grad_enabled()
            out["inner False: mode"] = lib.is_inference_mode_enabled()
            out["inner False: op"] = (x * 2).is_inference()
    with lib.no_grad():
        out["no_grad: mode"] = lib.is_inference_mode_enabled()
        out["no_grad: op"] = (x * 2).is_inference()
    out["after: op on it"] = (y + 1).is_inference()
    out["after: view of it"] = y[1:].is_inference()
    out["after: reshape of it"] = y.view(3, 1).is_inference()
    out["after: detach"] = y.detach().is_inference()
    out["after: clone"] = y.clone().is_inference()
    out["after: function form"] = lib.is_inference(y)
    out["after: mode"] = lib.is_inference_mode_enabled()
    out["after: grad"] = lib.is_grad_enabled()

    @lib.inference_mode()
    def called():
        return x * 2

    @lib.inference_mode
    def bare():
        return x * 2

    out["decorator"] = called().is_inference()
    out["bare decorator"] = bare().is_inference()
    out["requires_grad in mode"] = None
    w = lib.ones(2, requires_grad=True)
    with lib.inference_mode():
        out["requires_grad in mode"] = (w * 2).requires_grad
    return out


def test_is_inference_matches_pytorch():
    torch = pytest.importorskip("torch")
    assert _facts(cr) == _facts(torch)


def test_inference_mode_is_per_thread():
    seen = {}
    inside, done = threading.Event(), threading.Event()

    def other():
        inside.wait()
        seen["other"] = (cr.ones(2) * 2).is_inference()
        done.set()

    th = threading.Thread(target=other)
    th.start()
    with cr.inference_mode():
        inside.set()
        done.wait()
        seen["here"] = (cr.ones(2) * 2).is_inference()
    th.join()
    assert seen == {"other": False, "here": True}


def test_data_ptr_matches_pytorch():
    torch = pytest.importorskip("torch")

    def facts(lib):
        a = lib.arange(10.0)
        base = a.data_ptr()
        return {
            "int": isinstance(base, int) and base != 0,
            "same start": a[0:].data_ptr() == base and a.view(2, 5).data_ptr() == base,
            "transposed": a.view(2, 5).t().data_ptr() == base,
            "offset": a[3:].data_ptr() - base,
            "row": a.view(2, 5)[1].data_ptr() - base,
            "detach": a.detach().data_ptr() == base,
            "clone": a.clone().data_ptr() != base,
            "empty": lib.empty(0).data_ptr(),
        }

    assert facts(cr) == facts(torch)
    b = cr.arange(6, dtype=cr.int64)
    assert b[2:].data_ptr() - b.data_ptr() == 16
    arr = np.arange(4.0)
    assert cr.from_numpy(arr).data_ptr() == arr.__array_interface__["data"][0]


def test_the_tensor_constructor_in_inference_mode_makes_an_inference_tensor():
    with cr.inference_mode():
        t = cr.Tensor(np.ones(2))
    assert t.is_inference() and not cr.Tensor(np.ones(2)).is_inference()
