"""Loads through the real hub: connectors publish, the worker process fills the warehouse."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import psutil

from bench.monitor import cpu_seconds
from bench.report import HubLoad
from bench.stack import Hub, Source
from connectors.base import Connector
from connectors.offsets import OffsetStore
from connectors.runner import ConnectorRunner
from hub.demo import DEMO_SOURCES


def connectors_for(sources: list[Source], stack: ExitStack) -> list[Connector[Any]]:
    """The demo's connectors for these sources; what they need (an API) runs on ``stack``."""
    by_system = {source.system: source.connect for source in DEMO_SOURCES}
    return [
        connector
        for source in sources
        for connector in by_system[source.system](source.directory, source.manifest, stack)
    ]


def publish(
    hub: Hub,
    connectors: list[Connector[Any]],
    offsets: OffsetStore,
    on_read: Callable[[int], None],
) -> tuple[int, dict[str, int]]:
    """Run each connector once over its source.

    Returns:
        Records read, and records published to each dataset's raw topic.
    """
    read = 0
    published: dict[str, int] = {}
    for connector in connectors:
        base = read
        stats = ConnectorRunner(
            connector,
            hub.catalogue.dataset(connector.dataset),
            bootstrap_servers=hub.endpoints.bootstrap_servers,
            codec=hub.codec,
            offsets=offsets,
            on_batch=lambda stats, base=base: on_read(base + stats.read),
        ).run()
        read += stats.read
        published[connector.dataset] = published.get(connector.dataset, 0) + stats.published
    return read, published


def measure_load(hub: Hub, name: str, sources: list[Source]) -> tuple[HubLoad, dict[str, int]]:
    """Load the sources through the hub into an empty warehouse and time it.

    The clock starts just before the first connector runs (any simulated API is already
    serving) and stops at the poll that first sees every record in the warehouse or in
    quarantine.

    Returns:
        The figures, and the records published to each dataset's raw topic.
    """
    expected = {
        dataset_id: tally.records
        for source in sources
        for dataset_id, tally in source.manifest.datasets.items()
    }
    total = sum(expected.values())
    offsets = OffsetStore(hub.endpoints.workdir / "offsets" / name)
    hub.warehouse.reset()
    bench = psutil.Process()
    with ExitStack() as stack:
        connectors = connectors_for(sources, stack)
        worker_cpu, broker_cpu = hub.workers.cpu_seconds(), cpu_seconds(hub.broker_process)
        bench_cpu = cpu_seconds(bench)
        started = time.monotonic()
        read, published = publish(
            hub,
            connectors,
            offsets,
            lambda done: hub.progress.update(name, f"{name}: {done:,} of {total:,} published"),
        )
        publish_s = time.monotonic() - started
        connector_cpu = cpu_seconds(bench) - bench_cpu
        finished, counts = hub.warehouse.await_loaded(
            expected,
            workers=hub.workers,
            deadline=hub.deadline,
            on_poll=lambda done, _total: hub.progress.update(
                name, f"{name}: {done:,} of {total:,} in the warehouse or quarantine"
            ),
        )
        worker_cpu = hub.workers.cpu_seconds() - worker_cpu
        broker_cpu = cpu_seconds(hub.broker_process) - broker_cpu
    load = HubLoad(
        records=read,
        warehouse_rows=sum(stored for stored, _ in counts.values()),
        quarantined=sum(held for _, held in counts.values()),
        publish_s=round(publish_s, 3),
        seconds=round(finished - started, 3),
        connector_cpu_s=round(connector_cpu, 2),
        worker_cpu_s=round(worker_cpu, 2),
        broker_cpu_s=round(broker_cpu, 2),
    )
    return load, published


def warm_up(hub: Hub, source: Source) -> dict[str, int]:
    """Load a small source and wait for it, untimed.

    The worker joins its consumer group, fetches its schemas and opens its warehouse
    connections here, so no measured load pays for that.

    Returns:
        The records published to each dataset's raw topic.
    """
    expected = {dataset_id: tally.records for dataset_id, tally in source.manifest.datasets.items()}
    with ExitStack() as stack:
        connectors = connectors_for([source], stack)
        _, published = publish(
            hub,
            connectors,
            OffsetStore(hub.endpoints.workdir / "offsets" / "warm-up"),
            lambda _done: None,
        )
    hub.warehouse.await_loaded(
        expected,
        workers=hub.workers,
        deadline=hub.deadline,
        on_poll=lambda done, total: hub.progress.update(
            "warm-up", f"warm-up: {done:,} of {total:,} records through the worker"
        ),
    )
    return published
