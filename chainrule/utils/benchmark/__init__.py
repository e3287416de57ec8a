"""``torch.utils.benchmark``: :class:`Timer` (warm-up, thread count, replicates),
:class:`Measurement` (mean, median, IQR, significant figures, PyTorch's repr) and
:class:`Compare` (a table of Measurements), with PyTorch's names, defaults and algorithms.

Not here: instruction counts (``Timer.collect_callgrind``, Valgrind), C++ statements
(``language='cpp'``) and the op fuzzers.
"""

from chainrule.utils.benchmark.common import (
    Measurement,
    TaskSpec,
    ordered_unique,
    select_unit,
    set_torch_threads,
    trim_sigfig,
    unit_to_english,
)
from chainrule.utils.benchmark.compare import Colorize, Compare
from chainrule.utils.benchmark.timer import Language, Timer, timer

__all__ = [
    "Colorize",
    "Compare",
    "Language",
    "Measurement",
    "TaskSpec",
    "Timer",
    "ordered_unique",
    "select_unit",
    "set_torch_threads",
    "timer",
    "trim_sigfig",
    "unit_to_english",
]
