"""Names older and typed PyTorch programs import, which raised ImportError (found by importing
about forty common ``from torch... import ...`` lines under ``sys.modules['torch'] = chainrule``):
``torch.autograd.Variable``, ``torch.optim.lr_scheduler._LRScheduler``,
``torch.nn.modules.batchnorm._BatchNorm``, ``torch.serialization.add_safe_globals`` /
``safe_globals``, ``torch.types``, ``torch.nn.common_types``, ``torch.utils._pytree``."""

from __future__ import annotations

import io
import sys
import zipfile

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn


def test_variable_is_a_detached_leaf_on_the_same_memory():
    from chainrule.autograd import Variable

    t = cr.ones(2)
    v = Variable(t, requires_grad=True)
    assert v is not t and v.requires_grad and not t.requires_grad and v.is_leaf
    assert isinstance(t, Variable) and isinstance(v, Variable) and not isinstance(np.ones(1), Variable)
    v.data.mul_(3.0)
    assert t.tolist() == [3.0, 3.0]  # (the same memory, as PyTorch's)
    (v * v).sum().backward()
    assert v.grad.tolist() == [6.0, 6.0]
    with pytest.warns(UserWarning, match="volatile"):
        Variable(t, volatile=True)
    with pytest.raises(TypeError):
        Variable([1.0])


def test_old_scheduler_and_norm_base_classes():
    from chainrule.nn.modules.batchnorm import _BatchNorm
    from chainrule.optim.lr_scheduler import _LRScheduler

    assert isinstance(nn.BatchNorm2d(2), _BatchNorm) and isinstance(nn.SyncBatchNorm(2), _BatchNorm)

    class Halving(_LRScheduler):
        def get_lr(self):
            return [g["lr"] * 0.5 for g in self.optimizer.param_groups]

    opt = cr.optim.SGD([nn.Parameter(cr.ones(1))], lr=1.0)
    sched = Halving(opt)
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == 0.25  # (PyTorch's: the first get_lr at construction, one per step)


class Box:
    """A class a checkpoint may name once the program trusts it."""

    def __init__(self, value=None):
        self.value = value


def _checkpoint_naming_box() -> bytes:
    # {'b': Box.__new__(Box) with __dict__ {'value': 7}}: GLOBAL, NEWOBJ, BUILD (pickle protocol 2)
    box = b"c" + Box.__module__.encode() + b"\nBox\n)\x81}X\x05\x00\x00\x00valueK\x07sb"
    payload = b"\x80\x02}X\x01\x00\x00\x00b" + box + b"s."
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", payload)
    return buf.getvalue()


def test_safe_globals_let_a_checkpoint_name_a_trusted_class():
    from chainrule.serialization import (
        CheckpointError,
        add_safe_globals,
        clear_safe_globals,
        get_safe_globals,
        safe_globals,
    )

    blob = _checkpoint_naming_box()
    with pytest.raises(CheckpointError, match="Box"):
        cr.load(io.BytesIO(blob))
    with safe_globals([Box]):
        assert cr.load(io.BytesIO(blob))["b"].value == 7
    with pytest.raises(CheckpointError):
        cr.load(io.BytesIO(blob))
    add_safe_globals([Box])
    try:
        assert Box in get_safe_globals() and cr.load(io.BytesIO(blob))["b"].value == 7
    finally:
        clear_safe_globals()
    assert get_safe_globals() == []


def test_typing_modules_import_under_pytorchs_names(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", cr)
    from torch.nn.common_types import _size_2_t  # noqa: F401
    from torch.types import Number  # noqa: F401
    from torch.utils._pytree import tree_flatten, tree_map

    assert tree_map(lambda x: x * 2, {"a": [1, 2]}) == {"a": [2, 4]}
    assert tree_flatten((1, [2, 3]))[0] == [1, 2, 3]


def test_tensor_bfloat16_says_why_it_cannot():
    with pytest.raises(TypeError, match="no bfloat16"):
        cr.ones(2).bfloat16()
