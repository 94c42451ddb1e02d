"""What every stage of a run shares: the time limit, progress, child processes, the warehouse."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench.monitor import cpu_seconds
from connectors.simulators.manifest import SimulationManifest
from hub.broker import die_with_parent
from hub.runtime import Endpoints, WorkerProcess
from schemas.catalogue import Catalogue
from schemas.codec import AvroCodec
from streams.app import VALIDATE_BATCH
from warehouse.db import create_warehouse_engine
from warehouse.store import count_rows, empty_streamed_tables

# Completion is seen by polling, so the end of a load is known to within one poll. Polls are
# cheap but not free on two cores, so they are frequent only near the end: once no more records
# are missing than one worker batch holds, the next commit may be the last.
COARSE_POLL_S = 0.2
FINE_POLL_S = 0.02
FINE_POLL_BELOW = VALIDATE_BATCH

# The bench package's parent, so child processes import this very package.
_PROJECT_ROOT = Path(__file__).resolve().parent.parent


class BenchError(RuntimeError):
    """A run could not finish; the message says which stage and where to look."""


class Deadline:
    """The time limit of a whole run, checked by every stage that waits."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._at = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self._at - time.monotonic())

    def check(self, what: str) -> None:
        """Raise if the limit has passed.

        Raises:
            BenchError: Naming ``what`` was still going on.
        """
        if time.monotonic() > self._at:
            raise BenchError(f"{what}: the run's time limit of {self.seconds:.0f}s was reached")


class Progress:
    """Progress lines for the caller, with frequent updates limited to one a second."""

    def __init__(self, callback: Callable[[str], None] | None) -> None:
        self._callback = callback or (lambda _line: None)
        self._last: dict[str, float] = {}

    def say(self, line: str) -> None:
        self._callback(line)

    def update(self, topic: str, line: str) -> None:
        now = time.monotonic()
        if now - self._last.get(topic, 0.0) >= 1.0:
            self._last[topic] = now
            self._callback(line)


def log_tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log, to put in an error message before the log is deleted."""
    try:
        content = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return f"({path} is unreadable)"
    return "\n".join(content[-lines:]) or f"({path} is empty)"


def spawn_module(
    module: str, args: list[str], log_path: Path, *, stdout: int | None = None
) -> subprocess.Popen[bytes]:
    """Start ``python -m module`` as a child that dies with this process.

    Args:
        module: A module of this package with a command-line entry.
        args: Its arguments.
        log_path: Where its standard error (and output, unless ``stdout`` is given) goes.
        stdout: ``subprocess.PIPE`` to read its output.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    path = os.pathsep.join(filter(None, [str(_PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", module, *args],
            env={**os.environ, "PYTHONPATH": path},
            stdout=log if stdout is None else stdout,
            stderr=log,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )


def stop_child(process: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if the child has not exited within ``timeout_s``."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A fresh schema in the given PostgreSQL database for this run, dropped afterwards.

    The run deletes rows between stages, so it must never see tables it did not create.

    Yields:
        The URL with that schema as its search path.
    """
    schema = f"lgsp_bench_{uuid.uuid4().hex[:12]}"
    engine = create_warehouse_engine(url, setting="--postgres")
    try:
        with engine.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
            yield scoped.render_as_string(hide_password=False)
        finally:
            with engine.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        engine.dispose()


class Warehouse:
    """The run's warehouse: emptied between stages, polled for completion."""

    def __init__(self, url: str, catalogue: Catalogue) -> None:
        self.engine = create_warehouse_engine(url)
        self.catalogue = catalogue

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def reset(self) -> None:
        """Empty the dataset tables, the quarantine and all derived, so stages start alike."""
        with self.engine.begin() as connection:
            empty_streamed_tables(connection, self.catalogue.datasets)

    def counts(self, datasets: list[str]) -> dict[str, tuple[int, int]]:
        """(rows stored, records held in quarantine) per dataset."""
        return {
            dataset_id: count_rows(self.engine, self.catalogue.dataset(dataset_id))
            for dataset_id in datasets
        }

    def await_loaded(
        self,
        expected: dict[str, int],
        *,
        workers: Workers,
        deadline: Deadline,
        on_poll: Callable[[int, int], None],
    ) -> tuple[float, dict[str, tuple[int, int]]]:
        """Wait until each dataset's rows and quarantined records add up to what was sent.

        Args:
            expected: Source records per dataset.
            workers: The stream workers, checked between polls.
            deadline: The run's time limit.
            on_poll: Called with (records accounted for, records expected) after each poll.

        Returns:
            When the poll that first saw every record started (``time.monotonic``), which is
            at most one poll after the last commit; and the counts it saw.

        Raises:
            BenchError: The worker exited or the time limit passed first.
        """
        total = sum(expected.values())
        while True:
            polled = time.monotonic()
            counts = self.counts(list(expected))
            done = sum(stored + held for stored, held in counts.values())
            on_poll(done, total)
            if all(sum(counts[d]) >= expected[d] for d in expected):
                return polled, counts
            workers.check()
            deadline.check(f"waiting for the warehouse ({done:,} of {total:,} records)")
            time.sleep(FINE_POLL_S if total - done <= FINE_POLL_BELOW else COARSE_POLL_S)

    def close(self) -> None:
        self.engine.dispose()


@dataclass(frozen=True)
class Workers:
    """The stream worker processes, as production runs them (``lgsp worker``).

    Attributes:
        workers: Each worker, one per topic partition.
        processes: Their processes, for CPU time and memory.
    """

    workers: tuple[WorkerProcess, ...]
    processes: tuple[psutil.Process, ...]

    def check(self) -> None:
        """Raise if a worker has exited.

        Raises:
            BenchError: Naming the worker, its exit code and the end of its log.
        """
        for worker in self.workers:
            if not worker.running:
                raise BenchError(
                    f"the stream worker exited with code {worker.returncode}:\n"
                    f"{log_tail(worker.log_path)}"
                )

    def cpu_seconds(self) -> float:
        """CPU time all the workers have used so far."""
        return sum(cpu_seconds(process) for process in self.processes)

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()


@dataclass(frozen=True)
class Hub:
    """The running hub a load goes through, and the processes whose cost it measures."""

    endpoints: Endpoints
    catalogue: Catalogue
    codec: AvroCodec
    warehouse: Warehouse
    workers: Workers
    broker_process: psutil.Process
    deadline: Deadline
    progress: Progress


@dataclass(frozen=True)
class Source:
    """A simulated source system on disk and its manifest."""

    system: str
    directory: Path
    manifest: SimulationManifest
