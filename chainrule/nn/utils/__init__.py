"""nn utilities: gradient clipping (``clip_grad_norm_``, ...), parameter vectors, ``rnn``, ``stateless``."""

# --- gradient clipping (optim) ---
from chainrule.nn.utils.clip_grad import (  # noqa: E402,F401
    clip_grad_norm_,
    clip_grad_value_,
    clip_grads_with_norm_,
    get_total_norm,
    parameters_to_vector,
    vector_to_parameters,
)
from chainrule.nn.utils.regularization import l2_penalty  # noqa: E402,F401

# isort: split

# --- variable-length sequences (torch.nn.utils.rnn) ---
from chainrule.nn.utils import rnn, stateless  # noqa: E402,F401
from chainrule.nn.utils.weight_norm import remove_weight_norm, weight_norm  # noqa: E402,F401

# The public names, listed so that type checkers see them as exported (mypy --strict does
# not re-export plain imports); tests/test_typing.py checks that every import is listed.
__all__ = [
    "clip_grad_norm_",
    "clip_grad_value_",
    "clip_grads_with_norm_",
    "get_total_norm",
    "l2_penalty",
    "parameters_to_vector",
    "remove_weight_norm",
    "rnn",
    "stateless",
    "vector_to_parameters",
    "weight_norm",
]
