"""Functional forms of the layers, activations and losses (PyTorch's ``torch.nn.functional``).

Each helper area adds its imports under its own heading below.
"""

# --- activations, linear, losses (nn-core) ---

# --- convolution, pooling, normalisation, dropout, embedding (nn-layers) ---

# --- recurrent cells and attention (nn-recurrent) ---
