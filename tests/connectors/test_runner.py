from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from connectors.base import Offset, SourceRecord
from connectors.offsets import OffsetStore
from connectors.population import PopulationConfig, PopulationConnector
from connectors.runner import ConnectorRunner
from connectors.simulators.population import simulate_population
from schemas import headers as h
from schemas.catalogue import Dataset
from schemas.codec import AvroCodec
from schemas.registry.client import RegistryClient


@pytest.fixture
def dataset(lgsp_fresh_dataset) -> Dataset:
    return lgsp_fresh_dataset("citizen.person")


@pytest.fixture
def codec(registry) -> Iterator[AvroCodec]:
    with RegistryClient(registry.url) as client:
        yield AvroCodec(client)


def runner_for(connector, dataset, broker, codec, offsets: OffsetStore) -> ConnectorRunner:
    return ConnectorRunner(
        connector,
        dataset,
        bootstrap_servers=broker.bootstrap_servers,
        codec=codec,
        offsets=offsets,
    )


def population(
    tmp_path: Path, records: int, rate: float = 0.0, seed: int = 7
) -> PopulationConnector:
    manifest = simulate_population(tmp_path / "source", records, rate, seed)
    url = f"sqlite:///{tmp_path / 'source' / manifest.source['database']}"
    return PopulationConnector(PopulationConfig(database_url=url, batch_size=250))


class CrashingConnector(PopulationConnector):
    """Dies after handing over a number of rows, as a connector killed mid-run would."""

    crash_after = 0

    def records(self, since: Offset | None) -> Iterator[SourceRecord]:
        for handed, record in enumerate(super().records(since)):
            if handed == self.crash_after:
                raise RuntimeError("connector killed")
            yield record


def keys(messages) -> list[str]:
    return [m.key.decode() for m in messages]


def test_resumes_from_stored_offset_without_duplicates(
    tmp_path, dataset, broker, codec, lgsp_read_topic
) -> None:
    connector = population(tmp_path, 1000)
    offsets = OffsetStore(tmp_path / "offsets")
    first = runner_for(connector, dataset, broker, codec, offsets).run()
    assert (first.read, first.published) == (1000, 1000)

    # Rows updated at the source after the first run are the only ones the next run sends.
    database = tmp_path / "source" / "population.db"
    with sqlite3.connect(database) as source:
        changed = [r[0] for r in source.execute("SELECT personal_id FROM citizen LIMIT 40")]
        (latest,) = source.execute("SELECT max(updated_at) FROM citizen").fetchone()
        later = (datetime.fromisoformat(latest) + timedelta(minutes=5)).isoformat()
        source.executemany(
            "UPDATE citizen SET updated_at = ?, full_name = ? WHERE personal_id = ?",
            [(later, "Hoàng Thị Thu Hà", pid) for pid in changed],
        )
    second = runner_for(connector, dataset, broker, codec, offsets).run()
    assert (second.read, second.published) == (40, 40)
    third = runner_for(connector, dataset, broker, codec, offsets).run()
    assert third.read == 0

    published = keys(lgsp_read_topic(broker.bootstrap_servers, dataset.raw_topic))
    assert len(published) == 1040
    assert sorted(published[1000:]) == sorted(changed)
    assert len(set(published[:1000])) == 1000


def test_a_killed_connector_publishes_every_record_at_least_once(
    tmp_path, dataset, broker, codec, lgsp_read_topic
) -> None:
    simulated = population(tmp_path, 1000)
    offsets = OffsetStore(tmp_path / "offsets")
    crashing = CrashingConnector(simulated.config)
    crashing.crash_after = 610
    with pytest.raises(RuntimeError, match="connector killed"):
        runner_for(crashing, dataset, broker, codec, offsets).run()
    # Offsets are stored per acknowledged batch of 250: the third batch never completed.
    assert offsets.load(simulated.name) is not None
    resumed = runner_for(simulated, dataset, broker, codec, offsets).run()
    assert resumed.read == 500

    published = keys(lgsp_read_topic(broker.bootstrap_servers, dataset.raw_topic))
    with sqlite3.connect(tmp_path / "source" / "population.db") as source:
        every_id = {r[0] for r in source.execute("SELECT personal_id FROM citizen")}
    assert set(published) == every_id


def test_unmappable_rows_become_dead_letters_and_the_run_carries_on(
    tmp_path, dataset, broker, codec, lgsp_read_topic
) -> None:
    connector = population(tmp_path, 600)
    database = tmp_path / "source" / "population.db"
    with sqlite3.connect(database) as source:
        ids = [r[0] for r in source.execute("SELECT personal_id FROM citizen LIMIT 3")]
        source.execute("UPDATE citizen SET full_name = NULL WHERE personal_id = ?", (ids[0],))
        source.execute("UPDATE citizen SET gender = 'X' WHERE personal_id = ?", (ids[1],))
        source.execute(
            "UPDATE citizen SET date_of_birth = '17/05/1990' WHERE personal_id = ?", (ids[2],)
        )
    stats = runner_for(connector, dataset, broker, codec, OffsetStore(tmp_path / "o")).run()
    assert (stats.read, stats.published, stats.dead_lettered) == (600, 597, 3)

    letters = {
        m.key.decode(): m for m in lgsp_read_topic(broker.bootstrap_servers, dataset.dlq_topic)
    }
    assert set(letters) == set(ids)
    rules = {key: dict(m.headers)[h.ERROR_RULE].decode() for key, m in letters.items()}
    assert rules == {ids[0]: "source.schema", ids[1]: "source.mapping", ids[2]: "source.mapping"}
    for message in letters.values():
        headers = {k: v.decode() for k, v in message.headers}
        assert headers[h.ERROR_STAGE] == "connector"
        assert headers[h.SOURCE_SYSTEM] == "population"
        assert headers[h.AGENCY_ID] == dataset.owner_agency
        assert json.loads(message.value)["personal_id"] == message.key.decode()
