"""Consuming systems, named X-Road style by their agency e-ID and a subsystem code."""

from __future__ import annotations

import re
from typing import Final

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from hub.access.errors import AccessError

# The agency e-ID rule of quality.rules (``agency_id``) matches with this pattern.
from schemas.catalogue import AGENCY_ID_PATTERN

# Lower-case letters, digits and inner hyphens: the code is also a Kafka user name and
# consumer-group prefix, and a URL path segment, so it must need no quoting anywhere.
SUBSYSTEM_PATTERN: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?", re.ASCII)
SEPARATOR: Final = "/"


class ConsumingSystem(BaseModel):
    """A system that reads the hub's data: ``000.00.00.H42/so-y-te-portal``.

    Attributes:
        agency_id: The owning agency's electronic identifier (QCVN 102:2016).
        subsystem: The agency's code for the system, unique within the agency.
    """

    model_config = ConfigDict(frozen=True)

    agency_id: str
    subsystem: str

    @field_validator("agency_id")
    @classmethod
    def _agency_id(cls, value: str) -> str:
        if not AGENCY_ID_PATTERN.fullmatch(value):
            raise ValueError(
                f"{value!r} is not an agency e-ID like 000.00.00.H42 or H42.151 (QCVN 102:2016)"
            )
        return value

    @field_validator("subsystem")
    @classmethod
    def _subsystem(cls, value: str) -> str:
        if not SUBSYSTEM_PATTERN.fullmatch(value):
            raise ValueError(
                f"subsystem {value!r} must be 1-64 lower-case letters, digits and hyphens, "
                "like so-y-te-portal"
            )
        return value

    @property
    def id(self) -> str:
        return f"{self.agency_id}{SEPARATOR}{self.subsystem}"

    def __str__(self) -> str:
        return self.id

    @classmethod
    def parse(cls, text: str) -> ConsumingSystem:
        """Read ``<agency e-ID>/<subsystem>``.

        Raises:
            AccessError: The text is not of that form, naming the part at fault.
        """
        agency_id, separator, subsystem = text.strip().partition(SEPARATOR)
        if not separator:
            raise AccessError(
                f"consuming system {text!r} must be <agency e-ID>/<subsystem>, "
                "like 000.00.00.H42/so-y-te-portal"
            )
        try:
            return cls(agency_id=agency_id, subsystem=subsystem)
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
            raise AccessError(f"consuming system {text!r}: {reason}") from exc
