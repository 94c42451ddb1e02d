"""Storage of the embedded schema registry: schema ids, subject versions, compatibility levels.

Three tables, all prefixed ``registry_`` so they can share a database with the warehouse:

- ``registry_schema``: one row per distinct schema; the id is the registry-wide schema id.
  Schemas are matched by a fingerprint of their canonical form, so whitespace and key order
  never create a second id.
- ``registry_subject_version``: which schema each version of a subject points at. The
  ``deleted`` flag marks soft deletes; live queries skip deleted rows, and a soft-deleted
  version keeps its schema readable by id.
- ``registry_config``: the compatibility level configured globally or for a subject.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
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
    delete,
    func,
    insert,
    select,
    update,
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

config_table = Table(
    "registry_config",
    metadata,
    Column("subject", Text, primary_key=True),
    Column("level", String(32), nullable=False),
)

# The global level's row: no subject is empty, since the REST path needs one character.
_GLOBAL = ""

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


class SubjectSoftDeleted(LookupError):
    """A soft delete of a subject whose versions are all soft-deleted already."""

    def __init__(self, subject: str) -> None:
        super().__init__(
            f"Subject '{subject}' was soft deleted. Set permanent=true to delete permanently"
        )


class SubjectNotSoftDeleted(LookupError):
    """A permanent delete of a subject that still has live versions."""

    def __init__(self, subject: str) -> None:
        super().__init__(
            f"Subject '{subject}' was not deleted first before being permanently deleted"
        )


class VersionSoftDeleted(LookupError):
    """A soft delete of a version that is soft-deleted already."""

    def __init__(self, subject: str, version: int) -> None:
        super().__init__(
            f"Subject '{subject}' Version {version} was soft deleted. "
            f"Set permanent=true to delete permanently"
        )


class VersionNotSoftDeleted(LookupError):
    """A permanent delete of a version that is still live."""

    def __init__(self, subject: str, version: int) -> None:
        super().__init__(
            f"Subject '{subject}' Version {version} was not deleted first before being "
            f"permanently deleted"
        )


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

    def register(
        self,
        subject: str,
        schema: str,
        canonical: str,
        schema_type: str,
        check: Callable[[Sequence[SubjectVersion]], None] | None = None,
    ) -> int:
        """Store a schema under a subject and return its global id.

        The schema gets the id of an identical schema anywhere in the registry; the subject
        gets a new version only if no live version already holds it.

        Args:
            subject: Subject name.
            schema: The schema text as registered.
            canonical: Its canonical form, which decides identity.
            schema_type: ``AVRO`` and so on.
            check: Called with the subject's live versions, oldest first, before a new
                version is added; it refuses the schema by raising. It runs under the write
                lock, so no other registration slips in between the check and the insert.
        """
        digest = fingerprint(schema_type, canonical)
        attempts = 0
        with self._write_lock:
            while True:
                try:
                    with self._engine.begin() as conn:
                        schema_id = conn.scalar(
                            select(schema_table.c.id).where(schema_table.c.fingerprint == digest)
                        )
                        if schema_id is not None and _holds(conn, subject, schema_id):
                            return int(schema_id)
                        if check is not None:
                            check(_live_versions(conn, subject))
                        if schema_id is None:
                            schema_id = _insert_schema(conn, digest, canonical, schema, schema_type)
                        _add_version(conn, subject, schema_id)
                        return int(schema_id)
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

    def schema_versions(self, schema_id: int) -> list[tuple[str, int]]:
        """The live subject-version pairs holding a schema id (none is fine, no id is not)."""
        self.schema_by_id(schema_id)
        query = (
            select(subject_version_table.c.subject, subject_version_table.c.version)
            .where(
                subject_version_table.c.schema_id == schema_id,
                subject_version_table.c.deleted.is_(False),
            )
            .order_by(subject_version_table.c.subject, subject_version_table.c.version)
        )
        with self._engine.connect() as conn:
            return [(row.subject, row.version) for row in conn.execute(query)]

    def subjects(self, include_deleted: bool = False) -> list[str]:
        """Subjects with a live version, or with any version at all if ``include_deleted``."""
        query = select(subject_version_table.c.subject).distinct()
        if not include_deleted:
            query = query.where(subject_version_table.c.deleted.is_(False))
        with self._engine.connect() as conn:
            return list(conn.scalars(query.order_by(subject_version_table.c.subject)))

    def versions(self, subject: str, include_deleted: bool = False) -> list[int]:
        """A subject's live version numbers (all of them if ``include_deleted``), oldest first."""
        query = select(subject_version_table.c.version).where(
            subject_version_table.c.subject == subject
        )
        if not include_deleted:
            query = query.where(subject_version_table.c.deleted.is_(False))
        with self._engine.connect() as conn:
            found = list(conn.scalars(query.order_by(subject_version_table.c.version)))
        if not found:
            raise SubjectNotFound(subject)
        return found

    def live_versions(self, subject: str) -> list[SubjectVersion]:
        """A subject's live versions with their schemas, oldest first; empty if none."""
        with self._engine.connect() as conn:
            return _live_versions(conn, subject)

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

    def delete_subject(self, subject: str, permanent: bool = False) -> list[int]:
        """Delete a subject's versions and return their numbers, as Confluent does.

        A soft delete marks the live versions deleted. A permanent delete removes versions
        that were all soft-deleted first. Either drops the subject's compatibility level.

        Raises:
            SubjectNotFound: The subject has no version, live or deleted.
            SubjectSoftDeleted: A soft delete found no live version.
            SubjectNotSoftDeleted: A permanent delete found a live version.
        """
        with self._write_lock, self._engine.begin() as conn:
            rows = _all_versions(conn, subject)
            if not rows:
                raise SubjectNotFound(subject)
            live = [number for number, deleted in rows.items() if not deleted]
            where = subject_version_table.c.subject == subject
            if permanent:
                if live:
                    raise SubjectNotSoftDeleted(subject)
                conn.execute(delete(subject_version_table).where(where))
                removed = list(rows)
            else:
                if not live:
                    raise SubjectSoftDeleted(subject)
                conn.execute(update(subject_version_table).where(where).values(deleted=True))
                removed = live
            _delete_config(conn, subject)
            return removed

    def delete_version(self, subject: str, version: int | None, permanent: bool = False) -> int:
        """Delete one version of a subject and return its number, as Confluent does.

        ``None`` means the latest: the newest live version for a soft delete, the newest of
        all for a permanent one. A permanent delete needs the version soft-deleted first. The
        subject's compatibility level goes when no live version is left.

        Raises:
            SubjectNotFound: The subject has no version, live or deleted.
            VersionNotFound: The subject has no such version.
            VersionSoftDeleted: A soft delete of a soft-deleted version.
            VersionNotSoftDeleted: A permanent delete of a live version.
        """
        with self._write_lock, self._engine.begin() as conn:
            rows = _all_versions(conn, subject)
            if not rows:
                raise SubjectNotFound(subject)
            live = [number for number, deleted in rows.items() if not deleted]
            if version is not None:
                number = version
            else:
                number = max(live) if live and not permanent else max(rows)
            if number not in rows:
                raise VersionNotFound(subject, version)
            if permanent and not rows[number]:
                raise VersionNotSoftDeleted(subject, number)
            if not permanent and rows[number]:
                raise VersionSoftDeleted(subject, number)
            where = (subject_version_table.c.subject == subject) & (
                subject_version_table.c.version == number
            )
            if permanent:
                conn.execute(delete(subject_version_table).where(where))
            else:
                conn.execute(update(subject_version_table).where(where).values(deleted=True))
            if set(live) <= {number}:
                # No live version is left, so the subject's level goes, as in Confluent.
                _delete_config(conn, subject)
            return number

    def compatibility(self, subject: str | None = None) -> str | None:
        """The level configured for a subject, or globally for ``None``; ``None`` if unset."""
        with self._engine.connect() as conn:
            return conn.scalar(
                select(config_table.c.level).where(config_table.c.subject == _config_key(subject))
            )

    def set_compatibility(self, level: str, subject: str | None = None) -> None:
        """Configure the level of a subject, or the global one for ``None``."""
        key = _config_key(subject)
        with self._write_lock, self._engine.begin() as conn:
            changed = conn.execute(
                update(config_table).where(config_table.c.subject == key).values(level=level)
            )
            if changed.rowcount == 0:
                conn.execute(insert(config_table).values(subject=key, level=level))

    def delete_compatibility(self, subject: str) -> str | None:
        """Drop a subject's level, so the global one applies; the dropped level or ``None``."""
        with self._write_lock, self._engine.begin() as conn:
            level = conn.scalar(
                select(config_table.c.level).where(config_table.c.subject == subject)
            )
            _delete_config(conn, subject)
            return level


def _config_key(subject: str | None) -> str:
    return _GLOBAL if subject is None else subject


def _delete_config(conn: Connection, subject: str) -> None:
    conn.execute(delete(config_table).where(config_table.c.subject == subject))


def _all_versions(conn: Connection, subject: str) -> dict[int, bool]:
    """Every version number of a subject, oldest first, mapped to whether it is deleted."""
    query = (
        select(subject_version_table.c.version, subject_version_table.c.deleted)
        .where(subject_version_table.c.subject == subject)
        .order_by(subject_version_table.c.version)
    )
    return {row.version: bool(row.deleted) for row in conn.execute(query)}


def _live_versions(conn: Connection, subject: str) -> list[SubjectVersion]:
    query = (
        _version_query()
        .where(
            subject_version_table.c.subject == subject,
            subject_version_table.c.deleted.is_(False),
        )
        .order_by(subject_version_table.c.version)
    )
    return [_subject_version(row) for row in conn.execute(query)]


def _holds(conn: Connection, subject: str, schema_id: int) -> bool:
    """Whether a live version of the subject already points at the schema."""
    held = conn.scalar(
        select(subject_version_table.c.version).where(
            subject_version_table.c.subject == subject,
            subject_version_table.c.schema_id == schema_id,
            subject_version_table.c.deleted.is_(False),
        )
    )
    return held is not None


def _insert_schema(
    conn: Connection, digest: str, canonical: str, schema: str, schema_type: str
) -> int:
    result = conn.execute(
        insert(schema_table).values(
            fingerprint=digest, canonical=canonical, schema=schema, schema_type=schema_type
        )
    )
    return int(result.inserted_primary_key[0])


def _add_version(conn: Connection, subject: str, schema_id: int) -> None:
    # Soft-deleted versions count too: as in Confluent, their numbers are not reused.
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
