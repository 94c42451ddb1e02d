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


MAX_FAILURE_TEXT_CHARS = 500
"""Longest text a dead letter keeps of one failure's field (reason, reason_vi, rule, field)."""
MAX_FAILURES = 20
"""Failures a dead letter lists in full; the rule and reason headers still name every rule."""
MAX_ERROR_HEADER_CHARS = 2000
"""Longest rule or reason header. Rules quote the values they refuse, which may be megabytes
long, and a message with megabytes of headers is refused by the broker like any other."""


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def error_headers(stage: str, failures: list[dict[str, str]]) -> dict[str, str]:
    """Headers of a dead letter: the stage it stopped at and every rule it failed.

    Every value is capped (see :data:`MAX_ERROR_HEADER_CHARS`), so the headers of a dead letter
    stay a few kilobytes whatever its failures quote; the failures stay valid JSON.
    """
    kept = [
        {name: _clip(str(text), MAX_FAILURE_TEXT_CHARS) for name, text in failure.items()}
        for failure in failures[:MAX_FAILURES]
    ]
    return {
        ERROR_STAGE: _clip(stage, MAX_FAILURE_TEXT_CHARS),
        ERROR_RULE: _clip(
            ",".join(dict.fromkeys(f["rule"] for f in failures)), MAX_ERROR_HEADER_CHARS
        ),
        ERROR_REASON: _clip(
            "; ".join(_clip(f["reason"], MAX_FAILURE_TEXT_CHARS) for f in failures),
            MAX_ERROR_HEADER_CHARS,
        ),
        ERROR_FAILURES: json.dumps(kept, ensure_ascii=False),
    }
