from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from schemas import headers as h
from schemas.catalogue import default_catalogue
from streams.verdicts import RowBuilder
from warehouse.db import create_warehouse_engine, init_warehouse
from warehouse.models import Quarantine, dataset_table
from warehouse.store import count_rows, insert_quarantine, upsert_records

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


def test_a_redelivered_dead_letter_is_held_once(warehouse_url: str) -> None:
    engine = create_warehouse_engine(warehouse_url)
    init_warehouse(engine)
    row = {
        "dataset": PERSON.id,
        "fingerprint": "ab" * 32,
        "stage": "validate",
        "rules": "personal_id.shape",
        "reason": "personal id 04209000123 is not 12 digits",
        "failures": "[]",
        "record_key": "04209000123",
        "payload": b"\x00\x00\x00\x00\x01",
        "status": "held",
        "quarantined_at": datetime.now(UTC),
    }
    for _ in range(2):
        with engine.begin() as connection:
            insert_quarantine(connection, [row])
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Quarantine)).scalar_one() == 1
    engine.dispose()
