"""The broker frozen (SIGSTOP) mid-load, then thawed (SIGCONT): nothing lost, nothing doubled.

A hub with its own Tansu broker loads the simulated sources of all four systems while its
worker consumes. Between two connector batches, once the worker has stored records, the
broker process is stopped for longer than the worker's group session timeout (6 s) and
resumed. The connectors sit on unacknowledged batches (their offsets not yet stored), the
agents wait on the broker; afterwards the warehouse must equal the undisturbed run's row for
row, reconcile with the sources, and the ingest log must account for every record.

Soak: ``LGSP_SOAK=1`` loads more records and pauses the broker more often and for longer;
``LGSP_FAULT_PAUSES`` and ``LGSP_FAULT_PAUSE_S`` set the pauses outright.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
from stack import (
    SOAK,
    Load,
    Snapshot,
    Sources,
    assert_nothing_lost_or_doubled,
    scaled,
    without_columns,
)

from hub.broker import TansuBroker
from hub.runtime import Runtime
from hub.settings import Settings
from schemas.catalogue import default_catalogue

PAUSES = scaled(1, 3, "LGSP_FAULT_PAUSES")
# Longer than the worker's 6 s broker session timeout (streams/app.py app_settings).
PAUSE_S = float(scaled(9, 15, "LGSP_FAULT_PAUSE_S"))
# Share of the load the worker stores between two pauses (and before the first).
WORKER_PROGRESS_BEFORE_PAUSE = 0.05

pytestmark = pytest.mark.timeout(1800 if SOAK else 300)


def broker_process(broker: TansuBroker) -> psutil.Process:
    """The broker's process, found among this process's children by its listener."""
    listener = f"tcp://{broker.bootstrap_servers}"
    for child in psutil.Process().children():
        if listener in child.cmdline():
            return child
    pytest.fail(f"no child process of this test listens on {listener}")


@dataclass
class Pause:
    """One freeze: when in the load it came, and for how long the broker was stopped."""

    after_read: int
    settled_before: int
    stopped_s: float = 0.0


@dataclass
class BrokerFreezer:
    """Stops the broker between connector batches, each time the load passes a share.

    The stop is set off from the connectors' thread, so they go on publishing into the
    frozen broker; a timer thread resumes it, so the test never holds the broker stopped.
    """

    process: psutil.Process
    load: Load
    shares: list[float]
    seconds: float
    pauses: list[Pause] = field(default_factory=list)
    _resumed: threading.Event = field(default_factory=threading.Event)
    _stopped_at: float = 0.0
    _timer: threading.Timer | None = None

    def __post_init__(self) -> None:
        self._resumed.set()

    def after_batch(self, read: int) -> None:
        if len(self.pauses) >= len(self.shares) or read < self.shares[len(self.pauses)] * (
            self.load.total
        ):
            return
        # Freeze only once the worker is well into the stream since the last freeze, so the
        # fault hits agents with batches in flight rather than a worker still joining.
        wanted = (self.pauses[-1].settled_before if self.pauses else 0) + max(
            1, int(self.load.total * WORKER_PROGRESS_BEFORE_PAUSE)
        )
        self.load.wait_until(lambda: self.load.settled >= wanted, "the worker to store records")
        self.pauses.append(Pause(after_read=read, settled_before=self.load.settled))
        self._resumed.clear()
        self._stopped_at = time.monotonic()
        os.kill(self.process.pid, signal.SIGSTOP)
        self._timer = threading.Timer(self.seconds, self.resume)
        self._timer.start()

    def resume(self) -> None:
        if self._resumed.is_set():
            return
        os.kill(self.process.pid, signal.SIGCONT)
        self.pauses[-1].stopped_s = time.monotonic() - self._stopped_at
        self._resumed.set()

    def close(self) -> None:
        """Whatever happened, leave the broker running."""
        if self._timer is not None:
            self._timer.cancel()
        self.resume()


@pytest.mark.parametrize(
    "delivery_timeout_s",
    [
        # The connectors wait out the pause: librdkafka holds the batch until the broker is back.
        pytest.param(None, id="connectors-wait"),
        # The pause outlasts the connectors' delivery timeout: the runner sends batches again.
        pytest.param(
            4.0,
            id="connectors-resend",
        ),
    ],
)
def test_a_broker_paused_mid_load_leaves_the_warehouse_of_an_undisturbed_run(
    load_sources: Sources,
    undisturbed: Snapshot,
    tmp_path: Path,
    delivery_timeout_s: float | None,
) -> None:
    _, tallies = load_sources
    # Spread over the first four fifths of the publishing, so connectors still run after each.
    shares = [0.2 + 0.6 * i / (PAUSES - 1) for i in range(PAUSES)] if PAUSES > 1 else [0.4]
    with (
        TansuBroker(log_path=tmp_path / "logs" / "broker.log") as broker,
        Runtime(
            Settings(workdir=tmp_path, bootstrap_servers=broker.bootstrap_servers),
            default_catalogue(),
        ) as endpoints,
    ):
        load = Load(endpoints, load_sources, delivery_timeout_s=delivery_timeout_s)
        freezer = BrokerFreezer(broker_process(broker), load, shares, PAUSE_S)
        load.on_batch = freezer.after_batch
        with load:
            try:
                published, paused = load.finish()
            finally:
                freezer.close()
            summary = (
                f"broker paused {len(freezer.pauses)}x over {load.total} records: "
                f"{freezer.pauses}; connector batches sent again: {published.retries}"
            )
            print(summary)
            # What the fault must have been; failing any of these is no expected failure.
            if broker_process(broker).status() == psutil.STATUS_STOPPED:
                pytest.fail("the broker was left stopped")
            if len(freezer.pauses) != PAUSES or any(
                p.stopped_s < PAUSE_S or not 0 < p.settled_before < load.total
                for p in freezer.pauses
            ):
                pytest.fail(f"not {PAUSES} pauses of {PAUSE_S}s mid-load: {summary}")
            if delivery_timeout_s is not None and published.retries == 0:
                pytest.fail(f"the connectors never sent a batch again: {summary}")
            # The connectors read each record once (``finish``) and their stored offsets reached
            # the end of every source that can tell: held through the pause, never skipped.
            if published.lag != 0:
                pytest.fail(f"{published.lag} source records left behind the stored offsets")

            # Batches sent again sit twice in the raw topics, so every later record is at an
            # offset the undisturbed run did not give it, and which of a record's two copies
            # was read first is timing: offsets are compared only when nothing was resent.
            if published.retries:
                offsets = frozenset({"offset", "origin_offset"})
                paused = without_columns(paused, offsets)
                undisturbed = without_columns(undisturbed, offsets)
            assert_nothing_lost_or_doubled(paused, undisturbed, summary, load.engine, tallies)
