"""Catalogue validation: the real catalogue is sound, and each kind of fault is named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from schemas.catalogue import (
    CATALOGUE_PATH,
    Catalogue,
    CatalogueProblem,
    Dataset,
    ExpectationSpec,
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
    (problem,) = validate_catalogue(
        catalogue_of(enterprise.model_copy(update={"key": ("branches",)}))
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
    (problem,) = validate_catalogue(catalogue_of(person(version_field=version)))
    assert (problem.dataset, problem.field) == ("citizen.person", version)
    assert message in problem.message


def test_version_field_must_not_be_nullable() -> None:
    death = default_catalogue().dataset("civil.death")
    nullable = death.model_copy(update={"version_field": "deceased.date_of_birth"})
    (problem,) = validate_catalogue(catalogue_of(nullable))
    assert (problem.dataset, problem.field) == ("civil.death", "deceased.date_of_birth")
    assert "nullable" in problem.message


def test_version_field_may_be_a_date_or_a_counter() -> None:
    assert problems_of(person(version_field="date_of_birth")) == []
    assert problems_of(person(version_field="eid_level")) == []


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
    (problem,) = validate_catalogue(catalogue_of(birth, copy))
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
