"""``lgsp demo``: simulate a source, run the whole pipeline, reconcile, check quality."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import delete

from connectors.offsets import OffsetStore
from connectors.population import PopulationConfig, PopulationConnector
from connectors.runner import ConnectorRunner, RunStats
from connectors.simulators.population import SimulationManifest, simulate_population
from hub.runtime import Endpoints, Runtime, WorkerProcess
from hub.settings import Settings
from quality.suites import run_quality
from schemas.catalogue import Catalogue
from schemas.codec import AvroCodec
from schemas.registry.client import RegistryClient
from warehouse.db import create_warehouse_engine
from warehouse.models import Quarantine, dataset_table
from warehouse.store import count_rows

DATASET = "citizen.person"


class DemoError(RuntimeError):
    """The demo could not finish; the message says where to look."""


class DatasetCounts(BaseModel):
    source: int
    warehouse: int
    quarantine: int
    defects_injected: int

    @property
    def reconciled(self) -> bool:
        return self.source == self.warehouse + self.quarantine


class QualitySummary(BaseModel):
    success: bool
    evaluated: int
    failed: int


class DemoResult(BaseModel):
    datasets: dict[str, DatasetCounts]
    quality: dict[str, QualitySummary]
    report: str
    elapsed_s: float


class DemoProgress:
    """Callbacks the command line turns into progress bars; all optional."""

    def __init__(
        self,
        phase: Callable[[str, int | None], None] | None = None,
        advance: Callable[[int], None] | None = None,
    ) -> None:
        self.phase = phase or (lambda _name, _total: None)
        self.advance = advance or (lambda _done: None)


def reset_demo_state(settings: Settings, catalogue: Catalogue) -> None:
    """Start from nothing: the demo's sources, offsets, reports and its datasets' rows."""
    workdir = settings.workdir.resolve()
    for name in ("sources", "offsets", "gx", "faust"):
        shutil.rmtree(workdir / name, ignore_errors=True)
    if settings.warehouse_url is None:
        for suffix in ("", "-wal", "-shm"):
            (workdir / f"warehouse.db{suffix}").unlink(missing_ok=True)
        return
    engine = create_warehouse_engine(settings.warehouse_url)
    try:
        with engine.begin() as connection:
            for dataset in catalogue.datasets:
                table = dataset_table(dataset.id)
                if engine.dialect.has_table(connection, table.name):
                    connection.execute(delete(table))
            if engine.dialect.has_table(connection, Quarantine.__tablename__):
                connection.execute(delete(Quarantine))
    finally:
        engine.dispose()


def run_demo(
    settings: Settings,
    catalogue: Catalogue,
    *,
    records: int,
    defect_rate: float,
    seed: int,
    timeout_s: float = 300.0,
    progress: DemoProgress | None = None,
) -> DemoResult:
    progress = progress or DemoProgress()
    started = time.monotonic()
    reset_demo_state(settings, catalogue)
    workdir = settings.workdir.resolve()
    source_dir = workdir / "sources" / "population"

    progress.phase("simulating the population database", None)
    manifest = simulate_population(source_dir, records, defect_rate, seed)

    with Runtime(settings, catalogue) as endpoints:
        with WorkerProcess(endpoints, workdir / "logs" / "worker.log") as worker:
            progress.phase("publishing from the population connector", manifest.records)
            stats = _publish(endpoints, catalogue, manifest, source_dir, progress)
            progress.phase("validating and loading the warehouse", manifest.records)
            counts = _await_reconciliation(
                endpoints, catalogue, manifest, worker, progress, timeout_s
            )
        progress.phase("running the quality suite", None)
        quality = run_quality(endpoints.warehouse_url, workdir, [DATASET])

    if stats.read != manifest.records:
        raise DemoError(f"the connector read {stats.read} of {manifest.records} source records")
    summary = quality.datasets[DATASET]
    return DemoResult(
        datasets={DATASET: counts},
        quality={
            DATASET: QualitySummary(
                success=summary.success, evaluated=summary.evaluated, failed=summary.failed
            )
        },
        report=str(quality.report),
        elapsed_s=round(time.monotonic() - started, 2),
    )


def _publish(
    endpoints: Endpoints,
    catalogue: Catalogue,
    manifest: SimulationManifest,
    source_dir: Path,
    progress: DemoProgress,
) -> RunStats:
    connector = PopulationConnector(
        PopulationConfig(
            database_url=f"sqlite:///{source_dir / manifest.database}",
            table=manifest.table,
            batch_size=2000,
        )
    )
    with RegistryClient(endpoints.registry_url) as registry:
        runner = ConnectorRunner(
            connector,
            catalogue.dataset(connector.dataset),
            bootstrap_servers=endpoints.bootstrap_servers,
            codec=AvroCodec(registry),
            offsets=OffsetStore(endpoints.workdir / "offsets"),
            on_batch=lambda stats: progress.advance(stats.read),
        )
        return runner.run()


def _await_reconciliation(
    endpoints: Endpoints,
    catalogue: Catalogue,
    manifest: SimulationManifest,
    worker: WorkerProcess,
    progress: DemoProgress,
    timeout_s: float,
) -> DatasetCounts:
    """Wait until every source record is in the warehouse or in quarantine."""
    dataset = catalogue.dataset(DATASET)
    engine = create_warehouse_engine(endpoints.warehouse_url)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            stored, held = count_rows(engine, dataset)
            progress.advance(stored + held)
            if stored + held >= manifest.records:
                return DatasetCounts(
                    source=manifest.records,
                    warehouse=stored,
                    quarantine=held,
                    defects_injected=manifest.defects_injected,
                )
            if not worker.running:
                raise DemoError(
                    f"the stream worker exited with code {worker.returncode}; see {worker.log_path}"
                )
            if time.monotonic() > deadline:
                raise DemoError(
                    f"after {timeout_s:.0f}s only {stored} records are in the warehouse and "
                    f"{held} in quarantine of {manifest.records}; see {worker.log_path}"
                )
            time.sleep(0.25)
    finally:
        engine.dispose()
