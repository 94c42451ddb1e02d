"""Record rules of the civil-status, business and document datasets, from the real catalogue.

Each new rule is checked on its own with real-looking good and bad values, then through the
rule sets the catalogue builds for each dataset.
"""

from __future__ import annotations

import copy
import unicodedata
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from quality.rules import (
    Failure,
    RuleConfigError,
    RuleSet,
    document_number_failures,
    enterprise_check_digit,
    enterprise_code_failures,
)
from schemas.catalogue import Dataset, RuleSpec, default_catalogue

TODAY = date(2026, 3, 15)


def changed(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``base`` with ``changes`` applied; ``a__b`` sets ``b`` inside ``a``."""
    record = copy.deepcopy(base)
    for key, value in changes.items():
        *parents, leaf = key.split("__")
        target = record
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    return record


BIRTH: dict[str, Any] = {
    "registering_agency_id": "000.20.31.H25",
    "book_number": "01/2026",
    "registration_number": "126",
    "registering_commune_code": "18073",
    "registration_date": date(2026, 2, 12),
    "registration_type": "ON_TIME",
    "child": {
        "personal_id": "042226000518",
        "full_name": "Phạm Minh Khôi",
        "gender": "MALE",
        "date_of_birth": date(2026, 1, 28),
        "place_of_birth": {"commune_code": "18073", "address": "Bệnh viện Đa khoa tỉnh Hà Tĩnh"},
        "ethnicity": "Kinh",
        "nationality": "VN",
    },
    "mother": {"full_name": "Lê Thị Hằng", "personal_id": "042196004412", "nationality": "VN"},
    "father": {"full_name": "Phạm Văn Đức", "personal_id": "042093002231", "nationality": "VN"},
    "updated_at": datetime(2026, 2, 12, 3, 0, tzinfo=UTC),
}

MARRIAGE: dict[str, Any] = {
    "registering_agency_id": "000.21.35.H25",
    "book_number": "01/2025",
    "registration_number": "49",
    "registering_commune_code": "18229",
    "registration_date": date(2025, 11, 22),
    "registration_type": "ON_TIME",
    "husband": {
        "personal_id": "042097003456",
        "full_name": "Phan Đình Khánh",
        "date_of_birth": date(1997, 4, 8),
        "ethnicity": "Kinh",
        "nationality": "VN",
        "residence": {"commune_code": "18229", "address": "Thôn Yên Khánh, xã Đức Thọ"},
    },
    "wife": {
        "personal_id": "042199007812",
        "full_name": "Lê Thị Quỳnh Anh",
        "date_of_birth": date(1999, 9, 30),
        "ethnicity": "Kinh",
        "nationality": "VN",
        "residence": {"commune_code": "18100", "address": "Số 12 đường Nguyễn Huy Tự"},
    },
    "updated_at": datetime(2025, 11, 22, 7, 40, tzinfo=UTC),
}

DEATH: dict[str, Any] = {
    "registering_agency_id": "000.22.40.H25",
    "book_number": "01/2026",
    "registration_number": "08",
    "registering_commune_code": "18313",
    "registration_date": date(2026, 1, 20),
    "registration_type": "ON_TIME",
    "deceased": {
        "personal_id": "042142000377",
        "full_name": "Nguyễn Thị Lài",
        "gender": "FEMALE",
        "date_of_birth": date(1942, 3, 9),
        "ethnicity": "Kinh",
        "nationality": "VN",
    },
    "date_of_death": date(2026, 1, 18),
    "place_of_death": {"commune_code": "18313", "address": "Thôn Tân Bình, xã Vũ Quang"},
    "cause_of_death": "Tai biến mạch máu não",
    "death_notice": {"number": "11/GBT", "issuer": "Bệnh viện Đa khoa huyện Vũ Quang"},
    "updated_at": datetime(2026, 1, 20, 2, 0, tzinfo=UTC),
}

ENTERPRISE: dict[str, Any] = {
    "enterprise_code": "0314409058",
    "name_vi": "Công ty TNHH Phần mềm Sông Lam",
    "name_foreign": "Song Lam Software Company Limited",
    "name_short": None,
    "legal_form": "MULTI_MEMBER_LLC",
    "head_office": {"commune_code": "18073", "address": "Số 9 đường Phan Đình Phùng"},
    "charter_capital": Decimal("2000000000"),
    "legal_representative": {
        "full_name": "Trần Quốc Bảo",
        "personal_id": "042088005521",
        "title": "Giám đốc",
    },
    "business_lines": [
        {"code": "6201", "name": "Lập trình máy vi tính", "main": True},
        {
            "code": "6311",
            "name": "Xử lý dữ liệu, cho thuê và các hoạt động liên quan",
            "main": False,
        },
    ],
    "branches": [
        {
            "branch_code": "0314409058-001",
            "name": "Chi nhánh Công ty TNHH Phần mềm Sông Lam tại Hồng Lĩnh",
            "address": "Số 3 đường Quang Trung",
            "commune_code": "18115",
        },
        {
            "branch_code": "0314409058-002",
            "name": "Văn phòng đại diện tại Hà Nội",
            "address": "Số 8 phố Phan Đình Phùng",
            "commune_code": "00004",
        },
    ],
    "first_registered_on": date(2016, 8, 1),
    "amendment_number": 3,
    "amended_on": date(2025, 10, 2),
    "status": "ACTIVE",
    "updated_at": datetime(2025, 10, 3, 1, 0, tzinfo=UTC),
}

DOCUMENT: dict[str, Any] = {
    "holder_agency_id": "000.00.12.H25",
    "holder_level": "PROVINCE",
    "direction": "INCOMING",
    "issuing_agency_id": "000.00.00.H25",
    "issuing_agency_name": "Ủy ban nhân dân tỉnh Hà Tĩnh",
    "issue_date": date(2026, 3, 2),
    "number_symbol": "125/UBND-TH",
    "document_type": "CONG_VAN",
    "subject": "Về việc đẩy mạnh xử lý hồ sơ công việc trên môi trường mạng",
    "signer_name": "Nguyễn Hồng Lĩnh",
    "signer_title": "KT. CHỦ TỊCH PHÓ CHỦ TỊCH",
    "digitally_signed": True,
    "received_at": datetime(2026, 3, 2, 8, 47, tzinfo=UTC),
    "sent_at": None,
    "processing_deadline": date(2026, 3, 9),
    "handling_unit": "Văn phòng Sở",
    "processing_status": "COMPLETED",
    "processed_online": True,
    "updated_at": datetime(2026, 3, 5, 9, 0, tzinfo=UTC),
}

RECORDS = {
    "civil.birth": BIRTH,
    "civil.marriage": MARRIAGE,
    "civil.death": DEATH,
    "business.enterprise": ENTERPRISE,
    "document.record": DOCUMENT,
}


def rules_for(dataset_id: str) -> RuleSet:
    return RuleSet.for_dataset(default_catalogue().dataset(dataset_id), today=TODAY)


def found(failures: list[Failure]) -> list[tuple[str, str]]:
    return [(f.rule, f.field) for f in failures]


def names(failures: list[Failure]) -> list[str]:
    return [f.rule for f in failures]


def dataset_with_rules(base_id: str, *rules: dict[str, Any]) -> Dataset:
    base = default_catalogue().dataset(base_id)
    specs = tuple(RuleSpec.model_validate(spec) for spec in rules)
    return base.model_copy(update={"id": "test.rules", "rules": specs})


# --- every dataset ---------------------------------------------------------------------------


@pytest.mark.parametrize("dataset_id", default_catalogue().dataset_ids)
def test_every_catalogue_dataset_compiles(dataset_id: str) -> None:
    assert rules_for(dataset_id).dataset_id == dataset_id


@pytest.mark.parametrize("dataset_id", list(RECORDS))
def test_good_records_pass(dataset_id: str) -> None:
    assert rules_for(dataset_id).check(RECORDS[dataset_id]) == []


def test_rule_sets_follow_the_catalogue() -> None:
    assert rules_for("civil.birth").rule_names == (
        "required",
        "agency_id",
        "personal_id",
        "personal_id",
        "personal_id",
        "not_in_future",
        "date_order",
        "admin_unit",
        "admin_unit",
        "nfc",
    )
    assert rules_for("business.enterprise").rule_names == (
        "required",
        "enterprise_code",
        "enterprise_code",
        "personal_id",
        "vsic_code",
        "exactly_one",
        "not_in_future",
        "not_in_future",
        "date_order",
        "admin_unit",
        "admin_unit",
        "nfc",
    )


# --- enterprise code -------------------------------------------------------------------------


def test_check_digit_worked_example() -> None:
    # 0*31 + 1*29 + 0*23 + 0*19 + 2*17 + 3*13 + 3*7 + 4*5 + 8*3 = 167; 167 mod 11 = 2; 10 - 2 = 8.
    assert enterprise_check_digit("010023348") == 8
    assert enterprise_check_digit("031440905") == 8
    # 300123455 sums to 0 mod 11: the check would be 10, so no code starts with it.
    assert enterprise_check_digit("300123455") is None


@pytest.mark.parametrize("code", ["0100233488", "0314409058", "3001234567", "3000456782"])
def test_good_enterprise_codes(code: str) -> None:
    assert enterprise_code_failures(code) == []


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("010023348", ["enterprise_code.shape"]),  # 9 digits
        ("01002334880", ["enterprise_code.shape"]),  # 11 digits
        ("0100233488 ", ["enterprise_code.shape"]),
        ("01OO233488", ["enterprise_code.shape"]),  # letter O for zero
        ("０１００２３３４８８", ["enterprise_code.shape"]),  # full-width digits
        ("0314409058-002", ["enterprise_code.shape"]),  # a branch where a head office belongs
        (100233488, ["enterprise_code.shape"]),  # an int loses the leading zero
        ("0100233489", ["enterprise_code.check_digit"]),
        ("0100233448", ["enterprise_code.check_digit"]),  # two digits swapped
        ("3001234550", ["enterprise_code.check_digit"]),  # the check would be 10
        ("0100000003", ["enterprise_code.sequence"]),
        ("0100000000", ["enterprise_code.sequence", "enterprise_code.check_digit"]),
    ],
)
def test_bad_enterprise_codes(code: Any, expected: list[str]) -> None:
    failures = enterprise_code_failures(code)
    assert names(failures) == expected
    assert all(str(code) in f.reason and str(code) in f.reason_vi for f in failures)


def test_check_digit_reasons_in_both_languages() -> None:
    (failure,) = enterprise_code_failures("0100233489")
    assert failure.reason == "enterprise_code 0100233489: check digit is 9, digits 1-9 give 8"
    assert failure.reason_vi == (
        "enterprise_code 0100233489: chữ số kiểm tra là 9, theo chín chữ số đầu phải là 8"
    )
    (ten,) = enterprise_code_failures("3001234550")
    assert "check value 10" in ten.reason
    assert "giá trị kiểm tra 10" in ten.reason_vi


@pytest.mark.parametrize("code", ["0314409058-002", "0100233488-001", "0100233488-999"])
def test_good_branch_codes(code: str) -> None:
    assert enterprise_code_failures(code, "branch") == []


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("0314409058-000", ["enterprise_code.branch_suffix"]),
        ("0314409058002", ["enterprise_code.shape"]),  # no hyphen
        ("0314409058-02", ["enterprise_code.shape"]),
        ("0314409058–002", ["enterprise_code.shape"]),  # en dash from a word processor
        ("0314409058", ["enterprise_code.shape"]),  # the head office's own code
        ("0314409059-002", ["enterprise_code.check_digit"]),  # its head-office part is invalid
        ("0100000003-001", ["enterprise_code.sequence"]),
    ],
)
def test_bad_branch_codes(code: str, expected: list[str]) -> None:
    assert names(enterprise_code_failures(code, "branch")) == expected


def test_branch_belongs_to_its_enterprise() -> None:
    assert enterprise_code_failures("0314409058-002", "branch", parent="0314409058") == []
    (failure,) = enterprise_code_failures("0314409058-002", "branch", parent="0100233488")
    assert failure.rule == "enterprise_code.parent"
    assert "chi nhánh của doanh nghiệp 0314409058" in failure.reason_vi


def test_absent_codes_pass() -> None:
    assert enterprise_code_failures(None) == []
    assert enterprise_code_failures("  ") == []


def test_enterprise_record_codes() -> None:
    rules = rules_for("business.enterprise")
    assert found(rules.check(changed(ENTERPRISE, {"enterprise_code": "0314409057"}))) == [
        ("enterprise_code.check_digit", "enterprise_code"),
        # Both branch codes now name another enterprise.
        ("enterprise_code.parent", "branches[0].branch_code"),
        ("enterprise_code.parent", "branches[1].branch_code"),
    ]
    branches = copy.deepcopy(ENTERPRISE["branches"])
    branches[1]["branch_code"] = "0314409058-000"
    assert found(rules.check(changed(ENTERPRISE, {"branches": branches}))) == [
        ("enterprise_code.branch_suffix", "branches[1].branch_code")
    ]


# --- agency e-ID -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "agency_id",
    ["000.00.00.G22", "000.00.00.G12", "000.00.00.H41", "000.00.12.H25", "H01.151", "H25.22"],
)
def test_good_agency_ids(agency_id: str) -> None:
    rules = rules_for("document.record")
    assert rules.check(changed(DOCUMENT, {"issuing_agency_id": agency_id})) == []


@pytest.mark.parametrize(
    "agency_id",
    [
        "000.00.00.g22",  # lower case
        "00.00.00.H22",
        "000.00.00.H2",
        "000-00-00-H22",
        "000.00.00.Đ22",  # Đ is no level-1 letter
        " 000.00.00.G22",
        "000.00.00.H25\n",
        "０００.００.００.Ｈ２５",  # full-width
        "Văn phòng UBND tỉnh",
        "H01",
    ],
)
def test_bad_agency_ids(agency_id: str) -> None:
    failures = rules_for("document.record").check(
        changed(DOCUMENT, {"holder_agency_id": agency_id})
    )
    assert found(failures) == [("agency_id.shape", "holder_agency_id")]
    assert "QCVN 102:2016" in failures[0].reason_vi
    assert "mã định danh điện tử" in failures[0].reason_vi


# --- document number and symbol --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "issued"),
    [
        ("424/QĐ-UBND", date(2026, 3, 2)),
        ("125/UBND-TH", date(2026, 3, 2)),
        ("05/KH-UBND", date(2026, 1, 6)),
        ("20/2020/QĐ-TTg", date(2020, 7, 13)),
        ("13/2023/NĐ-CP", date(2023, 4, 17)),
        ("60/2024/QH15", date(2024, 11, 30)),
        ("01/2021/TT-BTTTT", date(2021, 3, 5)),
        ("1234/BTTTT-CĐSQG", date(2024, 4, 2)),
        ("18/CTr-BCĐ389", date(2025, 2, 10)),
        ("05-NQ/TU", date(2021, 6, 1)),
        ("123-CV/BTGTU", date(2025, 9, 9)),
    ],
)
def test_good_document_numbers(value: str, issued: date) -> None:
    assert document_number_failures(value, issued) == []


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("QĐ-UBND", "document_number.shape"),  # no number
        ("424/QĐ", "document_number.shape"),  # no issuer
        ("424/QĐ/UBND", "document_number.shape"),
        ("424/QĐ-UBND ", "document_number.shape"),
        ("424 /QĐ-UBND", "document_number.shape"),
        ("Số 424/QĐ-UBND", "document_number.shape"),
        ("424/qđ-ubnd", "document_number.shape"),
        ("424/Quyết định-UBND", "document_number.shape"),
        ("5/QĐ-UBND", "document_number.number"),  # below 10 without its zero
        ("005/QĐ-UBND", "document_number.number"),
        ("00/QĐ-UBND", "document_number.number"),
        ("5-NQ/TU", "document_number.number"),
        ("0424/QĐ-UBND", "document_number.number"),
    ],
)
def test_bad_document_numbers(value: str, rule: str) -> None:
    failures = document_number_failures(value)
    assert names(failures) == [rule]
    assert unicodedata.is_normalized("NFC", failures[0].reason_vi)


def test_eth_lookalike_is_named() -> None:
    eth = "424/Q\u00d0-UBND"  # Ð (U+00D0) looks exactly like Đ (U+0110)
    assert eth != "424/QĐ-UBND"
    (failure,) = document_number_failures(eth)
    assert failure.rule == "document_number.shape"
    assert "U+00D0" in failure.reason
    assert "thay cho chữ Đ (U+0110)" in failure.reason_vi


def test_document_number_is_read_as_nfc() -> None:
    # Đ has no decomposition, so an NFD symbol is still a valid one.
    assert document_number_failures(unicodedata.normalize("NFD", "424/QĐ-UBND")) == []


def test_normative_year_agrees_with_the_issue_date() -> None:
    (failure,) = document_number_failures("20/2020/QĐ-TTg", date(2021, 1, 5))
    assert failure.rule == "document_number.year"
    assert (
        failure.reason
        == "number_symbol 20/2020/QĐ-TTg: year 2020 differs from issue_date 2021-01-05"
    )
    assert "năm 2020 khác năm ban hành 05/01/2021" in failure.reason_vi
    # Without an issue date nothing can disagree; a state document carries no year.
    assert document_number_failures("20/2020/QĐ-TTg") == []
    assert document_number_failures("424/QĐ-UBND", date(2021, 1, 5)) == []


def test_document_record_number() -> None:
    rules = rules_for("document.record")
    record = changed(DOCUMENT, {"number_symbol": "12/2025/QĐ-UBND", "document_type": "QUYET_DINH"})
    assert found(rules.check(record)) == [("document_number.year", "number_symbol")]
    assert found(rules.check(changed(DOCUMENT, {"number_symbol": "7/UBND-TH"}))) == [
        ("document_number.number", "number_symbol")
    ]


# --- date order and age ----------------------------------------------------------------------


def test_birth_registered_before_the_birth() -> None:
    failures = rules_for("civil.birth").check(
        changed(BIRTH, {"registration_date": date(2026, 1, 27)})
    )
    assert found(failures) == [("date.order", "child.date_of_birth")]
    assert failures[0].reason == (
        "child.date_of_birth 2026-01-28 is after registration_date 2026-01-27"
    )
    assert failures[0].reason_vi == (
        "child.date_of_birth 28/01/2026 muộn hơn registration_date 27/01/2026"
    )
    # Registered on the day of birth is fine.
    assert (
        rules_for("civil.birth").check(changed(BIRTH, {"registration_date": date(2026, 1, 28)}))
        == []
    )


def test_death_dates() -> None:
    rules = rules_for("civil.death")
    assert found(rules.check(changed(DEATH, {"date_of_death": date(2026, 1, 21)}))) == [
        ("date.order", "date_of_death")
    ]
    assert found(rules.check(changed(DEATH, {"deceased__date_of_birth": date(2026, 1, 19)}))) == [
        ("personal_id.century", "deceased.personal_id"),
        ("personal_id.birth_year", "deceased.personal_id"),
        ("date.order", "deceased.date_of_birth"),
    ]
    # An unknown birth date leaves nothing to compare.
    assert rules.check(changed(DEATH, {"deceased__date_of_birth": None})) == []


def test_timestamps_are_compared_on_vietnamese_days() -> None:
    rules = rules_for("document.record")
    # 20:00 UTC on 1 March is 03:00 on 2 March in Hà Tĩnh: the issue day itself.
    on_the_day = changed(DOCUMENT, {"received_at": datetime(2026, 3, 1, 20, 0, tzinfo=UTC)})
    assert rules.check(on_the_day) == []
    # 16:00 UTC on 1 March is 23:00 on 1 March there: received before it was issued.
    before = changed(DOCUMENT, {"received_at": datetime(2026, 3, 1, 16, 0, tzinfo=UTC)})
    failures = rules.check(before)
    assert found(failures) == [("date.order", "issue_date")]
    assert "23:00 01/03/2026" in failures[0].reason_vi


def test_outgoing_document_sent_before_issue() -> None:
    record = changed(
        DOCUMENT,
        {
            "direction": "OUTGOING",
            "holder_agency_id": "000.00.00.H25",
            "received_at": None,
            "sent_at": datetime(2026, 2, 28, 2, 0, tzinfo=UTC),
            "processing_status": "ISSUED",
        },
    )
    assert found(rules_for("document.record").check(record)) == [("date.order", "issue_date")]


@pytest.mark.parametrize(
    ("husband_born", "wife_born", "expected"),
    [
        (date(2005, 11, 22), date(2007, 11, 22), []),  # 20 and 18 on the day
        (date(2005, 11, 23), date(1999, 9, 30), [("date.min_age", "husband.date_of_birth")]),
        (date(1997, 4, 8), date(2007, 11, 23), [("date.min_age", "wife.date_of_birth")]),
    ],
)
def test_legal_marriage_age(husband_born: date, wife_born: date, expected: list[Any]) -> None:
    # Without ids, so only the ages can fail.
    record = changed(
        MARRIAGE,
        {
            "husband__date_of_birth": husband_born,
            "husband__personal_id": None,
            "wife__date_of_birth": wife_born,
            "wife__personal_id": None,
        },
    )
    assert found(rules_for("civil.marriage").check(record)) == expected


def test_min_age_reasons() -> None:
    record = changed(
        MARRIAGE, {"wife__date_of_birth": date(2008, 2, 29), "wife__personal_id": "042308007812"}
    )
    # Born on 29 February 2008: 18 only on 1 March 2026.
    failures = rules_for("civil.marriage").check(
        changed(record, {"registration_date": date(2026, 2, 28)})
    )
    assert found(failures) == [("date.min_age", "wife.date_of_birth")]
    assert failures[0].reason_vi == (
        "wife.date_of_birth 29/02/2008: 17 tuổi vào ngày 28/02/2026 (registration_date), "
        "chưa đủ 18 tuổi"
    )
    assert (
        rules_for("civil.marriage").check(changed(record, {"registration_date": date(2026, 3, 1)}))
        == []
    )


# --- personal ids with an implied gender -----------------------------------------------------


def test_parents_ids_agree_with_their_role() -> None:
    rules = rules_for("civil.birth")
    # The father's and mother's ids swapped.
    swapped = changed(
        BIRTH,
        {"mother__personal_id": "042093002231", "father__personal_id": "042196004412"},
    )
    failures = rules.check(swapped)
    assert found(failures) == [
        ("personal_id.gender", "mother.personal_id"),
        ("personal_id.gender", "father.personal_id"),
    ]
    assert "(nam) nhưng gender_is là nữ" in failures[0].reason_vi
    # A parent without an id (a foreigner) or without a record at all passes.
    assert rules.check(changed(BIRTH, {"father": None, "mother__personal_id": None})) == []


def test_spouses_ids_agree_with_their_role() -> None:
    record = changed(
        MARRIAGE,
        {"husband__personal_id": "042199007812", "wife__personal_id": "042097003456"},
    )
    failures = rules_for("civil.marriage").check(record)
    assert names(failures) == [
        "personal_id.birth_year",
        "personal_id.gender",
        "personal_id.birth_year",
        "personal_id.gender",
    ]


def test_child_id_agrees_with_the_child() -> None:
    failures = rules_for("civil.birth").check(changed(BIRTH, {"child__gender": "FEMALE"}))
    assert found(failures) == [("personal_id.gender", "child.personal_id")]


# --- business lines --------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["0111", "0510", "4661", "6201", "8411", "9900"])
def test_good_vsic_codes(code: str) -> None:
    lines = [{"code": code, "name": "Ngành chính", "main": True}]
    assert (
        rules_for("business.enterprise").check(changed(ENTERPRISE, {"business_lines": lines})) == []
    )


@pytest.mark.parametrize(
    ("code", "rule"),
    [
        ("620", "vsic_code.shape"),
        ("62010", "vsic_code.shape"),  # a level-5 code
        ("J6201", "vsic_code.shape"),  # with its section letter
        ("62O1", "vsic_code.shape"),
        ("６２０１", "vsic_code.shape"),
        ("0411", "vsic_code.division"),  # 04 lies between sections A and B
        ("3410", "vsic_code.division"),
        ("4011", "vsic_code.division"),
        ("7610", "vsic_code.division"),
    ],
)
def test_bad_vsic_codes(code: str, rule: str) -> None:
    lines = copy.deepcopy(ENTERPRISE["business_lines"])
    lines[1]["code"] = code
    failures = rules_for("business.enterprise").check(
        changed(ENTERPRISE, {"business_lines": lines})
    )
    assert found(failures) == [(rule, "business_lines[1].code")]


def test_exactly_one_main_business_line() -> None:
    rules = rules_for("business.enterprise")
    lines = copy.deepcopy(ENTERPRISE["business_lines"])
    lines[1]["main"] = True
    (two,) = rules.check(changed(ENTERPRISE, {"business_lines": lines}))
    assert (two.rule, two.field) == ("array.exactly_one", "business_lines")
    assert "business_lines[0].main, business_lines[1].main" in two.reason
    assert "chỉ được một" in two.reason_vi
    lines[0]["main"] = lines[1]["main"] = False
    (none,) = rules.check(changed(ENTERPRISE, {"business_lines": lines}))
    assert none.reason == "business_lines: no item has main set; exactly one must"
    (empty,) = rules.check(changed(ENTERPRISE, {"business_lines": []}))
    assert empty.rule == "array.exactly_one"


# --- array items through the existing rules --------------------------------------------------


def test_branch_items_are_checked_one_by_one() -> None:
    rules = rules_for("business.enterprise")
    branches = copy.deepcopy(ENTERPRISE["branches"])
    branches[0]["commune_code"] = "18077"  # Phường Bắc Hà, merged away on 1 July 2025
    branches[1]["name"] = unicodedata.normalize("NFD", "Văn phòng đại diện tại Hà Nội")
    branches[1]["address"] = "  "
    failures = rules.check(changed(ENTERPRISE, {"branches": branches}))
    assert found(failures) == [
        ("required", "branches[1].address"),
        ("admin_unit.unknown", "branches[0].commune_code"),
        ("text.nfc", "branches[1].name"),
    ]
    assert "'18077'" in failures[1].reason_vi
    # In 2024 the old commune code was right.
    in_2024 = changed(
        ENTERPRISE, {"branches": branches[:1], "updated_at": datetime(2024, 5, 1, tzinfo=UTC)}
    )
    assert rules.check(changed(in_2024, {"amended_on": date(2024, 4, 2)})) == []


def test_enterprise_head_office_and_representative() -> None:
    rules = rules_for("business.enterprise")
    record = changed(
        ENTERPRISE,
        {
            "head_office__commune_code": "99999",
            "name_vi": unicodedata.normalize("NFD", "Công ty TNHH Phần mềm Sông Lam"),
            "amended_on": date(2016, 7, 30),  # before the first registration
        },
    )
    assert names(rules.check(record)) == ["date.order", "admin_unit.unknown", "text.nfc"]
    # Without a birth date or gender the representative's id is checked for shape only.
    shape = changed(ENTERPRISE, {"legal_representative__personal_id": "04208800552"})
    assert found(rules.check(shape)) == [("personal_id.shape", "legal_representative.personal_id")]


# --- other dataset defects -------------------------------------------------------------------


def test_birth_defects() -> None:
    rules = rules_for("civil.birth")
    record = changed(
        BIRTH,
        {
            "registering_agency_id": "UBND phường Thành Sen",
            "registering_commune_code": "18077",  # no longer a commune in 2026
            "child__place_of_birth__commune_code": "99999",
            "child__full_name": unicodedata.normalize("NFD", "Phạm Minh Khôi"),
        },
    )
    assert found(rules.check(record)) == [
        ("agency_id.shape", "registering_agency_id"),
        ("admin_unit.unknown", "registering_commune_code"),
        ("admin_unit.unknown", "child.place_of_birth.commune_code"),
        ("text.nfc", "child.full_name"),
    ]


def test_foreign_birth_without_commune() -> None:
    record = changed(
        BIRTH,
        {
            "registration_type": "FOREIGN_ELEMENT",
            "registering_commune_code": None,
            "child__place_of_birth": {"commune_code": None, "address": "Bệnh viện Seoul, Hàn Quốc"},
            "father": {"full_name": "Park Ji-hoon", "personal_id": None, "nationality": "KR"},
        },
    )
    assert rules_for("civil.birth").check(record) == []


def test_marriage_defects() -> None:
    record = changed(
        MARRIAGE,
        {
            "registration_date": date(2026, 4, 1),  # after TODAY
            "wife__residence__commune_code": "06978",  # exists only from 1 July 2025
            "husband__residence__address": "",
        },
    )
    assert found(rules_for("civil.marriage").check(record)) == [
        ("required", "husband.residence.address"),
        ("date.not_in_future", "registration_date"),
    ]
    record = changed(
        MARRIAGE, {"registration_date": date(2025, 6, 30), "wife__residence__commune_code": "06978"}
    )
    assert found(rules_for("civil.marriage").check(record)) == [
        ("admin_unit.unknown", "wife.residence.commune_code")
    ]


def test_death_defects() -> None:
    record = changed(
        DEATH,
        {
            "place_of_death__commune_code": "18077",  # valid on the day of death in 2024
            "date_of_death": date(2024, 12, 30),
            "cause_of_death": unicodedata.normalize("NFD", "Tai nạn giao thông"),
            "death_notice__issuer": unicodedata.normalize("NFD", "Công an xã Vũ Quang"),
        },
    )
    assert found(rules_for("civil.death").check(record)) == [
        ("text.nfc", "cause_of_death"),
        ("text.nfc", "death_notice.issuer"),
    ]


def test_document_defects() -> None:
    record = changed(
        DOCUMENT,
        {
            "issuing_agency_id": "H25",
            "subject": " ",
            "issue_date": date(2026, 3, 20),
            "received_at": datetime(2026, 3, 20, 3, 0, tzinfo=UTC),
            "processing_deadline": date(2026, 3, 27),
        },
    )
    assert found(rules_for("document.record").check(record)) == [
        ("required", "subject"),
        ("agency_id.shape", "issuing_agency_id"),
        ("date.not_in_future", "issue_date"),
    ]


def test_failure_reasons_are_nfc() -> None:
    record = changed(DOCUMENT, {"number_symbol": "5/QÐ-UBND", "issuing_agency_id": "Sở Nội vụ"})
    failures = rules_for("document.record").check(record)
    assert len(failures) == 2
    for failure in failures:
        assert unicodedata.is_normalized("NFC", failure.reason_vi)


# --- configuration errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "spec", "problem"),
    [
        (
            "business.enterprise",
            {"rule": "personal_id", "field": "branches[].branch_code"},
            "takes no array item path",
        ),
        (
            "business.enterprise",
            {"rule": "required", "fields": ["branches[].code"]},
            "no field 'branches\\[\\].code'",
        ),
        (
            "business.enterprise",
            {"rule": "enterprise_code", "field": "enterprise_code", "parent": "enterprise_code"},
            "'parent' applies to branch codes only",
        ),
        (
            "business.enterprise",
            {"rule": "enterprise_code", "field": "enterprise_code", "kind": "chi_nhanh"},
            "'kind' must be one of head_office, branch",
        ),
        (
            "business.enterprise",
            {"rule": "exactly_one", "field": "business_lines[].code"},
            "is not a boolean",
        ),
        (
            "document.record",
            {"rule": "exactly_one", "field": "processed_online"},
            "must name a boolean in an array of records",
        ),
        (
            "civil.birth",
            {"rule": "date_order", "earlier": "child.date_of_birth"},
            "missing parameter 'later'",
        ),
        (
            "civil.birth",
            {"rule": "date_order", "earlier": "book_number", "later": "registration_date"},
            "'book_number' is not a date or timestamp",
        ),
        (
            "civil.marriage",
            {
                "rule": "min_age",
                "birth_date": "wife.date_of_birth",
                "as_of": "registration_date",
                "years": 0,
            },
            "'years' must be a whole number of at least 1",
        ),
        (
            "civil.marriage",
            {
                "rule": "min_age",
                "birth_date": "wife.date_of_birth",
                "as_of": "registration_date",
                "years": "18",
            },
            "'years' must be a whole number",
        ),
        (
            "civil.marriage",
            {
                "rule": "min_age",
                "birth_date": "wife.date_of_birth",
                "as_of": "registration_date",
                "years": True,
            },
            "'years' must be a whole number",
        ),
        (
            "civil.birth",
            {
                "rule": "personal_id",
                "field": "child.personal_id",
                "gender": "child.gender",
                "gender_is": "MALE",
            },
            "give 'gender' or 'gender_is', not both",
        ),
        (
            "civil.birth",
            {"rule": "personal_id", "field": "mother.personal_id", "gender_is": "NỮ"},
            "'gender_is' must be one of MALE, FEMALE",
        ),
        (
            "document.record",
            {"rule": "document_number", "field": "number_symbol", "issue_date": "subject"},
            "'subject' is not a date or timestamp",
        ),
        ("document.record", {"rule": "agency_id", "field": "co_quan"}, "no field 'co_quan'"),
    ],
)
def test_bad_parameters(base: str, spec: dict[str, Any], problem: str) -> None:
    dataset = dataset_with_rules(
        base, {"rule": "required", "fields": [default_catalogue().dataset(base).key[0]]}, spec
    )
    with pytest.raises(RuleConfigError, match=rf"'test\.rules'.*rules\[1\].*{problem}"):
        RuleSet.for_dataset(dataset)
