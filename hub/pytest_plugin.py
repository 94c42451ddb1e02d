"""pytest fixtures for anyone testing against the hub: a real broker, registry and topics.

Installed with the hub as a pytest plugin (entry point ``pytest11``), so a connector package's
tests get them with no conftest of their own.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from hub.broker import TansuBroker
from hub.topics import ensure_topics
from schemas.catalogue import Dataset, default_catalogue
from schemas.registry.server import EmbeddedRegistry


@pytest.fixture(scope="session")
def lgsp_broker() -> Iterator[TansuBroker]:
    """One Tansu broker for the session; tests make fresh topics on it."""
    with TansuBroker() as running:
        yield running


@pytest.fixture(scope="session")
def lgsp_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRegistry]:
    storage = tmp_path_factory.mktemp("lgsp-registry") / "registry.db"
    with EmbeddedRegistry(storage_url=f"sqlite:///{storage}") as running:
        yield running


@pytest.fixture
def lgsp_fresh_dataset(lgsp_broker: TansuBroker) -> Callable[[str], Dataset]:
    """A catalogue dataset under a fresh name, its raw, clean and dead-letter topics created.

    Catalogue topic names are fixed, so tests sharing a broker would see each other's records.
    """

    def make(dataset_id: str) -> Dataset:
        dataset = default_catalogue().dataset(dataset_id)
        fresh = dataset.model_copy(
            update={"id": f"t{uuid.uuid4().hex[:10]}.{dataset_id.split('.')[1]}"}
        )
        ensure_topics(
            lgsp_broker.bootstrap_servers, [fresh.raw_topic, fresh.clean_topic, fresh.dlq_topic]
        )
        return fresh

    return make


def read_topic(bootstrap_servers: str, topic: str, timeout_s: float = 10.0) -> list[Any]:
    """Every message of a single-partition topic, read to the fetch high-watermark.

    No consumer group: groups join slowly on Tansu, and ``end_offsets`` can undercount there.
    """
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    messages: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            messages.extend(consumer.poll(timeout_ms=500).get(partition, []))
            highwater = consumer.highwater(partition)
            if highwater is not None and consumer.position(partition) >= highwater:
                return messages
        raise AssertionError(f"could not read {topic} to its end in {timeout_s}s")
    finally:
        consumer.close()


@pytest.fixture(name="lgsp_read_topic")
def lgsp_read_topic_fixture() -> Callable[..., list[Any]]:
    return read_topic
