"""torch.amp.custom_fwd / custom_bwd and their deprecated torch.cuda.amp spellings."""

from __future__ import annotations

from typing import Any

import pytest

import chainrule as cr


def _function(amp: Any, **fwd_kwargs: Any) -> Any:
    class G(cr.autograd.Function):
        @staticmethod
        @amp.custom_fwd(**fwd_kwargs)
        def forward(ctx: Any, x: cr.Tensor) -> cr.Tensor:
            return x * (5 if cr.is_autocast_enabled("cpu") else 3)

        @staticmethod
        @amp.custom_bwd(device_type="cpu")
        def backward(ctx: Any, g: cr.Tensor) -> cr.Tensor:
            return g * (7 if cr.is_autocast_enabled("cpu") else 3)

    return G


def test_forward_state_is_replayed_in_backward() -> None:
    x = cr.ones(2, requires_grad=True)
    G = _function(cr.amp, device_type="cpu")
    with cr.autocast("cpu"):
        y = G.apply(x)  # forward inside autocast: 5; backward (outside) runs with autocast on: 7
    y.sum().backward()
    assert y.tolist() == [5.0, 5.0] and x.grad.tolist() == [7.0, 7.0]
    x.grad = None
    y = G.apply(x)  # outside autocast: a no-op
    y.sum().backward()
    assert y.tolist() == [3.0, 3.0] and x.grad.tolist() == [3.0, 3.0]


def test_cast_inputs_runs_forward_without_autocast() -> None:
    x = cr.ones(2, requires_grad=True)
    G = _function(cr.amp, device_type="cpu", cast_inputs=cr.float32)
    with cr.autocast("cpu"):
        y = G.apply(x)
    y.sum().backward()
    assert y.tolist() == [3.0, 3.0] and x.grad.tolist() == [3.0, 3.0]


def test_device_type_is_required() -> None:
    with pytest.raises(TypeError):
        cr.amp.custom_fwd(lambda ctx: 0)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="device_type"):
        cr.amp.custom_fwd(lambda ctx: 0, device_type=0)  # type: ignore[arg-type]


def test_cuda_amp_spellings_warn_and_work() -> None:
    class F(cr.autograd.Function):
        with pytest.warns(FutureWarning, match="custom_fwd"):

            @staticmethod
            @cr.cuda.amp.custom_fwd
            def forward(ctx: Any, x: cr.Tensor) -> cr.Tensor:
                return x * 2

        with pytest.warns(FutureWarning, match="custom_bwd"):

            @staticmethod
            @cr.cuda.amp.custom_bwd
            def backward(ctx: Any, g: cr.Tensor) -> cr.Tensor:
                return g * 2

    x = cr.ones(2, requires_grad=True)
    F.apply(x).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_against_pytorch() -> None:
    torch = pytest.importorskip("torch")
    for lib in (torch, cr):
        assert {"custom_fwd", "custom_bwd"} <= set(dir(lib.amp)) and hasattr(lib.cuda.amp, "custom_fwd")
