"""Great Expectations suites from the catalogue, run on real SQLite and PostgreSQL warehouses."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, MetaData, create_engine, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from quality.suites import (
    QualityError,
    QualityReport,
    SuiteConfigError,
    SuiteContext,
    build_suite,
    run_quality,
)
from schemas.catalogue import (
    CATALOGUE_PATH,
    EXPECTATION_TYPES,
    Dataset,
    ExpectationSpec,
    default_catalogue,
    load_catalogue,
)
from warehouse.models import build_dataset_table, dataset_table, metadata
from warehouse.reference import load_reference_tables

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
UPDATED = datetime(2026, 1, 10, 8, 30, tzinfo=UTC)
# The citizens below are a day fresh then; the empty tables are stale whatever the moment.
NOW = UPDATED + timedelta(hours=6)


def citizen(personal_id: str, full_name: str, **changes: Any) -> dict[str, Any]:
    """A citizen_person row that meets every catalogue expectation, with ``changes``."""
    row: dict[str, Any] = {
        "personal_id": personal_id,
        "full_name": full_name,
        "date_of_birth": date(1990, 5, 17),
        "gender": "MALE",
        "ethnicity": "Kinh",
        "nationality": "VN",
        "birth_registration_commune_code": "18073",
        "permanent_residence_commune_code": "18073",
        "permanent_residence_address": "Số 25 đường Hà Huy Tập, phường Thành Sen",
        "current_residence_commune_code": None,
        "current_residence_address": None,
        "father_id": None,
        "mother_id": None,
        "spouse_id": None,
        "eid_level": 2,
        "updated_at": UPDATED,
        "source_system": "population",
        "agency_id": "000.00.10.H25",
        "trace_id": uuid.uuid4().hex,
        "ingested_at": datetime(2026, 1, 10, 8, 31, tzinfo=UTC),
    }
    row.update(changes)
    return row


CITIZENS = [
    citizen("042090001234", "Nguyễn Văn Hùng"),
    citizen("042195000321", "Trần Thị Thu Hà", date_of_birth=date(1995, 11, 2), gender="FEMALE"),
    citizen("001300004567", "Lê Thị Ngọc Ánh", date_of_birth=date(2000, 1, 1), gender="FEMALE"),
    # Registered in 1988 in a commune merged away in 2025: still a known commune code.
    citizen("042088004321", "Phạm Đức Thắng", birth_registration_commune_code="18077"),
    # Defects: a commune code no list has ever had, and an e-ID level above 2.
    citizen(
        "042092007788", "Võ Thị Lụa", gender="FEMALE", permanent_residence_commune_code="99999"
    ),
    citizen("042185000999", "Hoàng Minh Châu", gender="FEMALE", eid_level=3),
]


def fill_warehouse(engine: Engine) -> None:
    metadata.create_all(engine)
    load_reference_tables(engine)
    with engine.begin() as connection:
        connection.execute(insert(dataset_table("citizen.person")), CITIZENS)


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('warehouse') / 'warehouse.db'}"
    engine = create_engine(url)
    fill_warehouse(engine)
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("work")


@pytest.fixture(scope="module")
def report(sqlite_url: str, workdir: Path) -> QualityReport:
    return run_quality(sqlite_url, workdir, now=NOW)


def failing(report: QualityReport, dataset_id: str) -> set[tuple[str, str | None]]:
    return {(r.type, r.column) for r in report.datasets[dataset_id].results if not r.success}


def check_citizen_person(report: QualityReport) -> None:
    quality = report.datasets["citizen.person"]
    assert quality.evaluated == len(default_catalogue().dataset("citizen.person").expectations)
    assert not quality.success
    assert quality.failed == 2
    assert quality.critical_failed == 0
    assert failing(report, "citizen.person") == {
        ("in_reference", "permanent_residence.commune_code"),
        ("between", "eid_level"),
    }
    outcomes = {(r.type, r.column): r for r in quality.results}
    unknown_commune = outcomes[("in_reference", "permanent_residence.commune_code")]
    assert unknown_commune.unexpected_count == 1
    assert unknown_commune.gx_type == "unexpected_rows_expectation"
    assert outcomes[("in_reference", "birth_registration_commune_code")].unexpected_count == 0
    eid = outcomes[("between", "eid_level")]
    assert eid.unexpected_count == 1
    assert eid.sample == [3]
    assert outcomes[("unique", "personal_id")].critical
    assert all(r.error is None for r in quality.results)
    assert report.report.name == "index.html"
    assert report.report.is_file()


def test_run_on_sqlite(report: QualityReport, workdir: Path) -> None:
    check_citizen_person(report)
    assert report.report.is_relative_to(workdir / "gx")
    assert "citizen.person" in report.report.read_text(encoding="utf-8")
    # The outcome is plain data the console can store.
    assert QualityReport.model_validate_json(report.model_dump_json()) == report


def test_rerun_in_the_same_workdir_is_quiet(
    report: QualityReport, sqlite_url: str, workdir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    again = run_quality(sqlite_url, workdir, ["citizen.person"], now=NOW)
    check_citizen_person(again)
    assert again.report == report.report
    captured = capfd.readouterr()
    assert "Calculating Metrics" not in captured.err
    assert captured.err == ""
    config = (workdir / "gx" / "great_expectations.yml").read_text(encoding="utf-8")
    assert "warehouse.db" not in config  # the URL stays out of the GX project files


def test_suite_comes_from_the_catalogue_alone() -> None:
    dataset = default_catalogue().dataset("citizen.person")
    suite = build_suite(dataset)
    assert suite.name == "citizen.person"
    assert [e.meta["lgsp"]["type"] for e in suite.expectations] == [
        spec.type for spec in dataset.expectations
    ]
    completeness = suite.expectations[5]
    assert completeness.expectation_type == "expect_column_values_to_not_be_null"
    assert completeness.column == "permanent_residence_address"
    assert completeness.mostly == pytest.approx(0.99)
    assert completeness.meta["lgsp"] == {
        "name": "completeness:permanent_residence.address",
        "index": 5,
        "type": "completeness",
        "column": "permanent_residence.address",
        "critical": False,
        "weight": 1.0,
    }
    reference = suite.expectations[6]
    assert "ref_admin_unit" in reference.unexpected_rows_query
    assert "level = 'commune'" in reference.unexpected_rows_query
    assert "cấp xã" in reference.description

    extra = ExpectationSpec.model_validate(
        {"type": "in_set", "column": "nationality", "values": ["VN"], "weight": 2}
    )
    extended = dataset.model_copy(update={"expectations": (*dataset.expectations, extra)})
    added = build_suite(extended).expectations[-1]
    assert len(build_suite(extended).expectations) == len(suite.expectations) + 1
    assert added.expectation_type == "expect_column_values_to_be_in_set"
    assert added.column == "nationality"
    assert added.value_set == ["VN"]
    assert added.meta["lgsp"]["weight"] == 2.0


def with_expectations(*specs: dict[str, Any], key: tuple[str, ...] = ("personal_id",)) -> Dataset:
    base = default_catalogue().dataset("citizen.person")
    return base.model_copy(
        update={
            "id": "test.people",
            "key": key,
            "expectations": tuple(ExpectationSpec.model_validate(spec) for spec in specs),
        }
    )


def test_unknown_expectation_type() -> None:
    dataset = with_expectations({"type": "matches_regex", "column": "personal_id"})
    with pytest.raises(SuiteConfigError, match=r"'test\.people'.*'matches_regex'.*unknown type"):
        build_suite(dataset)


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"type": "not_null"}, "missing 'column'"),
        ({"type": "not_null", "column": "cccd"}, "no field 'cccd'"),
        ({"type": "not_null", "column": "permanent_residence"}, "no field"),
        ({"type": "completeness", "column": "full_name"}, "missing parameter 'min'"),
        ({"type": "completeness", "column": "full_name", "min": 99}, r"share in \(0, 1\]"),
        ({"type": "in_set", "column": "gender", "values": []}, "non-empty list"),
        ({"type": "between", "column": "eid_level"}, "'min', 'max' or both"),
        ({"type": "between", "column": "eid_level", "min": 3, "max": 1}, "above 'max'"),
        ({"type": "between", "column": "eid_level", "min": "0"}, "should be a valid number"),
        (
            {"type": "in_reference", "column": "ethnicity", "reference": "ward"},
            "'province', 'district' or 'commune'",
        ),
        ({"type": "format", "column": "personal_id", "pattern": "[0-9"}, "not a regular"),
        ({"type": "format", "column": "personal_id"}, "missing parameter 'pattern'"),
        (
            {
                "type": "exists_in",
                "column": "father_id",
                "dataset": "citizen.people",
                "field": "personal_id",
            },
            "unknown dataset 'citizen.people'",
        ),
        (
            {
                "type": "exists_in",
                "column": "father_id",
                "dataset": "citizen.person",
                "field": "cccd",
            },
            "has no field 'cccd'",
        ),
        (
            {
                "type": "exists_in",
                "column": "eid_level",
                "dataset": "citizen.person",
                "field": "personal_id",
            },
            "different types",
        ),
        ({"type": "freshness", "column": "full_name"}, "not a date or a timestamp"),
        ({"type": "freshness", "max_age": "1 day"}, "ISO 8601 duration"),
        ({"type": "volume"}, "'max_drop', 'max_growth' or both"),
        ({"type": "volume", "column": "personal_id", "max_drop": 0.1}, "takes no 'column'"),
        ({"type": "volume", "max_drop": 1.5}, r"share in \[0, 1\]"),
        ({"type": "unique", "column": "personal_id", "mostly": 0.5}, "unexpected parameter"),
    ],
)
def test_bad_expectation_parameters(spec: dict[str, Any], problem: str) -> None:
    dataset = with_expectations({"type": "not_null", "column": "personal_id"}, spec)
    with pytest.raises(SuiteConfigError, match=rf"'test\.people'.*expectations\[1\].*{problem}"):
        build_suite(dataset)


ONE_OF_EACH_TYPE: dict[str, dict[str, Any]] = {
    "not_null": {"column": "personal_id"},
    "unique": {"column": "personal_id"},
    "completeness": {"column": "full_name", "min": 0.9},
    "in_set": {"column": "gender", "values": ["MALE", "FEMALE"]},
    "between": {"column": "eid_level", "min": 0},
    "in_reference": {"column": "birth_registration_commune_code", "reference": "commune"},
    "format": {"column": "personal_id", "pattern": "^0[0-9]{11}$"},
    "exists_in": {"column": "father_id", "dataset": "citizen.person", "field": "personal_id"},
    "freshness": {},
    "volume": {"max_drop": 0.1},
}


def test_every_type_the_catalogue_knows_builds_a_gx_expectation() -> None:
    assert set(ONE_OF_EACH_TYPE) == set(EXPECTATION_TYPES)
    dataset = with_expectations(*({"type": t, **p} for t, p in ONE_OF_EACH_TYPE.items()))
    suite = build_suite(dataset)
    assert [e.meta["lgsp"]["type"] for e in suite.expectations] == list(ONE_OF_EACH_TYPE)
    assert [e.meta["lgsp"]["name"] for e in suite.expectations][-3:] == [
        "exists_in:father_id",
        "freshness:updated_at",
        "volume:-",
    ]


def test_adding_an_expectation_to_catalogue_yaml_changes_the_suite(tmp_path: Path) -> None:
    """The catalogue file alone decides the suite: an edited copy gives a bigger one."""
    raw = yaml.safe_load(CATALOGUE_PATH.read_text(encoding="utf-8"))
    person = next(entry for entry in raw["datasets"] if entry["id"] == "citizen.person")
    person["expectations"].append(
        {"type": "format", "column": "nationality", "pattern": "^[A-Z]{2}$", "weight": 2}
    )
    person["expectations"].append(
        {
            "type": "exists_in",
            "column": "spouse_id",
            "dataset": "citizen.person",
            "field": "personal_id",
            "critical": True,
        }
    )
    edited = tmp_path / "catalogue.yaml"
    edited.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")

    before = build_suite(default_catalogue().dataset("citizen.person"))
    catalogue = load_catalogue(edited)
    after = build_suite(catalogue.dataset("citizen.person"), catalogue=catalogue)

    assert len(after.expectations) == len(before.expectations) + 2
    nationality, spouse = after.expectations[-2:]
    assert nationality.expectation_type == "expect_column_values_to_match_regex"
    assert nationality.column == "nationality"
    assert nationality.regex == "^[A-Z]{2}$"
    assert nationality.meta["lgsp"]["weight"] == 2.0
    assert spouse.expectation_type == "unexpected_rows_expectation"
    assert 'checked."spouse_id"' in spouse.unexpected_rows_query
    assert 'LEFT JOIN "citizen_person" AS referenced' in spouse.unexpected_rows_query
    assert spouse.meta["lgsp"]["critical"] is True
    assert "Cơ sở dữ liệu dân cư" in spouse.description


def test_format_and_exists_in_become_gx_expectations() -> None:
    suite = build_suite(
        with_expectations(
            {"type": "format", "column": "mother_id", "pattern": "^0[0-9]{11}$", "min": 0.98},
            {
                "type": "exists_in",
                "column": "mother_id",
                "dataset": "citizen.person",
                "field": "personal_id",
            },
        )
    )
    pattern, exists = suite.expectations
    assert pattern.expectation_type == "expect_column_values_to_match_regex"
    assert (pattern.column, pattern.regex, pattern.mostly) == ("mother_id", "^0[0-9]{11}$", 0.98)
    assert "{batch} AS checked" in exists.unexpected_rows_query
    assert 'referenced."personal_id" IS NULL' in exists.unexpected_rows_query


def test_freshness_measures_from_now_in_the_database_s_own_timestamps() -> None:
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    dataset = with_expectations(
        {"type": "freshness"},
        {"type": "freshness", "max_age": "PT6H"},
        {"type": "freshness", "column": "date_of_birth", "max_age": "P40Y"},
    )
    sqlite = build_suite(dataset, context=SuiteContext(now=now, naive_timestamps=True))
    daily, six_hours, born = sqlite.expectations
    assert daily.expectation_type == "expect_column_max_to_be_between"
    assert daily.column == "updated_at"
    # SQLite keeps UTC wall time without a zone; the catalogue's update_frequency is P1D.
    assert daily.min_value == datetime(2026, 3, 1, 9, 0)
    assert six_hours.min_value == datetime(2026, 3, 2, 3, 0)
    assert born.column == "date_of_birth"
    assert born.min_value == (now - timedelta(days=40 * 365)).date()
    zoned = build_suite(dataset, context=SuiteContext(now=now, naive_timestamps=False))
    assert zoned.expectations[0].min_value == datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("previous", "bounds", "low", "high"),
    [
        (None, {"max_drop": 0.05, "max_growth": 0.5}, 0, None),  # a first run passes
        (1000, {"max_drop": 0.05, "max_growth": 0.5}, 950, 1500),
        (1000, {"max_drop": 0.05}, 950, None),
        (1000, {"max_growth": 0.1}, 0, 1100),
        (999, {"max_drop": 0.01, "max_growth": 0.01}, 990, 1008),
        (0, {"max_drop": 0.05, "max_growth": 0.5}, 0, None),  # from empty, any growth
    ],
)
def test_volume_bounds_come_from_the_previous_count(
    previous: int | None, bounds: dict[str, float], low: int, high: int | None
) -> None:
    suite = build_suite(
        with_expectations({"type": "volume", **bounds}),
        context=SuiteContext(previous_row_count=previous),
    )
    (volume,) = suite.expectations
    assert volume.expectation_type == "expect_table_row_count_to_be_between"
    assert (volume.min_value, volume.max_value) == (low, high)


def test_uniqueness_and_completeness_on_a_constructed_dataset(tmp_path: Path) -> None:
    # Keyed on updated_at so the table accepts a duplicated personal id.
    dataset = with_expectations(
        {"type": "unique", "column": "personal_id", "critical": True},
        {"type": "completeness", "column": "current_residence.address", "min": 0.6},
        {"type": "completeness", "column": "father_id", "min": 0.25},
        key=("updated_at",),
    )
    catalogue = default_catalogue().model_copy(update={"datasets": (dataset,)})
    engine = create_engine(f"sqlite:///{tmp_path / 'warehouse.db'}")
    table = build_dataset_table(dataset, MetaData())
    table.create(engine)
    rows = [
        citizen("042090001234", "Nguyễn Văn Hùng", current_residence_address="Thôn 3, xã Cẩm Bình"),
        citizen("042090001234", "Nguyễn Văn Hùng", current_residence_address=None),
        citizen("042195000321", "Trần Thị Thu Hà", current_residence_address=None),
        citizen("042188000555", "Đặng Thị Hồng", current_residence_address="Xóm 2, xã Thạch Hạ"),
    ]
    for minute, row in enumerate(rows):
        row["updated_at"] = datetime(2026, 1, 10, 8, minute, tzinfo=UTC)
    rows[3]["father_id"] = "042058000111"
    with engine.begin() as connection:
        connection.execute(insert(table), rows)
    engine.dispose()

    result = run_quality(str(engine.url), tmp_path / "work", catalogue=catalogue)

    quality = result.datasets["test.people"]
    assert quality.evaluated == 3
    assert failing(result, "test.people") == {
        ("unique", "personal_id"),
        ("completeness", "current_residence.address"),
    }
    assert quality.critical_failed == 1
    outcomes = {r.column: r for r in quality.results}
    assert outcomes["personal_id"].unexpected_count == 2
    assert outcomes["current_residence.address"].unexpected_count == 2
    assert outcomes["father_id"].success  # one of four is the required quarter


def test_missing_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    create_engine(url).connect().close()  # an existing but empty database
    with pytest.raises(QualityError, match="has no table citizen_person, ref_admin_unit") as info:
        run_quality(url, tmp_path / "work", ["citizen.person"])
    assert "\n" not in str(info.value)
    assert not (tmp_path / "work").exists()


def test_empty_reference_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    engine = create_engine(url)
    metadata.create_all(engine)
    engine.dispose()
    with pytest.raises(QualityError, match="ref_admin_unit is empty"):
        run_quality(url, tmp_path / "work")


def test_missing_sqlite_file(tmp_path: Path) -> None:
    with pytest.raises(QualityError, match="does not exist"):
        run_quality(f"sqlite:///{tmp_path / 'nowhere.db'}", tmp_path / "work")
    assert not (tmp_path / "nowhere.db").exists()


def test_unreachable_database(tmp_path: Path) -> None:
    # Port 9 (discard) has no PostgreSQL server.
    url = "postgresql+psycopg://hub:secret@127.0.0.1:9/warehouse?connect_timeout=2"
    with pytest.raises(QualityError, match="cannot reach warehouse") as info:
        run_quality(url, tmp_path / "work")
    message = str(info.value)
    assert "\n" not in message
    assert "secret" not in message


def test_unknown_dataset(sqlite_url: str, tmp_path: Path) -> None:
    with pytest.raises(QualityError, match=r"unknown dataset 'citizen\.unknown'"):
        run_quality(sqlite_url, tmp_path / "work", ["citizen.unknown"])


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema on the PostgreSQL server, dropped afterwards."""
    admin = create_engine(POSTGRES_URL)
    try:
        admin.connect().close()
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc.orig}")
    schema = f"lgsp_quality_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.mark.postgres
def test_run_on_postgres(postgres_url: str, workdir: Path) -> None:
    engine = create_engine(postgres_url)
    fill_warehouse(engine)
    engine.dispose()
    # The SQLite runs' workdir: its GX data source changes type.
    check_citizen_person(run_quality(postgres_url, workdir, now=NOW))
