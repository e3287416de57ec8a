"""``torch.backends.openmp``: whether OpenMP parallelises chainrule's own kernels: no (NumPy's
BLAS may use its own threads; see :func:`chainrule.set_num_threads`)."""

__all__ = ["is_available"]


def is_available() -> bool:
    """Whether chainrule was built with OpenMP: no."""
    return False
