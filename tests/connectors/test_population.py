"""The population connector passes the conformance kit, on SQLite and on PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from connectors.population import PopulationConfig, PopulationConnector, SourceUnavailable
from connectors.simulators.population import simulate_population
from connectors.testing import ConnectorConformance

RECORDS = 400


def simulated_source(tmp_path: Path) -> Path:
    simulate_population(tmp_path / "source", RECORDS, 0.1, seed=5)
    return tmp_path / "source" / "population.db"


def null_names(database: Path) -> int:
    """Rows whose name is NULL cannot be serialised (the schema requires a name)."""
    with sqlite3.connect(database) as connection:
        return connection.execute(
            "SELECT count(*) FROM citizen WHERE full_name IS NULL"
        ).fetchone()[0]


class TestPopulationOnSQLite(ConnectorConformance):
    @pytest.fixture
    def source(self, tmp_path: Path) -> Path:
        return simulated_source(tmp_path)

    @pytest.fixture
    def connector(self, source: Path) -> PopulationConnector:
        return PopulationConnector(
            PopulationConfig(database_url=f"sqlite:///{source}", batch_size=64)
        )

    @pytest.fixture
    def expected_dead_letters(self, source: Path) -> int:
        return null_names(source)


@pytest.mark.postgres
class TestPopulationOnPostgreSQL(ConnectorConformance):
    """A password in the URL: the kit proves it never reaches a log (trust auth ignores it)."""

    @pytest.fixture
    def source(self, tmp_path: Path, postgres_url: str) -> Path:
        database = simulated_source(tmp_path)
        with sqlite3.connect(database) as lite:
            lite.row_factory = sqlite3.Row
            rows = [dict(row) for row in lite.execute("SELECT * FROM citizen")]
        engine = create_engine(postgres_url)
        columns = list(rows[0])
        with engine.begin() as connection:
            connection.execute(
                text(
                    "CREATE TABLE citizen ("
                    + ", ".join(f"{c} {'INTEGER' if c == 'eid_level' else 'TEXT'}" for c in columns)
                    + ", PRIMARY KEY (personal_id))"
                )
            )
            connection.execute(
                text(
                    f"INSERT INTO citizen ({', '.join(columns)}) "
                    f"VALUES ({', '.join(':' + c for c in columns)})"
                ),
                rows,
            )
        engine.dispose()
        return database

    @pytest.fixture
    def connector(self, source: Path, postgres_url: str) -> PopulationConnector:
        with_password = postgres_url.replace("postgres@", "postgres:s3cret-Mật-khẩu@", 1)
        return PopulationConnector(PopulationConfig(database_url=with_password, batch_size=64))

    @pytest.fixture
    def expected_dead_letters(self, source: Path) -> int:
        return null_names(source)


def test_an_unreachable_source_is_named_without_its_password() -> None:
    connector = PopulationConnector(
        PopulationConfig(database_url="postgresql+psycopg://reader:topsecret@127.0.0.1:1/dancu")
    )
    with pytest.raises(SourceUnavailable) as raised:
        connector.check()
    assert "topsecret" not in str(raised.value)
    assert "reader:***@127.0.0.1:1/dancu" in str(raised.value)


def test_backlog_counts_what_lies_after_an_offset(tmp_path: Path) -> None:
    source = simulated_source(tmp_path)
    connector = PopulationConnector(PopulationConfig(database_url=f"sqlite:///{source}"))
    records = list(connector.records(None))
    assert connector.backlog(None) == RECORDS
    assert connector.backlog(records[99].offset) == RECORDS - 100
    assert connector.backlog(records[-1].offset) == 0
