"""The Confluent wire-format codec against a real embedded registry."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import socket
import struct
from decimal import Decimal
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from fastavro import parse_schema

from schemas.codec import (
    AvroBodyError,
    AvroCodec,
    DecodeError,
    EncodeError,
    UnknownSchemaError,
    WireFormatError,
    pack,
    unpack,
)
from schemas.registry.client import RegistryClient, RegistryUnavailable
from schemas.registry.server import EmbeddedRegistry

# Ids are 4 bytes; the registry hands them out from 1, so this one is never taken.
UNKNOWN_ID = 2**31 - 1


@pytest.fixture
def codec(client: RegistryClient) -> AvroCodec:
    return AvroCodec(client)


@pytest.fixture
def person_message(
    codec: AvroCodec, subject: str, person_schema: dict[str, Any], person: dict[str, Any]
) -> tuple[int, bytes]:
    schema_id = codec.register(subject, person_schema)
    return schema_id, codec.encode(schema_id, person)


def test_person_round_trip_keeps_vietnamese_text_dates_and_timestamps(
    codec: AvroCodec, person_message: tuple[int, bytes], person: dict[str, Any]
) -> None:
    schema_id, data = person_message

    decoded_id, record = codec.decode(data)

    assert decoded_id == schema_id
    assert record == person
    assert record["full_name"] == "Nguyễn Thị Hồng Nhung"
    assert record["permanent_residence"]["address"] == (
        "Số 12, đường Phan Đình Phùng, Phường Thành Sen"
    )
    assert type(record["date_of_birth"]) is dt.date
    assert record["updated_at"].tzinfo is not None
    assert record["updated_at"].utcoffset() == dt.timedelta(0)


def test_defaults_fill_fields_the_record_leaves_out(
    codec: AvroCodec, person_message: tuple[int, bytes], person: dict[str, Any]
) -> None:
    schema_id, _ = person_message
    sparse = {k: v for k, v in person.items() if k not in {"ethnicity", "current_residence"}}

    _, record = codec.decode(codec.encode(schema_id, sparse))

    assert record["ethnicity"] == "Kinh"
    assert record["current_residence"] is None


def test_message_starts_with_magic_zero_and_big_endian_id(
    person_message: tuple[int, bytes],
) -> None:
    schema_id, data = person_message

    assert data[0] == 0
    assert data[1:5] == schema_id.to_bytes(4, "big")
    assert unpack(data)[0] == schema_id


def test_pack_writes_the_id_big_endian(
    person_schema: dict[str, Any], person: dict[str, Any]
) -> None:
    data = pack(0x01020304, parse_schema(person_schema), person)

    assert data[:5] == b"\x00\x01\x02\x03\x04"
    schema_id, body = unpack(data)
    assert schema_id == 0x01020304
    assert bytes(body) == data[5:]


def test_logical_types_come_back_as_python_values(codec: AvroCodec, subject: str) -> None:
    schema = {
        "type": "record",
        "name": "Fee",
        "namespace": "vn.lgsp.test",
        "fields": [
            {
                "name": "amount",
                "type": {"type": "bytes", "logicalType": "decimal", "precision": 14, "scale": 2},
            },
            {"name": "due", "type": {"type": "int", "logicalType": "date"}},
            {"name": "paid_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        ],
    }
    # An instant given in Vietnam time comes back as the same instant in UTC.
    paid_at = dt.datetime(2025, 3, 4, 9, 15, 0, 250000, tzinfo=dt.timezone(dt.timedelta(hours=7)))
    schema_id = codec.register(subject, schema)

    _, record = codec.decode(
        codec.encode(
            schema_id,
            {"amount": Decimal("1250000.50"), "due": dt.date(2025, 3, 31), "paid_at": paid_at},
        )
    )

    assert record["amount"] == Decimal("1250000.50")
    assert type(record["amount"]) is Decimal
    assert record["due"] == dt.date(2025, 3, 31)
    assert record["paid_at"] == paid_at
    assert record["paid_at"].tzinfo == dt.UTC


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("full_name", None, "full_name"),
        ("eid_level", "two", "eid_level"),
        # fastavro's writer alone would truncate this to 3 without a word.
        ("eid_level", 3.7, "eid_level"),
        ("gender", "OTHER", "gender"),
        # Day-first, as Vietnamese forms write it; fastavro only takes ISO strings.
        ("date_of_birth", "17/05/1990", "17/05/1990"),
        ("permanent_residence", {"commune_code": "18070"}, "address"),
    ],
)
def test_encode_refuses_a_record_that_does_not_fit(
    person_message: tuple[int, bytes],
    codec: AvroCodec,
    person: dict[str, Any],
    field: str,
    value: Any,
    named: str,
) -> None:
    schema_id, _ = person_message

    with pytest.raises(EncodeError, match=named) as caught:
        codec.encode(schema_id, {**person, field: value})

    assert isinstance(caught.value, ValueError)
    assert "\n" not in str(caught.value)


def test_encode_refuses_something_that_is_not_a_record(
    person_message: tuple[int, bytes], codec: AvroCodec
) -> None:
    schema_id, _ = person_message

    expected = re.escape("the record is 'Nhung', expected vn.lgsp.citizen.Person")
    with pytest.raises(EncodeError, match=expected):
        codec.encode(schema_id, "Nhung")  # type: ignore[arg-type]


def test_encode_refuses_a_missing_required_field(
    person_message: tuple[int, bytes], codec: AvroCodec, person: dict[str, Any]
) -> None:
    schema_id, _ = person_message
    record = {k: v for k, v in person.items() if k != "personal_id"}

    with pytest.raises(EncodeError, match="personal_id"):
        codec.encode(schema_id, record)


def test_encode_refuses_an_unregistered_schema_id(codec: AvroCodec, person: dict[str, Any]) -> None:
    with pytest.raises(EncodeError, match=f"schema id {UNKNOWN_ID} is not in the registry"):
        codec.encode(UNKNOWN_ID, person)


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x00\x00\x00\x01"])
def test_decode_rejects_bytes_shorter_than_the_header(codec: AvroCodec, data: bytes) -> None:
    with pytest.raises(WireFormatError, match="shorter than the 5-byte") as caught:
        codec.decode(data)

    assert caught.value.rule == "wire_format"


def test_decode_rejects_a_magic_byte_other_than_zero(
    codec: AvroCodec, person_message: tuple[int, bytes]
) -> None:
    _, data = person_message

    with pytest.raises(WireFormatError, match="magic byte is 123") as caught:
        codec.decode(b"{" + data[1:])

    assert caught.value.rule == "wire_format"


def test_decode_rejects_an_id_the_registry_does_not_know(
    codec: AvroCodec, person_message: tuple[int, bytes]
) -> None:
    _, data = person_message

    with pytest.raises(UnknownSchemaError, match=f"schema id {UNKNOWN_ID}") as caught:
        codec.decode(struct.pack(">BI", 0, UNKNOWN_ID) + data[5:])

    assert caught.value.rule == "unknown_schema"


def test_decode_rejects_a_truncated_body(
    codec: AvroCodec, person_message: tuple[int, bytes]
) -> None:
    _, data = person_message

    with pytest.raises(AvroBodyError, match="does not decode") as caught:
        codec.decode(data[:-4])

    assert caught.value.rule == "avro_body"


def test_decode_rejects_bytes_left_over_after_the_record(
    codec: AvroCodec, person_message: tuple[int, bytes]
) -> None:
    _, data = person_message

    with pytest.raises(AvroBodyError, match="3 bytes left over") as caught:
        codec.decode(data + b"\x00\x01\x02")

    assert caught.value.rule == "avro_body"


def test_random_bytes_only_ever_raise_decode_errors(
    codec: AvroCodec, person_message: tuple[int, bytes]
) -> None:
    schema_id, data = person_message
    header = data[:5]
    rng = random.Random(20250701)
    rules: set[str] = set()
    messages: list[str] = []

    for _ in range(2000):
        body = rng.randbytes(rng.randint(0, 120))
        # Mostly a valid header, so the Avro reader itself gets the garbage.
        message = header + body if rng.random() < 0.9 else body
        try:
            decoded_id, record = codec.decode(message)
        except DecodeError as exc:
            rules.add(exc.rule)
            messages.append(str(exc))
        else:
            assert decoded_id == schema_id
            assert isinstance(record, dict)

    assert {"wire_format", "avro_body"} <= rules
    assert not [m for m in messages if "\n" in m]


def test_decode_accepts_bytearray_and_memoryview(
    codec: AvroCodec, person_message: tuple[int, bytes], person: dict[str, Any]
) -> None:
    _, data = person_message

    assert codec.decode(bytearray(data))[1] == person
    assert codec.decode(memoryview(data))[1] == person


def test_decoding_asks_the_registry_once_per_schema(
    registry: EmbeddedRegistry,
    person_message: tuple[int, bytes],
    person: dict[str, Any],
) -> None:
    _, data = person_message
    fresh_client = RegistryClient(registry.url)
    codec = AvroCodec(fresh_client)
    assert codec.decode(data)[1] == person

    # A closed client cannot send anything, so later decodes must come from the cache.
    fresh_client.close()

    for _ in range(3):
        assert codec.decode(data)[1] == person


def test_an_unreachable_registry_is_not_the_records_fault(
    person_message: tuple[int, bytes],
) -> None:
    _, data = person_message
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    codec = AvroCodec(RegistryClient(f"http://127.0.0.1:{closed_port}", timeout=2.0))

    with pytest.raises(RegistryUnavailable) as caught:
        codec.decode(data)

    assert not isinstance(caught.value, DecodeError)


def test_confluent_serializer_output_decodes_with_our_codec(
    registry: EmbeddedRegistry,
    codec: AvroCodec,
    subject: str,
    person_schema: dict[str, Any],
    person: dict[str, Any],
) -> None:
    topic = subject.removesuffix("-value")
    serializer = AvroSerializer(
        SchemaRegistryClient({"url": registry.url}),
        json.dumps(person_schema),
        conf={"auto.register.schemas": True},
    )

    data = serializer(person, SerializationContext(topic, MessageField.VALUE))
    assert data is not None

    schema_id, record = codec.decode(data)
    assert schema_id == codec.register(subject, person_schema)
    assert record == person


def test_confluent_deserializer_reads_our_codec_output(
    registry: EmbeddedRegistry,
    person_message: tuple[int, bytes],
    subject: str,
    person: dict[str, Any],
) -> None:
    _, data = person_message
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": registry.url}))

    record = deserializer(
        data, SerializationContext(subject.removesuffix("-value"), MessageField.VALUE)
    )

    assert record == person
