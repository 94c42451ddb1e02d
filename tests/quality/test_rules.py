"""Record rules on real-looking citizen records, built from the real catalogue."""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from quality.rules import (
    Failure,
    RuleConfigError,
    RuleSet,
    personal_id_failures,
    vietnam_today,
)
from schemas.catalogue import Dataset, RuleSpec, default_catalogue
from schemas.reference import load_admin_units

TODAY = date(2026, 3, 15)


def person(**changes: Any) -> dict[str, Any]:
    """A decoded citizen.person record that passes every rule, with ``changes`` applied."""
    record: dict[str, Any] = {
        "personal_id": "042090001234",
        "full_name": "Nguyễn Văn Hùng",
        "date_of_birth": date(1990, 5, 17),
        "gender": "MALE",
        "ethnicity": "Kinh",
        "nationality": "VN",
        "birth_registration_commune_code": "18073",
        "permanent_residence": {
            "commune_code": "18073",
            "address": "Số 25 đường Hà Huy Tập, phường Thành Sen",
        },
        "current_residence": None,
        "father_id": "042060000117",
        "mother_id": "042165000321",
        "spouse_id": None,
        "eid_level": 2,
        "updated_at": datetime(2026, 1, 10, 8, 30, tzinfo=UTC),
    }
    record.update(changes)
    return record


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return RuleSet.for_dataset(default_catalogue().dataset("citizen.person"), today=TODAY)


def rule_names(failures: list[Failure]) -> list[str]:
    return [f.rule for f in failures]


def test_builds_from_the_catalogue_entry(rules: RuleSet) -> None:
    assert rules.dataset_id == "citizen.person"
    assert rules.rule_names == (
        "required",
        "personal_id",
        "personal_id",
        "personal_id",
        "personal_id",
        "not_in_future",
        "admin_unit",
        "admin_unit",
        "admin_unit",
        "nfc",
    )


@pytest.mark.parametrize(
    ("personal_id", "born", "gender"),
    [
        ("042090001234", date(1990, 5, 17), "MALE"),
        ("042195000321", date(1995, 11, 2), "FEMALE"),
        ("001300004567", date(2000, 1, 1), "FEMALE"),
        ("079205012345", date(2005, 8, 30), "MALE"),
    ],
)
def test_good_records_pass(rules: RuleSet, personal_id: str, born: date, gender: str) -> None:
    record = person(personal_id=personal_id, date_of_birth=born, gender=gender)
    assert rules.check(record) == []
    assert personal_id_failures(personal_id, born, gender) == []


def test_good_record_with_a_current_residence_passes(rules: RuleSet) -> None:
    record = person(
        current_residence={"commune_code": "18100", "address": "Số 8 đường Nguyễn Du"},
        spouse_id="042192004321",
    )
    assert load_admin_units().is_valid("18100", "commune", date(2026, 1, 10))
    assert rules.check(record) == []


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("04209000123", "personal_id.shape"),  # 11 digits
        ("0420900012345", "personal_id.shape"),  # 13 digits
        ("04209O001234", "personal_id.shape"),  # letter O for zero
        ("042 90001234", "personal_id.shape"),
        ("٠٤٢٠٩٠٠٠١٢٣٤", "personal_id.shape"),  # Arabic-Indic digits pass str.isdigit
        (42090001234, "personal_id.shape"),  # an int loses the leading zero
        ("999090001234", "personal_id.province"),
        ("000090001234", "personal_id.province"),
        ("003090001234", "personal_id.province"),  # 03 was never a province code
    ],
)
def test_personal_id_defects_alone(value: Any, rule: str) -> None:
    failures = personal_id_failures(value)
    assert rule_names(failures) == [rule]
    assert failures[0].field == "personal_id"
    assert str(value) in failures[0].reason


def test_pre_2025_province_prefixes_stay_valid() -> None:
    # Hà Giang (02) and Bắc Kạn (06) were merged in 2025; ids issued there remain valid.
    assert personal_id_failures("002085001234", date(1985, 2, 3), "MALE") == []
    assert personal_id_failures("006185001234", date(1985, 2, 3), "FEMALE") == []


@pytest.mark.parametrize(
    ("value", "born", "gender", "expected"),
    [
        ("042290001234", date(1990, 5, 17), "MALE", ["personal_id.century"]),
        ("042091001234", date(1990, 5, 17), "MALE", ["personal_id.birth_year"]),
        ("042190001234", date(1990, 5, 17), "MALE", ["personal_id.gender"]),
        ("042000001234", date(2000, 5, 17), "MALE", ["personal_id.century"]),
        ("042390001234", date(1990, 5, 17), "MALE", ["personal_id.century", "personal_id.gender"]),
        (
            "999495001234",
            date(1994, 5, 17),
            "FEMALE",
            [
                "personal_id.province",
                "personal_id.century",
                "personal_id.birth_year",
                "personal_id.gender",
            ],
        ),
    ],
)
def test_personal_id_disagrees_with_the_person(
    value: str, born: date, gender: str, expected: list[str]
) -> None:
    assert rule_names(personal_id_failures(value, born, gender)) == expected


def test_cross_field_checks_need_the_related_fields() -> None:
    # Century 2000s and female, but without a birth date or gender nothing can disagree.
    assert personal_id_failures("042391001234") == []
    assert rule_names(personal_id_failures("042391001234", gender="MALE")) == ["personal_id.gender"]
    # A wrong shape stops the other checks.
    assert rule_names(personal_id_failures("04239100123", date(1990, 1, 1), "MALE")) == [
        "personal_id.shape"
    ]


def test_personal_id_reasons_name_the_value_in_both_languages() -> None:
    (failure,) = personal_id_failures("042290001234", date(1990, 5, 17), "MALE")
    assert failure.reason == (
        "personal_id 042290001234: digit 4 is 2 (born 2000-2099) but date_of_birth is 1990-05-17"
    )
    assert failure.reason_vi == (
        "personal_id 042290001234: chữ số thứ 4 là 2 (sinh năm 2000–2099) "
        "nhưng date_of_birth là 17/05/1990"
    )
    (gender,) = personal_id_failures("042190001234", date(1990, 5, 17), "MALE")
    assert "(nữ) nhưng gender là nam" in gender.reason_vi


def test_record_personal_id_defects(rules: RuleSet) -> None:
    failures = rules.check(person(personal_id="042195000321"))  # a woman's id on a man
    assert [(f.rule, f.field) for f in failures] == [
        ("personal_id.birth_year", "personal_id"),
        ("personal_id.gender", "personal_id"),
    ]


def test_optional_ids_may_be_absent_but_not_malformed(rules: RuleSet) -> None:
    assert rules.check(person(father_id=None, mother_id=None, spouse_id=None)) == []
    failures = rules.check(person(mother_id="04216500032A"))
    assert [(f.rule, f.field) for f in failures] == [("personal_id.shape", "mother_id")]
    assert "'04216500032A'" in failures[0].reason_vi


def test_future_birth_date(rules: RuleSet) -> None:
    failures = rules.check(
        person(personal_id="042226001234", date_of_birth=date(2026, 3, 16))  # TODAY + 1
    )
    assert [(f.rule, f.field) for f in failures] == [("date.not_in_future", "date_of_birth")]
    assert failures[0].reason == "date_of_birth 2026-03-16 is in the future (today is 2026-03-15)"
    assert failures[0].reason_vi == (
        "date_of_birth 16/03/2026 là ngày trong tương lai (hôm nay là 15/03/2026)"
    )
    assert rules.check(person(personal_id="042226001234", date_of_birth=TODAY)) == []


def test_not_in_future_defaults_to_today_in_vietnam() -> None:
    live = RuleSet.for_dataset(default_catalogue().dataset("citizen.person"))
    vn_today = datetime.now(timezone(timedelta(hours=7))).date()
    assert vietnam_today() == vn_today
    tomorrow = vn_today + timedelta(days=1)
    assert "date.not_in_future" in rule_names(live.check(person(date_of_birth=tomorrow)))
    assert "date.not_in_future" not in rule_names(live.check(person(date_of_birth=vn_today)))


def test_unknown_commune_code(rules: RuleSet) -> None:
    failures = rules.check(
        person(permanent_residence={"commune_code": "99999", "address": "Thôn Trung, xã Cẩm Bình"})
    )
    assert [(f.rule, f.field) for f in failures] == [
        ("admin_unit.unknown", "permanent_residence.commune_code")
    ]
    assert "'99999'" in failures[0].reason
    assert "cấp xã" in failures[0].reason_vi
    assert "10/01/2026" in failures[0].reason_vi


def test_codes_are_checked_against_the_list_in_force_on_the_event_date(rules: RuleSet) -> None:
    units = load_admin_units()
    # 18073 exists in both lists, under different names.
    before = units.get("18073", "commune", date(2020, 1, 1))
    after = units.get("18073", "commune", date(2026, 1, 1))
    assert before is not None
    assert after is not None
    assert before.name == "Phường Nam Hà"
    assert after.name == "Phường Thành Sen"
    # 18077 (Phường Bắc Hà, Hà Tĩnh) was merged away in 2025.
    old_only = units.get("18077", "commune", date(2020, 1, 1))
    assert old_only is not None
    assert old_only.province_code == "42"
    assert units.get("18077", "commune", date(2026, 1, 1)) is None
    # 06978 (Xã Ba Chẽ, Quảng Ninh) exists only since the 2025 reform.
    assert units.get("06978", "commune", date(2020, 1, 1)) is None
    assert units.get("06978", "commune", date(2026, 1, 1)) is not None

    def at(code: str, updated_at: datetime) -> list[str]:
        residence = {"commune_code": code, "address": "Tổ dân phố 3"}
        return rule_names(rules.check(person(permanent_residence=residence, updated_at=updated_at)))

    in_2020 = datetime(2020, 6, 1, tzinfo=UTC)
    in_2026 = datetime(2026, 1, 10, tzinfo=UTC)
    assert at("18073", in_2020) == []
    assert at("18073", in_2026) == []
    assert at("18077", in_2020) == []
    assert at("18077", in_2026) == ["admin_unit.unknown"]
    assert at("06978", in_2026) == []
    assert at("06978", in_2020) == ["admin_unit.unknown"]


def test_the_list_changes_at_midnight_vietnam_time(rules: RuleSet) -> None:
    def at(updated_at: datetime) -> list[str]:
        residence = {"commune_code": "18077", "address": "Tổ dân phố 3"}
        return rule_names(rules.check(person(permanent_residence=residence, updated_at=updated_at)))

    assert at(datetime(2025, 6, 30, 16, 30, tzinfo=UTC)) == []  # 23:30 on 30 June in Hà Tĩnh
    assert at(datetime(2025, 6, 30, 17, 30, tzinfo=UTC)) == ["admin_unit.unknown"]  # 00:30 1 July


def test_birth_registration_commune_is_checked_on_the_birth_date(rules: RuleSet) -> None:
    # Registered in 1990 in a commune that no longer exists: still valid.
    assert rules.check(person(birth_registration_commune_code="18077")) == []


def test_missing_event_date_is_reported(rules: RuleSet) -> None:
    failures = rules.check(person(updated_at=None))
    assert [(f.rule, f.field) for f in failures] == [
        ("admin_unit.as_of_missing", "permanent_residence.commune_code")
    ]
    assert "updated_at" in failures[0].reason
    assert "thiếu updated_at" in failures[0].reason_vi


@pytest.mark.parametrize("name", [None, "", "   ", "\t\n"])
def test_blank_name(rules: RuleSet, name: str | None) -> None:
    failures = rules.check(person(full_name=name))
    assert [(f.rule, f.field) for f in failures] == [("required", "full_name")]


def test_missing_nested_required_field(rules: RuleSet) -> None:
    failures = rules.check(person(permanent_residence={"commune_code": "18073", "address": " "}))
    assert [(f.rule, f.field) for f in failures] == [("required", "permanent_residence.address")]
    # A missing commune code is one failure (required), not a second one from admin_unit.
    failures = rules.check(person(permanent_residence={"commune_code": "", "address": "Thôn 1"}))
    assert [(f.rule, f.field) for f in failures] == [
        ("required", "permanent_residence.commune_code")
    ]


def test_decomposed_name(rules: RuleSet) -> None:
    decomposed = unicodedata.normalize("NFD", "Nguyễn Văn Hùng")
    assert decomposed != "Nguyễn Văn Hùng"
    failures = rules.check(person(full_name=decomposed))
    assert [(f.rule, f.field) for f in failures] == [("text.nfc", "full_name")]
    assert "'Nguyễn Văn Hùng'" in failures[0].reason
    assert unicodedata.is_normalized("NFC", failures[0].reason_vi)


def test_every_failure_is_reported(rules: RuleSet) -> None:
    record = person(
        personal_id="04209000123",
        full_name=unicodedata.normalize("NFD", "Trần Thị Thu Hà"),
        gender="FEMALE",
        permanent_residence={"commune_code": "99999", "address": "Xóm 4, xã Thạch Hạ"},
    )
    assert rule_names(rules.check(record)) == [
        "personal_id.shape",
        "admin_unit.unknown",
        "text.nfc",
    ]


def test_failures_are_frozen_and_reasons_nfc(rules: RuleSet) -> None:
    record = person(
        personal_id="042390001234",
        date_of_birth=date(2027, 1, 1),
        birth_registration_commune_code="00000",
    )
    failures = rules.check(record)
    assert len(failures) >= 3
    for failure in failures:
        assert unicodedata.is_normalized("NFC", failure.reason_vi)
        assert failure.reason
        assert failure.reason_vi
    with pytest.raises(AttributeError):
        failures[0].rule = "other"  # type: ignore[misc]


def dataset_with_rules(*rules: dict[str, Any]) -> Dataset:
    base = default_catalogue().dataset("citizen.person")
    specs = tuple(RuleSpec.model_validate(spec) for spec in rules)
    return base.model_copy(update={"id": "test.person", "rules": specs})


def test_unknown_rule_name() -> None:
    dataset = dataset_with_rules({"rule": "tax_code", "field": "personal_id"})
    with pytest.raises(RuleConfigError, match=r"'test\.person'.*'tax_code'.*unknown rule"):
        RuleSet.for_dataset(dataset)


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"rule": "personal_id"}, "missing parameter 'field'"),
        ({"rule": "personal_id", "field": "cccd"}, "no field 'cccd'"),
        ({"rule": "personal_id", "feild": "personal_id"}, "missing parameter 'field'"),
        (
            {"rule": "personal_id", "field": "personal_id", "birthdate": "date_of_birth"},
            "unexpected parameter.*birthdate",
        ),
        ({"rule": "required", "fields": []}, "non-empty list"),
        ({"rule": "required", "fields": "full_name"}, "non-empty list"),
        ({"rule": "not_in_future", "field": "full_name"}, "not a date or timestamp"),
        (
            {"rule": "admin_unit", "field": "birth_registration_commune_code"},
            "missing parameter 'as_of'",
        ),
        (
            {
                "rule": "admin_unit",
                "field": "birth_registration_commune_code",
                "as_of": "date_of_birth",
                "level": "ward",
            },
            "'level' must be one of province, district, commune",
        ),
    ],
)
def test_bad_parameters(spec: dict[str, Any], problem: str) -> None:
    dataset = dataset_with_rules({"rule": "nfc", "fields": ["full_name"]}, spec)
    with pytest.raises(RuleConfigError, match=rf"'test\.person'.*rules\[1\].*{problem}"):
        RuleSet.for_dataset(dataset)


def test_district_level_codes() -> None:
    dataset = dataset_with_rules(
        {"rule": "admin_unit", "field": "ethnicity", "as_of": "updated_at", "level": "district"}
    )
    rules = RuleSet.for_dataset(dataset, today=TODAY)
    # Thành phố Hà Tĩnh (436) was a district until the 2025 reform removed that level.
    assert rules.check(person(ethnicity="436", updated_at=datetime(2024, 1, 1, tzinfo=UTC))) == []
    assert rule_names(rules.check(person(ethnicity="436"))) == ["admin_unit.unknown"]
