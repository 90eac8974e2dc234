"""Training (the ``train`` extra: torch, timm): typed configs, training data, the loop (AMP, DDP, resume), the
linear probe, ``train(cfg) -> checkpoint folder`` and comparisons of several detectors in one run."""
