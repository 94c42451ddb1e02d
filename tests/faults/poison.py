"""The poison corpus: bad input of every class the hub meets, built the same on every run.

Two halves. The *wire* corpus is what a careless or hostile producer puts on ``raw.<dataset>``:
random bytes, truncated Avro, a wrong magic byte, unknown schema ids, bytes left over, records
of another dataset's schema, and schema-valid records that break each catalogue rule of each
dataset (decomposed Unicode among them). The *source* corpus (``poison_sources``) is what the
source systems hand the connectors: bad SQL rows, bad CSV lines, bad API items and bad files.

Each item names its class (:data:`WIRE_CLASSES` and the source classes below), so a test can
count inputs per class. Random values come from hypothesis with ``derandomize``: the same
examples on every run, from the same strategies a property test would use.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
import sqlite3
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from citizens import person
from fastavro import parse_schema
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from connectors.base import Connector
from connectors.business_registration import (
    BusinessRegistrationConfig,
    BusinessRegistrationConnector,
)
from connectors.civil_status import (
    CivilBirthConnector,
    CivilDeathConnector,
    CivilMarriageConnector,
    CivilStatusConfig,
    CivilStatusConnector,
)
from connectors.document_management import DocumentManagementConfig, DocumentManagementConnector
from connectors.population import PopulationConfig, PopulationConnector
from connectors.simulators.business_registration import (
    BusinessRegistryApi,
    simulate_business_registration,
)
from connectors.simulators.civil_status import ENCODINGS_FILE as CIVIL_ENCODINGS_FILE
from connectors.simulators.civil_status import FILE_PATTERNS as CIVIL_FILE_PATTERNS
from connectors.simulators.civil_status import UTF8 as CIVIL_UTF8
from connectors.simulators.civil_status import (
    cp1258_bytes,
    legacy_files,
    simulate_civil_status,
)
from connectors.simulators.document_management import simulate_document_management
from connectors.simulators.population import simulate_population
from quality.rules import enterprise_check_digit
from schemas.catalogue import AGENCY_ID_PATTERN, Dataset, default_catalogue, get_path
from schemas.codec import pack
from schemas.reference import load_admin_units

T = TypeVar("T")

CATALOGUE = default_catalogue()
DATASET_IDS: tuple[str, ...] = tuple(CATALOGUE.dataset_ids)
ICT = timezone(timedelta(hours=7), "ICT")
# Schema ids far above what any registry in the tests hands out.
UNKNOWN_SCHEMA_IDS = st.integers(min_value=100_000, max_value=2**32 - 1)

# Classes of wire input, as the closing note counts them.
RANDOM_BYTES = "random bytes"
TRUNCATED_AVRO = "truncated Avro"
WRONG_MAGIC_BYTE = "wrong magic byte"
UNKNOWN_SCHEMA_ID = "unknown schema id"
BYTES_LEFT_OVER = "Avro with bytes left over"
EMPTY_MESSAGE = "empty message"
FOREIGN_SCHEMA = "record of another dataset's schema"
RULE_BREAK = "schema-valid record breaking a rule"
NON_NFC = "non-NFC (decomposed) text"
DECIMAL_OVERFLOW = "decimal beyond its precision"
WIRE_CLASSES = (
    RANDOM_BYTES,
    TRUNCATED_AVRO,
    WRONG_MAGIC_BYTE,
    UNKNOWN_SCHEMA_ID,
    BYTES_LEFT_OVER,
    EMPTY_MESSAGE,
    FOREIGN_SCHEMA,
    RULE_BREAK,
    NON_NFC,
    DECIMAL_OVERFLOW,
)


def draw(strategy: st.SearchStrategy[T], count: int) -> list[T]:
    """Up to ``count`` distinct examples of ``strategy``, the same ones on every run."""
    found: list[T] = []

    @settings(
        max_examples=count * 3,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: T) -> None:
        if len(found) < count and value not in found:
            found.append(value)

    collect()
    return found


def nfd(text: str) -> str:
    """Text decomposed as some source systems send Vietnamese: base letters + combining marks."""
    decomposed = unicodedata.normalize("NFD", text)
    assert decomposed != text, f"{text!r} has nothing to decompose"
    return decomposed


# --- valid records ---------------------------------------------------------------------------


def _enterprise_code(sequence: int) -> str:
    """A valid Hà Tĩnh-style enterprise code; sequences whose check value is 10 are skipped."""
    while True:
        first_nine = f"30{sequence:07d}"
        check = enterprise_check_digit(first_nine)
        if check is not None and sequence % 10_000_000:
            return f"{first_nine}{check}"
        sequence += 1


def _seeds() -> dict[str, dict[str, Any]]:
    """One valid record per dataset with every optional part filled, so every rule applies."""
    enterprise = _enterprise_code(123_456)
    return {
        "citizen.person": person(
            "042195000001",
            current_residence={"commune_code": "18133", "address": "Thôn Bắc Sơn, xã Hương Sơn"},
            father_id="042060000101",
            mother_id="042165000102",
            spouse_id="042093000103",
        ),
        "civil.birth": {
            "registering_agency_id": "000.05.50.H25",
            "book_number": "01/2025",
            "registration_number": "1",
            "registering_commune_code": "18133",
            "registration_date": date(2025, 7, 14),
            "registration_type": "ON_TIME",
            "child": {
                "personal_id": "042325000123",
                "full_name": "Nguyễn Thị Ngọc Ánh",
                "gender": "FEMALE",
                "date_of_birth": date(2025, 7, 2),
                "place_of_birth": {
                    "commune_code": "18133",
                    "address": "Trạm Y tế xã Hương Sơn, Tỉnh Hà Tĩnh",
                },
                "ethnicity": "Kinh",
                "nationality": "VN",
            },
            "mother": {
                "full_name": "Lê Thị Thu Hà",
                "personal_id": "042195000456",
                "nationality": "VN",
            },
            "father": {"full_name": "Hồ Sỹ Độ", "personal_id": "042092000457", "nationality": "VN"},
            "updated_at": datetime(2025, 7, 14, 9, 5, 30, tzinfo=ICT),
        },
        "civil.marriage": {
            "registering_agency_id": "000.05.50.H25",
            "book_number": "01/2025",
            "registration_number": "1",
            "registering_commune_code": "18133",
            "registration_date": date(2025, 8, 1),
            "registration_type": "ON_TIME",
            "husband": {
                "personal_id": "042095001234",
                "full_name": "Phan Đình Quý",
                "date_of_birth": date(1995, 3, 9),
                "ethnicity": "Kinh",
                "nationality": "VN",
                "residence": {"commune_code": "18073", "address": "Số 5 đường Hà Huy Tập"},
            },
            "wife": {
                "personal_id": "042198004321",
                "full_name": "Đặng Thị Mỹ Duyên",
                "date_of_birth": date(1998, 11, 20),
                "ethnicity": "Mường",
                "nationality": "VN",
                "residence": {"commune_code": "18133", "address": "Thôn Trung Thành"},
            },
            "updated_at": datetime(2025, 8, 1, 10, 0, tzinfo=ICT),
        },
        "civil.death": {
            "registering_agency_id": "000.05.50.H25",
            "book_number": "01/2025",
            "registration_number": "1",
            "registering_commune_code": "18073",
            "registration_date": date(2025, 8, 3),
            "registration_type": "ON_TIME",
            "deceased": {
                "personal_id": "042040000777",
                "full_name": "Trần Văn Lộc",
                "gender": "MALE",
                "date_of_birth": date(1940, 5, 1),
                "ethnicity": "Kinh",
                "nationality": "VN",
            },
            "date_of_death": date(2025, 8, 1),
            "place_of_death": {"commune_code": "18073", "address": "Bệnh viện Đa khoa tỉnh"},
            "cause_of_death": "Bệnh tim mạch",
            "death_notice": {"number": "12/GBT", "issuer": "Bệnh viện Đa khoa tỉnh Hà Tĩnh"},
            "updated_at": datetime(2025, 8, 3, 15, 30, tzinfo=ICT),
        },
        "business.enterprise": {
            "enterprise_code": enterprise,
            "name_vi": "Công ty TNHH Thương mại Hồng Lĩnh",
            "name_foreign": "Hong Linh Trading Company Limited",
            "name_short": "Hồng Lĩnh Co",
            "legal_form": "SINGLE_MEMBER_LLC",
            "head_office": {"commune_code": "18073", "address": "Số 12 đường Phan Đình Phùng"},
            "charter_capital": Decimal("5000000000"),
            "legal_representative": {
                "full_name": "Trần Văn Hùng",
                "personal_id": "042085001111",
                "title": "Giám đốc",
            },
            "business_lines": [
                {"code": "4711", "name": "Bán lẻ lương thực, thực phẩm", "main": True},
                {"code": "6201", "name": "Lập trình máy vi tính", "main": False},
            ],
            "branches": [
                {
                    "branch_code": f"{enterprise}-001",
                    "name": "Chi nhánh Hương Sơn",
                    "address": "Thôn Trung Thành, xã Hương Sơn",
                    "commune_code": "18133",
                }
            ],
            "first_registered_on": date(2015, 3, 2),
            "amendment_number": 2,
            "amended_on": date(2024, 5, 6),
            "status": "ACTIVE",
            "updated_at": datetime(2026, 9, 1, 8, 0, tzinfo=ICT),
        },
        "document.record": {
            "holder_agency_id": "000.00.81.H25",
            "holder_level": "COMMUNE",
            "direction": "INCOMING",
            "issuing_agency_id": "000.00.00.H25",
            "issuing_agency_name": "Ủy ban nhân dân tỉnh Hà Tĩnh",
            "issue_date": date(2026, 4, 22),
            "number_symbol": "44/QĐ-UBND",
            "document_type": "QUYET_DINH",
            "subject": "Về việc thành lập Tổ công tác bảo đảm an toàn thông tin mạng",
            "signer_name": "Hồ Văn Sáu",
            "signer_title": "KT. CHỦ TỊCH PHÓ CHỦ TỊCH",
            "digitally_signed": True,
            "received_at": datetime(2026, 4, 23, 8, 0, tzinfo=ICT),
            "sent_at": datetime(2026, 4, 22, 16, 0, tzinfo=ICT),
            "processing_deadline": date(2026, 5, 6),
            "handling_unit": "Văn phòng Ủy ban nhân dân xã",
            "processing_status": "IN_PROGRESS",
            "processed_online": True,
            "updated_at": datetime(2026, 4, 23, 9, 0, tzinfo=ICT),
        },
    }


def seed(dataset_id: str) -> dict[str, Any]:
    """A fresh copy of the dataset's valid seed record."""
    return copy.deepcopy(_seeds()[dataset_id])


def rekeyed(dataset_id: str, number: int) -> dict[str, Any]:
    """The seed under the ``number``-th distinct key; still valid (numbers from 1 to 999,999)."""
    record = seed(dataset_id)
    if dataset_id == "citizen.person":
        # Digits 1-6 carry province, century, gender and birth year; 7-12 are free.
        record["personal_id"] = f"{record['personal_id'][:6]}{number:06d}"
    elif dataset_id.startswith("civil."):
        record["registration_number"] = f"{number}"
    elif dataset_id == "business.enterprise":
        code = _enterprise_code(200_000 + number * 3)
        record["enterprise_code"] = code
        record["branches"][0]["branch_code"] = f"{code}-001"
    elif dataset_id == "document.record":
        record["number_symbol"] = f"{number + 9}/QĐ-UBND"
    else:
        raise ValueError(f"no rekeying for {dataset_id}")
    return record


# --- record surgery --------------------------------------------------------------------------

_STEP = re.compile(r"(?P<name>[^.\[\]]+)(?:\[(?P<index>\d+)\])?")


def with_value(record: Mapping[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``record`` with ``path`` set: ``a.b``, ``a[0].b``, or ``a[].b`` for item 0."""
    changed = copy.deepcopy(dict(record))
    steps = [_STEP.fullmatch(step) for step in path.replace("[]", "[0]").split(".")]
    target: Any = changed
    for number, step in enumerate(steps):
        assert step is not None, path
        last = number == len(steps) - 1
        name, index = step["name"], step["index"]
        if index is None and last:
            target[name] = value
        elif index is None:
            target = target[name]
        elif last:
            target[name][int(index)] = value
        else:
            target = target[name][int(index)]
    return changed


def value_at(record: Mapping[str, Any], path: str) -> Any:
    """The value at ``path`` (``a[].b`` meaning item 0), ``None`` when absent."""
    if "[]" not in path:
        return get_path(dict(record), path)
    array, _, rest = path.partition("[].")
    items = get_path(dict(record), array) or [None]
    return get_path(items[0], rest) if isinstance(items[0], dict) else None


# --- schema-valid records that break one rule each ------------------------------------------


@dataclass(frozen=True)
class RuleBreak:
    """A schema-valid record the validator must reject with ``rule`` among its failures."""

    kind: str
    dataset: str
    label: str
    record: dict[str, Any]
    rule: str


_NOT_TWELVE_DIGITS = st.text(
    alphabet=st.sampled_from("0123456789 -.Oo٣０\u00a0"), min_size=1, max_size=14
).filter(lambda text: not (len(text) == 12 and text.isascii() and text.isdigit()) and text.strip())
_UNKNOWN_AGENCY = st.text(
    alphabet=st.sampled_from("0123456789.HGX -"), min_size=1, max_size=16
).filter(lambda text: text.strip() and not AGENCY_ID_PATTERN.fullmatch(text))
_VIETNAMESE = (
    "Nguyễn Thị Hồng Nhung",
    "Thôn Bắc Sơn, xã Hương Sơn",
    "Ủy ban nhân dân tỉnh Hà Tĩnh",
    "Mường",
    "Bán lẻ lương thực, thực phẩm",
    "Về việc đôn đốc triển khai chuyển đổi số",
)


def _shift(value: date, days: int) -> date:
    return value + timedelta(days=days)


def _same_kind(template: Any, day: date) -> date:
    """``day`` as a date or, when ``template`` is a timestamp, as 08:00 Vietnam time that day."""
    if isinstance(template, datetime):
        return datetime.combine(day, time(8), ICT)
    return day


def _day(value: date) -> date:
    if isinstance(value, datetime):
        return value.astimezone(ICT).date()
    return value


def _personal_id_breaks(params: Mapping[str, Any], record: dict[str, Any]) -> list[tuple[Any, str]]:
    path = params["field"]
    valid = value_at(record, path)
    assert isinstance(valid, str), f"seed has no {path}"
    century, parity = int(valid[3]) // 2, int(valid[3]) % 2
    breaks: list[tuple[Any, str]] = [
        (text, "personal_id.shape") for text in draw(_NOT_TWELVE_DIGITS, 4)
    ]
    provinces = {f"{int(code):03d}" for code in load_admin_units().province_codes()}
    breaks += [
        (prefix + valid[3:], "personal_id.province")
        for prefix in ("000", "099", "999")
        if prefix not in provinces
    ]
    if params.get("birth_date"):
        other_century = (century + 1) % 3
        breaks.append(
            (f"{valid[:3]}{other_century * 2 + parity}{valid[4:]}", "personal_id.century")
        )
        other_year = f"{(int(valid[4:6]) + 7) % 100:02d}"
        breaks.append((f"{valid[:4]}{other_year}{valid[6:]}", "personal_id.birth_year"))
    if params.get("gender") or params.get("gender_is"):
        breaks.append((f"{valid[:3]}{century * 2 + 1 - parity}{valid[4:]}", "personal_id.gender"))
    return breaks


def _enterprise_breaks(params: Mapping[str, Any], record: dict[str, Any]) -> list[tuple[Any, str]]:
    valid = value_at(record, params["field"])
    if params.get("kind") == "branch":
        other = _enterprise_code(654_321)
        return [
            (f"{valid[:10]}-000", "enterprise_code.branch_suffix"),
            (f"{other}-001", "enterprise_code.parent"),
            (f"{valid[:10]}002", "enterprise_code.shape"),
            (f"{valid[:10]}-1", "enterprise_code.shape"),
        ]
    wrong_check = f"{valid[:9]}{(int(valid[9]) + 1) % 10}"
    return [
        (wrong_check, "enterprise_code.check_digit"),
        (f"30{'0' * 7}{enterprise_check_digit('300000000')}", "enterprise_code.sequence"),
        (valid[:9], "enterprise_code.shape"),
        (f"{valid}1", "enterprise_code.shape"),
        ("٣٠٠١٢٣٤٥٦٧", "enterprise_code.shape"),
    ]


def _rule_breaks(dataset: Dataset, rule: str, params: Mapping[str, Any]) -> Iterable[RuleBreak]:
    """Records breaking one catalogue rule of ``dataset``, several ways each."""
    base = seed(dataset.id)

    def broken(
        label: str, path: str, value: Any, expected: str, kind: str = RULE_BREAK
    ) -> RuleBreak:
        return RuleBreak(
            kind, dataset.id, f"{rule} {path}: {label}", with_value(base, path, value), expected
        )

    if rule == "required":
        for path in params["fields"]:
            for blank in ("", "   ", "\t\n"):
                yield broken(f"{blank!r}", path, blank, "required")
    elif rule == "personal_id":
        for value, expected in _personal_id_breaks(params, base):
            yield broken(f"{value!r}", params["field"], value, expected)
    elif rule == "not_in_future":
        path = params["field"]
        template = value_at(base, path)
        # Two days on, whatever the time zone; before 9000, far from the calendar's end.
        last = (date(9000, 1, 1) - date.today()).days
        for days in draw(st.integers(min_value=2, max_value=last), 3):
            future = _shift(date.today(), days)
            yield broken(f"+{days} days", path, _same_kind(template, future), "date.not_in_future")
    elif rule == "admin_unit":
        path = params["field"]
        for code in ("99999", "00000", "1807", "18073 ", "ABCDE", "１８０７３"):
            yield broken(f"{code!r}", path, code, "admin_unit.unknown")
    elif rule == "nfc":
        for number, path in enumerate(params["fields"]):
            text = _VIETNAMESE[number % len(_VIETNAMESE)]
            yield broken("NFD", path, nfd(text), "text.nfc", NON_NFC)
    elif rule == "agency_id":
        for text in [*draw(_UNKNOWN_AGENCY, 3), "000.00.00.h25", "000.00.00.H25\n"]:
            yield broken(f"{text!r}", params["field"], text, "agency_id.shape")
    elif rule == "date_order":
        earlier, later = params["earlier"], params["later"]
        later_value = value_at(base, later)
        assert later_value is not None, f"seed has no {later}"
        for days in draw(st.integers(min_value=1, max_value=30), 3):
            moved = _same_kind(value_at(base, earlier), _shift(_day(later_value), days))
            yield broken(f"{earlier} {days} days after {later}", earlier, moved, "date.order")
    elif rule == "min_age":
        birth, as_of, years = params["birth_date"], params["as_of"], params["years"]
        on = _day(value_at(base, as_of))
        for short in draw(st.integers(min_value=1, max_value=365 * years - 1), 3):
            yield broken(
                f"{short} days short",
                birth,
                on - timedelta(days=365 * years - short),
                "date.min_age",
            )
    elif rule == "enterprise_code":
        for value, expected in _enterprise_breaks(params, base):
            yield broken(f"{value!r}", params["field"], value, expected)
    elif rule == "vsic_code":
        for code, expected in (
            ("471", "vsic_code.shape"),
            ("47111", "vsic_code.shape"),
            ("47a1", "vsic_code.shape"),
            ("４７１１", "vsic_code.shape"),
            ("0400", "vsic_code.division"),
            ("3400", "vsic_code.division"),
        ):
            yield broken(f"{code!r}", params["field"], code, expected)
    elif rule == "exactly_one":
        array = params["field"].partition("[]")[0]
        lines = base[array]
        for label, flags in (
            ("no main line", [False] * len(lines)),
            ("two main lines", [True] * len(lines)),
        ):
            changed = [{**line, "main": flag} for line, flag in zip(lines, flags, strict=True)]
            yield broken(label, array, changed, "array.exactly_one")
    elif rule == "document_number":
        for text, expected in (
            ("44-QĐ-UBND", "document_number.shape"),
            ("QĐ-UBND", "document_number.shape"),
            ("44/ÐQ-UBND", "document_number.shape"),
            ("44/qđ-ubnd", "document_number.shape"),
            ("5/QĐ-UBND", "document_number.number"),
            ("007/QĐ-UBND", "document_number.number"),
            ("20/2019/QĐ-UBND", "document_number.year"),
        ):
            yield broken(f"{text!r}", params["field"], text, expected)
    else:
        raise AssertionError(f"the corpus has no breaks for rule {rule!r}: add them")


def rule_breaks(dataset_id: str) -> list[RuleBreak]:
    """Schema-valid records breaking every rule the catalogue declares for the dataset."""
    dataset = CATALOGUE.dataset(dataset_id)
    return [
        found for spec in dataset.rules for found in _rule_breaks(dataset, spec.rule, spec.params)
    ]


# --- the wire corpus -------------------------------------------------------------------------


@dataclass(frozen=True)
class WireItem:
    """Bytes for ``raw.<dataset>`` that the validator must dead-letter.

    Attributes:
        kind: The class of bad input.
        dataset: The dataset whose raw topic gets it.
        label: What exactly is wrong.
        value: The message value.
        rule: A failure rule the dead letter must name (a prefix for decode failures).
    """

    kind: str
    dataset: str
    label: str
    value: bytes
    rule: str


def encoder(schema_ids: Mapping[str, int]) -> Callable[[str, dict[str, Any]], bytes]:
    """Encode a dataset's record in the wire format under the id its raw subject has."""
    parsed = {
        dataset_id: parse_schema(CATALOGUE.dataset(dataset_id).avro_schema())
        for dataset_id in schema_ids
    }

    def encode(dataset_id: str, record: dict[str, Any]) -> bytes:
        return pack(schema_ids[dataset_id], parsed[dataset_id], record)

    return encode


def wire_corpus(schema_ids: Mapping[str, int]) -> list[WireItem]:
    """Every bad wire item for every dataset, each payload distinct within its dataset.

    Args:
        schema_ids: The registry id of each dataset's raw schema.
    """
    encode = encoder(schema_ids)
    items: list[WireItem] = []
    for number, dataset_id in enumerate(DATASET_IDS):
        good = encode(dataset_id, seed(dataset_id))
        body_length = len(good) - 5

        def item(
            kind: str, label: str, value: bytes, rule: str, dataset_id: str = dataset_id
        ) -> None:
            items.append(WireItem(kind, dataset_id, label, value, rule))

        for data in draw(st.binary(min_size=1, max_size=300), 20):
            item(RANDOM_BYTES, f"{len(data)} random bytes", data, "decode.")
        for cut in sorted({round(5 + body_length * share / 16) for share in range(16)}):
            item(TRUNCATED_AVRO, f"cut at byte {cut} of {len(good)}", good[:cut], "decode.")
        for magic in draw(st.integers(min_value=1, max_value=255), 12):
            item(
                WRONG_MAGIC_BYTE,
                f"magic byte {magic}",
                bytes([magic]) + good[1:],
                "decode.wire_format",
            )
        for schema_id in draw(UNKNOWN_SCHEMA_IDS, 10):
            header = b"\x00" + schema_id.to_bytes(4, "big")
            item(
                UNKNOWN_SCHEMA_ID,
                f"schema id {schema_id}",
                header + good[5:],
                "decode.unknown_schema",
            )
        for tail in draw(st.binary(min_size=1, max_size=16), 5):
            item(
                BYTES_LEFT_OVER,
                f"{len(tail)} bytes after the record",
                good + tail,
                "decode.avro_body",
            )
        item(EMPTY_MESSAGE, "no bytes at all", b"", "decode.wire_format")
        other = DATASET_IDS[(number + 1) % len(DATASET_IDS)]
        item(FOREIGN_SCHEMA, f"a valid {other} record", encode(other, seed(other)), "required")
        for broken in rule_breaks(dataset_id):
            item(broken.kind, broken.label, encode(dataset_id, broken.record), broken.rule)
        for digits in _decimal_overflows(dataset_id):
            record = {**seed(dataset_id), "charter_capital": digits}
            value = _loosely_encoded(dataset_id, schema_ids[dataset_id], record)
            item(
                DECIMAL_OVERFLOW,
                f"charter_capital of {len(str(digits))} digits",
                value,
                "decode.avro_body",
            )
    distinct: dict[tuple[str, bytes], WireItem] = {}
    for found in items:
        distinct.setdefault((found.dataset, found.value), found)
    return list(distinct.values())


def _decimal_overflows(dataset_id: str) -> list[Decimal]:
    if dataset_id != "business.enterprise":
        return []
    return [Decimal(10**digits - 7) for digits in draw(st.integers(min_value=19, max_value=40), 3)]


def _loosely_encoded(dataset_id: str, schema_id: int, record: dict[str, Any]) -> bytes:
    """The record under its real schema id, written as if every decimal had precision 60.

    What a producer with a wider copy of the schema sends: the Avro bytes of a decimal carry
    no precision, so nothing but the reader can notice.
    """
    loose = copy.deepcopy(CATALOGUE.dataset(dataset_id).avro_schema())
    for field in loose["fields"]:
        for branch in field["type"] if isinstance(field["type"], list) else [field["type"]]:
            if isinstance(branch, dict) and branch.get("logicalType") == "decimal":
                branch["precision"] = 60
    return pack(schema_id, parse_schema(loose), record)


def good_wire_records(dataset_id: str, count: int, first: int) -> list[dict[str, Any]]:
    """``count`` valid records of the dataset under distinct keys, numbered from ``first``."""
    return [rekeyed(dataset_id, number) for number in range(first, first + count)]


def count_by_kind(kinds: Iterable[str]) -> dict[str, int]:
    """How many inputs of each class, most first."""
    return dict(Counter(kinds).most_common())


# --- the source corpus -----------------------------------------------------------------------

BAD_SQL_ROW = "bad SQL row (population)"
BAD_CSV_ROW = "bad CSV row (civil status)"
BAD_JSON_ITEM = "bad JSON item (business registration API)"
BAD_JSON_FILE = "bad JSON document (document management)"
MALFORMED_XML = "malformed edXML (document management)"
ENTITY_BOMB = "XML entity bomb"
EXTERNAL_ENTITY = "XML external entity (XXE)"
DEEP_JSON = "deep nesting in JSON"
DEEP_XML = "deep nesting in XML"
HUGE_STRING = "huge string (megabytes)"
HUGE_NUMBER = "number too long to parse"
INVALID_UTF8 = "invalid UTF-8 text"
UNPLACEABLE = "row without its ordering key"
OVERSIZE_FILE = "file over max_file_bytes"
# Poison the connector repairs on the way: it must arrive, repaired, like a good record.
REPAIRED_NFD = "decomposed (NFD) source text, repaired"
REPAIRED_OTHER = "harmless oddity, read as good"
# Before the system clock, so "not in the future" holds; the civil exports straddle 1 July 2025.
START = datetime(2025, 9, 1, tzinfo=UTC)
# Text of this many characters makes a record over the 1 MB a Kafka message may hold.
MEGABYTES = 1_200_000
TOO_LARGE = "too large to publish"
BUSINESS_API_KEY = "dkdn-poison-5c1e"


@dataclass(frozen=True)
class SourceItem:
    """One poisoned row, line, item or file a connector is handed."""

    kind: str
    label: str


@dataclass
class PoisonedSource:
    """A source holding good rows and poison; built by the ``*_source`` functions below.

    Attributes:
        dataset: The catalogue dataset the connector feeds.
        connector: The connector, pointed at the source.
        bad: Poison that must end as dead letters, in source order.
        repaired: Poison the connector repairs; published like the good rows.
        good: Rows that must be published, ``repaired`` included.
    """

    dataset: str
    connector: Connector[Any]
    bad: list[SourceItem]
    repaired: list[SourceItem]
    good: int


def _text_draws(count: int, *, refuse: Callable[[str], bool], max_size: int = 8) -> list[str]:
    return draw(st.text(max_size=max_size).filter(lambda text: not refuse(text)), count)


def _is_iso_date(text: Any) -> bool:
    try:
        date.fromisoformat(str(text))
    except ValueError:
        return False
    return True


class RawText(bytes):
    """Bytes a SQLite source stores as TEXT, whether or not they are UTF-8."""


def population_source(directory: Path) -> PoisonedSource:
    """A population database (SQLite, no constraints) with bad rows among simulated ones."""
    simulate_population(directory / "simulated", 30, 0.0, seed=8, start=START)
    with sqlite3.connect(directory / "simulated" / "population.db") as simulated:
        simulated.row_factory = sqlite3.Row
        good = [dict(row) for row in simulated.execute("SELECT * FROM citizen ORDER BY updated_at")]
    columns = list(good[0])
    bad: list[tuple[SourceItem, dict[str, Any]]] = []

    def poison(kind: str, label: str, **changes: Any) -> None:
        base = good[len(bad) % len(good)]
        row = {**base, "personal_id": f"P{len(bad):04d}", **changes}
        bad.append((SourceItem(kind, label), row))

    for gender in [*_text_draws(6, refuse=lambda text: text.upper() in ("M", "F")), None, 7, b"M"]:
        poison(BAD_SQL_ROW, f"gender {gender!r}", gender=gender)
    for born in [
        *_text_draws(5, refuse=_is_iso_date, max_size=12),
        "1995-02-31",
        "31/12/1995",
        b"1995-08-02",
        None,
    ]:
        poison(BAD_SQL_ROW, f"date_of_birth {born!r}", date_of_birth=born)
    poison(HUGE_STRING, "date_of_birth of 200,000 digits", date_of_birth="1" * 200_000)
    for updated in ("hôm qua", "2026-13-01T00:00:00", 1.5):
        poison(BAD_SQL_ROW, f"updated_at {updated!r}", updated_at=updated)
    poison(UNPLACEABLE, "updated_at a BLOB, which no offset file keeps", updated_at=b"\x00")
    for level in ("abc", "1.5", 2.5, "٣", 2**40):
        poison(BAD_SQL_ROW, f"eid_level {level!r}", eid_level=level)
    for column, value in (
        ("full_name", None),
        ("full_name", 42),
        ("full_name", b"\xff\xfe"),
        ("permanent_address", None),
        ("permanent_commune_code", None),
        ("birth_registration_commune_code", 18073),
    ):
        poison(BAD_SQL_ROW, f"{column} {value!r}", **{column: value})
    for column, value in (
        ("full_name", RawText(b"Ng\xffy\xe1n V\xe0n")),
        ("full_name", RawText(b"\xed\xa0\x80")),
        ("permanent_address", RawText(b"Th\xc3\x28n 1")),
        ("gender", RawText(b"\xff")),
    ):
        poison(INVALID_UTF8, f"{column} bytes {bytes(value)!r}", **{column: value})
    for number in range(2):
        poison(UNPLACEABLE, f"updated_at NULL ({number + 1})", updated_at=None)
    poison(UNPLACEABLE, "personal_id NULL", personal_id=None)
    poison(
        HUGE_STRING,
        f"full_name of {MEGABYTES:,} characters, {TOO_LARGE}",
        full_name="Nguyễn Văn " * (MEGABYTES // 11),
    )
    repaired = []
    for number, row in enumerate(good[:3]):
        row["full_name"] = nfd(row["full_name"])
        row["permanent_address"] = unicodedata.normalize("NFD", row["permanent_address"])
        repaired.append(SourceItem(REPAIRED_NFD, f"NFD full_name, row {number + 1}"))

    path = directory / "population.db"
    with sqlite3.connect(path) as connection:
        connection.execute(f"CREATE TABLE citizen ({', '.join(columns)})")
        for row in [*good, *(row for _, row in bad)]:
            values = [row[column] for column in columns]
            marks = ", ".join("CAST(? AS TEXT)" if isinstance(v, RawText) else "?" for v in values)
            connection.execute(
                f"INSERT INTO citizen VALUES ({marks})",
                [bytes(v) if isinstance(v, RawText) else v for v in values],
            )
    connector = PopulationConnector(
        PopulationConfig(database_url=f"sqlite:///{path}", batch_size=16)
    )
    return PoisonedSource(
        "citizen.person", connector, [item for item, _ in bad], repaired, len(good)
    )


_VN_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_CIVIL_GENDERS = {"nam", "nữ", "male", "female"}
_CIVIL_TYPES = {"đúng hạn", "quá hạn", "đăng ký lại", "có yếu tố nước ngoài"}
_CIVIL_TYPES |= {"on_time", "late", "re_registration", "foreign_element"}
# Per event type: a second date, the gender (deaths and births), the nationality, a free text
# and a name column, in the export's own Vietnamese headers.
_CIVIL_COLUMNS: dict[str, dict[str, str | None]] = {
    "civil.birth": {
        "date": "Ngày sinh",
        "gender": "Giới tính",
        "nationality": "Quốc tịch",
        "text": "Nơi sinh",
        "name": "Họ và tên",
    },
    "civil.marriage": {
        "date": "Ngày sinh chồng",
        "gender": None,
        "nationality": "Quốc tịch vợ",
        "text": "Nơi cư trú chồng",
        "name": "Họ và tên chồng",
    },
    "civil.death": {
        "date": "Ngày chết",
        "gender": "Giới tính",
        "nationality": "Quốc tịch",
        "text": "Nơi chết",
        "name": "Họ và tên người chết",
    },
}


def _is_vn_date(text: str) -> bool:
    found = _VN_DATE.fullmatch(text.strip())
    if found is None:
        return False
    day, month, year = (int(part) for part in found.groups())
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def _csv_line(fields: Iterable[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(list(fields))
    return buffer.getvalue()


def civil_sources(directory: Path) -> list[PoisonedSource]:
    """Simulated civil-status exports plus one poisoned export per event type."""
    simulate_civil_status(directory, 90, 0.0, seed=5, start=START)
    config = CivilStatusConfig(directory=directory, legacy_files=legacy_files(directory))
    encodings = json.loads((directory / CIVIL_ENCODINGS_FILE).read_text(encoding="utf-8"))
    return [
        _civil_export(connector_type(config), directory, encodings)
        for connector_type in (CivilBirthConnector, CivilMarriageConnector, CivilDeathConnector)
    ]


class _Export:
    """The lines of a poisoned export: a good line among every few bad ones."""

    def __init__(self, header: list[str], base: dict[str, str]) -> None:
        self.header = header
        self.base = base
        self.lines: list[bytes] = []
        self.bad: list[SourceItem] = []
        self.extra_good = 0

    def fields(self, **changes: str) -> list[str]:
        row = {**self.base, **changes}
        return [row[column] for column in self.header]

    def add(self, kind: str, label: str, line: str | bytes) -> None:
        if len(self.bad) % 6 == 5:
            # A good line under its own registration number, and a blank one, among the bad.
            self.extra_good += 1
            good = self.fields(**{"Số đăng ký": f"P{self.extra_good}"})
            self.lines += [_csv_line(good).encode("utf-8"), b""]
        self.lines.append(line if isinstance(line, bytes) else line.encode("utf-8"))
        self.bad.append(SourceItem(kind, label))

    def changed(self, kind: str, column: str, values: Iterable[str]) -> None:
        for value in values:
            self.add(kind, f"{column} {value!r}", _csv_line(self.fields(**{column: value})))

    def data(self) -> bytes:
        return b"\r\n".join([",".join(self.header).encode("utf-8"), *self.lines]) + b"\r\n"


def _civil_export(
    connector: CivilStatusConnector, directory: Path, encodings: Mapping[str, str]
) -> PoisonedSource:
    dataset = connector.dataset
    simulated = sum(1 for _ in connector.records(None))
    pattern = CIVIL_FILE_PATTERNS[dataset]
    template = next(
        path for path in sorted(directory.glob(pattern)) if encodings.get(path.name) == CIVIL_UTF8
    )
    header, first = list(csv.reader(template.read_text(encoding="utf-8").splitlines()))[:2]
    export = _Export(header, dict(zip(header, first, strict=True)))
    columns = _CIVIL_COLUMNS[dataset]

    export.add(BAD_CSV_ROW, "a field short", _csv_line(export.fields()[:-1]))
    export.add(BAD_CSV_ROW, "a field too many", _csv_line([*export.fields(), "thừa"]))
    export.add(BAD_CSV_ROW, "two empty fields too many", _csv_line([*export.fields(), "", ""]))
    not_dates = st.text(alphabet="0123456789/", min_size=1, max_size=10).filter(
        lambda text: not _is_vn_date(text)
    )
    registered = ["31/02/2025", "32/01/2025", "2025-07-14", "14/13/2025", "hôm nay"]
    export.changed(BAD_CSV_ROW, "Ngày đăng ký", [*registered, *draw(not_dates, 2)])
    export.changed(BAD_CSV_ROW, str(columns["date"]), ["30/02/2020", "00/01/2020"])
    times = ["14/07/2025", "14/07/2025 25:00:00", "14/07/2025 09:61"]
    export.changed(BAD_CSV_ROW, "Thời điểm cập nhật", times)
    if columns["gender"] is not None:
        genders = _text_draws(4, refuse=lambda text: _folded(text) in _CIVIL_GENDERS)
        export.changed(BAD_CSV_ROW, columns["gender"], [*genders, "N\x00am"])
    types = _text_draws(3, refuse=lambda text: _folded(text) in _CIVIL_TYPES)
    export.changed(BAD_CSV_ROW, "Loại đăng ký", types)
    countries = ["Xứ Sở Thần Tiên", "vn", "Việt Nam Dân Chủ Cộng Hòa"]
    export.changed(BAD_CSV_ROW, str(columns["nationality"]), countries)
    name = str(columns["name"])
    valid_name = export.base[name].encode("utf-8")
    spoiled = (
        _csv_line(export.fields()).encode("utf-8").replace(valid_name, valid_name + b"\xff\xfe", 1)
    )
    export.add(INVALID_UTF8, f"{name} with bytes FF FE", spoiled)
    export.add(
        INVALID_UTF8,
        "a Windows-1258 line in a UTF-8 export",
        cp1258_bytes(_csv_line(export.fields())),
    )
    text = str(columns["text"])
    quoted = _csv_line(export.fields(**{text: "@@"})).replace("@@", '"Trạm"x', 1)
    export.add(BAD_CSV_ROW, "a quote closed mid-field", quoted)
    huge = _csv_line(export.fields(**{text: "x" * 200_000}))
    export.add(HUGE_STRING, f"{text} of 200,000 characters", huge)
    unterminated = _csv_line(export.fields(**{text: "@@"})).replace("@@", '"Trạm y tế', 1)
    export.add(BAD_CSV_ROW, "a quote never closed, at the end of the export", unterminated)

    prefix = pattern.removesuffix("*.csv")
    (directory / f"{prefix}99991231_poison.csv").write_bytes(export.data())
    return PoisonedSource(dataset, connector, export.bad, [], simulated + export.extra_good)


def _folded(text: str) -> str:
    return " ".join(text.split()).casefold()


def _nested(depth: int, leaf: str = "1") -> str:
    """JSON text nesting lists ``depth`` deep."""
    return "[" * depth + leaf + "]" * depth


@contextmanager
def business_source(directory: Path) -> Iterator[PoisonedSource]:
    """A simulated business registry with poisoned items, served by the simulated API."""
    bad, repaired, good = _poisoned_registry(directory)
    with BusinessRegistryApi(directory, BUSINESS_API_KEY) as api:
        config = BusinessRegistrationConfig(
            base_url=api.url, api_key=BUSINESS_API_KEY, page_size=10, max_retries=0
        )
        connector = BusinessRegistrationConnector(config)
        yield PoisonedSource("business.enterprise", connector, bad, repaired, good)


def _poisoned_registry(directory: Path) -> tuple[list[SourceItem], list[SourceItem], int]:
    """Write the registry; returns the bad items, the repaired ones and how many to publish."""
    simulate_business_registration(directory, 30, 0.0, seed=7, start=START)
    database = directory / "business_registration.db"
    with sqlite3.connect(database) as connection:
        simulated = connection.execute(
            "SELECT enterprise_code, updated_at, body FROM enterprise ORDER BY updated_at"
        ).fetchall()
    times = [updated for _, updated, _ in simulated]
    template = json.loads(simulated[0][2])
    rows: list[tuple[str, str, str]] = []
    bad: list[SourceItem] = []
    repaired: list[SourceItem] = []

    def placed(number: int, **changes: Any) -> dict[str, Any]:
        code = _enterprise_code(700_000 + number * 7)
        updated = times[number % len(times)]
        body = {**template, "enterprise_code": code, "updated_at": updated, "branches": []}
        body.update(changes)
        return body

    def item(
        kind: str, label: str, body: str, code: str | None = None, updated: str | None = None
    ) -> None:
        number = len(rows)
        rows.append((code or f"Z{number:04d}", updated or times[number % len(times)], body))
        bad.append(SourceItem(kind, label))

    def item_with(kind: str, label: str, **changes: Any) -> None:
        body = placed(len(rows), **changes)
        item(
            kind,
            label,
            json.dumps(body, ensure_ascii=False),
            body["enterprise_code"],
            body["updated_at"],
        )

    for field in (
        "name_vi",
        "legal_form",
        "head_office",
        "legal_representative",
        "first_registered_on",
        "status",
    ):
        body = placed(len(rows))
        del body[field]
        item(
            BAD_JSON_ITEM,
            f"{field} missing",
            json.dumps(body, ensure_ascii=False),
            body["enterprise_code"],
            body["updated_at"],
        )
    wrong_types: dict[str, st.SearchStrategy[Any]] = {
        "name_vi": st.one_of(st.integers(), st.booleans(), st.lists(st.integers(), max_size=2)),
        "amendment_number": st.one_of(
            st.text(max_size=3), st.floats(allow_nan=False, allow_infinity=False), st.booleans()
        ),
        "head_office": st.one_of(
            st.text(max_size=5), st.integers(), st.lists(st.text(max_size=2), max_size=2)
        ),
        "business_lines": st.one_of(
            st.text(max_size=3), st.integers(), st.lists(st.integers(), min_size=1, max_size=2)
        ),
        "first_registered_on": st.text(max_size=8).filter(lambda text: not _is_iso_date(text)),
    }
    for field, strategy in wrong_types.items():
        for value in draw(strategy, 3):
            item_with(BAD_JSON_ITEM, f"{field} {value!r}", **{field: value})
    for value in ("một tỷ", True, [], "NaN", "Infinity", "1e999", "1" * 40):
        item_with(BAD_JSON_ITEM, f"charter_capital {value!r}", charter_capital=value)
    legal_forms = {
        "PRIVATE_ENTERPRISE",
        "SINGLE_MEMBER_LLC",
        "MULTI_MEMBER_LLC",
        "JOINT_STOCK_COMPANY",
        "PARTNERSHIP",
    }
    for value in _text_draws(3, refuse=lambda text: text in legal_forms):
        item_with(BAD_JSON_ITEM, f"legal_form {value!r}", legal_form=value)
    for body_text in ("42", '"chuỗi"', "[1, 2]", "null", "true", '{"name_vi": "Công ty không mã"}'):
        item(UNPLACEABLE, f"item {body_text}", body_text)
    item_with(UNPLACEABLE, "updated_at 'hôm qua'", updated_at="hôm qua")
    item_with(UNPLACEABLE, "enterprise_code 3001234567 as a number", enterprise_code=3001234567)
    item_with(DEEP_JSON, "name_foreign nested 100 deep", name_foreign=json.loads(_nested(100)))
    deep = placed(len(rows))
    text = json.dumps(deep, ensure_ascii=False)[:-1] + f', "extra": {_nested(20_000)}}}'
    item(
        DEEP_JSON,
        "an extra field nested 20,000 deep",
        text,
        deep["enterprise_code"],
        deep["updated_at"],
    )
    long_number = placed(len(rows))
    text = (
        json.dumps(long_number, ensure_ascii=False)[:-1] + f', "amendment_number": {"7" * 5000}}}'
    )
    item(
        HUGE_NUMBER,
        "amendment_number of 5,000 digits",
        text,
        long_number["enterprise_code"],
        long_number["updated_at"],
    )
    invalid = placed(len(rows))
    text = json.dumps(invalid, ensure_ascii=False)[:-1] + ', "status": tru}'
    item(BAD_JSON_ITEM, "the literal tru", text, invalid["enterprise_code"], invalid["updated_at"])
    lone = placed(len(rows))
    text = json.dumps(lone, ensure_ascii=False).replace('"name_vi": "', '"name_vi": "\\udcff', 1)
    item(
        INVALID_UTF8,
        "name_vi holding an unpaired surrogate escape",
        text,
        lone["enterprise_code"],
        lone["updated_at"],
    )
    item_with(
        HUGE_STRING,
        f"name_vi of {MEGABYTES:,} characters, {TOO_LARGE}",
        name_vi="Công ty " * (MEGABYTES // 8),
    )

    def good_item(kind: str, label: str, body: dict[str, Any], updated: str) -> None:
        rows.append((body["enterprise_code"], updated, json.dumps(body, ensure_ascii=False)))
        repaired.append(SourceItem(kind, label))

    for number in range(2):
        body = placed(len(rows))
        body["name_vi"] = nfd(body["name_vi"])
        good_item(REPAIRED_NFD, f"NFD name_vi ({number + 1})", body, body["updated_at"])
    behind = placed(len(rows))
    behind["updated_at"] = times[0]
    good_item(
        REPAIRED_OTHER,
        "an item whose own updated_at falls behind the page order",
        behind,
        times[-1],
    )
    with sqlite3.connect(database) as connection:
        connection.executemany("INSERT INTO enterprise VALUES (?, ?, ?)", rows)
    return bad, repaired, len(simulated) + len(repaired)


def _billion_laughs(levels: int, width: int) -> bytes:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{level} "{("&lol" + str(level - 1) + ";") * width}">'
        for level in range(1, levels)
    ]
    doctype = f"<!DOCTYPE edXML [{''.join(entities)}]>"
    return f'<?xml version="1.0"?>{doctype}<edXML>&lol{levels - 1};</edXML>'.encode()


def _xxe(declaration: str, reference: str) -> bytes:
    return (
        f'<?xml version="1.0"?><!DOCTYPE edXML [{declaration}]><edXML>{reference}</edXML>'.encode()
    )


def document_source(directory: Path) -> PoisonedSource:
    """A simulated exchange folder with poisoned edXML and JSON files among the simulated ones."""
    simulate_document_management(directory, 30, 0.0, seed=9, start=START)
    folder = directory / "exchange"
    names = sorted(path.name for path in folder.iterdir())
    simulated = len(names)
    outgoing = ((folder / name).read_bytes() for name in names if name.endswith(".edxml"))
    edxml = next(data for data in outgoing if b"<eo:Direction>DI<" in data)
    document = json.loads(
        (folder / next(name for name in names if name.endswith(".json"))).read_text("utf-8")
    )
    max_file_bytes = 3 * 1024 * 1024
    bad: list[SourceItem] = []
    repaired: list[SourceItem] = []
    written = 0

    def write(suffix: str, data: bytes) -> None:
        nonlocal written
        stem = names[written % len(names)].split(".")[0]
        (folder / f"{stem}-p{written:03d}{suffix}").write_bytes(data)
        written += 1

    def xml(kind: str, label: str, data: bytes) -> None:
        write(".edxml", data)
        bad.append(SourceItem(kind, label))

    def replaced(old: bytes, new: bytes) -> bytes:
        assert old in edxml, old
        return edxml.replace(old, new, 1)

    for levels, width in draw(st.tuples(st.integers(2, 10), st.integers(2, 10)), 5):
        xml(
            ENTITY_BOMB,
            f"billion laughs, {levels} levels of {width}",
            _billion_laughs(levels, width),
        )
    quadratic = f'<!DOCTYPE edXML [<!ENTITY a "{"x" * 50_000}">]><edXML>{"&a;" * 2_000}</edXML>'
    xml(ENTITY_BOMB, "quadratic blowup", quadratic.encode())
    for declaration, reference in (
        ('<!ENTITY x SYSTEM "file:///etc/passwd">', "&x;"),
        ('<!ENTITY x SYSTEM "http://127.0.0.1:9/secret">', "&x;"),
        ('<!ENTITY x PUBLIC "-//LGSP//X" "http://127.0.0.1:9/x.dtd">', "&x;"),
        ('<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;', ""),
        ('<!ENTITY x SYSTEM "file:///dev/zero">', "&x;"),
    ):
        xml(EXTERNAL_ENTITY, declaration, _xxe(declaration, reference))
    depth = 100_000
    xml(
        DEEP_XML,
        f"{depth:,} nested elements, never closed",
        edxml.replace(b"</edXML:edXMLBody>", b"<a>" * depth, 1),
    )
    xml(
        DEEP_XML,
        f"an edXML root holding only {depth:,} nested elements",
        b"<edXML>" + b"<a>" * depth + b"</a>" * depth + b"</edXML>",
    )
    for cut in draw(st.integers(min_value=0, max_value=len(edxml) - 20), 5):
        xml(MALFORMED_XML, f"cut at byte {cut}", edxml[:cut])
    for data in draw(st.binary(min_size=1, max_size=200), 3):
        xml(MALFORMED_XML, f"{len(data)} random bytes", data)
    xml(MALFORMED_XML, "an HTML page", "<html><body><h1>Lỗi 500</h1></body></html>".encode())
    for element in (
        b"edXML:CodeNumber",
        b"edXML:CodeNotation",
        b"edXML:TypeName",
        b"edXML:Subject",
        b"edXML:PromulgationDate",
        b"eo:HolderOrganId",
        b"eo:HolderLevel",
        b"eo:Direction",
        b"eo:ProcessedOnline",
        b"eo:UpdatedAt",
    ):
        spoiled = re.sub(rb"<" + element + rb">[^<]*</" + element + rb">", b"", edxml, count=1)
        assert spoiled != edxml, element
        xml(MALFORMED_XML, f"{element.decode()} missing", spoiled)
    for old, new, label in (
        (b"<eo:Direction>DI<", b"<eo:Direction>NGANG<", "Direction NGANG"),
        (b"<eo:HolderLevel>", b"<eo:HolderLevel>THON", "HolderLevel THON..."),
        (b"<eo:ProcessedOnline>", "<eo:ProcessedOnline>có".encode(), "ProcessedOnline có..."),
        (
            b"<eo:Direction>DI</eo:Direction>",
            b"<eo:Direction>DEN</eo:Direction><eo:StatusCode>99</eo:StatusCode>",
            "StatusCode 99",
        ),
        (b"<edXML:PromulgationDate>", b"<edXML:PromulgationDate>22/04/", "PromulgationDate dd/mm/"),
        (b"<eo:UpdatedAt>", "<eo:UpdatedAt>hôm qua ".encode(), "UpdatedAt hôm qua"),
        (b'encoding="utf-8"', b'encoding="klingon"', "an unknown encoding"),
        (b"<edXML:Subject>", b"<edXML:Subject>\xff\xfe", "Subject with bytes FF FE"),
        (b"<edXML:Subject>", b"<edXML:Subject>\x00", "Subject with a NUL byte"),
    ):
        kind = INVALID_UTF8 if b"\xff" in new else MALFORMED_XML
        xml(kind, label, replaced(old, new))
    subject = "Về việc " * (MEGABYTES // 8)
    xml(
        HUGE_STRING,
        f"Subject of {MEGABYTES:,} characters, {TOO_LARGE}",
        replaced(b"<edXML:Subject>", f"<edXML:Subject>{subject}".encode()),
    )
    padding = b"<!--" + b"x" * max_file_bytes + b"-->"
    xml(
        OVERSIZE_FILE,
        f"{len(edxml) + len(padding):,} bytes",
        edxml.replace(b"<edXML ", padding + b"<edXML ", 1),
    )

    def json_file(kind: str, label: str, data: bytes) -> None:
        write(".json", data)
        bad.append(SourceItem(kind, label))

    text = json.dumps(document, ensure_ascii=False)
    json_file(
        DEEP_JSON,
        "recipients nested 100 deep",
        json.dumps({**document, "recipients": json.loads(_nested(100))}).encode(),
    )
    json_file(DEEP_JSON, "a document nested 20,000 deep", _nested(20_000).encode())
    for cut in draw(st.integers(min_value=0, max_value=len(text) - 2), 3):
        json_file(BAD_JSON_FILE, f"cut at character {cut}", text[:cut].encode())
    json_file(
        INVALID_UTF8,
        "subject with bytes FF FE",
        text.encode().replace(b'"subject": "', b'"subject": "\xff\xfe', 1),
    )
    json_file(
        HUGE_NUMBER,
        "page_amount of 5,000 digits",
        text.replace('"page_amount": ', '"page_amount": ' + "9" * 5000, 1).encode(),
    )
    for value in ("[]", "42", '"văn bản"'):
        json_file(BAD_JSON_FILE, f"the document {value}", value.encode())
    for field in ("subject", "number_symbol", "issue_date"):
        json_file(
            BAD_JSON_FILE,
            f"{field} missing",
            json.dumps({k: v for k, v in document.items() if k != field}).encode(),
        )
    for field, value in (
        ("digitally_signed", "có"),
        ("issue_date", "22/04/2026"),
        ("holder_level", "XA"),
        ("processed_online", None),
    ):
        json_file(
            BAD_JSON_FILE, f"{field} {value!r}", json.dumps({**document, field: value}).encode()
        )
    json_file(
        BAD_JSON_FILE,
        "holder_level NaN",
        text.replace('"holder_level": "', '"holder_level": NaN, "x": "', 1).encode(),
    )

    write(
        ".json", b"\xef\xbb\xbf" + json.dumps({**document, "number_symbol": "901/UBND-VP"}).encode()
    )
    repaired.append(SourceItem(REPAIRED_OTHER, "a JSON document behind a byte-order mark"))
    nested = edxml.replace(
        b"</edXML:edXMLBody>", b"<a>" * depth + b"</a>" * depth + b"</edXML:edXMLBody>", 1
    )
    write(".edxml", nested.replace(b"<edXML:CodeNumber>", b"<edXML:CodeNumber>90", 1))
    repaired.append(
        SourceItem(REPAIRED_OTHER, f"a valid edXML document holding {depth:,} nested elements")
    )
    config = DocumentManagementConfig(directory=folder, max_file_bytes=max_file_bytes)
    connector = DocumentManagementConnector(config)
    return PoisonedSource("document.record", connector, bad, repaired, simulated + len(repaired))


@contextmanager
def poison_sources(directory: Path) -> Iterator[list[PoisonedSource]]:
    """Every connector pointed at a poisoned source, the business registry's API running."""
    with business_source(directory / "business") as business:
        yield [
            population_source(directory / "population"),
            *civil_sources(directory / "civil"),
            business,
            document_source(directory / "documents"),
        ]


def report_counts(name: str, counts: Mapping[str, int], directory: Path) -> Path:
    """Print the inputs tried per class (seen with ``pytest -s``) and keep them as JSON."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    path.write_text(json.dumps(counts, ensure_ascii=False, indent=2), encoding="utf-8")
    width = max(map(len, counts), default=0)
    print(f"\npoison corpus, {name}: {sum(counts.values())} inputs ({path})")
    for kind, count in counts.items():
        print(f"  {kind:<{width}}  {count:>5}")
    return path


# Timestamps stop short of 9999-12-31: the last hours of the calendar have a test of their own.
_LAST_SAFE_MOMENT = datetime(9999, 12, 30)


def records_of(schema: Any, named: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:
    """Any value that fits an Avro schema: the records a producer may legally send."""
    named = {} if named is None else named
    if isinstance(schema, list):
        return st.one_of(*(records_of(branch, named) for branch in schema))
    if isinstance(schema, str):
        if schema in named:
            return st.deferred(lambda: records_of(named[schema], named))
        return {
            "null": st.none(),
            "string": st.text(max_size=24),
            "int": st.integers(-(2**31), 2**31 - 1),
            "long": st.integers(-(2**63), 2**63 - 1),
            "boolean": st.booleans(),
            "double": st.floats(),
            "float": st.floats(width=32),
            "bytes": st.binary(max_size=16),
        }[schema]
    logical = schema.get("logicalType")
    if logical == "date":
        return st.dates()
    if logical == "timestamp-millis":
        return st.datetimes(max_value=_LAST_SAFE_MOMENT, timezones=st.just(UTC)).map(
            lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        )
    if logical == "decimal":
        limit = 10 ** (schema["precision"] - schema.get("scale", 0)) - 1
        return st.decimals(min_value=-limit, max_value=limit, places=schema.get("scale", 0))
    kind = schema["type"]
    if kind == "record":
        named[schema["name"]] = schema
        if schema.get("namespace"):
            named[f"{schema['namespace']}.{schema['name']}"] = schema
        return st.fixed_dictionaries(
            {field["name"]: records_of(field["type"], named) for field in schema["fields"]}
        )
    if kind == "enum":
        named[schema["name"]] = schema
        return st.sampled_from(schema["symbols"])
    if kind == "array":
        return st.lists(records_of(schema["items"], named), max_size=3)
    if kind == "map":
        return st.dictionaries(st.text(max_size=6), records_of(schema["values"], named), max_size=3)
    return records_of(kind, named)
