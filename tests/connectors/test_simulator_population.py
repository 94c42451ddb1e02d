"""Tests for the population source simulator.

The consistency checks here are written independently of ``quality.rules`` on purpose: they are
the simulator's own statement of what "clean" and "spoiled" mean, against the reference lists.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import unicodedata
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from connectors.simulators.manifest import SimulationManifest
from connectors.simulators.population import simulate_population
from schemas.reference import AdminUnits, load_admin_units

RECORDS = 3000
RATE = 0.05
SEED = 7
START = datetime(2026, 11, 1, tzinfo=UTC)
KINDS = {
    "bad_id_shape",
    "id_birth_mismatch",
    "unknown_commune",
    "missing_name",
    "future_birth_date",
}
COLUMNS = [
    "personal_id",
    "full_name",
    "date_of_birth",
    "gender",
    "ethnicity",
    "nationality",
    "birth_registration_commune_code",
    "permanent_commune_code",
    "permanent_address",
    "current_commune_code",
    "current_address",
    "father_id",
    "mother_id",
    "spouse_id",
    "eid_level",
    "updated_at",
]
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
VIETNAM = timedelta(hours=7)


@pytest.fixture(scope="module")
def units() -> AdminUnits:
    return load_admin_units()


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[SimulationManifest, Path]:
    out_dir = tmp_path_factory.mktemp("population")
    return simulate_population(out_dir, RECORDS, RATE, seed=SEED, start=START), out_dir


@pytest.fixture(scope="module")
def citizens(simulated: tuple[SimulationManifest, Path]) -> list[dict]:
    return _read(simulated[1], "citizen")


@pytest.fixture(scope="module")
def answer_key(simulated: tuple[SimulationManifest, Path]) -> dict[str, str]:
    return {row["personal_id"]: row["kind"] for row in _read(simulated[1], "defects")}


def _read(out_dir: Path, table: str) -> list[dict]:
    connection = sqlite3.connect(out_dir / "population.db")
    connection.row_factory = sqlite3.Row
    try:
        rows = connection.execute(f"SELECT * FROM {table} ORDER BY personal_id").fetchall()
    finally:
        connection.close()
    return [dict(row) for row in rows]


def _updated(row: dict) -> datetime:
    return datetime.strptime(row["updated_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _valid_commune(units: AdminUnits, code: str | None, on: datetime, province: str | None) -> bool:
    """Valid on both the UTC and the Vietnam-time date of ``on`` (and in ``province``)."""
    for day in {on.date(), (on + VIETNAM).date()}:
        unit = units.get(code or "", "commune", day)
        if unit is None or (province is not None and unit.province_code != province):
            return False
    return True


def _violations(row: dict, units: AdminUnits, start: datetime = START) -> set[str]:
    """Every rule ``row`` breaks; labels outside the defect kinds must never appear."""
    problems: set[str] = set()
    personal_id = row["personal_id"]
    born = date.fromisoformat(row["date_of_birth"])
    updated = _updated(row)
    birth_unit = units.get(row["birth_registration_commune_code"], "commune", born)
    if birth_unit is None:
        problems.add("birth_commune")
    if not re.fullmatch(r"\d{12}", personal_id):
        problems.add("bad_id_shape")
    else:
        century_gender = (born.year // 100 - 19) * 2 + (0 if row["gender"] == "M" else 1)
        if personal_id[3] != str(century_gender) or personal_id[4:6] != f"{born.year % 100:02d}":
            problems.add("id_birth_mismatch")
        if birth_unit is not None and personal_id[:3] != f"0{birth_unit.province_code}":
            problems.add("id_province")
        if personal_id[1:3] not in units.province_codes():
            problems.add("id_province")
    if not _valid_commune(units, row["permanent_commune_code"], updated, "42"):
        problems.add("unknown_commune")
    if row["current_commune_code"] is not None and not (
        _valid_commune(units, row["current_commune_code"], updated, None) and row["current_address"]
    ):
        problems.add("current_residence")
    if row["current_commune_code"] is None and row["current_address"] is not None:
        problems.add("current_residence")
    if row["full_name"] is None or not row["full_name"].strip():
        problems.add("missing_name")
    if born > start.date():
        problems.add("future_birth_date")
    elif born > updated.date():
        problems.add("updated_before_birth")
    if not (start - timedelta(days=540) <= updated <= start):
        problems.add("updated_outside_window")
    return problems


def test_counts_match_manifest(simulated, citizens, answer_key) -> None:
    manifest, _ = simulated
    assert manifest.records == len(citizens) == RECORDS
    assert manifest.defects_injected == round(RECORDS * RATE) == len(answer_key)
    tally = manifest.datasets["citizen.person"]
    assert sum(tally.defects_by_kind.values()) == manifest.defects_injected
    assert set(tally.defects_by_kind) == KINDS
    assert dict(Counter(answer_key.values())) == tally.defects_by_kind
    # Kinds are dealt round-robin, so they differ by at most one.
    assert max(tally.defects_by_kind.values()) - min(tally.defects_by_kind.values()) <= 1


def test_manifest_round_trip(simulated) -> None:
    manifest, out_dir = simulated
    assert SimulationManifest.read(out_dir) == manifest
    raw = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    assert raw["system"] == "population"
    assert raw["source"]["database"] == "population.db"
    assert raw["source"]["table"] == "citizen"
    assert raw["seed"] == SEED
    assert raw["defect_rate"] == RATE
    assert (out_dir / raw["source"]["database"]).is_file()
    assert manifest.start == START
    with pytest.raises(ValueError, match="frozen"):
        manifest.records = 1


def test_table_layout(simulated) -> None:
    connection = sqlite3.connect(simulated[1] / "population.db")
    try:
        columns = connection.execute("PRAGMA table_info(citizen)").fetchall()
        indexes = [
            [info[2] for info in connection.execute(f"PRAGMA index_info('{entry[1]}')")]
            for entry in connection.execute("PRAGMA index_list(citizen)")
        ]
    finally:
        connection.close()
    assert [column[1] for column in columns] == COLUMNS
    assert {column[1]: column[2] for column in columns}["personal_id"] == "TEXT"
    assert [column[1] for column in columns if column[5]] == ["personal_id"]
    assert ["updated_at", "personal_id"] in indexes


def test_same_seed_gives_identical_rows(tmp_path: Path) -> None:
    first = simulate_population(tmp_path / "a", 800, 0.1, seed=3)
    second = simulate_population(tmp_path / "b", 800, 0.1, seed=3)
    other = simulate_population(tmp_path / "c", 800, 0.1, seed=4)
    for table in ("citizen", "defects"):
        assert _read(tmp_path / "a", table) == _read(tmp_path / "b", table)
        assert _read(tmp_path / "a", table) != _read(tmp_path / "c", table)
    assert first.model_dump(exclude={"created_at"}) == second.model_dump(exclude={"created_at"})
    assert other.seed == 4


def test_personal_ids_unique_and_text(citizens, answer_key) -> None:
    ids = [row["personal_id"] for row in citizens]
    assert all(isinstance(personal_id, str) for personal_id in ids)
    assert len(set(ids)) == len(ids)
    assert set(answer_key) <= set(ids)


def test_text_is_nfc_vietnamese(citizens) -> None:
    texts = [value for row in citizens for value in row.values() if isinstance(value, str)]
    assert all(unicodedata.is_normalized("NFC", text) for text in texts)
    names = [row["full_name"] for row in citizens if row["full_name"] and row["full_name"].strip()]
    assert any(name.startswith("Nguyễn ") for name in names)
    assert sum(not name.isascii() for name in names) > 0.9 * len(names)
    assert all(len(name.split()) >= 3 for name in names)
    assert all("Tỉnh Hà Tĩnh" in row["permanent_address"] for row in citizens)


def test_unspoiled_rows_are_consistent(citizens, answer_key, units) -> None:
    clean = [row for row in citizens if row["personal_id"] not in answer_key]
    assert len(clean) == RECORDS - len(answer_key)
    broken = {row["personal_id"]: _violations(row, units) for row in clean}
    assert {personal_id: found for personal_id, found in broken.items() if found} == {}


def test_spoiled_rows_break_exactly_their_rule(citizens, answer_key, units) -> None:
    by_id = {row["personal_id"]: row for row in citizens}
    found = {personal_id: _violations(by_id[personal_id], units) for personal_id in answer_key}
    assert found == {personal_id: {kind} for personal_id, kind in answer_key.items()}


def test_spoiled_variants(citizens, answer_key) -> None:
    spoiled = {kind: [] for kind in KINDS}
    for row in citizens:
        if row["personal_id"] in answer_key:
            spoiled[answer_key[row["personal_id"]]].append(row)
    names = [row["full_name"] for row in spoiled["missing_name"]]
    assert abs(sum(name is None for name in names) - len(names) / 2) <= 0.5
    assert {name for name in names if name is not None} == {"  "}
    shapes = [row["personal_id"] for row in spoiled["bad_id_shape"]]
    assert any(re.fullmatch(r"\d{11}", personal_id) for personal_id in shapes)
    assert any(re.search(r"[A-Z]", personal_id) for personal_id in shapes)
    codes = [row["permanent_commune_code"] for row in spoiled["unknown_commune"]]
    assert "99999" in codes
    assert any(code != "99999" for code in codes)
    # Relatives never point at a spoiled person.
    referenced = {
        row[column] for row in citizens for column in ("father_id", "mother_id", "spouse_id")
    }
    assert not referenced & set(answer_key)


def test_families_are_plausible(citizens, answer_key) -> None:
    by_id = {row["personal_id"]: row for row in citizens}

    def born(row: dict) -> date:
        return date.fromisoformat(row["date_of_birth"])

    parents = spouses = 0
    for row in citizens:
        for column, gender in (("father_id", "M"), ("mother_id", "F")):
            if row[column] is not None:
                parents += 1
                parent = by_id[row[column]]
                assert parent["gender"] == gender
                assert (born(row) - born(parent)).days > 18 * 365
        if row["spouse_id"] is not None:
            spouses += 1
            spouse = by_id[row["spouse_id"]]
            assert spouse["spouse_id"] == row["personal_id"]
            assert spouse["gender"] != row["gender"]
            assert (START.date() - born(row)).days > 18 * 365
            assert row["personal_id"] not in answer_key
    assert parents > 0.1 * RECORDS
    assert spouses > 0.1 * RECORDS


def test_population_looks_like_ha_tinh(citizens, answer_key, units) -> None:
    clean = [row for row in citizens if row["personal_id"] not in answer_key]
    born_here = sum(row["personal_id"].startswith("042") for row in clean) / len(clean)
    assert 0.85 <= born_here <= 0.95
    assert Counter(row["ethnicity"] for row in clean).most_common(1)[0][0] == "Kinh"
    assert sum(row["ethnicity"] == "Kinh" for row in clean) > 0.95 * len(clean)
    assert {row["nationality"] for row in citizens} == {"VN"}
    assert {row["gender"] for row in citizens} == {"M", "F"}
    levels = Counter(row["eid_level"] for row in citizens)
    assert set(levels) == {0, 1, 2}
    assert levels[2] > 0.6 * len(citizens)
    years = [date.fromisoformat(row["date_of_birth"]).year for row in clean]
    assert min(years) < 1950
    assert max(years) >= 2025
    assert all(year >= 1930 for year in years)
    assert all(TIMESTAMP.fullmatch(row["updated_at"]) for row in citizens)
    # Both administrative-unit lists are in use: residence codes follow the update time.
    cutover = datetime(2025, 7, 1, tzinfo=UTC)
    before = [row for row in clean if _updated(row) < cutover - VIETNAM]
    after = [row for row in clean if _updated(row) >= cutover]
    assert before
    assert after
    old_only = {unit.code for unit in units.units("commune", date(2025, 6, 30), "42")} - {
        unit.code for unit in units.units("commune", cutover.date(), "42")
    }
    assert any(row["permanent_commune_code"] in old_only for row in before)
    assert not any(row["permanent_commune_code"] in old_only for row in after)
    assert 0 < sum(row["current_commune_code"] is not None for row in clean) < 0.3 * len(clean)


@pytest.mark.parametrize(("records", "rate"), [(0, 0.5), (7, 0.5), (50, 1.0), (40, 0.0)])
def test_edge_counts(tmp_path: Path, units, records: int, rate: float) -> None:
    manifest = simulate_population(tmp_path, records, rate, start=START)
    rows = _read(tmp_path, "citizen")
    key = {row["personal_id"]: row["kind"] for row in _read(tmp_path, "defects")}
    assert len(rows) == records
    assert manifest.defects_injected == round(records * rate) == len(key)
    for row in rows:
        expected = {key[row["personal_id"]]} if row["personal_id"] in key else set()
        assert _violations(row, units) == expected


def test_custom_start(tmp_path: Path, units) -> None:
    start = datetime(2025, 3, 1, 12, 30)
    manifest = simulate_population(tmp_path, 500, 0.1, start=start)
    assert manifest.start == start.replace(tzinfo=UTC)
    key = {row["personal_id"]: row["kind"] for row in _read(tmp_path, "defects")}
    for row in _read(tmp_path, "citizen"):
        expected = {key[row["personal_id"]]} if row["personal_id"] in key else set()
        assert _violations(row, units, manifest.start) == expected


def test_replaces_existing_database(tmp_path: Path) -> None:
    (tmp_path / "population.db").write_bytes(b"not a database")
    simulate_population(tmp_path, 30, 0.1)
    simulate_population(tmp_path, 20, 0.1)
    assert len(_read(tmp_path, "citizen")) == 20
    assert sorted(path.name for path in tmp_path.iterdir()) == ["manifest.json", "population.db"]


@pytest.mark.parametrize(
    ("records", "rate", "message"),
    [
        (-1, 0.1, "records"),
        (2.5, 0.1, "records"),
        (True, 0.1, "records"),
        (10, -0.01, "defect_rate"),
        (10, 1.01, "defect_rate"),
        (10, math.nan, "defect_rate"),
        (10, math.inf, "defect_rate"),
    ],
)
def test_bad_arguments_rejected(tmp_path: Path, records, rate, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        simulate_population(tmp_path, records, rate)
    assert not (tmp_path / "population.db").exists()


def test_start_before_2000_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="start"):
        simulate_population(tmp_path, 10, 0.1, start=datetime(1999, 12, 31, tzinfo=UTC))


def test_future_birth_dates_stay_in_the_future_for_the_validator(tmp_path: Path) -> None:
    # Default start is today: a spoiled birth date must still be future in Vietnam's time zone.
    simulate_population(tmp_path, 200, 0.5, seed=11)
    vietnam_today = (datetime.now(UTC) + VIETNAM).date()
    with sqlite3.connect(tmp_path / "population.db") as connection:
        births = connection.execute(
            "SELECT c.date_of_birth FROM citizen c JOIN defects d USING (personal_id) "
            "WHERE d.kind = 'future_birth_date'"
        ).fetchall()
    assert births
    assert all(date.fromisoformat(b) > vietnam_today for (b,) in births)
