"""Shared fixtures: real brokers, registries and databases; nothing of ours is mocked."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import Engine, text

from hub.broker import TansuBroker
from schemas.registry.server import EmbeddedRegistry
from warehouse.db import WarehouseError, create_warehouse_engine

POSTGRES_URL = os.environ.get(
    "LGSP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SHARED_REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"


@pytest.fixture(scope="session")
def broker() -> Iterator[TansuBroker]:
    """One Tansu broker for the whole session; tests make their own topics."""
    with TansuBroker() as running:
        yield running


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRegistry]:
    storage = tmp_path_factory.mktemp("registry") / "registry.db"
    with EmbeddedRegistry(storage_url=f"sqlite:///{storage}") as running:
        yield running


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'warehouse.db'}"


def _postgres_engine() -> Engine:
    try:
        return create_warehouse_engine(POSTGRES_URL)
    except WarehouseError as exc:
        if os.environ.get("LGSP_REQUIRE_POSTGRES"):
            raise
        pytest.skip(f"PostgreSQL is not reachable: {exc}")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose default schema is fresh for this test and dropped after."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = _postgres_engine()
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def warehouse_url(request: pytest.FixtureRequest) -> str:
    """The warehouse on both databases the hub supports."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


def read_topic(bootstrap_servers: str, topic: str, timeout_s: float = 10.0) -> list:
    """Every message of a single-partition topic, read to the fetch high-watermark.

    No consumer group: groups join slowly on Tansu, and ``end_offsets`` can undercount there.
    """
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=int(timeout_s * 1000),
    )
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    messages = []
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


@pytest.fixture(name="read_topic")
def read_topic_fixture() -> object:
    return read_topic
