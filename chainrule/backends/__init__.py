"""``chainrule.backends``: PyTorch's ``torch.backends`` flags, as a CPU-only build has them.

Programs set these before training (``torch.backends.cudnn.benchmark = True``,
``torch.backends.cuda.matmul.allow_tf32 = True``) or probe them
(``torch.backends.mps.is_available()``).  chainrule computes with NumPy on the CPU, so the flags
are kept (they read back what was set, with PyTorch's defaults) and change nothing, and the
``is_available()`` probes say what a CPU-only PyTorch build says: no cuDNN, no CUDA, no MPS.
Not to be confused with ``chainrule.backend`` (singular), chainrule's own NumPy back end.
"""

from chainrule.backends import cuda, cudnn, mkldnn, mps, openmp

__all__ = ["cuda", "cudnn", "mkldnn", "mps", "openmp"]
