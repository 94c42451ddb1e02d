"""The population register the other source simulators draw their people from.

A province's systems share people: a birth names a mother the population database holds, an
enterprise's legal representative is a resident with a citizen id. So the simulators share them
too. The population simulator writes the register (``population.db``); civil status and
business registration read it and name its people with the same personal id, full name, date
of birth and gender, except for a realistic share of people the register does not hold (a
newborn, a foreign spouse, a resident of another province). Only the register's clean rows are
drawn from: a spoiled row never reaches the warehouse, so nothing could link to it.

Where the register is: an explicit ``population`` argument of a simulator (the population
simulator's output directory or its database file), else the sibling directory ``population``
of the simulator's own output directory, which is where ``lgsp demo`` and ``lgsp simulate`` put
it (``<workdir>/sources/population``), so the population is simulated first. A simulator
finding no register there has nobody to share and invents everyone. The output is a function of
the simulator's arguments and of the register's content: deterministic by seed, given a
population simulated with fixed arguments.
"""

from __future__ import annotations

import os
import random
import sqlite3
from bisect import bisect
from collections.abc import Callable, Iterable
from datetime import date
from itertools import accumulate
from pathlib import Path
from typing import Any, NamedTuple

from connectors.simulators.manifest import MANIFEST_FILE, SimulationManifest
from connectors.simulators.population import DATABASE_FILE, DEFECTS_TABLE, SYSTEM, TABLE

REGISTER_DIRECTORY = SYSTEM
# How many random residents a draw inspects before it settles for someone outside the
# register: a nearly used-up pool then costs a bounded number of looks, not a scan.
DRAW_ATTEMPTS = 24


class RegisterError(ValueError):
    """A population register was named but cannot be read."""


class Resident(NamedTuple):
    """A person of the register, as the population database holds them.

    A tuple, because a province-sized register holds hundreds of thousands of them.

    Attributes:
        personal_id: The 12-digit personal id.
        full_name: Family, middle and given names (NFC).
        born: Date of birth.
        female: Whether the person is a woman.
        ethnicity: Ethnic group.
        commune_code: Commune of the permanent residence, in the list in force when the
            register last updated the row.
        address_line: The permanent residence's address up to the commune (``Thôn Tân
            Lộc``); :attr:`address` is the whole of it.
        address_area: The rest of it: commune, district and province.
        father_id: The father's personal id, if the register links him.
        mother_id: The mother's personal id, if the register links her.
        spouse_id: The spouse's personal id, if the register links one.
    """

    personal_id: str
    full_name: str
    born: date
    female: bool
    ethnicity: str
    commune_code: str
    address_line: str
    address_area: str
    father_id: str | None
    mother_id: str | None
    spouse_id: str | None

    @property
    def address(self) -> str:
        """The permanent residence's address text, as the register writes it."""
        return (
            f"{self.address_line}, {self.address_area}" if self.address_area else self.address_line
        )

    @property
    def family_name(self) -> str:
        """The family name, which children of a Vietnamese father carry."""
        return self.full_name.split(" ", 1)[0]

    def age_on(self, day: date) -> int:
        """Full years of age on ``day``, as the min-age rule counts them."""
        return age_on(self.born, day)


def age_on(born: date, day: date) -> int:
    """Full years between ``born`` and ``day``."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


class PopulationRegister:
    """The clean people of a simulated population database, indexed for random draws."""

    def __init__(self, residents: Iterable[Resident], issued: Iterable[str] = ()) -> None:
        """Index ``residents``.

        Args:
            residents: The people to draw from.
            issued: Every id the population holds, spoiled rows' too, so that nobody
                invented elsewhere receives one of them; the residents' ids are added.
        """
        self.residents: tuple[Resident, ...] = tuple(
            sorted(residents, key=lambda resident: resident.personal_id)
        )
        self._by_id = {resident.personal_id: resident for resident in self.residents}
        self.issued: frozenset[str] = frozenset(issued).union(self._by_id)
        # Residents by (woman, birth year), each bucket in id order so draws follow the seed.
        self._buckets: dict[tuple[bool, int], list[Resident]] = {}
        self._children: dict[str, list[date]] = {}
        for resident in self.residents:
            self._buckets.setdefault((resident.female, resident.born.year), []).append(resident)
            if resident.mother_id is not None:
                self._children.setdefault(resident.mother_id, []).append(resident.born)

    @classmethod
    def load(cls, population: Path) -> PopulationRegister:
        """Read the register a population simulator run wrote.

        Args:
            population: Its output directory, or the database file in it.

        Raises:
            RegisterError: If there is no population database there or it cannot be read.
        """
        path = Path(population)
        database = path / DATABASE_FILE if path.is_dir() else path
        if not database.is_file():
            raise RegisterError(f"no population database at {database}")
        try:
            # Read-only: a simulator must never create or change the register it reads.
            connection = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
            try:
                spoiled = {
                    row[0] for row in connection.execute(f"SELECT personal_id FROM {DEFECTS_TABLE}")
                }
                rows = connection.execute(
                    "SELECT personal_id, full_name, date_of_birth, gender, ethnicity,"
                    " permanent_commune_code, permanent_address, father_id, mother_id, spouse_id"
                    f" FROM {TABLE} ORDER BY personal_id"
                )
                residents, issued = _residents(rows, spoiled)
            finally:
                connection.close()
        except sqlite3.Error as exc:
            raise RegisterError(f"cannot read the population database {database}: {exc}") from exc
        return cls(residents, issued)

    def __len__(self) -> int:
        return len(self.residents)

    def __contains__(self, personal_id: object) -> bool:
        return personal_id in self._by_id

    def get(self, personal_id: str | None) -> Resident | None:
        """The resident holding ``personal_id``, if the register has one."""
        return None if personal_id is None else self._by_id.get(personal_id)

    def children_born(self, mother_id: str) -> list[date]:
        """Birth dates of the children the register links to this mother."""
        return list(self._children.get(mother_id, ()))

    def draw(
        self,
        rng: random.Random,
        *,
        on: date,
        ages: tuple[int, int],
        female: bool | None = None,
        accept: Callable[[Resident], bool] | None = None,
    ) -> Resident | None:
        """A random resident of an age on a day, or ``None`` if none turns up.

        Residents are weighted equally within the age range, so the register's age pyramid
        shapes who is drawn. The draw gives up after :data:`DRAW_ATTEMPTS` looks, so that the
        caller falls back to someone outside the register when the pool is nearly used up.

        Args:
            rng: The simulator's random generator.
            on: The day the age is reached on.
            ages: Youngest and oldest age in full years, both included.
            female: Only women (``True``), only men (``False``) or anyone (``None``).
            accept: Further conditions the resident must meet (not already used, ...).
        """
        youngest, oldest = ages
        genders = (False, True) if female is None else (female,)
        # Someone ``oldest`` full years old may be born in the year on.year - oldest - 1.
        years = range(on.year - oldest - 1, on.year - youngest + 1)
        buckets = [
            bucket
            for gender in genders
            for year in years
            if (bucket := self._buckets.get((gender, year)))
        ]
        if not buckets:
            return None
        cum_sizes = list(accumulate(len(bucket) for bucket in buckets))
        rand = rng.random
        for _ in range(DRAW_ATTEMPTS):
            spot = int(rand() * cum_sizes[-1])
            position = bisect(cum_sizes, spot)
            bucket = buckets[position]
            resident = bucket[spot - (cum_sizes[position - 1] if position else 0)]
            if youngest <= resident.age_on(on) <= oldest and (accept is None or accept(resident)):
                return resident
        return None


def _residents(
    rows: Iterable[tuple[Any, ...]], spoiled: set[str]
) -> tuple[list[Resident], list[str]]:
    """The residents the clean citizen rows describe, and every id the rows hold."""
    # A province-sized register repeats names, places, dates and ids (a parent's id in each
    # child's row) many times: one shared object for each equal value keeps it small.
    shared: dict[str, str] = {}
    dates: dict[str, date] = {}
    issued: list[str] = []
    residents: list[Resident] = []
    for row in rows:
        personal_id = shared.setdefault(row[0], row[0])
        issued.append(personal_id)
        if personal_id in spoiled:
            continue
        _, full_name, born, gender, ethnicity, commune_code, address, *relatives = row
        day = dates.get(born)
        if day is None:
            day = dates[born] = date.fromisoformat(born)
        line, _, area = address.partition(", ")
        father_id, mother_id, spouse_id = (
            None if relative is None else shared.setdefault(relative, relative)
            for relative in relatives
        )
        residents.append(
            Resident(
                personal_id=personal_id,
                full_name=shared.setdefault(full_name, full_name),
                born=day,
                female=gender == "F",
                ethnicity=shared.setdefault(ethnicity, ethnicity),
                commune_code=shared.setdefault(commune_code, commune_code),
                address_line=shared.setdefault(line, line),
                address_area=shared.setdefault(area, area),
                father_id=father_id,
                mother_id=mother_id,
                spouse_id=spouse_id,
            )
        )
    return residents, issued


def find_register(out_dir: Path, population: Path | None = None) -> PopulationRegister | None:
    """The register a simulator writing into ``out_dir`` draws its people from.

    Args:
        out_dir: The simulator's output directory.
        population: The population simulator's output directory or database; by default the
            sibling directory ``population`` of ``out_dir``, if it holds a database.

    Returns:
        The register, or ``None`` when none was named and the sibling directory holds no
        population simulator run (a manifest of the population system beside its database).

    Raises:
        RegisterError: If ``population`` was named and holds no population database, or the
            database found cannot be read.
    """
    if population is not None:
        return PopulationRegister.load(population)
    sibling = Path(out_dir).resolve().parent / REGISTER_DIRECTORY
    if not (sibling / DATABASE_FILE).is_file() or not (sibling / MANIFEST_FILE).is_file():
        return None
    # Only a population simulator's own run: a sibling database made otherwise (a hand-made
    # or deliberately broken source) is not a register to draw people from.
    try:
        if SimulationManifest.read(sibling).system != SYSTEM:
            return None
    except (OSError, ValueError):
        return None
    return PopulationRegister.load(sibling)


def register_location(out_dir: Path, population: Path | None) -> str:
    """Where the register was, relative to ``out_dir``, for a manifest's ``source``."""
    if population is None:
        population = Path(out_dir).resolve().parent / REGISTER_DIRECTORY
    path = Path(population).resolve()
    database = path / DATABASE_FILE if path.is_dir() else path
    return Path(os.path.relpath(database, Path(out_dir).resolve())).as_posix()
