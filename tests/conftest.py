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


def kernel_or_numpy(request, monkeypatch, module, kernel_name: str) -> str:
    """For a fixture parametrised over ["compiled", "numpy"]: skip "compiled" where the kernel does
    not build, and make ``module.kernel`` report none for "numpy" (its NumPy twin then runs)."""
    from chainrule.backend import native

    if request.param == "compiled":
        if native.load(kernel_name) is None:
            pytest.skip(f"compiled kernel: {native.status(kernel_name)}")
    else:
        monkeypatch.setattr(module, "kernel", lambda dtype: None)
    return request.param
