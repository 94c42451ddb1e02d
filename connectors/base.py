"""The connector SDK: a connector reads its source; the runner does everything else.

A connector names its dataset and source system, declares a pydantic ``Config`` and yields
source rows with their offsets from ``records()``; ``map()`` turns a row into the dataset's
Avro record. Serialisation, batching, publishing, offsets and dead letters are the runner's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

Offset = dict[str, Any]
"""A source position, JSON-serialisable, meaningful only to the connector that made it."""


class ConnectorConfig(BaseModel):
    """Settings every connector has; subclasses add their source's own."""

    # A rejected value may be a secret: validation errors must not echo it.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    agency_id: str | None = Field(
        default=None,
        description="e-ID of the producing agency; defaults to the dataset's owner",
    )
    batch_size: int = Field(default=1000, ge=1, le=100_000)


class SourceUnavailable(RuntimeError):
    """The source cannot be read; the message names it, never its secrets."""


class MappingError(ValueError):
    """A source row cannot be turned into the dataset's record; it becomes a dead letter."""


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One row as the source holds it, and the position to resume after it."""

    row: Mapping[str, Any]
    offset: Offset


ConfigT = TypeVar("ConfigT", bound=ConnectorConfig)


class Connector(ABC, Generic[ConfigT]):
    """Base class of every connector."""

    name: ClassVar[str]
    dataset: ClassVar[str]
    source_system: ClassVar[str]
    Config: ClassVar[type[ConnectorConfig]]

    def __init__(self, config: ConfigT, instance_name: str | None = None) -> None:
        self.config = config
        # Offsets and logs are kept per declared instance: two population databases, two names.
        self.instance_name = instance_name or self.name

    @abstractmethod
    def records(self, since: Offset | None) -> Iterator[SourceRecord]:
        """Rows after ``since`` (all rows when ``None``), in offset order."""

    def map(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The dataset record for a source row; raise :class:`MappingError` if impossible."""
        return dict(row)

    def row_key(self, row: Mapping[str, Any], key_fields: tuple[str, ...]) -> str:
        """The key a dead letter of this source row carries, for stewards to find it by.

        By default the row's values of the dataset's key fields; a source whose rows are named
        otherwise (file and line, say) overrides it.
        """
        return "|".join(str(row.get(field, "")) for field in key_fields)

    def backlog(self, since: Offset | None) -> int | None:
        """How many source records lie after ``since``, or ``None`` if the source cannot tell."""
        return None

    def check(self) -> None:
        """Raise if the source cannot be reached; by default nothing is checked up front."""
