"""API keys of consuming systems: issued once, kept only as a hash, revocable.

A key is ``lgsp_`` and 43 URL-safe characters (256 random bits). So much entropy needs no
slow password hash: SHA-256 of the key is kept, and a presented key is found by its hash.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import Final, cast

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, Engine, Table, insert, select, update

from hub.access.audit import Action, AuditRecord, Outcome, audited
from hub.access.errors import AccessError
from hub.access.systems import ConsumingSystem
from warehouse.access import ApiKey

KEY_PREFIX: Final = "lgsp_"
KEY_ID_LENGTH: Final = 12


class IssuedKey(BaseModel):
    """A new key: the only time the key itself exists outside the consuming system."""

    model_config = ConfigDict(frozen=True)

    system_id: str
    key_id: str
    key: str


class KeyView(BaseModel):
    """A key as stored, without the key."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    id: int
    system_id: str
    key_id: str
    issued_at: datetime
    issued_by: str
    revoked_at: datetime | None
    revoked_by: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _table() -> Table:
    return cast("Table", ApiKey.__table__)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_id_of(key: str) -> str:
    """The id that names a key (the start of its hash), also for keys the hub never issued."""
    return key_hash(key)[:KEY_ID_LENGTH]


def issue_key(engine: Engine, system: ConsumingSystem, *, actor: str) -> IssuedKey:
    """Make a key for the system; the caller shows it once, the hub keeps its hash."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    digest = key_hash(key)
    key_id = digest[:KEY_ID_LENGTH]
    with audited(engine) as log:
        log.connection.execute(
            insert(_table()).values(
                system_id=system.id,
                key_id=key_id,
                key_hash=digest,
                issued_at=datetime.now(UTC),
                issued_by=actor,
            )
        )
        log.append(
            AuditRecord(
                actor=actor,
                action=Action.APIKEY_ISSUE,
                outcome=Outcome.OK,
                system_id=system.id,
                detail={"key_id": key_id},
            )
        )
    return IssuedKey(system_id=system.id, key_id=key_id, key=key)


def revoke_keys(
    engine: Engine, system: ConsumingSystem, *, actor: str, key_id: str | None = None
) -> list[str]:
    """Revoke the system's active keys, or only the one with ``key_id``; the ids revoked.

    Raises:
        AccessError: The system has no such active key (audited as rejected).
    """
    table = _table()
    rejected: AccessError | None = None
    with audited(engine) as log:
        statement = select(table.c.key_id).where(
            table.c.system_id == system.id, table.c.revoked_at.is_(None)
        )
        if key_id is not None:
            statement = statement.where(table.c.key_id == key_id)
        revoked = list(log.connection.execute(statement).scalars())
        if revoked:
            log.connection.execute(
                update(table)
                .where(table.c.key_id.in_(revoked))
                .values(revoked_at=datetime.now(UTC), revoked_by=actor)
            )
            log.append(
                AuditRecord(
                    actor=actor,
                    action=Action.APIKEY_REVOKE,
                    outcome=Outcome.OK,
                    system_id=system.id,
                    detail={"key_ids": revoked},
                )
            )
        else:
            which = f"key {key_id}" if key_id else "keys"
            rejected = AccessError(f"{system} has no active {which} to revoke")
            log.append(
                AuditRecord(
                    actor=actor,
                    action=Action.APIKEY_REVOKE,
                    outcome=Outcome.REJECTED,
                    system_id=system.id,
                    detail={"reason": str(rejected), "key_id": key_id},
                )
            )
    if rejected is not None:
        raise rejected
    return revoked


def list_keys(engine: Engine, *, system_id: str | None = None) -> list[KeyView]:
    table = _table()
    statement = select(table).order_by(table.c.system_id, table.c.issued_at)
    if system_id is not None:
        statement = statement.where(table.c.system_id == system_id)
    with engine.connect() as connection:
        rows = connection.execute(statement).mappings().all()
    return [KeyView.model_validate(dict(row)) for row in rows]


def authenticate(connection: Connection, presented: str) -> KeyView | None:
    """The active key matching a presented one, or ``None``."""
    table = _table()
    row = (
        connection.execute(
            select(table).where(
                table.c.key_hash == key_hash(presented), table.c.revoked_at.is_(None)
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else KeyView.model_validate(dict(row))
