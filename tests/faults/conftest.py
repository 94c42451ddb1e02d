"""Fixtures of the fault tests: one simulated source and the warehouse of an undisturbed load.

``LGSP_SOAK=1`` scales the load (see ``stack.py``); ``LGSP_FAULT_LOAD_RECORDS`` sets it outright.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from stack import (
    Load,
    Snapshot,
    Sources,
    assert_ingest_log_accounts,
    assert_reconciled,
    scaled,
    simulate_sources,
)

from hub.runtime import Runtime
from hub.settings import Settings
from schemas.catalogue import default_catalogue

LOAD_RECORDS = scaled(4_000, 20_000, "LGSP_FAULT_LOAD_RECORDS")
LOAD_SEED = 20261122


@pytest.fixture(scope="session")
def load_sources(tmp_path_factory: pytest.TempPathFactory) -> Sources:
    """The four source systems, simulated once for every fault test under a mixed load."""
    root = tmp_path_factory.mktemp("fault-load-sources")
    return root, simulate_sources(root, LOAD_RECORDS, LOAD_SEED)


@pytest.fixture(scope="session")
def undisturbed(load_sources: Sources, tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    """The warehouse after loading ``load_sources`` with nothing going wrong (SQLite)."""
    workdir: Path = tmp_path_factory.mktemp("undisturbed")
    with (
        Runtime(Settings(workdir=workdir), default_catalogue()) as endpoints,
        Load(endpoints, load_sources) as load,
    ):
        _, taken = load.finish()
        # The yardstick itself must hold what the sources do, once each.
        assert_reconciled(load.engine, load.tallies)
        assert_ingest_log_accounts(load.engine, load.tallies)
    return taken
