"""The population (citizen-ID) system: a SQL database read incrementally by update time."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from pydantic import Field, SecretStr
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from connectors.base import (
    Connector,
    ConnectorConfig,
    MappingError,
    Offset,
    SourceRecord,
    SourceUnavailable,
)

_GENDERS = {"M": "MALE", "F": "FEMALE"}


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
        raise MappingError(f"{field} {value!r} is not a date") from exc


def _timestamp(value: Any, field: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError as exc:
            raise MappingError(f"{field} {value!r} is not a timestamp") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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
            return create_engine(self.config.database_url.get_secret_value())
        except (ArgumentError, NoSuchModuleError, ImportError) as exc:
            raise SourceUnavailable(
                f"population database_url {self.config.shown_url} is unusable: {exc}"
            ) from exc

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
        query = f"SELECT count(*) FROM {self.config.table}"
        params: dict[str, Any] = {}
        if since is not None:
            query += " WHERE updated_at > :ts OR (updated_at = :ts AND personal_id > :pid)"
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
        table = self.config.table
        first_page = text(f"SELECT * FROM {table} ORDER BY updated_at, personal_id LIMIT :n")
        next_page = text(
            f"SELECT * FROM {table} WHERE updated_at > :ts OR "
            "(updated_at = :ts AND personal_id > :pid) "
            "ORDER BY updated_at, personal_id LIMIT :n"
        )
        position = since
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
                    return
                for row in rows:
                    position = {"updated_at": row["updated_at"], "personal_id": row["personal_id"]}
                    yield SourceRecord(row=row, offset=position)
        except SQLAlchemyError as exc:
            raise self._unavailable(exc) from exc
        finally:
            engine.dispose()

    def map(self, row: Mapping[str, Any]) -> dict[str, Any]:
        try:
            gender = _GENDERS[str(row["gender"]).upper()]
        except KeyError as exc:
            raise MappingError(f"gender {row.get('gender')!r} is neither 'M' nor 'F'") from exc
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
            "eid_level": int(row.get("eid_level") or 0),
            "updated_at": _timestamp(row["updated_at"], "updated_at"),
        }
