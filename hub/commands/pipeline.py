"""Running the hub: the demo, the stream worker, simulators and offline validation."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hub.commands.common import (
    CommandError,
    MetricsPortOption,
    WorkdirOption,
    err,
    out,
    settings_for,
)


def demo(
    records: Annotated[int, typer.Option(min=1, help="Source records to simulate")] = 10_000,
    defect_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of records spoiled on purpose")
    ] = 0.05,
    seed: Annotated[int, typer.Option(help="Seed of the simulator")] = 42,
    workdir: WorkdirOption = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object as the last line")
    ] = False,
) -> None:
    """Simulate the four source systems and run the whole hub on them, end to end."""
    from hub.demo import DemoProgress, run_demo
    from schemas.catalogue import default_catalogue

    settings = settings_for(workdir)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        tasks: dict[str, int] = {}
        current: list[int] = []

        def phase(name: str, total: int | None) -> None:
            if current:
                bar.update(current[-1], completed=bar.tasks[current[-1]].total or 1)
            current.append(bar.add_task(name, total=total))
            tasks[name] = current[-1]

        def advance(done: int) -> None:
            if current:
                bar.update(current[-1], completed=done)

        result = run_demo(
            settings,
            default_catalogue(),
            records=records,
            defect_rate=defect_rate,
            seed=seed,
            progress=DemoProgress(phase, advance),
        )

    table = Table(title="LGSP Hub demo", title_justify="left")
    table.add_column("dataset", no_wrap=True)
    for column in ("source", "warehouse", "quarantine", "defects", "reconciled"):
        table.add_column(column, justify="right")
    for dataset_id, counts in result.datasets.items():
        table.add_row(
            dataset_id,
            str(counts.source),
            str(counts.warehouse),
            str(counts.quarantine),
            str(counts.defects_injected),
            "[green]yes[/]" if counts.reconciled else "[red]no[/]",
        )
    summary = out if not json_output else err
    summary.print(table)
    for dataset_id, quality in result.quality.items():
        verdict = "[green]passed[/]" if quality.success else "[red]failed[/]"
        summary.print(
            f"quality {dataset_id}: {verdict} ({quality.evaluated - quality.failed} of "
            f"{quality.evaluated} expectations met)"
        )
    summary.print(f"report: {result.report}")
    summary.print(f"elapsed: {result.elapsed_s:.1f}s")
    if json_output:
        sys.stdout.write(result.model_dump_json() + "\n")
    if not all(counts.reconciled for counts in result.datasets.values()):
        raise typer.Exit(1)


def worker(
    workdir: WorkdirOption = None,
    dataset: Annotated[
        list[str] | None, typer.Option("--dataset", help="Only these datasets (repeatable)")
    ] = None,
    loglevel: Annotated[str, typer.Option(help="crit, error, warn, info or debug")] = "warn",
    metrics_port: MetricsPortOption = None,
) -> None:
    """Run the stream worker (validate and quarantine agents per dataset) until stopped."""
    from contextlib import ExitStack

    from hub.monitoring import HubMetrics, MonitoringServer, broker_answers
    from hub.runtime import Runtime
    from schemas.catalogue import default_catalogue
    from streams.app import WorkerConfig, run_worker
    from warehouse.db import create_warehouse_engine, warehouse_answers

    settings = settings_for(workdir)
    catalogue = default_catalogue()
    for dataset_id in dataset or ():
        catalogue.dataset(dataset_id)
    metrics = HubMetrics("worker")
    with ExitStack() as monitoring, Runtime(settings, catalogue) as endpoints:
        port = metrics_port if metrics_port is not None else settings.metrics_port
        if port is not None:
            engine = create_warehouse_engine(endpoints.warehouse_url)
            monitoring.callback(engine.dispose)
            checks = {
                "warehouse": lambda: warehouse_answers(engine),
                "broker": broker_answers(endpoints.bootstrap_servers),
            }
            server = monitoring.enter_context(
                MonitoringServer(metrics, host=settings.metrics_host, port=port, checks=checks)
            )
            err.print(f"metrics and health on {server.url}/metrics, /healthz, /readyz")
        run_worker(
            WorkerConfig(
                bootstrap_servers=endpoints.bootstrap_servers,
                registry_url=endpoints.registry_url,
                warehouse_url=endpoints.warehouse_url,
                workdir=endpoints.workdir,
                datasets=tuple(dataset or ()),
                partitions=endpoints.topic_partitions,
                pseudonym_key=endpoints.pseudonym_key,
            ),
            loglevel=loglevel,
            metrics=metrics,
        )


def validate(
    dataset: Annotated[str, typer.Argument(help="The catalogue dataset, e.g. citizen.person")],
    file: Annotated[
        Path, typer.Argument(help="JSON lines, fields as in the dataset's schema; - for stdin")
    ],
) -> None:
    """Check a file of records against a dataset's schema and rules; publish nothing.

    Prints one JSON object per record and exits 1 when any record is invalid.
    """
    from quality.files import validate_lines
    from schemas.catalogue import default_catalogue

    entry = default_catalogue().dataset(dataset)
    if str(file) == "-":
        handle = sys.stdin
    else:
        try:
            handle = file.open(encoding="utf-8-sig")
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from exc
    invalid = 0
    with handle:
        for verdict in validate_lines(entry, handle):
            invalid += not verdict.valid
            sys.stdout.write(verdict.model_dump_json() + "\n")
    if invalid:
        err.print(f"{invalid} invalid record(s)")
        raise typer.Exit(1)


def bench(
    records: Annotated[int, typer.Option(min=200, help="Population records to load")] = 20_000,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the report as one JSON object")
    ] = False,
    postgres: Annotated[
        str | None,
        typer.Option(help="Also load into this PostgreSQL (a scratch schema, dropped after)"),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(min=1, max=8, help="Worker processes (and partitions per topic) to run"),
    ] = 1,
) -> None:
    """Measure the pipeline against its limits on the embedded stack; print the figures."""
    from bench import render, run_bench

    report = run_bench(records, postgres_url=postgres, progress=err.print, workers=workers)
    sys.stdout.write((report.model_dump_json() if json_output else render(report)) + "\n")


def simulate(
    system: Annotated[str, typer.Argument(help="population, civil_status, ...")],
    records: Annotated[int, typer.Option(min=0, help="Source records to write")] = 10_000,
    defect_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of records spoiled on purpose")
    ] = 0.05,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Directory to write into [default: WORKDIR/sources/SYSTEM]"),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the simulator")] = 42,
    workdir: WorkdirOption = None,
) -> None:
    """Write a realistic source system with a known number of spoiled records."""
    from connectors.simulators import simulator

    try:
        simulate_source = simulator(system)
    except KeyError as exc:
        raise CommandError(exc.args[0]) from exc
    if out_dir is None:
        out_dir = settings_for(workdir).workdir / "sources" / system
    manifest = simulate_source(out_dir, records, defect_rate, seed)
    for dataset_id, tally in manifest.datasets.items():
        kinds = ", ".join(f"{kind} {n}" for kind, n in tally.defects_by_kind.items() if n)
        out.print(
            f"{dataset_id}: {tally.records} records, {tally.defects_injected} spoiled"
            + (f" ({kinds})" if kinds else "")
        )
    out.print(f"written to {out_dir}")
