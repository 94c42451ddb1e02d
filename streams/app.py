"""The faust-streaming worker: validate, sink, quarantine and share agents for each dataset."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust
from faust.types import EventT
from pydantic import SecretStr
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from quality.rules import RuleSet
from schemas import headers as h
from schemas.catalogue import Dataset, default_catalogue
from schemas.codec import AvroCodec, DecodeError
from schemas.registry.client import RegistryClient
from streams.sharing import wire_sharing
from streams.verdicts import (
    Accepted,
    RowBuilder,
    Validator,
    decode_failure,
    quarantine_row,
    replay_of,
)
from warehouse.db import create_warehouse_engine
from warehouse.projections import store_clean_batch
from warehouse.store import Consumed, insert_quarantine, row_key

log = logging.getLogger("lgsp.streams")

VALIDATE_BATCH = 1000
SINK_BATCH = 2000
BATCH_WITHIN_S = 0.25
MAX_RETRY_DELAY_S = 30.0


@dataclass(frozen=True)
class WorkerConfig:
    bootstrap_servers: str
    registry_url: str
    warehouse_url: str
    workdir: Path
    datasets: tuple[str, ...] = field(default_factory=tuple)
    partitions: int = 1
    app_id: str = "lgsp-hub"
    # Without a key the worker fills no shared topics; the CLI always passes one.
    pseudonym_key: SecretStr | None = None


def _text_headers(event: EventT) -> dict[str, str]:
    return h.decode_headers((event.headers or {}).items())


def write_until_done(engine: Engine, what: str, write: Callable[[Any], None]) -> None:
    """Run one transaction, retrying with backoff while the database is unavailable.

    The batch's offsets are held until this returns, so an outage delays and never loses.
    """
    delay = 0.5
    while True:
        try:
            with engine.begin() as connection:
                write(connection)
            return
        except OperationalError as exc:
            log.warning("%s: warehouse unavailable (%s); retrying in %.1fs", what, exc.orig, delay)
            time.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_DELAY_S)


def create_app(config: WorkerConfig) -> faust.App:
    """A faust app with three agents per dataset, wired to the given broker and warehouse."""
    app = faust.App(
        config.app_id,
        broker=f"kafka://{config.bootstrap_servers}",
        # Tansu completes a group join in half the session timeout; keep it short.
        broker_session_timeout=6,
        broker_heartbeat_interval=1,
        # Tansu has no transactions that faust's exactly_once could use; effects are made
        # idempotent in the warehouse instead.
        processing_guarantee="at_least_once",
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        topic_partitions=config.partitions,
        topic_allow_declare=False,
        topic_disable_leader=True,
        web_enabled=False,
        store="memory://",
        datadir=str(config.workdir / "faust"),
    )
    catalogue = default_catalogue()
    codec = AvroCodec(RegistryClient(config.registry_url))
    engine = create_warehouse_engine(config.warehouse_url)
    for dataset_id in config.datasets or tuple(catalogue.dataset_ids):
        dataset = catalogue.dataset(dataset_id)
        _wire_dataset(app, dataset, codec, engine)
        if config.pseudonym_key is not None:
            wire_sharing(app, dataset, codec, config.pseudonym_key)
    return app


def _wire_dataset(app: faust.App, dataset: Dataset, codec: AvroCodec, engine: Engine) -> None:
    def topic(name: str) -> faust.TopicT:
        return app.topic(name, key_serializer="raw", value_serializer="raw")

    raw, clean, dlq = topic(dataset.raw_topic), topic(dataset.clean_topic), topic(dataset.dlq_topic)
    validator = Validator(dataset, codec, RuleSet.for_dataset(dataset))
    rows = RowBuilder(dataset)

    async def dead_letter(event: EventT, stage_headers: dict[str, str]) -> None:
        message = event.message
        origin = {
            h.ORIGIN_TOPIC: message.topic,
            h.ORIGIN_PARTITION: str(message.partition),
            h.ORIGIN_OFFSET: str(message.offset),
        }
        merged = {**_text_headers(event), **origin, **stage_headers}
        await dlq.send(key=event.key, value=event.value or b"", headers=h.encode_headers(merged))

    async def validate(stream: faust.StreamT) -> None:
        async for events in stream.take_events(VALIDATE_BATCH, within=BATCH_WITHIN_S):
            for event in events:
                verdict = validator.judge(event.value)
                if isinstance(verdict, Accepted):
                    await clean.send(
                        key=event.key,
                        value=verdict.value,
                        headers=list((event.headers or {}).items()),
                    )
                else:
                    await dead_letter(event, h.error_headers(verdict.stage, verdict.failures))

    def store(connection: Connection, batch: list[Consumed], released: list[int]) -> None:
        # One transaction for the rows, the ingest log, the quarantine's statuses, the views
        # and the indicators: a redelivered batch finds all of them done, or none.
        store_clean_batch(connection, dataset, batch, released)

    async def sink(stream: faust.StreamT) -> None:
        async for events in stream.take_events(SINK_BATCH, within=BATCH_WITHIN_S):
            batch: list[Consumed] = []
            released: list[int] = []
            for event in events:
                try:
                    _, record = codec.decode(event.value or b"")
                except DecodeError as exc:
                    await dead_letter(event, h.error_headers("sink", [decode_failure(exc)]))
                    continue
                headers = _text_headers(event)
                row = rows.row(record, headers)
                message = event.message
                batch.append(
                    Consumed(
                        topic=message.topic,
                        partition=message.partition,
                        offset=message.offset,
                        # The quarantine keeps the message key: supersession compares the two.
                        record_key=(
                            event.key.decode("utf-8", errors="replace")
                            if event.key
                            else row_key(dataset, row)
                        ),
                        row=row,
                    )
                )
                row_id = replay_of(headers)
                if row_id is not None:
                    released.append(row_id)
            await asyncio.to_thread(
                write_until_done,
                engine,
                f"sink {dataset.id}",
                lambda connection, batch=batch, released=released: store(
                    connection, batch, released
                ),
            )

    async def quarantine(stream: faust.StreamT) -> None:
        async for events in stream.take_events(SINK_BATCH, within=BATCH_WITHIN_S):
            held = [
                quarantine_row(
                    dataset,
                    codec,
                    key=event.key,
                    value=event.value,
                    headers=_text_headers(event),
                    topic=event.message.topic,
                    partition=event.message.partition,
                    offset=event.message.offset,
                )
                for event in events
            ]
            await asyncio.to_thread(
                write_until_done,
                engine,
                f"quarantine {dataset.id}",
                lambda connection, held=held: insert_quarantine(connection, held),
            )

    app.agent(raw, name=f"validate.{dataset.id}")(validate)
    app.agent(clean, name=f"sink.{dataset.id}")(sink)
    app.agent(dlq, name=f"quarantine.{dataset.id}")(quarantine)


def run_worker(
    config: WorkerConfig, *, loglevel: str = "warn", logfile: Path | None = None
) -> None:
    """Run the worker in the foreground until SIGTERM or Ctrl-C."""
    app = create_app(config)
    worker = faust.Worker(
        app,
        loglevel=loglevel,
        logfile=str(logfile) if logfile else None,
        quiet=True,
    )
    worker.execute_from_commandline()
