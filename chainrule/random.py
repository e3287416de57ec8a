"""``torch.random``: the default random generator's seed and state, and :func:`fork_rng`.

The functions are chainrule's top-level ones (``chainrule.random.manual_seed is
chainrule.manual_seed``, as in PyTorch).  :data:`default_generator` is a
:class:`chainrule.Generator` whose stream *is* the default generator's (the one ``rand``,
``randn``, dropout, the initialisers and shuffling draw from): seeding it seeds them, and it can
be passed as ``generator=``.

    with chainrule.random.fork_rng():
        noise = chainrule.randn(3)       # draws inside the block...
    chainrule.randn(3)                   # ...leave the stream outside it as it was
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from chainrule._torch_toplevel import get_rng_state, initial_seed, seed, set_rng_state
from chainrule.backend import random as _random
from chainrule.backend.random import manual_seed
from chainrule.utils.data.sampler import Generator

__all__ = [
    "default_generator",
    "fork_rng",
    "get_rng_state",
    "initial_seed",
    "manual_seed",
    "seed",
    "set_rng_state",
    "thread_safe_generator",
]


class _DefaultGenerator(Generator):
    """The default generator as a :class:`~chainrule.Generator` (``torch.default_generator``):
    ``rng`` is always the default generator's current NumPy generator, and ``manual_seed`` /
    ``seed`` / ``initial_seed`` are :func:`chainrule.manual_seed`'s and its friends'."""

    def __init__(self) -> None:  # no state of its own: everything lives in backend.random
        pass

    @property
    def rng(self) -> np.random.Generator:  # type: ignore[override]
        return _random.default_generator()

    @property
    def _seed(self) -> int:  # type: ignore[override]
        return _random.initial_seed()

    def manual_seed(self, seed: int) -> Generator:
        _random.manual_seed(seed)
        return self

    def initial_seed(self) -> int:
        return _random.initial_seed()

    def seed(self) -> int:
        return seed()

    def __repr__(self) -> str:
        return f"default_generator(initial_seed={self.initial_seed()})"


default_generator: Generator = _DefaultGenerator()


def _device_module(device_type: str) -> Any:
    """The ``chainrule.<device_type>`` module whose generators :func:`fork_rng` forks."""
    import importlib

    try:
        return importlib.import_module(f"chainrule.{device_type}")
    except ImportError:
        raise RuntimeError(f"torch has no module of `{device_type}`, you should register a module by "
                           "`torch._register_device_module`.") from None


@contextlib.contextmanager
def fork_rng(devices: Iterable[Any] | None = None, enabled: bool = True, _caller: str = "fork_rng",
             _devices_kw: str = "devices", device_type: str | None = None) -> Iterator[None]:
    """Fork the random number generator: on leaving the block (also through an exception) the
    CPU's default generator is back in the state it was in on entering it, seed included, so
    the draws after the block are those that would have followed without it.

    Args:
        devices: accelerator device ids whose generators to fork as well (None: all of them;
            chainrule has none, so only ``None`` or an empty list work, as on PyTorch's CPU build,
            where any id raises because CUDA is not compiled in).
        enabled: False makes the block a no-op (nothing saved or restored).
        _caller: the name used in warnings (PyTorch's internal argument).
        _devices_kw: the devices keyword named in warnings (PyTorch's internal argument).
        device_type: the accelerator type (None: the current accelerator, else ``"cuda"``);
            ``"meta"`` forks nothing.
    """
    if device_type == "meta":
        yield
        return
    from chainrule import accelerator

    acc = accelerator.current_accelerator()
    device_mod = _device_module(device_type or (acc.type if acc is not None else "cuda"))
    if not enabled:
        yield
        return
    device_list = list(range(device_mod.device_count())) if devices is None else list(devices)
    cpu_state, cpu_seed = get_rng_state(), _random.initial_seed()
    device_states = [device_mod.get_rng_state(d) for d in device_list]
    try:
        yield
    finally:
        set_rng_state(cpu_state)  # the position in the stream...
        _random._STATE["seed"] = cpu_seed  # ...and the seed (initial_seed), which PyTorch's state holds too
        for d, state in zip(device_list, device_states):
            device_mod.set_rng_state(state, d)


def thread_safe_generator() -> Generator | None:
    """The generator of a DataLoader *thread* worker; None elsewhere (chainrule's workers are
    processes or the main thread, so always None: the default generator is used)."""
    return None
