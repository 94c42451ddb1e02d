"""Alembic migrations: the scripts build exactly the code's tables, on both databases."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect

from warehouse.db import WarehouseError, create_warehouse_engine, metadata
from warehouse.migrate import (
    current_revision,
    head_revision,
    schema_drift,
    schema_drift_from_head,
    upgrade,
)

LGSP = [sys.executable, "-m", "hub.cli"]


def test_the_migrations_describe_the_code_s_tables() -> None:
    # Fails when the catalogue or a model changed without a migration:
    # run `lgsp warehouse revision -m "..."`, review the script and commit it.
    assert schema_drift_from_head() == []


def test_upgrade_builds_every_table_and_is_idempotent(warehouse_url: str) -> None:
    engine = create_warehouse_engine(warehouse_url)
    try:
        assert upgrade(engine) == (None, head_revision())
        assert set(metadata.tables) <= set(inspect(engine).get_table_names())
        assert schema_drift(engine) == []
        assert upgrade(engine) == (head_revision(), head_revision())
    finally:
        engine.dispose()


def test_a_warehouse_made_without_migrations_is_refused_not_overwritten(sqlite_url: str) -> None:
    engine = create_warehouse_engine(sqlite_url)
    try:
        metadata.create_all(engine)
        with pytest.raises(WarehouseError, match="no migration history"):
            upgrade(engine)
        assert current_revision(engine) is None
    finally:
        engine.dispose()


def _lgsp(*args: str, url: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LGSP, *args, "--workdir", str(workdir)],
        env={**os.environ, "LGSP_WAREHOUSE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_upgrade_and_current_commands(sqlite_url: str, tmp_path: Path) -> None:
    behind = _lgsp("warehouse", "current", url=sqlite_url, workdir=tmp_path)
    assert behind.returncode == 1, behind.stderr
    assert "run `lgsp warehouse upgrade`" in behind.stdout

    first = _lgsp("warehouse", "upgrade", url=sqlite_url, workdir=tmp_path)
    assert first.returncode == 0, first.stderr
    assert f"migrated from empty to revision {head_revision()}" in first.stdout
    again = _lgsp("warehouse", "upgrade", url=sqlite_url, workdir=tmp_path)
    assert f"already at revision {head_revision()}" in again.stdout

    at_head = _lgsp("warehouse", "current", url=sqlite_url, workdir=tmp_path)
    assert at_head.returncode == 0
    assert at_head.stdout.strip() == f"{head_revision()} (head)"


def test_upgrade_sql_prints_the_ddl_for_review(tmp_path: Path) -> None:
    url = "postgresql+psycopg://reviewer@db.example.invalid/warehouse"
    printed = _lgsp("warehouse", "upgrade", "--sql", url=url, workdir=tmp_path)
    assert printed.returncode == 0, printed.stderr
    assert "CREATE TABLE citizen_person" in printed.stdout
    assert "TIMESTAMP WITH TIME ZONE" in printed.stdout


def test_an_unknown_revision_is_one_line(sqlite_url: str, tmp_path: Path) -> None:
    result = _lgsp("warehouse", "upgrade", "--revision", "9999", url=sqlite_url, workdir=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "9999" in result.stderr
