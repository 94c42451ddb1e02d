"""Quality runs kept in the warehouse: storing a run, its scores, and reading their trend.

Writes and reads ``quality_run``, ``quality_result`` and ``quality_score``
(:mod:`warehouse.quality`). Nothing here imports Great Expectations, so the console and the
scorecard command read the history without paying for it. How scores are defined is told in
:mod:`quality.scorecard`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, func, insert, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from quality.report import QualityReport
from quality.scorecard import Scope, compute_scores
from schemas.catalogue import Catalogue, default_catalogue
from warehouse.db import WarehouseError, create_warehouse_engine
from warehouse.quality import QualityResult, QualityRun, QualityScore

QUALITY_TABLES = (QualityRun.__table__, QualityResult.__table__, QualityScore.__table__)


def open_history(
    warehouse_url: str, *, setting: str = "LGSP_WAREHOUSE_URL", require: bool = True
) -> Engine:
    """An engine on the warehouse holding the history.

    The history tables come with the warehouse schema (``lgsp warehouse upgrade``, run by the
    hub at start-up); this never creates them, so the migration history stays whole.

    Args:
        warehouse_url: SQLAlchemy URL of the warehouse.
        setting: The setting that named it, for errors.
        require: Refuse a warehouse without the history tables; readers, which find such a
            history empty, pass ``False``.

    Raises:
        WarehouseError: The URL is unusable, the database does not answer, it is a SQLite
            file that does not exist (connecting would create an empty warehouse), or it
            lacks the history tables when they are required.
    """
    try:
        url = make_url(warehouse_url)
    except ArgumentError as exc:
        raise WarehouseError(f"{setting}={warehouse_url!r} is not a database URL: {exc}") from exc
    database = url.database
    if (
        url.get_backend_name() == "sqlite"
        and database not in (None, "", ":memory:")
        and not Path(database).is_file()
    ):
        raise WarehouseError(
            f"{setting}: the warehouse {database} does not exist; load it first "
            "(lgsp demo, lgsp worker) or name another with LGSP_WAREHOUSE_URL or --workdir"
        )
    engine = create_warehouse_engine(warehouse_url, setting=setting)
    if require:
        present = set(inspect(engine).get_table_names())
        if missing := [table.name for table in QUALITY_TABLES if table.name not in present]:
            engine.dispose()
            shown = url.render_as_string(hide_password=True)
            raise WarehouseError(
                f"{setting}: the warehouse at {shown} has no {', '.join(missing)} table; "
                "bring it to the newest schema with: lgsp warehouse upgrade"
            )
    return engine


def _has_history(engine: Engine) -> bool:
    # A warehouse not yet brought to the newest schema has no history, so an empty one.
    return inspect(engine).has_table(QualityScore.__tablename__)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _utc(moment: datetime) -> datetime:
    # SQLite hands back the stored UTC wall time without its zone.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def store_quality_run(
    engine: Engine, report: QualityReport, *, catalogue: Catalogue | None = None
) -> int:
    """Store a run, every expectation's result and every scope's score, in one transaction.

    Args:
        engine: The warehouse (see :func:`open_history`).
        report: The run's outcome (:func:`quality.suites.run_quality`).
        catalogue: Owners and sources of the datasets, for the scores; the project's by default.

    Returns:
        The new run's id.
    """
    catalogue = catalogue or default_catalogue()
    started = report.started_at or datetime.now(UTC)
    with engine.begin() as connection:
        run_id = int(
            connection.execute(
                insert(QualityRun)
                .values(
                    started_at=started,
                    finished_at=report.finished_at,
                    datasets=_json(list(report.datasets)),
                    success=report.success,
                    critical_failed=report.critical_failed,
                    docs_path=str(report.report),
                )
                .returning(QualityRun.id)
            ).scalar_one()
        )
        results = [
            {
                "run_id": run_id,
                "dataset": dataset_id,
                "expectation": outcome.expectation,
                "expectation_type": outcome.type,
                "gx_type": outcome.gx_type,
                "column": outcome.column,
                "critical": outcome.critical,
                "weight": outcome.weight,
                "success": outcome.success,
                "observed_value": (
                    None if outcome.observed_value is None else _json(outcome.observed_value)
                ),
                "element_count": outcome.element_count,
                "unexpected_count": outcome.unexpected_count,
                "unexpected_percent": outcome.unexpected_percent,
                "failing_keys": None if outcome.success else _json(outcome.failing_keys),
                "error": outcome.error,
            }
            for dataset_id, quality in report.datasets.items()
            for outcome in quality.results
        ]
        if results:
            connection.execute(insert(QualityResult), results)
        scores = [
            {
                "run_id": run_id,
                "scope": score.scope,
                "scope_value": score.scope_value,
                "dataset": score.dataset,
                "score": score.score,
                "met": score.met,
                "total": score.total,
            }
            for score in compute_scores(report, catalogue)
        ]
        if scores:
            connection.execute(insert(QualityScore), scores)
    return run_id


def previous_row_counts(engine: Engine, dataset_ids: Iterable[str]) -> dict[str, int]:
    """Each dataset's row count at its last stored run that counted it (a ``volume`` result).

    Datasets never counted are missing: their next ``volume`` check is a first run.
    """
    wanted = list(dataset_ids)
    if not wanted:
        return {}
    volume = QualityResult.expectation_type == "volume"
    counted = QualityResult.observed_value.is_not(None)
    latest = (
        select(QualityResult.dataset, func.max(QualityResult.run_id).label("run_id"))
        .where(volume, counted, QualityResult.dataset.in_(wanted))
        .group_by(QualityResult.dataset)
        .subquery()
    )
    query = (
        select(QualityResult.dataset, QualityResult.observed_value)
        .join(
            latest,
            (latest.c.dataset == QualityResult.dataset) & (latest.c.run_id == QualityResult.run_id),
        )
        .where(volume, counted)
    )
    counts: dict[str, int] = {}
    with engine.connect() as connection:
        for dataset_id, observed in connection.execute(query):
            value = json.loads(observed)
            if isinstance(value, int) and not isinstance(value, bool):
                counts[dataset_id] = value
    return counts


class ScorePoint(BaseModel):
    """A scope's score in one run."""

    model_config = ConfigDict(frozen=True)

    run_id: int
    started_at: datetime
    score: float
    met: float
    total: float


class ScoreTrend(BaseModel):
    """A scope's latest score and how it moved since the run before that scored it.

    Attributes:
        previous: The score of the previous run that scored this scope; ``None`` if none did.
        change: ``score - previous``; ``None`` on a scope's first run.
    """

    model_config = ConfigDict(frozen=True)

    scope: Scope
    scope_value: str
    run_id: int
    started_at: datetime
    score: float
    met: float
    total: float
    previous: float | None = None
    change: float | None = None


def score_history(
    engine: Engine, scope: Scope, scope_value: str, *, limit: int | None = None
) -> list[ScorePoint]:
    """A scope's score in every stored run that scored it, oldest first.

    Args:
        engine: The warehouse.
        scope: ``dataset``, ``source_system`` or ``agency``.
        scope_value: The dataset id, source system or agency e-ID.
        limit: Only the latest this many runs.
    """
    query = (
        select(
            QualityScore.run_id,
            QualityRun.started_at,
            QualityScore.score,
            QualityScore.met,
            QualityScore.total,
        )
        .join(QualityRun, QualityRun.id == QualityScore.run_id)
        .where(QualityScore.scope == scope, QualityScore.scope_value == scope_value)
        .order_by(QualityScore.run_id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    if not _has_history(engine):
        return []
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return [
        ScorePoint(
            run_id=row.run_id,
            started_at=_utc(row.started_at),
            score=row.score,
            met=row.met,
            total=row.total,
        )
        for row in reversed(rows)
    ]


def latest_scores(engine: Engine, scope: Scope | None = None) -> list[ScoreTrend]:
    """Every scope's latest score with its change since the previous run that scored it.

    Args:
        engine: The warehouse.
        scope: Only this scope; every scope when ``None``.

    Returns:
        One trend per scope value, ordered by scope then value; empty before the first run.
    """
    recency = (
        func.row_number()
        .over(
            partition_by=(QualityScore.scope, QualityScore.scope_value),
            order_by=QualityScore.run_id.desc(),
        )
        .label("recency")
    )
    ranked = select(
        QualityScore.scope,
        QualityScore.scope_value,
        QualityScore.run_id,
        QualityScore.score,
        QualityScore.met,
        QualityScore.total,
        recency,
    )
    if scope is not None:
        ranked = ranked.where(QualityScore.scope == scope)
    latest_two = ranked.subquery()
    query = (
        select(latest_two, QualityRun.started_at)
        .join(QualityRun, QualityRun.id == latest_two.c.run_id)
        .where(latest_two.c.recency <= 2)
        .order_by(latest_two.c.scope, latest_two.c.scope_value, latest_two.c.recency)
    )
    trends: dict[tuple[str, str], ScoreTrend] = {}
    if not _has_history(engine):
        return []
    with engine.connect() as connection:
        for row in connection.execute(query):
            key = (row.scope, row.scope_value)
            if row.recency == 1:
                trends[key] = ScoreTrend(
                    scope=row.scope,
                    scope_value=row.scope_value,
                    run_id=row.run_id,
                    started_at=_utc(row.started_at),
                    score=row.score,
                    met=row.met,
                    total=row.total,
                )
            elif key in trends:
                latest = trends[key]
                trends[key] = latest.model_copy(
                    update={"previous": row.score, "change": latest.score - row.score}
                )
    return list(trends.values())
