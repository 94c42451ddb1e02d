"""Administrative units of Vietnam (General Statistics Office codes), versioned by date.

Two published lists are shipped: the three-level system in force until 30 June 2025 and the
two-level system from 1 July 2025. A code is checked against the list in force on the record's
event date, because codes were reused with another meaning after the 2025 merger.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Literal

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"

Level = Literal["province", "district", "commune"]


@dataclass(frozen=True)
class UnitList:
    """One published list and the dates it was in force (``None``: open-ended)."""

    list_id: str
    file_name: str
    valid_from: date | None
    valid_to: date | None

    def in_force(self, on: date) -> bool:
        return (self.valid_from is None or on >= self.valid_from) and (
            self.valid_to is None or on <= self.valid_to
        )


UNIT_LISTS = (
    UnitList("until_2025-06-30", "admin_units_until_2025-06-30.csv.gz", None, date(2025, 6, 30)),
    UnitList("from_2025-07-01", "admin_units_from_2025-07-01.csv.gz", date(2025, 7, 1), None),
)


@dataclass(frozen=True)
class AdminUnit:
    list_id: str
    level: Level
    code: str
    name: str
    province_code: str
    district_code: str | None


class AdminUnits:
    """Lookups over every shipped list; all codes are text with their leading zeros."""

    def __init__(self, units: list[AdminUnit]) -> None:
        self._units = units
        self._by_list: dict[str, dict[tuple[Level, str], AdminUnit]] = {}
        for unit in units:
            self._by_list.setdefault(unit.list_id, {})[(unit.level, unit.code)] = unit

    def __iter__(self) -> Iterator[AdminUnit]:
        return iter(self._units)

    @staticmethod
    def list_for(on: date) -> UnitList:
        for unit_list in UNIT_LISTS:
            if unit_list.in_force(on):
                return unit_list
        raise LookupError(f"no administrative unit list is in force on {on}")

    def get(self, code: str, level: Level, on: date) -> AdminUnit | None:
        """The unit with this code in the list in force on ``on``, if any."""
        return self._by_list.get(self.list_for(on).list_id, {}).get((level, code))

    def is_valid(self, code: str, level: Level, on: date) -> bool:
        return self.get(code, level, on) is not None

    def units(self, level: Level, on: date, province_code: str | None = None) -> list[AdminUnit]:
        list_id = self.list_for(on).list_id
        return [
            unit
            for (unit_level, _), unit in self._by_list.get(list_id, {}).items()
            if unit_level == level
            and (province_code is None or unit.province_code == province_code)
        ]

    def province_codes(self) -> set[str]:
        """Two-digit province codes of every list (pre-2025 codes stay valid in ids)."""
        return {unit.code for unit in self._units if unit.level == "province"}


def _read_list(unit_list: UnitList) -> Iterator[AdminUnit]:
    seen: set[tuple[str, str]] = set()
    with gzip.open(REFERENCE_DIR / unit_list.file_name, mode="rt", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            province = row["province_code"]
            district = row.get("district_code") or None
            parents: list[tuple[Level, str, str, str | None]] = [
                ("province", province, row["province_name"], None)
            ]
            if district:
                parents.append(("district", district, row["district_name"], None))
            for level, code, name, district_code in parents:
                if (level, code) not in seen:
                    seen.add((level, code))
                    yield AdminUnit(unit_list.list_id, level, code, name, province, district_code)
            yield AdminUnit(
                unit_list.list_id,
                "commune",
                row["commune_code"],
                row["commune_name"],
                province,
                district,
            )


@cache
def load_admin_units() -> AdminUnits:
    units: list[AdminUnit] = []
    for unit_list in UNIT_LISTS:
        units.extend(_read_list(unit_list))
    return AdminUnits(units)
