"""``lgsp connector``: connectors declared in connectors.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from hub.commands.common import WorkdirOption, err, out, settings_for

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


@connector_app.command("run")
def connector_run(
    names: Annotated[
        list[str], typer.Argument(help="Connector names in connectors.yaml, run in turn")
    ],
    once: Annotated[bool, typer.Option("--once", help="Publish what is new, then stop")] = False,
    interval: Annotated[
        float, typer.Option(min=0.1, help="Seconds between polls of the source")
    ] = 30.0,
    workdir: WorkdirOption = None,
) -> None:
    """Publish connectors' records, each resuming after its stored offset."""
    import time

    from connectors.declared import build_connector, load_declarations
    from connectors.offsets import OffsetStore
    from connectors.runner import ConnectorRunner
    from hub.runtime import Runtime
    from schemas.catalogue import default_catalogue
    from schemas.codec import AvroCodec
    from schemas.registry.client import RegistryClient

    settings = settings_for(workdir)
    catalogue = default_catalogue()
    declarations = load_declarations(settings.connectors_file)
    for name in names:
        build_connector(name, declarations).check()
    with (
        Runtime(settings, catalogue) as endpoints,
        RegistryClient(endpoints.registry_url) as client,
    ):
        codec = AvroCodec(client)
        while True:
            for name in names:
                connector = build_connector(name, declarations)
                stats = ConnectorRunner(
                    connector,
                    catalogue.dataset(connector.dataset),
                    bootstrap_servers=endpoints.bootstrap_servers,
                    codec=codec,
                    offsets=OffsetStore(endpoints.workdir / "offsets"),
                ).run()
                err.print(
                    f"{name}: read {stats.read}, published {stats.published}, "
                    f"dead-lettered {stats.dead_lettered}, retries {stats.retries}"
                    + (f", lag {stats.lag}" if stats.lag is not None else "")
                )
            if once:
                return
            time.sleep(interval)
