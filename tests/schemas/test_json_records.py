from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal

import fastavro
import pytest

from schemas.catalogue import default_catalogue
from schemas.json_records import JsonRecordError, record_from_json, sample_json

PERSON = default_catalogue().dataset("citizen.person").avro_schema()


def person_json(**changes: object) -> dict:
    record = {
        "personal_id": "042190001234",
        "full_name": "Nguyễn Thị Hồng Nhung",
        "date_of_birth": "1990-05-17",
        "gender": "FEMALE",
        "birth_registration_commune_code": "18073",
        "permanent_residence": {"commune_code": "18073", "address": "Số 12 đường Phan Đình Phùng"},
        "current_residence": None,
        "updated_at": "2026-03-04T05:06:07.123Z",
    }
    record.update(changes)
    return record


def test_iso_text_becomes_dates_and_missing_optionals_take_defaults() -> None:
    record = record_from_json(PERSON, person_json())
    assert record["date_of_birth"] == date(1990, 5, 17)
    assert record["updated_at"] == datetime(2026, 3, 4, 5, 6, 7, 123000, tzinfo=UTC)
    assert record["ethnicity"] == "Kinh"
    assert record["father_id"] is None
    fastavro.schemaless_writer(io.BytesIO(), fastavro.parse_schema(PERSON), record)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"date_of_birth": "17/05/1990"}, "date_of_birth: '17/05/1990' is not a valid date"),
        ({"gender": "NAM"}, "gender: 'NAM' is not one of MALE, FEMALE"),
        ({"full_name": None}, "full_name: must not be null"),
        ({"eid_level": "2"}, "eid_level: expected a whole number"),
        (
            {"permanent_residence": {"address": "Thôn 1"}},
            "permanent_residence.commune_code: is missing",
        ),
    ],
)
def test_misfits_name_their_field(changes: dict, message: str) -> None:
    with pytest.raises(JsonRecordError, match=message.replace("(", r"\(")):
        record_from_json(PERSON, person_json(**changes))


def test_decimals_keep_their_scale() -> None:
    schema = {
        "type": "record",
        "name": "Capital",
        "fields": [
            {
                "name": "amount",
                "type": {"type": "bytes", "logicalType": "decimal", "precision": 20, "scale": 2},
            }
        ],
    }
    assert record_from_json(schema, {"amount": "1500000000"})["amount"] == Decimal("1500000000.00")
    with pytest.raises(JsonRecordError, match="amount"):
        record_from_json(schema, {"amount": "một tỷ"})


@pytest.mark.parametrize("dataset", default_catalogue().datasets, ids=lambda d: d.id)
def test_a_sample_of_every_dataset_fits_its_schema(dataset) -> None:
    schema = dataset.avro_schema()
    record = record_from_json(schema, sample_json(schema))
    fastavro.schemaless_writer(io.BytesIO(), fastavro.parse_schema(schema), record)
