"""nn utilities: gradient clipping (``clip_grad_norm_``, ``clip_grad_value_``) and parameter vectors."""

# --- gradient clipping (optim) ---
from chainrule.nn.utils.clip_grad import (  # noqa: E402,F401
    clip_grad_norm_,
    clip_grad_value_,
    parameters_to_vector,
    vector_to_parameters,
)
from chainrule.nn.utils.regularization import l2_penalty  # noqa: E402,F401
