"""The validator's clean bytes, the row builder's lineage and the dead letters' headers."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator

import pytest
from citizens import person

from quality.rules import RuleSet
from schemas import headers as h
from schemas.catalogue import default_catalogue
from schemas.codec import AvroCodec
from schemas.registry.client import RegistryClient
from schemas.registry.server import EmbeddedRegistry
from streams.verdicts import (
    AGENCY_ID_LENGTH,
    SOURCE_SYSTEM_LENGTH,
    TRACE_ID_LENGTH,
    Accepted,
    Rejected,
    RowBuilder,
    Validator,
    quarantine_row,
)

PERSON = default_catalogue().dataset("citizen.person")
NAME = "Nguyễn Thị Hồng Nhung"


@pytest.fixture(scope="module")
def codec(registry: EmbeddedRegistry) -> Iterator[AvroCodec]:
    with RegistryClient(registry.url) as client:
        yield AvroCodec(client)


@pytest.fixture(scope="module")
def validator(codec: AvroCodec) -> Validator:
    return Validator(PERSON, codec, RuleSet.for_dataset(PERSON))


def test_a_record_already_in_nfc_is_forwarded_as_its_own_bytes(
    codec: AvroCodec, validator: Validator
) -> None:
    value = codec.encode(validator.clean_schema_id, person("042195000001", full_name=NAME))
    verdict = validator.judge(value)
    assert isinstance(verdict, Accepted)
    assert verdict.value == value
    assert verdict.record["full_name"] == NAME


def test_text_in_another_normal_form_is_encoded_again_in_nfc(codec: AvroCodec) -> None:
    # The catalogue's rules refuse such text in the fields they name; without rules, the
    # validator still puts every text in NFC.
    validator = Validator(
        PERSON, codec, RuleSet.for_dataset(PERSON.model_copy(update={"rules": []}))
    )
    decomposed = unicodedata.normalize("NFD", NAME)
    address = unicodedata.normalize("NFD", "Thôn Đông, xã Thạch Hạ")
    record = person(
        "042195000002",
        full_name=decomposed,
        current_residence={"commune_code": "18073", "address": address},
    )
    value = codec.encode(validator.clean_schema_id, record)
    verdict = validator.judge(value)
    assert isinstance(verdict, Accepted)
    assert verdict.value != value
    schema_id, clean = codec.decode(verdict.value)
    assert schema_id == validator.clean_schema_id
    assert clean["full_name"] == NAME
    assert clean["current_residence"]["address"] == "Thôn Đông, xã Thạch Hạ"
    assert clean == verdict.record
    assert record["full_name"] == decomposed, "the decoded record is not changed in place"


def test_a_record_written_with_another_schema_is_encoded_with_the_clean_one(
    codec: AvroCodec, validator: Validator
) -> None:
    # A connector's schema with a field the hub's does not know: the clean topic carries the
    # record as the hub's schema has it.
    widened = PERSON.avro_schema()
    widened["fields"] = [
        *widened["fields"],
        {"name": "legacy_code", "type": ["null", "string"], "default": None},
    ]
    writer_id = codec.register("test-verdicts-widened-person-value", widened)
    assert writer_id != validator.clean_schema_id
    value = codec.encode(writer_id, {**person("042195000003"), "legacy_code": "HT-7"})
    verdict = validator.judge(value)
    assert isinstance(verdict, Accepted)
    schema_id, clean = codec.decode(verdict.value)
    assert schema_id == validator.clean_schema_id
    assert "legacy_code" not in clean
    assert clean["personal_id"] == "042195000003"


def test_lineage_headers_are_clipped_to_their_columns() -> None:
    headers = {
        h.SOURCE_SYSTEM: "hệ-thống-" * 20,
        h.AGENCY_ID: "000.00.00.H42" * 5,
        h.TRACE_ID: "a1b2c3d4" * 30,
    }
    row = RowBuilder(PERSON).row(person("042195000004"), headers)
    assert row["source_system"] == headers[h.SOURCE_SYSTEM][:SOURCE_SYSTEM_LENGTH]
    assert row["agency_id"] == headers[h.AGENCY_ID][:AGENCY_ID_LENGTH]
    assert row["trace_id"] == headers[h.TRACE_ID][:TRACE_ID_LENGTH]
    short = RowBuilder(PERSON).row(person("042195000004"), {h.TRACE_ID: "t-1"})
    assert (short["trace_id"], short["source_system"]) == ("t-1", None)


def test_a_foreign_dead_letter_is_held_with_its_headers_made_storable(codec: AvroCodec) -> None:
    headers = {
        h.ERROR_STAGE: "giai-doan-rat-dai-" * 5,
        h.ERROR_RULE: "rule.a",
        h.ERROR_REASON: "lý do",
        h.TRACE_ID: "tr\x00ace" * 20,
        h.ORIGIN_PARTITION: "không phải số",
        h.ORIGIN_OFFSET: "9" * 40,
    }
    row = quarantine_row(
        PERSON,
        codec,
        key=b"k\x00ey",
        value=b"\x00\x01 not avro",
        headers=headers,
        topic=PERSON.dlq_topic,
        partition=3,
        offset=42,
    )
    assert len(row["stage"]) == 32
    assert len(row["trace_id"]) == TRACE_ID_LENGTH
    assert "\x00" not in row["trace_id"] + row["record_key"]
    assert (row["origin_partition"], row["origin_offset"]) == (3, 42)
    assert row["payload"] == b"\x00\x01 not avro", "the bytes are kept whole"


def test_the_dead_letter_headers_of_a_huge_value_stay_small(
    codec: AvroCodec, validator: Validator
) -> None:
    huge = "0" * 2_000_000
    verdict = validator.judge(codec.encode(validator.clean_schema_id, person(huge)))
    assert isinstance(verdict, Rejected)
    headers = h.error_headers(verdict.stage, verdict.failures * 50)
    size = sum(len(name) + len(text.encode()) for name, text in headers.items())
    assert size < 64 * 1024
    failures = json.loads(headers[h.ERROR_FAILURES])
    assert 0 < len(failures) <= h.MAX_FAILURES
    assert all(len(failure["reason"]) <= h.MAX_FAILURE_TEXT_CHARS for failure in failures)
    assert "personal_id" in headers[h.ERROR_RULE]
