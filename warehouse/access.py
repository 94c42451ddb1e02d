"""Access control: subscriptions and their grants, API keys, and the hash-chained audit log.

A consuming system (named X-Road style: agency e-ID and subsystem, ``000.00.00.H42/portal``)
requests a dataset; a steward grants or refuses it. The audit log records every
administrative action and every data access; each entry carries the hash of the one before,
and the one-row head table the newest entry's, so an altered, removed or added entry shows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import Boolean, DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from warehouse.models import Base

SYSTEM_ID_LENGTH: Final = 96
ACTOR_LENGTH: Final = 128


class Subscription(Base):
    """A consuming system's request for one dataset, and the steward's decision on it.

    One row per system and dataset holds the current state; the audit log holds its history.
    ``status`` is ``requested``, ``granted``, ``refused`` or ``revoked``.
    """

    __tablename__ = "access_subscription"
    __table_args__ = (UniqueConstraint("system_id", "dataset", name="uq_access_subscription"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    system_id: Mapped[str] = mapped_column(String(SYSTEM_ID_LENGTH), index=True)
    dataset: Mapped[str] = mapped_column(String(64), index=True)
    # Decree 13/2023: personal data is processed for a stated purpose only.
    purpose: Mapped[str] = mapped_column(Text)
    personal_data_requested: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    personal_data: Mapped[bool] = mapped_column(Boolean, doc="the grant includes personal data")
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    requested_by: Mapped[str] = mapped_column(String(ACTOR_LENGTH))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(ACTOR_LENGTH))
    decision_note: Mapped[str | None] = mapped_column(Text)


class ApiKey(Base):
    """An API key of a consuming system; only the SHA-256 of the key is kept."""

    __tablename__ = "access_api_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    system_id: Mapped[str] = mapped_column(String(SYSTEM_ID_LENGTH), index=True)
    # The start of the hash: names a key in lists and the audit log without revealing it.
    key_id: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    issued_by: Mapped[str] = mapped_column(String(ACTOR_LENGTH))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[str | None] = mapped_column(String(ACTOR_LENGTH))


class AuditEntry(Base):
    """One audit-log entry: who did what, when, to which system and dataset, and the outcome.

    Ids are given in the appending transaction, under the log's lock, so they run 1, 2, 3...
    without gaps: a missing id is a removed entry.
    """

    __tablename__ = "access_audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH))
    action: Mapped[str] = mapped_column(String(32), index=True)
    system_id: Mapped[str | None] = mapped_column(String(SYSTEM_ID_LENGTH), index=True)
    dataset: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, doc="canonical JSON object")
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """The newest audit entry's id and hash, in a single row (``id`` 1).

    Appenders lock this row, which serialises them; comparing it with the log's last entry
    shows entries removed from the end, which the chain alone cannot.
    """

    __tablename__ = "access_audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))
