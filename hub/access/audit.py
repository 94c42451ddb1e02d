"""The append-only, hash-chained audit log of administrative actions and data accesses.

Each entry's hash is the SHA-256 of a canonical JSON of its fields, the previous entry's hash
among them, so altering any field of any entry, or removing one, breaks the chain from there
on; the head row (:class:`warehouse.access.AuditHead`) shows entries removed from the end.

Appends are serialised: on PostgreSQL by an exclusive lock on the head table, on SQLite by a
write to the head row as the transaction's first statement (which takes SQLite's write lock,
like ``BEGIN IMMEDIATE``). Two writers therefore never both extend the same entry.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, Engine, func, insert, select, text, update

from hub.access.errors import AccessError
from warehouse.access import AuditEntry, AuditHead

GENESIS_HASH: Final = "0" * 64
"""The previous hash of the first entry."""
_HEAD_ID: Final = 1
_VERIFY_BATCH: Final = 1000


class Action(StrEnum):
    SUBSCRIPTION_REQUEST = "subscription.request"
    SUBSCRIPTION_GRANT = "subscription.grant"
    SUBSCRIPTION_REFUSE = "subscription.refuse"
    SUBSCRIPTION_REVOKE = "subscription.revoke"
    APIKEY_ISSUE = "apikey.issue"
    APIKEY_REVOKE = "apikey.revoke"
    DATA_READ = "data.read"
    GRANTS_READ = "grants.read"


class Outcome(StrEnum):
    OK = "ok"
    REJECTED = "rejected"
    """An administrative action that was not carried out (the detail says why)."""
    ALLOWED = "allowed"
    UNAUTHENTICATED = "unauthenticated"
    DENIED = "denied"
    NOT_FOUND = "not_found"


class AuditRecord(BaseModel):
    """What an entry says, before the log gives it an id, a time and its hashes."""

    model_config = ConfigDict(frozen=True)

    actor: str
    action: Action
    outcome: Outcome
    system_id: str | None = None
    dataset: str | None = None
    detail: dict[str, Any] = {}


class AuditLine(BaseModel):
    """An entry as stored."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    id: int
    occurred_at: datetime
    actor: str
    action: str
    system_id: str | None
    dataset: str | None
    outcome: str
    detail: str
    prev_hash: str
    entry_hash: str

    def detail_json(self) -> dict[str, Any]:
        loaded = json.loads(self.detail)
        return loaded if isinstance(loaded, dict) else {"detail": loaded}


def _utc(moment: datetime) -> datetime:
    # SQLite gives back the stored UTC time without its zone.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def canonical_detail(detail: Mapping[str, Any]) -> str:
    """The JSON text an entry stores: sorted keys, no spaces, text in NFC."""

    def nfc(value: Any) -> Any:
        if isinstance(value, str):
            return unicodedata.normalize("NFC", value)
        if isinstance(value, Mapping):
            return {nfc(str(k)): nfc(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [nfc(v) for v in value]
        return value

    return json.dumps(nfc(dict(detail)), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(
    *,
    entry_id: int,
    occurred_at: datetime,
    actor: str,
    action: str,
    system_id: str | None,
    dataset: str | None,
    outcome: str,
    detail: str,
    prev_hash: str,
) -> str:
    """SHA-256 over the canonical JSON of every field but the hash itself."""
    fields = {
        "id": entry_id,
        "occurred_at": _utc(occurred_at).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": actor,
        "action": action,
        "system_id": system_id,
        "dataset": dataset,
        "outcome": outcome,
        "detail": detail,
        "prev_hash": prev_hash,
    }
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _line_hash(line: AuditLine) -> str:
    return entry_hash(
        entry_id=line.id,
        occurred_at=line.occurred_at,
        actor=line.actor,
        action=line.action,
        system_id=line.system_id,
        dataset=line.dataset,
        outcome=line.outcome,
        detail=line.detail,
        prev_hash=line.prev_hash,
    )


class AuditWriter:
    """Appends entries inside one transaction that holds the log's lock."""

    def __init__(self, connection: Connection, last_id: int, last_hash: str) -> None:
        self.connection = connection
        self._last_id = last_id
        self._last_hash = last_hash

    def append(self, record: AuditRecord) -> AuditLine:
        occurred_at = datetime.now(UTC)
        detail = canonical_detail(record.detail)
        entry_id = self._last_id + 1
        actor = unicodedata.normalize("NFC", record.actor)
        digest = entry_hash(
            entry_id=entry_id,
            occurred_at=occurred_at,
            actor=actor,
            action=record.action.value,
            system_id=record.system_id,
            dataset=record.dataset,
            outcome=record.outcome.value,
            detail=detail,
            prev_hash=self._last_hash,
        )
        values = {
            "id": entry_id,
            "occurred_at": occurred_at,
            "actor": actor,
            "action": record.action.value,
            "system_id": record.system_id,
            "dataset": record.dataset,
            "outcome": record.outcome.value,
            "detail": detail,
            "prev_hash": self._last_hash,
            "entry_hash": digest,
        }
        self.connection.execute(insert(AuditEntry), [values])
        self.connection.execute(
            update(AuditHead)
            .where(AuditHead.id == _HEAD_ID)
            .values(last_id=entry_id, last_hash=digest)
        )
        self._last_id, self._last_hash = entry_id, digest
        return AuditLine.model_validate(values)


def _lock(connection: Connection) -> tuple[int, str]:
    """Take the log's write lock first thing in the transaction; the head's id and hash."""
    if connection.dialect.name == "postgresql":
        # EXCLUSIVE conflicts with itself, so appenders queue; plain SELECTs (verify, list,
        # the API's grant checks) still read.
        connection.execute(text(f"LOCK TABLE {AuditHead.__tablename__} IN EXCLUSIVE MODE"))
    else:
        # A write as the first statement takes SQLite's write lock before any read, so the
        # head read next is the newest and no other writer can move it until we commit.
        connection.execute(
            update(AuditHead).where(AuditHead.id == _HEAD_ID).values(last_id=AuditHead.last_id)
        )
    head = connection.execute(
        select(AuditHead.last_id, AuditHead.last_hash).where(AuditHead.id == _HEAD_ID)
    ).first()
    if head is not None:
        return int(head.last_id), str(head.last_hash)
    entries = connection.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
    if entries:
        raise AccessError(
            "the audit log's head record is missing though the log has entries: it was "
            "tampered with; run `lgsp audit verify`"
        )
    connection.execute(insert(AuditHead).values(id=_HEAD_ID, last_id=0, last_hash=GENESIS_HASH))
    return 0, GENESIS_HASH


@contextmanager
def audited(engine: Engine) -> Iterator[AuditWriter]:
    """A transaction holding the audit log's lock; entries appended in it commit with it.

    Take it before reading what the action changes, so the action and its entry are one
    atomic step and SQLite never has to upgrade a read snapshot to a write.
    """
    with engine.begin() as connection:
        last_id, last_hash = _lock(connection)
        yield AuditWriter(connection, last_id, last_hash)


def append(engine: Engine, record: AuditRecord) -> AuditLine:
    """Append one entry in a transaction of its own."""
    with audited(engine) as writer:
        return writer.append(record)


class Verdict(BaseModel):
    """What :func:`verify` found.

    Attributes:
        entries: Entries checked.
        broken_at: The first entry id at fault (a missing entry's own id), or ``None``.
        reason: Why, when broken.
        head_id: The newest entry's id (0 for an empty log).
        head_hash: The newest entry's hash: publish it, and a later
            ``lgsp audit verify --anchor`` proves nothing before it was rewritten.
    """

    model_config = ConfigDict(frozen=True)

    entries: int
    broken_at: int | None = None
    reason: str | None = None
    head_id: int = 0
    head_hash: str = GENESIS_HASH

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def _read_head(engine: Engine) -> tuple[int, str] | None:
    with engine.connect() as connection:
        row = connection.execute(
            select(AuditHead.last_id, AuditHead.last_hash).where(AuditHead.id == _HEAD_ID)
        ).first()
    return None if row is None else (int(row.last_id), str(row.last_hash))


def _lines(engine: Engine) -> Iterator[AuditLine]:
    with engine.connect() as connection:
        result = connection.execution_options(yield_per=_VERIFY_BATCH).execute(
            select(AuditEntry.__table__).order_by(AuditEntry.id)
        )
        for row in result.mappings():
            yield AuditLine.model_validate(dict(row))


def verify(engine: Engine, *, anchor: str | None = None) -> Verdict:
    """Walk the chain from the first entry; stop at the first fault.

    Works without the append lock, so the API keeps answering while it runs: the head is
    read before and after the walk, and entries appended meanwhile are checked like the
    rest. An entry is at fault when its id does not follow the one before (the missing id
    is reported), its previous hash is not that entry's hash, or its hash does not match its
    fields. The log is also at fault when it ends before the head read first (entries
    removed from the end) or after the head read last (entries added outside the hub).

    Args:
        engine: The warehouse.
        anchor: A head hash published earlier; the chain must still contain it.
    """
    head_before = _read_head(engine)
    # No head yet is an empty log, unless entries turn up (checked against the later head).
    start_id, start_hash = head_before or (0, GENESIS_HASH)
    count = 0
    expected_id = 1
    previous_hash = GENESIS_HASH
    seen_anchor = anchor is None or anchor == GENESIS_HASH
    hash_at_start: str | None = None

    def broken(entry_id: int, reason: str) -> Verdict:
        return Verdict(entries=count, broken_at=entry_id, reason=reason)

    for line in _lines(engine):
        if line.id != expected_id:
            if expected_id == 1:
                return broken(1, f"entry 1 is missing: the log starts at entry {line.id}")
            return broken(
                expected_id,
                f"entry {expected_id} is missing: entry {line.id} follows entry {expected_id - 1}",
            )
        if line.prev_hash != previous_hash:
            return broken(
                line.id,
                f"entry {line.id} does not follow from entry {line.id - 1}: its previous hash "
                "differs from that entry's hash",
            )
        if _line_hash(line) != line.entry_hash:
            return broken(line.id, f"entry {line.id} was altered: its fields do not match its hash")
        count += 1
        expected_id = line.id + 1
        previous_hash = line.entry_hash
        seen_anchor = seen_anchor or line.entry_hash == anchor
        if line.id == start_id:
            hash_at_start = line.entry_hash
    last_id = expected_id - 1
    head_after = _read_head(engine)
    if head_after is None:
        if count:
            return broken(1, "the log's head record is missing")
        return Verdict(entries=0)
    if last_id < start_id:
        return broken(
            last_id + 1,
            f"entries {last_id + 1} to {start_id} were removed from the end of the log",
        )
    if start_id and hash_at_start != start_hash:
        return broken(start_id, f"entry {start_id} does not match the log's head record")
    if last_id > head_after[0]:
        return broken(
            head_after[0] + 1,
            f"entries {head_after[0] + 1} to {last_id} were added without the log's head record",
        )
    if not seen_anchor:
        return Verdict(
            entries=count,
            broken_at=0,
            reason=f"no entry has the anchor hash {anchor}: the log was rewritten",
            head_id=last_id,
            head_hash=previous_hash,
        )
    return Verdict(entries=count, head_id=last_id, head_hash=previous_hash)


class AuditQuery(BaseModel):
    """Filters for :func:`list_entries`; newest first."""

    model_config = ConfigDict(frozen=True)

    system_id: str | None = None
    dataset: str | None = None
    action: str | None = None
    outcome: str | None = None
    limit: int = 50


def list_entries(engine: Engine, query: AuditQuery) -> list[AuditLine]:
    statement = select(AuditEntry.__table__).order_by(AuditEntry.id.desc()).limit(query.limit)
    if query.system_id is not None:
        statement = statement.where(AuditEntry.system_id == query.system_id)
    if query.dataset is not None:
        statement = statement.where(AuditEntry.dataset == query.dataset)
    if query.action is not None:
        statement = statement.where(AuditEntry.action == query.action)
    if query.outcome is not None:
        statement = statement.where(AuditEntry.outcome == query.outcome)
    with engine.connect() as connection:
        return [
            AuditLine.model_validate(dict(row)) for row in connection.execute(statement).mappings()
        ]
