"""Population (citizen-ID) source simulator for Hà Tĩnh.

Writes the kind of database the provincial population system would expose: one ``citizen`` row
per person, keyed by the 12-digit personal id, with a known number of deliberately spoiled
records. The answer key (which rows were spoiled, and how) is kept in a separate ``defects``
table so that tests and reconciliation can compare what the hub flagged with what was injected;
the connector never reads it.

Every unspoiled row is consistent: its id agrees with its birth-registration province, date of
birth and gender; its commune codes are valid in the administrative-unit list in force on the
relevant date (the birth date for the birth registration, the update time for residences); its
name is present; its birth date is before ``start``. Each spoiled row breaks exactly one rule.

This database is also the province's register of people for the other simulators: civil status
and business registration read it from the sibling directory (``<sources>/population``) and
name its people with the same id, name, date of birth and gender (see
:mod:`connectors.simulators.register`). So the population is simulated first.
"""

from __future__ import annotations

import os
import random
import sqlite3
from bisect import bisect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import TypeVar

from connectors.simulators import identities as ids
from connectors.simulators import vietnamese_names as vn
from connectors.simulators.manifest import DatasetTally, SimulationManifest, simulation_start
from schemas.reference import UNIT_LISTS, AdminUnit, AdminUnits, load_admin_units

SYSTEM = "population"
DATABASE_FILE = "population.db"
TABLE = "citizen"
DEFECTS_TABLE = "defects"
DATASET = "citizen.person"

PROVINCE_CODE = "42"  # Hà Tĩnh
UPDATE_WINDOW = timedelta(days=540)
# Vietnam time. A consumer may judge a residence code by the local date of ``updated_at`` rather
# than the UTC date, so near a list change only codes valid under both readings are used.
LOCAL_OFFSET = timedelta(hours=7)

DEFECT_KINDS: tuple[str, ...] = (
    "bad_id_shape",
    "id_birth_mismatch",
    "unknown_commune",
    "missing_name",
    "future_birth_date",
)
UNKNOWN_COMMUNE_CODE = "99999"

BORN_IN_PROVINCE_SHARE = 0.90
CURRENT_RESIDENCE_SHARE = 0.12
CURRENT_RESIDENCE_ELSEWHERE_SHARE = 0.30
FATHER_UNKNOWN_SHARE = 0.08
# How many years younger than her husband a wife is, drawn uniformly from these.
WIFE_YOUNGER_BY: tuple[int, ...] = (-1, 0, 1, 2, 2, 3, 3, 4, 5, 7)
DAYS_PER_YEAR = 365.2425

# (lowest age, highest age exclusive, weight): a Vietnamese age pyramid, roughly the 2019 census.
AGE_BANDS: tuple[tuple[int, int, float], ...] = (
    (0, 5, 7.6),
    (5, 10, 8.3),
    (10, 15, 7.7),
    (15, 20, 6.9),
    (20, 25, 6.8),
    (25, 30, 7.6),
    (30, 35, 8.0),
    (35, 40, 7.8),
    (40, 45, 7.2),
    (45, 50, 6.6),
    (50, 55, 5.9),
    (55, 60, 5.2),
    (60, 65, 4.4),
    (65, 70, 3.3),
    (70, 75, 2.3),
    (75, 80, 1.5),
    (80, 85, 1.0),
    (85, 90, 0.6),
    (90, 96, 0.3),
)

# Where people born outside Hà Tĩnh were registered: neighbours and big cities weigh most;
# every other province of the list in force gets the default weight.
BIRTH_PROVINCE_WEIGHTS: dict[str, float] = {
    "40": 30.0,  # Nghệ An
    "44": 12.0,  # Quảng Bình (Quảng Trị from 2025-07-01)
    "38": 8.0,  # Thanh Hóa
    "01": 10.0,  # Hà Nội
    "79": 8.0,  # Hồ Chí Minh City
    "45": 4.0,  # Quảng Trị
    "46": 3.0,  # Huế
    "48": 4.0,  # Đà Nẵng
    "74": 3.0,  # Bình Dương
    "75": 3.0,  # Đồng Nai
}
DEFAULT_PROVINCE_WEIGHT = 0.4

# Where residents living away from their permanent address stay: work and study destinations.
CURRENT_RESIDENCE_DESTINATIONS: dict[str, float] = {
    "01": 25.0,  # Hà Nội
    "79": 25.0,  # Hồ Chí Minh City
    "74": 10.0,  # Bình Dương
    "75": 8.0,  # Đồng Nai
    "40": 15.0,  # Nghệ An
    "48": 8.0,  # Đà Nẵng
    "31": 4.0,  # Hải Phòng
}

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
LOCAL_OFFSET_MS = LOCAL_OFFSET // timedelta(milliseconds=1)
EPOCH = datetime(1970, 1, 1)
EPOCH_ORDINAL = EPOCH.toordinal()

TWO_DIGITS = tuple(f"{number:02d}" for number in range(60))
THREE_DIGITS = tuple(f"{number:03d}" for number in range(1000))

T = TypeVar("T")

CITIZEN_COLUMNS: tuple[str, ...] = (
    "personal_id TEXT NOT NULL PRIMARY KEY",
    "full_name TEXT",
    "date_of_birth TEXT",
    "gender TEXT NOT NULL",
    "ethnicity TEXT NOT NULL",
    "nationality TEXT NOT NULL",
    "birth_registration_commune_code TEXT NOT NULL",
    "permanent_commune_code TEXT NOT NULL",
    "permanent_address TEXT NOT NULL",
    "current_commune_code TEXT",
    "current_address TEXT",
    "father_id TEXT",
    "mother_id TEXT",
    "spouse_id TEXT",
    "eid_level INTEGER NOT NULL",
    "updated_at TEXT NOT NULL",
)
COLUMN = {definition.split()[0]: position for position, definition in enumerate(CITIZEN_COLUMNS)}
DEFECTS_COLUMNS: tuple[str, ...] = (
    "personal_id TEXT NOT NULL PRIMARY KEY",
    "kind TEXT NOT NULL",
    "detail TEXT NOT NULL",
)


def simulate_population(
    out_dir: Path,
    records: int,
    defect_rate: float,
    seed: int = 42,
    *,
    start: datetime | None = None,
) -> SimulationManifest:
    """Write a simulated Hà Tĩnh population database and its manifest into ``out_dir``.

    Args:
        out_dir: Directory for ``population.db`` (replaced if present) and ``manifest.json``;
            created if missing.
        records: Number of citizen rows, at least 0.
        defect_rate: Share of rows to spoil, between 0 and 1; exactly
            ``round(records * defect_rate)`` rows get one defect each.
        seed: Seed for the random generator; equal arguments give identical rows.
        start: Simulated "now" (a naive value is taken as UTC), not before 2000-01-01. Update
            times fall in the 540 days before it. Defaults to the start of today (UTC), so a
            spoiled future birth date is in the future for whoever validates it.

    Returns:
        The manifest, also written to ``out_dir/manifest.json``.

    Raises:
        ValueError: If ``records`` is not an integer >= 0, ``defect_rate`` is not a number
            between 0 and 1, or ``start`` is before 2000-01-01.
    """
    start_utc = simulation_start(records, defect_rate, start)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    builder = _PopulationBuilder(random.Random(seed), load_admin_units(), start_utc)
    builder.build(records, round(records * defect_rate))
    # Built beside the target and renamed, so a reader never sees a half-written database.
    temp_path = out_dir / f".{DATABASE_FILE}.tmp"
    temp_path.unlink(missing_ok=True)
    builder.write(temp_path)
    os.replace(temp_path, out_dir / DATABASE_FILE)

    by_kind = dict.fromkeys(DEFECT_KINDS, 0)
    for kind in builder.kinds.values():
        by_kind[kind] += 1
    manifest = SimulationManifest(
        system=SYSTEM,
        datasets={
            DATASET: DatasetTally(
                records=records, defects_injected=len(builder.kinds), defects_by_kind=by_kind
            )
        },
        seed=seed,
        defect_rate=float(defect_rate),
        start=start_utc,
        created_at=datetime.now(UTC),
        source={"database": DATABASE_FILE, "table": TABLE, "defects_table": DEFECTS_TABLE},
    )
    manifest.write(out_dir)
    return manifest


def _pick(rand: Callable[[], float], items: Sequence[T]) -> T:
    """``random.choice`` without its overhead; this runs several times per row."""
    return items[int(rand() * len(items))]


def _weighted(rand: Callable[[], float], items: Sequence[T], cum_weights: Sequence[float]) -> T:
    """``random.choices(..., k=1)[0]`` without its overhead (same bisection)."""
    return items[bisect(cum_weights, rand() * cum_weights[-1], 0, len(items) - 1)]


def _cumulative(weighted: Sequence[tuple[str, float]]) -> tuple[list[str], list[float]]:
    """Split ``(value, weight)`` pairs into values and cumulative weights for ``choices``."""
    return [value for value, _ in weighted], list(accumulate(weight for _, weight in weighted))


@dataclass(frozen=True)
class _NameTable:
    middles: list[str]
    middle_weights: list[float]
    given: tuple[str, ...]


def _name_table(middles: Sequence[tuple[str, float]], given: tuple[str, ...]) -> _NameTable:
    names, weights = _cumulative(middles)
    return _NameTable(names, weights, given)


# Keyed by (gender, born before ids.YOUNGER_GENERATION_FROM); gender 0 is male, 1 female.
NAME_TABLES: dict[tuple[int, bool], _NameTable] = {
    (0, True): _name_table(vn.MIDDLE_NAMES_MALE_OLDER, vn.GIVEN_NAMES_MALE_OLDER),
    (0, False): _name_table(vn.MIDDLE_NAMES_MALE_YOUNGER, vn.GIVEN_NAMES_MALE_YOUNGER),
    (1, True): _name_table(vn.MIDDLE_NAMES_FEMALE_OLDER, vn.GIVEN_NAMES_FEMALE_OLDER),
    (1, False): _name_table(vn.MIDDLE_NAMES_FEMALE_YOUNGER, vn.GIVEN_NAMES_FEMALE_YOUNGER),
}


@dataclass(frozen=True)
class _Place:
    """A commune a person can be registered in, with the address text that names it."""

    code: str
    address_suffix: str
    rural: bool


@dataclass(frozen=True)
class _ResidencePools:
    """Communes usable for one update time: Hà Tĩnh's and those of destination provinces."""

    home: list[_Place]
    destinations: list[list[_Place]]
    destination_weights: list[float]


class _PopulationBuilder:
    """Generates people column by column, then streams the rows into SQLite."""

    def __init__(self, rng: random.Random, units: AdminUnits, start: datetime) -> None:
        self.rng = rng
        self.issuer = ids.PersonalIdIssuer(rng)
        self.units = units
        self.start_ordinal = start.date().toordinal()
        self.start_year = start.year
        self.end_ms = (start.replace(tzinfo=None) - EPOCH) // timedelta(milliseconds=1)
        self.window_ms = UPDATE_WINDOW // timedelta(milliseconds=1)
        # One date inside each list's validity, to query the reference by list.
        self.list_dates = {
            unit_list.list_id: unit_list.valid_from or unit_list.valid_to
            for unit_list in UNIT_LISTS
        }
        self.all_commune_codes = {unit.code for unit in units if unit.level == "commune"}
        self._list_by_ordinal: dict[int, str] = {}
        self._places: dict[tuple[str, str, str], list[_Place]] = {}
        self._residence_pools: dict[tuple[str, str], _ResidencePools] = {}
        self._pools_by_hour: dict[int, _ResidencePools] = {}
        self._iso_dates: dict[int, str] = {}
        self._variants: dict[str, int] = {}  # spoiled rows per kind so far, to alternate variants
        self._birth_provinces: dict[str, tuple[list[str], list[float]]] = {}

        self.kinds: dict[int, str] = {}  # spoiled row index -> defect kind
        self.gender: list[int] = []  # 0 male, 1 female: the parity the personal id uses
        self.birth: list[int] = []  # date ordinals
        self.birth_year: list[int] = []
        self.updated: list[int] = []  # milliseconds since the epoch, UTC
        self.birth_province: list[str] = []
        self.birth_commune: list[str] = []
        self.ids: list[str] = []
        self.family: list[str] = []
        self.ethnicity: list[str] = []
        self.father: list[int | None] = []
        self.mother: list[int | None] = []
        self.spouse: list[int | None] = []
        self.defects: list[tuple[str, str, str]] = []

    # -- reference data -------------------------------------------------------------------

    def _list_on(self, ordinal: int) -> str:
        list_id = self._list_by_ordinal.get(ordinal)
        if list_id is None:
            list_id = self.units.list_for(date.fromordinal(ordinal)).list_id
            self._list_by_ordinal[ordinal] = list_id
        return list_id

    def _places_of(self, province: str, list_id: str, also_valid_in: str) -> list[_Place]:
        """Communes of ``province`` in ``list_id`` whose codes are also in ``also_valid_in``."""
        key = (province, list_id, also_valid_in)
        places = self._places.get(key)
        if places is None:
            on = self.list_dates[list_id]
            other_on = self.list_dates[also_valid_in]
            places = [
                _Place(unit.code, self._address_suffix(unit, on), unit.name.startswith("Xã"))
                for unit in self.units.units("commune", on, province)
                if self.units.is_valid(unit.code, "commune", other_on)
            ]
            self._places[key] = places
        return places

    def _address_suffix(self, unit: AdminUnit, on: date) -> str:
        names = [unit.name]
        if unit.district_code is not None:
            district = self.units.get(unit.district_code, "district", on)
            if district is not None:
                names.append(district.name)
        province = self.units.get(unit.province_code, "province", on)
        if province is not None:
            names.append(province.name)
        # The published lists contain stray double spaces ("Thị trấn  Tây Sơn").
        return ", ".join(" ".join(name.split()) for name in names)

    def _birth_province_choices(self, list_id: str) -> tuple[list[str], list[float]]:
        choices = self._birth_provinces.get(list_id)
        if choices is None:
            codes = sorted(
                unit.code
                for unit in self.units.units("province", self.list_dates[list_id])
                if unit.code != PROVINCE_CODE
            )
            weights = [BIRTH_PROVINCE_WEIGHTS.get(code, DEFAULT_PROVINCE_WEIGHT) for code in codes]
            choices = (codes, list(accumulate(weights)))
            self._birth_provinces[list_id] = choices
        return choices

    def _pools_for(self, updated_ms: int) -> _ResidencePools:
        # Vietnam is a whole number of hours ahead, so the hour fixes both dates.
        hour = updated_ms // HOUR_MS
        pools = self._pools_by_hour.get(hour)
        if pools is None:
            utc_list = self._list_on(EPOCH_ORDINAL + updated_ms // DAY_MS)
            local_list = self._list_on(EPOCH_ORDINAL + (updated_ms + LOCAL_OFFSET_MS) // DAY_MS)
            pools = self._residence_pools.get((utc_list, local_list))
            if pools is None:
                pools = self._new_pools(utc_list, local_list)
                self._residence_pools[(utc_list, local_list)] = pools
            self._pools_by_hour[hour] = pools
        return pools

    def _new_pools(self, utc_list: str, local_list: str) -> _ResidencePools:
        destinations: list[list[_Place]] = []
        weights: list[float] = []
        for province, weight in CURRENT_RESIDENCE_DESTINATIONS.items():
            places = self._places_of(province, utc_list, local_list)
            if places:
                destinations.append(places)
                weights.append(weight)
        return _ResidencePools(
            home=self._places_of(PROVINCE_CODE, utc_list, local_list),
            destinations=destinations,
            destination_weights=list(accumulate(weights)),
        )

    # -- generation -----------------------------------------------------------------------

    def build(self, records: int, spoiled: int) -> None:
        """Generate ``records`` people, ``spoiled`` of them with one defect each."""
        # Round-robin over a random sample: the kinds' counts differ by at most one.
        for position, index in enumerate(self.rng.sample(range(records), spoiled)):
            self.kinds[index] = DEFECT_KINDS[position % len(DEFECT_KINDS)]
        self._demography(records)
        self._birth_registration()
        self._personal_ids()
        self._spoil_ids()
        self._families()

    def _demography(self, records: int) -> None:
        rand = self.rng.random
        self.gender = [0 if rand() < 0.5 else 1 for _ in range(records)]
        band_days = [
            (int(low * DAYS_PER_YEAR), int((high - low) * DAYS_PER_YEAR))
            for low, high, _ in AGE_BANDS
        ]
        band_weights = list(accumulate(weight for _, _, weight in AGE_BANDS))
        bands = self.rng.choices(band_days, cum_weights=band_weights, k=records)
        window_start_ms = self.end_ms - self.window_ms
        future = {index for index, kind in self.kinds.items() if kind == "future_birth_date"}
        for index, (lowest_days, span_days) in enumerate(bands):
            updated = window_start_ms + int(rand() * self.window_ms)
            if index in future:
                # A month's margin: the record must still be "future" when it is validated,
                # in Vietnam's time zone, a little after it was simulated.
                birth = self.start_ordinal + 30 + int(rand() * 365)
            else:
                # At least one day old at ``start``, so the birth date is never in the future.
                birth = self.start_ordinal - 1 - lowest_days - int(rand() * span_days)
                birth_ms = (birth - EPOCH_ORDINAL) * DAY_MS
                if updated < birth_ms:
                    # A newborn's record is created on the day of birth at the earliest.
                    updated = birth_ms + int(rand() * (self.end_ms - birth_ms))
            self.birth.append(birth)
            self.birth_year.append(date.fromordinal(birth).year)
            self.updated.append(updated)

    def _birth_registration(self) -> None:
        rand = self.rng.random
        for birth in self.birth:
            list_id = self._list_on(birth)
            province = PROVINCE_CODE
            if rand() >= BORN_IN_PROVINCE_SHARE:
                province = _weighted(rand, *self._birth_province_choices(list_id))
            self.birth_province.append(province)
            self.birth_commune.append(_pick(rand, self._places_of(province, list_id, list_id)).code)

    def _personal_ids(self) -> None:
        groups: dict[tuple[str, int, int], list[int]] = {}
        for index, year in enumerate(self.birth_year):
            key = (self.birth_province[index], year, self.gender[index])
            group = groups.get(key)
            if group is None:
                group = groups[key] = []
            group.append(index)
        ids_by_index = [""] * len(self.birth)
        order: list[int] = []
        # A prefix's ids come ascending, so visiting the prefixes in order visits the ids in
        # key order.
        prefixes = sorted(
            (ids.id_prefix(province, year, gender == 1), (province, year, gender))
            for province, year, gender in groups
        )
        for _, (province, year, gender) in prefixes:
            members = groups[(province, year, gender)]
            issued = self.issuer.issue_many(province, year, gender == 1, len(members))
            for index, personal_id in zip(members, issued, strict=True):
                ids_by_index[index] = personal_id
            order.extend(members)
        self._renumber(order, ids_by_index)

    def _renumber(self, order: list[int], ids: list[str]) -> None:
        """Put every column in personal-id order.

        Rows are then written in key order, which keeps primary-key inserts cheap, and the
        columns are read sequentially, which keeps memory access cheap.
        """
        self.ids = [ids[index] for index in order]
        self.gender = [self.gender[index] for index in order]
        self.birth = [self.birth[index] for index in order]
        self.birth_year = [self.birth_year[index] for index in order]
        self.updated = [self.updated[index] for index in order]
        self.birth_province = [self.birth_province[index] for index in order]
        self.birth_commune = [self.birth_commune[index] for index in order]
        position = {
            index: new_index for new_index, index in enumerate(order) if index in self.kinds
        }
        self.kinds = {position[index]: kind for index, kind in self.kinds.items()}

    def _spoil_ids(self) -> None:
        for index, kind in sorted(self.kinds.items()):
            if kind not in ("bad_id_shape", "id_birth_mismatch"):
                continue
            variant = self._variants.get(kind, 0)
            self._variants[kind] = variant + 1
            if kind == "bad_id_shape":
                candidate, detail = self._bad_shape(self.ids[index], variant % 2)
            else:
                candidate, detail = self.issuer.mismatched(self.ids[index], variant)
            self.ids[index] = candidate
            self.defects.append((candidate, kind, detail))

    def _bad_shape(self, original: str, variant: int) -> tuple[str, str]:
        """A mistyped id: a digit lost (11 digits) or a letter typed for a digit."""
        rng = self.rng
        while True:
            if variant == 0:
                position = rng.randrange(len(original))
                candidate = original[:position] + original[position + 1 :]
                detail = "11 digits"
            else:
                position = rng.randrange(6, len(original))
                candidate = original[:position] + rng.choice("OIBSZ") + original[position + 1 :]
                detail = "letter in id"
            if candidate not in self.issuer:
                self.issuer.reserve((candidate,))
                return candidate, detail

    def _families(self) -> None:
        """Marry adults, give children parents, and pass on family name and ethnicity."""
        rng = self.rng
        rand = rng.random
        records = len(self.birth)
        family_names, family_weights = _cumulative(vn.FAMILY_NAMES)
        self.family = rng.choices(family_names, cum_weights=family_weights, k=records)
        ethnicities, ethnicity_weights = _cumulative(ids.ETHNICITIES)
        self.ethnicity = rng.choices(ethnicities, cum_weights=ethnicity_weights, k=records)
        self.father = [None] * records
        self.mother = [None] * records
        self.spouse = [None] * records

        # Spoiled people stay out of families, so no clean row points at a broken one; adults
        # are grouped by birth year. Legal marriage ages: 18 for women, 20 for men.
        year = self.birth_year
        by_year: dict[int, list[int]] = {}
        brides: dict[int, list[int]] = {}
        grooms: list[int] = []
        for index, ordinal in enumerate(self.birth):
            if index in self.kinds:
                continue
            by_year.setdefault(year[index], []).append(index)
            age = (self.start_ordinal - ordinal) / DAYS_PER_YEAR
            female = self.gender[index] == 1
            if age < (18 if female else 20) or rand() >= _married_share(age):
                continue
            if female:
                brides.setdefault(year[index], []).append(index)
            else:
                grooms.append(index)
        couples: dict[int, list[tuple[int, int]]] = {}
        for husband in grooms:
            # Wives are usually a few years younger than their husbands.
            candidates = brides.get(year[husband] + _pick(rand, WIFE_YOUNGER_BY))
            if not candidates:
                continue
            wife = candidates.pop(int(rand() * len(candidates)))
            self.spouse[husband] = wife
            self.spouse[wife] = husband
            couples.setdefault(year[wife], []).append((husband, wife))

        # Oldest first (parents are at least 19 years older), so a parent's family name and
        # ethnicity are final before a child copies them.
        for birth_year in sorted(by_year):
            age = self.start_year - birth_year
            if age >= 60:
                continue
            share = _with_parents_share(age)
            for index in by_year[birth_year]:
                if rand() >= share:
                    continue
                families = couples.get(birth_year - 20 - int(rand() * 19))
                if not families:
                    continue
                father, mother = _pick(rand, families)
                self.mother[index] = mother
                parent = mother
                # Without a father on record the child carries the mother's family name.
                if rand() >= FATHER_UNKNOWN_SHARE:
                    self.father[index] = father
                    parent = father
                self.family[index] = self.family[parent]
                self.ethnicity[index] = self.ethnicity[parent]

    # -- rows -----------------------------------------------------------------------------

    def _full_name(self, index: int) -> str:
        rand = self.rng.random
        older = self.birth_year[index] < ids.YOUNGER_GENERATION_FROM
        table = NAME_TABLES[(self.gender[index], older)]
        middle = _weighted(rand, table.middles, table.middle_weights)
        return f"{self.family[index]} {middle} {_pick(rand, table.given)}"

    def _address(self, place: _Place) -> str:
        rand = self.rng.random
        if place.rural:
            if rand() < 0.7:
                return f"Thôn {_pick(rand, vn.VILLAGES)}, {place.address_suffix}"
            return f"Xóm {1 + int(rand() * 15)}, {place.address_suffix}"
        roll = rand()
        if roll < 0.5:
            number = 1 + int(rand() * 250)
            return f"Số {number} đường {_pick(rand, vn.STREETS)}, {place.address_suffix}"
        if roll < 0.8:
            return f"Tổ dân phố {1 + int(rand() * 20)}, {place.address_suffix}"
        number = 1 + int(rand() * 60)
        return f"Ngõ {number} đường {_pick(rand, vn.STREETS)}, {place.address_suffix}"

    def _unknown_commune_code(self, variant: int) -> str:
        if variant == 0:
            return UNKNOWN_COMMUNE_CODE
        while True:
            code = f"{self.rng.randrange(10_000, 100_000):05d}"
            if code not in self.all_commune_codes and code != UNKNOWN_COMMUNE_CODE:
                return code

    def _iso_date(self, ordinal: int) -> str:
        text = self._iso_dates.get(ordinal)
        if text is None:
            text = self._iso_dates[ordinal] = date.fromordinal(ordinal).isoformat()
        return text

    def _timestamp(self, updated_ms: int) -> str:
        """``updated_ms`` as ISO-8601 UTC with milliseconds; datetime.isoformat is slower."""
        day, millis = divmod(updated_ms, DAY_MS)
        seconds, millis = divmod(millis, 1000)
        minutes, seconds = divmod(seconds, 60)
        hours, minutes = divmod(minutes, 60)
        clock = f"{TWO_DIGITS[hours]}:{TWO_DIGITS[minutes]}:{TWO_DIGITS[seconds]}"
        return f"{self._iso_date(EPOCH_ORDINAL + day)}T{clock}.{THREE_DIGITS[millis]}Z"

    def _rows(self) -> Iterator[list[str | int | None]]:
        """Rows in personal-id order (spoiled ids aside)."""
        rand = self.rng.random
        ids, kinds, birth, updated = self.ids, self.kinds, self.birth, self.updated
        father, mother, spouse = self.father, self.mother, self.spouse
        child_from = self.start_ordinal - int(14 * DAYS_PER_YEAR)
        for index in range(len(ids)):
            updated_ms = updated[index]
            pools = self._pools_for(updated_ms)
            home = _pick(rand, pools.home)
            current_code: str | None = None
            current_address: str | None = None
            if rand() < CURRENT_RESIDENCE_SHARE:
                if pools.destinations and rand() < CURRENT_RESIDENCE_ELSEWHERE_SHARE:
                    destination = _weighted(rand, pools.destinations, pools.destination_weights)
                    place = _pick(rand, destination)
                else:
                    place = _pick(rand, pools.home)
                current_code = place.code
                current_address = self._address(place)
            if birth[index] > child_from:
                # Children under 14 reach level 2 only through a parent's account.
                eid_level = 0 if rand() < 0.6 else 2
            else:
                roll = rand()
                eid_level = 0 if roll < 0.08 else 1 if roll < 0.2 else 2
            father_of, mother_of, spouse_of = father[index], mother[index], spouse[index]
            row: list[str | int | None] = [
                ids[index],
                self._full_name(index),
                self._iso_date(birth[index]),
                "MF"[self.gender[index]],
                self.ethnicity[index],
                "VN",
                self.birth_commune[index],
                home.code,
                self._address(home),
                current_code,
                current_address,
                None if father_of is None else ids[father_of],
                None if mother_of is None else ids[mother_of],
                None if spouse_of is None else ids[spouse_of],
                eid_level,
                self._timestamp(updated_ms),
            ]
            kind = kinds.get(index)
            if kind is not None:
                self._spoil_row(row, kind)
            yield row

    def _spoil_row(self, row: list[str | int | None], kind: str) -> None:
        """Apply the row-level part of ``kind`` to ``row`` and record it in the answer key."""
        personal_id = str(row[COLUMN["personal_id"]])
        variant = self._variants.get(kind, 0)
        self._variants[kind] = variant + 1
        if kind == "missing_name":
            row[COLUMN["full_name"]] = None if variant % 2 == 0 else "  "
            self.defects.append((personal_id, kind, "null" if variant % 2 == 0 else "blank"))
        elif kind == "unknown_commune":
            code = self._unknown_commune_code(variant % 2)
            row[COLUMN["permanent_commune_code"]] = code
            self.defects.append((personal_id, kind, code))
        elif kind == "future_birth_date":
            # Not born yet, so no e-ID either; the date itself was set in _demography.
            row[COLUMN["eid_level"]] = 0
            self.defects.append((personal_id, kind, str(row[COLUMN["date_of_birth"]])))

    def write(self, path: Path) -> None:
        """Write the ``citizen`` and ``defects`` tables into a new SQLite file at ``path``."""
        connection = sqlite3.connect(path)
        try:
            # A fresh file, renamed into place only when complete, needs no crash safety.
            connection.execute("PRAGMA journal_mode = OFF")
            connection.execute("PRAGMA synchronous = OFF")
            connection.execute(f"CREATE TABLE {TABLE} ({', '.join(CITIZEN_COLUMNS)})")
            connection.execute(f"CREATE TABLE {DEFECTS_TABLE} ({', '.join(DEFECTS_COLUMNS)})")
            with connection:
                placeholders = ", ".join("?" * len(CITIZEN_COLUMNS))
                connection.executemany(f"INSERT INTO {TABLE} VALUES ({placeholders})", self._rows())
                # Filled while the rows stream, so only now complete.
                connection.executemany(
                    f"INSERT INTO {DEFECTS_TABLE} VALUES (?, ?, ?)", sorted(self.defects)
                )
                # Built after the load: one sort is cheaper than maintaining it row by row.
                connection.execute(
                    f"CREATE INDEX {TABLE}_updated_at_key ON {TABLE} (updated_at, personal_id)"
                )
        finally:
            connection.close()


def _married_share(age: float) -> float:
    """Share of adults of this age who are married."""
    if age < 25:
        return 0.25
    if age < 30:
        return 0.6
    return 0.8


def _with_parents_share(age: float) -> float:
    """Share of people of this age whose parents are linked on their record."""
    if age < 18:
        return 0.75
    if age < 35:
        return 0.5
    return 0.25
