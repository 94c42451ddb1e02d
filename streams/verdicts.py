"""What the stream stages decide about one message, independent of faust."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from quality.rules import RuleSet
from schemas import headers as h
from schemas.catalogue import Dataset, FieldColumn, flatten, get_path, leaf_fields
from schemas.codec import AvroCodec, DecodeError
from warehouse.models import RECORD_KEY_LENGTH
from warehouse.store import utc

_DECODE_REASON_VI = {
    "wire_format": "Dữ liệu không đúng định dạng Confluent (byte đầu hoặc độ dài sai)",
    "unknown_schema": "Mã lược đồ không có trong kho lược đồ",
    "avro_body": "Phần thân Avro không đọc được",
}


@dataclass(frozen=True, slots=True)
class Accepted:
    value: bytes
    record: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rejected:
    stage: str
    failures: list[dict[str, str]]


def _nfc(value: Any) -> Any:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, dict):
        return {k: _nfc(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nfc(v) for v in value]
    return value


def decode_failure(exc: DecodeError) -> dict[str, str]:
    reason = str(exc)
    return {
        "rule": f"decode.{exc.rule}",
        "field": "",
        "reason": reason,
        "reason_vi": f"{_DECODE_REASON_VI.get(exc.rule, 'Không giải mã được bản ghi')}: {reason}",
    }


class Validator:
    """Decodes a raw message, checks the dataset's rules, re-encodes it for ``clean.*``."""

    def __init__(self, dataset: Dataset, codec: AvroCodec, rules: RuleSet) -> None:
        self.dataset = dataset
        self.codec = codec
        self.rules = rules
        self.clean_schema_id = codec.register(f"{dataset.clean_topic}-value", dataset.avro_schema())

    def judge(self, value: bytes | None) -> Accepted | Rejected:
        try:
            _, record = self.codec.decode(value or b"")
        except DecodeError as exc:
            return Rejected("decode", [decode_failure(exc)])
        failures = self.rules.check(record)
        if failures:
            return Rejected("validate", [asdict(f) for f in failures])
        record = _nfc(record)
        return Accepted(self.codec.encode(self.clean_schema_id, record), record)


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
        row["source_system"] = headers.get(h.SOURCE_SYSTEM)
        row["agency_id"] = headers.get(h.AGENCY_ID)
        row["trace_id"] = headers.get(h.TRACE_ID)
        row["ingested_at"] = _parse_time(headers.get(h.INGEST_TIME))
        return row


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


def replay_of(headers: dict[str, str]) -> int | None:
    """The quarantine row a replayed record came from, or ``None`` for a first delivery.

    A value that is not a row id (a foreign producer's header) is ignored, never raised on.
    """
    value = headers.get(h.REPLAY_OF, "").strip()
    return int(value) if value.isdecimal() else None


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
    origin_partition = headers.get(h.ORIGIN_PARTITION)
    origin_offset = headers.get(h.ORIGIN_OFFSET)
    return {
        "dataset": dataset.id,
        "fingerprint": hashlib.sha256(payload).hexdigest(),
        "stage": stage,
        "rules": headers.get(h.ERROR_RULE, "unknown"),
        "reason": headers.get(h.ERROR_REASON, "dead letter without a reason"),
        "failures": failures_json,
        "record_key": key.decode("utf-8", errors="replace")[:RECORD_KEY_LENGTH] if key else None,
        "record_version": version,
        "source_system": headers.get(h.SOURCE_SYSTEM),
        "agency_id": headers.get(h.AGENCY_ID),
        "trace_id": headers.get(h.TRACE_ID),
        "origin_topic": headers.get(h.ORIGIN_TOPIC, topic),
        "origin_partition": int(origin_partition) if origin_partition else partition,
        "origin_offset": int(origin_offset) if origin_offset else offset,
        "payload": payload,
        "record_json": record_json,
        "status": "held",
        "quarantined_at": datetime.now(UTC),
    }
