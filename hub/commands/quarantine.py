"""``lgsp quarantine``: records held back from the warehouse, why, and replaying them."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Annotated, Any, Literal

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from hub.commands.common import WorkdirOption, err, out, settings_for

quarantine_app = typer.Typer(
    help="Records held back from the warehouse: why, and replaying them.", no_args_is_help=True
)


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
        Literal["held", "replayed", "released", "superseded", "all"],
        typer.Option(
            help="held: in the queue; replayed: outcome pending; released: stored; "
            "superseded: fixed at the source, a valid record of the key was stored"
        ),
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
            elif entry.status == "superseded":
                # Failed again, but the source has since sent a valid record of the key.
                outcome, reason = "[green]superseded[/]", _reasons(entry.failures)
            else:
                outcome, reason = "[red]held again[/]", _reasons(entry.failures)
            table.add_row(
                Text(str(entry.id)), Text(entry.dataset), Text(entry.key or ""), outcome, reason
            )
        out.print(table)
        released = sum(entry.status == "released" for entry in result.outcomes)
        superseded = sum(entry.status == "superseded" for entry in result.outcomes)
        held_again = len(result.outcomes) - released - superseded - len(timed_out)
        out.print(
            f"replayed {len(result.replayed)}: released {released}, "
            + (f"superseded {superseded}, " if superseded else "")
            + f"held again {held_again}, not judged in time {len(timed_out)}"
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
