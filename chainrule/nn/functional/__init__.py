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

# isort: split

# --- more of torch.nn.functional (torch parity, issue 12) ---
from chainrule.nn.functional.activation_extra import (  # noqa: E402,F401
    celu,
    celu_,
    elu_,
    glu,
    gumbel_softmax,
    hardshrink,
    hardtanh_,
    leaky_relu_,
    prelu,
    rrelu,
    rrelu_,
    selu_,
    softmin,
    softshrink,
    tanhshrink,
    threshold,
    threshold_,
)
from chainrule.nn.functional.conv_transpose import conv_transpose1d, conv_transpose2d  # noqa: E402,F401
from chainrule.nn.functional.distance import (  # noqa: E402,F401
    cosine_similarity,
    normalize,
    one_hot,
    pairwise_distance,
    pdist,
)
from chainrule.nn.functional.dropout_extra import alpha_dropout, dropout3d, feature_alpha_dropout  # noqa: E402,F401
from chainrule.nn.functional.embedding_bag import embedding_bag  # noqa: E402,F401
from chainrule.nn.functional.fractional_pool import (  # noqa: E402,F401
    fractional_max_pool2d,
    fractional_max_pool2d_with_indices,
    fractional_max_pool3d,
    fractional_max_pool3d_with_indices,
)
from chainrule.nn.functional.loss_extra import (  # noqa: E402,F401
    cosine_embedding_loss,
    gaussian_nll_loss,
    hinge_embedding_loss,
    margin_ranking_loss,
    multi_margin_loss,
    multilabel_margin_loss,
    multilabel_soft_margin_loss,
    poisson_nll_loss,
    soft_margin_loss,
    triplet_margin_loss,
    triplet_margin_with_distance_loss,
)
from chainrule.nn.functional.normalization_extra import group_norm, instance_norm, rms_norm  # noqa: E402,F401
from chainrule.nn.functional.padding import pad  # noqa: E402,F401
from chainrule.nn.functional.pooling_extra import (  # noqa: E402,F401
    adaptive_max_pool1d,
    adaptive_max_pool1d_with_indices,
    adaptive_max_pool2d,
    adaptive_max_pool2d_with_indices,
    local_response_norm,
    lp_pool1d,
    lp_pool2d,
    lp_pool3d,
    max_pool1d_with_indices,
    max_pool2d_with_indices,
)
from chainrule.nn.functional.three_d import (  # noqa: E402,F401
    adaptive_avg_pool3d,
    adaptive_max_pool3d,
    avg_pool3d,
    conv3d,
    conv_transpose3d,
    max_pool3d,
)
from chainrule.nn.functional.unpool import (  # noqa: E402,F401
    adaptive_max_pool3d_with_indices,
    max_pool3d_with_indices,
    max_unpool1d,
    max_unpool2d,
    max_unpool3d,
)
from chainrule.nn.functional.vision import (  # noqa: E402,F401
    channel_shuffle,
    interpolate,
    pixel_shuffle,
    pixel_unshuffle,
    upsample,
    upsample_bilinear,
    upsample_nearest,
)

# isort: split

# --- spatial transformers and CTC (torch parity: affine_grid, grid_sample, ctc_loss) ---
from chainrule.nn.functional.ctc import ctc_loss  # noqa: E402,F401
from chainrule.nn.functional.grid_sample import affine_grid, grid_sample  # noqa: E402,F401

# isort: split

# --- a linear layer's logits and their cross-entropy, chunked (torch parity: linear_cross_entropy) ---
from chainrule.nn.functional.linear_cross_entropy import linear_cross_entropy  # noqa: E402,F401

# The public names, listed so that type checkers see them as exported (mypy --strict does
# not re-export plain imports); tests/test_typing.py checks that every import is listed.
__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d",
    "adaptive_max_pool2d_with_indices",
    "adaptive_max_pool3d",
    "additive_attention",
    "affine_grid",
    "alpha_dropout",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "batch_norm",
    "bilinear",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "causal_conv1d",
    "celu",
    "celu_",
    "channel_shuffle",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "cosine_embedding_loss",
    "cosine_similarity",
    "cross_entropy",
    "ctc_loss",
    "dropout",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "elu",
    "elu_",
    "embedding",
    "embedding_bag",
    "fractional_max_pool2d",
    "fractional_max_pool2d_with_indices",
    "fractional_max_pool3d",
    "fractional_max_pool3d_with_indices",
    "eswish",
    "feature_alpha_dropout",
    "fold",
    "gaussian_nll_loss",
    "gelu",
    "glu",
    "grid_sample",
    "group_norm",
    "gru",
    "gru_cell",
    "gumbel_softmax",
    "hard_sigmoid_notes",
    "hardshrink",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "hardtanh_",
    "heaviside",
    "hinge_embedding_loss",
    "huber_loss",
    "identity",
    "instance_norm",
    "interpolate",
    "kl_div",
    "l1_loss",
    "layer_norm",
    "leaky_relu",
    "leaky_relu_",
    "linear",
    "linear_cross_entropy",
    "local_response_norm",
    "log_softmax",
    "logsigmoid",
    "lp_pool1d",
    "lp_pool2d",
    "lp_pool3d",
    "lstm",
    "lstm_cell",
    "margin_ranking_loss",
    "max_pool1d",
    "max_pool1d_with_indices",
    "max_pool2d",
    "max_pool2d_with_indices",
    "max_pool3d",
    "maxout",
    "mish",
    "mse_loss",
    "multi_head_attention_forward",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
    "nll_loss",
    "normalize",
    "one_hot",
    "pad",
    "pairwise_distance",
    "pdist",
    "piecewise_linear",
    "pixel_shuffle",
    "pixel_unshuffle",
    "poisson_nll_loss",
    "prelu",
    "relu",
    "relu6",
    "relu_",
    "rms_norm",
    "rnn_relu",
    "rnn_relu_cell",
    "rnn_tanh",
    "rnn_tanh_cell",
    "rrelu",
    "rrelu_",
    "scaled_dot_product_attention",
    "selu",
    "selu_",
    "sigmoid",
    "sign",
    "silu",
    "smooth_l1_loss",
    "soft_margin_loss",
    "softmax",
    "softmin",
    "softplus",
    "softshrink",
    "softsign",
    "step",
    "swish",
    "tanh",
    "tanhshrink",
    "threshold",
    "threshold_",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
    "unfold",
    "upsample",
    "upsample_bilinear",
    "upsample_nearest",
    "adaptive_max_pool3d_with_indices",
    "max_pool3d_with_indices",
    "max_unpool1d",
    "max_unpool2d",
    "max_unpool3d",
]
