"""The worker's producer: every ``clean.*``, ``shared.*`` and ``dlq.*`` message of a batch.

faust's own ``topic.send`` costs a trip through its producer machinery per message and sends
small requests; one confluent-kafka producer batches the whole of a stream batch's output
instead (librdkafka lingers and packs it into few requests, on its own threads). A batch's
messages are queued with :meth:`Outbox.send` as they are decided and awaited with
:meth:`Outbox.deliver` before the batch's offsets may be committed, so what a batch sends is
delivered at least once whatever happens to the worker.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import Final

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from schemas import headers as h

log = logging.getLogger("lgsp.streams.publisher")

CLEAN_MAX_BYTES: Final = 1_000_000
"""Largest message the worker publishes to ``clean.*`` and ``shared.*``.

The default limit of Kafka brokers, topics and clients: a subscriber with standard settings
must be able to read every message. A larger record is dead-lettered instead.
"""
DEAD_LETTER_MAX_BYTES: Final = 16 * 1024 * 1024
"""Largest dead letter. A dead letter carries the bytes it was read with, and those already
passed the broker once, so this is generous; a larger one goes to the quarantine directly."""
# How long one flush waits before the outbox looks at its own deliveries again.
_FLUSH_WAIT_S: Final = 0.2
DELIVERY_TIMEOUT_S: Final = 30.0
"""How long librdkafka tries one message before reporting it failed; the outbox sends it again."""
_MAX_RETRY_DELAY_S: Final = 30.0


class MessageTooLarge(ValueError):
    """Key, value and headers together pass the limit of the topic they are for."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"the message is {size:,} bytes, over the {limit:,}-byte limit")
        self.size = size
        self.limit = limit


def message_size(key: bytes | None, value: bytes, headers: h.Headers) -> int:
    """Bytes a message takes, as the size limits count them (framing aside)."""
    return (
        len(key or b"")
        + len(value)
        + sum(len(name.encode("utf-8")) + len(text) for name, text in headers)
    )


class Publisher:
    """One producer for the worker; thread-safe, as librdkafka is.

    Args:
        bootstrap_servers: The broker.
        client_id: How the broker names this producer.
        delivery_timeout_s: See :data:`DELIVERY_TIMEOUT_S`.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        client_id: str = "lgsp-worker",
        delivery_timeout_s: float = DELIVERY_TIMEOUT_S,
    ) -> None:
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap_servers,
                "client.id": client_id,
                "acks": "all",
                # Tansu has no InitProducerId, so the idempotent producer cannot start;
                # redelivery is made harmless downstream instead (upserts, ingest log).
                "enable.idempotence": False,
                # A batch is flushed as soon as it is decided (deliver), so lingering only
                # packs the messages queued while the batch is still being judged.
                "linger.ms": 5,
                "batch.num.messages": 10_000,
                "message.max.bytes": DEAD_LETTER_MAX_BYTES + 64 * 1024,
                "message.timeout.ms": int(delivery_timeout_s * 1000),
            },
            logger=logging.getLogger("lgsp.streams.librdkafka"),
        )

    def outbox(self) -> Outbox:
        """A new outbox for one batch's messages."""
        return Outbox(self._producer)

    def close(self, timeout_s: float = 10.0) -> None:
        """Send what is queued, for up to ``timeout_s``."""
        self._producer.flush(timeout_s)


class Outbox:
    """The messages of one batch: queued as decided, delivered together.

    Delivery reports may arrive on any thread that serves the producer (another batch's
    flush too), so they only append to lists, which is atomic in CPython; the counts are
    read from their lengths.
    """

    def __init__(self, producer: Producer) -> None:
        self._producer = producer
        self.sent = 0
        self.retries = 0
        self._queued = 0
        self._reported: list[None] = []
        self._failed: list[tuple[Message, h.Headers, str]] = []

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: h.Headers,
        *,
        limit: int = CLEAN_MAX_BYTES,
    ) -> None:
        """Queue one message; it goes out in the background.

        Raises:
            MessageTooLarge: The message passes ``limit``; nothing was queued.
        """
        size = message_size(key, value, headers)
        if size > limit:
            raise MessageTooLarge(size, limit)
        self._queue(topic, key, value, headers)
        self.sent += 1

    def _delivered(self, headers: h.Headers, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            # A delivery report carries no headers; a message sent again must keep its own.
            self._failed.append((message, headers, str(error)))
        self._reported.append(None)

    def _queue(self, topic: str, key: bytes | None, value: bytes, headers: h.Headers) -> None:
        while True:
            try:
                self._producer.produce(
                    topic,
                    key=key,
                    value=value,
                    headers=headers,
                    on_delivery=partial(self._delivered, headers),
                )
                self._queued += 1
                return
            except BufferError:
                # The local queue is full: let deliveries drain, then try again.
                self._producer.poll(0.05)
            except KafkaException as exc:
                error = exc.args[0] if exc.args else None
                if isinstance(error, KafkaError) and error.code() == KafkaError.MSG_SIZE_TOO_LARGE:
                    size = message_size(key, value, headers)
                    raise MessageTooLarge(size, DEAD_LETTER_MAX_BYTES) from exc
                raise

    def deliver(self) -> None:
        """Block until the broker has acknowledged every message of the outbox.

        Messages the broker did not take are sent again, with backoff, until it does: an
        outage delays the batch (whose offsets wait for this) and loses nothing. Run it in a
        thread, not on the event loop.
        """
        delay = 0.5
        while True:
            while self._pending():
                # Flushing also sends what is lingering at once.
                self._producer.flush(_FLUSH_WAIT_S)
            failed, self._failed = self._failed, []
            if not failed:
                return
            log.warning(
                "broker unavailable: %d messages not acknowledged (%s); retrying in %.1fs",
                len(failed),
                failed[0][2],
                delay,
            )
            time.sleep(delay)
            delay = min(delay * 2, _MAX_RETRY_DELAY_S)
            self.retries += len(failed)
            for message, headers, _ in failed:
                self._queue(message.topic() or "", message.key(), message.value() or b"", headers)

    def _pending(self) -> bool:
        return len(self._reported) < self._queued
