"""Quality history: every run of the catalogue's suites, kept in the warehouse.

Stewards and schedulers read these tables (the console, ``lgsp quality run``'s exit status,
scorecards with their trend) without Python or Great Expectations.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from warehouse.models import Base


class QualityRun(Base):
    """One run of the suites over some or all datasets."""

    __tablename__ = "quality_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    datasets: Mapped[str] = mapped_column(Text, doc="JSON list of the dataset ids checked")
    success: Mapped[bool] = mapped_column(Boolean)
    critical_failed: Mapped[int] = mapped_column(Integer, default=0)
    docs_path: Mapped[str | None] = mapped_column(Text, doc="GX Data Docs index page")


class QualityResult(Base):
    """The outcome of one catalogue expectation in one run."""

    __tablename__ = "quality_result"
    __table_args__ = (Index("ix_quality_result_dataset_run", "dataset", "run_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("quality_run.id", ondelete="CASCADE"))
    dataset: Mapped[str] = mapped_column(String(64))
    # Stable across runs, so a result can be followed over time: "<type>:<column or ->".
    expectation: Mapped[str] = mapped_column(String(255))
    expectation_type: Mapped[str] = mapped_column(String(64))
    gx_type: Mapped[str | None] = mapped_column(String(128))
    column: Mapped[str | None] = mapped_column(String(255))
    critical: Mapped[bool] = mapped_column(Boolean, default=False)
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    success: Mapped[bool] = mapped_column(Boolean)
    observed_value: Mapped[str | None] = mapped_column(Text, doc="JSON")
    element_count: Mapped[int | None] = mapped_column(Integer)
    unexpected_count: Mapped[int | None] = mapped_column(Integer)
    unexpected_percent: Mapped[float | None] = mapped_column(Float)
    failing_keys: Mapped[str | None] = mapped_column(
        Text, doc="JSON list: a sample of the keys of failing rows"
    )
    error: Mapped[str | None] = mapped_column(Text)


class QualityScore(Base):
    """A weighted score (share of expectations met) for one scope in one run.

    ``scope`` is ``dataset``, ``source_system`` or ``agency``; ``scope_value`` is the dataset
    id, the source system or the owning agency's e-ID.
    """

    __tablename__ = "quality_score"
    __table_args__ = (Index("ix_quality_score_scope", "scope", "scope_value", "run_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("quality_run.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(16))
    scope_value: Mapped[str] = mapped_column(String(128))
    dataset: Mapped[str | None] = mapped_column(String(64))
    score: Mapped[float] = mapped_column(Float)
    met: Mapped[float] = mapped_column(Float, doc="weight of expectations met")
    total: Mapped[float] = mapped_column(Float, doc="weight of expectations evaluated")
