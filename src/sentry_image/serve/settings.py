"""Service settings: every knob comes from the environment (prefix ``SENTRY_``) or from the caller.

``create_app(Settings(...))`` in tests and ``sentry-image serve`` in production read the same class, so a value
documented here is one that works in both places.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Configuration of the web service. Environment variables are ``SENTRY_<FIELD>`` (case-insensitive)."""

    model_config = SettingsConfigDict(env_prefix="SENTRY_", extra="ignore")

    model: str | None = Field(default=None, description="Detector: shipped checkpoint name or checkpoint folder.")
    database_url: str = Field(default="sqlite:///sentry-image.db",
                              description="SQLAlchemy URL; SQLite file by default, postgresql+psycopg://... works.")
    admin_token: SecretStr | None = Field(
        default=None,
        description="Token for admin actions (register benchmarks and teams, export, totals); unset = disabled.")
    data_dir: Path = Field(default=Path("sentry-image-data"),
                           description="Where the benchmark images registered by the admin are stored.")

    # Uploads: checked on the byte stream, before any decoding.
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, gt=0, description="Largest image accepted by /detect.")
    max_pixels: int = Field(default=40_000_000, gt=0, description="Largest declared width x height accepted.")
    max_files: int = Field(default=16, gt=0, description="Most images in one /detect request.")
    detect_concurrency: int = Field(default=2, gt=0,
                                    description="Requests scored at once; the others wait (bounds memory).")
    allow_url_fetch: bool = Field(
        default=False,
        description="Enable POST /api/v1/detect/url: the service fetches client-given http(s) URLs, refusing any "
                    "that resolves to a loopback, private, link-local or other non-public address (serve/urlguard.py).")

    # Abuse limits: per client address, for what needs no account (see ratelimit.py)
    session_starts_per_hour: int = Field(default=30, gt=0,
                                         description="Questionnaire sessions one address may start per hour.")
    failed_tokens_per_minute: int = Field(default=10, gt=0,
                                          description="Wrong team/admin tokens from one address per minute before "
                                                      "its token checks get 429 for the rest of the minute.")

    # Leaderboard
    max_submission_bytes: int = Field(default=10 * 1024 * 1024, gt=0, description="Largest predictions CSV.")
    max_benchmark_bytes: int = Field(default=2 * 1024**3, gt=0, description="Largest benchmark upload (admin).")
    submissions_per_day: int = Field(default=5, gt=0, description="Scored submissions per team per UTC day.")
    min_slice_size: int = Field(default=10, gt=0,
                                description="Subsets with fewer images are not reported (they would leak labels).")
    metric_digits: int = Field(default=3, ge=1, le=6, description="Decimals of every metric sent back.")
    # 0.75: file facts then order a random real/AI pair right 3 times in 4: above what chance gives from about 40
    # images on (under 0.7), far below a leak like the shared data's (0.97 stripped, 0.5 re-encoded). A lower
    # limit starts to judge file sizes even after normalise=jpeg, and those follow the pictures' content and
    # history (a photo once JPEG-compressed re-encodes smaller), which no change of container can remove.
    audit_max_auc: float = Field(
        default=0.75, ge=0.5, le=1.0,
        description="Registration is refused (unless force=true) when format, size, dimensions and metadata alone "
                    "predict a benchmark's labels above this cross-validated AUC (serve/shortcut_audit.py).")
    normalise_side: int = Field(default=256, ge=32, le=4096,
                                description="normalise=jpeg: side of the square every benchmark image becomes.")
    normalise_quality: int = Field(default=90, ge=50, le=100, description="normalise=jpeg: JPEG quality.")

    # Questionnaire (HPBench)
    survey_pool: Path | None = Field(
        default=None, description="Manifest CSV (path,label,generator[,category]) or a folder with manifest.csv.")
    survey_scoring: Literal["background", "startup"] = Field(
        default="background",
        description="When the detector scores the pool: behind the start-up (the service answers at once) or "
                    "before it answers anything.")
    survey_length: int = Field(default=20, gt=1, description="Images per participant, half real and half AI.")
    # One square size for every image, whatever its label: a size or an aspect ratio must say nothing. 256 px is
    # the short side of most photos in the development pool, so almost none is upscaled (soft) while AI images
    # are downscaled (sharp); benchmarks/survey_cues.py measures what a larger side gives away.
    survey_side: int = Field(default=256, ge=64, le=2048,
                             description="Side of the square every questionnaire image is shown at (PNG, no metadata).")

    def admin_secret(self) -> str | None:
        """The admin token in clear, or ``None`` when admin actions are disabled."""
        return None if self.admin_token is None else self.admin_token.get_secret_value() or None
