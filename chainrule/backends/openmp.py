"""``torch.backends.openmp``: whether chainrule's own kernels run on OpenMP threads.

They do where the C compiler builds them with GNU OpenMP (``-fopenmp``): the LSTM cell's rows
and, while oneDNN holds the threads, every threaded kernel's ranges (``backend/threads.py``)
then run on the same OpenMP team as oneDNN's primitives.  Elsewhere the kernels use
chainrule's own thread pool, and NumPy's BLAS its own threads (see
:func:`chainrule.set_num_threads`)."""

__all__ = ["is_available"]


def is_available() -> bool:
    """Whether chainrule's kernels are built with OpenMP here (the first call may build one)."""
    from chainrule.backend import threads

    return threads.openmp_team() is not None
