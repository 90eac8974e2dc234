"""Database tables (SQLAlchemy 2, typed). The Alembic migrations in ``migrations/`` create exactly these.

Columns named ``label``, ``subset`` and ``slice`` hold the hidden ground truth: only ``scoring`` and the survey's
post-answer code read them, and no response model or template has a field they could be copied into.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    """ISO 8601 with the UTC offset: SQLite hands back naive datetimes (stored in UTC), PostgreSQL aware ones."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


class Base(DeclarativeBase):
    """Declarative base; ``Base.metadata`` is what the migrations are checked against."""


class Benchmark(Base):
    __tablename__ = "benchmarks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    image_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Shortcut audit at registration (shortcut_audit.registration_audit): aggregate AUCs and per-class counts for
    # the admin, never served publicly. None for benchmarks registered before audits existed.
    audit: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class BenchmarkImage(Base):
    __tablename__ = "benchmark_images"
    __table_args__ = (UniqueConstraint("benchmark_id", "public_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    benchmark_id: Mapped[int] = mapped_column(ForeignKey("benchmarks.id", ondelete="CASCADE"), index=True)
    public_id: Mapped[str] = mapped_column(String(32))  # opaque, in random order: says nothing about the label
    file_name: Mapped[str] = mapped_column(String(64))
    media_type: Mapped[str] = mapped_column(String(64))
    label: Mapped[int] = mapped_column(Integer)  # hidden: 0 real, 1 AI
    subset: Mapped[str] = mapped_column(String(100))  # hidden per image; reported only as an aggregate
    slice: Mapped[str | None] = mapped_column(String(100), nullable=True)  # robustness slice (jpeg-75, ...)


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)  # the token itself is shown once, never stored
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Submission(Base):
    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    benchmark_id: Mapped[int] = mapped_column(ForeignKey("benchmarks.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), nullable=True, index=True)
    name: Mapped[str] = mapped_column(String(200))  # team name, or the detector of an imported report
    method: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(16))  # "team" (scored here) or "report" (imported eval report)
    threshold: Mapped[float] = mapped_column(Float)
    auc: Mapped[float | None] = mapped_column(Float, nullable=True)  # ranking key, already rounded
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)  # rounded aggregates only
    file_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class SurveyItem(Base):
    __tablename__ = "survey_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(500), unique=True)  # manifest path: stable across restarts
    path: Mapped[str] = mapped_column(Text)
    label: Mapped[int] = mapped_column(Integer)  # hidden until answered: 0 real, 1 AI
    category: Mapped[str] = mapped_column(String(50))
    generator: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    detector_model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    detector_probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)  # of the file; set by the pool sync
    # In the detector's training record: kept out of its comparison with people. NULL: the checkpoint has no record.
    detector_trained: Mapped[bool | None] = mapped_column(Boolean, nullable=True)


class SurveySession(Base):
    __tablename__ = "survey_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    item_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    correct: Mapped[int | None] = mapped_column(Integer, nullable=True)


class SurveySessionItem(Base):
    __tablename__ = "survey_session_items"

    session_id: Mapped[int] = mapped_column(ForeignKey("survey_sessions.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("survey_items.id"))


class SurveyAnswer(Base):
    __tablename__ = "survey_answers"
    # The database itself refuses a second answer to one position, even from two racing requests.
    __table_args__ = (UniqueConstraint("session_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("survey_sessions.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    item_id: Mapped[int] = mapped_column(ForeignKey("survey_items.id"), index=True)
    answer: Mapped[int] = mapped_column(Integer)  # 0 real, 1 AI
    confidence: Mapped[int] = mapped_column(Integer)  # 1 guessing .. 5 certain
    correct: Mapped[bool] = mapped_column(Boolean)
    response_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    answered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
