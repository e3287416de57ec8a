"""``torch.version``: the version of this build and of the accelerator toolkits it was built with.

chainrule is built with none (no CUDA, ROCm/HIP or XPU), so their versions are ``None``, as on
PyTorch's CPU-only build: ``torch.version.cuda is None`` is how programs tell such a build.
"""

from __future__ import annotations

from chainrule._version import __version__

__all__ = ["__version__", "cuda", "debug", "git_version", "hip", "rocm", "xpu"]

cuda: str | None = None
hip: str | None = None
rocm: str | None = None
xpu: str | None = None
debug: bool = False
git_version: str = "Unknown"
