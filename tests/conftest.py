"""Shared fixtures: real brokers, registries and databases; nothing of ours is mocked."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from hub.broker import TansuBroker
from schemas.registry.server import EmbeddedRegistry
from warehouse.db import WarehouseError, create_warehouse_engine

POSTGRES_URL = os.environ.get(
    "LGSP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def broker(lgsp_broker: TansuBroker) -> TansuBroker:
    return lgsp_broker


@pytest.fixture(scope="session")
def registry(lgsp_registry: EmbeddedRegistry) -> EmbeddedRegistry:
    return lgsp_registry


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
