"""Datasets as explicit data: manifests (rows with labels), deterministic splits, and image degradations.

Submodules are imported explicitly (``from sentry_image.data.manifest import read_manifest``) so that importing
the package stays cheap.
"""
