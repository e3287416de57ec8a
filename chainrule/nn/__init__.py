"""Neural-network modules (PyTorch's ``torch.nn``): layers, activations, losses, containers.

Each helper area adds its imports under its own heading below.
"""

# --- module system, activations, linear layers, losses, blocks (nn-core) ---

# --- convolution, pooling, normalisation, dropout, embedding (nn-layers) ---

# --- recurrent layers and attention (nn-recurrent) ---

# --- sub-packages ---
from chainrule.nn import functional, init, utils  # noqa: E402,F401
