"""``lgsp connector``: connectors declared in connectors.yaml."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from hub.commands.common import MetricsPortOption, WorkdirOption, err, out, settings_for

if TYPE_CHECKING:
    from connectors.runner import RunStats
    from hub.monitoring import HubMetrics

connector_app = typer.Typer(help="Connectors declared in connectors.yaml.", no_args_is_help=True)


@connector_app.command("list")
def connector_list(workdir: WorkdirOption = None) -> None:
    """Declared connectors, their datasets and where each stopped; installed types."""
    from connectors.declared import connector_types, load_declarations
    from connectors.offsets import OffsetStore

    settings = settings_for(workdir)
    types = connector_types()
    declarations = load_declarations(settings.connectors_file)
    offsets = OffsetStore(settings.workdir / "offsets")
    table = Table(title=f"Connectors declared in {settings.connectors_file}", title_justify="left")
    for column in ("name", "type", "dataset", "source system", "stored offset"):
        table.add_column(column)
    for name, declaration in sorted(declarations.items()):
        connector_class = types.get(declaration.type)
        offset = offsets.load(name)
        table.add_row(
            name,
            declaration.type,
            connector_class.dataset if connector_class else "[red]unknown type[/]",
            connector_class.source_system if connector_class else "",
            ", ".join(f"{k}={v}" for k, v in offset.items()) if offset else "-",
        )
    out.print(table)
    out.print("installed connector types: " + ", ".join(sorted(types)))


@connector_app.command("check")
def connector_check(
    name: Annotated[str, typer.Argument(help="The connector's name in connectors.yaml")],
    workdir: WorkdirOption = None,
) -> None:
    """Test the connection to a connector's source."""
    from connectors.declared import build_connector, load_declarations

    settings = settings_for(workdir)
    connector = build_connector(name, load_declarations(settings.connectors_file))
    connector.check()
    backlog = connector.backlog(None)
    suffix = f"; the source holds {backlog} records" if backlog is not None else ""
    out.print(f"{name}: the source answers{suffix}")


@connector_app.command("new")
def connector_new(
    name: Annotated[str, typer.Argument(help="Connector type name, e.g. ho_tich_xa")],
    dataset: Annotated[str, typer.Option(help="The catalogue dataset it publishes")],
    out_dir: Annotated[Path, typer.Option("--out", help="Where to create the package")] = Path(),
) -> None:
    """Scaffold a connector package with its config, a conformance test and a catalogue stub."""
    from connectors.scaffold import scaffold_connector
    from schemas.catalogue import default_catalogue
    from schemas.json_records import sample_json

    entry = default_catalogue().dataset(dataset)
    root = scaffold_connector(name, entry, sample_json(entry.avro_schema()), out_dir)
    out.print(f"created {root}; next: cd {root} && pip install -e . && pytest")


def _report_batches(metrics: HubMetrics, dataset: str) -> Callable[[RunStats], None]:
    """An ``on_batch`` callback turning a run's running totals into metric increments."""
    from connectors.runner import RunStats

    seen = RunStats()

    def report(stats: RunStats) -> None:
        metrics.records_in(dataset, stats.read - seen.read)
        metrics.records_out(dataset, "published", stats.published - seen.published)
        metrics.dead_lettered(dataset, stats.dead_lettered - seen.dead_lettered)
        metrics.retried(dataset, "broker", stats.retries - seen.retries)
        seen.read, seen.published = stats.read, stats.published
        seen.dead_lettered, seen.retries = stats.dead_lettered, stats.retries

    return report


@connector_app.command("run")
def connector_run(
    names: Annotated[
        list[str], typer.Argument(help="Connector names in connectors.yaml, run in turn")
    ],
    once: Annotated[bool, typer.Option("--once", help="Publish what is new, then stop")] = False,
    interval: Annotated[
        float, typer.Option(min=0.1, help="Seconds between polls of the source")
    ] = 30.0,
    metrics_port: MetricsPortOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """Publish connectors' records, each resuming after its stored offset."""
    import time
    from contextlib import ExitStack

    from connectors.declared import build_connector, load_declarations
    from connectors.offsets import OffsetStore
    from connectors.runner import ConnectorRunner
    from hub.monitoring import HubMetrics, MonitoringServer
    from hub.runtime import Runtime
    from schemas.catalogue import default_catalogue
    from schemas.codec import AvroCodec
    from schemas.registry.client import RegistryClient

    settings = settings_for(workdir)
    catalogue = default_catalogue()
    declarations = load_declarations(settings.connectors_file)
    for name in names:
        build_connector(name, declarations).check()
    metrics = HubMetrics("connector")
    last_run_ok = {name: True for name in names}
    with (
        ExitStack() as monitoring,
        Runtime(settings, catalogue) as endpoints,
        RegistryClient(endpoints.registry_url) as client,
    ):
        port = metrics_port if metrics_port is not None else settings.metrics_port
        if port is not None:
            checks = {f"source:{name}": (lambda name=name: last_run_ok[name]) for name in names}
            server = monitoring.enter_context(
                MonitoringServer(metrics, host=settings.metrics_host, port=port, checks=checks)
            )
            err.print(f"metrics and health on {server.url}/metrics, /healthz, /readyz")
        codec = AvroCodec(client)
        while True:
            for name in names:
                connector = build_connector(name, declarations)
                try:
                    stats = ConnectorRunner(
                        connector,
                        catalogue.dataset(connector.dataset),
                        bootstrap_servers=endpoints.bootstrap_servers,
                        codec=codec,
                        offsets=OffsetStore(endpoints.workdir / "offsets"),
                        on_batch=_report_batches(metrics, connector.dataset),
                    ).run()
                except Exception:
                    last_run_ok[name] = False
                    raise
                last_run_ok[name] = True
                if stats.lag is not None:
                    metrics.lag(connector.dataset, stats.lag)
                err.print(
                    f"{name}: read {stats.read}, published {stats.published}, "
                    f"dead-lettered {stats.dead_lettered}, retries {stats.retries}"
                    + (f", lag {stats.lag}" if stats.lag is not None else "")
                )
            if once:
                return
            time.sleep(interval)
