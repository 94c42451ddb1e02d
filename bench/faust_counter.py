"""A faust app whose one agent only counts (``python -m bench.faust_counter``).

It runs with the hub worker's app class, settings and batch size, so the rate it reaches is what
faust itself allows on this broker: the limit for the hub's worker. When it has counted the
expected number of events it writes a JSON file (events, first event in and last batch out as
``time.monotonic()``, which is system-wide, and the CPU time between them) and keeps running
until the parent stops it.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import faust

from streams.app import BATCH_WITHIN_S, VALIDATE_BATCH, HubApp, HubWorker, app_settings


def create_counter(
    *, app_id: str, bootstrap_servers: str, topic: str, expected: int, result: Path, datadir: Path
) -> faust.App:
    """The app: the worker's app class and settings (``streams.app``), one agent taking batches."""
    settings = app_settings(app_id, bootstrap_servers, datadir, partitions=1)
    app = HubApp(settings.pop("id"), **settings)
    source = app.topic(topic, key_serializer="raw", value_serializer="raw")
    seen: dict[str, float] = {"events": 0}

    async def on_assigned(_sender: object, *_args: object, **_kwargs: object) -> None:
        # CPU is counted from the assignment: events of the first batch were fetched after it.
        seen["cpu_s"] = time.process_time()

    app.on_partitions_assigned.connect(on_assigned)

    async def count(stream: faust.StreamT) -> None:
        async for events in stream.take_events(VALIDATE_BATCH, within=BATCH_WITHIN_S):
            now = time.monotonic()
            if "first_in" not in seen:
                # The monitor stamps each message as the consumer hands it to the streams.
                seen["first_in"] = events[0].message.time_in or now
            seen["events"] += len(events)
            if seen["events"] >= expected and not result.exists():
                outcome = {**seen, "last": now, "cpu_s": time.process_time() - seen["cpu_s"]}
                partial = result.with_suffix(".tmp")
                partial.write_text(json.dumps(outcome))
                os.replace(partial, result)

    app.agent(source, name="bench.count")(count)
    return app


def main(argv: list[str] | None = None) -> None:
    """Count events on a topic until stopped (SIGTERM)."""
    parser = argparse.ArgumentParser(prog="python -m bench.faust_counter")
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--expected", type=int, required=True)
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--datadir", type=Path, required=True)
    args = parser.parse_args(argv)
    app = create_counter(
        app_id=args.app_id,
        bootstrap_servers=args.bootstrap_servers,
        topic=args.topic,
        expected=args.expected,
        result=args.result,
        datadir=args.datadir,
    )
    HubWorker(app, loglevel="warn", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
