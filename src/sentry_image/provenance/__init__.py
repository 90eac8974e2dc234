"""Provenance evidence: C2PA content credentials, invisible watermarks and generator/camera metadata."""
