"""Poison from the source systems through every connector's reading path and ``map()``.

Every bad row, line, item or file must become a dead letter on ``dlq.<dataset>`` carrying the
raw row and a one-line reason; good rows around it must be published; the run must finish.
Runs go through :class:`connectors.runner.ConnectorRunner` to fresh topics on the session
broker, so what is checked is what a steward would find.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastavro import parse_schema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from poison import (
    CATALOGUE,
    TOO_LARGE,
    UNPLACEABLE,
    PoisonedSource,
    count_by_kind,
    poison_sources,
    report_counts,
)

from connectors.base import MappingError
from connectors.civil_status import CivilBirthConnector, CivilStatusConfig
from connectors.document_management import (
    DocumentManagementConfig,
    DocumentManagementConnector,
)
from connectors.offsets import OffsetStore
from connectors.runner import (
    MAX_DEAD_LETTER_BYTES,
    MAX_REASON_CHARS,
    PAYLOAD_SHORTENED,
    ConnectorRunner,
    RunStats,
)
from schemas import headers as h
from schemas.codec import AvroCodec, EncodeError, pack
from schemas.registry.client import RegistryClient

SOURCES = (
    "citizen.person",
    "civil.birth",
    "civil.marriage",
    "civil.death",
    "business.enterprise",
    "document.record",
)
SOURCE_RULES = {"source.mapping", "source.schema", "source.size"}
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)
FUZZ = settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, PoisonedSource]]:
    with poison_sources(tmp_path_factory.mktemp("poisoned-sources")) as built:
        yield {source.dataset: source for source in built}


@pytest.fixture(scope="module")
def codec(registry: Any) -> Iterator[AvroCodec]:
    with RegistryClient(registry.url) as client:
        yield AvroCodec(client)


def run(
    source: PoisonedSource, dataset: Any, broker: Any, codec: AvroCodec, work: Path
) -> RunStats:
    return ConnectorRunner(
        source.connector,
        dataset,
        bootstrap_servers=broker.bootstrap_servers,
        codec=codec,
        offsets=OffsetStore(work / "offsets"),
    ).run()


def texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from texts(item)


@pytest.mark.parametrize("dataset_id", SOURCES)
def test_every_poisoned_row_is_dead_lettered_with_a_reason_and_the_run_carries_on(
    dataset_id: str,
    sources: dict[str, PoisonedSource],
    lgsp_fresh_dataset: Any,
    broker: Any,
    codec: AvroCodec,
    lgsp_read_topic: Any,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    source = sources[dataset_id]
    dataset = lgsp_fresh_dataset(dataset_id)
    stats = run(source, dataset, broker, codec, tmp_path)

    assert (stats.read, stats.published, stats.dead_lettered) == (
        source.good + len(source.bad),
        source.good,
        len(source.bad),
    )
    letters = lgsp_read_topic(broker.bootstrap_servers, dataset.dlq_topic)
    assert len(letters) == len(source.bad)
    assert len({letter.value for letter in letters}) == len(letters), "one payload per bad row"
    rules = set()
    for letter in letters:
        headers = h.decode_headers(letter.headers)
        assert headers[h.ERROR_STAGE] == "connector"
        assert headers[h.ERROR_RULE] in SOURCE_RULES
        rules.add(headers[h.ERROR_RULE])
        reason = headers[h.ERROR_REASON]
        assert reason.strip()
        assert "\n" not in reason
        assert len(reason) <= MAX_REASON_CHARS
        [failure] = json.loads(headers[h.ERROR_FAILURES])
        assert failure["reason_vi"].startswith(("Không", "Bản ghi"))
        assert len(letter.value) <= MAX_DEAD_LETTER_BYTES
        raw_row = json.loads(letter.value.decode("utf-8"))
        assert raw_row, "the dead letter carries the raw row"
        if headers.get(PAYLOAD_SHORTENED) == "true":
            assert "more characters cut]" in letter.value.decode("utf-8")
    huge_records = any(TOO_LARGE in item.label for item in source.bad)
    assert ("source.size" in rules) == huge_records

    published = lgsp_read_topic(broker.bootstrap_servers, dataset.raw_topic)
    assert len(published) == source.good
    for message in published:
        _, record = codec.decode(message.value)
        assert all(unicodedata.is_normalized("NFC", text) for text in texts(record))
    report_counts(
        f"source-{dataset_id}",
        count_by_kind(item.kind for item in [*source.bad, *source.repaired]),
        tmp_path_factory.getbasetemp() / "poison-counts",
    )


def test_population_rows_without_an_ordering_key_come_again_on_every_run(
    sources: dict[str, PoisonedSource],
    lgsp_fresh_dataset: Any,
    broker: Any,
    codec: AvroCodec,
    tmp_path: Path,
) -> None:
    """NULL or BLOB update time or id: no place to resume after, so read again each run."""
    source = sources["citizen.person"]
    dataset = lgsp_fresh_dataset("citizen.person")
    unplaceable = sum(1 for item in source.bad if item.kind == UNPLACEABLE)
    first = run(source, dataset, broker, codec, tmp_path)
    again = run(source, dataset, broker, codec, tmp_path)
    assert first.read == source.good + len(source.bad)
    assert (again.read, again.dead_lettered, again.published) == (unplaceable, unplaceable, 0)


def test_xml_external_entities_are_never_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("bí mật quốc gia 7f3a", encoding="utf-8")
    folder = tmp_path / "exchange"
    folder.mkdir()
    for number, declaration in enumerate(
        [
            f'<!ENTITY x SYSTEM "file://{secret}">',
            f'<!ENTITY % p SYSTEM "file://{secret}"> %p;',
            f'<!ENTITY x SYSTEM "{secret}">',
        ]
    ):
        document = f'<?xml version="1.0"?><!DOCTYPE edXML [{declaration}]><edXML>&x;</edXML>'
        (folder / f"{number}.xml").write_text(document, encoding="utf-8")
    connector = DocumentManagementConnector(DocumentManagementConfig(directory=folder))
    for source_record in connector.records(None):
        with pytest.raises(MappingError, match="refused") as refused:
            connector.map(source_record.row)
        assert "7f3a" not in str(refused.value) + json.dumps(source_record.row, ensure_ascii=False)


# --- map() on anything at all: a record or a MappingError, nothing else ---------------------


def mapped_or_refused(connector: Any, dataset_id: str, row: Any) -> None:
    """``map()`` either refuses the row or gives a record the codec encodes or refuses."""
    try:
        record = connector.map(row)
        pack(1, parse_schema(CATALOGUE.dataset(dataset_id).avro_schema()), record)
    except (MappingError, EncodeError) as exc:
        reason = str(exc)
    else:
        return
    assert reason.strip(), "a refusal must say why"


def test_population_maps_any_row_or_refuses_it(sources: dict[str, PoisonedSource]) -> None:
    connector = sources["citizen.person"].connector
    columns = [
        "personal_id",
        "full_name",
        "date_of_birth",
        "gender",
        "ethnicity",
        "nationality",
        "birth_registration_commune_code",
        "permanent_commune_code",
        "permanent_address",
        "current_commune_code",
        "current_address",
        "father_id",
        "mother_id",
        "spouse_id",
        "eid_level",
        "updated_at",
    ]
    value = st.none() | st.text(max_size=12) | st.integers() | st.floats() | st.binary(max_size=6)

    @FUZZ
    @given(row=st.fixed_dictionaries({column: value for column in columns}))
    def check(row: dict[str, Any]) -> None:
        mapped_or_refused(connector, "citizen.person", row)

    check()


def test_civil_status_maps_any_line_or_refuses_it(tmp_path: Path) -> None:
    connector = CivilBirthConnector(CivilStatusConfig(directory=tmp_path))
    field = st.text(max_size=12) | st.sampled_from(["Nam", "Nữ", "Đúng hạn", "14/07/2025", ""])

    @FUZZ
    @given(row=st.fixed_dictionaries({column: field for column in connector.columns}))
    def check(row: dict[str, Any]) -> None:
        mapped_or_refused(connector, "civil.birth", {"_file": "x.csv", "_line": 2, **row})

    check()


def test_business_registration_maps_any_json_item_or_refuses_it(
    sources: dict[str, PoisonedSource],
) -> None:
    connector = sources["business.enterprise"].connector

    @FUZZ
    @given(item=st.dictionaries(st.text(max_size=20), JSON_VALUES, max_size=8))
    def check(item: dict[str, Any]) -> None:
        mapped_or_refused(connector, "business.enterprise", item)

    check()


def test_document_management_maps_any_document_or_refuses_it(tmp_path: Path) -> None:
    connector = DocumentManagementConnector(DocumentManagementConfig(directory=tmp_path))
    edxml_value = st.none() | st.text(max_size=12) | st.sampled_from(["DI", "DEN", "TINH", "true"])

    @FUZZ
    @given(
        json_document=JSON_VALUES,
        edxml=st.dictionaries(st.sampled_from(EDXML_PATHS), edxml_value, max_size=len(EDXML_PATHS)),
    )
    def check(json_document: Any, edxml: dict[str, Any]) -> None:
        row = {"file": "x.json", "format": "json", "document": json_document}
        mapped_or_refused(connector, "document.record", row)
        row = {"file": "x.edxml", "format": "edxml", "document": {"root": "edXML", **edxml}}
        mapped_or_refused(connector, "document.record", row)

    check()


EDXML_PATHS = [
    *(
        f"MessageHeader/{path}"
        for path in (
            "From/OrganId",
            "From/OrganName",
            "Code/CodeNumber",
            "Code/CodeNotation",
            "PromulgationInfo/PromulgationDate",
            "DocumentType/TypeName",
            "Subject",
            "DueDate",
        )
    ),
    *(
        f"RegisterEntry/{path}"
        for path in (
            "HolderOrganId",
            "HolderLevel",
            "Direction",
            "StatusCode",
            "ProcessedOnline",
            "UpdatedAt",
        )
    ),
]
