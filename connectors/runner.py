"""Runs a connector: map, serialise, publish in batches, store offsets once acknowledged.

Source rows are outside input: a row may hold megabytes of text, bytes that are not UTF-8 or
values nested too deeply to serialise. None of that may stop a run. A record larger than the
broker takes becomes a dead letter like any misfit, and a dead letter keeps the raw row whole
unless that would pass :data:`MAX_DEAD_LETTER_BYTES`, when its longest texts are cut.
"""

from __future__ import annotations

import json
import logging
import reprlib
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from connectors.base import Connector, ConnectorConfig, MappingError, SourceRecord
from connectors.offsets import OffsetStore
from schemas import headers as h
from schemas.catalogue import Dataset, get_path
from schemas.codec import AvroCodec, EncodeError

log = logging.getLogger("lgsp.connectors")

MAX_MESSAGE_BYTES = 1_000_000
"""Largest message the runner produces: librdkafka's default, and near Kafka's own (1 MiB)."""
MAX_DEAD_LETTER_BYTES = 256 * 1024
"""Raw rows above this are shortened in their dead letter; the headers say why it was cut."""
MAX_REASON_CHARS = 500
"""Longest reason a dead letter carries; messages quoting a huge value are cut to it."""
MAX_KEY_CHARS = 256
"""Longest dead-letter key; the quarantine keeps 128 characters of it."""
PAYLOAD_SHORTENED = "lgsp-payload-shortened"
"""Header set to ``true`` on a dead letter whose raw row had its long texts cut."""
# What a shortened text keeps of itself, so a steward still recognises the row.
_KEPT_CHARS = 1024

_PREVIEW = reprlib.Repr()
_PREVIEW.maxstring = _PREVIEW.maxother = 200
_PREVIEW.maxlevel = 4


class PublishError(RuntimeError):
    """The broker did not acknowledge a batch; its offset was not stored."""


class _MessageTooLarge(ValueError):
    """The broker's size limit refuses a message before it is queued."""


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _shorten_texts(value: Any) -> Any:
    """``value`` with every text over ``_KEPT_CHARS`` cut, saying how much was cut."""
    if isinstance(value, str) and len(value) > _KEPT_CHARS:
        return f"{value[:_KEPT_CHARS]}... [{len(value) - _KEPT_CHARS} more characters cut]"
    if isinstance(value, bytes) and len(value) > _KEPT_CHARS:
        return f"{value[:_KEPT_CHARS]!r}... [{len(value) - _KEPT_CHARS} more bytes cut]"
    if isinstance(value, dict):
        return {key: _shorten_texts(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_shorten_texts(item) for item in value]
    return value


def _json_bytes(value: Any) -> bytes:
    # Text a source decoded with surrogateescape (bytes that are not UTF-8) is written as
    # \udcXX escapes rather than failing the dead letter that reports it.
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text.encode("utf-8", errors="backslashreplace")


def dead_letter_payload(row: Mapping[str, Any]) -> tuple[bytes, bool]:
    """The raw row as a dead letter carries it, and whether it had to be shortened.

    JSON of the row as read; a row whose JSON would pass :data:`MAX_DEAD_LETTER_BYTES` has its
    long texts cut, and one too deeply nested to serialise is kept as a short preview.
    """
    try:
        payload = _json_bytes(dict(row))
        if len(payload) <= MAX_DEAD_LETTER_BYTES:
            return payload, False
        payload = _json_bytes(_shorten_texts(dict(row)))
    except (RecursionError, TypeError, ValueError):
        # Nested too deeply for the encoder, keys that do not sort (1 and "a"), or circular.
        payload = _json_bytes({"unserialisable_row": _PREVIEW.repr(dict(row))})
    if len(payload) > MAX_DEAD_LETTER_BYTES:
        payload = _json_bytes({"row_preview": _clip(_PREVIEW.repr(dict(row)), _KEPT_CHARS)})
    return payload, True


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
                "message.max.bytes": MAX_MESSAGE_BYTES,
                "message.timeout.ms": int(flush_timeout_s * 1000),
            },
            logger=logging.getLogger("lgsp.connectors.librdkafka"),
        )
        # With the headers each was produced with: delivery reports carry none, and a message
        # sent again must keep its trace id, so the hub can tell a redelivery from a new record.
        self._undelivered: list[tuple[Message, dict[str, str], str]] = []

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
                self._produce(
                    self.dataset.raw_topic, record_key(self.dataset, record), value, base_headers
                )
            except (MappingError, EncodeError, _MessageTooLarge) as exc:
                self._dead_letter(source_record, exc, base_headers)
                continue
            self.stats.published += 1
        self._await_acknowledgements()
        self.offsets.save(self.connector.instance_name, batch[-1].offset)
        self.stats.batches += 1
        if self.on_batch is not None:
            self.on_batch(self.stats)

    def _dead_letter(
        self, source_record: SourceRecord, exc: Exception, base_headers: dict[str, str]
    ) -> None:
        message = str(exc)[: MAX_REASON_CHARS * 2]
        first_line = next((line for line in message.splitlines() if line.strip()), "")
        # A message quoting undecodable text holds surrogates, which headers cannot carry.
        reason = _clip(first_line or type(exc).__name__, MAX_REASON_CHARS)
        reason = reason.encode("utf-8", errors="backslashreplace").decode()
        if isinstance(exc, MappingError):
            rule, reason_vi = "source.mapping", f"Không ánh xạ được dòng dữ liệu nguồn: {reason}"
        elif isinstance(exc, _MessageTooLarge):
            rule, reason_vi = "source.size", f"Bản ghi vượt quá kích thước tối đa: {reason}"
        else:
            rule, reason_vi = "source.schema", f"Bản ghi không khớp lược đồ Avro: {reason}"
        failure = {"rule": rule, "field": "", "reason": reason, "reason_vi": reason_vi}
        error_headers = {**base_headers, **h.error_headers("connector", [failure])}
        payload, shortened = dead_letter_payload(source_record.row)
        if shortened:
            error_headers[PAYLOAD_SHORTENED] = "true"
        row_key = self.connector.row_key(source_record.row, self.dataset.key)
        # Keys of undecodable rows hold surrogates; logs and Kafka take escapes instead.
        key = _clip(row_key, MAX_KEY_CHARS).encode("utf-8", errors="backslashreplace").decode()
        log.info("%s: dead letter for %s: %s", self.connector.instance_name, key, reason)
        self._produce(self.dataset.dlq_topic, key, payload, error_headers)
        self.stats.dead_lettered += 1

    def _produce(self, topic: str, key: str, value: bytes, headers: dict[str, str]) -> None:
        """Queue one message.

        Raises:
            _MessageTooLarge: Key, value and headers together pass the size limit.
        """
        encoded_key = key.encode("utf-8", errors="backslashreplace")
        while True:
            try:
                self._producer.produce(
                    topic,
                    key=encoded_key,
                    value=value,
                    headers=h.encode_headers(headers),
                    on_delivery=partial(self._on_delivery, headers),
                )
                return
            except BufferError:
                # The local queue is full: let deliveries drain, then try again.
                self._producer.poll(0.1)
            except KafkaException as exc:
                error = exc.args[0] if exc.args else None
                if isinstance(error, KafkaError) and error.code() == KafkaError.MSG_SIZE_TOO_LARGE:
                    size = len(encoded_key) + len(value)
                    raise _MessageTooLarge(
                        f"the record is {size} bytes encoded, over the {MAX_MESSAGE_BYTES}-byte "
                        "message limit"
                    ) from exc
                raise

    def _on_delivery(
        self, headers: dict[str, str], error: KafkaError | None, message: Message
    ) -> None:
        if error is not None:
            self._undelivered.append((message, headers, str(error)))

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
            reason = failed[0][2] if failed else f"{remaining} messages unacknowledged"
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
            for message, headers, _ in failed:
                self._produce(
                    message.topic(),
                    (message.key() or b"").decode("utf-8"),
                    message.value() or b"",
                    headers,
                )
