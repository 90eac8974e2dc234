"""Datasets as explicit data: preprocessing and degradations, manifests (rows with labels), deterministic splits,
sources, the Fake2M / MPBench hub, archives, shards and galleries.

Submodules are imported explicitly (``from sentry_image.data.manifest import read_manifest``) so that importing
the package stays cheap; only :mod:`.datasets` needs torch.
"""
