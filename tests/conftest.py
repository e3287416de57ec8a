"""Test-session settings.

The suite runs as ``pytest -n 2`` on 2-core machines: each worker keeps NumPy's BLAS to one
thread, because a second BLAS thread per worker only spins on the small matrix products of
the training tests (a 5-10x slowdown under load was measured on the recurrent tests).
"""

import pytest


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread_per_worker():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # threadpoolctl comes with scikit-learn (a test extra)
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield


@pytest.fixture(params=["compiled", "numpy"])
def kernel_path(request, monkeypatch):
    """Run the test twice: with the compiled kernel (skipped where it does not build) and with its
    NumPy twin.  The test module names its kernel: ``KERNEL = (wrapper module, kernel name)``, the
    wrapper module having a ``kernel(dtype)`` function (None: use NumPy)."""
    from chainrule.backend import native

    module, name = request.module.KERNEL
    if request.param == "compiled":
        if native.load(name) is None:
            pytest.skip(f"compiled kernel: {native.status(name)}")
    else:
        monkeypatch.setattr(module, "kernel", lambda dtype: None)
    return request.param


@pytest.fixture
def strict():
    """The strict test back end (tests/strict_backend.py) registered as device type 'strict'."""
    from strict_backend import strict_backend

    with strict_backend() as b:
        yield b
