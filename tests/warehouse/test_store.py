from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from schemas import headers as h
from schemas.catalogue import default_catalogue
from streams.verdicts import RowBuilder
from warehouse.db import create_warehouse_engine, init_warehouse
from warehouse.models import Quarantine, dataset_table
from warehouse.projections import store_clean_batch
from warehouse.store import (
    Consumed,
    count_rows,
    empty_streamed_tables,
    insert_quarantine,
    release_quarantine,
    upsert_records,
)
from warehouse.views import DERIVED_TABLES

PERSON = default_catalogue().dataset("citizen.person")
HEADERS = {h.SOURCE_SYSTEM: "population", h.AGENCY_ID: "000.00.10.H25", h.TRACE_ID: "t1"}


def person(name: str, updated_at: datetime, personal_id: str = "042090001234") -> dict:
    return {
        "personal_id": personal_id,
        "full_name": name,
        "date_of_birth": date(1990, 5, 17),
        "gender": "MALE",
        "ethnicity": "Kinh",
        "nationality": "VN",
        "birth_registration_commune_code": "18073",
        "permanent_residence": {"commune_code": "18073", "address": "Số 12 đường Phan Đình Phùng"},
        "current_residence": None,
        "father_id": None,
        "mother_id": None,
        "spouse_id": None,
        "eid_level": 2,
        "updated_at": updated_at,
    }


def stored_names(engine) -> list[str]:
    table = dataset_table(PERSON.id)
    with engine.connect() as connection:
        return list(
            connection.execute(select(table.c.full_name).order_by(table.c.personal_id)).scalars()
        )


def test_replaying_a_batch_changes_nothing(warehouse_url: str) -> None:
    engine = create_warehouse_engine(warehouse_url)
    init_warehouse(engine)
    builder = RowBuilder(PERSON)
    moment = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    batch = [
        builder.row(person("Nguyễn Văn Hùng", moment), HEADERS),
        builder.row(person("Trần Thị Hồng Nhung", moment, "042195000321"), HEADERS),
    ]
    for _ in range(3):
        with engine.begin() as connection:
            upsert_records(connection, PERSON, batch)
    assert count_rows(engine, PERSON) == (2, 0)
    assert stored_names(engine) == ["Nguyễn Văn Hùng", "Trần Thị Hồng Nhung"]
    engine.dispose()


def test_an_older_version_never_overwrites_a_newer_one(warehouse_url: str) -> None:
    engine = create_warehouse_engine(warehouse_url)
    init_warehouse(engine)
    builder = RowBuilder(PERSON)
    moment = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    with engine.begin() as connection:
        upsert_records(connection, PERSON, [builder.row(person("Lê Văn Tám", moment), HEADERS)])
        older = person("Lê Văn Cũ", moment - timedelta(days=1))
        upsert_records(connection, PERSON, [builder.row(older, HEADERS)])
    assert stored_names(engine) == ["Lê Văn Tám"]
    with engine.begin() as connection:
        newer = person("Lê Văn Mới", moment + timedelta(seconds=1))
        upsert_records(connection, PERSON, [builder.row(newer, HEADERS)])
    assert stored_names(engine) == ["Lê Văn Mới"]
    engine.dispose()


def test_duplicates_within_one_batch_keep_the_newest(warehouse_url: str) -> None:
    engine = create_warehouse_engine(warehouse_url)
    init_warehouse(engine)
    builder = RowBuilder(PERSON)
    moment = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    batch = [
        builder.row(person("Phạm Đức Anh", moment + timedelta(minutes=5)), HEADERS),
        builder.row(person("Phạm Đức Cũ", moment), HEADERS),
    ]
    with engine.begin() as connection:
        assert upsert_records(connection, PERSON, batch) == 1
    assert stored_names(engine) == ["Phạm Đức Anh"]
    engine.dispose()


def dead_letter(**changes: object) -> dict:
    row = {
        "dataset": PERSON.id,
        "fingerprint": "ab" * 32,
        "stage": "validate",
        "rules": "personal_id.shape",
        "reason": "personal id 04209000123 is not 12 digits",
        "failures": "[]",
        "record_key": "04209000123",
        "record_version": None,
        "payload": b"\x00\x00\x00\x00\x01",
        "status": "held",
        "quarantined_at": datetime(2026, 3, 1, 8, 0, tzinfo=UTC),
    }
    row.update(changes)
    return row


def quarantine_rows(engine) -> list[dict]:
    with engine.connect() as connection:
        return [
            dict(row._mapping)
            for row in connection.execute(select(Quarantine).order_by(Quarantine.id))
        ]


def set_status(engine, status: str) -> None:
    with engine.begin() as connection:
        connection.execute(update(Quarantine).values(status=status))


def test_a_redelivered_dead_letter_is_held_once(warehouse_url: str) -> None:
    engine = create_warehouse_engine(warehouse_url)
    init_warehouse(engine)
    for _ in range(2):
        with engine.begin() as connection:
            insert_quarantine(connection, [dead_letter()])
    assert len(quarantine_rows(engine)) == 1
    engine.dispose()


def test_a_redelivery_changes_nothing_on_a_held_row(warehouse_url: str) -> None:
    engine = create_warehouse_engine(warehouse_url)
    init_warehouse(engine)
    with engine.begin() as connection:
        insert_quarantine(connection, [dead_letter()])
    before = quarantine_rows(engine)
    later = dead_letter(
        rules="required",
        reason="full_name is empty",
        quarantined_at=datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
        origin_offset=99,
    )
    with engine.begin() as connection:
        insert_quarantine(connection, [later])
    assert quarantine_rows(engine) == before
    assert count_rows(engine, PERSON) == (0, 1)
    engine.dispose()


@pytest.mark.parametrize("status", ["replayed", "released"])
def test_a_dead_letter_puts_a_replayed_or_released_row_back_on_hold(
    warehouse_url: str, status: str
) -> None:
    engine = create_warehouse_engine(warehouse_url)
    init_warehouse(engine)
    with engine.begin() as connection:
        insert_quarantine(connection, [dead_letter()])
    set_status(engine, status)
    assert count_rows(engine, PERSON) == (0, 0)
    failed_again = dead_letter(
        rules="personal_id.shape,required",
        reason="personal id 04209000123 is not 12 digits; full_name is empty",
        failures='[{"rule": "required"}]',
        origin_topic=PERSON.raw_topic,
        origin_offset=7,
        quarantined_at=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
    )
    # Twice in one batch, as a redelivery within a batch gives it: one statement may not
    # touch a row twice on PostgreSQL.
    with engine.begin() as connection:
        insert_quarantine(connection, [failed_again, failed_again])
    [row] = quarantine_rows(engine)
    assert row["status"] == "held"
    assert row["rules"] == "personal_id.shape,required"
    assert row["reason"] == failed_again["reason"]
    assert row["failures"] == failed_again["failures"]
    assert row["origin_offset"] == 7
    held_at = row["quarantined_at"]
    # SQLite gives back the stored UTC time without its zone.
    if held_at.tzinfo is None:
        held_at = held_at.replace(tzinfo=UTC)
    assert held_at == failed_again["quarantined_at"]
    assert count_rows(engine, PERSON) == (0, 1)
    engine.dispose()


def test_releasing_touches_only_the_dataset_s_rows_named(warehouse_url: str) -> None:
    engine = create_warehouse_engine(warehouse_url)
    init_warehouse(engine)
    other = default_catalogue().dataset("civil.birth")
    with engine.begin() as connection:
        insert_quarantine(
            connection,
            [
                dead_letter(fingerprint="01" * 32),
                dead_letter(fingerprint="02" * 32),
                dead_letter(dataset=other.id, fingerprint="03" * 32),
            ],
        )
    set_status(engine, "replayed")
    ids = [row["id"] for row in quarantine_rows(engine)]
    with engine.begin() as connection:
        assert release_quarantine(connection, PERSON, [ids[0], ids[2], ids[0]]) == 1
    with engine.begin() as connection:
        assert release_quarantine(connection, PERSON, [ids[0]]) == 0
    statuses = [row["status"] for row in quarantine_rows(engine)]
    assert statuses == ["released", "replayed", "replayed"]
    assert count_rows(engine, PERSON) == (0, 0)
    set_status(engine, "held")
    assert count_rows(engine, PERSON) == (0, 2)
    engine.dispose()


def store_valid(engine, record: dict, offset: int) -> None:
    row = RowBuilder(PERSON).row(record, HEADERS)
    consumed = Consumed(
        topic=PERSON.clean_topic,
        partition=0,
        offset=offset,
        record_key=record["personal_id"],
        row=row,
    )
    with engine.begin() as connection:
        store_clean_batch(connection, PERSON, [consumed])


def statuses(engine) -> dict[str, str]:
    return {row["fingerprint"][:2]: row["status"] for row in quarantine_rows(engine)}


KEY = "042090001234"
V1, V2, V3 = (datetime(2026, 3, day, 8, 0, tzinfo=UTC) for day in (1, 2, 3))


def test_a_stored_valid_record_supersedes_held_rows_not_newer(warehouse_url: str) -> None:
    engine = create_warehouse_engine(warehouse_url)
    init_warehouse(engine)
    other = default_catalogue().dataset("civil.birth")
    with engine.begin() as connection:
        insert_quarantine(
            connection,
            [
                dead_letter(fingerprint="a1" * 32, record_key=KEY, record_version=V1),
                dead_letter(fingerprint="a2" * 32, record_key=KEY, record_version=V2),
                dead_letter(fingerprint="a3" * 32, record_key=KEY, record_version=V3),
                # Undecodable bytes: no version to compare, and the key now has a valid record.
                dead_letter(fingerprint="a4" * 32, record_key=KEY, stage="decode"),
                dead_letter(fingerprint="a5" * 32, record_key="042090009999", record_version=V1),
                dead_letter(
                    fingerprint="a6" * 32, dataset=other.id, record_key=KEY, record_version=V1
                ),
            ],
        )
    assert count_rows(engine, PERSON) == (0, 5)
    store_valid(engine, person("Nguyễn Văn Hùng", V2, KEY), offset=0)
    assert statuses(engine) == {
        "a1": "superseded",
        "a2": "superseded",
        "a3": "held",
        "a4": "superseded",
        "a5": "held",
        "a6": "held",
    }
    assert count_rows(engine, PERSON) == (1, 2)
    engine.dispose()


def test_a_dead_letter_older_than_the_stored_record_is_superseded_at_once(
    warehouse_url: str,
) -> None:
    engine = create_warehouse_engine(warehouse_url)
    init_warehouse(engine)
    store_valid(engine, person("Nguyễn Văn Hùng", V2, KEY), offset=0)
    with engine.begin() as connection:
        insert_quarantine(
            connection,
            [
                dead_letter(fingerprint="b1" * 32, record_key=KEY, record_version=V1),
                dead_letter(fingerprint="b2" * 32, record_key=KEY, record_version=V3),
            ],
        )
    assert statuses(engine) == {"b1": "superseded", "b2": "held"}
    # Redelivered, the dead letter leaves its superseded row alone.
    with engine.begin() as connection:
        insert_quarantine(
            connection, [dead_letter(fingerprint="b1" * 32, record_key=KEY, record_version=V1)]
        )
    assert statuses(engine) == {"b1": "superseded", "b2": "held"}
    assert count_rows(engine, PERSON) == (1, 1)
    # The newer fix arrives: the last held row goes too.
    store_valid(engine, person("Nguyễn Văn Hùng", V3, KEY), offset=1)
    assert statuses(engine) == {"b1": "superseded", "b2": "superseded"}
    assert count_rows(engine, PERSON) == (1, 0)
    engine.dispose()


def test_a_replayed_record_stored_is_released_not_superseded(warehouse_url: str) -> None:
    engine = create_warehouse_engine(warehouse_url)
    init_warehouse(engine)
    with engine.begin() as connection:
        insert_quarantine(
            connection, [dead_letter(fingerprint="c1" * 32, record_key=KEY, record_version=V2)]
        )
    set_status(engine, "replayed")
    [held] = quarantine_rows(engine)
    row = RowBuilder(PERSON).row(person("Nguyễn Văn Hùng", V2, KEY), HEADERS)
    with engine.begin() as connection:
        store_clean_batch(
            connection,
            PERSON,
            [Consumed(PERSON.clean_topic, 0, 0, KEY, row)],
            released=[held["id"]],
        )
    assert statuses(engine) == {"c1": "released"}
    engine.dispose()


def test_emptied_the_warehouse_forgets_old_records_and_supersedes_nothing(
    warehouse_url: str,
) -> None:
    engine = create_warehouse_engine(warehouse_url)
    init_warehouse(engine)
    store_valid(engine, person("Nguyễn Văn Hùng", V2, KEY), offset=0)
    with engine.begin() as connection:
        empty_streamed_tables(connection, default_catalogue().datasets)
    assert count_rows(engine, PERSON) == (0, 0)
    with engine.connect() as connection:
        for table in (*DERIVED_TABLES, Quarantine.__table__):
            assert connection.execute(select(func.count()).select_from(table)).scalar() == 0
    # The same key dead-lettered after the reset is held, not superseded by the old record.
    with engine.begin() as connection:
        insert_quarantine(
            connection, [dead_letter(fingerprint="c1" * 32, record_key=KEY, record_version=V1)]
        )
    assert statuses(engine) == {"c1": "held"}
    engine.dispose()


def test_emptying_a_warehouse_not_made_yet_does_nothing(sqlite_url: str) -> None:
    engine = create_warehouse_engine(sqlite_url)
    with engine.begin() as connection:
        empty_streamed_tables(connection, default_catalogue().datasets)
    engine.dispose()
