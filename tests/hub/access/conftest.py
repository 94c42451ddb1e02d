"""A migrated warehouse on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from warehouse.db import create_warehouse_engine, init_warehouse


@pytest.fixture
def engine(warehouse_url: str) -> Iterator[Engine]:
    engine = create_warehouse_engine(warehouse_url)
    init_warehouse(engine)
    try:
        yield engine
    finally:
        engine.dispose()
