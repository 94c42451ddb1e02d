"""What the fault tests share: simulated sources, a hub loading them, and the checks after.

A fault test runs a real hub (Tansu broker, embedded registry, warehouse, ``lgsp worker`` in a
child process) over the simulated sources of all four systems, does something bad to one part
mid-load, and then proves nothing was lost or doubled:

- :func:`snapshot` reads every table the worker writes, minus what says when or under which
  random trace id a row was written, so two runs over the same sources compare row for row;
- :func:`assert_reconciled` checks warehouse + quarantine = source, per dataset;
- :func:`assert_ingest_log_accounts` checks that the ingest log has every stored record's key
  and exactly one entry per valid source record.

Soak: ``LGSP_SOAK=1`` makes every fault test here run longer, on more records with more
faults (see :func:`scaled`); the defaults keep each test near or under two minutes.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import pytest
from sqlalchemy import Engine, select

from connectors.offsets import OffsetStore
from connectors.runner import ConnectorRunner, RunStats
from connectors.simulators import simulator
from connectors.simulators.manifest import DatasetTally, SimulationManifest
from hub.demo import DEMO_SOURCES, split_records
from hub.runtime import Endpoints, WorkerProcess
from schemas.catalogue import column_name, default_catalogue
from schemas.codec import AvroCodec
from schemas.registry.client import RegistryClient
from warehouse.db import create_warehouse_engine, metadata
from warehouse.models import dataset_table
from warehouse.store import count_rows, utc
from warehouse.views import IngestLog

SOAK: Final = os.environ.get("LGSP_SOAK", "").strip().lower() in {"1", "true", "yes"}

# Columns that say when or under which random trace a row was written, not what it holds.
VOLATILE_COLUMNS: Final = frozenset(
    # A reason may quote "today" in Vietnam time, which two runs straddling midnight see
    # differently; the rules, fields and payload held are compared all the same.
    {"ingested_at", "quarantined_at", "trace_id", "id", "reason", "failures"}
)
# Tables the stream worker does not write.
NOT_STREAMED: Final = ("quality_", "ref_", "alembic_")
DEFECT_RATE: Final = 0.02
# The worker logs this (streams/app.py write_until_done) each time the warehouse refuses a batch.
SINK_RETRY_LINE: Final = "warehouse unavailable"

Snapshot = dict[str, list[tuple[tuple[str, Any], ...]]]
"""Per table, its rows sorted; each row its (column, value) pairs."""
Sources = tuple[Path, dict[str, DatasetTally]]


def scaled(default: int, soak: int, variable: str | None = None) -> int:
    """``default``, or ``soak`` under ``LGSP_SOAK=1``; an explicit ``variable`` beats both."""
    if variable is not None and os.environ.get(variable):
        return int(os.environ[variable])
    return soak if SOAK else default


def simulate_sources(root: Path, records: int, seed: int) -> dict[str, DatasetTally]:
    """All four source systems simulated under ``root``, a few defects each; their tallies."""
    tallies: dict[str, DatasetTally] = {}
    for system, count in split_records(records).items():
        tallies.update(simulator(system)(root / system, count, DEFECT_RATE, seed).datasets)
    return tallies


@dataclass(frozen=True)
class Published:
    """What the connectors did over one load.

    Attributes:
        read: Source records read, over every connector.
        retries: Batches sent again because the broker did not acknowledge them in time.
        lag: Source records left after the stored offsets (0: every offset reached the end),
            over the connectors whose source can tell (a paged API may not).
    """

    read: int
    retries: int
    lag: int


def publish(
    endpoints: Endpoints,
    source_root: Path,
    copy_to: Path,
    on_batch: Callable[[int], None] | None = None,
    delivery_timeout_s: float | None = None,
) -> Published:
    """Every connector run once over a private copy of the sources.

    ``on_batch`` hears, after each acknowledged batch, how many records all connectors have
    read so far; what it does then happens between two batches of a running connector.
    ``delivery_timeout_s`` shortens how long a connector waits for the broker before it
    sends a batch again (the runner's ``flush_timeout_s``).
    """
    shutil.copytree(source_root, copy_to)
    catalogue = default_catalogue()
    read_before = 0
    retries = 0
    lag = 0
    timeouts = {} if delivery_timeout_s is None else {"flush_timeout_s": delivery_timeout_s}
    with RegistryClient(endpoints.registry_url) as registry, ExitStack() as stack:
        codec = AvroCodec(registry)
        offsets = OffsetStore(endpoints.workdir / "offsets")
        for source in DEMO_SOURCES:
            manifest = SimulationManifest.read(copy_to / source.system)
            for connector in source.connect(copy_to / source.system, manifest, stack):

                def progress(stats: RunStats, before: int = read_before) -> None:
                    if on_batch is not None:
                        on_batch(before + stats.read)

                stats = ConnectorRunner(
                    connector,
                    catalogue.dataset(connector.dataset),
                    bootstrap_servers=endpoints.bootstrap_servers,
                    codec=codec,
                    offsets=offsets,
                    on_batch=progress,
                    **timeouts,
                ).run()
                read_before += stats.read
                retries += stats.retries
                lag += stats.lag or 0
    return Published(read=read_before, retries=retries, lag=lag)


def register_raw_schemas(endpoints: Endpoints, dataset_ids: Iterable[str]) -> None:
    """Register every raw schema before anything else can.

    The worker registers the shared schemas as it starts, the connectors the raw ones as they
    start; were the two to race, schema ids, and so every payload's bytes and the quarantine's
    fingerprints, would differ from one run to the next.
    """
    catalogue = default_catalogue()
    with RegistryClient(endpoints.registry_url) as registry:
        codec = AvroCodec(registry)
        for dataset_id in dataset_ids:
            dataset = catalogue.dataset(dataset_id)
            codec.register(f"{dataset.raw_topic}-value", dataset.avro_schema())


def settled(engine: Engine, tallies: dict[str, DatasetTally]) -> int:
    """Records in the warehouse or in quarantine, over every dataset."""
    catalogue = default_catalogue()
    return sum(sum(count_rows(engine, catalogue.dataset(d))) for d in tallies)


def _without_trace_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_trace_ids(v) for k, v in value.items() if k != "trace_id"}
    if isinstance(value, list):
        return [_without_trace_ids(item) for item in value]
    return value


def _comparable(value: Any) -> Any:
    # SQLite gives stored times back naive (they are UTC), PostgreSQL aware: compare in UTC.
    if isinstance(value, datetime):
        return utc(value)
    # Lineage JSON (``sources`` of the views) names each record's random trace id.
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            document = json.loads(value)
        except ValueError:
            return value
        return json.dumps(_without_trace_ids(document), sort_keys=True, ensure_ascii=False)
    return value


def _comparable_row(row: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    # A dead letter the connector sent is held under its own offset in dlq.<dataset>, a topic
    # the validator writes to as well: how the two interleave is timing, not content.
    if str(row.get("origin_topic") or "").startswith("dlq."):
        row = {**row, "origin_offset": None}
    return tuple((name, _comparable(value)) for name, value in row.items())


def without_columns(taken: Snapshot, columns: frozenset[str]) -> Snapshot:
    """The same snapshot with ``columns`` left out of every row."""
    return {
        table: sorted(
            (tuple(pair for pair in row if pair[0] not in columns) for row in rows), key=repr
        )
        for table, rows in taken.items()
    }


def snapshot(engine: Engine) -> Snapshot:
    """Every streamed table's rows, sorted, without the columns two runs cannot share."""
    tables = [t for t in metadata.sorted_tables if not t.name.startswith(NOT_STREAMED)]
    taken: Snapshot = {}
    with engine.connect() as connection:
        for table in tables:
            columns = [c for c in table.columns if c.name not in VOLATILE_COLUMNS]
            rows = connection.execute(select(*columns)).mappings().all()
            taken[table.name] = sorted((_comparable_row(row) for row in rows), key=repr)
    return taken


def assert_same_warehouse(disturbed: Snapshot, undisturbed: Snapshot, what: str) -> None:
    """Row for row, every streamed table of the two runs.

    The ingest log is keyed by ``raw.*`` offset, which a redelivery after a fault keeps, so it
    compares row for row too. A fault that makes connectors resend puts records at offsets an
    undisturbed run never had: compare :func:`without_columns` (the offsets) then.
    """
    assert disturbed.keys() == undisturbed.keys()
    for table, rows in undisturbed.items():
        got = disturbed[table]
        if got != rows:
            missing = sorted(set(rows) - set(got), key=repr)
            extra = sorted(set(got) - set(rows), key=repr)
            raise AssertionError(
                f"{table} differs after {what}: {len(got)} rows against {len(rows)}, "
                f"{len(missing)} missing, {len(extra)} not in the undisturbed run; "
                f"first missing {repr(missing[:1])[:800]}, first extra {repr(extra[:1])[:800]}"
            )


def assert_reconciled(engine: Engine, tallies: dict[str, DatasetTally]) -> None:
    """Per dataset: the valid records stored, the spoiled ones held, nothing else."""
    catalogue = default_catalogue()
    for dataset_id, tally in tallies.items():
        stored, held = count_rows(engine, catalogue.dataset(dataset_id))
        assert (stored, held) == (tally.records - tally.defects_injected, tally.defects_injected), (
            f"{dataset_id}: {stored} stored + {held} held, but the source holds {tally.records} "
            f"records of which {tally.defects_injected} spoiled"
        )


def assert_ingest_log_accounts(engine: Engine, tallies: dict[str, DatasetTally]) -> None:
    """The ingest log names every stored record, and each valid source record once.

    A record a connector sent again (the broker took it, but acknowledged too late) arrives
    twice under one trace id: one publication delivered twice, which the log shows at two
    offsets and accounts once. A key under two trace ids is a record published twice, a
    doubling the warehouse's upserts would hide and this finds.
    """
    catalogue = default_catalogue()
    log = IngestLog.__table__
    with engine.connect() as connection:
        for dataset_id, tally in tallies.items():
            dataset = catalogue.dataset(dataset_id)
            table = dataset_table(dataset_id)
            key_columns = [table.c[column_name(path)] for path in dataset.key]
            stored = {
                "|".join(str(value) for value in row)
                for row in connection.execute(select(*key_columns))
            }
            publications = Counter(
                key
                for key, _trace in connection.execute(
                    select(log.c.record_key, log.c.trace_id)
                    .where(log.c.dataset == dataset_id)
                    .distinct()
                )
            )
            unlogged = stored - publications.keys()
            assert not unlogged, (
                f"{dataset_id}: {len(unlogged)} stored records missing from the ingest log, "
                f"e.g. {sorted(unlogged)[:3]}"
            )
            doubled = {key: n for key, n in publications.items() if n > 1}
            assert not doubled, (
                f"{dataset_id}: {len(doubled)} keys published more than once, "
                f"e.g. {sorted(doubled.items())[:3]}"
            )
            valid = tally.records - tally.defects_injected
            assert sum(publications.values()) == valid, (
                f"{dataset_id}: {sum(publications.values())} publications in the ingest log "
                f"for {valid} valid source records"
            )


def assert_nothing_lost_or_doubled(
    disturbed: Snapshot,
    undisturbed: Snapshot,
    what: str,
    engine: Engine,
    tallies: dict[str, DatasetTally],
) -> None:
    """The three checks after a fault, each run, failing with all that failed."""
    failed: list[str] = []
    for check in (
        lambda: assert_same_warehouse(disturbed, undisturbed, what),
        lambda: assert_reconciled(engine, tallies),
        lambda: assert_ingest_log_accounts(engine, tallies),
    ):
        try:
            check()
        except AssertionError as exc:
            failed.append(str(exc))
    assert not failed, "\n".join(failed)


def sink_retries(worker: WorkerProcess) -> int:
    """How many times the worker's log says the warehouse refused a batch."""
    if not worker.log_path.exists():
        return 0
    text = worker.log_path.read_text(encoding="utf-8", errors="replace")
    return text.count(SINK_RETRY_LINE)


def log_tail(worker: WorkerProcess, chars: int = 3000) -> str:
    if not worker.log_path.exists():
        return "(the worker wrote no log)"
    return worker.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]


class Load:
    """A hub loading the sources: the worker consuming while the connectors publish.

    The connectors run in a thread of this process, so a fault can be set off between two
    of their batches (``on_batch``) or whenever the warehouse reaches a share of the load.
    Leaving stops the worker and waits for the connectors' run to end.
    ``worker_warehouse_url`` points the worker somewhere else than the test's own reads,
    such as through a proxy that a test cuts.
    """

    def __init__(
        self,
        endpoints: Endpoints,
        sources: Sources,
        *,
        worker_warehouse_url: str | None = None,
        delivery_timeout_s: float | None = None,
        timeout_s: float = 600.0,
    ) -> None:
        self.endpoints = endpoints
        self.source_root, self.tallies = sources
        self.total = sum(tally.records for tally in self.tallies.values())
        # Set before entering to act between two connector batches (see :func:`publish`).
        self.on_batch: Callable[[int], None] | None = None
        self.delivery_timeout_s = delivery_timeout_s
        self.deadline = time.monotonic() + timeout_s
        worker_endpoints = (
            endpoints
            if worker_warehouse_url is None
            else replace(endpoints, warehouse_url=worker_warehouse_url)
        )
        self.worker = WorkerProcess(
            worker_endpoints, endpoints.workdir / "logs" / "worker.log", tuple(self.tallies)
        )
        self.engine = create_warehouse_engine(endpoints.warehouse_url)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="connectors")
        self._publishing: Future[Published] | None = None

    def __enter__(self) -> Load:
        register_raw_schemas(self.endpoints, tuple(self.tallies))
        self.worker.start()
        self._publishing = self._executor.submit(
            publish,
            self.endpoints,
            self.source_root,
            self.endpoints.workdir / "sources",
            self.on_batch,
            self.delivery_timeout_s,
        )
        return self

    def __exit__(self, *_exc: object) -> None:
        self.worker.stop()
        self._executor.shutdown(wait=True, cancel_futures=True)
        self.engine.dispose()

    @property
    def settled(self) -> int:
        return settled(self.engine, self.tallies)

    def check(self, waiting_for: str) -> None:
        """Fail at once if the worker died, the connectors failed, or the load stalled.

        These fail the test outright (``pytest.fail``), never as an ``AssertionError``, so a
        test expected to fail on what the warehouse holds cannot pass off a broken load.
        """
        if not self.worker.running:
            pytest.fail(f"the worker exited: {log_tail(self.worker)}", pytrace=False)
        if self._publishing is not None and self._publishing.done():
            self._publishing.result()
        if time.monotonic() > self.deadline:
            pytest.fail(
                f"stalled waiting for {waiting_for}: {self.settled} of {self.total} records "
                f"settled",
                pytrace=False,
            )

    def wait_until(self, condition: Callable[[], bool], waiting_for: str) -> None:
        while not condition():
            self.check(waiting_for)
            time.sleep(0.05)

    def wait_for_share(self, share: float) -> None:
        """Until the warehouse and quarantine hold ``share`` of the source records."""
        self.wait_until(lambda: self.settled >= share * self.total, f"{share:.0%} settled")

    def finish(self, quiet_s: float = 3.0) -> tuple[Published, Snapshot]:
        """Everything published and settled; redeliveries given ``quiet_s`` to land."""
        assert self._publishing is not None
        while not self._publishing.done():
            self.check("the connectors")
            time.sleep(0.1)
        published = self._publishing.result()
        if published.read != self.total:
            pytest.fail(f"the connectors read {published.read} of {self.total} source records")
        self.wait_until(lambda: self.settled >= self.total, "every record settled")
        # Batches redelivered after a fault arrive now and must change nothing.
        time.sleep(quiet_s)
        self.check("the quiet period")
        return published, snapshot(self.engine)
