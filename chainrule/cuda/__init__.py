"""``chainrule.cuda``: the part of ``torch.cuda`` that CPU-only programs call, behaving as
PyTorch's CPU-only build does.

chainrule computes with NumPy on the CPU, so there is never a CUDA device: ``is_available()``
is False and ``device_count()`` is 0, and the usual PyTorch idiom
``device = 'cuda' if cr.cuda.is_available() else 'cpu'`` picks the CPU.  Asking for a CUDA
device anyway raises (see ``chainrule.backend.device.check_device``).

What PyTorch's CPU build (checked against torch 2.13) does, and chainrule with it:

* answers without a GPU: ``is_available`` (False), ``device_count`` (0), ``is_initialized``
  (False), ``is_bf16_supported`` (False), ``get_arch_list`` ([]);
* no-ops: ``manual_seed``, ``manual_seed_all``, ``seed``, ``seed_all`` (PyTorch queues them
  until CUDA starts, which never happens), ``empty_cache``;
* raise :class:`~chainrule.backend.device.DeviceUnavailableError` (an ``AssertionError``, as
  PyTorch's "Torch not compiled with CUDA enabled"): ``synchronize``, ``current_device``,
  ``set_device``, ``get_device_name``, ``get_device_properties``, ``get_device_capability``,
  ``init``, ``initial_seed``, ``get_rng_state``, ``mem_get_info``, ``current_stream``,
  ``default_stream``, ``ipc_collect``, ``set_per_process_memory_fraction``.

``memory.py`` holds the allocator's counters (0, an empty ``memory_stats()``; the resets and
``memory_summary`` fail as PyTorch's CPU build's do), ``streams.py`` the streams and events
(``Stream()`` and ``Event()`` raise; ``with torch.cuda.stream(s):`` is a no-op), ``nvtx.py``
``torch.cuda.nvtx`` (every range and mark raises PyTorch's "NVTX functions not installed"), and
``chainrule.cuda.amp`` the deprecated ``autocast`` and ``GradScaler`` spellings.
"""

# (names imported here are private: the package's public names are torch.cuda's)
from typing import Any as _Any
from typing import NoReturn as _NoReturn

from chainrule.backend.device import DeviceUnavailableError as _DeviceUnavailableError


def is_available() -> bool:
    """Whether a CUDA device can be used: never, in chainrule."""
    return False


def device_count() -> int:
    """The number of CUDA devices: 0."""
    return 0


def is_initialized() -> bool:
    """Whether CUDA has been initialised: never."""
    return False


def is_bf16_supported(including_emulation: bool = True) -> bool:
    """Whether the current CUDA device supports bfloat16: there is none, so False (as PyTorch's CPU build)."""
    return False


def get_arch_list() -> list[str]:
    """The CUDA architectures this build was compiled for: none."""
    return []


def manual_seed(seed: int) -> None:
    """Seed the current GPU's generator: a no-op without a GPU (as PyTorch's CPU build).

    Seed chainrule's own generator with :func:`chainrule.manual_seed`."""
    int(seed)  # (PyTorch converts it too: a non-number still raises)


def manual_seed_all(seed: int) -> None:
    """Seed every GPU's generator: a no-op without a GPU."""
    int(seed)


def seed() -> None:
    """Seed the current GPU's generator randomly: a no-op without a GPU."""


def seed_all() -> None:
    """Seed every GPU's generator randomly: a no-op without a GPU."""







def _no_cuda(what: str) -> _NoReturn:
    raise _DeviceUnavailableError(
        f"torch.cuda.{what}(): Torch not compiled with CUDA enabled: chainrule computes with NumPy on the CPU "
        "and has no CUDA device (check torch.cuda.is_available() first)"
    )


def synchronize(device: _Any = None) -> None:
    """Wait for the GPU: raises, as PyTorch's CPU build (there is no GPU to wait for)."""
    _no_cuda("synchronize")


def current_device() -> int:
    """The current GPU's index: raises, as PyTorch's CPU build."""
    _no_cuda("current_device")


def set_device(device: _Any) -> None:
    """Choose the current GPU: raises, as PyTorch's CPU build."""
    _no_cuda("set_device")


def get_device_name(device: _Any = None) -> str:
    """A GPU's name: raises, as PyTorch's CPU build."""
    _no_cuda("get_device_name")


def get_device_properties(device: _Any = None) -> _Any:
    """A GPU's properties: raises, as PyTorch's CPU build."""
    _no_cuda("get_device_properties")


def get_device_capability(device: _Any = None) -> tuple[int, int]:
    """A GPU's compute capability: raises, as PyTorch's CPU build."""
    _no_cuda("get_device_capability")


def init() -> None:
    """Initialise CUDA: raises, as PyTorch's CPU build."""
    _no_cuda("init")


def initial_seed() -> int:
    """The current GPU generator's seed: raises, as PyTorch's CPU build."""
    _no_cuda("initial_seed")


def get_rng_state(device: _Any = "cuda") -> _Any:
    """A GPU generator's state: raises, as PyTorch's CPU build."""
    _no_cuda("get_rng_state")


def set_rng_state(new_state: _Any, device: _Any = "cuda") -> None:
    """Set a GPU generator's state: PyTorch's CPU build copies ``new_state`` (a tensor) and defers
    setting it until CUDA is initialised, which never happens; so it is checked and dropped."""
    from chainrule.autograd.tensor import Tensor

    if not isinstance(new_state, Tensor):
        raise TypeError(f"torch.cuda.set_rng_state(): new_state must be a Tensor, got {type(new_state).__name__}")


def get_rng_state_all() -> list[_Any]:
    """Every GPU generator's state, one per device: ``[]`` without a GPU (as PyTorch's CPU build)."""
    return []


def set_rng_state_all(new_states: _Any) -> None:
    """Set every GPU generator's state (``set_rng_state(state, i)`` for each): deferred and dropped
    without a GPU, as :func:`set_rng_state`."""
    for i, state in enumerate(new_states):
        set_rng_state(state, i)


def mem_get_info(device: _Any = None) -> tuple[int, int]:
    """Free and total GPU memory: raises, as PyTorch's CPU build."""
    _no_cuda("mem_get_info")




def ipc_collect() -> None:
    """Free memory shared between processes: raises, as PyTorch's CPU build."""
    _no_cuda("ipc_collect")


from chainrule.cuda import amp, memory, nvtx, streams  # noqa: E402  (after _no_cuda, which they call)
from chainrule.cuda.memory import (  # noqa: E402
    OutOfMemoryError,
    empty_cache,
    max_memory_allocated,
    max_memory_cached,
    max_memory_reserved,
    memory_allocated,
    memory_cached,
    memory_reserved,
    memory_snapshot,
    memory_stats,
    memory_stats_as_nested_dict,
    memory_summary,
    reset_accumulated_memory_stats,
    reset_max_memory_allocated,
    reset_max_memory_cached,
    reset_peak_memory_stats,
    set_per_process_memory_fraction,
)
from chainrule.cuda.streams import (  # noqa: E402
    Event,
    Stream,
    StreamContext,
    current_stream,
    default_stream,
    set_stream,
    stream,
)

__all__ = [
    "Event",
    "OutOfMemoryError",
    "Stream",
    "StreamContext",
    "amp",
    "current_device",
    "current_stream",
    "default_stream",
    "device_count",
    "empty_cache",
    "get_arch_list",
    "get_device_capability",
    "get_device_name",
    "get_device_properties",
    "get_rng_state",
    "get_rng_state_all",
    "init",
    "initial_seed",
    "ipc_collect",
    "is_available",
    "is_bf16_supported",
    "is_initialized",
    "manual_seed",
    "manual_seed_all",
    "max_memory_allocated",
    "max_memory_cached",
    "max_memory_reserved",
    "mem_get_info",
    "memory",
    "memory_allocated",
    "memory_cached",
    "memory_reserved",
    "memory_snapshot",
    "memory_stats",
    "memory_stats_as_nested_dict",
    "memory_summary",
    "nvtx",
    "reset_accumulated_memory_stats",
    "reset_max_memory_allocated",
    "reset_max_memory_cached",
    "reset_peak_memory_stats",
    "seed",
    "seed_all",
    "set_device",
    "set_per_process_memory_fraction",
    "set_rng_state",
    "set_rng_state_all",
    "set_stream",
    "stream",
    "streams",
    "synchronize",
]
