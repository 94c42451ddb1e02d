"""The simulated sources share people: civil status and business registration name residents of
the simulated population register, with a realistic share of people it does not hold.

The sources are read back through their own connectors (the CSV exports come in four encodings),
and checked against the population database the way the hub links them: by personal id.
"""

from __future__ import annotations

import csv
import json
import random
import shutil
import sqlite3
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.base import MappingError
from connectors.civil_status import (
    CivilBirthConnector,
    CivilDeathConnector,
    CivilMarriageConnector,
    CivilStatusConfig,
    CivilStatusConnector,
)
from connectors.simulators.business_registration import (
    DATABASE_FILE as REGISTRY_FILE,
)
from connectors.simulators.business_registration import (
    load_answer_key,
    simulate_business_registration,
)
from connectors.simulators.civil_status import (
    ANSWER_KEY_FILE,
    BIRTH,
    DEATH,
    MARRIAGE,
    legacy_files,
    simulate_civil_status,
)
from connectors.simulators.population import simulate_population
from connectors.simulators.register import PopulationRegister, RegisterError, find_register
from quality.rules import RuleSet
from schemas.catalogue import default_catalogue
from schemas.json_records import record_from_json

SEED = 23
# The 30 export days straddle the administrative reform of 1 July 2025, so some residents'
# communes are retired by the time their events are registered.
START = datetime(2025, 7, 20, tzinfo=UTC)
POPULATION = 3000
CIVIL = 1200
ENTERPRISES = 600
RATE = 0.1
CONNECTORS: dict[str, type[CivilStatusConnector]] = {
    BIRTH: CivilBirthConnector,
    MARRIAGE: CivilMarriageConnector,
    DEATH: CivilDeathConnector,
}
ROLES: dict[str, tuple[str, ...]] = {
    BIRTH: ("mother", "father"),
    MARRIAGE: ("husband", "wife"),
    DEATH: ("deceased",),
}
# The rules each validator-caught defect must break, and nothing else.
RULES_BROKEN: dict[str, set[str]] = {
    "id_birth_mismatch": {"personal_id.gender", "personal_id.century", "personal_id.birth_year"},
    "registered_before_birth": {"date.order"},
    "registered_before_death": {"date.order"},
    "death_before_birth": {"date.order"},
    "unknown_commune": {"admin_unit.unknown"},
    "under_age": {"date.min_age"},
}
GENDERS = {"M": "MALE", "F": "FEMALE"}


@dataclass(frozen=True)
class Citizen:
    full_name: str
    born: date
    gender: str
    father_id: str | None
    mother_id: str | None
    spouse_id: str | None


@dataclass(frozen=True)
class Sources:
    root: Path
    citizens: dict[str, Citizen]  # the clean rows of the population database
    spoiled: set[str]  # personal ids of its spoiled rows
    # Per dataset: every record the connector maps, with the defect kind it was spoiled with.
    civil: dict[str, list[tuple[dict[str, Any], str | None]]]
    enterprises: list[tuple[dict[str, Any], str | None]]

    def clean(self, dataset: str) -> list[dict[str, Any]]:
        return [record for record, kind in self.civil[dataset] if kind is None]


def _civil_records(directory: Path) -> dict[str, list[tuple[dict[str, Any], str | None]]]:
    with (directory / ANSWER_KEY_FILE).open(encoding="utf-8", newline="") as handle:
        kinds = {(row["file"], int(row["line"])): row["kind"] for row in csv.DictReader(handle)}
    config = CivilStatusConfig(directory=directory, legacy_files=legacy_files(directory))
    records: dict[str, list[tuple[dict[str, Any], str | None]]] = {}
    for dataset, connector_type in CONNECTORS.items():
        connector = connector_type(config)
        records[dataset] = []
        for source_record in connector.records(None):
            kind = kinds.get((source_record.offset["file"], source_record.offset["line"]))
            try:
                records[dataset].append((connector.map(source_record.row), kind))
            except MappingError:
                assert kind in ("wrong_field_count", "impossible_date")
    return records


def _enterprises(directory: Path) -> list[tuple[dict[str, Any], str | None]]:
    key = load_answer_key(directory)
    with sqlite3.connect(directory / REGISTRY_FILE) as connection:
        bodies = [json.loads(body) for (body,) in connection.execute("SELECT body FROM enterprise")]
    return [
        (body, key[body["enterprise_code"]].kind if body["enterprise_code"] in key else None)
        for body in bodies
    ]


def _population(directory: Path) -> tuple[dict[str, Citizen], set[str]]:
    with sqlite3.connect(directory / "population.db") as connection:
        spoiled = {row[0] for row in connection.execute("SELECT personal_id FROM defects")}
        rows = connection.execute(
            "SELECT personal_id, full_name, date_of_birth, gender, father_id, mother_id, "
            "spouse_id FROM citizen"
        ).fetchall()
    citizens = {
        personal_id: Citizen(name, date.fromisoformat(born), GENDERS[gender], *relatives)
        for personal_id, name, born, gender, *relatives in rows
        if personal_id not in spoiled
    }
    return citizens, spoiled


def _simulate(root: Path) -> None:
    simulate_population(root / "population", POPULATION, 0.05, seed=SEED, start=START)
    simulate_civil_status(root / "civil_status", CIVIL, RATE, seed=SEED, start=START)
    simulate_business_registration(
        root / "business_registration", ENTERPRISES, RATE, seed=SEED, start=START
    )


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Sources:
    root = tmp_path_factory.mktemp("sources")
    _simulate(root)
    citizens, spoiled = _population(root / "population")
    return Sources(
        root,
        citizens,
        spoiled,
        _civil_records(root / "civil_status"),
        _enterprises(root / "business_registration"),
    )


def _named(record: dict[str, Any], role: str) -> str | None:
    person = record.get(role)
    return person["personal_id"] if person else None


def _exports(directory: Path) -> dict[str, bytes]:
    """Every file a civil-status run wrote except the manifest, which holds its own time."""
    return {
        path.name: path.read_bytes()
        for path in sorted(directory.iterdir())
        if path.name != "manifest.json"
    }


# --- who is named ------------------------------------------------------------------------------


def test_the_manifests_say_which_register_was_used(sources: Sources) -> None:
    for system in ("civil_status", "business_registration"):
        manifest = json.loads((sources.root / system / "manifest.json").read_text("utf-8"))
        assert manifest["source"]["register"] == "../population/population.db"


@pytest.mark.parametrize(
    ("dataset", "role", "least"),
    [
        (BIRTH, "mother", 0.85),
        (BIRTH, "father", 0.7),
        (MARRIAGE, "husband", 0.7),
        (MARRIAGE, "wife", 0.7),
        (DEATH, "deceased", 0.8),
    ],
)
def test_most_people_named_are_residents_and_some_are_not(
    sources: Sources, dataset: str, role: str, least: float
) -> None:
    named = [pid for record in sources.clean(dataset) if (pid := _named(record, role))]
    residents = sum(personal_id in sources.citizens for personal_id in named)
    assert least <= residents / len(named) < 1.0, (residents, len(named))


def test_representatives_are_mostly_residents_of_age_and_as_registered(sources: Sources) -> None:
    clean = [body for body, kind in sources.enterprises if kind is None]
    named = [body for body in clean if body["legal_representative"]["personal_id"]]
    residents = [
        body for body in named if body["legal_representative"]["personal_id"] in sources.citizens
    ]
    assert 0.75 <= len(residents) / len(named) < 1.0
    for body in residents:
        representative = body["legal_representative"]
        citizen = sources.citizens[representative["personal_id"]]
        assert representative["full_name"] == citizen.full_name
        appointed = date.fromisoformat(body["amended_on"] or body["first_registered_on"])
        birthday_passed = (appointed.month, appointed.day) >= (citizen.born.month, citizen.born.day)
        assert appointed.year - citizen.born.year - (not birthday_passed) >= 18
    for body in named:
        # Of age when appointed, residents or not: the id says the year of birth.
        personal_id = body["legal_representative"]["personal_id"]
        born = (19 + int(personal_id[3]) // 2) * 100 + int(personal_id[4:6])
        appointed = date.fromisoformat(body["amended_on"] or body["first_registered_on"])
        assert born + 18 <= appointed.year
    # Foreign investors have no Vietnamese id; everyone else has one.
    assert len(named) < len(clean)


def test_residents_are_named_as_the_register_holds_them(sources: Sources) -> None:
    citizens = sources.citizens
    seen = 0
    for dataset, roles in ROLES.items():
        for record in sources.clean(dataset):
            for role in roles:
                citizen = citizens.get(_named(record, role) or "")
                if citizen is None:
                    continue
                seen += 1
                person = record[role]
                assert person["full_name"] == citizen.full_name
                assert unicodedata.is_normalized("NFC", person["full_name"])
                if "date_of_birth" in person and person["date_of_birth"] is not None:
                    assert person["date_of_birth"] == citizen.born
                if "gender" in person:
                    assert person["gender"] == citizen.gender
                if role in ("mother", "wife"):
                    assert citizen.gender == "FEMALE"
                if role in ("father", "husband"):
                    assert citizen.gender == "MALE"
    assert seen > CIVIL
    # Late and repeated birth registrations are often of residents, named as registered.
    children = [record["child"] for record in sources.clean(BIRTH)]
    registered = [child for child in children if child["personal_id"] in citizens]
    assert registered
    for child in registered:
        citizen = citizens[child["personal_id"]]
        assert (child["full_name"], child["date_of_birth"], child["gender"]) == (
            citizen.full_name,
            citizen.born,
            citizen.gender,
        )


def test_no_spoiled_resident_is_ever_named(sources: Sources) -> None:
    named = {
        record[role]["personal_id"]
        for dataset, roles in ROLES.items()
        for record, _ in sources.civil[dataset]
        for role in (*roles, "child")
        if record.get(role)
    }
    named |= {body["legal_representative"]["personal_id"] for body, _ in sources.enterprises}
    assert sources.spoiled
    assert not named & sources.spoiled


def test_newborns_and_invented_people_get_ids_no_resident_holds(sources: Sources) -> None:
    with sqlite3.connect(sources.root / "population" / "population.db") as connection:
        every_id = {row[0] for row in connection.execute("SELECT personal_id FROM citizen")}
    newborns = [
        record["child"]["personal_id"]
        for record in sources.clean(BIRTH)
        if record["registration_type"] == "ON_TIME" and record["child"]["personal_id"]
    ]
    assert newborns
    assert not set(newborns) & every_id
    invented = [
        record["deceased"]
        for record in sources.clean(DEATH)
        if record["deceased"]["personal_id"] not in sources.citizens
        and record["deceased"]["personal_id"]
    ]
    assert invented
    for person in invented:
        assert person["personal_id"] not in every_id


# --- family ties -------------------------------------------------------------------------------


def test_a_married_resident_mother_has_her_husband_as_the_childs_father(sources: Sources) -> None:
    checked = 0
    for record in sources.clean(BIRTH):
        mother = sources.citizens.get(_named(record, "mother") or "")
        if mother is None or mother.spouse_id is None:
            continue
        if record["registration_type"] in ("LATE", "RE_REGISTRATION"):
            # A resident child: its parents are the ones the register links to it.
            child = sources.citizens.get(record["child"]["personal_id"] or "")
            if child is not None:
                assert (child.mother_id, child.father_id) == (
                    _named(record, "mother"),
                    _named(record, "father"),
                )
                continue
        checked += 1
        assert _named(record, "father") == mother.spouse_id
        father = sources.citizens[mother.spouse_id]
        assert record["child"]["full_name"].split()[0] == father.full_name.split()[0]
    assert checked > 100


def test_a_resident_mothers_children_are_twins_or_months_apart(sources: Sources) -> None:
    children: dict[str, list[date]] = defaultdict(list)
    for citizen in sources.citizens.values():
        if citizen.mother_id is not None:
            children[citizen.mother_id].append(citizen.born)
    newborns: list[tuple[str, date]] = []
    for record in sources.clean(BIRTH):
        mother, child = _named(record, "mother"), record["child"]
        if mother in sources.citizens and child["personal_id"] not in sources.citizens:
            newborns.append((mother, child["date_of_birth"]))
            children[mother].append(child["date_of_birth"])
    assert len(newborns) > 300
    for mother, born in newborns:
        others = list(children[mother])
        others.remove(born)
        assert all(other == born or abs((born - other).days) >= 300 for other in others)


def test_only_unmarried_residents_marry_unless_a_marriage_is_registered_again(
    sources: Sources,
) -> None:
    residents = 0
    for record in sources.clean(MARRIAGE):
        husband, wife = _named(record, "husband"), _named(record, "wife")
        for personal_id, other in ((husband, wife), (wife, husband)):
            citizen = sources.citizens.get(personal_id or "")
            if citizen is None:
                continue
            residents += 1
            if record["registration_type"] == "RE_REGISTRATION":
                assert citizen.spouse_id == other
            else:
                assert citizen.spouse_id is None
    assert residents > 0.6 * 2 * len(sources.clean(MARRIAGE))


def test_the_dead_are_not_named_as_living_and_die_at_most_twice(sources: Sources) -> None:
    living = {
        _named(record, role)
        for dataset in (BIRTH, MARRIAGE)
        for record in sources.clean(dataset)
        for role in ROLES[dataset]
    } - {None}
    deaths: dict[str, list[date]] = defaultdict(list)
    for record in sources.clean(DEATH):
        personal_id = _named(record, "deceased")
        if personal_id in sources.citizens:
            deaths[personal_id].append(record["date_of_death"])
    assert not living & deaths.keys()
    twice = {pid: days for pid, days in deaths.items() if len(days) > 1}
    # A few deaths are registered twice (the person is already dead): the same death.
    assert twice
    assert len(twice) < 0.05 * len(deaths)
    assert all(len(days) == 2 and days[0] == days[1] for days in twice.values())


# --- the records stay clean or spoiled exactly as the answer key says --------------------------


@pytest.mark.parametrize("dataset", [BIRTH, MARRIAGE, DEATH])
def test_with_a_register_clean_records_pass_every_rule_and_spoiled_ones_break_theirs(
    sources: Sources, dataset: str
) -> None:
    rules = RuleSet.for_dataset(default_catalogue().dataset(dataset), today=START.date())
    for record, kind in sources.civil[dataset]:
        broken = {failure.rule for failure in rules.check(record)}
        if kind is None:
            assert broken == set(), record
        else:
            assert broken, (kind, record)
            assert broken <= RULES_BROKEN[kind], (kind, broken)


def test_with_a_register_clean_enterprises_pass_every_rule(sources: Sources) -> None:
    dataset = default_catalogue().dataset("business.enterprise")
    rules = RuleSet.for_dataset(dataset, today=START.date())
    schema = dataset.avro_schema()
    for body, kind in sources.enterprises:
        if kind is None:
            assert rules.check(record_from_json(schema, body)) == [], body["enterprise_code"]


def test_the_tallies_still_match_the_answer_keys(sources: Sources) -> None:
    civil = json.loads((sources.root / "civil_status" / "manifest.json").read_text("utf-8"))
    spoiled = Counter(kind for records in sources.civil.values() for _, kind in records if kind)
    unmappable = sum(
        tally["defects_by_kind"][kind]
        for tally in civil["datasets"].values()
        for kind in ("wrong_field_count", "impossible_date")
    )
    assert sum(spoiled.values()) + unmappable == round(CIVIL * RATE)
    registry = json.loads(
        (sources.root / "business_registration" / "manifest.json").read_text("utf-8")
    )
    tally = registry["datasets"]["business.enterprise"]
    assert tally["defects_injected"] == round(ENTERPRISES * RATE)
    assert sum(kind is not None for _, kind in sources.enterprises) == tally["defects_injected"]


# --- determinism and where the register comes from ---------------------------------------------


def test_the_same_seed_and_register_give_the_same_sources(sources: Sources, tmp_path: Path) -> None:
    # A population simulated again with the same arguments is the same register.
    _simulate(tmp_path)
    assert _exports(tmp_path / "civil_status") == _exports(sources.root / "civil_status")
    assert _enterprises(tmp_path / "business_registration") == sources.enterprises
    # Naming the register gives what finding it beside the output gives.
    named = tmp_path / "elsewhere" / "civil"
    simulate_civil_status(
        named, CIVIL, RATE, seed=SEED, start=START, population=sources.root / "population"
    )
    assert _exports(named) == _exports(sources.root / "civil_status")
    other_seed = tmp_path / "other" / "civil_status"
    shutil.copytree(sources.root / "population", tmp_path / "other" / "population")
    simulate_civil_status(other_seed, CIVIL, RATE, seed=SEED + 1, start=START)
    assert _exports(other_seed) != _exports(sources.root / "civil_status")


def test_without_a_register_everyone_is_invented(sources: Sources, tmp_path: Path) -> None:
    manifest = simulate_civil_status(tmp_path / "civil_status", 300, 0.0, seed=SEED, start=START)
    assert "register" not in manifest.source
    records = _civil_records(tmp_path / "civil_status")
    named = {
        record[role]["personal_id"]
        for dataset, roles in ROLES.items()
        for record, _ in records[dataset]
        for role in roles
        if record.get(role)
    }
    assert len(named) > 300
    assert not named & sources.citizens.keys()


def test_a_named_register_must_exist(tmp_path: Path) -> None:
    with pytest.raises(RegisterError, match="no population database"):
        simulate_business_registration(
            tmp_path / "out", 10, 0.0, start=START, population=tmp_path / "missing"
        )
    assert not (tmp_path / "out").exists()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "population.db").write_bytes(b"not a database")
    with pytest.raises(RegisterError, match="cannot read"):
        simulate_civil_status(
            tmp_path / "civil", 10, 0.0, start=START, population=tmp_path / "broken"
        )


def test_the_register_holds_the_clean_residents_and_reserves_every_id(sources: Sources) -> None:
    register = find_register(sources.root / "civil_status")
    assert register is not None
    assert len(register) == POPULATION - len(sources.spoiled) == len(sources.citizens)
    assert sources.spoiled <= register.issued
    assert not any(personal_id in register for personal_id in sources.spoiled)
    resident = register.residents[0]
    citizen = sources.citizens[resident.personal_id]
    assert (resident.full_name, resident.born, GENDERS["F" if resident.female else "M"]) == (
        citizen.full_name,
        citizen.born,
        citizen.gender,
    )
    with sqlite3.connect(sources.root / "population" / "population.db") as connection:
        (address,) = connection.execute(
            "SELECT permanent_address FROM citizen WHERE personal_id = ?", (resident.personal_id,)
        ).fetchone()
    assert resident.address == address


def test_a_draw_respects_age_gender_and_conditions(sources: Sources) -> None:
    register = PopulationRegister.load(sources.root / "population")
    rng = random.Random(5)
    on = START.date()
    drawn = [
        register.draw(rng, on=on, ages=(30, 39), female=True, accept=lambda r: r.spouse_id is None)
        for _ in range(50)
    ]
    found = [resident for resident in drawn if resident is not None]
    assert found
    for resident in found:
        assert resident.female
        assert 30 <= resident.age_on(on) <= 39
        assert resident.spouse_id is None
    assert register.draw(rng, on=on, ages=(150, 160)) is None
    assert register.draw(rng, on=on, ages=(0, 100), accept=lambda _: False) is None
    assert PopulationRegister(()).draw(rng, on=on, ages=(0, 100)) is None
    # The same seed draws the same people.
    again = random.Random(5)
    assert [
        register.draw(
            again, on=on, ages=(30, 39), female=True, accept=lambda r: r.spouse_id is None
        )
        for _ in range(50)
    ] == drawn
