"""``lgsp validate``: check a source export against a dataset's schema and rules, offline.

Integration engineers run it on a file before connecting a system, so they see every
record the hub would hold back, and why, without publishing anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import fastavro
from pydantic import BaseModel, ConfigDict

from quality.rules import RuleSet
from schemas.catalogue import Dataset
from schemas.codec import EncodeError, pack
from schemas.json_records import JsonRecordError, record_from_json


class LineFailure(BaseModel):
    model_config = ConfigDict(frozen=True)

    rule: str
    field: str
    reason: str
    reason_vi: str


class LineVerdict(BaseModel):
    """One line's verdict, printed as one JSON object per line."""

    model_config = ConfigDict(frozen=True)

    line: int
    valid: bool
    failures: list[LineFailure]


def validate_lines(dataset: Dataset, lines: Iterable[str]) -> Iterator[LineVerdict]:
    """A verdict for every non-blank line of a JSON-lines export."""
    schema = dataset.avro_schema()
    parsed = fastavro.parse_schema(schema)
    rules = RuleSet.for_dataset(dataset)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        failures = _failures(line, schema, parsed, rules)
        yield LineVerdict(line=number, valid=not failures, failures=failures)


def _failures(
    line: str, schema: dict[str, Any], parsed: dict[str, Any], rules: RuleSet
) -> list[LineFailure]:
    try:
        record = record_from_json(schema, json.loads(line))
        # Schema id 0 is never sent anywhere: packing is how the codec checks a record fits.
        pack(0, parsed, record)
    except json.JSONDecodeError as exc:
        return [
            LineFailure(
                rule="json",
                field="",
                reason=f"not valid JSON: {exc}",
                reason_vi=f"Không phải JSON hợp lệ: {exc}",
            )
        ]
    except (JsonRecordError, EncodeError) as exc:
        return [
            LineFailure(
                rule="schema",
                field=str(exc).split(":", 1)[0] if isinstance(exc, JsonRecordError) else "",
                reason=str(exc),
                reason_vi=f"Bản ghi không khớp lược đồ: {exc}",
            )
        ]
    return [
        LineFailure(rule=f.rule, field=f.field, reason=f.reason, reason_vi=f.reason_vi)
        for f in rules.check(record)
    ]
