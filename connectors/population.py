"""The population (citizen-ID) system: a SQL database read incrementally by update time.

Rows are read in (``updated_at``, ``personal_id``) order. A row with either of them NULL has
no place in that order, so it cannot be resumed after: such rows are handed over after the
ordered ones on every run, with the run's last offset, and become dead letters until the
source fills them in. A row whose ordering values cannot be kept in an offset file (a BLOB in
SQLite's untyped columns) is handed over with the offset before it, so a later run reads it
again rather than failing to store where it stopped. A SQLite text column holding bytes that
are not UTF-8 is read with the bytes escaped and the row dead-lettered, rather than stopping
the run at that row forever.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from pydantic import Field, SecretStr
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry

from connectors.base import (
    Connector,
    ConnectorConfig,
    MappingError,
    Offset,
    SourceRecord,
    SourceUnavailable,
)
from schemas.json_records import shown

_GENDERS = {"M": "MALE", "F": "FEMALE"}
_DIGITS = re.compile(r"\s*[0-9]+\s*")


class PopulationConfig(ConnectorConfig):
    database_url: SecretStr = Field(
        description="SQLAlchemy URL of the population database; may hold a password"
    )
    table: str = Field(default="citizen", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    @property
    def shown_url(self) -> str:
        """The URL with any password masked, for messages."""
        try:
            return make_url(self.database_url.get_secret_value()).render_as_string(
                hide_password=True
            )
        except ArgumentError:
            return "<malformed database_url>"


def _text(value: Any) -> str | None:
    # Source systems hand over decomposed (NFD) Vietnamese now and then; the hub speaks NFC.
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value


def _date(value: Any, field: str) -> date:
    if isinstance(value, date):
        return value
    if not value:
        raise MappingError(f"{field} is missing")
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise MappingError(f"{field} {shown(value)} is not a date") from exc


def _timestamp(value: Any, field: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError as exc:
            raise MappingError(f"{field} {shown(value)} is not a timestamp") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _whole_number(value: Any, field: str) -> int:
    """A whole number from an INTEGER column, or a text or REAL one holding one; blank is 0."""
    if value is None or value == "":
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    raise MappingError(f"{field} {shown(value)} is not a whole number")


def _storable(value: Any) -> bool:
    """Whether an ordering value survives the offset file (JSON) and binds again as it was."""
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _is_utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _escaping_text(data: bytes) -> str:
    # sqlite3 raises on a text value that is not UTF-8, failing the whole page; escaped bytes
    # let map() dead-letter just that row, naming its column.
    return data.decode("utf-8", errors="surrogateescape")


def _read_undecodable_text(
    connection: sqlite3.Connection, connection_record: ConnectionPoolEntry
) -> None:
    connection.text_factory = _escaping_text


class PopulationConnector(Connector[PopulationConfig]):
    """Reads the citizen table in (update time, personal id) order, resuming after an offset.

    Keyset pages rather than one long cursor: a row updated while we read moves past the
    offset and is picked up by the next page or run, never skipped.
    """

    name: ClassVar[str] = "population"
    dataset: ClassVar[str] = "citizen.person"
    source_system: ClassVar[str] = "population"
    Config: ClassVar[type[ConnectorConfig]] = PopulationConfig

    def _engine(self) -> Engine:
        try:
            engine = create_engine(self.config.database_url.get_secret_value())
        except (ArgumentError, NoSuchModuleError, ImportError) as exc:
            raise SourceUnavailable(
                f"population database_url {self.config.shown_url} is unusable: {exc}"
            ) from exc
        if engine.dialect.name == "sqlite" and engine.dialect.driver == "pysqlite":
            event.listen(engine, "connect", _read_undecodable_text)
        return engine

    def _unavailable(self, exc: SQLAlchemyError) -> SourceUnavailable:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        return SourceUnavailable(f"population database {self.config.shown_url}: {reason}")

    def check(self) -> None:
        engine = self._engine()
        try:
            with engine.connect() as connection:
                connection.execute(text(f"SELECT 1 FROM {self.config.table} LIMIT 1"))
        except SQLAlchemyError as exc:
            raise self._unavailable(exc) from exc
        finally:
            engine.dispose()

    def backlog(self, since: Offset | None) -> int | None:
        """Rows after ``since`` in update order; rows without a place in it are not counted."""
        query = (
            f"SELECT count(*) FROM {self.config.table} "
            "WHERE updated_at IS NOT NULL AND personal_id IS NOT NULL"
        )
        params: dict[str, Any] = {}
        if since:
            query += " AND (updated_at > :ts OR (updated_at = :ts AND personal_id > :pid))"
            params = {"ts": since["updated_at"], "pid": since["personal_id"]}
        engine = self._engine()
        try:
            with engine.connect() as connection:
                return int(connection.execute(text(query), params).scalar_one())
        except SQLAlchemyError as exc:
            raise self._unavailable(exc) from exc
        finally:
            engine.dispose()

    def records(self, since: Offset | None) -> Iterator[SourceRecord]:
        """Rows after ``since`` (an empty offset is the start), then every unplaceable row."""
        table = self.config.table
        placed = "updated_at IS NOT NULL AND personal_id IS NOT NULL"
        first_page = text(
            f"SELECT * FROM {table} WHERE {placed} ORDER BY updated_at, personal_id LIMIT :n"
        )
        next_page = text(
            f"SELECT * FROM {table} WHERE {placed} AND (updated_at > :ts OR "
            "(updated_at = :ts AND personal_id > :pid)) "
            "ORDER BY updated_at, personal_id LIMIT :n"
        )
        unplaced = text(f"SELECT * FROM {table} WHERE NOT ({placed})")
        # position pages on the database's own values; offset is the last one a file can keep.
        position = since or None
        offset: Offset = dict(since) if since else {}
        engine = self._engine()
        try:
            while True:
                with engine.connect() as connection:
                    if position is None:
                        result = connection.execute(first_page, {"n": self.config.batch_size})
                    else:
                        result = connection.execute(
                            next_page,
                            {
                                "ts": position["updated_at"],
                                "pid": position["personal_id"],
                                "n": self.config.batch_size,
                            },
                        )
                    rows = [dict(row) for row in result.mappings()]
                if not rows:
                    break
                for row in rows:
                    position = {"updated_at": row["updated_at"], "personal_id": row["personal_id"]}
                    if all(_storable(value) for value in position.values()):
                        offset = position
                    yield SourceRecord(row=row, offset=offset)
            # Handed over with the last offset, so storing it changes nothing.
            with engine.connect() as connection:
                for row in connection.execute(unplaced).mappings():
                    yield SourceRecord(row=dict(row), offset=offset)
        except SQLAlchemyError as exc:
            raise self._unavailable(exc) from exc
        finally:
            engine.dispose()

    def map(self, row: Mapping[str, Any]) -> dict[str, Any]:
        for column, value in row.items():
            if isinstance(value, str) and not value.isascii() and not _is_utf8(value):
                raise MappingError(f"{column} holds bytes that are not UTF-8: {shown(value)}")
        try:
            return self._record(row)
        except KeyError as exc:
            raise MappingError(
                f"the {self.config.table} table has no column {exc.args[0]!r}"
            ) from exc

    def _record(self, row: Mapping[str, Any]) -> dict[str, Any]:
        gender = _GENDERS.get(str(row["gender"]).upper())
        if gender is None:
            raise MappingError(f"gender {shown(row['gender'])} is neither 'M' nor 'F'")
        current = None
        if row.get("current_commune_code"):
            current = {
                "commune_code": row["current_commune_code"],
                "address": _text(row.get("current_address")) or "",
            }
        return {
            "personal_id": row["personal_id"],
            "full_name": _text(row["full_name"]),
            "date_of_birth": _date(row["date_of_birth"], "date_of_birth"),
            "gender": gender,
            "ethnicity": _text(row.get("ethnicity")) or "Kinh",
            "nationality": row.get("nationality") or "VN",
            "birth_registration_commune_code": row["birth_registration_commune_code"],
            "permanent_residence": {
                "commune_code": row["permanent_commune_code"],
                "address": _text(row["permanent_address"]),
            },
            "current_residence": current,
            "father_id": row.get("father_id"),
            "mother_id": row.get("mother_id"),
            "spouse_id": row.get("spouse_id"),
            "eid_level": _whole_number(row.get("eid_level"), "eid_level"),
            "updated_at": _timestamp(row["updated_at"], "updated_at"),
        }
