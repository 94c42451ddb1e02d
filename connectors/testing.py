"""The conformance kit: standard tests every connector gets by subclassing.

```python
from connectors.testing import ConnectorConformance

class TestPopulation(ConnectorConformance):
    @pytest.fixture
    def connector(self, tmp_path):
        ...  # a connector pointed at a test source (a simulator's, ideally)
        return PopulationConnector(PopulationConfig(database_url=...))

    @pytest.fixture
    def expected_dead_letters(self) -> int:
        return 3  # rows of that source the connector cannot map
```

The broker, registry and topics come from the hub's pytest plugin (installed with the hub),
so the tests run against a real Tansu broker and the real registry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr

from connectors.base import Connector, MappingError
from connectors.offsets import OffsetStore
from connectors.runner import ConnectorRunner, RunStats
from schemas.catalogue import Dataset
from schemas.codec import AvroCodec, EncodeError
from schemas.registry.client import RegistryClient


def secret_values(config: BaseModel) -> list[str]:
    """Every secret in a config, nested models included."""
    found: list[str] = []
    for name in type(config).model_fields:
        value = getattr(config, name)
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            found.extend(secret_values(value))
    return [secret for secret in found if secret]


class ConnectorConformance:
    """Subclass and provide a ``connector`` fixture; override ``expected_dead_letters``."""

    @pytest.fixture
    def connector(self) -> Connector[Any]:
        raise NotImplementedError("a conformance test class must define a `connector` fixture")

    @pytest.fixture
    def expected_dead_letters(self) -> int:
        """Source rows the connector cannot map or serialise (they become dead letters)."""
        return 0

    @pytest.fixture
    def codec(self, lgsp_registry: Any) -> Iterator[AvroCodec]:
        with RegistryClient(lgsp_registry.url) as client:
            yield AvroCodec(client)

    @pytest.fixture
    def kit_dataset(
        self, connector: Connector[Any], lgsp_fresh_dataset: Callable[[str], Dataset]
    ) -> Dataset:
        return lgsp_fresh_dataset(connector.dataset)

    @pytest.fixture
    def run_connector(
        self,
        connector: Connector[Any],
        kit_dataset: Dataset,
        codec: AvroCodec,
        lgsp_broker: Any,
        tmp_path: Path,
    ) -> Callable[[], RunStats]:
        """Publish everything the connector reads to the kit's fresh topics."""

        def run() -> RunStats:
            return ConnectorRunner(
                connector,
                kit_dataset,
                bootstrap_servers=lgsp_broker.bootstrap_servers,
                codec=codec,
                offsets=OffsetStore(tmp_path / "kit-offsets"),
            ).run()

        return run

    def test_records_match_the_schema(
        self,
        connector: Connector[Any],
        codec: AvroCodec,
        kit_dataset: Dataset,
        expected_dead_letters: int,
    ) -> None:
        schema_id = codec.register(f"{kit_dataset.raw_topic}-value", kit_dataset.avro_schema())
        fitting, misfits = 0, []
        for source_record in connector.records(None):
            try:
                codec.encode(schema_id, connector.map(source_record.row))
                fitting += 1
            except (MappingError, EncodeError) as exc:
                misfits.append(f"{dict(source_record.row)!r}: {exc}")
        assert fitting > 0, "the test source must hold records that map to the schema"
        assert len(misfits) == expected_dead_letters, "\n".join(misfits[:10])

    def test_offsets_resume_without_duplicates(self, connector: Connector[Any]) -> None:
        everything = list(connector.records(None))
        assert len(everything) >= 2, "the test source must hold at least two records"
        middle = len(everything) // 2
        rest = list(connector.records(everything[middle - 1].offset))
        assert [r.offset for r in rest] == [r.offset for r in everything[middle:]]
        assert list(connector.records(everything[-1].offset)) == []

    def test_bad_rows_reach_the_dead_letter_topic(
        self,
        run_connector: Callable[[], RunStats],
        kit_dataset: Dataset,
        expected_dead_letters: int,
        lgsp_broker: Any,
        lgsp_read_topic: Callable[[str, str], list[Any]],
    ) -> None:
        stats = run_connector()
        assert stats.read > 0
        assert stats.read == stats.published + stats.dead_lettered
        assert stats.dead_lettered == expected_dead_letters
        raw = lgsp_read_topic(lgsp_broker.bootstrap_servers, kit_dataset.raw_topic)
        dead = lgsp_read_topic(lgsp_broker.bootstrap_servers, kit_dataset.dlq_topic)
        assert (len(raw), len(dead)) == (stats.published, stats.dead_lettered)
        for message in dead:
            headers = dict(message.headers)
            assert headers["lgsp-error-stage"] == b"connector"
            assert headers["lgsp-error-reason"], "a dead letter must say why"

    def test_secrets_never_appear_in_logs(
        self,
        connector: Connector[Any],
        run_connector: Callable[[], RunStats],
        caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        secrets = secret_values(connector.config)
        if not secrets:
            pytest.skip(f"{type(connector).__name__}'s config holds no secret")
        caplog.set_level(logging.DEBUG)
        logging.getLogger(__name__).info("config: %s / %r", connector.config, connector.config)
        try:
            connector.check()
        except Exception as exc:  # a failing check must not leak secrets either
            logging.getLogger(__name__).error("check failed: %s", exc)
        run_connector()
        captured = capsys.readouterr()
        for secret in secrets:
            assert secret not in caplog.text
            assert secret not in captured.out + captured.err
            assert secret not in repr(connector.config) + str(connector.config)
