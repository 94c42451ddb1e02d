"""A connector killed mid-run and restarted: every record published at least once, and the
warehouse holds each exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from connectors.simulators.population import simulate_population
from hub.runtime import Runtime, WorkerProcess
from hub.settings import Settings
from schemas.catalogue import default_catalogue
from warehouse.db import create_warehouse_engine
from warehouse.store import count_rows

RECORDS = 8_000


def test_a_killed_connector_resumes_and_the_warehouse_holds_each_record_once(
    tmp_path: Path,
) -> None:
    manifest = simulate_population(tmp_path / "source", RECORDS, 0.05, seed=3)
    declared = tmp_path / "connectors.yaml"
    declared.write_text(
        "connectors:\n  population:\n    type: population\n    config:\n"
        f"      database_url: sqlite:///{tmp_path / 'source' / 'population.db'}\n"
        "      batch_size: 100\n",
        encoding="utf-8",
    )
    person = default_catalogue().dataset("citizen.person")
    with Runtime(Settings(workdir=tmp_path / "hub"), default_catalogue()) as endpoints:
        env = {**os.environ, **endpoints.environment(), "LGSP_CONNECTORS_FILE": str(declared)}
        command = [sys.executable, "-m", "hub.cli", "connector", "run", "population", "--once"]
        offsets = endpoints.workdir / "offsets" / "population.json"

        connector = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 60
        while not offsets.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        connector.send_signal(signal.SIGKILL)
        connector.wait()
        stopped_at = json.loads(offsets.read_text(encoding="utf-8"))
        assert connector.returncode == -signal.SIGKILL
        assert stopped_at["personal_id"], "the first run stored an offset before it was killed"

        resumed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        assert resumed.returncode == 0, resumed.stderr
        assert "read 0" not in resumed.stderr, "the kill came after the whole run; nothing resumed"

        with WorkerProcess(
            endpoints, endpoints.workdir / "logs" / "worker.log", (person.id,)
        ) as worker:
            engine = create_warehouse_engine(endpoints.warehouse_url)
            deadline = time.monotonic() + 120
            counts = (0, 0)
            while time.monotonic() < deadline:
                counts = count_rows(engine, person)
                if sum(counts) >= RECORDS:
                    break
                assert worker.running, worker.log_path.read_text()[-2000:]
                time.sleep(0.25)
            time.sleep(2)  # redelivered duplicates, if any, arrive and must change nothing
            counts = count_rows(engine, person)
            engine.dispose()
    tally = manifest.datasets[person.id]
    assert counts == (RECORDS - tally.defects_injected, tally.defects_injected)
