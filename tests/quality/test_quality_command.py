"""``lgsp quality run`` and ``lgsp quality scorecard`` as a user runs them: a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine

from schemas.catalogue import CATALOGUE_PATH
from tests.quality.warehouse_rows import citizen, create_warehouse, replace_rows

# hub.cli's own main(), with the quality commands mounted if hub/cli.py does not mount them yet.
_MAIN = """
import sys
from hub import cli
from hub.commands.quality import quality_app
if not any(group.name == "quality" for group in cli.app.registered_groups):
    cli.app.add_typer(quality_app, name="quality")
sys.argv[0] = "lgsp"
cli.main()
"""


def lgsp(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LGSP_")}
    return subprocess.run(
        [sys.executable, "-c", _MAIN, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**environment, "COLUMNS": "160", **(env or {})},
        check=False,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def fresh_citizens() -> list[dict[str, Any]]:
    # The command measures freshness from the real now.
    recent = datetime.now(UTC) - timedelta(hours=2)
    return [
        citizen("042090001234", "Nguyễn Văn Hùng", updated_at=recent),
        citizen("042195000321", "Trần Thị Thu Hà", gender="FEMALE", updated_at=recent),
        citizen("042088004321", "Phạm Đức Thắng", updated_at=recent),
    ]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A work directory whose embedded SQLite warehouse holds three good citizens."""
    engine = create_engine(f"sqlite:///{tmp_path / 'warehouse.db'}")
    create_warehouse(engine)
    replace_rows(engine, {"citizen.person": fresh_citizens()})
    engine.dispose()
    return tmp_path


def test_runs_are_stored_and_a_critical_failure_exits_1(workdir: Path) -> None:
    clean = lgsp("quality", "run", "--dataset", "citizen.person", "--workdir", str(workdir))
    assert clean.returncode == 0, clean.stderr
    assert "citizen.person" in clean.stdout
    assert "100.0%" in clean.stdout
    assert "new" in clean.stdout  # the first run has no trend yet
    assert "stored as run 1; no critical expectation failed" in clean.stdout
    assert "Data Docs: " + str(workdir / "gx") in clean.stdout
    assert (workdir / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html").is_file()

    engine = create_engine(f"sqlite:///{workdir / 'warehouse.db'}")
    broken = citizen("42090005555", "Đặng Văn Lâm", updated_at=datetime.now(UTC))
    replace_rows(engine, {"citizen.person": [*fresh_citizens(), broken]})
    engine.dispose()
    failing = lgsp(
        "quality", "run", "--dataset", "citizen.person", "--workdir", str(workdir), "--json"
    )
    assert failing.returncode == 1, failing.stderr
    summary = json.loads(failing.stdout)
    assert (summary["run_id"], summary["critical_failed"], summary["success"]) == (2, 1, False)
    person = summary["datasets"]["citizen.person"]
    assert person["row_count"] == 4
    assert person["score"] == pytest.approx(person["met"] / person["total"])
    assert person["change"] == pytest.approx(person["score"] - 1.0)
    (failed,) = person["failed"]
    assert failed["expectation"] == "format:personal_id"
    assert failed["critical"] is True
    assert failed["failing_keys"] == [{"personal_id": "42090005555"}]

    table = lgsp("quality", "run", "--dataset", "citizen.person", "--workdir", str(workdir))
    assert table.returncode == 1
    assert "format:personal_id (critical)" in table.stdout
    assert "42090005555" in table.stdout
    assert "1 critical expectation(s) failed" in table.stdout

    scorecard = lgsp("quality", "scorecard", "--workdir", str(workdir), "--json")
    assert scorecard.returncode == 0, scorecard.stderr
    trends = [json.loads(line) for line in scorecard.stdout.splitlines()]
    assert {(t["scope"], t["scope_value"]) for t in trends} == {
        ("dataset", "citizen.person"),
        ("source_system", "population"),
        ("agency", "000.00.10.H25"),
    }
    assert all(t["run_id"] == 3 and t["change"] == 0 for t in trends)
    shown = lgsp("quality", "scorecard", "--workdir", str(workdir))
    assert "Cơ sở dữ liệu dân cư" in shown.stdout
    assert "Owning agencies" in shown.stdout


def test_an_unknown_dataset_is_one_line(workdir: Path) -> None:
    line = one_line_error(
        lgsp("quality", "run", "--dataset", "citizen.persons", "--workdir", str(workdir))
    )
    assert "unknown dataset 'citizen.persons'" in line


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    # Port 9 (discard) has no PostgreSQL server.
    url = "postgresql+psycopg://hub:secret@127.0.0.1:9/warehouse?connect_timeout=2"
    line = one_line_error(
        lgsp("quality", "run", "--workdir", str(tmp_path), env={"LGSP_WAREHOUSE_URL": url})
    )
    assert "LGSP_WAREHOUSE_URL" in line
    assert "unreachable" in line
    assert "secret" not in line


def test_a_missing_embedded_warehouse_is_one_line(tmp_path: Path) -> None:
    line = one_line_error(lgsp("quality", "run", "--workdir", str(tmp_path)))
    assert "does not exist" in line
    assert not (tmp_path / "warehouse.db").exists()


def test_an_unknown_expectation_type_is_one_line(workdir: Path) -> None:
    raw = yaml.safe_load(CATALOGUE_PATH.read_text(encoding="utf-8"))
    person = next(entry for entry in raw["datasets"] if entry["id"] == "citizen.person")
    person["expectations"].append({"type": "matches_regex", "column": "full_name"})
    bad = workdir / "catalogue.yaml"
    bad.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    line = one_line_error(
        lgsp("quality", "run", "--catalogue", str(bad), "--workdir", str(workdir))
    )
    index = len(person["expectations"]) - 1
    assert f"dataset 'citizen.person', expectation 'matches_regex' (expectations[{index}])" in line
    assert "unknown type; known types: between, completeness, exists_in" in line


def test_a_scorecard_before_any_run(workdir: Path) -> None:
    result = lgsp("quality", "scorecard", "--workdir", str(workdir))
    assert result.returncode == 0, result.stderr
    assert "no quality run is stored yet" in result.stdout
