"""Kafka header names the hub writes; part of the published contract of every topic."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

SOURCE_SYSTEM = "lgsp-source-system"
AGENCY_ID = "lgsp-agency-id"
CONNECTOR = "lgsp-connector"
TRACE_ID = "lgsp-trace-id"
INGEST_TIME = "lgsp-ingest-time"
SOURCE_OFFSET = "lgsp-source-offset"

# Dead letters carry where and why a record stopped.
ERROR_STAGE = "lgsp-error-stage"
ERROR_RULE = "lgsp-error-rule"
ERROR_REASON = "lgsp-error-reason"
ERROR_FAILURES = "lgsp-error-failures"
ORIGIN_TOPIC = "lgsp-origin-topic"
ORIGIN_PARTITION = "lgsp-origin-partition"
ORIGIN_OFFSET = "lgsp-origin-offset"

# A record sent back through validation from quarantine carries the id of its quarantine
# row, so the sink can mark that row released in the transaction that stores the record.
REPLAY_OF = "lgsp-replay-of"

Headers = list[tuple[str, bytes]]


def encode_headers(values: Mapping[str, str]) -> Headers:
    return [(name, value.encode("utf-8")) for name, value in values.items()]


def decode_headers(headers: Iterable[tuple[str, bytes | None]] | None) -> dict[str, str]:
    """Headers as text; undecodable bytes are replaced, never raised on."""
    decoded: dict[str, str] = {}
    for name, value in headers or ():
        decoded[name] = value.decode("utf-8", errors="replace") if value is not None else ""
    return decoded


def error_headers(stage: str, failures: list[dict[str, str]]) -> dict[str, str]:
    """Headers of a dead letter: the stage it stopped at and every rule it failed."""
    return {
        ERROR_STAGE: stage,
        ERROR_RULE: ",".join(dict.fromkeys(f["rule"] for f in failures)),
        ERROR_REASON: "; ".join(f["reason"] for f in failures),
        ERROR_FAILURES: json.dumps(failures, ensure_ascii=False),
    }
