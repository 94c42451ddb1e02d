"""Idempotent writes: replaying a batch, or an older version of a record, changes nothing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from schemas.catalogue import Dataset, column_name
from warehouse.models import Quarantine, dataset_table


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
    """Hold records back; a redelivered dead letter (same bytes) lands on its existing row."""
    batch = list(rows)
    if not batch:
        return
    table = Quarantine.__table__
    statement = _insert(connection, table).on_conflict_do_nothing(
        index_elements=["dataset", "fingerprint"]
    )
    connection.execute(statement, batch)


def count_rows(engine: Engine, dataset: Dataset) -> tuple[int, int]:
    """(rows in the dataset's table, rows held in quarantine for it)."""
    table = dataset_table(dataset.id)
    with engine.connect() as connection:
        stored = connection.execute(select(func.count()).select_from(table)).scalar_one()
        held = connection.execute(
            select(func.count()).select_from(Quarantine).where(Quarantine.dataset == dataset.id)
        ).scalar_one()
    return int(stored), int(held)
