"""``lgsp subscription``, ``lgsp apikey``, ``lgsp audit`` and ``lgsp api``: who may read what.

Consuming systems are named ``<agency e-ID>/<subsystem>`` (``000.00.00.H42/so-y-te-portal``).
Every administrative action here is appended to the audit log, carried out or not.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final

import typer
from rich.table import Table
from rich.text import Text

from hub.commands.common import CommandError, WorkdirOption, err, out, settings_for

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from hub.access.grants import SubscriptionView
    from hub.access.systems import ConsumingSystem

subscription_app = typer.Typer(
    help="Consuming systems' subscriptions to datasets: request, grant, refuse, revoke.",
    no_args_is_help=True,
)
apikey_app = typer.Typer(
    help="API keys of consuming systems for the data API.", no_args_is_help=True
)
audit_app = typer.Typer(
    help="The hash-chained audit log of administrative actions and data accesses.",
    no_args_is_help=True,
)

# Vietnam keeps UTC+7 all year; stewards read times in it.
_ICT: Final = timezone(timedelta(hours=7), "ICT")

SystemArgument = Annotated[
    str, typer.Argument(help="Consuming system: <agency e-ID>/<subsystem>", show_default=False)
]
DatasetArgument = Annotated[
    str, typer.Argument(help="Catalogue dataset id, e.g. citizen.person", show_default=False)
]
ByOption = Annotated[
    str | None,
    typer.Option("--by", help="Who acts, for the audit log [default: the login name]"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object per line")]


def _actor(by: str | None) -> str:
    actor = (by or getpass.getuser()).strip()
    if not actor:
        raise CommandError("--by: name who acts, for the audit log")
    return actor


def _when(moment: datetime | None) -> str:
    if moment is None:
        return ""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return aware.astimezone(_ICT).strftime("%Y-%m-%d %H:%M")


@contextmanager
def _warehouse(workdir: Path | None) -> Iterator[Engine]:
    """The warehouse the settings name, migrated to the newest schema."""
    from warehouse.db import create_warehouse_engine, init_warehouse

    settings = settings_for(workdir)
    engine = create_warehouse_engine(settings.warehouse_url or settings.embedded_warehouse_url)
    try:
        with _one_line():
            init_warehouse(engine)
            yield engine
    finally:
        engine.dispose()


@contextmanager
def _one_line() -> Iterator[None]:
    from hub.access.errors import AccessError
    from streams.sharing import PseudonymKeyError

    try:
        yield
    except (AccessError, PseudonymKeyError) as exc:
        raise CommandError(str(exc)) from exc


def _system(text: str) -> ConsumingSystem:
    from hub.access.systems import ConsumingSystem

    with _one_line():
        return ConsumingSystem.parse(text)


def _report(verb: str, view: SubscriptionView) -> None:
    personal = " with personal data" if view.personal_data else ""
    out.print(f"{view.system_id} {view.dataset}: {verb}{personal}", highlight=False, soft_wrap=True)


# --- subscriptions -------------------------------------------------------------------------


@subscription_app.command("request")
def subscription_request(
    system: SystemArgument,
    dataset: DatasetArgument,
    purpose: Annotated[
        str, typer.Option(help="What the data is for (Decree 13/2023)", show_default=False)
    ],
    personal_data: Annotated[
        bool, typer.Option("--personal-data", help="Ask for personal data too")
    ] = False,
    by: ByOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """Record a consuming system's request for a dataset, for a steward to decide."""
    from hub.access.grants import request_subscription
    from schemas.catalogue import default_catalogue

    consumer = _system(system)
    with _warehouse(workdir) as engine:
        view = request_subscription(
            engine,
            default_catalogue(),
            consumer,
            dataset,
            purpose=purpose,
            personal_data=personal_data,
            actor=_actor(by),
        )
    asked = " (personal data asked for)" if view.personal_data_requested else ""
    out.print(f"{view.system_id} {view.dataset}: requested{asked}", highlight=False, soft_wrap=True)


@subscription_app.command("grant")
def subscription_grant(
    system: SystemArgument,
    dataset: DatasetArgument,
    personal_data: Annotated[
        bool,
        typer.Option(
            "--personal-data",
            help="Include personal data (only if requested); otherwise it is pseudonymised",
        ),
    ] = False,
    note: Annotated[str | None, typer.Option(help="Why, or on what terms")] = None,
    by: ByOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """Grant a pending request."""
    from hub.access.grants import grant_subscription
    from schemas.catalogue import default_catalogue

    consumer = _system(system)
    with _warehouse(workdir) as engine:
        view = grant_subscription(
            engine,
            default_catalogue(),
            consumer,
            dataset,
            personal_data=personal_data,
            actor=_actor(by),
            note=note,
        )
    _report("granted", view)


@subscription_app.command("refuse")
def subscription_refuse(
    system: SystemArgument,
    dataset: DatasetArgument,
    reason: Annotated[str, typer.Option(help="Why it is refused", show_default=False)],
    by: ByOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """Refuse a pending request, saying why."""
    from hub.access.grants import refuse_subscription
    from schemas.catalogue import default_catalogue

    consumer = _system(system)
    with _warehouse(workdir) as engine:
        view = refuse_subscription(
            engine, default_catalogue(), consumer, dataset, reason=reason, actor=_actor(by)
        )
    _report("refused", view)


@subscription_app.command("revoke")
def subscription_revoke(
    system: SystemArgument,
    dataset: DatasetArgument,
    reason: Annotated[str, typer.Option(help="Why it is revoked", show_default=False)],
    by: ByOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """Withdraw a grant, saying why; the system's next API call is refused."""
    from hub.access.grants import revoke_subscription
    from schemas.catalogue import default_catalogue

    consumer = _system(system)
    with _warehouse(workdir) as engine:
        view = revoke_subscription(
            engine, default_catalogue(), consumer, dataset, reason=reason, actor=_actor(by)
        )
    _report("revoked", view)


@subscription_app.command("list")
def subscription_list(
    system: Annotated[str | None, typer.Option("--system", help="Only this system")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help="Only this dataset")] = None,
    status: Annotated[
        str | None, typer.Option(help="Only requested, granted, refused or revoked")
    ] = None,
    workdir: WorkdirOption = None,
    json_output: JsonOption = False,
) -> None:
    """Subscriptions and their state, by system then dataset."""
    from hub.access.grants import Status, list_subscriptions

    wanted: Status | None = None
    if status is not None:
        try:
            wanted = Status(status)
        except ValueError as exc:
            choices = ", ".join(s.value for s in Status)
            raise CommandError(f"--status must be one of {choices}, not {status!r}") from exc
    with _warehouse(workdir) as engine:
        views = list_subscriptions(engine, system_id=system, dataset_id=dataset, status=wanted)
    if json_output:
        for view in views:
            sys.stdout.write(view.model_dump_json() + "\n")
        return
    if not views:
        out.print("no subscriptions match")
        return
    table = Table(title="Subscriptions", title_justify="left")
    for column in ("system", "dataset", "status", "personal data", "purpose", "decided (ICT)"):
        # Ids and states stay whole; the purpose and the decision wrap in a narrow terminal.
        table.add_column(column, overflow="fold", no_wrap=column in ("status", "personal data"))
    for view in views:
        if view.personal_data:
            personal = "granted"
        elif view.personal_data_requested:
            personal = "asked, not granted" if view.status == "granted" else "asked"
        else:
            personal = ""
        decided = f"{_when(view.decided_at)} {view.decided_by or ''}".strip()
        table.add_row(
            Text(view.system_id),
            Text(view.dataset),
            Text(view.status.value),
            Text(personal),
            Text(view.purpose),
            Text(decided),
        )
    out.print(table)


@subscription_app.command("acls")
def subscription_acls(
    bootstrap_server: Annotated[
        str, typer.Option(help="Kafka the commands talk to (inside the compose kafka service)")
    ] = "localhost:9092",
    kafka_acls: Annotated[str, typer.Option(help="Path of kafka-acls.sh")] = (
        "/opt/kafka/bin/kafka-acls.sh"
    ),
    command_config: Annotated[
        str | None, typer.Option(help="Client properties for an authenticated admin listener")
    ] = None,
    workdir: WorkdirOption = None,
) -> None:
    """Print the kafka-acls commands the grants imply (pipe into the Kafka container's sh).

    Example: lgsp subscription acls | docker compose exec -T kafka sh
    """
    from hub.access.grants import list_subscriptions
    from hub.access.kafka_acls import AclTarget, acl_script
    from schemas.catalogue import default_catalogue

    with _warehouse(workdir) as engine:
        views = list_subscriptions(engine)
    target = AclTarget(
        bootstrap_server=bootstrap_server, kafka_acls=kafka_acls, command_config=command_config
    )
    sys.stdout.write(acl_script(views, default_catalogue(), target))


# --- API keys ------------------------------------------------------------------------------


@apikey_app.command("issue")
def apikey_issue(
    system: SystemArgument, by: ByOption = None, workdir: WorkdirOption = None
) -> None:
    """Make an API key for a system and print it, once: the hub keeps only its hash."""
    from hub.access.keys import issue_key

    consumer = _system(system)
    with _warehouse(workdir) as engine:
        issued = issue_key(engine, consumer, actor=_actor(by))
    # The key alone on stdout, so it can be piped into a secret store; the rest on stderr.
    err.print(
        f"API key {issued.key_id} for {issued.system_id}; it is shown only now:", highlight=False
    )
    sys.stdout.write(issued.key + "\n")


@apikey_app.command("revoke")
def apikey_revoke(
    system: SystemArgument,
    key_id: Annotated[
        str | None, typer.Option("--key-id", help="Only this key [default: all the system's]")
    ] = None,
    by: ByOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """Revoke a system's API keys; calls with them are refused from now on."""
    from hub.access.keys import revoke_keys

    consumer = _system(system)
    with _warehouse(workdir) as engine:
        revoked = revoke_keys(engine, consumer, actor=_actor(by), key_id=key_id)
    out.print(f"{consumer}: revoked {', '.join(revoked)}", highlight=False, soft_wrap=True)


@apikey_app.command("list")
def apikey_list(
    system: Annotated[str | None, typer.Option("--system", help="Only this system")] = None,
    workdir: WorkdirOption = None,
    json_output: JsonOption = False,
) -> None:
    """API keys by system: ids, who issued them, and whether revoked (never the keys)."""
    from hub.access.keys import list_keys

    with _warehouse(workdir) as engine:
        keys = list_keys(engine, system_id=system)
    if json_output:
        for key in keys:
            sys.stdout.write(key.model_dump_json() + "\n")
        return
    if not keys:
        out.print("no API keys match")
        return
    table = Table(title="API keys", title_justify="left")
    for column in ("system", "key id", "issued (ICT)", "by", "revoked (ICT)"):
        table.add_column(column, overflow="fold")
    for key in keys:
        revoked = f"{_when(key.revoked_at)} {key.revoked_by or ''}".strip()
        table.add_row(key.system_id, key.key_id, _when(key.issued_at), key.issued_by, revoked)
    out.print(table)


# --- audit log -----------------------------------------------------------------------------


@audit_app.command("verify")
def audit_verify(
    anchor: Annotated[
        str | None,
        typer.Option(help="A head hash printed by an earlier verify; it must still be there"),
    ] = None,
    workdir: WorkdirOption = None,
) -> None:
    """Walk the hash chain; exit 1 naming the first broken entry, 0 when intact."""
    from hub.access.audit import verify

    with _warehouse(workdir) as engine:
        verdict = verify(engine, anchor=anchor)
    if not verdict.intact:
        where = f"entry {verdict.broken_at}" if verdict.broken_at else "its anchor"
        out.print(f"audit log broken at {where}: {verdict.reason}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    out.print(
        f"audit log intact: {verdict.entries} entries; head entry {verdict.head_id} "
        f"hash {verdict.head_hash}",
        highlight=False,
        soft_wrap=True,
    )


@audit_app.command("list")
def audit_list(
    system: Annotated[str | None, typer.Option("--system", help="Only this system")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help="Only this dataset")] = None,
    action: Annotated[
        str | None, typer.Option(help="Only this action, e.g. data.read, subscription.grant")
    ] = None,
    outcome: Annotated[
        str | None, typer.Option(help="Only this outcome, e.g. allowed, denied, rejected")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many, newest first")] = 50,
    workdir: WorkdirOption = None,
    json_output: JsonOption = False,
) -> None:
    """Audit entries, newest first: who, what, when, outcome."""
    from hub.access.audit import AuditQuery, list_entries

    query = AuditQuery(
        system_id=system, dataset=dataset, action=action, outcome=outcome, limit=limit
    )
    with _warehouse(workdir) as engine:
        lines = list_entries(engine, query)
    if json_output:
        for line in lines:
            sys.stdout.write(line.model_dump_json() + "\n")
        return
    if not lines:
        out.print("no audit entries match")
        return
    table = Table(title="Audit log", title_justify="left")
    table.add_column("id", justify="right", no_wrap=True)
    for column in ("time (ICT)", "actor", "action", "system", "dataset", "outcome", "detail"):
        table.add_column(column, overflow="fold")
    for line in lines:
        table.add_row(
            str(line.id),
            _when(line.occurred_at),
            Text(line.actor),
            line.action,
            Text(line.system_id or ""),
            line.dataset or "",
            line.outcome,
            Text(line.detail),
        )
    out.print(table)


# --- the data API --------------------------------------------------------------------------


def api(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on")] = 8090,
    workdir: WorkdirOption = None,
) -> None:
    """Serve the data API for consuming systems (API key per system, grants on every call)."""
    import uvicorn

    from hub.access.api import create_access_api
    from hub.access.pseudonym_key import pseudonym_key

    settings = settings_for(workdir)
    with _one_line():
        key = pseudonym_key(
            settings.pseudonym_key,
            warehouse_url=settings.warehouse_url,
            workdir=settings.workdir,
        )
    with _warehouse(workdir) as engine:
        app = create_access_api(engine, pseudonym_key=key)
        out.print(
            f"data API on http://{host}:{port} (docs at /docs)", highlight=False, soft_wrap=True
        )
        uvicorn.run(app, host=host, port=port, log_level="warning")
