"""Latency at a steady rate: from the connector's publish time to the row in the warehouse.

The connector stamps every record with the ``lgsp-ingest-time`` header (UTC, milliseconds) as it
publishes it, and the sink copies that header into the row's ``ingested_at`` column. The bench
polls the warehouse for the rows it is waiting for and stamps each one visible at the start of
the first poll that returns it; latency is that stamp minus ``ingested_at``. Both come from the
same wall clock of the same machine.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from sqlalchemy import Table, select

from bench.report import Latency
from bench.stack import BenchError, Hub, Source
from connectors.base import Offset, SourceRecord
from connectors.offsets import OffsetStore
from connectors.population import PopulationConfig, PopulationConnector
from connectors.runner import ConnectorRunner, RunStats
from warehouse.models import dataset_table

PERSON = "citizen.person"
POLL_INTERVAL_S = 0.01
# The connector publishes whole batches; 20 ms of records per batch keeps the stream steady.
BATCH_SPAN_S = 0.02
# Keys asked for in one IN (...) list: a few sink commits' worth at the latency rate.
KEYS_PER_QUERY = 200


class PacedPopulation(PopulationConnector):
    """The population connector, reading only the given records, at most ``rate`` a second.

    Every record it hands to the runner is appended to ``sent``, for the poller to look for.
    """

    def __init__(
        self,
        config: PopulationConfig,
        *,
        keys: set[str],
        count: int,
        rate: float,
        sent: deque[str],
        stop: threading.Event,
    ) -> None:
        super().__init__(config, instance_name="bench-latency")
        self.keys = keys
        self.count = count
        self.rate = rate
        self.sent = sent
        self.stop = stop
        self.started: float | None = None

    def records(self, since: Offset | None) -> Iterator[SourceRecord]:
        handed = 0
        for record in super().records(since):
            if record.row["personal_id"] not in self.keys:
                continue
            if self.started is None:
                self.started = time.monotonic()
            # On a schedule from the start, so a slow publish is caught up, not compounded.
            delay = self.started + handed / self.rate - time.monotonic()
            if self.stop.wait(max(0.0, delay)):
                return
            self.sent.append(record.row["personal_id"])
            yield record
            handed += 1
            if handed >= self.count:
                return


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``share`` of values at or below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _epoch(moment: datetime) -> float:
    # SQLite hands timestamps back naive; the hub writes them in UTC.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def measure_latency(
    hub: Hub, source: Source, keys: set[str], *, rate: float, count: int
) -> Latency:
    """Publish ``count`` of the source's records whose keys are in ``keys``, at ``rate`` a second.

    Only records that passed validation in an earlier load are sent, so every one of them
    must appear in the warehouse. The warehouse is emptied first, so each appears as a new row.

    Raises:
        BenchError: The connector failed, the worker exited, or the time limit passed.
    """
    hub.warehouse.reset()
    config = PopulationConfig(
        database_url=f"sqlite:///{source.directory / source.manifest.source['database']}",
        table=source.manifest.source["table"],
        batch_size=max(1, round(rate * BATCH_SPAN_S)),
    )
    sent: deque[str] = deque()
    stop = threading.Event()
    connector = PacedPopulation(config, keys=keys, count=count, rate=rate, sent=sent, stop=stop)
    runner = ConnectorRunner(
        connector,
        hub.catalogue.dataset(PERSON),
        bootstrap_servers=hub.endpoints.bootstrap_servers,
        codec=hub.codec,
        offsets=OffsetStore(hub.endpoints.workdir / "offsets" / "latency"),
    )
    outcome: dict[str, Any] = {}

    def publish() -> None:
        try:
            outcome["stats"] = runner.run()
            outcome["finished"] = time.monotonic()
        except Exception as exc:
            outcome["error"] = exc

    publisher = threading.Thread(target=publish, name="bench-latency-publisher", daemon=True)
    publisher.start()
    try:
        latencies = _watch(hub, dataset_table(PERSON), sent, publisher, outcome, count)
    finally:
        stop.set()
        publisher.join(timeout=30)
    stats: RunStats = outcome["stats"]
    if connector.started is None or not latencies:
        raise BenchError("latency: no record was published")
    if len(latencies) != stats.published:
        raise BenchError(f"latency: {stats.published} published but {len(latencies)} seen")
    return Latency(
        records=len(latencies),
        target_rate=rate,
        publish_s=round(outcome["finished"] - connector.started, 3),
        poll_interval_ms=POLL_INTERVAL_S * 1000,
        p50_ms=round(percentile(latencies, 0.50) * 1000, 1),
        p95_ms=round(percentile(latencies, 0.95) * 1000, 1),
        p99_ms=round(percentile(latencies, 0.99) * 1000, 1),
        max_ms=round(max(latencies) * 1000, 1),
    )


def _watch(
    hub: Hub,
    table: Table,
    sent: deque[str],
    publisher: threading.Thread,
    outcome: dict[str, Any],
    count: int,
) -> list[float]:
    """Poll for the sent records until all are visible; their latencies in seconds."""
    pending: dict[str, None] = {}
    latencies: list[float] = []
    while True:
        # Whether the publisher is done is read before draining ``sent``, so that once it
        # is done, every key it sent has been drained.
        published_all = not publisher.is_alive()
        while sent:
            pending[sent.popleft()] = None
        polled = time.monotonic()
        latencies.extend(_newly_visible(hub, table, pending))
        if "error" in outcome:
            raise BenchError(f"latency: the connector failed: {outcome['error']}") from outcome[
                "error"
            ]
        if published_all and not pending:
            return latencies
        hub.workers.check()
        hub.deadline.check(f"latency ({len(latencies):,} of {count:,} records seen)")
        hub.progress.update("latency", f"latency: {len(latencies):,} of {count:,} records seen")
        time.sleep(max(0.0, polled + POLL_INTERVAL_S - time.monotonic()))


def _newly_visible(hub: Hub, table: Table, pending: dict[str, None]) -> list[float]:
    """Latencies of the pending records now in the warehouse, which leave ``pending``.

    Each partition keeps the order records were published in (one agent per partition), so
    only the oldest pending keys are asked for, and the next ones only once those are there:
    a poll costs one small indexed query however long the backlog. With several partitions
    the oldest keys may wait on one of them while another is ahead, so the next keys are
    asked for as long as any of the last ones were found.
    """
    in_order = len(hub.workers.workers) == 1
    key, ingested_at = table.c.personal_id, table.c.ingested_at
    latencies: list[float] = []
    while pending:
        oldest = list(islice(pending, KEYS_PER_QUERY))
        # Each query is its own transaction, so it sees every commit made before it started.
        asked = time.time()
        with hub.warehouse.engine.connect() as connection:
            found = connection.execute(select(key, ingested_at).where(key.in_(oldest))).all()
        for visible, moment in found:
            latencies.append(asked - _epoch(moment))
            del pending[visible]
        missing_some = len(found) < len(oldest)
        if (in_order and missing_some) or not found:
            break
    return latencies
