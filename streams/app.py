"""The faust-streaming worker: a validate agent and a quarantine agent for each dataset.

The validate agent does a record's whole journey in the batch that consumed it from
``raw.<dataset>``: decode, rules, NFC; the warehouse rows, their ingest log, views and
indicators in one transaction; then ``clean.<dataset>`` (and ``shared.<dataset>`` with
personal data withheld) for what was stored and ``dlq.<dataset>`` for what was not, through
one batching producer. faust acks the batch's events, and so lets their offsets be committed,
only once the loop body has returned, after all of that is written and delivered: a crash
anywhere redelivers the batch, and redelivery changes nothing (upserts keep the newest
version, the ingest log one entry per raw offset).

Each record passes faust once. The earlier design sent clean records through a faust
``send`` and consumed them again in a sink agent (and again in a share agent): every pass
costs about 0.2 ms of faust machinery per record on this hardware, more than all the
hub's own work on it.

The quarantine agent reads ``dlq.<dataset>``, which also carries the connectors' dead
letters, into the quarantine table.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Final, Protocol

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, EventT
from pydantic import SecretStr
from sqlalchemy import Connection, Engine

from quality.rules import RuleSet
from schemas import headers as h
from schemas.catalogue import Dataset, default_catalogue
from schemas.codec import AvroCodec, EncodeError
from schemas.registry.client import RegistryClient
from streams.publisher import (
    CLEAN_MAX_BYTES,
    DEAD_LETTER_MAX_BYTES,
    MessageTooLarge,
    Outbox,
    Publisher,
    message_size,
)
from streams.sharing import Sharer
from streams.storing import write_or_refuse
from streams.verdicts import (
    Accepted,
    RowBuilder,
    Validator,
    quarantine_row,
    replay_of,
)
from warehouse.db import create_warehouse_engine
from warehouse.projections import store_clean_batch
from warehouse.store import Consumed, insert_quarantine, row_key

log = logging.getLogger("lgsp.streams")

VALIDATE_BATCH: Final = 2000
QUARANTINE_BATCH: Final = 2000
BATCH_WITHIN_S: Final = 0.1
"""How long a batch waits to fill: bounds the latency a record adds while the stream is slow."""
FETCH_MAX_WAIT_MS: Final = 100
"""How long the broker may hold a fetch that finds no new data.

faust hard-codes 1,500 ms. Tansu answers a waiting fetch only some time after new data
arrives (up to ~40 % of the wait, measured): with 1,500 ms the bench's p50 latency at 1,000
records/s was 1.7 s, with 100 ms 0.25 s (bench/README.md).
"""


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


class StreamMetrics(Protocol):
    """What the worker reports as it goes; ``hub.monitoring.HubMetrics`` serves it."""

    def records_in(self, dataset: str, count: int = 1) -> None: ...

    def records_out(self, dataset: str, outcome: str, count: int = 1) -> None: ...

    def dead_lettered(self, dataset: str, count: int = 1) -> None: ...

    def retried(self, dataset: str, target: str, count: int = 1) -> None: ...

    def lag(self, dataset: str, records: int) -> None: ...

    def latency(self, dataset: str, seconds: float) -> None: ...


class _Unobserved:
    """Metrics nobody reads: a worker started without a metrics port."""

    def records_in(self, dataset: str, count: int = 1) -> None:
        pass

    def records_out(self, dataset: str, outcome: str, count: int = 1) -> None:
        pass

    def dead_lettered(self, dataset: str, count: int = 1) -> None:
        pass

    def retried(self, dataset: str, target: str, count: int = 1) -> None:
        pass

    def lag(self, dataset: str, records: int) -> None:
        pass

    def latency(self, dataset: str, seconds: float) -> None:
        pass


def _text_headers(event: EventT) -> dict[str, str]:
    return h.decode_headers((event.headers or {}).items())


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: faust_aiokafka.Transport) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # faust passes a fixed fetch_max_wait_ms=1500 to aiokafka; the consumer reads its
        # copy only when it starts, which is after this.
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class HubApp(faust.App):
    """A faust app whose Kafka consumer waits :data:`FETCH_MAX_WAIT_MS` on an idle fetch."""

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)


def app_settings(
    app_id: str, bootstrap_servers: str, datadir: Path, partitions: int
) -> dict[str, Any]:
    """The faust settings of the worker; the bench's bare faust agent uses them too."""
    return {
        "id": app_id,
        "broker": f"kafka://{bootstrap_servers}",
        # Tansu completes a group join in half the session timeout; keep it short.
        "broker_session_timeout": 6,
        "broker_heartbeat_interval": 1,
        # Tansu has no transactions that faust's exactly_once could use; effects are made
        # idempotent in the warehouse instead.
        "processing_guarantee": "at_least_once",
        "producer_acks": -1,
        "consumer_auto_offset_reset": "earliest",
        "topic_partitions": partitions,
        "topic_allow_declare": False,
        "topic_disable_leader": True,
        "web_enabled": False,
        "store": "memory://",
        "datadir": str(datadir),
    }


def create_app(config: WorkerConfig, metrics: StreamMetrics | None = None) -> faust.App:
    """A faust app with a validate and a quarantine agent per dataset."""
    settings = app_settings(
        config.app_id, config.bootstrap_servers, config.workdir / "faust", config.partitions
    )
    app = HubApp(settings.pop("id"), **settings)
    catalogue = default_catalogue()
    codec = AvroCodec(RegistryClient(config.registry_url))
    engine = create_warehouse_engine(config.warehouse_url)
    publisher = Publisher(config.bootstrap_servers)
    for dataset_id in config.datasets or tuple(catalogue.dataset_ids):
        dataset = catalogue.dataset(dataset_id)
        sharer = (
            Sharer(dataset, codec, config.pseudonym_key)
            if config.pseudonym_key is not None
            else None
        )
        stage = DatasetStage(
            dataset,
            codec,
            engine,
            publisher,
            sharer,
            metrics=metrics,
            highwater=partial(_highwater, app),
        )
        raw = app.topic(dataset.raw_topic, key_serializer="raw", value_serializer="raw")
        dlq = app.topic(dataset.dlq_topic, key_serializer="raw", value_serializer="raw")
        app.agent(raw, name=f"validate.{dataset.id}")(stage.validate)
        app.agent(dlq, name=f"quarantine.{dataset.id}")(stage.quarantine)
    return app


def _highwater(app: faust.App, tp: TP) -> int | None:
    """The offset after the newest message of ``tp`` as of the last fetch."""
    try:
        return app.consumer.highwater(tp)
    except AssertionError:
        # aiokafka asserts the partition is still assigned: a rebalance has taken it away.
        return None


@dataclass
class _Stored:
    """An accepted record on its way to the warehouse and ``clean.*``."""

    event: EventT
    headers: h.Headers
    accepted: Accepted
    consumed: Consumed
    replay_of: int | None
    shared: tuple[bytes, bytes] | None


@dataclass
class _Letter:
    """A record on its way to ``dlq.*``: the event and the headers saying why."""

    event: EventT
    error_headers: dict[str, str]


def _failure(rule: str, reason: str, reason_vi: str) -> dict[str, str]:
    return {"rule": rule, "field": "", "reason": reason, "reason_vi": reason_vi}


class DatasetStage:
    """What the worker does with one dataset's topics; its methods are the faust agents."""

    def __init__(
        self,
        dataset: Dataset,
        codec: AvroCodec,
        engine: Engine,
        publisher: Publisher,
        sharer: Sharer | None,
        *,
        metrics: StreamMetrics | None = None,
        highwater: Callable[[TP], int | None] | None = None,
    ) -> None:
        self.dataset = dataset
        self.codec = codec
        self.engine = engine
        self.publisher = publisher
        self.sharer = sharer
        self.metrics: StreamMetrics = metrics or _Unobserved()
        self._highwater = highwater
        # Records behind the broker's end, per partition this worker reads.
        self._lag: dict[TP, int] = {}
        self.validator = Validator(dataset, codec, RuleSet.for_dataset(dataset))
        self.rows = RowBuilder(dataset)

    def _warehouse_retried(self) -> None:
        self.metrics.retried(self.dataset.id, "warehouse")

    async def validate(self, stream: faust.StreamT) -> None:
        async for events in stream.take_events(VALIDATE_BATCH, within=BATCH_WITHIN_S):
            await self.handle(events)

    async def quarantine(self, stream: faust.StreamT) -> None:
        async for events in stream.take_events(QUARANTINE_BATCH, within=BATCH_WITHIN_S):
            held = [
                quarantine_row(
                    self.dataset,
                    self.codec,
                    key=event.key,
                    value=event.value,
                    headers=_text_headers(event),
                    topic=event.message.topic,
                    partition=event.message.partition,
                    offset=event.message.offset,
                )
                for event in events
            ]
            await self._hold(held)
            self.metrics.records_out(self.dataset.id, "quarantined", len(held))

    async def handle(self, events: Sequence[EventT]) -> None:
        """One batch of ``raw.*``: judged, stored, published; returns once all is delivered."""
        self.metrics.records_in(self.dataset.id, len(events))
        stored: list[_Stored] = []
        letters: list[_Letter] = []
        for event in events:
            outcome = self._judge(event)
            (stored if isinstance(outcome, _Stored) else letters).append(outcome)
        refused = await asyncio.to_thread(
            write_or_refuse,
            self.engine,
            f"sink {self.dataset.id}",
            stored,
            self._store,
            self._warehouse_retried,
        )
        committed = time.time()
        outbox = self.publisher.outbox()
        for position, item in enumerate(stored):
            reason = refused.get(position)
            if reason is None:
                self._publish(outbox, item)
            else:
                failure = _failure(
                    "warehouse.refused",
                    f"the warehouse refused the record: {reason}",
                    f"Kho dữ liệu từ chối lưu bản ghi: {reason}",
                )
                letters.append(_Letter(item.event, h.error_headers("sink", [failure])))
        # A dead letter too large for the broker is held in quarantine straight away.
        held = [row for letter in letters if (row := self._dead_letter(outbox, letter))]
        if held:
            await self._hold(held)
        await asyncio.to_thread(outbox.deliver)
        self._observe(events, stored, refused, len(letters), outbox.retries, committed)

    def _observe(
        self,
        events: Sequence[EventT],
        stored: Sequence[_Stored],
        refused: dict[int, str],
        dead_lettered: int,
        broker_retries: int,
        committed: float,
    ) -> None:
        dataset = self.dataset.id
        self.metrics.records_out(dataset, "stored", len(stored) - len(refused))
        self.metrics.dead_lettered(dataset, dead_lettered)
        if broker_retries:
            self.metrics.retried(dataset, "broker", broker_retries)
        for position, item in enumerate(stored):
            # The raw message's timestamp is when its connector published it.
            published = item.event.message.timestamp
            if position not in refused and published:
                self.metrics.latency(dataset, committed - published)
        if self._highwater is not None:
            last: dict[TP, int] = {}
            for event in events:
                last[event.message.tp] = event.message.offset
            for tp, offset in last.items():
                end = self._highwater(tp)
                if end is None:
                    self._lag.pop(tp, None)
                else:
                    self._lag[tp] = max(end - offset - 1, 0)
            self.metrics.lag(dataset, sum(self._lag.values()))

    def _judge(self, event: EventT) -> _Stored | _Letter:
        verdict = self.validator.judge(event.value)
        if not isinstance(verdict, Accepted):
            return _Letter(event, h.error_headers(verdict.stage, verdict.failures))
        raw_headers = list((event.headers or {}).items())
        clean_size = message_size(event.key, verdict.value, raw_headers)
        shared: tuple[bytes, bytes] | None = None
        if self.sharer is not None:
            try:
                shared = self.sharer.message(verdict.record)
            except EncodeError:
                # Stored and published clean all the same; only the shared copy is missing.
                log.exception(
                    "share %s: withheld record (trace %s) does not fit the shared schema",
                    self.dataset.id,
                    _text_headers(event).get(h.TRACE_ID),
                )
        # The shared message carries the same headers as the clean one.
        shared_size = message_size(shared[0], shared[1], raw_headers) if shared else 0
        if max(clean_size, shared_size) > CLEAN_MAX_BYTES:
            size = max(clean_size, shared_size)
            failure = _failure(
                "publish.too_large",
                f"the clean record is {size:,} bytes, over the {CLEAN_MAX_BYTES:,}-byte limit "
                "of a message subscribers can read",
                f"Bản ghi sạch dài {size:,} byte, vượt giới hạn {CLEAN_MAX_BYTES:,} byte của "
                "một thông điệp",
            )
            return _Letter(event, h.error_headers("sink", [failure]))
        headers = _text_headers(event)
        row = self.rows.row(verdict.record, headers)
        message = event.message
        consumed = Consumed(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            # The quarantine keeps the message key: supersession compares the two.
            record_key=(
                event.key.decode("utf-8", errors="replace")
                if event.key
                else row_key(self.dataset, row)
            ),
            row=row,
        )
        return _Stored(event, raw_headers, verdict, consumed, replay_of(headers), shared)

    def _store(self, connection: Connection, items: Sequence[_Stored]) -> None:
        # One transaction for the rows, the ingest log, the quarantine's statuses, the views
        # and the indicators: a redelivered batch finds all of them done, or none.
        store_clean_batch(
            connection,
            self.dataset,
            [item.consumed for item in items],
            [item.replay_of for item in items if item.replay_of is not None],
        )

    def _publish(self, outbox: Outbox, item: _Stored) -> None:
        outbox.send(self.dataset.clean_topic, item.event.key, item.accepted.value, item.headers)
        if item.shared is not None and self.sharer is not None:
            key, value = item.shared
            outbox.send(self.sharer.topic, key, value, item.headers)

    def _dead_letter(self, outbox: Outbox, letter: _Letter) -> dict[str, Any] | None:
        """Queue a dead letter; the quarantine row to write instead if it is too large."""
        event, message = letter.event, letter.event.message
        origin = {
            h.ORIGIN_TOPIC: message.topic,
            h.ORIGIN_PARTITION: str(message.partition),
            h.ORIGIN_OFFSET: str(message.offset),
        }
        merged = {**_text_headers(event), **origin, **letter.error_headers}
        value = event.value or b""
        try:
            outbox.send(
                self.dataset.dlq_topic,
                event.key,
                value,
                h.encode_headers(merged),
                limit=DEAD_LETTER_MAX_BYTES,
            )
        except MessageTooLarge as exc:
            log.warning("%s: dead letter held in quarantine directly: %s", self.dataset.id, exc)
            return quarantine_row(
                self.dataset,
                self.codec,
                key=event.key,
                value=value,
                headers=merged,
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
            )
        return None

    async def _hold(self, rows: list[dict[str, Any]]) -> None:
        refused = await asyncio.to_thread(
            write_or_refuse,
            self.engine,
            f"quarantine {self.dataset.id}",
            rows,
            insert_quarantine,
        )
        for position, reason in refused.items():
            # Nothing is left to hold it: the dead letter stays in dlq.* for a steward.
            row = rows[position]
            log.error(
                "quarantine %s: the warehouse refused the dead letter at %s[%s]@%s: %s",
                self.dataset.id,
                row["origin_topic"],
                row["origin_partition"],
                row["origin_offset"],
                reason,
            )


class HubWorker(faust.Worker):
    """faust's worker without its progress spinner.

    The spinner's log handler sets the root logger to DEBUG so that it turns on every log
    line, and then every ``log.debug`` in faust and aiokafka (several per message) builds a
    record only to drop it: about 4 % of the worker's time.
    """

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None
        super().on_setup_root_logger(logger, level)


def run_worker(
    config: WorkerConfig,
    *,
    loglevel: str = "warn",
    logfile: Path | None = None,
    metrics: StreamMetrics | None = None,
) -> None:
    """Run the worker in the foreground until SIGTERM or Ctrl-C."""
    app = create_app(config, metrics)
    worker = HubWorker(
        app,
        loglevel=loglevel,
        logfile=str(logfile) if logfile else None,
        quiet=True,
    )
    worker.execute_from_commandline()
