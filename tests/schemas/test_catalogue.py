"""Catalogue validation: the real catalogue is sound, and each kind of fault is named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from schemas.catalogue import (
    CATALOGUE_PATH,
    EXPECTATION_TYPES,
    Catalogue,
    CatalogueError,
    CatalogueProblem,
    Dataset,
    ExpectationConfigError,
    ExpectationSpec,
    check_expectations,
    default_catalogue,
    load_catalogue,
    validate_catalogue,
)


def catalogue_of(*datasets: Dataset) -> Catalogue:
    return default_catalogue().model_copy(update={"datasets": datasets})


def person(**update: Any) -> Dataset:
    return default_catalogue().dataset("citizen.person").model_copy(update=update)


def problems_of(*datasets: Dataset) -> list[tuple[str, str]]:
    return [(p.dataset, p.field) for p in validate_catalogue(catalogue_of(*datasets))]


def write_schema(directory: Path, schema: Any) -> str:
    path = directory / "schema.avsc"
    path.write_text(json.dumps(schema, ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_the_real_catalogue_has_no_problems() -> None:
    assert validate_catalogue(default_catalogue()) == []


def test_problems_are_frozen_and_readable() -> None:
    (problem,) = validate_catalogue(catalogue_of(person(key=("cccd",))))
    assert problem == CatalogueProblem(
        dataset="citizen.person", field="cccd", message="key field is not a field of the schema"
    )
    assert str(problem) == "citizen.person: cccd: key field is not a field of the schema"
    with pytest.raises(ValueError, match="frozen"):
        problem.field = "personal_id"  # type: ignore[misc]


def test_duplicate_dataset_ids() -> None:
    entry = person()
    (problem,) = validate_catalogue(catalogue_of(entry, entry))
    assert (problem.dataset, problem.field) == ("citizen.person", "id")
    assert "appears 2 times" in problem.message


@pytest.mark.parametrize(
    ("key", "field", "message"),
    [
        (("cccd",), "cccd", "not a field of the schema"),
        (("permanent_residence",), "permanent_residence", "not a field of the schema"),
        (("father_id",), "father_id", "nullable"),
        # Under an optional record, a required leaf can still be missing.
        (("current_residence.commune_code",), "current_residence.commune_code", "nullable"),
        ((), "key", "names no field"),
    ],
)
def test_key_problems(key: tuple[str, ...], field: str, message: str) -> None:
    (problem,) = validate_catalogue(catalogue_of(person(key=key)))
    assert (problem.dataset, problem.field) == ("citizen.person", field)
    assert message in problem.message


def test_key_must_be_a_single_value() -> None:
    enterprise = default_catalogue().dataset("business.enterprise")
    # citizen.person too: the enterprise's exists_in expectation names it.
    (problem,) = validate_catalogue(
        catalogue_of(person(), enterprise.model_copy(update={"key": ("branches",)}))
    )
    assert (problem.dataset, problem.field) == ("business.enterprise", "branches")
    assert "is an array" in problem.message


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("modified_at", "not a field of the schema"),
        ("full_name", "must be a date, a timestamp, an int or a long"),
        ("gender", "must be a date, a timestamp, an int or a long"),
    ],
)
def test_version_field_problems(version: str, message: str) -> None:
    # Without expectations: freshness checks the version field too, and would say so again.
    (problem,) = validate_catalogue(catalogue_of(person(version_field=version, expectations=())))
    assert (problem.dataset, problem.field) == ("citizen.person", version)
    assert message in problem.message


def test_version_field_must_not_be_nullable() -> None:
    death = default_catalogue().dataset("civil.death")
    nullable = death.model_copy(update={"version_field": "deceased.date_of_birth"})
    (problem,) = validate_catalogue(catalogue_of(person(), nullable))
    assert (problem.dataset, problem.field) == ("civil.death", "deceased.date_of_birth")
    assert "nullable" in problem.message


def test_version_field_may_be_a_date_or_a_counter() -> None:
    assert problems_of(person(version_field="date_of_birth")) == []
    assert problems_of(person(version_field="eid_level", expectations=())) == []


def test_freshness_of_a_counter_version_needs_a_timestamp_column() -> None:
    (problem,) = validate_catalogue(catalogue_of(person(version_field="eid_level")))
    assert (problem.dataset, problem.field) == ("citizen.person", "eid_level")
    assert "'freshness'" in problem.message
    assert "not a date or a timestamp; freshness needs one" in problem.message


def test_personal_data_paths_must_exist() -> None:
    entry = person(personal_data=("personal_id", "ho_ten", "permanent_residence.so_nha"))
    assert problems_of(entry) == [
        ("citizen.person", "ho_ten"),
        ("citizen.person", "permanent_residence.so_nha"),
    ]
    # A whole nested record may be personal data.
    assert problems_of(person(personal_data=("permanent_residence",))) == []


def test_expectation_columns_must_exist() -> None:
    base = person()
    extra = ExpectationSpec.model_validate({"type": "not_null", "column": "ngay_sinh"})
    entry = base.model_copy(update={"expectations": (*base.expectations, extra)})
    (problem,) = validate_catalogue(catalogue_of(entry))
    assert (problem.dataset, problem.field) == ("citizen.person", "ngay_sinh")
    assert "'not_null'" in problem.message


def test_schema_namespaces_are_unique_per_dataset() -> None:
    birth = default_catalogue().dataset("civil.birth")
    copy = birth.model_copy(update={"id": "civil.birth_copy"})
    (problem,) = validate_catalogue(catalogue_of(person(), birth, copy))
    assert (problem.dataset, problem.field) == ("civil.birth_copy", "schema")
    assert "'vn.lgsp.civil.birth' is also used by dataset 'civil.birth'" in problem.message


def test_owner_agency_of_a_copied_entry() -> None:
    (problem,) = validate_catalogue(catalogue_of(person(owner_agency="Sở Tư pháp")))
    assert (problem.dataset, problem.field) == ("citizen.person", "owner_agency")


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (
            {
                "type": "record",
                "name": "Broken",
                "namespace": "vn.lgsp.test",
                "fields": [{"name": "ngay", "type": "Ngay"}],
            },
            "is not a valid Avro schema",
        ),
        (
            {
                "type": "record",
                "name": "Broken",
                "namespace": "vn.lgsp.test",
                "fields": [{"name": "so", "type": "int", "default": "một"}],
            },
            "is not a valid Avro schema",
        ),
        ({"type": "string"}, "is not a record schema with fields"),
    ],
)
def test_schema_problems(tmp_path: Path, schema: Any, message: str) -> None:
    entry = person(schema_file=write_schema(tmp_path, schema))
    (problem,) = validate_catalogue(catalogue_of(entry))
    assert (problem.dataset, problem.field) == ("citizen.person", "schema")
    assert message in problem.message


def test_unreadable_schema(tmp_path: Path) -> None:
    entry = person(schema_file=str(tmp_path / "missing.avsc"))
    (problem,) = validate_catalogue(catalogue_of(entry))
    assert (problem.dataset, problem.field) == ("citizen.person", "schema")
    assert "cannot read" in problem.message
    (tmp_path / "bad.avsc").write_text("{not json", encoding="utf-8")
    entry = person(schema_file=str(tmp_path / "bad.avsc"))
    (problem,) = validate_catalogue(catalogue_of(entry))
    assert "is not a valid Avro schema" in problem.message


def test_problems_in_a_catalogue_file(tmp_path: Path) -> None:
    """A catalogue YAML beside its own schema, as an operator would write one."""
    schema = {
        "type": "record",
        "name": "Household",
        "namespace": "vn.lgsp.citizen.household",
        "doc": "Hộ gia đình / Household",
        "fields": [
            {
                "name": "household_id",
                "type": ["null", "string"],
                "default": None,
                "doc": "Số hộ / Household number",
            },
            {"name": "head_name", "type": "string", "doc": "Chủ hộ / Head of household"},
            {
                "name": "updated_at",
                "type": {"type": "long", "logicalType": "timestamp-millis"},
                "doc": "Cập nhật / Updated",
            },
        ],
    }
    raw = yaml.safe_load(CATALOGUE_PATH.read_text(encoding="utf-8"))
    raw["datasets"] = [
        {
            "id": "citizen.household",
            "title": {"vi": "Hộ gia đình", "en": "Households"},
            "owner_agency": "000.00.10.H25",
            "source_system": "population",
            "schema": write_schema(tmp_path, schema),
            "key": ["household_id"],
            "version_field": "updated_at",
            "update_frequency": "P1D",
            "sharing_level": "shared",
            "personal_data": ["head_name", "members"],
            "expectations": [{"type": "completeness", "column": "head", "min": 1.0}],
        }
    ]
    path = tmp_path / "catalogue.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    problems = validate_catalogue(load_catalogue(path))
    assert [(p.dataset, p.field) for p in problems] == [
        ("citizen.household", "household_id"),
        ("citizen.household", "members"),
        ("citizen.household", "head"),
    ]


def with_expectation(spec: dict[str, Any]) -> Dataset:
    base = person()
    extra = ExpectationSpec.model_validate(spec)
    return base.model_copy(update={"expectations": (*base.expectations, extra)})


def in_full_catalogue(entry: Dataset) -> Catalogue:
    """The whole catalogue with ``entry`` in place of the dataset of its id."""
    datasets = tuple(entry if d.id == entry.id else d for d in default_catalogue().datasets)
    return catalogue_of(*datasets)


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        (
            {"type": "matches_regex", "column": "full_name"},
            "expectations[16]",
            "expectation 'matches_regex' (expectations[16]): unknown type; known types: "
            "between, completeness, exists_in, format, freshness, in_reference, in_set, "
            "not_null, unique, volume",
        ),
        (
            {"type": "completeness", "column": "full_name", "min": 1.5},
            "expectations[16]",
            "parameter 'min' must be a share in (0, 1], got 1.5",
        ),
        (
            {"type": "format", "column": "personal_id", "pattern": "^[0-9]{12$", "mostly": 1},
            "expectations[16]",
            "unexpected parameter(s) mostly",
        ),
        (
            {"type": "format", "column": "personal_id", "pattern": "(0[0-9]{11}"},
            "expectations[16]",
            "is not a regular expression",
        ),
        (
            {"type": "in_set", "column": "gender", "values": "MALE"},
            "expectations[16]",
            "parameter 'values'",
        ),
        (
            {
                "type": "exists_in",
                "column": "spouse_id",
                "dataset": "civil.marriages",
                "field": "husband.personal_id",
            },
            "expectations[16]",
            "unknown dataset 'civil.marriages'",
        ),
        (
            {
                "type": "exists_in",
                "column": "spouse_id",
                "dataset": "civil.marriage",
                "field": "husband.cccd",
            },
            "expectations[16]",
            "dataset 'civil.marriage' has no field 'husband.cccd'",
        ),
        (
            {"type": "freshness", "column": "ethnicity"},
            "ethnicity",
            "not a date or a timestamp",
        ),
        ({"type": "freshness", "max_age": "P0D"}, "expectations[16]", "not a positive duration"),
        ({"type": "volume", "max_growth": -0.5}, "expectations[16]", "must be 0 or more"),
        ({"type": "unique"}, "expectations[16]", "missing 'column'"),
    ],
)
def test_expectation_problems(spec: dict[str, Any], field: str, message: str) -> None:
    """`lgsp catalogue validate` names the dataset, the expectation and what is wrong."""
    (problem,) = validate_catalogue(in_full_catalogue(with_expectation(spec)))
    assert (problem.dataset, problem.field) == ("citizen.person", field)
    assert message in problem.message
    assert f"expectation {spec['type']!r} (expectations[16])" in problem.message


def test_freshness_needs_a_duration_as_update_frequency() -> None:
    def daily(*specs: dict[str, Any]) -> Dataset:
        expectations = tuple(ExpectationSpec.model_validate(spec) for spec in specs)
        return person(update_frequency="daily", expectations=expectations)

    (problem,) = validate_catalogue(catalogue_of(daily({"type": "freshness"})))
    assert "update_frequency: 'daily' is not an ISO 8601 duration" in problem.message
    # An explicit max_age needs no frequency.
    assert problems_of(daily({"type": "freshness", "max_age": "P2D"})) == []


def test_check_expectations_names_the_first_problem() -> None:
    entry = with_expectation({"type": "volume", "column": "personal_id", "max_drop": 0.1})
    with pytest.raises(ExpectationConfigError) as info:
        check_expectations(entry, default_catalogue())
    assert str(info.value) == (
        "dataset 'citizen.person', expectation 'volume' (expectations[16]): takes no 'column' "
        "(it checks the whole table), got 'personal_id'"
    )
    assert isinstance(info.value, CatalogueError)


def test_every_catalogue_expectation_parses_to_its_type() -> None:
    catalogue = default_catalogue()
    for entry in catalogue.datasets:
        checked = check_expectations(entry, catalogue)
        assert [type(params) for params in checked] == [
            EXPECTATION_TYPES[spec.type] for spec in entry.expectations
        ]


def test_a_caller_changing_its_schema_changes_no_one_elses() -> None:
    dataset = default_catalogue().dataset("citizen.person")
    mine = dataset.avro_schema()
    mine["fields"].append({"name": "legacy_code", "type": ["null", "string"], "default": None})
    assert all(field["name"] != "legacy_code" for field in dataset.avro_schema()["fields"])
