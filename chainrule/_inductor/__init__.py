"""``torch._inductor`` as PyTorch programs touch it: its ``config`` (``chainrule._inductor.config``).

PyTorch's Inductor generates the code of a compiled graph; chainrule's compiler writes its own
plans and fused loops (``chainrule/compiler``), so Inductor's settings are accepted and change
nothing here."""

from chainrule._inductor import config

__all__ = ["config"]
