"""The worker's producer: a batch's messages delivered together, oversized ones refused."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from hub.broker import TansuBroker
from hub.topics import ensure_topics
from schemas import headers as h
from schemas.catalogue import Dataset
from streams.publisher import CLEAN_MAX_BYTES, MessageTooLarge, Publisher, message_size


def test_an_outbox_is_delivered_in_order_with_its_headers(
    broker: TansuBroker,
    lgsp_fresh_dataset: Callable[[str], Dataset],
    lgsp_read_topic: Callable[..., list[Any]],
) -> None:
    dataset = lgsp_fresh_dataset("citizen.person")
    publisher = Publisher(broker.bootstrap_servers)
    outbox = publisher.outbox()
    headers = h.encode_headers({h.SOURCE_SYSTEM: "population", h.TRACE_ID: "vết-1"})
    for number in range(500):
        outbox.send(dataset.clean_topic, f"{number:012d}".encode(), b"v%d" % number, headers)
    outbox.deliver()
    messages = lgsp_read_topic(broker.bootstrap_servers, dataset.clean_topic)
    assert [m.key for m in messages] == [f"{number:012d}".encode() for number in range(500)]
    assert h.decode_headers(messages[0].headers)[h.TRACE_ID] == "vết-1"
    assert (outbox.sent, outbox.retries) == (500, 0)
    # An outbox with nothing in it has nothing to wait for.
    publisher.outbox().deliver()


def test_a_message_over_its_limit_is_refused_before_it_is_queued(broker: TansuBroker) -> None:
    outbox = Publisher(broker.bootstrap_servers).outbox()
    headers = h.encode_headers({h.TRACE_ID: "t"})
    value = b"x" * (CLEAN_MAX_BYTES - message_size(b"k", b"", headers))
    with pytest.raises(MessageTooLarge, match="1,000,000-byte limit"):
        outbox.send("clean.never-created", b"k", value + b"!", headers)
    with pytest.raises(MessageTooLarge) as refused:
        outbox.send("dlq.never-created", b"k", value * 3, headers, limit=2 * CLEAN_MAX_BYTES)
    assert refused.value.limit == 2 * CLEAN_MAX_BYTES
    assert outbox.sent == 0
    outbox.deliver()


def test_messages_the_broker_did_not_take_are_sent_again_with_their_headers(
    tmp_path: Path, lgsp_read_topic: Callable[..., list[Any]]
) -> None:
    with TansuBroker(log_path=tmp_path / "broker.log") as broker:
        topic = "clean.test-publisher-outage"
        ensure_topics(broker.bootstrap_servers, [topic])
        process = next(
            child
            for child in psutil.Process().children()
            if f"tcp://{broker.bootstrap_servers}" in child.cmdline()
        )
        outbox = Publisher(broker.bootstrap_servers, delivery_timeout_s=1.0).outbox()
        headers = h.encode_headers({h.TRACE_ID: "vết-gửi-lại"})
        process.suspend()
        try:
            for number in range(20):
                outbox.send(topic, f"k{number}".encode(), b"v", headers)
            delivering = threading.Thread(target=outbox.deliver)
            delivering.start()
            # Longer than the delivery timeout: every message fails at least once.
            time.sleep(3)
        finally:
            process.resume()
        delivering.join(timeout=60)
        assert not delivering.is_alive(), "the outbox never finished delivering"
        assert outbox.retries >= 20
        messages = lgsp_read_topic(broker.bootstrap_servers, topic)
    # At least once: a message may have reached the broker before its report failed.
    assert {m.key for m in messages} == {f"k{number}".encode() for number in range(20)}
    assert all(h.decode_headers(m.headers)[h.TRACE_ID] == "vết-gửi-lại" for m in messages)
