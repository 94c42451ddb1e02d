"""Fixtures of the console's tests: the seeded warehouse (see web_seed) on both databases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web_seed import CATALOGUE, Seeded, seed


@pytest.fixture
def seeded(warehouse_url: str) -> Iterator[Seeded]:
    """The seeded warehouse on SQLite and on PostgreSQL."""
    data = seed(warehouse_url, CATALOGUE)
    yield data
    data.engine.dispose()


@pytest.fixture
def seeded_sqlite(sqlite_url: str) -> Iterator[Seeded]:
    data = seed(sqlite_url, CATALOGUE)
    yield data
    data.engine.dispose()
