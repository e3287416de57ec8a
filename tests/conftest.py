"""Test-session settings.

The suite runs as ``pytest -n 2`` on 2-core machines: each worker keeps NumPy's BLAS to one
thread, because a second BLAS thread per worker only spins on the small matrix products of
the training tests (a 5-10x slowdown under load was measured on the recurrent tests).
"""

import sys

import numpy as np
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


@pytest.fixture
def two_threads():
    """chainrule at two intra-op threads (``set_num_threads(2)``) for the test.  Afterwards every
    thread pool's count (BLAS's one thread per worker, above), chainrule's own count and what
    ``set_num_threads`` recorded are as they were."""
    from threadpoolctl import ThreadpoolController

    import chainrule as cr
    from chainrule import _torch_api
    from chainrule.backend import threads

    ctl = ThreadpoolController()
    pools = [(pool.filepath, pool.num_threads) for pool in ctl.lib_controllers]
    intra, recorded = threads.intra_threads(), dict(_torch_api._THREADS)
    cr.set_num_threads(2)
    yield
    for path, n in pools:
        ctl.select(filepath=path).limit(limits=n)
    threads.set_intra_threads(intra)
    _torch_api._THREADS.clear()
    _torch_api._THREADS.update(recorded)


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


@pytest.fixture
def three_threads(monkeypatch):
    """``threads.run_ranges`` forced to split every call into 3 ranges, whatever the size: returns
    a function that also lowers ``module._THREADED_MIN`` to 1, and the list of the calls' total
    sizes (so a test can check that its kernel went through the threads)."""
    from chainrule.backend import threads

    calls: list = []
    real = threads.run_ranges

    def split(kernel, total, n, step=1):
        calls.append(total)
        return real(kernel, total, 3, step)

    def on(module):
        monkeypatch.setattr(module, "_THREADED_MIN", 1)
        monkeypatch.setattr(threads, "run_ranges", split)
        return calls

    return on


@pytest.fixture
def fine_switching():
    """Python's threads take turns every microsecond (``sys.setswitchinterval``), so that the
    calls of a test's threads overlap."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


@pytest.fixture
def count_copies(monkeypatch):
    """A function that starts counting the backend's ``ArrayMath.copy`` calls: it returns the
    list their shapes are appended to (the engine's gradient copies go through it)."""
    from chainrule.backend import ArrayMath

    def start() -> list:
        calls: list = []
        original = ArrayMath.copy

        def counting(x, dtype=None):
            calls.append(np.shape(x))
            return original(x, dtype)

        monkeypatch.setattr(ArrayMath, "copy", staticmethod(counting))
        return calls

    return start

