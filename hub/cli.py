"""The ``lgsp`` command line."""

from __future__ import annotations

import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from hub.settings import Settings

app = typer.Typer(
    name="lgsp",
    help="LGSP Hub: the province's data integration hub.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
registry_app = typer.Typer(help="The schema registry.", no_args_is_help=True)
connector_app = typer.Typer(help="Connectors declared in connectors.yaml.", no_args_is_help=True)
catalogue_app = typer.Typer(help="The shared-database catalogue.", no_args_is_help=True)
schemas_app = typer.Typer(help="Schema contracts in the registry.", no_args_is_help=True)
quarantine_app = typer.Typer(
    help="Records held back from the warehouse: why, and replaying them.", no_args_is_help=True
)
app.add_typer(catalogue_app, name="catalogue")
app.add_typer(schemas_app, name="schemas")
app.add_typer(registry_app, name="registry")
app.add_typer(connector_app, name="connector")
app.add_typer(quarantine_app, name="quarantine")

out = Console()
err = Console(stderr=True)

WorkdirOption = Annotated[
    Path | None,
    typer.Option(
        "--workdir",
        help="Where embedded data, offsets and reports live [env: LGSP_WORKDIR; default ./.lgsp]",
        show_default=False,
    ),
]


class CommandError(Exception):
    """A failure to report as one line, without a traceback."""


# Failures reported as one line. Looked up only in modules already imported: an error class
# whose module was never loaded cannot have been raised, and importing them all (Great
# Expectations among them) would cost every command seconds.
_USER_ERRORS = (
    ("connectors.declared", "ConnectorDeclarationError"),
    ("connectors.base", "SourceUnavailable"),
    ("connectors.runner", "PublishError"),
    ("connectors.scaffold", "ScaffoldError"),
    ("hub.broker", "BrokerError"),
    ("hub.contracts", "ContractError"),
    ("hub.demo", "DemoError"),
    ("hub.quarantine", "QuarantineError"),
    ("hub.runtime", "RuntimeStartError"),
    ("hub.topics", "TopicError"),
    ("quality.suites", "QualityError"),
    ("schemas.catalogue", "CatalogueError"),
    ("schemas.registry.client", "RegistryError"),
    ("warehouse.db", "WarehouseError"),
)


def _is_user_error(exc: BaseException) -> bool:
    if isinstance(exc, CommandError):
        return True
    for module_name, class_name in _USER_ERRORS:
        module = sys.modules.get(module_name)
        if module is not None and isinstance(exc, getattr(module, class_name)):
            return True
    return False


def settings_for(workdir: Path | None) -> Settings:
    from pydantic import ValidationError

    try:
        return Settings(workdir=workdir) if workdir is not None else Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "LGSP_" + "_".join(str(part) for part in first["loc"]).upper()
        raise CommandError(f"{name}: {first['msg']}") from exc


@app.command()
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
    """Simulate the population system and run the whole hub on it, end to end."""
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


@app.command()
def worker(
    workdir: WorkdirOption = None,
    dataset: Annotated[
        list[str] | None, typer.Option("--dataset", help="Only these datasets (repeatable)")
    ] = None,
    loglevel: Annotated[str, typer.Option(help="crit, error, warn, info or debug")] = "warn",
) -> None:
    """Run the stream worker (validate, sink, quarantine agents) until stopped."""
    from hub.runtime import Runtime
    from schemas.catalogue import default_catalogue
    from streams.app import WorkerConfig, run_worker

    settings = settings_for(workdir)
    catalogue = default_catalogue()
    for dataset_id in dataset or ():
        catalogue.dataset(dataset_id)
    with Runtime(settings, catalogue) as endpoints:
        run_worker(
            WorkerConfig(
                bootstrap_servers=endpoints.bootstrap_servers,
                registry_url=endpoints.registry_url,
                warehouse_url=endpoints.warehouse_url,
                workdir=endpoints.workdir,
                datasets=tuple(dataset or ()),
                partitions=endpoints.topic_partitions,
            ),
            loglevel=loglevel,
        )


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


@app.command()
def asyncapi(
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="Write here (.json for JSON, else YAML) instead of stdout"),
    ] = None,
    workdir: WorkdirOption = None,
) -> None:
    """Print the AsyncAPI 3.0 contract of every topic, generated from the catalogue."""
    import json

    import yaml

    from schemas.asyncapi import build_asyncapi
    from schemas.catalogue import default_catalogue

    settings = settings_for(workdir)
    servers = {"production": settings.bootstrap_servers} if settings.bootstrap_servers else None
    document = build_asyncapi(default_catalogue(), servers=servers)
    if out_file is not None and out_file.suffix == ".json":
        text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    else:
        text = yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=100)
    if out_file is None:
        sys.stdout.write(text)
    else:
        out_file.write_text(text, encoding="utf-8")
        err.print(f"wrote {out_file}")


@app.command()
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


@catalogue_app.command("validate")
def catalogue_validate(
    file: Annotated[
        Path | None, typer.Option("--file", help="A catalogue other than the hub's own")
    ] = None,
) -> None:
    """Check the catalogue against its schemas, rules and expectation types."""
    from quality.rules import RuleConfigError, RuleSet
    from quality.suites import SuiteConfigError, build_suite
    from schemas.catalogue import (
        CatalogueProblem,
        default_catalogue,
        load_catalogue,
        validate_catalogue,
    )

    catalogue = load_catalogue(file) if file is not None else default_catalogue()
    problems = validate_catalogue(catalogue)
    for dataset in catalogue.datasets:
        try:
            RuleSet.for_dataset(dataset)
        except RuleConfigError as exc:
            problems.append(CatalogueProblem(dataset=dataset.id, field="rules", message=str(exc)))
        try:
            build_suite(dataset)
        except SuiteConfigError as exc:
            problems.append(
                CatalogueProblem(dataset=dataset.id, field="expectations", message=str(exc))
            )
    for problem in problems:
        err.print(f"{problem.dataset}: {problem.field}: {problem.message}", highlight=False)
    if problems:
        raise typer.Exit(1)
    out.print(f"catalogue valid: {len(catalogue.datasets)} datasets")


def _print_verdicts(verdicts: list[Any]) -> None:
    colours = {"compatible": "green", "new": "cyan", "incompatible": "red"}
    for verdict in verdicts:
        out.print(f"[{colours[verdict.status]}]{verdict.status:>12}[/] {verdict.subject}")
        for message in verdict.messages:
            out.print(f"               {message}", highlight=False, markup=False)
    if any(v.status == "incompatible" for v in verdicts):
        raise typer.Exit(1)


@schemas_app.command("check")
def schemas_check(
    against: Annotated[
        str | None,
        typer.Option(help="Compare with the schemas at this git reference, not the registry"),
    ] = None,
    level: Annotated[
        str, typer.Option(help="Compatibility level with --against (the registry's own else)")
    ] = "BACKWARD",
    workdir: WorkdirOption = None,
) -> None:
    """Fail when a working-tree schema would break the registered (or released) one."""
    from hub.contracts import check_against_git, check_against_registry
    from hub.runtime import registry_endpoint
    from schemas.catalogue import default_catalogue
    from schemas.registry.client import RegistryClient

    catalogue = default_catalogue()
    if against is not None:
        try:
            _print_verdicts(check_against_git(catalogue, against, level))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        return
    settings = settings_for(workdir)
    with registry_endpoint(settings) as url, RegistryClient(url) as client:
        _print_verdicts(check_against_registry(client, catalogue))


@schemas_app.command("register")
def schemas_register(workdir: WorkdirOption = None) -> None:
    """Register every dataset's schema under its topics' subjects."""
    from hub.contracts import register_all
    from hub.runtime import registry_endpoint
    from schemas.catalogue import default_catalogue
    from schemas.registry.client import RegistryClient

    settings = settings_for(workdir)
    with registry_endpoint(settings) as url, RegistryClient(url) as client:
        for subject, schema_id in register_all(client, default_catalogue()):
            out.print(f"{subject}: id {schema_id}")


@registry_app.command("serve")
def registry_serve(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on")] = 8081,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    workdir: WorkdirOption = None,
) -> None:
    """Serve the Confluent-compatible schema registry on its own."""
    from schemas.registry.server import serve

    settings = settings_for(workdir)
    settings.workdir.mkdir(parents=True, exist_ok=True)
    storage = f"sqlite:///{(settings.workdir / 'registry.db').resolve()}"
    err.print(f"schema registry on http://{host}:{port} (storage {storage})")
    serve(port=port, storage_url=storage, host=host)


@app.command()
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


DatasetFilter = Annotated[
    str | None, typer.Option("--dataset", help="Only this dataset, e.g. citizen.person")
]
RuleFilter = Annotated[
    str | None,
    typer.Option(help="Only rows that failed this rule, or a rule of this family (decode)"),
]


def _reasons(failures: list[Any]) -> Text:
    """Each failure's Vietnamese reason, its English one dimmed beneath."""
    text = Text()
    for number, failure in enumerate(failures):
        if number:
            text.append("\n")
        text.append(failure.reason_vi or failure.reason)
        if failure.reason_vi:
            text.append(f"\n{failure.reason}", style="dim")
    return text


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


@quarantine_app.command("list")
def quarantine_list(
    dataset: DatasetFilter = None,
    rule: RuleFilter = None,
    source: Annotated[str | None, typer.Option(help="Only rows from this source system")] = None,
    since: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Only rows held on or after this day (ICT)"),
    ] = None,
    status: Annotated[
        Literal["held", "replayed", "released", "all"],
        typer.Option(help="held: in the queue; replayed: outcome pending; released: stored"),
    ] = "held",
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many, newest first")] = 50,
    workdir: WorkdirOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
) -> None:
    """Records held back from the warehouse, newest first, with every reason."""
    from hub.quarantine import QuarantineQuery, list_quarantine, warehouse_engine
    from schemas.catalogue import default_catalogue

    query = QuarantineQuery(
        dataset=dataset,
        rule=rule,
        source_system=source,
        since=since.date() if since is not None else None,
        status=status,
        limit=limit,
    )
    engine = warehouse_engine(settings_for(workdir))
    try:
        entries, total = list_quarantine(engine, default_catalogue(), query)
    finally:
        engine.dispose()
    if json_output:
        for entry in entries:
            sys.stdout.write(entry.model_dump_json() + "\n")
        return
    if not entries:
        out.print(f"no {'' if status == 'all' else status + ' '}quarantine rows match")
        return
    table = Table(title=f"Quarantine ({status})", title_justify="left")
    table.add_column("id", justify="right")
    for column in ("dataset", "key", "stage", "rules", "reason", "source system", "time (ICT)"):
        table.add_column(column, no_wrap=column in ("dataset", "stage", "time (ICT)"))
    if status == "all":
        table.add_column("status")
    for entry in entries:
        cells = [
            Text(str(entry.id)),
            Text(entry.dataset),
            Text(entry.key or ""),
            Text(entry.stage),
            Text("\n".join(entry.rules)),
            _reasons(entry.failures),
            Text(entry.source_system or ""),
            Text(_when(entry.quarantined_at)),
        ]
        if status == "all":
            cells.append(Text(entry.status))
        table.add_row(*cells)
    out.print(table)
    if total > len(entries):
        out.print(f"{len(entries)} of {total} shown; --limit shows more")


@quarantine_app.command("show")
def quarantine_show(
    row_id: Annotated[int, typer.Argument(help="The row's id, as quarantine list shows it")],
    workdir: WorkdirOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object")] = False,
) -> None:
    """Everything about one held record: failures, lineage, origin and the record itself."""
    from rich.json import JSON

    from hub.quarantine import REPLAYABLE_STAGES, show_quarantine, warehouse_engine

    engine = warehouse_engine(settings_for(workdir))
    try:
        detail = show_quarantine(engine, row_id)
    finally:
        engine.dispose()
    if json_output:
        sys.stdout.write(detail.model_dump_json() + "\n")
        return
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column()
    origin = (
        f"{detail.origin_topic} partition {detail.origin_partition} offset {detail.origin_offset}"
        if detail.origin_topic is not None
        else "-"
    )
    for name, value in (
        ("dataset", detail.dataset),
        ("key", detail.key or "-"),
        ("status", detail.status),
        ("stage", detail.stage),
        ("rules", ", ".join(detail.rules)),
        ("held at (ICT)", _when(detail.quarantined_at)),
        ("source system", detail.source_system or "-"),
        ("agency e-ID", detail.agency_id or "-"),
        ("trace id", detail.trace_id or "-"),
        ("origin", origin),
        ("fingerprint", detail.fingerprint),
        ("payload", f"{detail.payload_size} bytes"),
    ):
        facts.add_row(name, Text(value))
    out.print(f"[bold]Quarantine row {detail.id}[/]")
    out.print(facts)
    out.print("[bold]Failures[/]")
    for failure in detail.failures:
        out.print(Text(f"  {failure.rule}" + (f" ({failure.field})" if failure.field else "")))
        # Soft wrap keeps each reason on one line for the terminal to wrap, and for grep.
        if failure.reason_vi:
            out.print(Text(f"    lý do:  {failure.reason_vi}"), soft_wrap=True)
        out.print(Text(f"    reason: {failure.reason}"), soft_wrap=True)
    if detail.stage == "connector":
        out.print("[bold]Source row[/] (it never became a record)")
        if isinstance(detail.source_row, dict):
            out.print(JSON.from_data(detail.source_row))
        else:
            out.print(Text(str(detail.source_row)))
        out.print("fix it at the source; the connector publishes the row again when it changes")
    elif detail.record is not None:
        out.print("[bold]Record[/]")
        out.print(JSON.from_data(detail.record))
    else:
        out.print(f"[bold]Record[/]: the {detail.payload_size} bytes could not be decoded")
    if detail.status == "held" and detail.stage in REPLAYABLE_STAGES:
        out.print(f"after a fix: lgsp quarantine replay {detail.id}")


@quarantine_app.command("replay")
def quarantine_replay(
    ids: Annotated[
        list[int] | None, typer.Argument(help="Row ids, as quarantine list shows them")
    ] = None,
    dataset: DatasetFilter = None,
    rule: RuleFilter = None,
    all_held: Annotated[
        bool, typer.Option("--all-held", help="Every held row (narrowed by --dataset, --rule)")
    ] = False,
    timeout: Annotated[
        float, typer.Option(min=1.0, help="Seconds the embedded worker may take to judge them")
    ] = 120.0,
    workdir: WorkdirOption = None,
) -> None:
    """Send held records through validation again, after a fix in reference data or schemas.

    Ids replay those rows whatever their status; --dataset, --rule, --all-held pick held rows.

    Rows the connector held are refused: fix them at the source.

    With LGSP_BOOTSTRAP_SERVERS set, the running worker judges the records later.

    Otherwise an embedded hub judges them and each row's outcome is printed.

    Exits 1 when a row was refused or not judged in time.
    """
    from rich.progress import TaskID

    from hub.quarantine import replay
    from schemas.catalogue import default_catalogue

    settings = settings_for(workdir)
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    task: list[TaskID] = []

    def progress(done: int, total: int) -> None:
        # Shown only once there is something to wait for, so errors print on clean lines.
        if not task:
            bar.start()
            task.append(bar.add_task("validating the replayed records", total=total))
        bar.update(task[0], completed=done)

    try:
        result = replay(
            settings,
            default_catalogue(),
            ids=ids or (),
            dataset=dataset,
            rule=rule,
            all_held=all_held,
            timeout_s=timeout,
            progress=progress,
        )
    finally:
        if task:
            bar.stop()
    if result.outcomes is not None:
        table = Table(title="Replay outcomes", title_justify="left")
        table.add_column("id", justify="right")
        for column in ("dataset", "key", "outcome", "reason"):
            table.add_column(column)
        timed_out = set(result.timed_out)
        for entry in result.outcomes:
            if entry.id in timed_out:
                outcome, reason = "[yellow]not judged in time; held[/]", Text("")
            elif entry.status == "released":
                outcome, reason = "[green]released[/]", Text("")
            else:
                outcome, reason = "[red]held again[/]", _reasons(entry.failures)
            table.add_row(
                Text(str(entry.id)), Text(entry.dataset), Text(entry.key or ""), outcome, reason
            )
        out.print(table)
        released = sum(entry.status == "released" for entry in result.outcomes)
        out.print(
            f"replayed {len(result.replayed)}: released {released}, "
            f"held again {len(result.outcomes) - released - len(timed_out)}, "
            f"not judged in time {len(timed_out)}"
        )
    elif result.replayed:
        out.print(
            f"replayed {len(result.replayed)}: published to the raw topics; the running worker "
            "judges them (lgsp quarantine list --status replayed shows those pending)"
        )
    elif not result.refused:
        out.print("nothing to replay: no held rows match")
    if result.refused:
        out.print(f"refused {len(result.refused)}:")
        by_reason: dict[str, list[int]] = {}
        for refusal in result.refused:
            by_reason.setdefault(refusal.reason, []).append(refusal.id)
        for reason, row_ids in by_reason.items():
            shown = ", ".join(str(row_id) for row_id in row_ids[:20])
            more = f" and {len(row_ids) - 20} more" if len(row_ids) > 20 else ""
            out.print(Text(f"  {len(row_ids)} {reason} (ids {shown}{more})"))
    if result.refused or result.timed_out:
        raise typer.Exit(1)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Client libraries log every failed connection attempt; the hub reports the outcome once.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        app()
    except Exception as exc:
        if not _is_user_error(exc):
            raise
        err.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
