"""Functional forms of the layers, activations and losses (PyTorch's ``torch.nn.functional``).

Each helper area adds its imports under its own heading below.
"""

# --- activations, linear, losses (nn-core) ---

# --- convolution, pooling, normalisation, dropout, embedding (nn-layers) ---

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
