"""``torch._inductor.config``: Inductor's settings, accepted and without effect here.

Training scripts set some before they compile (``torch._inductor.config.coordinate_descent_tuning
= True``, ``config.triton.unique_kernel_names = True``, ``config.fx_graph_cache = True``).
Inductor generates code for GPUs and CPUs; chainrule's compiler has its own switches
(``chainrule.compile(..., options={"fusion": ..., "buffers": ...})`` and
``torch._dynamo.config``), so these are kept as set and read by nothing.  The module takes any
name (Inductor has hundreds); reading one that was never set raises ``AttributeError``.  The
groups ``triton``, ``cpp``, ``cuda``, ``aot_inductor`` and ``trace`` exist, so that their
settings can be set the same way.
"""

from __future__ import annotations

import types

# a few of Inductor's flags that scripts read as well as set, with PyTorch's defaults
coordinate_descent_tuning = False
epilogue_fusion = True
max_autotune = False
max_autotune_gemm = False
freezing = False
fx_graph_cache = True
force_fuse_int_mm_with_mul = False
use_mixed_mm = True
debug = False

triton = types.SimpleNamespace(cudagraphs=False, unique_kernel_names=False, cudagraph_trees=True)
cpp = types.SimpleNamespace(threads=-1, simdlen=None)
cuda = types.SimpleNamespace()
aot_inductor = types.SimpleNamespace()
trace = types.SimpleNamespace(enabled=False)
