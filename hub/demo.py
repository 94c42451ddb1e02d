"""``lgsp demo``: simulate a source, run the whole pipeline, reconcile, check quality."""

from __future__ import annotations

import secrets
import shutil
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from connectors.base import Connector
from connectors.business_registration import (
    BusinessRegistrationConfig,
    BusinessRegistrationConnector,
)
from connectors.civil_status import (
    CivilBirthConnector,
    CivilDeathConnector,
    CivilMarriageConnector,
    CivilStatusConfig,
)
from connectors.document_management import DocumentManagementConfig, DocumentManagementConnector
from connectors.offsets import OffsetStore
from connectors.population import PopulationConfig, PopulationConnector
from connectors.runner import ConnectorRunner
from connectors.simulators import simulator
from connectors.simulators.business_registration import BusinessRegistryApi
from connectors.simulators.civil_status import legacy_files
from connectors.simulators.manifest import DatasetTally, SimulationManifest
from hub.runtime import Endpoints, Runtime, WorkerProcess
from hub.settings import Settings
from schemas.catalogue import Catalogue
from schemas.codec import AvroCodec
from schemas.registry.client import RegistryClient
from warehouse.db import create_warehouse_engine
from warehouse.store import count_rows, empty_streamed_tables


class DemoError(RuntimeError):
    """The demo could not finish; the message says where to look."""


@dataclass(frozen=True)
class DemoSource:
    """A simulated source system and the connectors that read it.

    ``connect`` may start what the source needs (a simulated API) on the exit stack.
    """

    system: str
    share: float
    connect: Callable[[Path, SimulationManifest, ExitStack], list[Connector[Any]]]


def _population(
    source_dir: Path, manifest: SimulationManifest, _stack: ExitStack
) -> list[Connector[Any]]:
    database = source_dir / manifest.source["database"]
    config = PopulationConfig(
        database_url=f"sqlite:///{database}", table=manifest.source["table"], batch_size=2000
    )
    return [PopulationConnector(config)]


def _business_registration(
    source_dir: Path, manifest: SimulationManifest, stack: ExitStack
) -> list[Connector[Any]]:
    # The registry is reached over HTTP, so the demo serves the simulated one for the run.
    api_key = secrets.token_urlsafe(24)
    api = stack.enter_context(BusinessRegistryApi(source_dir, api_key=api_key))
    config = BusinessRegistrationConfig(base_url=api.url, api_key=api_key, page_size=500)
    return [BusinessRegistrationConnector(config)]


def _civil_status(
    source_dir: Path, _manifest: SimulationManifest, _stack: ExitStack
) -> list[Connector[Any]]:
    config = CivilStatusConfig(directory=source_dir, legacy_files=tuple(legacy_files(source_dir)))
    return [
        CivilBirthConnector(config),
        CivilMarriageConnector(config),
        CivilDeathConnector(config),
    ]


def _document_management(
    source_dir: Path, manifest: SimulationManifest, _stack: ExitStack
) -> list[Connector[Any]]:
    config = DocumentManagementConfig(directory=source_dir / manifest.source["directory"])
    return [DocumentManagementConnector(config)]


# The population gets whatever share of --records the other systems leave.
DEMO_SOURCES: tuple[DemoSource, ...] = (
    DemoSource("population", 1.0, _population),
    DemoSource("civil_status", 0.2, _civil_status),
    DemoSource("business_registration", 0.1, _business_registration),
    DemoSource("document_management", 0.15, _document_management),
)


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
    critical_failed: int


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
    """Start from nothing: sources, offsets, reports, dataset rows and all derived from them."""
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
            empty_streamed_tables(connection, catalogue.datasets)
    finally:
        engine.dispose()


def split_records(records: int) -> dict[str, int]:
    """Records per source system; the population takes what the shares leave.

    The population comes first: the other simulators draw the people they name from it.
    """
    others = {
        source.system: round(records * source.share)
        for source in DEMO_SOURCES
        if source.system != "population"
    }
    return {"population": records - sum(others.values()), **others}


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

    progress.phase("simulating the source systems", None)
    manifests: dict[str, SimulationManifest] = {}
    for system, count in split_records(records).items():
        manifests[system] = simulator(system)(
            workdir / "sources" / system, count, defect_rate, seed
        )
    expected = {
        dataset_id: tally
        for manifest in manifests.values()
        for dataset_id, tally in manifest.datasets.items()
    }
    total = sum(tally.records for tally in expected.values())

    with (
        Runtime(settings, catalogue) as endpoints,
        WorkerProcess(endpoints, workdir / "logs" / "worker.log", tuple(expected)) as worker,
        ExitStack() as sources,
    ):
        progress.phase("publishing from the connectors", total)
        read = _publish(endpoints, catalogue, manifests, sources, progress)
        if read != total:
            raise DemoError(f"the connectors read {read} of {total} source records")
        progress.phase("validating and loading the warehouse", total)
        counts = _await_reconciliation(endpoints, catalogue, expected, worker, progress, timeout_s)
        worker.stop()
        progress.phase("running the quality suites", None)
        # Great Expectations takes seconds to import; the demo shows progress first.
        from quality.history import store_quality_run
        from quality.suites import run_quality

        # Freshness is judged on the simulated clock the sources were written at.
        simulated_now = max(manifest.start for manifest in manifests.values())
        quality = run_quality(endpoints.warehouse_url, workdir, list(expected), now=simulated_now)
        engine = create_warehouse_engine(endpoints.warehouse_url)
        try:
            store_quality_run(engine, quality)
        finally:
            engine.dispose()

    return DemoResult(
        datasets=counts,
        quality={
            dataset_id: QualitySummary(
                success=summary.success,
                evaluated=summary.evaluated,
                failed=summary.failed,
                critical_failed=summary.critical_failed,
            )
            for dataset_id, summary in quality.datasets.items()
        },
        report=str(quality.report),
        elapsed_s=round(time.monotonic() - started, 2),
    )


def _publish(
    endpoints: Endpoints,
    catalogue: Catalogue,
    manifests: dict[str, SimulationManifest],
    sources: ExitStack,
    progress: DemoProgress,
) -> int:
    """Run every connector once over its simulated source; the records read in all."""
    read_before = 0
    with RegistryClient(endpoints.registry_url) as registry:
        codec = AvroCodec(registry)
        offsets = OffsetStore(endpoints.workdir / "offsets")
        for source in DEMO_SOURCES:
            source_dir = endpoints.workdir / "sources" / source.system
            for connector in source.connect(source_dir, manifests[source.system], sources):
                base = read_before
                stats = ConnectorRunner(
                    connector,
                    catalogue.dataset(connector.dataset),
                    bootstrap_servers=endpoints.bootstrap_servers,
                    codec=codec,
                    offsets=offsets,
                    on_batch=lambda stats, base=base: progress.advance(base + stats.read),
                ).run()
                read_before += stats.read
    return read_before


def _await_reconciliation(
    endpoints: Endpoints,
    catalogue: Catalogue,
    expected: dict[str, DatasetTally],
    worker: WorkerProcess,
    progress: DemoProgress,
    timeout_s: float,
) -> dict[str, DatasetCounts]:
    """Wait until every source record is in the warehouse or in quarantine."""
    engine = create_warehouse_engine(endpoints.warehouse_url)
    deadline = time.monotonic() + timeout_s
    total = sum(tally.records for tally in expected.values())
    try:
        while True:
            counts = {
                dataset_id: count_rows(engine, catalogue.dataset(dataset_id))
                for dataset_id in expected
            }
            done = sum(stored + held for stored, held in counts.values())
            progress.advance(done)
            if all(
                stored + held >= expected[dataset_id].records
                for dataset_id, (stored, held) in counts.items()
            ):
                return {
                    dataset_id: DatasetCounts(
                        source=expected[dataset_id].records,
                        warehouse=stored,
                        quarantine=held,
                        defects_injected=expected[dataset_id].defects_injected,
                    )
                    for dataset_id, (stored, held) in counts.items()
                }
            if not worker.running:
                raise DemoError(
                    f"the stream worker exited with code {worker.returncode}; see {worker.log_path}"
                )
            if time.monotonic() > deadline:
                raise DemoError(
                    f"after {timeout_s:.0f}s only {done} of {total} records are in the "
                    f"warehouse or in quarantine; see {worker.log_path}"
                )
            time.sleep(0.25)
    finally:
        engine.dispose()
