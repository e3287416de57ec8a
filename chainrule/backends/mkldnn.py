"""``torch.backends.mkldnn``: oneDNN is not used (NumPy's BLAS does the work); ``enabled`` is
kept (default True, as PyTorch's) and changes nothing."""

__all__ = ["enabled", "is_available"]

enabled = True


def is_available() -> bool:
    """Whether oneDNN kernels are used: no (PyTorch's CPU build says True; chainrule has none)."""
    return False
