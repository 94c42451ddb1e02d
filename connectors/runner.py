"""Runs a connector: map, serialise, publish in batches, store offsets once acknowledged."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from connectors.base import Connector, ConnectorConfig, MappingError, SourceRecord
from connectors.offsets import OffsetStore
from schemas import headers as h
from schemas.catalogue import Dataset, get_path
from schemas.codec import AvroCodec, EncodeError

log = logging.getLogger("lgsp.connectors")


class PublishError(RuntimeError):
    """The broker did not acknowledge a batch; its offset was not stored."""


@dataclass
class RunStats:
    """Counters of one run; ``lag`` is what the source still holds after it, if known."""

    read: int = 0
    published: int = 0
    dead_lettered: int = 0
    retries: int = 0
    batches: int = 0
    lag: int | None = None


def record_key(dataset: Dataset, record: Mapping[str, Any]) -> str:
    """The Kafka key: the catalogue key fields' values, joined when there are several."""
    return "|".join(str(get_path(dict(record), path)) for path in dataset.key)


class ConnectorRunner:
    """Publishes a connector's records to ``raw.<dataset>`` and its misfits to ``dlq.<dataset>``."""

    def __init__(
        self,
        connector: Connector[ConnectorConfig],
        dataset: Dataset,
        *,
        bootstrap_servers: str,
        codec: AvroCodec,
        offsets: OffsetStore,
        on_batch: Callable[[RunStats], None] | None = None,
        flush_timeout_s: float = 30.0,
        max_retries: int = 5,
        retry_backoff_s: float = 1.0,
    ) -> None:
        self.connector = connector
        self.dataset = dataset
        self.codec = codec
        self.offsets = offsets
        self.on_batch = on_batch
        self.flush_timeout_s = flush_timeout_s
        self.max_retries = max_retries
        self.retry_backoff_s = retry_backoff_s
        self.stats = RunStats()
        self.agency_id = connector.config.agency_id or dataset.owner_agency
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap_servers,
                "client.id": f"lgsp-connector-{connector.instance_name}",
                "acks": "all",
                # Tansu has no InitProducerId, so the idempotent producer cannot start.
                "enable.idempotence": False,
                "linger.ms": 20,
                "batch.num.messages": 10_000,
                "message.timeout.ms": int(flush_timeout_s * 1000),
            },
            logger=logging.getLogger("lgsp.connectors.librdkafka"),
        )
        self._undelivered: list[tuple[Message, str]] = []

    def run(self) -> RunStats:
        """Publish everything after the stored offset; returns the counters of this run."""
        schema_id = self.codec.register(
            f"{self.dataset.raw_topic}-value", self.dataset.avro_schema()
        )
        since = self.offsets.load(self.connector.instance_name)
        if since is not None:
            log.info("%s resumes after offset %s", self.connector.instance_name, since)
        batch: list[SourceRecord] = []
        batch_size = self.connector.config.batch_size
        try:
            for source_record in self.connector.records(since):
                batch.append(source_record)
                if len(batch) >= batch_size:
                    self._publish(batch, schema_id)
                    batch = []
            if batch:
                self._publish(batch, schema_id)
        finally:
            # A batch cut short is not acknowledged here; its offset is not stored, so the
            # next run sends it again (at least once).
            self._producer.close()
        self.stats.lag = self.connector.backlog(self.offsets.load(self.connector.instance_name))
        return self.stats

    def _publish(self, batch: list[SourceRecord], schema_id: int) -> None:
        for source_record in batch:
            self.stats.read += 1
            base_headers = {
                h.SOURCE_SYSTEM: self.connector.source_system,
                h.AGENCY_ID: self.agency_id,
                h.CONNECTOR: self.connector.instance_name,
                h.TRACE_ID: uuid.uuid4().hex,
                h.INGEST_TIME: datetime.now(UTC).isoformat(timespec="milliseconds"),
            }
            try:
                record = self.connector.map(source_record.row)
                value = self.codec.encode(schema_id, record)
            except (MappingError, EncodeError) as exc:
                self._dead_letter(source_record, exc, base_headers)
                continue
            self._produce(
                self.dataset.raw_topic, record_key(self.dataset, record), value, base_headers
            )
            self.stats.published += 1
        self._await_acknowledgements()
        self.offsets.save(self.connector.instance_name, batch[-1].offset)
        self.stats.batches += 1
        if self.on_batch is not None:
            self.on_batch(self.stats)

    def _dead_letter(
        self, source_record: SourceRecord, exc: Exception, base_headers: dict[str, str]
    ) -> None:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, MappingError):
            rule, reason_vi = "source.mapping", f"Không ánh xạ được dòng dữ liệu nguồn: {reason}"
        else:
            rule, reason_vi = "source.schema", f"Bản ghi không khớp lược đồ Avro: {reason}"
        failure = {"rule": rule, "field": "", "reason": reason, "reason_vi": reason_vi}
        error_headers = {**base_headers, **h.error_headers("connector", [failure])}
        raw_row = json.dumps(
            dict(source_record.row), ensure_ascii=False, sort_keys=True, default=str
        )
        key = self.connector.row_key(source_record.row, self.dataset.key)
        log.info("%s: dead letter for %s: %s", self.connector.instance_name, key, reason)
        self._produce(self.dataset.dlq_topic, key, raw_row.encode("utf-8"), error_headers)
        self.stats.dead_lettered += 1

    def _produce(self, topic: str, key: str, value: bytes, headers: dict[str, str]) -> None:
        while True:
            try:
                self._producer.produce(
                    topic,
                    key=key.encode("utf-8"),
                    value=value,
                    headers=h.encode_headers(headers),
                    on_delivery=self._on_delivery,
                )
                return
            except BufferError:
                # The local queue is full: let deliveries drain, then try again.
                self._producer.poll(0.1)

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._undelivered.append((message, str(error)))

    def _await_acknowledgements(self) -> None:
        """Wait for the batch; send what failed again, with backoff, before giving up."""
        delay = self.retry_backoff_s
        for attempt in range(self.max_retries + 1):
            try:
                remaining = self._producer.flush(self.flush_timeout_s)
            except KafkaException as exc:
                raise PublishError(
                    f"{self.connector.instance_name}: publishing failed: {exc}"
                ) from exc
            if not remaining and not self._undelivered:
                return
            failed, self._undelivered = self._undelivered, []
            reason = failed[0][1] if failed else f"{remaining} messages unacknowledged"
            if attempt == self.max_retries:
                raise PublishError(
                    f"{self.connector.instance_name}: the broker did not acknowledge a batch "
                    f"after {self.max_retries} retries ({reason}); its offset was not stored, "
                    "so the next run publishes it again"
                )
            log.warning(
                "%s: %d messages not acknowledged (%s); retrying in %.1fs",
                self.connector.instance_name,
                len(failed),
                reason,
                delay,
            )
            time.sleep(delay)
            delay = min(delay * 2, 30.0)
            self.stats.retries += 1
            for message, _ in failed:
                self._produce(
                    message.topic(),
                    (message.key() or b"").decode("utf-8"),
                    message.value() or b"",
                    {
                        name: (value or b"").decode("utf-8")
                        for name, value in message.headers() or []
                    },
                )
