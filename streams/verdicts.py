"""What the stream stages decide about one message, independent of faust."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Final
from unicodedata import is_normalized, normalize

from sqlalchemy import Column, String

from quality.rules import RuleSet
from schemas import headers as h
from schemas.catalogue import Dataset, FieldColumn, flatten, get_path, leaf_fields
from schemas.codec import AvroCodec, DecodeError
from warehouse.models import RECORD_KEY_LENGTH, Quarantine
from warehouse.store import utc


def _column_length(column: Column[Any]) -> int:
    kind = column.type
    if not isinstance(kind, String) or kind.length is None:
        raise TypeError(f"{column} is not a text column of fixed width")
    return kind.length


# Widths of the columns that take header values (the dataset tables' lineage columns are as
# wide as the quarantine's).
_COLUMNS = Quarantine.__table__.c
SOURCE_SYSTEM_LENGTH: Final = _column_length(_COLUMNS.source_system)
AGENCY_ID_LENGTH: Final = _column_length(_COLUMNS.agency_id)
TRACE_ID_LENGTH: Final = _column_length(_COLUMNS.trace_id)
STAGE_LENGTH: Final = _column_length(_COLUMNS.stage)
ORIGIN_TOPIC_LENGTH: Final = _column_length(_COLUMNS.origin_topic)

_DECODE_REASON_VI = {
    "wire_format": "Dữ liệu không đúng định dạng Confluent (byte đầu hoặc độ dài sai)",
    "unknown_schema": "Mã lược đồ không có trong kho lược đồ",
    "avro_body": "Phần thân Avro không đọc được",
}


@dataclass(frozen=True, slots=True)
class Accepted:
    """A record that passed: its ``clean.*`` bytes and the record (NFC) they encode."""

    value: bytes
    record: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rejected:
    stage: str
    failures: list[dict[str, str]]


def _nfc(value: Any) -> Any:
    """``value`` with its texts in NFC; the very same object when nothing had to change.

    Returning the same object lets the validator tell, at no extra cost, that a record needs
    no new encoding: its original bytes already are the clean ones.
    """
    kind = type(value)
    if kind is str:
        return value if is_normalized("NFC", value) else normalize("NFC", value)
    if kind is dict:
        return _nfc_dict(value)
    if kind is list:
        normals = [_nfc(item) for item in value]
        if all(normal is item for normal, item in zip(normals, value, strict=True)):
            return value
        return normals
    return value


def _nfc_dict(record: dict[str, Any]) -> dict[str, Any]:
    # Texts are checked inline: a call per field was most of the cost of a record.
    changed: dict[str, Any] | None = None
    for key, item in record.items():
        kind = type(item)
        if kind is str:
            if is_normalized("NFC", item):
                continue
            normal: Any = normalize("NFC", item)
        elif kind is dict or kind is list:
            normal = _nfc(item)
            if normal is item:
                continue
        else:
            continue
        if changed is None:
            changed = dict(record)
        changed[key] = normal
    return record if changed is None else changed


def decode_failure(exc: DecodeError) -> dict[str, str]:
    reason = str(exc)
    return {
        "rule": f"decode.{exc.rule}",
        "field": "",
        "reason": reason,
        "reason_vi": f"{_DECODE_REASON_VI.get(exc.rule, 'Không giải mã được bản ghi')}: {reason}",
    }


class Validator:
    """Decodes a raw message, checks the dataset's rules, gives the bytes for ``clean.*``."""

    def __init__(self, dataset: Dataset, codec: AvroCodec, rules: RuleSet) -> None:
        self.dataset = dataset
        self.codec = codec
        self.rules = rules
        self.clean_schema_id = codec.register(f"{dataset.clean_topic}-value", dataset.avro_schema())

    def judge(self, value: bytes | None) -> Accepted | Rejected:
        data = value or b""
        try:
            writer_id, record = self.codec.decode(data)
        except DecodeError as exc:
            return Rejected("decode", [decode_failure(exc)])
        failures = self.rules.check(record)
        if failures:
            return Rejected("validate", [asdict(f) for f in failures])
        normal = _nfc(record)
        if writer_id != self.clean_schema_id:
            # Written with another schema (an older or foreign one): the record has that
            # schema's shape, so it is checked against the clean one as it is encoded.
            return Accepted(self.codec.encode(self.clean_schema_id, normal), normal)
        if normal is record:
            # Already clean: the original bytes are exactly what encoding would give.
            return Accepted(bytes(data), record)
        # Decoded with the clean schema itself and changed only in its texts' normal form,
        # so it still fits, and checking it again would only cost time.
        return Accepted(self.codec.encode(self.clean_schema_id, normal, check=False), normal)


class RowBuilder:
    """Turns clean records and their headers into warehouse rows."""

    def __init__(self, dataset: Dataset) -> None:
        self.fields: list[FieldColumn] = leaf_fields(dataset.avro_schema())
        # Lists and maps are stored as JSON text (see warehouse.models), in NFC as given.
        self.json_columns = [
            f.column
            for f in self.fields
            if isinstance(f.avro_type, dict) and f.avro_type.get("type") in ("array", "map")
        ]

    def row(self, record: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        row = flatten(record, self.fields)
        for column in self.json_columns:
            if row[column] is not None:
                row[column] = json.dumps(row[column], ensure_ascii=False, default=str)
        row.update(lineage(headers))
        row["ingested_at"] = _parse_time(headers.get(h.INGEST_TIME))
        return row


def _clipped(value: str | None, length: int) -> str | None:
    return value[:length] if value is not None else None


def lineage(headers: dict[str, str]) -> dict[str, str | None]:
    """The lineage columns of a row, clipped to their widths.

    Headers come from any producer; PostgreSQL refuses a value longer than its column, and
    one overlong trace id must not stop the batch it arrives in.
    """
    return {
        "source_system": _clipped(headers.get(h.SOURCE_SYSTEM), SOURCE_SYSTEM_LENGTH),
        "agency_id": _clipped(headers.get(h.AGENCY_ID), AGENCY_ID_LENGTH),
        "trace_id": _clipped(headers.get(h.TRACE_ID), TRACE_ID_LENGTH),
    }


def _parse_time(value: str | None) -> datetime:
    if value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    return datetime.now(UTC)


def _version(record: dict[str, Any], version_field: str) -> datetime | None:
    # Only a timestamp orders versions the way the warehouse's upsert does.
    value = get_path(record, version_field)
    return utc(value) if isinstance(value, datetime) else None


def _number(value: str | None) -> int | None:
    text = (value or "").strip()
    # Bounded, so a header of a thousand digits does not overflow the BIGINT column.
    return int(text) if text.isdecimal() and len(text) <= 18 else None


def replay_of(headers: dict[str, str]) -> int | None:
    """The quarantine row a replayed record came from, or ``None`` for a first delivery.

    A value that is not a row id (a foreign producer's header) is ignored, never raised on.
    """
    return _number(headers.get(h.REPLAY_OF))


def quarantine_row(
    dataset: Dataset,
    codec: AvroCodec,
    *,
    key: bytes | None,
    value: bytes | None,
    headers: dict[str, str],
    topic: str,
    partition: int,
    offset: int,
) -> dict[str, Any]:
    """The quarantine row of one dead letter; foreign dead letters without our headers too."""
    payload = value or b""
    stage = headers.get(h.ERROR_STAGE, "unknown")
    failures_json = headers.get(h.ERROR_FAILURES) or json.dumps(
        [
            {
                "rule": "unknown",
                "field": "",
                "reason": "dead letter without a reason",
                "reason_vi": "Bản ghi lỗi không kèm lý do",
            }
        ]
    )
    record_json: str | None = None
    version: datetime | None = None
    if stage == "connector":
        record_json = payload.decode("utf-8", errors="replace")
    else:
        try:
            _, record = codec.decode(payload)
            record_json = json.dumps(record, ensure_ascii=False, default=str)
            version = _version(record, dataset.version_field)
        except DecodeError:
            record_json = None
    # Only our own dead letters carry these; a foreign value that is no number is ignored.
    origin_partition = _number(headers.get(h.ORIGIN_PARTITION))
    origin_offset = _number(headers.get(h.ORIGIN_OFFSET))
    row = {
        "dataset": dataset.id,
        "fingerprint": hashlib.sha256(payload).hexdigest(),
        "stage": stage[:STAGE_LENGTH],
        "rules": headers.get(h.ERROR_RULE, "unknown"),
        "reason": headers.get(h.ERROR_REASON, "dead letter without a reason"),
        "failures": failures_json,
        "record_key": key.decode("utf-8", errors="replace")[:RECORD_KEY_LENGTH] if key else None,
        "record_version": version,
        **lineage(headers),
        "origin_topic": headers.get(h.ORIGIN_TOPIC, topic)[:ORIGIN_TOPIC_LENGTH],
        "origin_partition": partition if origin_partition is None else origin_partition,
        "origin_offset": offset if origin_offset is None else origin_offset,
        "payload": payload,
        "record_json": record_json,
        "status": "held",
        "quarantined_at": datetime.now(UTC),
    }
    # Headers and keys are anyone's text; PostgreSQL text cannot hold NUL, and the payload
    # keeps the original bytes whole anyway.
    return {
        name: value.replace("\x00", "\ufffd") if isinstance(value, str) else value
        for name, value in row.items()
    }
