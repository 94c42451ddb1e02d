"""The raw client path's producing half, run as its own process (``python -m bench.raw_producer``).

A hand-written loop with no connector SDK: read the population table with ``sqlite3``, map each
row with the population connector's own mapping, encode it with fastavro in the Confluent wire
format (no validation), produce it with confluent-kafka, flush once at the end. It carries the
same headers as the hub's connector. Prints one JSON line: the records produced, those skipped
because they could not be mapped or encoded, the CPU time spent, and ``time.monotonic()`` at the
first source read and after the final flush (the clock is system-wide, so the parent can
compare).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sqlite3
import struct
import sys
import time
import uuid
from datetime import UTC, datetime

from confluent_kafka import KafkaError, Message, Producer
from fastavro import parse_schema, schemaless_writer

from connectors.base import MappingError
from connectors.population import PopulationConfig, PopulationConnector
from connectors.runner import record_key
from schemas import headers as h
from schemas.catalogue import default_catalogue

PERSON = "citizen.person"
FLUSH_TIMEOUT_S = 60.0


def main(argv: list[str] | None = None) -> int:
    """Produce the population table to a topic; the JSON summary goes to standard output."""
    parser = argparse.ArgumentParser(prog="python -m bench.raw_producer")
    parser.add_argument("--database", required=True, help="path of the population SQLite file")
    parser.add_argument("--table", required=True)
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--schema-id", type=int, required=True)
    args = parser.parse_args(argv)

    dataset = default_catalogue().dataset(PERSON)
    schema = parse_schema(dataset.avro_schema())
    header = struct.pack(">bI", 0, args.schema_id)
    # Only its mapping is used: the same record the hub's connector would make.
    mapper = PopulationConnector(
        PopulationConfig(database_url=f"sqlite:///{args.database}", table=args.table)
    )
    failures: list[str] = []

    def on_delivery(error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            failures.append(str(error))

    # The hub connector's producer settings, so the two paths differ only in the code around.
    producer = Producer(
        {
            "bootstrap.servers": args.bootstrap_servers,
            "client.id": "lgsp-bench-raw-producer",
            "acks": "all",
            "enable.idempotence": False,
            "linger.ms": 20,
            "batch.num.messages": 10_000,
            "message.timeout.ms": int(FLUSH_TIMEOUT_S * 1000),
        },
        logger=logging.getLogger("lgsp.bench.librdkafka"),
    )
    source = sqlite3.connect(args.database)
    source.row_factory = sqlite3.Row
    produced = skipped = 0
    first_read, cpu = time.monotonic(), time.process_time()
    rows = source.execute(f"SELECT * FROM {args.table} ORDER BY updated_at, personal_id")
    for row in rows:
        try:
            record = mapper.map(dict(row))
            buffer = io.BytesIO()
            buffer.write(header)
            schemaless_writer(buffer, schema, record)
        # fastavro reports values that do not fit the schema as these.
        except (MappingError, TypeError, ValueError, AttributeError):
            skipped += 1
            continue
        headers = [
            (h.SOURCE_SYSTEM, b"population"),
            (h.AGENCY_ID, dataset.owner_agency.encode()),
            (h.CONNECTOR, b"bench-raw-path"),
            (h.TRACE_ID, uuid.uuid4().hex.encode()),
            (h.INGEST_TIME, datetime.now(UTC).isoformat(timespec="milliseconds").encode()),
        ]
        while True:
            try:
                producer.produce(
                    args.topic,
                    key=record_key(dataset, record).encode(),
                    value=buffer.getvalue(),
                    headers=headers,
                    on_delivery=on_delivery,
                )
                break
            except BufferError:
                producer.poll(0.05)
        produced += 1
    source.close()
    unsent = producer.flush(FLUSH_TIMEOUT_S)
    flushed, cpu = time.monotonic(), time.process_time() - cpu
    if unsent or failures:
        reason = failures[0] if failures else "flush timed out"
        print(f"{unsent} unsent, {len(failures)} failed: {reason}", file=sys.stderr)
        return 1
    summary = {"produced": produced, "skipped": skipped, "cpu_s": cpu}
    print(json.dumps({**summary, "first_read": first_read, "flushed": flushed}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
