"""Weight initialisers (PyTorch's ``torch.nn.init``). Filled in by the nn-core work."""
