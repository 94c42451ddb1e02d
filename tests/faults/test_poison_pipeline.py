"""The poison corpus end to end: a real broker, registry, connectors, worker and warehouse.

Bad bytes go straight onto every ``raw.*`` topic, interleaved with good records across datasets,
while every connector reads a poisoned source. Then: the worker neither crashes nor hangs, every
bad item is in its ``dlq.*`` topic and held in quarantine with a reason, every good record is in
the warehouse, and the worker's memory stays bounded.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from confluent_kafka import Producer
from poison import (
    CATALOGUE,
    DATASET_IDS,
    WireItem,
    count_by_kind,
    encoder,
    good_wire_records,
    poison_sources,
    report_counts,
    seed,
    wire_corpus,
)
from sqlalchemy import Engine, select

from connectors.offsets import OffsetStore
from connectors.runner import ConnectorRunner, record_key
from hub.pytest_plugin import read_topic
from hub.runtime import Endpoints, Runtime, WorkerProcess
from hub.settings import Settings
from schemas import headers as h
from schemas.catalogue import get_path
from schemas.codec import AvroCodec
from schemas.registry.client import RegistryClient
from warehouse.db import create_warehouse_engine
from warehouse.models import Quarantine, dataset_table
from warehouse.store import count_rows

GOOD_PER_DATASET = 12
# Every how many bad wire items a good record goes out.
GOOD_EVERY = 8
# Bounds, not speeds: a healthy worker is far inside both.
SETTLE_WITHIN_S = 150.0
MAX_WORKER_RSS_BYTES = 600 * 1024 * 1024


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Endpoints, WorkerProcess]]:
    workdir = tmp_path_factory.mktemp("poison-hub")
    with (
        Runtime(Settings(workdir=workdir), CATALOGUE) as endpoints,
        WorkerProcess(endpoints, workdir / "logs" / "worker.log") as worker,
    ):
        yield endpoints, worker


class Watch:
    """Samples the worker process's resident memory while the test waits on it."""

    def __init__(self, worker: WorkerProcess) -> None:
        self.worker = worker
        children = psutil.Process().children(recursive=True)
        self.process = next(p for p in children if "worker" in p.cmdline())
        self.peak_rss = 0

    def sample(self) -> None:
        self.peak_rss = max(self.peak_rss, self.process.memory_info().rss)

    def assert_alive(self) -> None:
        log = self.worker.log_path.read_text(encoding="utf-8", errors="replace")
        assert self.worker.running, log[-3000:]
        assert "Crashed" not in log, log[max(0, log.index("Crashed") - 200) :][:3000]


def settle(engine: Engine, watch: Watch, expected: dict[str, tuple[int, int]]) -> None:
    """Wait, bounded, until every dataset's (stored, held) counts are the expected ones."""
    deadline = time.monotonic() + SETTLE_WITHIN_S
    counts: dict[str, tuple[int, int]] = {}
    while time.monotonic() < deadline:
        watch.sample()
        watch.assert_alive()
        counts = {d: count_rows(engine, CATALOGUE.dataset(d)) for d in expected}
        if counts == expected:
            return
        time.sleep(0.5)
    raise AssertionError(f"after {SETTLE_WITHIN_S:.0f}s (stored, held) is {counts}, not {expected}")


def produce(endpoints: Endpoints, messages: list[tuple[str, str, bytes]], **config: Any) -> None:
    producer = Producer({"bootstrap.servers": endpoints.bootstrap_servers, **config})
    for number, (dataset_id, key, value) in enumerate(messages):
        dataset = CATALOGUE.dataset(dataset_id)
        lineage = {
            h.SOURCE_SYSTEM: "poison-fuzz",
            h.AGENCY_ID: dataset.owner_agency,
            h.TRACE_ID: f"poison-{number}",
        }
        producer.produce(
            dataset.raw_topic, key=key.encode(), value=value, headers=h.encode_headers(lineage)
        )
        producer.poll(0)
    assert producer.flush(30) == 0


def interleaved(
    corpus: list[WireItem], good: dict[str, list[tuple[str, bytes]]]
) -> list[tuple[str, str, bytes]]:
    """Per dataset, a good record after every few bad items; then datasets taken in turns."""
    streams = []
    for dataset_id in DATASET_IDS:
        bad = [item for item in corpus if item.dataset == dataset_id]
        waiting = list(good[dataset_id])
        stream: list[tuple[str, str, bytes]] = []
        for number, item in enumerate(bad):
            if number % GOOD_EVERY == 0 and waiting:
                key, value = waiting.pop()
                stream.append((dataset_id, key, value))
            stream.append((dataset_id, f"poison-{number}", item.value))
        stream += [(dataset_id, key, value) for key, value in waiting]
        streams.append(stream)
    return [
        message
        for turn in itertools.zip_longest(*streams)
        for message in turn
        if message is not None
    ]


def names_rule(rules: str, expected: str) -> bool:
    found = rules.split(",")
    return (
        any(r.startswith(expected) for r in found) if expected.endswith(".") else expected in found
    )


def test_poison_ends_in_quarantine_with_a_reason_and_good_records_arrive(
    hub: tuple[Endpoints, WorkerProcess], tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    endpoints, worker = hub
    watch = Watch(worker)
    with RegistryClient(endpoints.registry_url) as client:
        codec = AvroCodec(client)
        schema_ids = {
            d: codec.register(
                f"{CATALOGUE.dataset(d).raw_topic}-value", CATALOGUE.dataset(d).avro_schema()
            )
            for d in DATASET_IDS
        }
        corpus = wire_corpus(schema_ids)
        encode = encoder(schema_ids)
        good = {
            d: [
                (record_key(CATALOGUE.dataset(d), record), encode(d, record))
                for record in good_wire_records(d, GOOD_PER_DATASET, 900_001)
            ]
            for d in DATASET_IDS
        }
        produce(endpoints, interleaved(corpus, good))

        with poison_sources(tmp_path / "sources") as sources:
            for source in sources:
                stats = ConnectorRunner(
                    source.connector,
                    CATALOGUE.dataset(source.dataset),
                    bootstrap_servers=endpoints.bootstrap_servers,
                    codec=codec,
                    offsets=OffsetStore(tmp_path / "offsets"),
                ).run()
                assert (stats.published, stats.dead_lettered) == (source.good, len(source.bad))
    by_dataset = {source.dataset: source for source in sources}
    bad_wire = Counter(item.dataset for item in corpus)
    expected = {
        d: (
            GOOD_PER_DATASET + by_dataset[d].good,
            bad_wire[d] + len(by_dataset[d].bad),
        )
        for d in DATASET_IDS
    }

    engine = create_warehouse_engine(endpoints.warehouse_url)
    try:
        settle(engine, watch, expected)
        with engine.connect() as connection:
            held = connection.execute(
                select(Quarantine.dataset, Quarantine.fingerprint, Quarantine.stage)
                .add_columns(Quarantine.rules, Quarantine.reason)
                .where(Quarantine.status == "held")
            ).all()
            for dataset_id in DATASET_IDS:
                key = CATALOGUE.dataset(dataset_id).key
                table = dataset_table(dataset_id)
                columns = [table.c[path.replace(".", "_")] for path in key]
                stored = {tuple(row) for row in connection.execute(select(*columns))}
                wanted = {
                    tuple(get_path(record, path) for path in key)
                    for record in good_wire_records(dataset_id, GOOD_PER_DATASET, 900_001)
                }
                assert wanted <= stored, f"{dataset_id}: good records missing {wanted - stored}"
    finally:
        engine.dispose()

    quarantined = {(row.dataset, row.fingerprint): row for row in held}
    assert all(row.reason.strip() for row in held), "every held record says why"
    for item in corpus:
        row = quarantined.get((item.dataset, hashlib.sha256(item.value).hexdigest()))
        assert row is not None, f"{item.dataset} {item.kind} ({item.label}) is not in quarantine"
        assert names_rule(row.rules, item.rule), (item.label, row.rules)
    from_connectors = Counter(row.dataset for row in held if row.stage == "connector")
    assert from_connectors == {d: len(by_dataset[d].bad) for d in DATASET_IDS}

    for dataset_id in DATASET_IDS:
        letters = read_topic(
            endpoints.bootstrap_servers, CATALOGUE.dataset(dataset_id).dlq_topic, timeout_s=30
        )
        payloads = {letter.value for letter in letters}
        assert len(payloads) == expected[dataset_id][1]
        assert {item.value for item in corpus if item.dataset == dataset_id} <= payloads
        for letter in letters:
            headers = h.decode_headers(letter.headers)
            assert headers[h.ERROR_STAGE] in ("connector", "decode", "validate")
            assert headers[h.ERROR_REASON].strip()

    watch.sample()
    watch.assert_alive()
    assert watch.peak_rss < MAX_WORKER_RSS_BYTES, f"worker peaked at {watch.peak_rss:,} bytes"
    counts = count_by_kind(
        [
            *(item.kind for item in corpus),
            *(item.kind for source in sources for item in source.bad),
        ]
    )
    path = report_counts("pipeline", counts, tmp_path_factory.getbasetemp() / "poison-counts")
    print(f"worker peak RSS {watch.peak_rss / 2**20:.0f} MiB; counts in {path}")


def test_values_of_megabytes_are_quarantined_and_the_worker_carries_on(
    hub: tuple[Endpoints, WorkerProcess],
) -> None:
    endpoints, worker = hub
    watch = Watch(worker)
    person = CATALOGUE.dataset("citizen.person")
    with RegistryClient(endpoints.registry_url) as client:
        codec = AvroCodec(client)
        schema_id = codec.register(f"{person.raw_topic}-value", person.avro_schema())
        encode = encoder({person.id: schema_id})
        huge_id = {**seed(person.id), "personal_id": "0" * 2_000_000}
        huge_address = {
            **good_wire_records(person.id, 1, 950_001)[0],
            "permanent_residence": {"commune_code": "18073", "address": "Thôn " * 400_000},
        }
        sentinel = good_wire_records(person.id, 1, 950_002)[0]
        messages = [
            (person.id, "huge-id", encode(person.id, huge_id)),
            (person.id, "huge-address", encode(person.id, huge_address)),
            (person.id, sentinel["personal_id"], encode(person.id, sentinel)),
        ]
    engine = create_warehouse_engine(endpoints.warehouse_url)
    try:
        stored, held = count_rows(engine, person)
        produce(endpoints, messages, **{"message.max.bytes": 10_000_000})
        deadline = time.monotonic() + 20
        while count_rows(engine, person) != (stored + 1, held + 2):
            assert time.monotonic() < deadline, f"{count_rows(engine, person)}"
            watch.assert_alive()
            time.sleep(0.5)
    finally:
        engine.dispose()
