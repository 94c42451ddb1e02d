"""The ``lgsp`` command as a user runs it: a real process, real output, real exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hub.broker import free_port
from schemas.catalogue import default_catalogue
from warehouse.db import create_warehouse_engine
from warehouse.quality import QualityRun
from warehouse.views import CitizenView, IndicatorDaily


def lgsp(
    *args: str, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def demo_summary(workdir: Path, env: dict[str, str] | None = None) -> dict:
    result = lgsp("demo", "--records", "5000", "--workdir", str(workdir), "--json", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def sqlite_demo_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo") / "hub"


@pytest.fixture(scope="module")
def sqlite_demo(sqlite_demo_workdir: Path) -> dict:
    return demo_summary(sqlite_demo_workdir)


def test_the_demo_links_people_across_sources_and_keeps_its_quality_run(
    sqlite_demo: dict, sqlite_demo_workdir: Path
) -> None:
    engine = create_warehouse_engine(f"sqlite:///{sqlite_demo_workdir / 'warehouse.db'}")
    try:
        with engine.connect() as connection:
            runs = connection.execute(select(func.count()).select_from(QualityRun)).scalar_one()
            deceased = connection.execute(
                select(func.count()).select_from(CitizenView).where(CitizenView.deceased)
            ).scalar_one()
            married = connection.execute(
                select(func.count())
                .select_from(CitizenView)
                .where(CitizenView.marital_status == "MARRIED")
            ).scalar_one()
            births = connection.execute(
                select(func.sum(IndicatorDaily.value)).where(
                    IndicatorDaily.indicator == "births_registered"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    assert runs == 1
    # Most civil events name people of the simulated register, so the views link them.
    assert deceased > sqlite_demo["datasets"]["civil.death"]["warehouse"] // 2
    assert married > sqlite_demo["datasets"]["civil.marriage"]["warehouse"] // 2
    assert births == sqlite_demo["datasets"]["civil.birth"]["warehouse"]


def test_demo_reconciles_and_writes_its_report(sqlite_demo: dict) -> None:
    summary = sqlite_demo
    datasets = summary["datasets"]
    assert set(datasets) == {d.id for d in default_catalogue().datasets}
    assert sum(counts["source"] for counts in datasets.values()) == 5000
    assert sum(counts["defects_injected"] for counts in datasets.values()) in range(245, 256)
    for dataset_id, counts in datasets.items():
        assert counts["source"] == counts["warehouse"] + counts["quarantine"], dataset_id
        assert counts["quarantine"] == counts["defects_injected"] > 0, dataset_id
    assert set(summary["quality"]) == set(datasets)
    for dataset_id, quality in summary["quality"].items():
        assert quality["evaluated"] > 0, dataset_id
        # The sources share people as a province's do: some events name people the register
        # lacks (newborns, foreign spouses), which non-critical expectations report.
        assert quality["critical_failed"] == 0, (dataset_id, quality)
        assert quality["failed"] < quality["evaluated"], dataset_id
    assert Path(summary["report"]).is_file()
    assert summary["elapsed_s"] > 0


@pytest.mark.postgres
def test_the_same_demo_on_postgresql_gives_the_same_counts(
    sqlite_demo: dict, postgres_url: str, tmp_path: Path
) -> None:
    summary = demo_summary(tmp_path / "hub", env={"LGSP_WAREHOUSE_URL": postgres_url})
    assert summary["datasets"] == sqlite_demo["datasets"]
    assert summary["quality"] == sqlite_demo["quality"]


def test_an_unreachable_broker_fails_with_one_line_naming_the_setting(tmp_path: Path) -> None:
    dead = f"127.0.0.1:{free_port()}"
    result = lgsp(
        "demo", "--records", "10", "--workdir", str(tmp_path), env={"LGSP_BOOTSTRAP_SERVERS": dead}
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "LGSP_BOOTSTRAP_SERVERS" in lines[0]
    assert dead in lines[0]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "is not a database URL"),
        ("nosuchdb://x/y", "unsupported database URL"),
        ("postgresql+psycopg://nobody@127.0.0.1:1/nothing", "is unreachable"),
    ],
)
def test_a_bad_warehouse_url_fails_with_one_line_naming_the_setting(
    tmp_path: Path, url: str, expected: str
) -> None:
    result = lgsp(
        "demo", "--records", "10", "--workdir", str(tmp_path), env={"LGSP_WAREHOUSE_URL": url}
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: LGSP_WAREHOUSE_URL")
    assert expected in lines[0]


def test_simulate_population_writes_the_source_and_its_manifest(tmp_path: Path) -> None:
    result = lgsp(
        "simulate", "population", "--records", "200", "--defect-rate", "0.1", "--out", str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    tally = manifest["datasets"]["citizen.person"]
    assert tally["records"] == 200
    assert tally["defects_injected"] == 20
    assert (tmp_path / "population.db").is_file()


def test_connector_run_once_resumes_where_the_last_run_stopped(tmp_path: Path) -> None:
    source = tmp_path / "source"
    assert lgsp("simulate", "population", "--records", "300", "--out", str(source)).returncode == 0
    declared = tmp_path / "connectors.yaml"
    declared.write_text(
        "connectors:\n"
        "  dan-cu-ha-tinh:\n"
        "    type: population\n"
        f"    config: {{database_url: 'sqlite:///{source / 'population.db'}', batch_size: 100}}\n",
        encoding="utf-8",
    )
    env = {"LGSP_CONNECTORS_FILE": str(declared)}
    args = ("connector", "run", "dan-cu-ha-tinh", "--once", "--workdir", str(tmp_path / "hub"))
    first = lgsp(*args, env=env)
    assert first.returncode == 0, first.stderr
    assert "read 300" in first.stderr
    assert (tmp_path / "hub" / "offsets" / "dan-cu-ha-tinh.json").is_file()
    second = lgsp(*args, env=env)
    assert "read 0" in second.stderr, second.stderr


def test_connector_run_names_an_undeclared_connector(tmp_path: Path) -> None:
    declared = tmp_path / "connectors.yaml"
    declared.write_text("connectors: {}\n", encoding="utf-8")
    result = lgsp(
        "connector",
        "run",
        "nope",
        "--once",
        "--workdir",
        str(tmp_path),
        env={"LGSP_CONNECTORS_FILE": str(declared)},
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "error: no connector named 'nope' is declared (declared: none)"
