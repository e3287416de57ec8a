"""Functional forms of the layers, activations and losses (PyTorch's ``torch.nn.functional``).

Each helper area adds its imports under its own heading below.
"""

# --- activations, linear, losses (nn-core) ---
from chainrule.nn.functional.activation import (  # noqa: E402,F401
    elu,
    eswish,
    gelu,
    hard_sigmoid_notes,
    hardsigmoid,
    hardswish,
    hardtanh,
    heaviside,
    identity,
    leaky_relu,
    log_softmax,
    logsigmoid,
    maxout,
    mish,
    piecewise_linear,
    relu,
    relu6,
    relu_,
    selu,
    sigmoid,
    sign,
    silu,
    softmax,
    softplus,
    softsign,
    step,
    swish,
    tanh,
)
from chainrule.nn.functional.linear import bilinear, linear  # noqa: E402,F401

# isort: split


# --- losses (nn-core losses helper) ---
from chainrule.nn.functional.loss import (  # noqa: E402,F401
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)

# isort: split

# --- convolution, pooling, normalisation, dropout, embedding (nn-layers) ---
from chainrule.nn.functional.conv import causal_conv1d, conv1d, conv2d, fold, unfold  # noqa: E402,F401
from chainrule.nn.functional.dropout import dropout, dropout1d, dropout2d  # noqa: E402,F401
from chainrule.nn.functional.embedding import embedding  # noqa: E402,F401
from chainrule.nn.functional.normalization import batch_norm, layer_norm  # noqa: E402,F401
from chainrule.nn.functional.pooling import (  # noqa: E402,F401
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    avg_pool1d,
    avg_pool2d,
    max_pool1d,
    max_pool2d,
)

# isort: split

# --- recurrent cells and attention (nn-recurrent) ---
from chainrule.nn.functional.attention import (  # noqa: E402,F401
    additive_attention,
    multi_head_attention_forward,
    scaled_dot_product_attention,
)
from chainrule.nn.functional.recurrent import (  # noqa: E402,F401
    gru,
    gru_cell,
    lstm,
    lstm_cell,
    rnn_relu,
    rnn_relu_cell,
    rnn_tanh,
    rnn_tanh_cell,
)

# The public names, listed so that type checkers see them as exported (mypy --strict does
# not re-export plain imports); tests/test_typing.py checks that every import is listed.
# --- tensor ops that PyTorch files under nn.functional (ptops) ---
from chainrule.ops.arrange import one_hot  # noqa: E402,F401

# isort: split

__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "additive_attention",
    "avg_pool1d",
    "avg_pool2d",
    "batch_norm",
    "bilinear",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "causal_conv1d",
    "conv1d",
    "conv2d",
    "cross_entropy",
    "dropout",
    "dropout1d",
    "dropout2d",
    "elu",
    "embedding",
    "eswish",
    "fold",
    "gelu",
    "gru",
    "gru_cell",
    "hard_sigmoid_notes",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "heaviside",
    "huber_loss",
    "identity",
    "kl_div",
    "l1_loss",
    "layer_norm",
    "leaky_relu",
    "linear",
    "log_softmax",
    "logsigmoid",
    "lstm",
    "lstm_cell",
    "max_pool1d",
    "max_pool2d",
    "maxout",
    "mish",
    "mse_loss",
    "multi_head_attention_forward",
    "nll_loss",
    "piecewise_linear",
    "relu",
    "relu6",
    "relu_",
    "rnn_relu",
    "rnn_relu_cell",
    "rnn_tanh",
    "rnn_tanh_cell",
    "scaled_dot_product_attention",
    "selu",
    "sigmoid",
    "sign",
    "silu",
    "smooth_l1_loss",
    "softmax",
    "softplus",
    "softsign",
    "step",
    "swish",
    "tanh",
    "unfold",
]
__all__ += ["one_hot"]  # (ptops: an integer tensor op, defined in ops/arrange.py)
