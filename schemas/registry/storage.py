"""Storage of the embedded schema registry: global schema ids and per-subject versions.

Two tables, both prefixed ``registry_`` so they can share a database with the warehouse:

- ``registry_schema``: one row per distinct schema; the id is the registry-wide schema id.
  Schemas are matched by a fingerprint of their canonical form, so whitespace and key order
  never create a second id.
- ``registry_subject_version``: which schema each version of a subject points at. The
  ``deleted`` flag is there for soft deletes; live queries skip deleted rows.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    create_engine,
    func,
    insert,
    select,
)
from sqlalchemy.engine import Connection, Row, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool

metadata = MetaData()

schema_table = Table(
    "registry_schema",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # A unique index on the canonical text itself would break PostgreSQL's btree size
    # limit for large schemas, so uniqueness is on a digest of it.
    Column("fingerprint", String(64), nullable=False, unique=True),
    Column("canonical", Text, nullable=False),
    Column("schema", Text, nullable=False),
    Column("schema_type", String(16), nullable=False),
    # Confluent never hands out an id twice, even after a permanent delete.
    sqlite_autoincrement=True,
)

subject_version_table = Table(
    "registry_subject_version",
    metadata,
    Column("subject", Text, primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("schema_id", Integer, ForeignKey("registry_schema.id"), nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
)

# Concurrent registrations from other processes surface as unique violations; retrying
# re-reads what the winner wrote.
_WRITE_ATTEMPTS = 3


class SubjectNotFound(LookupError):
    """The subject has no live version."""

    def __init__(self, subject: str) -> None:
        super().__init__(f"Subject '{subject}' not found.")
        self.subject = subject


class VersionNotFound(LookupError):
    """The subject exists but has no live version with that number."""

    def __init__(self, subject: str, version: int | None) -> None:
        label = "latest" if version is None else str(version)
        super().__init__(f"Version {label} not found for subject '{subject}'.")
        self.subject = subject
        self.version = version


class SchemaNotFound(LookupError):
    """No schema has that id, or the subject holds no such schema."""


@dataclass(frozen=True, slots=True)
class StoredSchema:
    id: int
    schema: str
    schema_type: str


@dataclass(frozen=True, slots=True)
class SubjectVersion:
    subject: str
    version: int
    schema_id: int
    schema: str
    schema_type: str


def fingerprint(schema_type: str, canonical: str) -> str:
    """Digest identifying a schema; the type is part of it so formats never collide."""
    return hashlib.sha256(f"{schema_type}\n{canonical}".encode()).hexdigest()


class RegistryStorage:
    """Schemas and subject versions in a SQL database (SQLite or PostgreSQL).

    Args:
        url: SQLAlchemy database URL; tables are created if missing.
    """

    def __init__(self, url: str) -> None:
        self._engine = _engine(url)
        # SQLite allows one writer; serialising writes here avoids "database is locked".
        self._write_lock = threading.Lock()
        metadata.create_all(self._engine)

    def dispose(self) -> None:
        self._engine.dispose()

    def register(self, subject: str, schema: str, canonical: str, schema_type: str) -> int:
        """Store a schema under a subject and return its global id.

        The schema gets the id of an identical schema anywhere in the registry; the subject
        gets a new version only if no live version already holds it.
        """
        digest = fingerprint(schema_type, canonical)
        attempts = 0
        with self._write_lock:
            while True:
                try:
                    with self._engine.begin() as conn:
                        schema_id = self._schema_id(conn, digest, canonical, schema, schema_type)
                        self._ensure_version(conn, subject, schema_id)
                        return schema_id
                except IntegrityError:
                    attempts += 1
                    if attempts == _WRITE_ATTEMPTS:
                        raise

    def schema_by_id(self, schema_id: int) -> StoredSchema:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(schema_table.c.schema, schema_table.c.schema_type).where(
                    schema_table.c.id == schema_id
                )
            ).first()
        if row is None:
            raise SchemaNotFound(f"Schema {schema_id} not found")
        return StoredSchema(id=schema_id, schema=row.schema, schema_type=row.schema_type)

    def subjects(self) -> list[str]:
        query = (
            select(subject_version_table.c.subject)
            .where(subject_version_table.c.deleted.is_(False))
            .distinct()
            .order_by(subject_version_table.c.subject)
        )
        with self._engine.connect() as conn:
            return list(conn.scalars(query))

    def versions(self, subject: str) -> list[int]:
        query = (
            select(subject_version_table.c.version)
            .where(
                subject_version_table.c.subject == subject,
                subject_version_table.c.deleted.is_(False),
            )
            .order_by(subject_version_table.c.version)
        )
        with self._engine.connect() as conn:
            found = list(conn.scalars(query))
        if not found:
            raise SubjectNotFound(subject)
        return found

    def version(self, subject: str, version: int | None) -> SubjectVersion:
        """One live version of a subject; ``None`` means the latest."""
        live = self.versions(subject)
        number = live[-1] if version is None else version
        if number not in live:
            raise VersionNotFound(subject, version)
        with self._engine.connect() as conn:
            row = conn.execute(
                _version_query().where(
                    subject_version_table.c.subject == subject,
                    subject_version_table.c.version == number,
                )
            ).one()
        return _subject_version(row)

    def lookup(self, subject: str, schema_type: str, canonical: str) -> SubjectVersion:
        """The live version of a subject that holds this schema."""
        self.versions(subject)
        with self._engine.connect() as conn:
            row = conn.execute(
                _version_query()
                .where(
                    subject_version_table.c.subject == subject,
                    subject_version_table.c.deleted.is_(False),
                    schema_table.c.fingerprint == fingerprint(schema_type, canonical),
                )
                .order_by(subject_version_table.c.version)
            ).first()
        if row is None:
            raise SchemaNotFound(f"Schema not found in subject '{subject}'")
        return _subject_version(row)

    @staticmethod
    def _schema_id(
        conn: Connection, digest: str, canonical: str, schema: str, schema_type: str
    ) -> int:
        existing = conn.scalar(
            select(schema_table.c.id).where(schema_table.c.fingerprint == digest)
        )
        if existing is not None:
            return int(existing)
        result = conn.execute(
            insert(schema_table).values(
                fingerprint=digest, canonical=canonical, schema=schema, schema_type=schema_type
            )
        )
        return int(result.inserted_primary_key[0])

    @staticmethod
    def _ensure_version(conn: Connection, subject: str, schema_id: int) -> None:
        held = conn.scalar(
            select(subject_version_table.c.version).where(
                subject_version_table.c.subject == subject,
                subject_version_table.c.schema_id == schema_id,
                subject_version_table.c.deleted.is_(False),
            )
        )
        if held is not None:
            return
        # Deleted versions count too: version numbers are never reused.
        newest = conn.scalar(
            select(func.max(subject_version_table.c.version)).where(
                subject_version_table.c.subject == subject
            )
        )
        conn.execute(
            insert(subject_version_table).values(
                subject=subject, version=(newest or 0) + 1, schema_id=schema_id, deleted=False
            )
        )


def _engine(url: str) -> Engine:
    parsed = make_url(url)
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:"):
            # One shared connection, or every pooled connection sees its own empty database.
            kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
        else:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
    return create_engine(parsed, **kwargs)


def _version_query() -> Select[Any]:
    return select(
        subject_version_table.c.subject,
        subject_version_table.c.version,
        subject_version_table.c.schema_id,
        schema_table.c.schema,
        schema_table.c.schema_type,
    ).join(schema_table, schema_table.c.id == subject_version_table.c.schema_id)


def _subject_version(row: Row[Any]) -> SubjectVersion:
    return SubjectVersion(
        subject=row.subject,
        version=row.version,
        schema_id=row.schema_id,
        schema=row.schema,
        schema_type=row.schema_type,
    )
