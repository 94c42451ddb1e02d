"""What a benchmark run measured, the ratios and targets derived from it, and a text rendering.

Every derived figure (rates, ratios, targets) is a computed field: it is worked out from the
measured ones whenever it is read, so it can never disagree with them, and it is still part of
the JSON a run prints.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, computed_field

# The performance issue's targets.
BULK_TARGET_RECORDS = 1_300_000
BULK_TARGET_S = 60.0
BULK_TARGET_RATE = 22_000.0
RAW_PATH_TARGET_SHARE = 0.5
LATENCY_TARGET_RATE = 1_000.0
LATENCY_TARGET_P99_MS = 1_000.0
WORKER_RSS_TARGET_MB = 500.0
# A latency run counts against the target only if it came close to the target rate.
LATENCY_RATE_TOLERANCE = 0.9


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


class _Figures(BaseModel):
    model_config = ConfigDict(frozen=True)


class HubLoad(_Figures):
    """A load through the real hub: connectors -> raw topic -> worker process -> warehouse.

    Attributes:
        records: Source records the connectors read.
        warehouse_rows: Rows in the warehouse when the load was complete.
        quarantined: Records held in quarantine when the load was complete.
        publish_s: From the first source read to the last batch acknowledged by the broker.
        seconds: From the first source read to the last warehouse commit.
        connector_cpu_s: CPU time (user + system) of the bench process, where the connectors
            run, from the first source read to the last acknowledgement.
        worker_cpu_s: CPU time of the worker process over the whole load.
        broker_cpu_s: CPU time of the broker over the whole load.
    """

    records: int
    warehouse_rows: int
    quarantined: int
    publish_s: float
    seconds: float
    connector_cpu_s: float
    worker_cpu_s: float
    broker_cpu_s: float

    @computed_field  # type: ignore[prop-decorator]
    @property
    def records_per_s(self) -> float:
        """End-to-end throughput."""
        return _rate(self.records, self.seconds)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def publish_records_per_s(self) -> float:
        """Throughput of the connectors alone (read, map, encode, publish)."""
        return _rate(self.records, self.publish_s)


class Latency(_Figures):
    """Publish-to-visible latency of records sent at a steady rate.

    Attributes:
        records: Records sent and seen in the warehouse.
        target_rate: The rate the connector was paced at, records per second.
        publish_s: From the first to the last record published.
        poll_interval_ms: How often the warehouse was polled for new rows; a row is stamped
            visible at the start of the first poll that sees it.
        p50_ms: Median latency.
        p95_ms: 95th percentile.
        p99_ms: 99th percentile.
        max_ms: Slowest record.
    """

    records: int
    target_rate: float
    publish_s: float
    poll_interval_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    @computed_field  # type: ignore[prop-decorator]
    @property
    def achieved_rate(self) -> float:
        """The rate records were actually published at."""
        return _rate(self.records, self.publish_s)


class RawPath(_Figures):
    """The hand-written client path: the limit for the hub's end-to-end throughput.

    Attributes:
        records: Records produced, consumed and inserted.
        produce_s: From the first source read to the producer's final flush.
        seconds: From the first source read to the last warehouse commit.
        producer_cpu_s: CPU time of the producer process while it produced.
        consumer_cpu_s: CPU time of the consuming process (the bench) over the run.
        broker_cpu_s: CPU time of the broker over the run.
    """

    records: int
    produce_s: float
    seconds: float
    producer_cpu_s: float
    consumer_cpu_s: float
    broker_cpu_s: float

    @computed_field  # type: ignore[prop-decorator]
    @property
    def records_per_s(self) -> float:
        """End-to-end throughput of the raw path."""
        return _rate(self.records, self.seconds)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def produce_records_per_s(self) -> float:
        """Throughput of the producing half alone (read, map, encode, produce)."""
        return _rate(self.records, self.produce_s)


class BareFaust(_Figures):
    """A faust agent that only counts: the limit for any faust worker on this broker.

    Attributes:
        events: Events the agent counted.
        seconds: From the first event entering faust (its consumer hands it to the streams)
            to the last batch handed to the agent.
        startup_s: From starting the process to the first event (imports, group join).
        cpu_s: CPU time of the faust process from its partition assignment (just before the
            first fetch) to the last batch.
        broker_cpu_s: CPU time of the broker from starting the agent to its last batch.
    """

    events: int
    seconds: float
    startup_s: float
    cpu_s: float
    broker_cpu_s: float

    @computed_field  # type: ignore[prop-decorator]
    @property
    def events_per_s(self) -> float:
        """Events per second from the first to the last event."""
        return _rate(self.events, self.seconds)


class QualityRun(_Figures):
    """The quality suites over the loaded warehouse.

    Attributes:
        datasets: Datasets checked.
        rows: Warehouse rows in those datasets' tables.
        seconds: Time of ``run_quality`` (suites, checkpoint, Data Docs).
        import_s: Time to import Great Expectations first, paid once per process.
        failed: Datasets whose suite failed.
    """

    datasets: int
    rows: int
    seconds: float
    import_s: float
    failed: list[str]


class Memory(_Figures):
    """Peak resident set sizes, sampled.

    Attributes:
        worker_peak_mb: The stream worker process (the largest one, with several), whole run.
        worker_bulk_peak_mb: The same, from the start up to the end of the bulk load (the
            issue's memory target is about the bulk load).
        bench_peak_mb: This process: connectors, pollers, the raw path's consumer.
        broker_peak_mb: The embedded broker, which keeps every topic in memory.
        sample_interval_s: Time between samples.
    """

    worker_peak_mb: float
    worker_bulk_peak_mb: float
    bench_peak_mb: float
    broker_peak_mb: float
    sample_interval_s: float


class Ratio(_Figures):
    """A stage's throughput as a share of its limit's."""

    stage: str
    limit: str
    stage_rate: float
    limit_rate: float

    @computed_field  # type: ignore[prop-decorator]
    @property
    def value(self) -> float:
        return round(self.stage_rate / self.limit_rate, 3) if self.limit_rate > 0 else 0.0


class Target(_Figures):
    """One of the performance issue's targets and where the hub stands against it."""

    name: str
    goal: str
    measured: str
    met: bool


class BenchReport(_Figures):
    """Everything one ``lgsp bench`` run measured, on the same simulated records.

    Attributes:
        records: The ``--records`` asked for: the bulk load's population size, also split over
            the four source systems for the mixed load.
        workers: Stream worker processes, and partitions of every topic.
        warehouse: Dialect of the warehouse (``sqlite`` or ``postgresql``).
        cpus: Logical CPUs of the machine.
        python: Python version.
        started_at: When the run started (UTC).
        elapsed_s: Wall time of the whole run.
        simulation_s: Time spent writing the simulated sources, before any measurement.
    """

    records: int
    workers: int = 1
    warehouse: str
    cpus: int
    python: str
    started_at: datetime
    elapsed_s: float
    simulation_s: float
    bulk: HubLoad
    mixed: HubLoad
    latency: Latency
    raw_path: RawPath
    bare_faust: BareFaust
    quality: QualityRun
    memory: Memory

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ratios(self) -> list[Ratio]:
        """Each stage's throughput against the limits that bound it."""
        raw = ("raw client path", self.raw_path.records_per_s)
        faust = ("bare faust agent", self.bare_faust.events_per_s)
        pairs = [
            ("bulk load", self.bulk.records_per_s, raw),
            ("mixed load", self.mixed.records_per_s, raw),
            ("bulk load", self.bulk.records_per_s, faust),
            ("mixed load", self.mixed.records_per_s, faust),
            (
                "bulk connector publish",
                self.bulk.publish_records_per_s,
                ("raw path produce", self.raw_path.produce_records_per_s),
            ),
        ]
        return [
            Ratio(stage=stage, limit=limit, stage_rate=rate, limit_rate=limit_rate)
            for stage, rate, (limit, limit_rate) in pairs
        ]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def targets(self) -> list[Target]:
        """The issue's targets: bulk rate, share of the raw path, p99 latency, worker memory."""
        bulk_rate = self.bulk.records_per_s
        projected = BULK_TARGET_RECORDS / bulk_rate if bulk_rate > 0 else float("inf")
        share = self.ratios[0].value
        latency = self.latency
        at_rate = latency.achieved_rate >= LATENCY_RATE_TOLERANCE * LATENCY_TARGET_RATE
        return [
            Target(
                name="bulk load",
                goal=f"1.3 M population records in < {BULK_TARGET_S:.0f} s "
                f"(> {BULK_TARGET_RATE:,.0f} rec/s)",
                measured=f"{bulk_rate:,.0f} rec/s; 1.3 M would take {projected:,.0f} s",
                met=bulk_rate > BULK_TARGET_RATE,
            ),
            Target(
                name="end to end vs raw client path",
                goal=f">= {RAW_PATH_TARGET_SHARE:.0%} of the raw client path",
                measured=f"{share:.0%} ({bulk_rate:,.0f} of "
                f"{self.raw_path.records_per_s:,.0f} rec/s)",
                met=share >= RAW_PATH_TARGET_SHARE,
            ),
            Target(
                name="latency",
                goal=f"p99 < {LATENCY_TARGET_P99_MS:,.0f} ms at {LATENCY_TARGET_RATE:,.0f} rec/s",
                measured=f"p99 {latency.p99_ms:,.0f} ms at {latency.achieved_rate:,.0f} rec/s",
                met=at_rate and latency.p99_ms < LATENCY_TARGET_P99_MS,
            ),
            Target(
                name="worker memory",
                goal=f"peak RSS < {WORKER_RSS_TARGET_MB:,.0f} MB during the bulk load",
                measured=f"{self.memory.worker_bulk_peak_mb:,.0f} MB",
                met=self.memory.worker_bulk_peak_mb < WORKER_RSS_TARGET_MB,
            ),
        ]


def _table(
    header: tuple[str, ...], rows: list[tuple[str, ...]], align: str | None = None
) -> list[str]:
    """Aligned columns; ``align`` has an ``l`` or ``r`` per column, by default text then numbers."""
    align = align or "l" + "r" * (len(header) - 1)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        return (
            "  "
            + "  ".join(
                cell.ljust(width) if side == "l" else cell.rjust(width)
                for cell, width, side in zip(cells, widths, align, strict=True)
            ).rstrip()
        )

    return [line(header), *(line(row) for row in rows)]


def render(report: BenchReport) -> str:
    """The report as aligned plain-text tables, for a terminal or a README."""
    bulk, mixed, raw, bare = report.bulk, report.mixed, report.raw_path, report.bare_faust
    latency, memory, quality = report.latency, report.memory, report.quality
    lines = [
        f"LGSP Hub benchmark: {report.records:,} records, {report.warehouse} warehouse, "
        f"{report.workers} stream worker{'s' if report.workers > 1 else ''}, "
        f"{report.cpus} CPUs, Python {report.python}, {report.elapsed_s:,.0f} s in all",
        "",
        "Throughput (first source read -> last warehouse commit) and CPU seconds spent",
        *_table(
            (
                "stage",
                "records",
                "seconds",
                "rec/s",
                "publish rec/s",
                "publish CPU s",
                "consume CPU s",
                "broker CPU s",
            ),
            [
                (
                    "bulk load, population (hub)",
                    f"{bulk.records:,}",
                    f"{bulk.seconds:.2f}",
                    f"{bulk.records_per_s:,.0f}",
                    f"{bulk.publish_records_per_s:,.0f}",
                    f"{bulk.connector_cpu_s:.1f}",
                    f"{bulk.worker_cpu_s:.1f}",
                    f"{bulk.broker_cpu_s:.1f}",
                ),
                (
                    "mixed load, four systems (hub)",
                    f"{mixed.records:,}",
                    f"{mixed.seconds:.2f}",
                    f"{mixed.records_per_s:,.0f}",
                    f"{mixed.publish_records_per_s:,.0f}",
                    f"{mixed.connector_cpu_s:.1f}",
                    f"{mixed.worker_cpu_s:.1f}",
                    f"{mixed.broker_cpu_s:.1f}",
                ),
                (
                    "limit: raw client path",
                    f"{raw.records:,}",
                    f"{raw.seconds:.2f}",
                    f"{raw.records_per_s:,.0f}",
                    f"{raw.produce_records_per_s:,.0f}",
                    f"{raw.producer_cpu_s:.1f}",
                    f"{raw.consumer_cpu_s:.1f}",
                    f"{raw.broker_cpu_s:.1f}",
                ),
                (
                    "limit: bare faust agent (count only)",
                    f"{bare.events:,}",
                    f"{bare.seconds:.2f}",
                    f"{bare.events_per_s:,.0f}",
                    "-",
                    "-",
                    f"{bare.cpu_s:.1f}",
                    f"{bare.broker_cpu_s:.1f}",
                ),
            ],
        ),
        "",
        "Ratios to the limits",
        *_table(
            ("stage / limit", "ratio"),
            [(f"{r.stage} / {r.limit}", f"{r.value:.2f}") for r in report.ratios],
        ),
        "",
        f"Latency, publish -> visible in the warehouse ({latency.records:,} records at "
        f"{latency.achieved_rate:,.0f} rec/s of {latency.target_rate:,.0f} asked, "
        f"polled every {latency.poll_interval_ms:.0f} ms)",
        *_table(
            ("p50 ms", "p95 ms", "p99 ms", "max ms"),
            [
                (
                    f"{latency.p50_ms:,.0f}",
                    f"{latency.p95_ms:,.0f}",
                    f"{latency.p99_ms:,.0f}",
                    f"{latency.max_ms:,.0f}",
                )
            ],
        ),
        "",
        f"Peak RSS (sampled every {memory.sample_interval_s:.1f} s)",
        *_table(
            ("process", "MB"),
            [
                ("stream worker, up to the bulk load end", f"{memory.worker_bulk_peak_mb:,.0f}"),
                ("stream worker, whole run", f"{memory.worker_peak_mb:,.0f}"),
                ("bench (connectors, raw consumer)", f"{memory.bench_peak_mb:,.0f}"),
                ("embedded broker (all topics in memory)", f"{memory.broker_peak_mb:,.0f}"),
            ],
        ),
        "",
        f"Quality suites: {quality.datasets} datasets, {quality.rows:,} rows in "
        f"{quality.seconds:.1f} s (+ {quality.import_s:.1f} s importing Great Expectations), "
        f"{'failed: ' + ', '.join(quality.failed) if quality.failed else 'all passed'}",
        f"Bare faust agent startup (process start -> first event): {bare.startup_s:.1f} s; "
        f"source simulation before the run: {report.simulation_s:.1f} s",
        "",
        "Targets",
        *_table(
            ("", "target", "goal", "measured"),
            [("met" if t.met else "MISSED", t.name, t.goal, t.measured) for t in report.targets],
            align="llll",
        ),
    ]
    return "\n".join(lines)
