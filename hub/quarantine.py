"""The quarantine queue: what was held back and why, and replaying it through validation.

After a fix in reference data or in the schema registry, a data steward replays held records:
their original bytes go to ``raw.<dataset>`` again with their lineage and the header
``lgsp-replay-of``. The worker judges them as it judges any record; the sink marks a row
``released`` when its record is stored, the quarantine agent puts it back to ``held`` when it
fails again. A held row whose key has since been stored from a valid record at least as new
is ``superseded``: it was fixed at the source, and it leaves the queue.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as clock
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from pydantic import BaseModel, ValidationError
from sqlalchemy import ColumnElement, Engine, func, inspect, literal, or_, select, update
from sqlalchemy.orm import Session

from hub.settings import Settings
from quality.rules import VN_TZ
from schemas import headers as h
from schemas.catalogue import Catalogue
from warehouse.db import create_warehouse_engine
from warehouse.models import Quarantine
from warehouse.store import HELD, RELEASED, REPLAYED, SUPERSEDED

if TYPE_CHECKING:
    from hub.runtime import WorkerProcess

StatusFilter = Literal["held", "replayed", "released", "superseded", "all"]

# Rows of these stages hold a record's Avro bytes; a connector-stage row holds a source row
# that never became a record, so replaying it would only fail to decode.
REPLAYABLE_STAGES = ("decode", "validate", "sink")

# Statements name at most this many row ids, below SQLite's and PostgreSQL's parameter limits.
_ID_CHUNK = 1000


class QuarantineError(RuntimeError):
    """A quarantine command cannot do what was asked; the message is one line."""


class Failure(BaseModel):
    """One reason a record was held: the rule, the field, and the reason in both languages."""

    rule: str
    field: str = ""
    reason: str
    reason_vi: str = ""


class QuarantineEntry(BaseModel):
    """One quarantine row, as ``lgsp quarantine list --json`` prints it."""

    id: int
    dataset: str
    key: str | None
    stage: str
    status: str
    rules: list[str]
    failures: list[Failure]
    source_system: str | None
    agency_id: str | None
    trace_id: str | None
    quarantined_at: datetime


class QuarantineDetail(QuarantineEntry):
    """Everything about one quarantine row, as ``lgsp quarantine show --json`` prints it.

    ``record`` is the decoded record for rows of the decode, validate and sink stages (absent
    when the bytes could not be decoded); ``source_row`` is the row as the source system gave
    it, for connector-stage rows.
    """

    fingerprint: str
    origin_topic: str | None
    origin_partition: int | None
    origin_offset: int | None
    payload_size: int
    record: dict[str, Any] | None
    source_row: dict[str, Any] | str | None


class Refusal(BaseModel):
    """A selected row that was not replayed, and why."""

    id: int
    reason: str


class ReplayResult(BaseModel):
    """What ``lgsp quarantine replay`` did.

    ``outcomes`` holds the replayed rows as they stand after the embedded runtime's worker
    judged them; it is ``None`` when an external worker does that later. ``timed_out`` lists
    rows the worker did not finish in time; they are held again.
    """

    replayed: list[int]
    refused: list[Refusal]
    outcomes: list[QuarantineEntry] | None = None
    timed_out: list[int] = []


@dataclass(frozen=True)
class QuarantineQuery:
    """Filters of ``lgsp quarantine list``; ``since`` is a calendar date in the province (ICT)."""

    dataset: str | None = None
    rule: str | None = None
    source_system: str | None = None
    since: date | None = None
    status: StatusFilter = "held"
    limit: int = 50


@dataclass(frozen=True)
class ReplayItem:
    """What a replay publishes for one quarantine row."""

    id: int
    dataset: str
    key: str | None
    payload: bytes
    source_system: str | None
    agency_id: str | None
    trace_id: str | None


@dataclass(frozen=True)
class ReplaySelection:
    """The selected rows that can be replayed, and those that cannot."""

    items: list[ReplayItem]
    refused: list[Refusal]


def warehouse_engine(settings: Settings) -> Engine:
    """The warehouse the settings name: the configured one, else the work directory's SQLite."""
    return create_warehouse_engine(settings.warehouse_url or settings.embedded_warehouse_url)


def _has_queue(engine: Engine) -> bool:
    # A work directory no worker has used yet has no tables: its queue is empty.
    return inspect(engine).has_table(Quarantine.__tablename__)


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), _ID_CHUNK):
        yield ids[start : start + _ID_CHUNK]


def _local_time(value: datetime) -> datetime:
    # SQLite returns the stored UTC time without its zone.
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(VN_TZ)


def parse_failures(failures_json: str, reason: str) -> list[Failure]:
    """The failures a row stores as JSON; a foreign dead letter's unreadable list as one."""
    try:
        items = json.loads(failures_json)
        if isinstance(items, list) and items:
            return [Failure.model_validate(item) for item in items]
    except (ValueError, ValidationError):
        pass
    return [Failure(rule="unknown", reason=reason)]


def _entry(row: Quarantine) -> QuarantineEntry:
    return QuarantineEntry(
        id=row.id,
        dataset=row.dataset,
        key=row.record_key,
        stage=row.stage,
        status=row.status,
        rules=[rule for rule in row.rules.split(",") if rule],
        failures=parse_failures(row.failures, row.reason),
        source_system=row.source_system,
        agency_id=row.agency_id,
        trace_id=row.trace_id,
        quarantined_at=_local_time(row.quarantined_at),
    )


def _parse_json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _detail(row: Quarantine) -> QuarantineDetail:
    stored = _parse_json(row.record_json)
    connector_stage = row.stage == "connector"
    return QuarantineDetail(
        **_entry(row).model_dump(),
        fingerprint=row.fingerprint,
        origin_topic=row.origin_topic,
        origin_partition=row.origin_partition,
        origin_offset=row.origin_offset,
        payload_size=len(row.payload),
        record=stored if not connector_stage and isinstance(stored, dict) else None,
        source_row=stored if connector_stage else None,
    )


def _rule_matches(rule: str) -> ColumnElement[bool]:
    # ``rules`` is comma-separated; a rule matches itself and, as a family, its sub-rules
    # (``decode`` matches ``decode.unknown_schema``).
    padded = literal(",") + Quarantine.rules + literal(",")
    return or_(
        padded.contains(f",{rule},", autoescape=True),
        padded.contains(f",{rule}.", autoescape=True),
    )


def _conditions(query: QuarantineQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.dataset is not None:
        conditions.append(Quarantine.dataset == query.dataset)
    if query.rule is not None:
        conditions.append(_rule_matches(query.rule))
    if query.source_system is not None:
        conditions.append(Quarantine.source_system == query.source_system)
    if query.since is not None:
        # Stored times are UTC; SQLite compares them as text, so the bound must be UTC too.
        start = datetime.combine(query.since, clock(), VN_TZ).astimezone(UTC)
        conditions.append(Quarantine.quarantined_at >= start)
    if query.status != "all":
        conditions.append(Quarantine.status == query.status)
    return conditions


def list_quarantine(
    engine: Engine, catalogue: Catalogue, query: QuarantineQuery
) -> tuple[list[QuarantineEntry], int]:
    """The newest rows matching the query, and how many match in all.

    Raises:
        CatalogueError: The dataset filter names no dataset of the catalogue.
    """
    if query.dataset is not None:
        catalogue.dataset(query.dataset)
    if not _has_queue(engine):
        return [], 0
    conditions = _conditions(query)
    with Session(engine) as session:
        total = session.scalar(select(func.count()).select_from(Quarantine).where(*conditions))
        rows = session.scalars(
            select(Quarantine)
            .where(*conditions)
            .order_by(Quarantine.quarantined_at.desc(), Quarantine.id.desc())
            .limit(query.limit)
        )
        entries = [_entry(row) for row in rows]
    return entries, int(total or 0)


def _rows_by_id(engine: Engine, ids: Sequence[int]) -> dict[int, Quarantine]:
    found: dict[int, Quarantine] = {}
    # Rows stay readable after the session closes: every column is loaded, none expired.
    with Session(engine) as session:
        for chunk in _chunks(ids):
            for row in session.scalars(select(Quarantine).where(Quarantine.id.in_(chunk))):
                found[row.id] = row
    return found


def show_quarantine(engine: Engine, row_id: int) -> QuarantineDetail:
    """Everything about one row.

    Raises:
        QuarantineError: No row has this id.
    """
    row = _rows_by_id(engine, [row_id]).get(row_id) if _has_queue(engine) else None
    if row is None:
        raise QuarantineError(f"no quarantine row with id {row_id}")
    return _detail(row)


def _refusal(row: Quarantine) -> str | None:
    if row.status == RELEASED:
        return "already released: the record is in the warehouse"
    if row.status == SUPERSEDED:
        return (
            "superseded: a valid record of the same key, at least as new, is in the warehouse; "
            "replaying this one would change nothing"
        )
    if row.stage == "connector":
        return (
            "held by the connector: the source row never became a record; fix it at the "
            "source; the connector publishes the row again when it changes"
        )
    if row.stage not in REPLAYABLE_STAGES:
        return f"stage {row.stage!r} is not one of the hub's; its payload may not be a record"
    return None


def select_for_replay(
    engine: Engine,
    catalogue: Catalogue,
    *,
    ids: Sequence[int] = (),
    dataset: str | None = None,
    rule: str | None = None,
    all_held: bool = False,
) -> ReplaySelection:
    """The rows to replay and the selected ones that cannot be.

    Rows named by id are taken whatever their status (a ``replayed`` row whose replay was
    lost can be sent again); ``dataset``, ``rule`` and ``all_held`` select ``held`` rows.

    Raises:
        QuarantineError: Nothing or too much was asked for, or an id names no row.
        CatalogueError: ``dataset`` names no dataset of the catalogue.
    """
    filtered = dataset is not None or rule is not None or all_held
    if not ids and not filtered:
        raise QuarantineError("say what to replay: row ids, --dataset, --rule or --all-held")
    if ids and filtered:
        raise QuarantineError("give row ids or --dataset/--rule/--all-held, not both")
    if dataset is not None:
        catalogue.dataset(dataset)
    if ids:
        wanted = list(dict.fromkeys(ids))
        found = _rows_by_id(engine, wanted) if _has_queue(engine) else {}
        missing = [row_id for row_id in wanted if row_id not in found]
        if missing:
            shown = ", ".join(str(row_id) for row_id in missing)
            raise QuarantineError(f"no quarantine row with id {shown}")
        rows = [found[row_id] for row_id in wanted]
    elif not _has_queue(engine):
        rows = []
    else:
        query = QuarantineQuery(dataset=dataset, rule=rule, status=HELD)
        with Session(engine) as session:
            rows = list(
                session.scalars(
                    select(Quarantine).where(*_conditions(query)).order_by(Quarantine.id)
                )
            )
    items: list[ReplayItem] = []
    refused: list[Refusal] = []
    for row in rows:
        reason = _refusal(row)
        if reason is not None:
            refused.append(Refusal(id=row.id, reason=reason))
            continue
        items.append(
            ReplayItem(
                id=row.id,
                dataset=row.dataset,
                key=row.record_key,
                payload=row.payload,
                source_system=row.source_system,
                agency_id=row.agency_id,
                trace_id=row.trace_id,
            )
        )
    return ReplaySelection(items=items, refused=refused)


def _set_status(engine: Engine, ids: Sequence[int], status: str, *, was: Sequence[str]) -> None:
    with engine.begin() as connection:
        for chunk in _chunks(ids):
            connection.execute(
                update(Quarantine)
                .where(Quarantine.id.in_(chunk), Quarantine.status.in_(was))
                .values(status=status)
            )


def _replay_headers(item: ReplayItem) -> h.Headers:
    lineage = {
        h.SOURCE_SYSTEM: item.source_system,
        h.AGENCY_ID: item.agency_id,
        h.TRACE_ID: item.trace_id,
    }
    present = {name: value for name, value in lineage.items() if value is not None}
    return h.encode_headers({**present, h.REPLAY_OF: str(item.id)})


def _publish(
    bootstrap_servers: str, catalogue: Catalogue, items: Sequence[ReplayItem], timeout_s: float
) -> tuple[list[int], str]:
    """Publish every item to its raw topic; the ids not acknowledged, and the first reason."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap_servers,
            "client.id": "lgsp-quarantine-replay",
            "acks": "all",
            # Tansu has no InitProducerId, so the idempotent producer cannot start.
            "enable.idempotence": False,
            "linger.ms": 20,
            "message.timeout.ms": int(timeout_s * 1000),
        },
        logger=logging.getLogger("lgsp.quarantine.librdkafka"),
    )
    acknowledged: set[int] = set()
    errors: list[str] = []

    def delivered(row_id: int, error: KafkaError | None, _message: Message) -> None:
        if error is None:
            acknowledged.add(row_id)
        else:
            errors.append(str(error))

    try:
        for item in items:
            while True:
                try:
                    producer.produce(
                        catalogue.dataset(item.dataset).raw_topic,
                        key=item.key.encode("utf-8") if item.key is not None else None,
                        value=item.payload,
                        headers=_replay_headers(item),
                        on_delivery=partial(delivered, item.id),
                    )
                    break
                except BufferError:
                    # The local queue is full: let deliveries drain, then try again.
                    producer.poll(0.1)
        # message.timeout.ms bounds every delivery, so the flush returns with all reported.
        remaining = producer.flush(timeout_s + 5.0)
    except KafkaException as exc:
        errors.append(str(exc))
        remaining = 0
    finally:
        producer.close()
    if remaining:
        errors.append(f"{remaining} messages unacknowledged")
    unacknowledged = [item.id for item in items if item.id not in acknowledged]
    return unacknowledged, errors[0] if errors else ""


def send_replays(
    engine: Engine,
    bootstrap_servers: str,
    catalogue: Catalogue,
    items: Sequence[ReplayItem],
    *,
    timeout_s: float = 30.0,
) -> None:
    """Mark the rows ``replayed`` and publish their records, waiting for acknowledgements.

    The rows are marked first, so the worker's verdict on a replay always comes after it and
    is never overwritten by it.

    Raises:
        QuarantineError: The broker did not acknowledge some records; their rows are held
            again, the others were sent.
    """
    ids = [item.id for item in items]
    _set_status(engine, ids, REPLAYED, was=(HELD, REPLAYED))
    unacknowledged, reason = _publish(bootstrap_servers, catalogue, items, timeout_s)
    if unacknowledged:
        _set_status(engine, unacknowledged, HELD, was=(REPLAYED,))
        raise QuarantineError(
            f"the broker at {bootstrap_servers} did not acknowledge {len(unacknowledged)} of "
            f"{len(ids)} replays ({reason}); those are held again, the other "
            f"{len(ids) - len(unacknowledged)} were sent"
        )


def _statuses(engine: Engine, ids: Sequence[int]) -> dict[int, str]:
    statuses: dict[int, str] = {}
    with engine.connect() as connection:
        for chunk in _chunks(ids):
            rows = connection.execute(
                select(Quarantine.id, Quarantine.status).where(Quarantine.id.in_(chunk))
            )
            statuses.update({row_id: status for row_id, status in rows})
    return statuses


def await_outcomes(
    engine: Engine,
    ids: Sequence[int],
    worker: WorkerProcess,
    *,
    timeout_s: float,
    progress: Callable[[int, int], None] | None = None,
) -> list[int]:
    """Wait until the worker has released or held again every replayed row.

    Args:
        engine: The warehouse the worker writes.
        ids: The replayed rows.
        worker: The worker judging them.
        timeout_s: How long to wait at most.
        progress: Told (rows finished, rows replayed) at every look.

    Returns:
        The rows still ``replayed`` when the time ran out.

    Raises:
        QuarantineError: The worker exited.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        statuses = _statuses(engine, ids)
        pending = [row_id for row_id in ids if statuses.get(row_id) == REPLAYED]
        if progress is not None:
            progress(len(ids) - len(pending), len(ids))
        if not pending or time.monotonic() > deadline:
            return pending
        if not worker.running:
            raise QuarantineError(
                f"the stream worker exited with code {worker.returncode}; see {worker.log_path}"
            )
        time.sleep(0.25)


def replay(
    settings: Settings,
    catalogue: Catalogue,
    *,
    ids: Sequence[int] = (),
    dataset: str | None = None,
    rule: str | None = None,
    all_held: bool = False,
    timeout_s: float = 120.0,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayResult:
    """Replay the selected rows through validation.

    With an external broker (``LGSP_BOOTSTRAP_SERVERS``) the records are published and the
    running worker judges them later. Otherwise the embedded broker and a worker for the
    affected datasets are started, and the outcome of every row is awaited.

    Args:
        settings: Where the hub's parts are.
        catalogue: The datasets.
        ids: Rows to replay, by id.
        dataset: Replay the held rows of this dataset.
        rule: Replay the held rows that failed this rule (or a rule of this family).
        all_held: Replay every held row (narrowed by ``dataset`` and ``rule``).
        timeout_s: How long the embedded worker may take.
        progress: Told (rows finished, rows replayed) while waiting.

    Raises:
        QuarantineError: See :func:`select_for_replay`, :func:`send_replays`,
            :func:`await_outcomes`.
    """
    # The runtime (a web server, Kafka admin) takes a second to import; list and show run
    # without it.
    from hub.runtime import Runtime, WorkerProcess
    from hub.topics import ensure_topics

    engine = warehouse_engine(settings)
    try:
        selection = select_for_replay(
            engine, catalogue, ids=ids, dataset=dataset, rule=rule, all_held=all_held
        )
        replayed = [item.id for item in selection.items]
        if not replayed:
            return ReplayResult(replayed=[], refused=selection.refused)
        datasets = sorted({item.dataset for item in selection.items})
        if settings.bootstrap_servers is not None:
            raw_topics = [catalogue.dataset(dataset_id).raw_topic for dataset_id in datasets]
            ensure_topics(settings.bootstrap_servers, raw_topics, settings.topic_partitions)
            send_replays(engine, settings.bootstrap_servers, catalogue, selection.items)
            return ReplayResult(replayed=replayed, refused=selection.refused)
        if progress is not None:
            progress(0, len(replayed))
        try:
            with (
                Runtime(settings, catalogue) as endpoints,
                WorkerProcess(
                    endpoints, endpoints.workdir / "logs" / "worker.log", tuple(datasets)
                ) as worker,
            ):
                send_replays(engine, endpoints.bootstrap_servers, catalogue, selection.items)
                timed_out = await_outcomes(
                    engine, replayed, worker, timeout_s=timeout_s, progress=progress
                )
        finally:
            # The embedded broker kept the replays in memory only and is gone now: whatever
            # the worker did not finish will never arrive, so it is back in the queue.
            _set_status(engine, replayed, HELD, was=(REPLAYED,))
        found = _rows_by_id(engine, replayed)
        return ReplayResult(
            replayed=replayed,
            refused=selection.refused,
            outcomes=[_entry(found[row_id]) for row_id in replayed if row_id in found],
            timed_out=timed_out,
        )
    finally:
        engine.dispose()
