"""Poison on ``raw.*`` through the validate agent's logic: every bad item gets a reasoned verdict.

Unit level: :class:`streams.verdicts.Validator` against the session registry, no worker. The
pipeline test sends the same corpus through a running worker.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from poison import (
    CATALOGUE,
    DATASET_IDS,
    WIRE_CLASSES,
    WireItem,
    count_by_kind,
    encoder,
    good_wire_records,
    records_of,
    report_counts,
    seed,
    wire_corpus,
)
from sqlalchemy import text

from quality.rules import RuleSet
from schemas import headers as h
from schemas.codec import AvroCodec, DecodeError
from schemas.registry.client import RegistryClient
from streams.publisher import DEAD_LETTER_MAX_BYTES
from streams.storing import write_or_refuse
from streams.verdicts import Accepted, Rejected, RowBuilder, Validator
from warehouse.db import create_warehouse_engine, init_warehouse
from warehouse.store import upsert_records

# librdkafka's and aiokafka's default largest message; a dead letter must fit in it.
# A dead letter's headers stay a few kilobytes whatever its failures quote.
MAX_DEAD_LETTER_HEADER_BYTES = 64 * 1024


@pytest.fixture(scope="module")
def codec(registry) -> Iterator[AvroCodec]:
    with RegistryClient(registry.url) as client:
        yield AvroCodec(client)


@pytest.fixture(scope="module")
def schema_ids(codec: AvroCodec) -> dict[str, int]:
    return {
        dataset_id: codec.register(
            f"{CATALOGUE.dataset(dataset_id).raw_topic}-value",
            CATALOGUE.dataset(dataset_id).avro_schema(),
        )
        for dataset_id in DATASET_IDS
    }


@pytest.fixture(scope="module")
def validators(codec: AvroCodec) -> dict[str, Validator]:
    return {
        dataset_id: Validator(
            CATALOGUE.dataset(dataset_id), codec, RuleSet.for_dataset(CATALOGUE.dataset(dataset_id))
        )
        for dataset_id in DATASET_IDS
    }


@pytest.fixture(scope="module")
def corpus(schema_ids: dict[str, int]) -> list[WireItem]:
    return wire_corpus(schema_ids)


def names_rule(verdict: Rejected, expected: str) -> bool:
    """Whether a failure names ``expected`` (a prefix when it ends with a dot)."""
    rules = [failure["rule"] for failure in verdict.failures]
    if expected.endswith("."):
        return any(rule.startswith(expected) for rule in rules)
    return expected in rules


def test_good_records_pass_so_that_every_rejection_is_the_poison(
    validators: dict[str, Validator], schema_ids: dict[str, int]
) -> None:
    encode = encoder(schema_ids)
    for dataset_id in DATASET_IDS:
        for record in [seed(dataset_id), *good_wire_records(dataset_id, 3, 900_001)]:
            verdict = validators[dataset_id].judge(encode(dataset_id, record))
            assert isinstance(verdict, Accepted), (dataset_id, verdict)


def test_the_corpus_breaks_every_rule_of_every_dataset(corpus: list[WireItem]) -> None:
    assert {item.kind for item in corpus} == set(WIRE_CLASSES)
    for dataset_id in DATASET_IDS:
        declared = {spec.rule for spec in CATALOGUE.dataset(dataset_id).rules}
        broken = {item.label.split()[0] for item in corpus if item.dataset == dataset_id}
        assert declared <= broken, f"{dataset_id}: no record breaks {declared - broken}"
    assert len({(item.dataset, item.value) for item in corpus}) == len(corpus)


def test_every_bad_wire_item_gets_a_verdict_with_a_reason(
    corpus: list[WireItem], validators: dict[str, Validator], tmp_path_factory
) -> None:
    problems = []
    for item in corpus:
        verdict = validators[item.dataset].judge(item.value)
        if not isinstance(verdict, Rejected):
            problems.append(f"{item.dataset} {item.kind} ({item.label}): accepted")
            continue
        if not all(failure["reason"] and failure["reason_vi"] for failure in verdict.failures):
            problems.append(f"{item.dataset} {item.kind} ({item.label}): a failure without reason")
        if not names_rule(verdict, item.rule):
            found = [failure["rule"] for failure in verdict.failures]
            problems.append(f"{item.dataset} {item.kind} ({item.label}): {found}, not {item.rule}")
    assert not problems, "\n".join(problems[:20])
    report_counts(
        "wire-validator",
        count_by_kind(item.kind for item in corpus),
        tmp_path_factory.getbasetemp() / "poison-counts",
    )


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(data=st.binary(max_size=400))
def test_any_bytes_decode_or_fail_as_a_decode_error(codec: AvroCodec, data: bytes) -> None:
    try:
        codec.decode(data)
    except DecodeError as exc:
        reason = str(exc)
    else:
        return
    assert reason, "a decode failure must say what is wrong"


@pytest.mark.parametrize("dataset_id", DATASET_IDS)
def test_any_schema_valid_record_gets_a_verdict(
    dataset_id: str, validators: dict[str, Validator], schema_ids: dict[str, int]
) -> None:
    """Legal Avro, illegal everything else: the rules may reject it but must not raise."""
    encode = encoder({dataset_id: schema_ids[dataset_id]})

    @settings(
        max_examples=150,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(record=records_of(CATALOGUE.dataset(dataset_id).avro_schema()))
    def judged(record: dict) -> None:
        verdict = validators[dataset_id].judge(encode(dataset_id, record))
        if isinstance(verdict, Rejected):
            assert all(failure["reason"] for failure in verdict.failures)

    judged()


# --- poison that once crashed a stream stage --------------------------------------------------


@pytest.mark.parametrize("dataset_id", ["citizen.person", "business.enterprise"])
def test_a_timestamp_at_the_end_of_the_calendar_gets_a_verdict(
    dataset_id: str, validators: dict[str, Validator], schema_ids: dict[str, int]
) -> None:
    record = {**seed(dataset_id), "updated_at": datetime(9999, 12, 31, 23, 0, tzinfo=UTC)}
    verdict = validators[dataset_id].judge(encoder(schema_ids)(dataset_id, record))
    assert isinstance(verdict, Accepted | Rejected)


def test_the_dead_letter_of_a_huge_value_fits_a_kafka_message(
    validators: dict[str, Validator], schema_ids: dict[str, int]
) -> None:
    record = {**seed("citizen.person"), "personal_id": "0" * 2_000_000}
    value = encoder(schema_ids)("citizen.person", record)
    verdict = validators["citizen.person"].judge(value)
    assert isinstance(verdict, Rejected)
    headers = h.error_headers(verdict.stage, verdict.failures)
    header_bytes = sum(len(name) + len(text.encode()) for name, text in headers.items())
    # The value itself travels whole (the dead-letter producer allows 16 MiB); what must not
    # grow with it are the headers quoting it.
    assert header_bytes < MAX_DEAD_LETTER_HEADER_BYTES
    assert header_bytes + len(value) < DEAD_LETTER_MAX_BYTES


@pytest.fixture
def postgres_warehouse(postgres_url: str) -> Iterator:
    engine = create_warehouse_engine(postgres_url)
    init_warehouse(engine)
    yield engine
    engine.dispose()


@pytest.mark.postgres
def test_text_with_a_nul_character_ends_in_the_warehouse_or_quarantine(
    postgres_warehouse, validators: dict[str, Validator], schema_ids: dict[str, int]
) -> None:
    record = {**seed("citizen.person"), "full_name": "Nguyễn\x00Văn An"}
    verdict = validators["citizen.person"].judge(encoder(schema_ids)("citizen.person", record))
    if isinstance(verdict, Rejected):
        return
    dataset = CATALOGUE.dataset("citizen.person")
    row = RowBuilder(dataset).row(verdict.record, {})
    refused = write_or_refuse(
        postgres_warehouse,
        "test",
        [row],
        lambda connection, rows: upsert_records(connection, dataset, rows),
    )
    # PostgreSQL text cannot hold NUL: the row is refused with the database's reason, which the
    # worker quarantines, instead of crashing the batch.
    assert set(refused) == {0}
    assert refused[0]


@pytest.mark.postgres
def test_a_record_with_overlong_lineage_headers_is_stored(postgres_warehouse) -> None:
    dataset = CATALOGUE.dataset("citizen.person")
    headers = {h.SOURCE_SYSTEM: "population", h.TRACE_ID: uuid.uuid4().hex * 3}
    row = RowBuilder(dataset).row(seed("citizen.person"), headers)
    with postgres_warehouse.begin() as connection:
        upsert_records(connection, dataset, [row])
        stored = connection.execute(text(f"SELECT count(*) FROM {dataset.table_name}")).scalar()
    assert stored == 1
