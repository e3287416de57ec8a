"""``torch.backends.mps``: Apple's Metal back end is neither built nor available."""

__all__ = ["is_available", "is_built"]


def is_available() -> bool:
    """Whether an MPS device can be used: no."""
    return False


def is_built() -> bool:
    """Whether this build has MPS support: no."""
    return False
