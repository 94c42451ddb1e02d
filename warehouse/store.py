"""Idempotent writes: replaying a batch, or an older version of a record, changes nothing."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Table,
    Text,
    and_,
    any_,
    bindparam,
    delete,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from schemas.catalogue import Dataset, column_name
from warehouse.models import RECORD_KEY_LENGTH, Quarantine, dataset_table
from warehouse.views import DERIVED_TABLES, IngestLog

# Statuses of a quarantine row: in the queue, sent back through validation with the
# outcome pending, passed on replay and stored in the warehouse, or fixed at the source (a
# valid record of the same key and at least its version was stored).
HELD: Final = "held"
REPLAYED: Final = "replayed"
RELEASED: Final = "released"
SUPERSEDED: Final = "superseded"

# Statements name at most this many values, well below SQLite's and PostgreSQL's limits on
# bound parameters even with three columns a value.
CHUNK: Final = 1000

# Advisory lock names (PostgreSQL). SQLite needs none: it lets one writer in at a time.
PROJECTIONS_LOCK: Final = "lgsp.projections"

T = TypeVar("T")


def chunks(values: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """``values`` in slices of at most ``size``."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def utc(value: datetime | None) -> datetime | None:
    """``value`` in UTC; SQLite gives stored times back without their zone, which is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def row_key(dataset: Dataset, row: Mapping[str, Any]) -> str:
    """A row's record key as connectors key its Kafka messages: key values joined by ``|``."""
    return "|".join(str(row[column_name(path)]) for path in dataset.key)


def member_of(
    connection: Connection, column: ColumnElement[Any], values: Collection[str]
) -> ColumnElement[bool]:
    """``column IN values`` for text values, sent as one parameter however many there are.

    An ``IN`` list binds one parameter per value, and rendering and binding thousands of them
    costs more than the indexed lookup they feed; an array (PostgreSQL) or a JSON list
    (SQLite) is one parameter, and the lookup still uses the column's index.
    """
    listed = sorted(values)
    if connection.dialect.name == "postgresql":
        return column == any_(bindparam(None, listed, type_=postgresql.ARRAY(Text())))
    each = func.json_each(bindparam(None, json.dumps(listed), type_=Text())).table_valued("value")
    return column.in_(select(each.c.value))


def lock(connection: Connection, name: str) -> None:
    """Hold the transaction-scoped lock ``name`` until the transaction ends.

    On PostgreSQL two transactions that read each other's tables (a person and a death of
    that person stored at once) would each miss the other's uncommitted rows; taking the same
    lock first makes the second one read after the first commits. The lock is per schema, so
    warehouses sharing a database do not wait for each other. SQLite already admits one
    writer at a time, so nothing is done there.
    """
    if connection.dialect.name != "postgresql":
        return
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=4).digest()
    connection.execute(
        select(
            func.pg_advisory_xact_lock(
                func.hashtext(func.current_schema()), int.from_bytes(digest, signed=True)
            )
        )
    )


def _insert(connection: Connection, table: Table) -> Any:
    dialect = connection.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"the warehouse supports SQLite and PostgreSQL, not {dialect}")


def insert_many(
    connection: Connection, statement: Insert, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Run an INSERT (or upsert) for many rows: one executemany, nothing for no rows."""
    if not rows:
        return
    positional = _positional_parameters(connection, statement, rows)
    if positional is None:
        connection.execute(statement, list(rows))
    else:
        sql, parameters = positional
        connection.exec_driver_sql(sql, parameters)


def _positional_parameters(
    connection: Connection, statement: Insert, rows: Sequence[Mapping[str, Any]]
) -> tuple[str, list[tuple[Any, ...]]] | None:
    """The statement's SQL and each row's values in bind order, or ``None`` to let SQLAlchemy.

    SQLAlchemy's executemany builds a dictionary of every row's parameters and then a tuple
    of them (``construct_params``), which cost more than SQLite's own work on a batch: ~70 %
    of a sink transaction, measured. This does only the type conversions SQLAlchemy would
    (the same bind processors, so values are stored exactly alike), for dialects with
    positional parameters (SQLite); anything it does not handle goes the ordinary way.
    """
    dialect = connection.dialect
    if not dialect.positional:
        return None
    keys = list(rows[0])
    compiled = statement.compile(dialect=dialect, column_keys=keys)
    names = compiled.positiontup
    if names is None or compiled.post_compile_params or compiled.literal_execute_params:
        return None
    binds = compiled.binds
    given = set(keys)
    processors: list[Callable[[Any], Any] | None] = []
    constants: dict[int, Any] = {}
    for position, name in enumerate(names):
        bind = binds[name]
        # The dialect's implementation of the type, as SQLAlchemy binds it: the generic
        # DateTime has no processor, SQLite's stores a fixed text format.
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if name in given:
            processors.append(process)
            continue
        # A value of the statement itself (a WHERE clause's constant), the same for every row.
        if bind.callable is not None or bind.value is None:
            return None
        constants[position] = process(bind.value) if process else bind.value
        processors.append(None)
    plan = [
        (name, processors[position])
        for position, name in enumerate(names)
        if position not in constants
    ]
    placed_constants = sorted(constants.items())
    parameters: list[tuple[Any, ...]] = []
    for row in rows:
        if len(row) != len(keys):
            return None
        values = [
            process(row[name]) if process is not None and row[name] is not None else row[name]
            for name, process in plan
        ]
        for position, value in placed_constants:
            values.insert(position, value)
        parameters.append(tuple(values))
    return str(compiled), parameters


def upsert_records(
    connection: Connection, dataset: Dataset, rows: Sequence[Mapping[str, Any]]
) -> int:
    """Insert or update rows by key, keeping whichever version is newest.

    Returns the number of rows given after collapsing duplicates within the batch.
    """
    if not rows:
        return 0
    table = dataset_table(dataset.id)
    key = [column_name(path) for path in dataset.key]
    version = column_name(dataset.version_field)
    newest: dict[tuple[Any, ...], Mapping[str, Any]] = {}
    # One statement may not touch a row twice (PostgreSQL refuses), so collapse first.
    for row in rows:
        row_key = tuple(row[k] for k in key)
        kept = newest.get(row_key)
        if kept is None or row[version] > kept[version]:
            newest[row_key] = row
    statement: Insert = _insert(connection, table)
    updates = {c.name: statement.excluded[c.name] for c in table.columns if c.name not in key}
    statement = statement.on_conflict_do_update(
        index_elements=key,
        set_=updates,
        where=table.c[version] < statement.excluded[version],
    )
    insert_many(connection, statement, list(newest.values()))
    return len(newest)


def upsert_rows(
    connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]], key: Sequence[str]
) -> None:
    """Insert rows, replacing every other column of a row whose key is already there."""
    if not rows:
        return
    statement: Insert = _insert(connection, table)
    updates = {c.name: statement.excluded[c.name] for c in table.columns if c.name not in key}
    insert_many(
        connection, statement.on_conflict_do_update(index_elements=list(key), set_=updates), rows
    )


@dataclass(frozen=True, slots=True)
class Consumed:
    """One clean record a sink consumed: where it was read, its key and its warehouse row."""

    topic: str
    partition: int
    offset: int
    record_key: str
    row: Mapping[str, Any]


def log_ingest(
    connection: Connection, dataset: Dataset, consumed: Sequence[Consumed], at: datetime
) -> None:
    """Note every consumed record in ``ingest_log``, once.

    An offset seen before is left alone (the batch was delivered again), and so is a record
    whose key, version and trace id are already logged at another offset: a connector that
    sent a batch again after a lost acknowledgement put the same source record on the topic
    twice, under the trace id it gave it when it read it.
    """
    if not consumed:
        return
    version = column_name(dataset.version_field)
    entries: dict[tuple[str, int, int], dict[str, Any]] = {}
    traced: set[tuple[str, datetime | None, str]] = set()
    for item in consumed:
        record_key = item.record_key[:RECORD_KEY_LENGTH]
        record_version = utc(item.row.get(version))
        trace_id = item.row.get("trace_id")
        if trace_id is not None:
            if (record_key, record_version, trace_id) in traced:
                continue
            traced.add((record_key, record_version, trace_id))
        entries[(item.topic, item.partition, item.offset)] = {
            "topic": item.topic,
            "partition": item.partition,
            "offset": item.offset,
            "dataset": dataset.id,
            "record_key": record_key,
            "version": record_version,
            "trace_id": trace_id,
            "ingested_at": at,
        }
    table = IngestLog.__table__
    if traced:
        logged: set[tuple[str, datetime | None, str]] = set()
        for chunk in chunks(sorted({key for key, _, _ in traced})):
            found = connection.execute(
                select(table.c.record_key, table.c.version, table.c.trace_id).where(
                    table.c.dataset == dataset.id,
                    member_of(connection, table.c.record_key, chunk),
                )
            )
            logged.update((key, utc(logged_version), trace) for key, logged_version, trace in found)
        entries = {
            where: entry
            for where, entry in entries.items()
            if (entry["record_key"], entry["version"], entry["trace_id"]) not in logged
        }
    statement: Insert = _insert(connection, table)
    insert_many(
        connection,
        statement.on_conflict_do_nothing(index_elements=["topic", "partition", "offset"]),
        list(entries.values()),
    )


def supersede_quarantine(connection: Connection, dataset_id: str, keys: Collection[str]) -> int:
    """Mark ``superseded`` the held rows of these keys that a stored valid record outdates.

    A held row is outdated when the ingest log has a record of its dataset and key whose
    version is at least the row's. A row whose version is unknown (its bytes never decoded,
    or the connector held a source row) is outdated by any: the source has since sent a valid
    record for the key. Both the sink and the quarantine agent call this, so the outcome does
    not depend on which of the valid record and the dead letter is written first.

    Returns:
        The number of rows that changed status.
    """
    wanted = sorted({key[:RECORD_KEY_LENGTH] for key in keys})
    log = IngestLog.__table__
    changed = 0
    for chunk in chunks(wanted):
        stored = exists().where(
            log.c.dataset == Quarantine.dataset,
            log.c.record_key == Quarantine.record_key,
            or_(Quarantine.record_version.is_(None), log.c.version >= Quarantine.record_version),
        )
        result = connection.execute(
            update(Quarantine)
            .where(
                Quarantine.dataset == dataset_id,
                Quarantine.status == HELD,
                member_of(connection, Quarantine.record_key, chunk),
                stored,
            )
            .values(status=SUPERSEDED)
        )
        changed += int(result.rowcount)
    return changed


def insert_quarantine(connection: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
    """Hold records back, one row per distinct dead letter (dataset, sha256 of its bytes).

    A dead letter whose row is ``replayed`` or ``released`` puts that row back to ``held``
    with the new stage, rules, failures, lineage and time: a replay failed again, or the same
    bytes failed once more. A row already ``held`` or ``superseded`` is left as it is, so a
    redelivered dead letter changes nothing. A row held now whose key already has a valid
    record of at least its version stored is ``superseded`` at once.
    """
    first: dict[tuple[Any, Any], Mapping[str, Any]] = {}
    # One statement may not touch a row twice (PostgreSQL refuses), so collapse first. The
    # first of the same bytes is kept, as across batches, where a held row is left as it is:
    # the row names where the record was first dead-lettered however often it comes again.
    for row in rows:
        first.setdefault((row["dataset"], row["fingerprint"]), row)
    if not first:
        return
    # Taken before any row is written, so a sink holding the lock never waits on our rows.
    lock(connection, PROJECTIONS_LOCK)
    table = Quarantine.__table__
    statement: Insert = _insert(connection, table)
    # Same dataset and fingerprint means the same payload, so only the verdict is updated.
    unchanged = {"id", "dataset", "fingerprint", "payload"}
    statement = statement.on_conflict_do_update(
        index_elements=["dataset", "fingerprint"],
        set_={c.name: statement.excluded[c.name] for c in table.columns if c.name not in unchanged},
        # Not ``NOT IN``: an expanding parameter cannot run as executemany.
        where=and_(table.c.status != HELD, table.c.status != SUPERSEDED),
    )
    insert_many(connection, statement, list(first.values()))
    keys_by_dataset: dict[str, set[str]] = {}
    for (dataset_id, _), row in first.items():
        if row.get("record_key") is not None:
            keys_by_dataset.setdefault(dataset_id, set()).add(row["record_key"])
    for dataset_id, keys in sorted(keys_by_dataset.items()):
        supersede_quarantine(connection, dataset_id, keys)


def release_quarantine(connection: Connection, dataset: Dataset, row_ids: Iterable[int]) -> int:
    """Mark quarantine rows ``released``: their replayed records are now in the warehouse.

    Call it in the transaction that upserts those records, so the warehouse and the
    quarantine never both count one record, nor neither.

    Returns:
        The number of rows that changed status.
    """
    ids = sorted(set(row_ids))
    if not ids:
        return 0
    result = connection.execute(
        update(Quarantine)
        .where(
            Quarantine.dataset == dataset.id,
            Quarantine.id.in_(ids),
            Quarantine.status != RELEASED,
        )
        .values(status=RELEASED)
    )
    return int(result.rowcount)


def empty_streamed_tables(connection: Connection, datasets: Iterable[Dataset]) -> None:
    """Delete every dataset row, every quarantined record and all derived from them.

    The derived tables go too: left alone, the ingest log would supersede a new dead letter
    with an old valid record of its key, and the views and indicators would count old rows.
    Tables not created yet are passed over.
    """
    tables = [
        *(dataset_table(dataset.id) for dataset in datasets),
        Quarantine.__table__,
        *DERIVED_TABLES,
    ]
    for table in tables:
        if connection.dialect.has_table(connection, table.name):
            connection.execute(delete(table))


def count_rows(engine: Engine, dataset: Dataset) -> tuple[int, int]:
    """(rows in the dataset's table, rows held in quarantine for it).

    Rows being replayed or released are not counted: a released record is counted in the
    table, and one being replayed is on its way to one or the other.
    """
    table = dataset_table(dataset.id)
    with engine.connect() as connection:
        stored = connection.execute(select(func.count()).select_from(table)).scalar_one()
        held = connection.execute(
            select(func.count())
            .select_from(Quarantine)
            .where(Quarantine.dataset == dataset.id, Quarantine.status == HELD)
        ).scalar_one()
    return int(stored), int(held)
