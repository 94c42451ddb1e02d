"""``insert_many`` binds values itself on SQLite; it must store what SQLAlchemy stores."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from citizens import person
from sqlalchemy import Connection, MetaData, Table, insert, select, text
from sqlalchemy.dialects import sqlite

from schemas import headers as h
from schemas.catalogue import default_catalogue
from streams.verdicts import RowBuilder
from warehouse.db import create_warehouse_engine, init_warehouse
from warehouse.models import Quarantine, dataset_table
from warehouse.store import _positional_parameters, insert_many, insert_quarantine

PERSON = default_catalogue().dataset("citizen.person")


def rows() -> list[dict[str, Any]]:
    builder = RowBuilder(PERSON)
    made = []
    for number in range(5):
        record = person(
            f"0421950000{number:02d}",
            full_name=f"Nguyễn Thị Ngọc Ánh {number}",
            date_of_birth=date(1995, 1, 1) + timedelta(days=number),
            # A time with no microseconds and one with: both stored in one fixed format.
            updated_at=datetime(2026, 9, 1, 7, 30, number, number * 1000, tzinfo=UTC),
            current_residence=(
                {"commune_code": "18073", "address": "Thôn Đông, xã Thạch Hạ"} if number else None
            ),
        )
        made.append(
            builder.row(
                record,
                {
                    h.SOURCE_SYSTEM: "population",
                    h.TRACE_ID: f"trace-{number}",
                    h.INGEST_TIME: "2026-09-01T07:30:00.000+00:00",
                },
            )
        )
    return made


def stored(connection: Connection, table: Table) -> list[tuple[Any, ...]]:
    # Raw driver values, so a difference in how a value was bound (a date's text on SQLite)
    # shows, which reading through SQLAlchemy's result types could hide.
    return list(
        connection.exec_driver_sql(f'SELECT * FROM "{table.name}" ORDER BY personal_id').all()
    )


def test_rows_are_stored_exactly_as_sqlalchemy_stores_them(warehouse_url: str) -> None:
    engine = create_warehouse_engine(warehouse_url)
    init_warehouse(engine)
    table = dataset_table(PERSON.id)
    copy = table.to_metadata(MetaData(), name="person_as_sqlalchemy_binds")
    copy.create(engine)
    try:
        with engine.begin() as connection:
            insert_many(connection, insert(table), rows())
            connection.execute(insert(copy), rows())
            ours, theirs = stored(connection, table), stored(connection, copy)
        assert ours == theirs
        assert len(ours) == 5
        with engine.connect() as connection:
            names = connection.execute(select(table.c.full_name)).scalars().all()
        assert "Nguyễn Thị Ngọc Ánh 0" in names
    finally:
        copy.drop(engine)
        engine.dispose()


def test_sqlite_takes_the_fast_path_and_statement_constants_keep_their_values(
    sqlite_url: str,
) -> None:
    engine = create_warehouse_engine(sqlite_url)
    init_warehouse(engine)
    try:
        with engine.begin() as connection:
            assert _positional_parameters(
                connection, sqlite.insert(dataset_table(PERSON.id)), rows()
            )
        row = {
            "dataset": PERSON.id,
            "fingerprint": "f" * 64,
            "stage": "validate",
            "rules": "personal_id.shape",
            "reason": "số định danh sai",
            "failures": "[]",
            "record_key": "04219500000",
            "record_version": None,
            "source_system": "population",
            "agency_id": None,
            "trace_id": None,
            "origin_topic": PERSON.raw_topic,
            "origin_partition": 0,
            "origin_offset": 7,
            "payload": b"\x00\x01",
            "record_json": None,
            "status": "held",
            "quarantined_at": datetime(2026, 9, 1, tzinfo=UTC),
        }
        # The upsert's WHERE names two statuses as constants of the statement: a row being
        # replayed goes back to held, a held one is left alone.
        with engine.begin() as connection:
            insert_quarantine(connection, [row])
            connection.execute(text("UPDATE quarantine SET status = 'replayed'"))
            insert_quarantine(connection, [{**row, "stage": "decode"}])
            insert_quarantine(connection, [{**row, "stage": "sink"}])
            status, stage = connection.execute(select(Quarantine.status, Quarantine.stage)).one()
        assert (status, stage) == ("held", "decode")
    finally:
        engine.dispose()
