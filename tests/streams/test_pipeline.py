"""The stream worker end to end: a real broker, registry, faust worker and warehouse."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import date

import httpx
import pytest
from citizens import person
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from hub.broker import free_port
from hub.runtime import Endpoints, Runtime, WorkerProcess
from hub.settings import Settings
from schemas import headers as h
from schemas.catalogue import default_catalogue
from schemas.codec import AvroCodec
from schemas.registry.client import RegistryClient
from warehouse.db import create_warehouse_engine
from warehouse.models import Quarantine
from warehouse.store import count_rows

PERSON = default_catalogue().dataset("citizen.person")


METRICS_PORT = free_port()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Endpoints, WorkerProcess]]:
    workdir = tmp_path_factory.mktemp("hub")
    with (
        Runtime(Settings(workdir=workdir), default_catalogue()) as endpoints,
        WorkerProcess(
            endpoints, workdir / "logs" / "worker.log", metrics_port=METRICS_PORT
        ) as worker,
    ):
        yield endpoints, worker


GOOD = [
    person("042195000001"),
    person(
        "042095000002",
        full_name="Trần Văn Đức",
        gender="MALE",
        date_of_birth=date(1995, 1, 9),
    ),
    person("042301000003", date_of_birth=date(2001, 12, 31)),
]
DEFECTIVE = {
    "bad id shape": (person("04219500004"), "personal_id.shape"),
    "id and birth date disagree": (person("042188000005"), "personal_id.birth_year"),
    "unknown commune": (
        person("042195000006", permanent_residence={"commune_code": "99999", "address": "Thôn 1"}),
        "admin_unit.unknown",
    ),
    "missing name": (person("042195000007", full_name="   "), "required"),
    "future birth date": (
        person("042395000008", date_of_birth=date(2095, 1, 1)),
        "date.not_in_future",
    ),
}


def produce(endpoints: Endpoints, messages: list[tuple[str, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": endpoints.bootstrap_servers})
    for key, value in messages:
        producer.produce(
            PERSON.raw_topic,
            key=key.encode(),
            value=value,
            headers=h.encode_headers(
                {h.SOURCE_SYSTEM: "population", h.AGENCY_ID: PERSON.owner_agency, h.TRACE_ID: key}
            ),
        )
    assert producer.flush(10) == 0
    producer.close()


def wait_for(endpoints: Endpoints, worker: WorkerProcess, stored: int, held: int) -> None:
    engine = create_warehouse_engine(endpoints.warehouse_url)
    deadline = time.monotonic() + 90
    counts = (0, 0)
    try:
        while time.monotonic() < deadline:
            counts = count_rows(engine, PERSON)
            if counts == (stored, held):
                return
            assert worker.running, worker.log_path.read_text()[-3000:]
            time.sleep(0.2)
    finally:
        engine.dispose()
    raise AssertionError(f"warehouse and quarantine hold {counts}, expected {(stored, held)}")


def test_good_records_pass_and_every_defect_is_dead_lettered(stack, lgsp_read_topic) -> None:
    endpoints, worker = stack
    with RegistryClient(endpoints.registry_url) as client:
        codec = AvroCodec(client)
        schema_id = codec.register(f"{PERSON.raw_topic}-value", PERSON.avro_schema())
        good = [(r["personal_id"], codec.encode(schema_id, r)) for r in GOOD]
        bad = [(r["personal_id"], codec.encode(schema_id, r)) for r, _ in DEFECTIVE.values()]
    undecodable = {
        "random bytes": os.urandom(64),
        "wrong magic byte": b"\x07" + good[0][1][1:],
        "unknown schema id": b"\x00\x00\x01\x86\xa0" + good[0][1][5:],
        "truncated avro": good[0][1][:12],
    }
    produce(endpoints, good + bad + [(name, value) for name, value in undecodable.items()])
    wait_for(endpoints, worker, stored=3, held=len(bad) + len(undecodable))

    letters = lgsp_read_topic(endpoints.bootstrap_servers, PERSON.dlq_topic)
    by_key = {m.key.decode(): m for m in letters}
    for (record, rule), (key, value) in zip(DEFECTIVE.values(), bad, strict=True):
        headers = {k: v.decode() for k, v in by_key[key].headers}
        assert rule in headers[h.ERROR_RULE].split(","), (record, headers)
        assert headers[h.ERROR_STAGE] == "validate"
        assert headers[h.ORIGIN_TOPIC] == PERSON.raw_topic
        assert by_key[key].value == value, "the dead letter keeps the original bytes"
    expected_decode_rules = {
        "random bytes": "decode.",
        "wrong magic byte": "decode.wire_format",
        "unknown schema id": "decode.unknown_schema",
        "truncated avro": "decode.avro_body",
    }
    for name, value in undecodable.items():
        headers = {k: v.decode() for k, v in by_key[name].headers}
        assert headers[h.ERROR_STAGE] == "decode"
        assert headers[h.ERROR_RULE].startswith(expected_decode_rules[name])
        assert by_key[name].value == value

    # Replaying everything (a redelivery after a crash) changes nothing.
    produce(endpoints, good + bad + list(undecodable.items()))
    time.sleep(3)
    wait_for(endpoints, worker, stored=3, held=len(bad) + len(undecodable))
    assert worker.running


def test_a_valid_record_too_large_to_publish_is_held_and_the_stream_goes_on(
    stack, lgsp_read_topic
) -> None:
    endpoints, worker = stack
    engine = create_warehouse_engine(endpoints.warehouse_url)
    try:
        stored, held = count_rows(engine, PERSON)
    finally:
        engine.dispose()
    # Passes every rule, but its clean message would be over 1 MB, more than a subscriber
    # with standard settings (or Kafka's default topic limit) takes.
    huge = person(
        "042195000031",
        permanent_residence={"commune_code": "18073", "address": "Thôn Đông " * 150_000},
    )
    after = person("042195000032", full_name="Lê Thị Hoa")
    with RegistryClient(endpoints.registry_url) as client:
        codec = AvroCodec(client)
        schema_id = codec.register(f"{PERSON.raw_topic}-value", PERSON.avro_schema())
        messages = [(r["personal_id"], codec.encode(schema_id, r)) for r in (huge, after)]
    producer = Producer(
        {"bootstrap.servers": endpoints.bootstrap_servers, "message.max.bytes": 4_000_000}
    )
    for key, value in messages:
        producer.produce(PERSON.raw_topic, key=key.encode(), value=value)
    assert producer.flush(10) == 0
    wait_for(endpoints, worker, stored=stored + 1, held=held + 1)

    engine = create_warehouse_engine(endpoints.warehouse_url)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                select(Quarantine.stage, Quarantine.rules, Quarantine.reason).where(
                    Quarantine.record_key == huge["personal_id"]
                )
            ).one()
    finally:
        engine.dispose()
    assert (row.stage, row.rules) == ("sink", "publish.too_large")
    assert "1,000,000-byte limit" in row.reason
    clean_keys = {m.key for m in lgsp_read_topic(endpoints.bootstrap_servers, PERSON.clean_topic)}
    assert b"042195000032" in clean_keys
    assert b"042195000031" not in clean_keys


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape() -> Samples:
    try:
        text = httpx.get(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=5).text
    except httpx.TransportError:
        return {}
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_the_worker_serves_its_counts_latency_lag_and_readiness(stack) -> None:
    endpoints, worker = stack
    person_labels = (("dataset", PERSON.id), ("service", "worker"))
    records_in = ("lgsp_records_in_total", person_labels)
    stored = (
        "lgsp_records_out_total",
        (*person_labels[:1], ("outcome", "stored"), person_labels[1]),
    )
    dead = ("lgsp_dead_lettered_total", person_labels)
    quarantined = (
        "lgsp_records_out_total",
        (*person_labels[:1], ("outcome", "quarantined"), person_labels[1]),
    )
    latencies = ("lgsp_latency_seconds_count", person_labels)
    deadline = time.monotonic() + 60
    before = scrape()
    while not before and time.monotonic() < deadline:
        assert worker.running, worker.log_path.read_text()[-3000:]
        time.sleep(0.2)
        before = scrape()

    good = [person(f"04219500{n:04d}", full_name="Phạm Thị Ngọc Ánh") for n in range(100, 140)]
    bad = [person(f"0421950{n:04d}") for n in range(100, 110)]  # an id one digit short
    with RegistryClient(endpoints.registry_url) as client:
        codec = AvroCodec(client)
        schema_id = codec.register(f"{PERSON.raw_topic}-value", PERSON.avro_schema())
        produce(endpoints, [(r["personal_id"], codec.encode(schema_id, r)) for r in good + bad])

    def grew(samples: Samples, sample: tuple[str, tuple[tuple[str, str], ...]]) -> float:
        return samples.get(sample, 0.0) - before.get(sample, 0.0)

    after: Samples = {}
    while time.monotonic() < deadline:
        after = scrape()
        if grew(after, records_in) >= 50 and grew(after, quarantined) >= 10:
            break
        time.sleep(0.2)
    assert grew(after, records_in) == 50
    assert grew(after, stored) == 40
    assert grew(after, dead) == 10
    assert grew(after, quarantined) == 10
    assert grew(after, latencies) == 40
    # Publish to commit on an idle worker: well under the histogram's 30 s bucket.
    assert (
        grew(
            after,
            ("lgsp_latency_seconds_bucket", (*person_labels[:1], ("le", "30.0"), person_labels[1])),
        )
        == 40
    )
    assert after[("lgsp_lag_records", person_labels)] == 0

    ready = httpx.get(f"http://127.0.0.1:{METRICS_PORT}/readyz", timeout=10)
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"warehouse": "ok", "broker": "ok"}}
    alive = httpx.get(f"http://127.0.0.1:{METRICS_PORT}/healthz", timeout=10).json()
    assert alive == {"status": "ok", "service": "worker"}
