"""The default random generator (the one piece of global state besides grad mode)."""

from __future__ import annotations

import numpy as np

_STATE = {"generator": np.random.default_rng()}


def default_generator() -> np.random.Generator:
    """The generator used by ``rand``, ``randn``, dropout, initialisers and shuffling."""
    return _STATE["generator"]


def manual_seed(seed: int) -> np.random.Generator:
    """Seed chainrule's default generator, like ``torch.manual_seed``; returns it."""
    if not isinstance(seed, (int, np.integer)):
        raise TypeError(f"manual_seed: seed must be an int, got {type(seed).__name__}")
    _STATE["generator"] = np.random.default_rng(int(seed))
    return _STATE["generator"]
