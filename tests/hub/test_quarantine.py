"""``lgsp quarantine``: a real broker, registry, worker and warehouse, one worker for the module.

The module holds five records (one stored, four in quarantine) and the tests read and replay
them in file order: the listing tests come before the replays that change statuses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from citizens import person
from confluent_kafka import Producer
from fastavro import parse_schema
from sqlalchemy import select

from hub.quarantine import (
    QuarantineQuery,
    await_outcomes,
    list_quarantine,
    replay,
    show_quarantine,
    warehouse_engine,
)
from hub.runtime import Endpoints, Runtime, WorkerProcess
from hub.settings import Settings
from quality.rules import VN_TZ
from schemas import headers as h
from schemas.catalogue import CatalogueError, default_catalogue
from schemas.codec import AvroCodec, pack
from schemas.registry.client import RegistryClient
from warehouse.db import create_warehouse_engine, init_warehouse
from warehouse.models import Quarantine, dataset_table
from warehouse.store import count_rows, insert_quarantine

CATALOGUE = default_catalogue()
PERSON = CATALOGUE.dataset("citizen.person")


GOOD = person("042195000001")
UNKNOWN_COMMUNE = person(
    "042195000006", permanent_residence={"commune_code": "99999", "address": "Thôn 1"}
)
BAD_SHAPE = person("04219500004")
# Written with a schema the registry does not know yet; registering it later is the fix.
LATE_SCHEMA_RECORD = person("042195000009", full_name="Lê Văn Muộn")
CONNECTOR_ROW = {"Số định danh cá nhân": "042195000010", "Ngày sinh": "31/02/1995"}


def person_schema_with(field: str) -> dict:
    # A copy: the catalogue caches the schema it loads.
    schema = PERSON.avro_schema()
    extra = {"name": field, "type": ["null", "string"], "default": None}
    return {**schema, "fields": [*schema["fields"], extra]}


def lgsp(endpoints: Endpoints, *args: str) -> subprocess.CompletedProcess[str]:
    """The command as a user runs it, pointed at the module's hub as an external one."""
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", "quarantine", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **endpoints.environment(), "COLUMNS": "200"},
        check=False,
    )


def produce(endpoints: Endpoints, topic: str, key: str, value: bytes, headers: dict) -> None:
    producer = Producer({"bootstrap.servers": endpoints.bootstrap_servers})
    producer.produce(topic, key=key.encode(), value=value, headers=h.encode_headers(headers))
    assert producer.flush(10) == 0


def wait_for_counts(endpoints: Endpoints, worker: WorkerProcess, counts: tuple[int, int]) -> None:
    engine = create_warehouse_engine(endpoints.warehouse_url)
    deadline = time.monotonic() + 90
    try:
        while count_rows(engine, PERSON) != counts:
            assert worker.running, worker.log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, f"{count_rows(engine, PERSON)} != {counts}"
            time.sleep(0.2)
    finally:
        engine.dispose()


class Held:
    """The module's hub and the quarantine row ids of its held records."""

    def __init__(self, endpoints: Endpoints, worker: WorkerProcess, late_schema_id: int) -> None:
        self.endpoints = endpoints
        self.worker = worker
        self.late_schema_id = late_schema_id
        engine = create_warehouse_engine(endpoints.warehouse_url)
        with engine.connect() as connection:
            found = connection.execute(select(Quarantine.record_key, Quarantine.id))
            ids = {key: row_id for key, row_id in found}
        engine.dispose()
        self.unknown_commune = ids[UNKNOWN_COMMUNE["personal_id"]]
        self.bad_shape = ids[BAD_SHAPE["personal_id"]]
        self.late_schema = ids[LATE_SCHEMA_RECORD["personal_id"]]
        self.connector = ids[CONNECTOR_ROW["Số định danh cá nhân"]]

    @property
    def settings(self) -> Settings:
        """The module's hub as an external one: a replay publishes, the worker judges."""
        return Settings(
            bootstrap_servers=self.endpoints.bootstrap_servers,
            registry_url=self.endpoints.registry_url,
            warehouse_url=self.endpoints.warehouse_url,
            workdir=self.endpoints.workdir,
        )


@pytest.fixture(scope="module")
def held(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Held]:
    workdir = tmp_path_factory.mktemp("quarantine")
    with (
        Runtime(Settings(workdir=workdir), CATALOGUE) as endpoints,
        WorkerProcess(endpoints, workdir / "logs" / "worker.log", (PERSON.id,)) as worker,
        RegistryClient(endpoints.registry_url) as client,
    ):
        codec = AvroCodec(client)
        schema_id = codec.register(f"{PERSON.raw_topic}-value", PERSON.avro_schema())
        lineage = {h.SOURCE_SYSTEM: "population", h.AGENCY_ID: PERSON.owner_agency}
        for record in (GOOD, UNKNOWN_COMMUNE, BAD_SHAPE):
            key = record["personal_id"]
            value = codec.encode(schema_id, record)
            produce(endpoints, PERSON.raw_topic, key, value, {**lineage, h.TRACE_ID: key})
        failure = {
            "rule": "source.mapping",
            "field": "",
            "reason": "Ngày sinh '31/02/1995' is not a date",
            "reason_vi": "Không ánh xạ được dòng dữ liệu nguồn: Ngày sinh '31/02/1995' sai",
        }
        produce(
            endpoints,
            PERSON.dlq_topic,
            CONNECTOR_ROW["Số định danh cá nhân"],
            json.dumps(CONNECTOR_ROW, ensure_ascii=False).encode(),
            {**lineage, h.TRACE_ID: "connector", **h.error_headers("connector", [failure])},
        )
        wait_for_counts(endpoints, worker, (1, 3))
        # The registry numbers schemas in order, so the next new one gets the id after this.
        late_schema_id = client.register("test.throwaway-value", person_schema_with("a")) + 1
        late = pack(late_schema_id, parse_schema(person_schema_with("b")), LATE_SCHEMA_RECORD)
        key = LATE_SCHEMA_RECORD["personal_id"]
        produce(endpoints, PERSON.raw_topic, key, late, {**lineage, h.TRACE_ID: key})
        wait_for_counts(endpoints, worker, (1, 4))
        yield Held(endpoints, worker, late_schema_id)


def rows(held: Held, *args: str) -> list[dict]:
    result = lgsp(held.endpoints, "list", "--json", *args)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_list_prints_one_json_object_per_held_row(held: Held) -> None:
    listed = rows(held)
    assert {row["id"] for row in listed} == {
        held.unknown_commune,
        held.bad_shape,
        held.late_schema,
        held.connector,
    }
    by_id = {row["id"]: row for row in listed}
    commune = by_id[held.unknown_commune]
    assert set(commune) == {
        "id",
        "dataset",
        "key",
        "stage",
        "status",
        "rules",
        "failures",
        "source_system",
        "agency_id",
        "trace_id",
        "quarantined_at",
    }
    assert commune["dataset"] == PERSON.id
    assert commune["key"] == UNKNOWN_COMMUNE["personal_id"]
    assert (commune["stage"], commune["status"]) == ("validate", "held")
    assert commune["rules"] == ["admin_unit.unknown"]
    [failure] = commune["failures"]
    assert set(failure) == {"rule", "field", "reason", "reason_vi"}
    assert failure["field"] == "permanent_residence.commune_code"
    assert "99999" in failure["reason_vi"]
    assert failure["reason_vi"] != failure["reason"]
    assert commune["source_system"] == "population"
    assert commune["trace_id"] == UNKNOWN_COMMUNE["personal_id"]
    assert datetime.fromisoformat(commune["quarantined_at"]).utcoffset() == timedelta(hours=7)
    assert by_id[held.late_schema]["stage"] == "decode"
    assert by_id[held.late_schema]["rules"] == ["decode.unknown_schema"]
    assert by_id[held.connector]["stage"] == "connector"


def test_list_filters(held: Held) -> None:
    def ids(**filters: object) -> set[int]:
        engine = warehouse_engine(held.settings)
        try:
            entries, _ = list_quarantine(engine, CATALOGUE, QuarantineQuery(**filters))
        finally:
            engine.dispose()
        return {entry.id for entry in entries}

    assert ids(rule="admin_unit.unknown") == {held.unknown_commune}
    assert ids(rule="decode") == {held.late_schema}
    assert ids(rule="admin_unit") == {held.unknown_commune}
    assert ids(rule="admin") == set()
    assert len(ids(source_system="population", dataset=PERSON.id)) == 4
    assert len(ids(limit=2)) == 2
    assert ids(source_system="civil_status") == set()
    assert ids(dataset="civil.birth") == set()
    assert ids(status="released") == set()
    today = datetime.now(VN_TZ).date()
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert {row["id"] for row in rows(held, "--since", today.isoformat(), "--rule", "decode")} == {
        held.late_schema
    }
    assert rows(held, "--since", tomorrow, "--status", "all") == []


def test_the_table_shows_the_vietnamese_reason_with_the_english_one(held: Held) -> None:
    result = lgsp(held.endpoints, "list", "--rule", "admin_unit.unknown")
    assert result.returncode == 0, result.stderr
    assert UNKNOWN_COMMUNE["personal_id"] in result.stdout
    assert "không phải là mã đơn vị hành chính" in result.stdout
    assert "is not a commune code" in result.stdout
    assert "population" in result.stdout


def test_a_filter_naming_no_dataset_is_a_one_line_error(held: Held) -> None:
    result = lgsp(held.endpoints, "list", "--dataset", "citizen.nobody")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "unknown dataset 'citizen.nobody'" in lines[0]
    with pytest.raises(CatalogueError):
        replay(held.settings, CATALOGUE, dataset="citizen.nobody")


def test_show_prints_failures_lineage_origin_and_the_record(held: Held) -> None:
    result = lgsp(held.endpoints, "show", str(held.unknown_commune))
    assert result.returncode == 0, result.stderr
    shown = result.stdout
    for expected in (
        "admin_unit.unknown",
        "permanent_residence.commune_code",
        "không phải là mã đơn vị hành chính",
        "is not a commune code",
        "population",
        PERSON.owner_agency,
        UNKNOWN_COMMUNE["personal_id"],
        f"{PERSON.raw_topic} partition 0 offset",
        '"full_name": "Nguyễn Thị Hồng Nhung"',
        '"commune_code": "99999"',
        f"lgsp quarantine replay {held.unknown_commune}",
    ):
        assert expected in shown, expected

    detail = json.loads(lgsp(held.endpoints, "show", str(held.unknown_commune), "--json").stdout)
    assert detail["record"]["permanent_residence"]["commune_code"] == "99999"
    assert detail["source_row"] is None
    assert detail["origin_topic"] == PERSON.raw_topic
    assert isinstance(detail["origin_offset"], int)
    assert len(detail["fingerprint"]) == 64
    assert detail["payload_size"] > 5

    connector = json.loads(lgsp(held.endpoints, "show", str(held.connector), "--json").stdout)
    assert connector["record"] is None
    assert connector["source_row"] == CONNECTOR_ROW
    assert connector["origin_topic"] == PERSON.dlq_topic
    shown = lgsp(held.endpoints, "show", str(held.connector)).stdout
    assert "Source row" in shown
    assert "31/02/1995" in shown
    assert "fix it at the source" in shown
    assert "lgsp quarantine replay" not in shown

    missing = lgsp(held.endpoints, "show", "987654")
    assert missing.returncode == 2
    assert missing.stderr.strip() == "error: no quarantine row with id 987654"


def test_connector_stage_rows_are_refused_and_stay_held(held: Held) -> None:
    result = lgsp(held.endpoints, "replay", str(held.connector))
    assert result.returncode == 1, result.stderr
    assert "refused 1" in result.stdout
    assert "fix it at the source; the connector publishes the row again when it changes" in (
        " ".join(result.stdout.split())
    )
    outcome = replay(held.settings, CATALOGUE, rule="source.mapping")
    assert outcome.replayed == []
    assert [refusal.id for refusal in outcome.refused] == [held.connector]
    engine = warehouse_engine(held.settings)
    assert show_quarantine(engine, held.connector).status == "held"
    assert count_rows(engine, PERSON) == (1, 4)
    engine.dispose()


def test_replay_needs_a_selector(held: Held) -> None:
    result = lgsp(held.endpoints, "replay")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: say what to replay: row ids, --dataset, --rule or --all-held"
    )


def test_a_record_held_for_an_unknown_schema_is_released_once_it_is_registered(
    held: Held,
) -> None:
    with RegistryClient(held.endpoints.registry_url) as client:
        registered = client.register("test.late-value", person_schema_with("b"))
    assert registered == held.late_schema_id

    result = lgsp(held.endpoints, "replay", str(held.late_schema))
    assert result.returncode == 0, result.stderr
    assert "replayed 1: published" in result.stdout
    engine = warehouse_engine(held.settings)
    try:
        assert await_outcomes(engine, [held.late_schema], held.worker, timeout_s=60) == []
        assert show_quarantine(engine, held.late_schema).status == "released"
        table = dataset_table(PERSON.id)
        with engine.connect() as connection:
            stored = connection.execute(
                select(table.c.full_name, table.c.trace_id, table.c.source_system).where(
                    table.c.personal_id == LATE_SCHEMA_RECORD["personal_id"]
                )
            ).one()
        assert tuple(stored) == ("Lê Văn Muộn", LATE_SCHEMA_RECORD["personal_id"], "population")
        # What the demo reconciles: every record in the warehouse or held, none in both.
        assert count_rows(engine, PERSON) == (2, 3)
    finally:
        engine.dispose()
    assert held.late_schema not in {row["id"] for row in rows(held)}
    assert held.late_schema in {row["id"] for row in rows(held, "--status", "released")}


def test_a_record_replayed_unchanged_is_held_again_with_the_same_failures(held: Held) -> None:
    engine = warehouse_engine(held.settings)
    try:
        before = show_quarantine(engine, held.unknown_commune)
        outcome = replay(held.settings, CATALOGUE, rule="admin_unit.unknown")
        assert outcome.replayed == [held.unknown_commune]
        assert outcome.outcomes is None, "the external worker judges them later"
        assert await_outcomes(engine, outcome.replayed, held.worker, timeout_s=60) == []
        after = show_quarantine(engine, held.unknown_commune)
        with engine.connect() as connection:
            same_key = connection.execute(
                select(Quarantine.id).where(Quarantine.record_key == UNKNOWN_COMMUNE["personal_id"])
            ).all()
        assert len(same_key) == 1
        assert count_rows(engine, PERSON) == (2, 3)
    finally:
        engine.dispose()
    assert after.status == "held"
    assert after.failures == before.failures
    assert after.rules == before.rules
    assert after.fingerprint == before.fingerprint
    assert after.quarantined_at > before.quarantined_at
    assert after.origin_offset != before.origin_offset


def test_a_record_fixed_at_the_source_supersedes_its_held_row(held: Held) -> None:
    fixed = person(
        UNKNOWN_COMMUNE["personal_id"],
        permanent_residence={"commune_code": "18073", "address": "Thôn 1, phường Thành Sen"},
        updated_at=UNKNOWN_COMMUNE["updated_at"] + timedelta(days=1),
    )
    with RegistryClient(held.endpoints.registry_url) as client:
        codec = AvroCodec(client)
        value = codec.encode(
            codec.register(f"{PERSON.raw_topic}-value", PERSON.avro_schema()), fixed
        )
    key = fixed["personal_id"]
    lineage = {h.SOURCE_SYSTEM: "population", h.AGENCY_ID: PERSON.owner_agency, h.TRACE_ID: key}
    produce(held.endpoints, PERSON.raw_topic, key, value, lineage)
    # Stored, and no longer held: the queue counts only what still needs a steward.
    wait_for_counts(held.endpoints, held.worker, (3, 2))
    engine = warehouse_engine(held.settings)
    try:
        assert show_quarantine(engine, held.unknown_commune).status == "superseded"
        assert show_quarantine(engine, held.bad_shape).status == "held"
    finally:
        engine.dispose()
    assert held.unknown_commune not in {row["id"] for row in rows(held)}
    assert [row["id"] for row in rows(held, "--status", "superseded")] == [held.unknown_commune]

    result = lgsp(held.endpoints, "replay", str(held.unknown_commune))
    assert result.returncode == 1, result.stderr
    assert "superseded: a valid record of the same key" in " ".join(result.stdout.split())


def test_list_filters_on_both_databases(warehouse_url: str) -> None:
    engine = create_warehouse_engine(warehouse_url)
    init_warehouse(engine)
    now = datetime.now(UTC)

    def letter(number: int, rules: str, stage: str, at: datetime) -> dict:
        failures = [{"rule": r, "field": "", "reason": r, "reason_vi": r} for r in rules.split(",")]
        return {
            "dataset": PERSON.id,
            "fingerprint": f"{number:064d}",
            "stage": stage,
            "rules": rules,
            "reason": rules,
            "failures": json.dumps(failures),
            "record_key": f"key{number}",
            "source_system": "population",
            "payload": b"\x00\x00\x00\x00\x01",
            "status": "held",
            "quarantined_at": at,
        }

    with engine.begin() as connection:
        insert_quarantine(
            connection,
            [
                letter(1, "admin_unit.unknown", "validate", now),
                letter(2, "required,adminXunit.unknown", "validate", now),
                letter(3, "decode.unknown_schema", "decode", now - timedelta(days=3)),
                letter(4, "source.mapping", "connector", now),
            ],
        )

    def keys(**filters: object) -> list[str | None]:
        entries, _ = list_quarantine(engine, CATALOGUE, QuarantineQuery(**filters))
        return sorted(entry.key for entry in entries)

    try:
        # "_" is a wildcard to LIKE; the filter must not treat it as one.
        assert keys(rule="admin_unit.unknown") == ["key1"]
        assert keys(rule="decode") == ["key3"]
        assert keys(rule="required") == ["key2"]
        today = now.astimezone(VN_TZ).date()
        assert keys(since=today) == ["key1", "key2", "key4"]
        assert keys(since=today - timedelta(days=3)) == ["key1", "key2", "key3", "key4"]
        assert keys(limit=1) == ["key4"]
        assert keys(status="released") == []
        entries, total = list_quarantine(engine, CATALOGUE, QuarantineQuery(limit=1))
        assert (len(entries), total) == (1, 4)
    finally:
        engine.dispose()


def test_an_empty_work_directory_has_an_empty_queue(tmp_path: Path) -> None:
    engine = warehouse_engine(Settings(workdir=tmp_path))
    try:
        assert list_quarantine(engine, CATALOGUE, QuarantineQuery(status="all")) == ([], 0)
    finally:
        engine.dispose()
    assert replay(Settings(workdir=tmp_path), CATALOGUE, all_held=True).replayed == []
