"""The stream worker SIGKILLed again and again mid-stream: the warehouse ends as if it never was.

Two independent hubs (each its own broker and warehouse) load the same simulated sources of
all four systems: one worker runs undisturbed, the other is killed several times while it
loads. Every table of the two warehouses is then compared row for row.

Soak: ``LGSP_SOAK=1`` loads 60,000 records and kills the worker 12 times (default 20,000 and
4); ``LGSP_FAULT_RECORDS``, ``LGSP_FAULT_KILLS`` and ``LGSP_FAULT_SEED`` set them outright.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest
from stack import (
    SOAK,
    Snapshot,
    Sources,
    assert_ingest_log_accounts,
    assert_same_warehouse,
    publish,
    scaled,
    settled,
    simulate_sources,
    snapshot,
)

from hub.runtime import Runtime, WorkerProcess
from hub.settings import Settings
from schemas.catalogue import default_catalogue
from warehouse.db import create_warehouse_engine

RECORDS = scaled(20_000, 60_000, "LGSP_FAULT_RECORDS")
KILLS = scaled(4, 12, "LGSP_FAULT_KILLS")

pytestmark = pytest.mark.timeout(3600 if SOAK else 900)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Sources:
    """All four source systems simulated once, with a few defects each."""
    root = tmp_path_factory.mktemp("fault-sources")
    return root, simulate_sources(root, RECORDS, 11)


def _load(workdir: Path, sources: Sources, kill_at: list[float]) -> Snapshot:
    """Run a hub over the sources, SIGKILLing its worker as the load passes each share."""
    source_root, tallies = sources
    total = sum(tally.records for tally in tallies.values())
    with Runtime(Settings(workdir=workdir), default_catalogue()) as endpoints:
        assert publish(endpoints, source_root, workdir / "sources").read == total
        engine = create_warehouse_engine(endpoints.warehouse_url)
        worker = WorkerProcess(endpoints, workdir / "logs" / "worker.log", tuple(tallies))
        deadline = time.monotonic() + 600
        try:
            worker.start()
            for share in kill_at:
                while settled(engine, tallies) < share * total:
                    assert worker.running, worker.log_path.read_text()[-3000:]
                    assert time.monotonic() < deadline, "the load stalled"
                    time.sleep(0.05)
                worker.kill()
                worker.start()
            while settled(engine, tallies) < total:
                assert worker.running, worker.log_path.read_text()[-3000:]
                assert time.monotonic() < deadline, (
                    f"only {settled(engine, tallies)} of {total} records settled"
                )
                time.sleep(0.25)
            # Redelivered batches after the last restart arrive now and must change nothing.
            time.sleep(3)
            assert_ingest_log_accounts(engine, tallies)
            return snapshot(engine)
        finally:
            worker.stop()
            engine.dispose()


def test_a_worker_killed_mid_stream_leaves_the_warehouse_of_an_undisturbed_run(
    sources: Sources, tmp_path: Path
) -> None:
    rng = random.Random(int(os.environ.get("LGSP_FAULT_SEED", "20261122")))
    kill_at = sorted(rng.uniform(0.05, 0.9) for _ in range(KILLS))

    undisturbed = _load(tmp_path / "undisturbed", sources, kill_at=[])
    killed = _load(tmp_path / "killed", sources, kill_at=kill_at)

    _, tallies = sources
    catalogue = default_catalogue()
    for dataset_id, tally in tallies.items():
        table = catalogue.dataset(dataset_id).table_name
        assert len(undisturbed[table]) == tally.records - tally.defects_injected, table
    assert_same_warehouse(killed, undisturbed, f"{KILLS} kills at {kill_at}")
