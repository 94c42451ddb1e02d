"""What a simulator wrote: per dataset, the records and how many were spoiled on purpose."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, model_validator

MANIFEST_FILE = "manifest.json"


class DatasetTally(BaseModel):
    """One dataset's share of a simulated source.

    Attributes:
        records: Source records written (spoiled ones included).
        defects_injected: Records spoiled, each with exactly one defect.
        defects_by_kind: Spoiled records per defect kind; the counts sum to
            ``defects_injected``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    records: int
    defects_injected: int
    defects_by_kind: dict[str, int]

    @model_validator(mode="after")
    def _kinds_add_up(self) -> DatasetTally:
        if sum(self.defects_by_kind.values()) != self.defects_injected:
            raise ValueError("defects_by_kind must sum to defects_injected")
        if not 0 <= self.defects_injected <= self.records:
            raise ValueError("defects_injected must lie between 0 and records")
        return self


class SimulationManifest(BaseModel):
    """A simulator run: counts to reconcile the hub against, and where the source is.

    Attributes:
        system: The source system simulated (the catalogue's ``source_system``).
        datasets: Tally per catalogue dataset the source feeds.
        seed: Seed of the random generator; the same arguments give the same source.
        defect_rate: Requested share of spoiled records.
        start: Simulated "now".
        created_at: When the run happened (UTC).
        source: Where the source is, relative to the manifest's directory, by role
            (for example ``{"database": "population.db", "table": "citizen"}``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    system: str
    datasets: dict[str, DatasetTally]
    seed: int
    defect_rate: float
    start: datetime
    created_at: datetime
    source: dict[str, str]

    @property
    def records(self) -> int:
        return sum(tally.records for tally in self.datasets.values())

    @property
    def defects_injected(self) -> int:
        return sum(tally.defects_injected for tally in self.datasets.values())

    def write(self, out_dir: Path) -> Path:
        """Write ``manifest.json`` (UTF-8, non-ASCII kept as is) into ``out_dir``."""
        path = Path(out_dir) / MANIFEST_FILE
        text = json.dumps(self.model_dump(mode="json"), ensure_ascii=False, indent=2)
        path.write_text(text + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, out_dir: Path) -> SimulationManifest:
        """Read the manifest a run wrote into ``out_dir``."""
        return cls.model_validate_json((Path(out_dir) / MANIFEST_FILE).read_text(encoding="utf-8"))


# Ids encode the century from 1900 on and the oldest simulated people are 96.
EARLIEST_START = datetime(2000, 1, 1, tzinfo=UTC)


def simulation_start(records: int, defect_rate: float, start: datetime | None) -> datetime:
    """Check a simulator's common arguments; the simulated "now" in UTC.

    ``start`` defaults to the start of today (UTC), so a spoiled future date is in the future
    for whoever validates it; a naive value is taken as UTC.

    Raises:
        ValueError: ``records`` is not an integer >= 0, ``defect_rate`` is not a number
            between 0 and 1, or ``start`` is before 2000-01-01.
    """
    if isinstance(records, bool) or not isinstance(records, int) or records < 0:
        raise ValueError(f"records must be an integer >= 0, got {records!r}")
    if (
        isinstance(defect_rate, bool)
        or not isinstance(defect_rate, int | float)
        or not 0 <= defect_rate <= 1
    ):
        raise ValueError(f"defect_rate must be a number between 0 and 1, got {defect_rate!r}")
    if start is None:
        start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start_utc = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
    if start_utc < EARLIEST_START:
        raise ValueError(f"start must not be before {EARLIEST_START.isoformat()}, got {start!r}")
    return start_utc
