"""What the console shows of quality: the catalogue with scores, a dataset's results, trends.

Everything is read from the quality history tables (``quality_run``, ``quality_result``,
``quality_score``) that ``lgsp quality run`` writes; the console never runs a suite itself.
Scores are shares from 0 to 1 (weight of expectations met over weight evaluated).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.orm import Session

from quality.rules import VN_TZ
from schemas.catalogue import Catalogue, Dataset, SharingLevel, Titles
from warehouse.quality import QualityResult, QualityRun, QualityScore

Trend = Literal["up", "down", "flat"]
Scope = Literal["dataset", "source_system", "agency"]

# Scores closer than this count as unchanged: float sums of weights are not exact.
_SAME_SCORE = 1e-9

_QUALITY_TABLES = (
    QualityRun.__tablename__,
    QualityResult.__tablename__,
    QualityScore.__tablename__,
)


class ScorePoint(BaseModel):
    """A score in one run."""

    run_id: int
    started_at: datetime
    score: float
    met: float
    total: float


class ScoreSeries(BaseModel):
    """A scope's latest score, its change since the run before, and its recent history."""

    latest: ScorePoint | None
    trend: Trend | None
    history: list[ScorePoint]


class DatasetSummary(BaseModel):
    """A catalogue entry as the console lists it."""

    id: str
    title: Titles
    description: Titles | None
    owner_agency: str
    source_system: str
    sharing_level: SharingLevel
    update_frequency: str
    legal_basis: str | None
    key: list[str]
    personal_data: list[str]
    quality: ScoreSeries


class ScopeScore(BaseModel):
    """A source system's or an owning agency's score series."""

    scope: Scope
    value: str
    quality: ScoreSeries


class Scorecard(BaseModel):
    """Scores across datasets: per source system and per owning agency."""

    source_systems: list[ScopeScore]
    agencies: list[ScopeScore]


class RunInfo(BaseModel):
    """A quality run."""

    id: int
    started_at: datetime
    finished_at: datetime | None
    success: bool
    critical_failed: int


class ExpectationResultView(BaseModel):
    """One catalogue expectation's outcome in a run.

    ``observed_value`` and ``failing_keys`` are as the run stored them (JSON); a failing key
    is a value for a one-field key and a list or object for a composite one.
    """

    expectation: str
    type: str
    gx_type: str | None
    column: str | None
    critical: bool
    weight: float
    success: bool
    observed_value: Any
    element_count: int | None
    unexpected_count: int | None
    unexpected_percent: float | None
    failing_keys: list[Any]
    error: str | None


class DatasetQuality(BaseModel):
    """A dataset's page: its entry, its latest run's results (failing first), its history."""

    dataset: DatasetSummary
    run: RunInfo | None
    failing: list[ExpectationResultView]
    passing: list[ExpectationResultView]


def local_time(value: datetime) -> datetime:
    """A stored time in the province's zone (ICT); SQLite returns UTC without its zone."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(VN_TZ)


def has_quality_history(engine: Engine) -> bool:
    """Whether a quality run could have been stored: a new work directory has no tables."""
    tables = set(inspect(engine).get_table_names())
    return all(name in tables for name in _QUALITY_TABLES)


def _series(points: list[ScorePoint]) -> ScoreSeries:
    if not points:
        return ScoreSeries(latest=None, trend=None, history=[])
    latest = points[-1]
    trend: Trend | None = None
    if len(points) > 1:
        change = latest.score - points[-2].score
        trend = "flat" if abs(change) < _SAME_SCORE else "up" if change > 0 else "down"
    return ScoreSeries(latest=latest, trend=trend, history=points)


def score_history(
    engine: Engine, scope: Scope, values: Sequence[str] | None = None, *, runs: int = 30
) -> dict[str, list[ScorePoint]]:
    """The last ``runs`` scores of every value of a scope (or of those named), oldest first."""
    if not has_quality_history(engine) or (values is not None and not values):
        return {}
    rank = (
        func.row_number()
        .over(
            partition_by=QualityScore.scope_value,
            order_by=(QualityRun.started_at.desc(), QualityRun.id.desc()),
        )
        .label("rank")
    )
    ranked = (
        select(
            QualityScore.scope_value,
            QualityScore.run_id,
            QualityScore.score,
            QualityScore.met,
            QualityScore.total,
            QualityRun.started_at,
            rank,
        )
        .join(QualityRun, QualityRun.id == QualityScore.run_id)
        .where(QualityScore.scope == scope)
    )
    if values is not None:
        ranked = ranked.where(QualityScore.scope_value.in_(list(values)))
    recent = ranked.subquery()
    statement = (
        select(recent)
        .where(recent.c.rank <= runs)
        .order_by(recent.c.scope_value, recent.c.started_at, recent.c.run_id)
    )
    history: dict[str, list[ScorePoint]] = {}
    with engine.connect() as connection:
        for row in connection.execute(statement):
            history.setdefault(row.scope_value, []).append(
                ScorePoint(
                    run_id=row.run_id,
                    started_at=local_time(row.started_at),
                    score=row.score,
                    met=row.met,
                    total=row.total,
                )
            )
    return history


def _summary(dataset: Dataset, points: list[ScorePoint]) -> DatasetSummary:
    return DatasetSummary(
        id=dataset.id,
        title=dataset.title,
        description=dataset.description,
        owner_agency=dataset.owner_agency,
        source_system=dataset.source_system,
        sharing_level=dataset.sharing_level,
        update_frequency=dataset.update_frequency,
        legal_basis=dataset.legal_basis,
        key=list(dataset.key),
        personal_data=list(dataset.personal_data),
        quality=_series(points),
    )


def catalogue_summaries(engine: Engine, catalogue: Catalogue) -> list[DatasetSummary]:
    """Every catalogue dataset, in catalogue order, with its latest score and trend."""
    history = score_history(engine, "dataset", catalogue.dataset_ids)
    return [_summary(dataset, history.get(dataset.id, [])) for dataset in catalogue.datasets]


def scorecard(engine: Engine, catalogue: Catalogue) -> Scorecard:
    """Every source system and owning agency of the catalogue, with its scores."""

    def scopes(scope: Scope, values: list[str]) -> list[ScopeScore]:
        history = score_history(engine, scope, values)
        return [
            ScopeScore(scope=scope, value=value, quality=_series(history.get(value, [])))
            for value in values
        ]

    return Scorecard(
        source_systems=scopes(
            "source_system", sorted({d.source_system for d in catalogue.datasets})
        ),
        agencies=scopes("agency", sorted({d.owner_agency for d in catalogue.datasets})),
    )


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        # A value a run could not store as JSON is still worth showing as it is.
        return text


def _result_view(row: QualityResult) -> ExpectationResultView:
    keys = _json(row.failing_keys)
    return ExpectationResultView(
        expectation=row.expectation,
        type=row.expectation_type,
        gx_type=row.gx_type,
        column=row.column,
        critical=row.critical,
        weight=row.weight,
        success=row.success,
        observed_value=_json(row.observed_value),
        element_count=row.element_count,
        unexpected_count=row.unexpected_count,
        unexpected_percent=row.unexpected_percent,
        failing_keys=keys if isinstance(keys, list) else [] if keys is None else [keys],
        error=row.error,
    )


def dataset_quality(
    engine: Engine, catalogue: Catalogue, dataset_id: str, *, runs: int = 60
) -> DatasetQuality:
    """A dataset's latest run in detail, and its score over the last ``runs`` runs.

    Raises:
        CatalogueError: The catalogue has no such dataset.
    """
    dataset = catalogue.dataset(dataset_id)
    points = score_history(engine, "dataset", [dataset.id], runs=runs).get(dataset.id, [])
    summary = _summary(dataset, points)
    if not has_quality_history(engine):
        return DatasetQuality(dataset=summary, run=None, failing=[], passing=[])
    with Session(engine) as session:
        run = session.scalars(
            select(QualityRun)
            .where(
                select(QualityResult.id)
                .where(QualityResult.run_id == QualityRun.id, QualityResult.dataset == dataset.id)
                .exists()
            )
            .order_by(QualityRun.started_at.desc(), QualityRun.id.desc())
            .limit(1)
        ).first()
        if run is None:
            return DatasetQuality(dataset=summary, run=None, failing=[], passing=[])
        results = [
            _result_view(row)
            for row in session.scalars(
                select(QualityResult)
                .where(QualityResult.run_id == run.id, QualityResult.dataset == dataset.id)
                .order_by(
                    QualityResult.critical.desc(),
                    QualityResult.weight.desc(),
                    QualityResult.expectation,
                )
            )
        ]
        info = RunInfo(
            id=run.id,
            started_at=local_time(run.started_at),
            finished_at=local_time(run.finished_at) if run.finished_at is not None else None,
            success=run.success,
            critical_failed=run.critical_failed,
        )
    return DatasetQuality(
        dataset=summary,
        run=info,
        failing=[result for result in results if not result.success],
        passing=[result for result in results if result.success],
    )
