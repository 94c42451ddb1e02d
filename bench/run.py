"""``lgsp bench``: one run on the embedded stack, every figure from the same simulated records.

The order of the stages matters:

1. Simulate the sources: the population (``records`` citizens) for the bulk load, the raw path
   and the latency stage; the four source systems (``records`` split as in the demo) for the
   mixed load; a small population for the warm-up.
2. Start a Tansu broker, the embedded registry, the warehouse (SQLite in the run's temporary
   directory, or a fresh schema in the given PostgreSQL database) and the stream worker process.
3. Warm up the worker, untimed; then the bulk load, the bare faust agent over the topic the
   bulk load filled, the raw client path, the latency stage, the mixed load. Only one thing
   runs at a time, so no stage takes CPU from another.
4. The quality suites last, over the warehouse the mixed load filled: Great Expectations is
   imported only then, so it inflates neither the other stages nor this process's peak RSS.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import psutil
from sqlalchemy import select

from bench.latency import measure_latency
from bench.limits import measure_bare_faust, measure_raw_path
from bench.loads import measure_load, warm_up
from bench.monitor import PeakRss, find_child, find_children
from bench.report import BenchReport, HubLoad, Memory, QualityRun
from bench.stack import Deadline, Hub, Progress, Source, Warehouse, Workers, postgres_schema
from connectors.simulators import simulator
from hub.demo import split_records
from hub.runtime import Runtime, WorkerProcess
from hub.settings import Settings
from schemas.catalogue import default_catalogue
from schemas.codec import AvroCodec
from schemas.registry.client import RegistryClient
from warehouse.models import dataset_table

PERSON = "citizen.person"
DEFECT_RATE = 0.05
SEED = 42
WARM_UP_RECORDS = 200
LATENCY_RATE = 1_000.0
LATENCY_SECONDS = 10.0
# Twice the workers' group session timeout (streams.app): time for any rebalance to finish.
GROUP_SETTLE_S = 12.0
# Enough for every stage at a few thousand records a second, and a bound on a stuck one.
BASE_TIMEOUT_S = 300.0
TIMEOUT_S_PER_RECORD = 0.005


def run_bench(
    records: int,
    *,
    postgres_url: str | None = None,
    progress: Callable[[str], None] | None = None,
    latency_rate: float = LATENCY_RATE,
    latency_seconds: float = LATENCY_SECONDS,
    timeout_s: float | None = None,
    workers: int = 1,
) -> BenchReport:
    """Run every benchmark stage once on a temporary embedded stack.

    Args:
        records: Population records for the bulk load (also the size of the mixed load).
        postgres_url: Use a fresh schema in this PostgreSQL database as the warehouse instead
            of SQLite; the schema is dropped afterwards.
        progress: Called with one line per step, and at most once a second while waiting.
        latency_rate: Records per second during the latency stage.
        latency_seconds: How long the latency stage publishes; fewer records are sent if the
            bulk load left fewer valid ones than ``latency_rate * latency_seconds``.
        timeout_s: Limit of the whole run; by default 300 s plus 5 ms per record.
        workers: Stream worker processes, each topic with as many partitions, so that each
            worker consumes its share (a faust worker uses one core).

    Returns:
        Every figure of the run.

    Raises:
        ValueError: ``records`` is below 1.
        BenchError: A stage failed or the time limit passed; everything started was stopped.
    """
    if records < 1:
        raise ValueError(f"records must be at least 1, got {records}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    report = Progress(progress)
    started_at = datetime.now(UTC)
    started = time.monotonic()
    deadline = Deadline(timeout_s or BASE_TIMEOUT_S + TIMEOUT_S_PER_RECORD * records)
    catalogue = default_catalogue()
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lgsp-bench-")))

        simulating = time.monotonic()
        population, mixed, warm, warm_again = _simulate(workdir / "sources", records, report)
        simulation_s = time.monotonic() - simulating

        warehouse_url = stack.enter_context(postgres_schema(postgres_url)) if postgres_url else None
        report.say("starting the embedded broker, registry, warehouse and stream worker")
        settings = Settings(
            workdir=workdir,
            bootstrap_servers=None,
            registry_url=None,
            warehouse_url=warehouse_url,
            topic_partitions=workers,
        )
        endpoints = stack.enter_context(Runtime(settings, catalogue))
        processes = [
            stack.enter_context(WorkerProcess(endpoints, workdir / "logs" / f"worker-{n}.log"))
            for n in range(workers)
        ]
        sampler = stack.enter_context(PeakRss())
        worker_processes = find_children(f"hub.cli worker --workdir {workdir}")
        for number, process in enumerate(worker_processes):
            sampler.track(f"worker-{number}", process)
        stream_workers = Workers(tuple(processes), tuple(worker_processes))
        broker_process = find_child(f"--listener-url tcp://{endpoints.bootstrap_servers}")
        sampler.track("broker", broker_process)
        sampler.track("bench", psutil.Process())
        registry = stack.enter_context(RegistryClient(endpoints.registry_url))
        warehouse = Warehouse(endpoints.warehouse_url, catalogue)
        stack.callback(warehouse.close)
        hub = Hub(
            endpoints=endpoints,
            catalogue=catalogue,
            codec=AvroCodec(registry),
            warehouse=warehouse,
            workers=stream_workers,
            broker_process=broker_process,
            deadline=deadline,
            progress=report,
        )

        report.say(f"warm-up: {WARM_UP_RECORDS} records through the worker, untimed")
        to_person = warm_up(hub, warm).get(PERSON, 0)
        if workers > 1:
            # The warm-up ends once every partition was served, perhaps all by the first
            # worker to join; a later join rebalances the group. Let that happen now.
            report.say(f"waiting {GROUP_SETTLE_S:.0f} s for the workers' group to settle")
            time.sleep(GROUP_SETTLE_S)
            to_person += warm_up(hub, warm_again).get(PERSON, 0)

        report.say(f"bulk load: {population.manifest.records:,} population records")
        bulk, published = measure_load(hub, "bulk load", [population])
        to_person += published.get(PERSON, 0)
        report.say(_load_line("bulk load", bulk))
        worker_bulk_peak = max(sampler.peak_mb(f"worker-{n}") for n in range(workers))
        valid_keys = _stored_keys(warehouse)

        report.say(f"bare faust agent: counting the {to_person:,} events of raw.{PERSON}")
        bare = measure_bare_faust(hub, f"raw.{PERSON}", to_person)
        report.say(f"bare faust agent: {bare.events_per_s:,.0f} events/s")

        report.say("raw client path: confluent-kafka -> aiokafka -> fastavro -> executemany")
        raw = measure_raw_path(hub, population)
        report.say(f"raw client path: {raw.records_per_s:,.0f} rec/s")

        count = min(round(latency_rate * latency_seconds), len(valid_keys))
        report.say(f"latency: {count:,} records at {latency_rate:,.0f} rec/s")
        latency = measure_latency(hub, population, valid_keys, rate=latency_rate, count=count)
        report.say(f"latency: p50 {latency.p50_ms:,.0f} ms, p99 {latency.p99_ms:,.0f} ms")

        report.say(f"mixed load: {records:,} records from the four source systems")
        mixed_load, _ = measure_load(hub, "mixed load", mixed)
        report.say(_load_line("mixed load", mixed_load))

        # Read before Great Expectations is imported into this process.
        bench_peak = sampler.peak_mb("bench")
        stream_workers.stop()
        quality = _quality(endpoints.warehouse_url, workdir, mixed, mixed_load, report)
        memory = Memory(
            worker_peak_mb=max(sampler.peak_mb(f"worker-{n}") for n in range(workers)),
            worker_bulk_peak_mb=worker_bulk_peak,
            bench_peak_mb=bench_peak,
            broker_peak_mb=sampler.peak_mb("broker"),
            sample_interval_s=sampler.interval_s,
        )
        report.say("stopping the embedded stack")
    return BenchReport(
        records=records,
        workers=workers,
        warehouse=warehouse.dialect,
        cpus=os.cpu_count() or 1,
        python=platform.python_version(),
        started_at=started_at,
        elapsed_s=round(time.monotonic() - started, 1),
        simulation_s=round(simulation_s, 2),
        bulk=bulk,
        mixed=mixed_load,
        latency=latency,
        raw_path=raw,
        bare_faust=bare,
        quality=quality,
        memory=memory,
    )


def _simulate(
    directory: Path, records: int, report: Progress
) -> tuple[Source, list[Source], Source, Source]:
    """The bulk population, the mixed load's four systems, and two warm-up populations."""

    def simulate(system: str, where: Path, count: int, seed: int) -> Source:
        return Source(system, where, simulator(system)(where, count, DEFECT_RATE, seed))

    report.say(f"simulating {records:,} population records and the four source systems")
    population = simulate("population", directory / "population", records, SEED)
    mixed = [
        simulate(system, directory / "mixed" / system, count, SEED)
        for system, count in split_records(records).items()
    ]
    # Another seed, so none of its records is one the bulk load sends.
    warm = simulate("population", directory / "warm-up", WARM_UP_RECORDS, SEED + 1)
    warm_again = simulate("population", directory / "warm-up-2", WARM_UP_RECORDS, SEED + 2)
    return population, mixed, warm, warm_again


def _stored_keys(warehouse: Warehouse) -> set[str]:
    """Keys of the citizens in the warehouse: the records that passed validation."""
    key = dataset_table(PERSON).c.personal_id
    with warehouse.engine.connect() as connection:
        return set(connection.execute(select(key)).scalars())


def _quality(
    warehouse_url: str, workdir: Path, sources: list[Source], load: HubLoad, report: Progress
) -> QualityRun:
    datasets = [dataset_id for source in sources for dataset_id in source.manifest.datasets]
    report.say("quality suites: importing Great Expectations")
    importing = time.monotonic()
    from quality.suites import run_quality

    import_s = time.monotonic() - importing
    report.say(f"quality suites: {len(datasets)} datasets, {load.warehouse_rows:,} rows")
    running = time.monotonic()
    outcome = run_quality(warehouse_url, workdir, datasets)
    return QualityRun(
        datasets=len(datasets),
        rows=load.warehouse_rows,
        seconds=round(time.monotonic() - running, 2),
        import_s=round(import_s, 2),
        failed=[dataset for dataset, summary in outcome.datasets.items() if not summary.success],
    )


def _load_line(name: str, load: HubLoad) -> str:
    return (
        f"{name}: {load.records:,} records in {load.seconds:.2f} s "
        f"({load.records_per_s:,.0f} rec/s; connectors {load.publish_records_per_s:,.0f} rec/s)"
    )
