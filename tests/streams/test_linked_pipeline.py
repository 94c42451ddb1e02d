"""Linked views and indicators through the real worker: a death before its person, redelivered."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from citizens import person
from confluent_kafka import Producer
from sqlalchemy import Engine, func, select

from hub.runtime import Endpoints, Runtime, WorkerProcess
from hub.settings import Settings
from schemas import headers as h
from schemas.catalogue import Dataset, default_catalogue
from schemas.codec import AvroCodec
from schemas.registry.client import RegistryClient
from warehouse.db import create_warehouse_engine
from warehouse.projections import pending_civil_events
from warehouse.views import CitizenView, IndicatorDaily, IngestLog

CATALOGUE = default_catalogue()
PERSON = CATALOGUE.dataset("citizen.person")
DEATH = CATALOGUE.dataset("civil.death")
DECEASED = "042052001357"
WIDOW = "042155002468"

GRANDMOTHER = person(
    WIDOW,
    full_name="Phan Thị Lụa",
    date_of_birth=date(1955, 7, 19),
    updated_at=datetime(2025, 1, 6, 2, 0, tzinfo=UTC),
)
GRANDFATHER = person(
    DECEASED,
    full_name="Đặng Quốc Huy",
    gender="MALE",
    date_of_birth=date(1952, 10, 1),
    spouse_id=WIDOW,
    updated_at=datetime(2025, 1, 6, 2, 0, tzinfo=UTC),
)
DEATH_RECORD: dict[str, Any] = {
    "registering_agency_id": "000.05.31.H25",
    "book_number": "01/2025",
    "registration_number": "0044",
    "registering_commune_code": "18073",
    "registration_date": date(2025, 4, 2),
    "registration_type": "ON_TIME",
    "deceased": {
        "personal_id": DECEASED,
        "full_name": "Đặng Quốc Huy",
        "gender": "MALE",
        "date_of_birth": date(1952, 10, 1),
        "ethnicity": "Kinh",
        "nationality": "VN",
    },
    "date_of_death": date(2025, 3, 30),
    "place_of_death": {"commune_code": "18073", "address": "Số 21 đường Xuân Diệu"},
    "cause_of_death": None,
    "death_notice": {"number": "57/GBT", "issuer": "Trạm Y tế phường Nam Hà"},
    "updated_at": datetime(2025, 4, 2, 3, 0, tzinfo=UTC),
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Endpoints, WorkerProcess]]:
    workdir = tmp_path_factory.mktemp("hub")
    with (
        Runtime(Settings(workdir=workdir), CATALOGUE) as endpoints,
        WorkerProcess(endpoints, workdir / "logs" / "worker.log", (PERSON.id, DEATH.id)) as worker,
    ):
        yield endpoints, worker


def publish(
    endpoints: Endpoints, dataset: Dataset, key: str, record: dict[str, Any], read: int = 1
) -> None:
    """Publish a record as a connector would on its ``read``-th read of the source row."""
    with RegistryClient(endpoints.registry_url) as client:
        codec = AvroCodec(client)
        value = codec.encode(
            codec.register(f"{dataset.raw_topic}-value", dataset.avro_schema()), record
        )
    producer = Producer({"bootstrap.servers": endpoints.bootstrap_servers})
    headers = {
        h.SOURCE_SYSTEM: dataset.source_system,
        h.AGENCY_ID: dataset.owner_agency,
        # A connector gives every read of a source row its own trace id.
        h.TRACE_ID: f"trace-{key}" if read == 1 else f"trace-{key}-read-{read}",
    }
    producer.produce(
        dataset.raw_topic, key=key.encode(), value=value, headers=h.encode_headers(headers)
    )
    assert producer.flush(10) == 0


def wait_until(
    worker: WorkerProcess, engine: Engine, done: Callable[[Engine], bool], what: str
) -> None:
    deadline = time.monotonic() + 90
    while not done(engine):
        assert worker.running, worker.log_path.read_text()[-3000:]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def logged(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(IngestLog)).scalar_one())


def state(engine: Engine) -> tuple[list[Any], list[Any]]:
    with engine.connect() as connection:
        views = connection.execute(select(CitizenView).order_by(CitizenView.personal_id)).all()
        daily = IndicatorDaily.__table__
        counts = connection.execute(select(daily).order_by(*daily.primary_key.columns)).all()
    return [tuple(row) for row in views], [tuple(row) for row in counts]


def test_a_death_before_its_person_reaches_the_citizen_view_once(stack) -> None:
    endpoints, worker = stack
    engine = create_warehouse_engine(endpoints.warehouse_url)
    death_key = "000.05.31.H25|01/2025|0044"
    try:
        publish(endpoints, DEATH, death_key, DEATH_RECORD)
        wait_until(worker, engine, lambda e: logged(e) == 1, "the death in the ingest log")
        with engine.connect() as connection:
            [waiting] = pending_civil_events(connection)
        assert (waiting.personal_id, waiting.role, waiting.record_key) == (
            DECEASED,
            "deceased",
            death_key,
        )

        publish(endpoints, PERSON, WIDOW, GRANDMOTHER)
        publish(endpoints, PERSON, DECEASED, GRANDFATHER)
        wait_until(worker, engine, lambda e: logged(e) == 3, "the persons in the ingest log")
        views, counts = state(engine)
        by_id = {row[0]: row for row in views}
        with engine.connect() as connection:
            deceased = connection.execute(
                select(CitizenView).where(CitizenView.personal_id == DECEASED)
            ).one()
            assert pending_civil_events(connection) == []
        assert deceased.full_name == "Đặng Quốc Huy"
        assert (deceased.deceased, deceased.date_of_death) == (True, date(2025, 3, 30))
        sources = json.loads(deceased.sources)
        assert sources["deceased"]["trace_id"] == f"trace-{death_key}"
        assert sources["deceased"]["source_system"] == "civil_status"
        assert set(by_id) == {DECEASED, WIDOW}
        indicators = {(row[0], row[1], row[2]): row[4] for row in counts}
        assert indicators == {
            ("deaths_registered", "18073", date(2025, 4, 2)): 1,
            ("deaths_registered_on_time", "18073", date(2025, 4, 2)): 1,
        }

        # The source sends everything again: new reads, new messages, the same records.
        publish(endpoints, DEATH, death_key, DEATH_RECORD, read=2)
        publish(endpoints, PERSON, DECEASED, GRANDFATHER, read=2)
        wait_until(worker, engine, lambda e: logged(e) == 5, "the resent records")
        assert state(engine) == (views, counts)

        # A connector sends a message again after a lost acknowledgement: the same read, the
        # same trace id, a new offset. The ingest log already has it; nothing changes.
        publish(endpoints, PERSON, DECEASED, GRANDFATHER, read=2)
        publish(endpoints, PERSON, WIDOW, GRANDMOTHER)
        # Behind them on the same partition, a new read: once it is logged, they were seen.
        publish(endpoints, PERSON, WIDOW, GRANDMOTHER, read=3)
        wait_until(worker, engine, lambda e: logged(e) == 6, "the third read")
        assert state(engine) == (views, counts)
        with engine.connect() as connection:
            keys = connection.execute(select(IngestLog.record_key)).scalars().all()
        assert sorted(keys) == sorted([death_key, death_key, WIDOW, WIDOW, DECEASED, DECEASED])
    finally:
        engine.dispose()
