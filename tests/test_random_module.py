"""torch.random (chainrule.random): the default generator's functions, fork_rng, default_generator."""

import inspect

import numpy as np
import pytest

import chainrule as cr


def test_same_functions_as_top_level():
    for name in ("manual_seed", "seed", "initial_seed", "get_rng_state", "set_rng_state"):
        assert getattr(cr.random, name) is getattr(cr, name), name
    assert cr.random.default_generator is cr.default_generator
    assert isinstance(cr.random.default_generator, cr.Generator)


def test_fork_rng_restores_the_stream():
    cr.manual_seed(3)
    expected = cr.randn(4)._array.copy()
    cr.manual_seed(3)
    with cr.random.fork_rng():
        inside = cr.randn(4)._array.copy()
        cr.randn(100)
    np.testing.assert_array_equal(inside, expected)  # the block starts from the same state...
    np.testing.assert_array_equal(cr.randn(4)._array, expected)  # ...and the state comes back


def test_fork_rng_restores_on_exception_and_after_reseeding():
    cr.manual_seed(11)
    expected = cr.rand(5)._array.copy()
    cr.manual_seed(11)
    with pytest.raises(KeyError), cr.random.fork_rng():
        cr.manual_seed(12345)
        cr.rand(7)
        raise KeyError("boom")
    assert cr.initial_seed() == 11  # PyTorch's state holds the seed too
    np.testing.assert_array_equal(cr.rand(5)._array, expected)


def test_fork_rng_disabled_leaves_the_draws():
    cr.manual_seed(5)
    first, second = cr.rand(3)._array.copy(), cr.rand(3)._array.copy()
    cr.manual_seed(5)
    with cr.random.fork_rng(enabled=False):
        cr.rand(3)
    np.testing.assert_array_equal(cr.rand(3)._array, second)
    assert not np.array_equal(first, second)


def test_fork_rng_meta_and_device_ids():
    with cr.random.fork_rng(device_type="meta"):
        pass
    with cr.random.fork_rng(devices=[]):
        pass
    with pytest.raises(RuntimeError), cr.random.fork_rng(devices=[0]):  # no CUDA, as PyTorch's CPU build
        pass
    with pytest.raises(RuntimeError, match="no module"), cr.random.fork_rng(device_type="nosuchdevice"):
        pass


def test_default_generator_is_the_default_stream():
    g = cr.random.default_generator
    assert g.manual_seed(21) is g
    assert cr.initial_seed() == 21 and g.initial_seed() == 21
    a = cr.randn(3)._array.copy()
    cr.manual_seed(21)
    np.testing.assert_array_equal(cr.randn(3, generator=g)._array, a)
    s = g.seed()
    assert cr.initial_seed() == s
    state = g.get_state()
    b = cr.rand(2)._array.copy()
    g.set_state(state)
    np.testing.assert_array_equal(cr.rand(2)._array, b)


def test_thread_safe_generator_outside_workers():
    assert cr.random.thread_safe_generator() is None


def test_against_torch():
    torch = pytest.importorskip("torch")
    assert sorted(torch.random.__all__) == sorted(n for n in cr.random.__all__ if n != "default_generator")
    assert list(inspect.signature(torch.random.fork_rng).parameters) == \
        list(inspect.signature(cr.random.fork_rng).parameters)
    for name in ("devices", "enabled", "_caller", "_devices_kw", "device_type"):
        assert inspect.signature(torch.random.fork_rng).parameters[name].default == \
            inspect.signature(cr.random.fork_rng).parameters[name].default
    # the same semantics on both: the seed and the stream come back after the block
    for lib in (torch, cr):
        lib.manual_seed(7)
        with lib.random.fork_rng():
            lib.manual_seed(8)
        assert lib.initial_seed() == 7


def test_fork_rng_keeps_the_generator_object():
    from chainrule.backend.random import default_generator

    before = default_generator()
    with cr.random.fork_rng():
        cr.rand(3)
    assert default_generator() is before  # (what a sampler holding it draws from stays the stream)
