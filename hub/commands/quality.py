"""``lgsp quality``: run the catalogue's quality suites, store the run, show scores and trends."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from pydantic import BaseModel, ConfigDict
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from hub.commands.common import WorkdirOption, err, out, settings_for

if TYPE_CHECKING:
    from hub.settings import Settings
    from quality.history import ScoreTrend
    from quality.report import ExpectationOutcome, QualityReport
    from schemas.catalogue import Catalogue

quality_app = typer.Typer(
    help="Quality suites from the catalogue: runs, scores and their trend.", no_args_is_help=True
)

_SHOWN_KEYS = 3


class FailedExpectation(BaseModel):
    """A failed expectation as ``lgsp quality run --json`` prints it."""

    model_config = ConfigDict(frozen=True)

    expectation: str
    critical: bool
    observed_value: Any = None
    unexpected_count: int | None = None
    failing_keys: list[dict[str, Any]] = []
    error: str | None = None


class DatasetSummary(BaseModel):
    """One dataset's line of a run summary."""

    model_config = ConfigDict(frozen=True)

    score: float | None
    met: float
    total: float
    change: float | None
    row_count: int | None
    critical_failed: int
    failed: list[FailedExpectation]


class RunSummary(BaseModel):
    """What ``lgsp quality run --json`` prints: the stored run and each dataset's outcome."""

    model_config = ConfigDict(frozen=True)

    run_id: int
    success: bool
    critical_failed: int
    started_at: datetime | None
    finished_at: datetime | None
    report: Path
    datasets: dict[str, DatasetSummary]


def _percent(score: float | None) -> str:
    return "-" if score is None else f"{score * 100:.1f}%"


def _weights(met: float, total: float) -> str:
    return f"{met:g}/{total:g}"


def trend_arrow(change: float | None) -> Text:
    """▲ or ▼ with the change in percentage points, = when unchanged, "new" on a first run."""
    if change is None:
        return Text("new", style="cyan")
    points = change * 100
    if abs(points) < 0.05:
        return Text("=", style="dim")
    if points > 0:
        return Text(f"▲ +{points:.1f}", style="green")
    return Text(f"▼ {points:.1f}", style="red")


def _key_text(key: dict[str, Any]) -> str:
    return " / ".join("∅" if value is None else str(value) for value in key.values())


def _observed(outcome: ExpectationOutcome) -> str:
    if outcome.error is not None:
        return f"error: {outcome.error}"
    if outcome.observed_value is None:
        return "-"
    if isinstance(outcome.observed_value, str):
        return outcome.observed_value
    return json.dumps(outcome.observed_value, ensure_ascii=False)


def _summary(run_id: int, report: QualityReport, trends: dict[str, ScoreTrend]) -> RunSummary:
    datasets = {}
    for dataset_id, quality in report.datasets.items():
        trend = trends.get(dataset_id)
        datasets[dataset_id] = DatasetSummary(
            score=trend.score if trend is not None else None,
            met=quality.weight_met,
            total=quality.weight_total,
            change=trend.change if trend is not None else None,
            row_count=quality.row_count,
            critical_failed=quality.critical_failed,
            failed=[
                FailedExpectation(
                    expectation=outcome.expectation,
                    critical=outcome.critical,
                    observed_value=outcome.observed_value,
                    unexpected_count=outcome.unexpected_count,
                    failing_keys=outcome.failing_keys,
                    error=outcome.error,
                )
                for outcome in quality.results
                if not outcome.success
            ],
        )
    return RunSummary(
        run_id=run_id,
        success=report.success,
        critical_failed=report.critical_failed,
        started_at=report.started_at,
        finished_at=report.finished_at,
        report=report.report,
        datasets=datasets,
    )


def _print_run(summary: RunSummary, report: QualityReport) -> None:
    table = Table(title=f"Quality run {summary.run_id}", title_justify="left")
    table.add_column("dataset", no_wrap=True)
    table.add_column("score", justify="right")
    table.add_column("met/total", justify="right")
    table.add_column("critical failures", justify="right")
    table.add_column("trend", no_wrap=True)
    for dataset_id, line in summary.datasets.items():
        critical = Text(str(line.critical_failed), style="bold red" if line.critical_failed else "")
        table.add_row(
            Text(dataset_id),
            Text(_percent(line.score)),
            Text(_weights(line.met, line.total)),
            critical,
            trend_arrow(line.change),
        )
    out.print(table)
    failed = [
        (dataset_id, outcome)
        for dataset_id, quality in report.datasets.items()
        for outcome in quality.results
        if not outcome.success
    ]
    if failed:
        details = Table(title="Failed expectations", title_justify="left")
        for column in ("dataset", "expectation", "observed", "failing rows", "sample keys"):
            # Names and keys have no spaces to wrap at; folding keeps them whole and readable.
            details.add_column(column, overflow="fold")
        for dataset_id, outcome in failed:
            name = Text(outcome.expectation)
            if outcome.critical:
                name.append(" (critical)", style="bold red")
            keys = [_key_text(key) for key in outcome.failing_keys[:_SHOWN_KEYS]]
            if len(outcome.failing_keys) > _SHOWN_KEYS:
                keys.append("…")
            details.add_row(
                Text(dataset_id),
                name,
                Text(_observed(outcome)),
                Text("-" if outcome.unexpected_count is None else str(outcome.unexpected_count)),
                Text("\n".join(keys)),
            )
        out.print(details)
    out.print(Text(f"Data Docs: {summary.report}"), soft_wrap=True)
    verdict = (
        f"{summary.critical_failed} critical expectation(s) failed"
        if summary.critical_failed
        else "no critical expectation failed"
    )
    out.print(f"stored as run {summary.run_id}; {verdict}")


def _warehouse(settings: Settings) -> tuple[str, str]:
    """The warehouse URL, and the setting that chose it, for one-line errors."""
    if settings.warehouse_url is not None:
        return settings.warehouse_url, "LGSP_WAREHOUSE_URL"
    return settings.embedded_warehouse_url, "--workdir (LGSP_WORKDIR)"


def _dataset_ids(catalogue: Catalogue, datasets: list[str] | None) -> list[str] | None:
    # Named before anything connects, so a typo is one line and touches no database.
    return None if not datasets else [catalogue.dataset(d).id for d in dict.fromkeys(datasets)]


@quality_app.command("run")
def quality_run(
    dataset: Annotated[
        list[str] | None,
        typer.Option("--dataset", help="Only this dataset (repeatable), e.g. citizen.person"),
    ] = None,
    catalogue_file: Annotated[
        Path | None,
        typer.Option("--catalogue", help="Build the suites from this catalogue, not the hub's"),
    ] = None,
    workdir: WorkdirOption = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the stored run as one JSON object")
    ] = False,
) -> None:
    """Run the catalogue's quality suites on the warehouse and store the run.

    The warehouse is LGSP_WAREHOUSE_URL, else the work directory's SQLite file. Data Docs are
    built under the work directory's gx/ folder.

    Exits 1 when a critical expectation failed, 0 otherwise.
    """
    from quality.history import latest_scores, open_history, previous_row_counts, store_quality_run
    from schemas.catalogue import check_expectations, default_catalogue, load_catalogue

    settings = settings_for(workdir)
    catalogue = load_catalogue(catalogue_file) if catalogue_file else default_catalogue()
    ids = _dataset_ids(catalogue, dataset)
    # A bad expectation is reported at once, before Great Expectations loads or a database
    # is touched.
    for entry in catalogue.datasets if ids is None else map(catalogue.dataset, ids):
        check_expectations(entry, catalogue)
    warehouse_url, setting = _warehouse(settings)
    engine = open_history(warehouse_url, setting=setting)
    try:
        previous = previous_row_counts(engine, ids or catalogue.dataset_ids)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("loading Great Expectations", total=len(ids or catalogue.datasets))

            def progress(step: str, done: int, total: int) -> None:
                name = "building Data Docs" if done == total else f"checking {step}"
                bar.update(task, description=name, completed=done, total=total)

            # Great Expectations takes seconds to import; the bar shows it is happening.
            from quality.suites import run_quality

            report = run_quality(
                warehouse_url,
                settings.workdir.resolve(),
                ids,
                catalogue=catalogue,
                previous_row_counts=previous,
                progress=progress,
            )
        run_id = store_quality_run(engine, report, catalogue=catalogue)
        trends = {trend.scope_value: trend for trend in latest_scores(engine, "dataset")}
    finally:
        engine.dispose()
    summary = _summary(run_id, report, trends)
    if json_output:
        sys.stdout.write(summary.model_dump_json() + "\n")
    else:
        _print_run(summary, report)
    if summary.critical_failed:
        raise typer.Exit(1)


_SCOPE_TITLES = {
    "dataset": "Datasets",
    "source_system": "Source systems",
    "agency": "Owning agencies",
}


@quality_app.command("scorecard")
def quality_scorecard(
    scope: Annotated[
        Literal["dataset", "source_system", "agency"] | None,
        typer.Option(help="Only this scope"),
    ] = None,
    workdir: WorkdirOption = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="One JSON object per scope value")
    ] = False,
) -> None:
    """The latest score per dataset, source system and owning agency, with its trend."""
    from quality.history import latest_scores, open_history
    from schemas.catalogue import default_catalogue

    settings = settings_for(workdir)
    catalogue = default_catalogue()
    warehouse_url, setting = _warehouse(settings)
    engine = open_history(warehouse_url, setting=setting, require=False)
    try:
        trends = latest_scores(engine, scope)
    finally:
        engine.dispose()
    if json_output:
        for trend in trends:
            sys.stdout.write(trend.model_dump_json() + "\n")
        return
    if not trends:
        out.print("no quality run is stored yet; run: lgsp quality run")
        return
    titles = {d.id: d.title.vi for d in catalogue.datasets}
    owned: dict[str, list[str]] = {}
    for entry in catalogue.datasets:
        owned.setdefault(entry.owner_agency, []).append(entry.id)
    for name, title in _SCOPE_TITLES.items():
        rows = [trend for trend in trends if trend.scope == name]
        if not rows:
            continue
        table = Table(title=title, title_justify="left")
        table.add_column(name.replace("_", " "), no_wrap=True)
        table.add_column("")
        table.add_column("score", justify="right")
        table.add_column("met/total", justify="right")
        table.add_column("trend", no_wrap=True)
        table.add_column("run", justify="right")
        for trend in rows:
            about = (
                titles.get(trend.scope_value, "")
                if name == "dataset"
                else ", ".join(owned.get(trend.scope_value, []))
                if name == "agency"
                else ""
            )
            table.add_row(
                Text(trend.scope_value),
                Text(about, style="dim"),
                Text(_percent(trend.score)),
                Text(_weights(trend.met, trend.total)),
                trend_arrow(trend.change),
                Text(f"{trend.run_id} ({trend.started_at:%Y-%m-%d %H:%M} UTC)"),
            )
        out.print(table)
