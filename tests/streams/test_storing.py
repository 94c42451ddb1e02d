"""What the warehouse refuses is set apart and dead-lettered; the rest of the batch is stored."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from citizens import person
from confluent_kafka import Producer
from sqlalchemy import Connection, func, select

from hub.runtime import Endpoints, Runtime, WorkerProcess
from hub.settings import Settings
from schemas import headers as h
from schemas.catalogue import default_catalogue
from schemas.codec import AvroCodec
from schemas.registry.client import RegistryClient
from streams.storing import write_or_refuse
from streams.verdicts import RowBuilder
from warehouse.db import create_warehouse_engine, init_warehouse
from warehouse.models import Quarantine, dataset_table
from warehouse.projections import store_clean_batch
from warehouse.store import Consumed, count_rows
from warehouse.views import IngestLog

CATALOGUE = default_catalogue()
PERSON = CATALOGUE.dataset("citizen.person")
HEADERS = {h.SOURCE_SYSTEM: "population", h.AGENCY_ID: PERSON.owner_agency}
# Legal Avro text, but PostgreSQL text cannot hold a NUL character.
REFUSED_NAMES = {7: "Lê Văn\x00Tám", 12: "Phạm\x00Thị Mười Hai"}


def consumed(count: int) -> list[Consumed]:
    builder = RowBuilder(PERSON)
    items = []
    for number in range(count):
        record = person(
            f"0421950001{number:02d}",
            full_name=REFUSED_NAMES.get(number, f"Trần Thị Thu {number}"),
        )
        row = builder.row(record, {**HEADERS, h.TRACE_ID: f"trace-{number}"})
        items.append(Consumed(PERSON.raw_topic, 0, number, record["personal_id"], row))
    return items


def store(connection: Connection, items: list[Consumed]) -> None:
    store_clean_batch(connection, PERSON, items, at=datetime(2026, 9, 1, tzinfo=UTC))


def test_a_batch_the_warehouse_takes_is_stored_whole(sqlite_url: str) -> None:
    engine = create_warehouse_engine(sqlite_url)
    init_warehouse(engine)
    try:
        # SQLite holds a NUL in text, so nothing is refused there.
        assert write_or_refuse(engine, "test", consumed(20), store) == {}
        assert count_rows(engine, PERSON) == (20, 0)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_records_postgresql_refuses_are_handed_back_and_the_rest_stored(
    postgres_url: str,
) -> None:
    engine = create_warehouse_engine(postgres_url)
    init_warehouse(engine)
    try:
        items = consumed(20)
        refused = write_or_refuse(engine, "test", items, store)
        assert set(refused) == set(REFUSED_NAMES)
        assert all("NUL" in reason or "0x00" in reason for reason in refused.values()), refused
        assert all(len(reason) <= 300 for reason in refused.values())
        table = dataset_table(PERSON.id)
        with engine.connect() as connection:
            names = set(connection.execute(select(table.c.full_name)).scalars())
            logged = connection.execute(select(func.count()).select_from(IngestLog)).scalar_one()
        assert len(names) == 18
        assert "Trần Thị Thu 0" in names
        assert logged == 18, "the ingest log holds only what was stored"
        # Redelivered, the same batch changes nothing and is refused the same way.
        assert write_or_refuse(engine, "test", items, store) == refused
        assert count_rows(engine, PERSON) == (18, 0)
    finally:
        engine.dispose()


# --- through the worker ------------------------------------------------------------------------


@pytest.fixture
def postgres_hub(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Endpoints, WorkerProcess]]:
    settings = Settings(workdir=tmp_path, warehouse_url=postgres_url)
    with (
        Runtime(settings, CATALOGUE) as endpoints,
        WorkerProcess(endpoints, tmp_path / "logs" / "worker.log", (PERSON.id,)) as worker,
    ):
        yield endpoints, worker


def wait_until(worker: WorkerProcess, done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 90
    while not done():
        assert worker.running, worker.log_path.read_text(errors="replace")[-3000:]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


@pytest.mark.postgres
def test_the_worker_quarantines_what_postgresql_refuses_and_stores_the_rest(
    postgres_hub: tuple[Endpoints, WorkerProcess],
    lgsp_read_topic: Callable[..., list[Any]],
) -> None:
    endpoints, worker = postgres_hub
    records = [
        person(f"0421950002{number:02d}", full_name=REFUSED_NAMES.get(number, "Đỗ Văn Hùng"))
        for number in range(15)
    ]
    with RegistryClient(endpoints.registry_url) as client:
        codec = AvroCodec(client)
        schema_id = codec.register(f"{PERSON.raw_topic}-value", PERSON.avro_schema())
        values = {r["personal_id"]: codec.encode(schema_id, r) for r in records}
    producer = Producer({"bootstrap.servers": endpoints.bootstrap_servers})
    for key, value in values.items():
        producer.produce(
            PERSON.raw_topic,
            key=key.encode(),
            value=value,
            headers=h.encode_headers({**HEADERS, h.TRACE_ID: f"trace-{key}"}),
        )
    assert producer.flush(10) == 0

    engine = create_warehouse_engine(endpoints.warehouse_url)
    try:
        wait_until(worker, lambda: count_rows(engine, PERSON) == (13, 2), "13 stored, 2 held")
        with engine.connect() as connection:
            held = connection.execute(
                select(Quarantine.record_key, Quarantine.stage, Quarantine.rules)
            ).all()
    finally:
        engine.dispose()
    refused_keys = {records[number]["personal_id"] for number in REFUSED_NAMES}
    assert {row.record_key for row in held} == refused_keys
    for row in held:
        # The rules may learn to refuse control characters first; either way, a reason.
        assert (row.stage, row.rules) in {("sink", "warehouse.refused"), ("validate", row.rules)}
    letters = lgsp_read_topic(endpoints.bootstrap_servers, PERSON.dlq_topic)
    assert {m.key.decode() for m in letters} == refused_keys
    assert all(m.value == values[m.key.decode()] for m in letters), "original bytes"
    clean = lgsp_read_topic(endpoints.bootstrap_servers, PERSON.clean_topic)
    assert {m.key.decode() for m in clean} == set(values) - refused_keys
    assert worker.running
