"""TensorBoard logging (PyTorch's ``torch.utils.tensorboard``): ``SummaryWriter``.

The event files are written by the ``tensorboard`` package's own writer
(``EventFileWriter`` and its protocol buffers), an optional extra:
``pip install 'chainrule[tensorboard]'``.  Without it, importing this module raises
an ImportError that says so.
"""

try:
    import tensorboard  # noqa: F401
except ImportError as e:  # one line, naming the extra
    raise ImportError(
        "chainrule.utils.tensorboard needs the 'tensorboard' package: pip install 'chainrule[tensorboard]'"
    ) from e

from chainrule.utils.tensorboard.writer import SummaryWriter

__all__ = ["SummaryWriter"]
