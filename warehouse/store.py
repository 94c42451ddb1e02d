"""Idempotent writes: replaying a batch, or an older version of a record, changes nothing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from sqlalchemy import Connection, Engine, Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from schemas.catalogue import Dataset, column_name
from warehouse.models import Quarantine, dataset_table

# Statuses of a quarantine row: in the queue, sent back through validation with the
# outcome pending, passed on replay and stored in the warehouse.
HELD: Final = "held"
REPLAYED: Final = "replayed"
RELEASED: Final = "released"


def _insert(connection: Connection, table: Table) -> Any:
    dialect = connection.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"the warehouse supports SQLite and PostgreSQL, not {dialect}")


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
    connection.execute(statement, list(newest.values()))
    return len(newest)


def insert_quarantine(connection: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
    """Hold records back, one row per distinct dead letter (dataset, sha256 of its bytes).

    A dead letter whose row is ``replayed`` or ``released`` puts that row back to ``held``
    with the new stage, rules, failures, lineage and time: a replay failed again, or the same
    bytes failed once more. A row already ``held`` is left as it is, so a redelivered dead
    letter changes nothing.
    """
    latest: dict[tuple[Any, Any], Mapping[str, Any]] = {}
    # One statement may not touch a row twice (PostgreSQL refuses), so collapse first.
    for row in rows:
        latest[(row["dataset"], row["fingerprint"])] = row
    if not latest:
        return
    table = Quarantine.__table__
    statement: Insert = _insert(connection, table)
    # Same dataset and fingerprint means the same payload, so only the verdict is updated.
    unchanged = {"id", "dataset", "fingerprint", "payload"}
    statement = statement.on_conflict_do_update(
        index_elements=["dataset", "fingerprint"],
        set_={c.name: statement.excluded[c.name] for c in table.columns if c.name not in unchanged},
        where=table.c.status != HELD,
    )
    connection.execute(statement, list(latest.values()))


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
