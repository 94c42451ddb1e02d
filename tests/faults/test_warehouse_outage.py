"""The warehouse unavailable mid-load: the sink retries, holds its offsets and catches up.

Two outages, each while the worker loads the simulated sources of all four systems and the
connectors publish:

- PostgreSQL gone: the worker reaches the server through a proxy (``proxy.py``), which is cut
  (every connection reset, new ones refused) for several seconds, then restored. The server
  itself keeps serving everyone else.
- SQLite locked: another connection holds ``BEGIN EXCLUSIVE`` on the warehouse file for longer
  than the worker's busy timeout, so the sink's writes fail rather than wait.

After each: the warehouse equals the undisturbed run's row for row, reconciles with the
sources (warehouse + quarantine = source, per dataset), the ingest log accounts for every
record, and the worker's log shows it retried.

Soak: ``LGSP_SOAK=1`` loads more records with more and longer outages; ``LGSP_FAULT_CUTS``,
``LGSP_FAULT_CUT_S`` and ``LGSP_FAULT_LOCKS`` set them outright.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from proxy import CuttableProxy
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import make_url
from stack import (
    SOAK,
    Load,
    Snapshot,
    Sources,
    assert_nothing_lost_or_doubled,
    log_tail,
    scaled,
    sink_retries,
)

from hub.runtime import Runtime
from hub.settings import Settings
from schemas.catalogue import default_catalogue
from warehouse.db import create_warehouse_engine

CUTS = scaled(1, 3, "LGSP_FAULT_CUTS")
CUT_S = float(scaled(8, 12, "LGSP_FAULT_CUT_S"))
LOCKS = scaled(1, 2, "LGSP_FAULT_LOCKS")
# How much longer than the worker's busy timeout the file stays locked.
LOCK_PAST_BUSY_TIMEOUT_S = 5.0

pytestmark = pytest.mark.timeout(1800 if SOAK else 300)


def _shares(rounds: int) -> list[float]:
    """Where in the load each outage starts: spread between a fifth and three fifths."""
    return [0.2 + 0.4 * i / (rounds - 1) for i in range(rounds)] if rounds > 1 else [0.3]


def _hold(load: Load, seconds: float, what: str) -> None:
    """Let ``seconds`` pass while watching that the worker stays up through the outage."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        load.check(what)
        time.sleep(0.1)


def _expect_mid_load(load: Load, settled_at: list[int]) -> None:
    if not all(0 < settled < load.total for settled in settled_at):
        pytest.fail(f"an outage did not fall mid-load: settled {settled_at} of {load.total}")


def _expect_retries(load: Load) -> int:
    retries = sink_retries(load.worker)
    if retries == 0:
        pytest.fail(f"the worker logged no retry: {log_tail(load.worker)}", pytrace=False)
    return retries


@pytest.mark.postgres
def test_postgres_cut_off_mid_load_leaves_the_warehouse_of_an_undisturbed_run(
    load_sources: Sources, undisturbed: Snapshot, postgres_url: str, tmp_path: Path
) -> None:
    _, tallies = load_sources
    direct = make_url(postgres_url)
    settled_at: list[int] = []
    with CuttableProxy(direct.host or "127.0.0.1", direct.port or 5432) as proxy:
        through_proxy = direct.set(host="127.0.0.1", port=proxy.port)
        with (
            Runtime(
                Settings(
                    workdir=tmp_path,
                    warehouse_url=postgres_url,
                    # Given, as a production hub's is: an external warehouse with no key only warns.
                    pseudonym_key=SecretStr(secrets.token_urlsafe(48)),
                ),
                default_catalogue(),
            ) as endpoints,
            Load(
                endpoints,
                load_sources,
                worker_warehouse_url=through_proxy.render_as_string(hide_password=False),
            ) as load,
        ):
            for share in _shares(CUTS):
                load.wait_for_share(share)
                settled_at.append(load.settled)
                proxy.cut()
                _hold(load, CUT_S, "the worker through a cut")
                proxy.restore()
            _, cut = load.finish()
            _expect_mid_load(load, settled_at)
            retries = _expect_retries(load)
            print(
                f"PostgreSQL cut {CUTS}x for {CUT_S:.0f}s over {load.total} records at "
                f"{settled_at} settled: {proxy.connections_cut} connections reset, "
                f"{retries} sink retries logged"
            )
            assert_nothing_lost_or_doubled(
                cut, undisturbed, f"{CUTS} cuts of {CUT_S}s", load.engine, tallies
            )


def busy_timeout_s(warehouse_url: str) -> float:
    """How long the worker's connections wait on a locked SQLite file before failing."""
    engine = create_warehouse_engine(warehouse_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("PRAGMA busy_timeout")).scalar_one()) / 1000
    finally:
        engine.dispose()


@contextmanager
def exclusive_lock(database: Path) -> Iterator[None]:
    """Hold the SQLite file's write lock, as a long writer elsewhere would."""
    # isolation_level=None: the BEGIN below is sent as written, not managed by sqlite3.
    connection = sqlite3.connect(database, timeout=60, isolation_level=None)
    try:
        connection.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
    finally:
        connection.close()


def test_sqlite_locked_mid_load_leaves_the_warehouse_of_an_undisturbed_run(
    load_sources: Sources, undisturbed: Snapshot, tmp_path: Path
) -> None:
    _, tallies = load_sources
    settled_at: list[int] = []
    with (
        Runtime(Settings(workdir=tmp_path), default_catalogue()) as endpoints,
        Load(endpoints, load_sources) as load,
    ):
        database = Path(make_url(endpoints.warehouse_url).database or "")
        # A shorter lock is waited out inside SQLite and the sink never notices it.
        locked_s = busy_timeout_s(endpoints.warehouse_url) + LOCK_PAST_BUSY_TIMEOUT_S
        for share in _shares(LOCKS):
            load.wait_for_share(share)
            settled_at.append(load.settled)
            with exclusive_lock(database):
                _hold(load, locked_s, "the worker through a lock")
        _, locked = load.finish()
        _expect_mid_load(load, settled_at)
        retries = _expect_retries(load)
        print(
            f"SQLite locked {LOCKS}x for {locked_s:.0f}s over {load.total} records at "
            f"{settled_at} settled: {retries} sink retries logged"
        )
        assert_nothing_lost_or_doubled(
            locked, undisturbed, f"{LOCKS} locks of {locked_s}s", load.engine, tallies
        )
