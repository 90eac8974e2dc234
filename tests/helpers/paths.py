"""Where the tests find the repository's own files and the shared data (read-only, never copied)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository: pyproject.toml, configs/, README.md
CONFIGS = ROOT / "configs"
SHIPPED_DEFAULT = ROOT / "src" / "sentry_image" / "weights" / "default"
SHARED = ROOT.parent / "shared" / "data"  # ../shared/data beside the repository: 1,132 labelled images
