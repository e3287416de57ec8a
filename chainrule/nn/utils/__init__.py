"""nn utilities: gradient clipping (``clip_grad_norm_``, ``clip_grad_value_``), parameter vectors, ``rnn``,
``stateless``, pruning (``prune``), weight reparametrizations (``parametrize``, ``parametrizations``, ``weight_norm``,
``spectral_norm``), batch-norm fusion and ``skip_init``."""

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

# isort: split

# --- reparametrizations (parametrize: the mechanism; parametrizations: orthogonal, spectral and
# weight norm), batch-norm fusion, skip_init ---
from chainrule.nn.utils import parametrizations, parametrize, prune  # noqa: E402,F401
from chainrule.nn.utils.fusion import (  # noqa: E402,F401
    fuse_conv_bn_eval,
    fuse_conv_bn_weights,
    fuse_linear_bn_eval,
    fuse_linear_bn_weights,
)
from chainrule.nn.utils.init import skip_init  # noqa: E402,F401
from chainrule.nn.utils.spectral_norm import remove_spectral_norm, spectral_norm  # noqa: E402,F401
from chainrule.nn.utils.weight_norm import remove_weight_norm, weight_norm  # noqa: E402,F401

# The public names, listed so that type checkers see them as exported (mypy --strict does
# not re-export plain imports); tests/test_typing.py checks that every import is listed.
__all__ = [
    "clip_grad_norm_",
    "clip_grad_value_",
    "clip_grads_with_norm_",
    "fuse_conv_bn_eval",
    "fuse_conv_bn_weights",
    "fuse_linear_bn_eval",
    "fuse_linear_bn_weights",
    "get_total_norm",
    "l2_penalty",
    "parameters_to_vector",
    "parametrizations",
    "parametrize",
    "prune",
    "remove_spectral_norm",
    "remove_weight_norm",
    "rnn",
    "skip_init",
    "spectral_norm",
    "stateless",
    "vector_to_parameters",
    "weight_norm",
]
