"""nn utilities: gradient clipping (``clip_grad_norm_``, ``clip_grad_value_``) and parameter vectors."""

# --- gradient clipping (optim) ---
