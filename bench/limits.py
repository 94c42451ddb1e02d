"""The limits the hub is compared with: the raw client path and a bare faust agent."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from fastavro import parse_schema, schemaless_reader
from sqlalchemy import Engine, MetaData, Table

from bench.monitor import cpu_seconds
from bench.report import BareFaust, RawPath
from bench.stack import BenchError, Hub, Source, log_tail, spawn_module, stop_child
from hub.topics import ensure_topics
from schemas import headers as h
from schemas.catalogue import FieldColumn, flatten, leaf_fields
from schemas.codec import HEADER_SIZE
from streams.app import VALIDATE_BATCH
from warehouse.models import dataset_table

PERSON = "citizen.person"
RAW_PATH_TOPIC = "bench.raw-path.citizen.person"
RAW_PATH_TABLE = "bench_raw_path_citizen_person"


def measure_raw_path(hub: Hub, source: Source) -> RawPath:
    """The population source through a hand-written loop into a copy of the warehouse table.

    The producer runs in its own process (``bench.raw_producer``), as the hub's connector runs
    apart from its worker; this process consumes with aiokafka (one assigned partition, no
    group), decodes with fastavro and inserts each fetched batch with one executemany. The clock
    runs from the producer's first source read to the commit of the last batch.
    """
    dataset = hub.catalogue.dataset(PERSON)
    ensure_topics(hub.endpoints.bootstrap_servers, [RAW_PATH_TOPIC])
    schema_id = hub.codec.register(f"{RAW_PATH_TOPIC}-value", dataset.avro_schema())
    # Same columns, key and types as the hub's table, so only the code around them differs.
    table = dataset_table(PERSON).to_metadata(MetaData(), name=RAW_PATH_TABLE)
    table.create(hub.warehouse.engine)
    try:
        return asyncio.run(_consume(hub, source, table, schema_id))
    finally:
        table.drop(hub.warehouse.engine)


async def _consume(hub: Hub, source: Source, table: Table, schema_id: int) -> RawPath:
    dataset = hub.catalogue.dataset(PERSON)
    schema = parse_schema(dataset.avro_schema())
    fields = leaf_fields(dataset.avro_schema())
    engine = hub.warehouse.engine
    partition = TopicPartition(RAW_PATH_TOPIC, 0)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=hub.endpoints.bootstrap_servers,
        client_id="lgsp-bench-raw-consumer",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        # Tansu answers a fetch late when data arrives while it waits (up to about 40% of the
        # wait, measured), so a short wait keeps the loop from idling once it catches up.
        fetch_max_wait_ms=50,
    )
    bench, broker_cpu = psutil.Process(), cpu_seconds(hub.broker_process)
    consumer_cpu = cpu_seconds(bench)
    await consumer.start()
    try:
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        producer = spawn_module(
            "bench.raw_producer",
            [
                f"--database={source.directory / source.manifest.source['database']}",
                f"--table={source.manifest.source['table']}",
                f"--bootstrap-servers={hub.endpoints.bootstrap_servers}",
                f"--topic={RAW_PATH_TOPIC}",
                f"--schema-id={schema_id}",
            ],
            hub.endpoints.workdir / "logs" / "raw-producer.log",
            stdout=subprocess.PIPE,
        )
        try:
            inserted, last_commit, summary = 0, 0.0, None
            consumed_cpu = used_broker_cpu = 0.0
            while summary is None or inserted < summary["produced"]:
                fetched = await consumer.getmany(
                    partition, timeout_ms=100, max_records=VALIDATE_BATCH
                )
                rows = [_row(message, schema, fields) for message in fetched.get(partition, [])]
                if rows:
                    await asyncio.to_thread(_insert, engine, table, rows)
                    last_commit = time.monotonic()
                    inserted += len(rows)
                    consumed_cpu = cpu_seconds(bench) - consumer_cpu
                    used_broker_cpu = cpu_seconds(hub.broker_process) - broker_cpu
                if summary is None and producer.poll() is not None:
                    summary = _producer_summary(producer, hub.endpoints.workdir)
                hub.deadline.check(f"raw client path ({inserted:,} records inserted)")
                hub.progress.update("raw", f"raw client path: {inserted:,} records inserted")
        finally:
            stop_child(producer)
    finally:
        await consumer.stop()
    if not inserted:
        raise BenchError("raw client path: the producer sent no record")
    return RawPath(
        records=inserted,
        produce_s=round(summary["flushed"] - summary["first_read"], 3),
        seconds=round(last_commit - summary["first_read"], 3),
        producer_cpu_s=round(summary["cpu_s"], 2),
        consumer_cpu_s=round(consumed_cpu, 2),
        broker_cpu_s=round(used_broker_cpu, 2),
    )


def _row(
    message: ConsumerRecord[bytes, bytes], schema: Any, fields: list[FieldColumn]
) -> dict[str, Any]:
    """The warehouse row of one message: the record's leaves and the lineage headers."""
    body = io.BytesIO(message.value or b"")
    body.seek(HEADER_SIZE)
    record = schemaless_reader(body, schema, None)
    row = flatten(record, fields)
    headers = {name: value.decode() for name, value in message.headers}
    row["source_system"] = headers[h.SOURCE_SYSTEM]
    row["agency_id"] = headers[h.AGENCY_ID]
    row["trace_id"] = headers[h.TRACE_ID]
    row["ingested_at"] = datetime.fromisoformat(headers[h.INGEST_TIME])
    return row


def _insert(engine: Engine, table: Table, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as connection:
        connection.execute(table.insert(), rows)


def _producer_summary(producer: subprocess.Popen[bytes], workdir: Path) -> dict[str, Any]:
    output = producer.stdout.read() if producer.stdout else b""
    if producer.returncode != 0 or not output.strip():
        raise BenchError(
            f"the raw path's producer exited with code {producer.returncode}:\n"
            f"{log_tail(workdir / 'logs' / 'raw-producer.log')}"
        )
    summary: dict[str, Any] = json.loads(output.splitlines()[-1])
    return summary


def measure_bare_faust(hub: Hub, topic: str, expected: int) -> BareFaust:
    """Count ``expected`` events of ``topic`` with a bare faust agent in its own process.

    The topic already holds the events, so this is how fast faust hands them to an agent.
    """
    workdir = hub.endpoints.workdir
    result = workdir / "bare-faust.json"
    log = workdir / "logs" / "bare-faust.log"
    spawned, broker_cpu = time.monotonic(), cpu_seconds(hub.broker_process)
    counter = spawn_module(
        "bench.faust_counter",
        [
            f"--app-id=lgsp-bench-count-{uuid.uuid4().hex[:8]}",
            f"--bootstrap-servers={hub.endpoints.bootstrap_servers}",
            f"--topic={topic}",
            f"--expected={expected}",
            f"--result={result}",
            f"--datadir={workdir / 'faust-counter'}",
        ],
        log,
    )
    try:
        while not result.exists():
            if counter.poll() is not None:
                raise BenchError(
                    f"the bare faust agent exited with code {counter.returncode}:\n{log_tail(log)}"
                )
            hub.deadline.check(f"bare faust agent counting {expected:,} events")
            time.sleep(0.1)
        broker_cpu = cpu_seconds(hub.broker_process) - broker_cpu
    finally:
        stop_child(counter)
    counted = json.loads(result.read_text())
    return BareFaust(
        events=counted["events"],
        seconds=round(counted["last"] - counted["first_in"], 3),
        startup_s=round(counted["first_in"] - spawned, 3),
        cpu_s=round(counted["cpu_s"], 2),
        broker_cpu_s=round(broker_cpu, 2),
    )
