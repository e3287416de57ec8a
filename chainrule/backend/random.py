"""The default random generator (the one piece of global state besides grad mode)."""

from __future__ import annotations

import secrets
from typing import Any

import numpy as np

# seeded from the operating system's entropy at import, so that initial_seed() has an answer
_SEED0 = secrets.randbits(63)
_STATE: dict[str, Any] = {"generator": np.random.default_rng(_SEED0), "seed": _SEED0}


def default_generator() -> np.random.Generator:
    """The generator used by ``rand``, ``randn``, dropout, initialisers and shuffling."""
    return _STATE["generator"]


def manual_seed(seed: int) -> np.random.Generator:
    """Seed chainrule's default generator, like ``torch.manual_seed``; returns it."""
    if not isinstance(seed, (int, np.integer)):
        raise TypeError(f"manual_seed: seed must be an int, got {type(seed).__name__}")
    _STATE["generator"] = np.random.default_rng(int(seed))
    _STATE["seed"] = int(seed)
    return _STATE["generator"]


def initial_seed() -> int:
    """The seed of the default generator (``torch.initial_seed``)."""
    return int(_STATE["seed"])


def seeded_generator(seed: int) -> np.random.Generator:
    """A new host generator of its own (draws from it leave the default generator's sequence
    as it was): for reproducible draws given a seed, such as gradgradcheck's random v."""
    return np.random.default_rng(seed)
