"""Every catalogue dataset: its schema parses everywhere, and a realistic record round-trips.

One record per dataset, as its source system would publish it (Vietnamese text in NFC), must
encode and decode with fastavro to an equal record, pass the dataset's record rules and carry
its key.
"""

from __future__ import annotations

import io
import json
import unicodedata
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import avro.schema
import fastavro
import pytest

from quality.rules import RuleSet
from schemas.catalogue import CATALOGUE_PATH, default_catalogue, get_path

TODAY = date(2026, 3, 15)

RECORDS: dict[str, dict[str, Any]] = {
    "citizen.person": {
        "personal_id": "042185003377",
        "full_name": "Đặng Thị Thuỳ Dương",
        "date_of_birth": date(1985, 12, 3),
        "gender": "FEMALE",
        "ethnicity": "Kinh",
        "nationality": "VN",
        "birth_registration_commune_code": "18133",
        "permanent_residence": {
            "commune_code": "18133",
            "address": "Khối 7, xã Hương Sơn",
        },
        "current_residence": {
            "commune_code": "18100",
            "address": "Số 14 ngõ 3 đường Nguyễn Huy Tự, phường Trần Phú",
        },
        "father_id": None,
        "mother_id": "042158000912",
        "spouse_id": "042083001166",
        "eid_level": 2,
        "updated_at": datetime(2026, 2, 27, 3, 12, 45, 120000, tzinfo=UTC),
    },
    "civil.birth": {
        "registering_agency_id": "000.20.31.H25",
        "book_number": "01/2026",
        "registration_number": "125",
        "registering_commune_code": "18073",
        "registration_date": date(2026, 2, 10),
        "registration_type": "ON_TIME",
        "child": {
            "personal_id": "042326000517",
            "full_name": "Nguyễn Ngọc Diệp",
            "gender": "FEMALE",
            "date_of_birth": date(2026, 1, 20),
            "place_of_birth": {
                "commune_code": "18073",
                "address": "Bệnh viện Đa khoa tỉnh Hà Tĩnh",
            },
            "ethnicity": "Kinh",
            "nationality": "VN",
        },
        "mother": {
            "full_name": "Trần Thị Thu Hà",
            "personal_id": "042195000321",
            "nationality": "VN",
        },
        "father": {
            "full_name": "Nguyễn Văn Hùng",
            "personal_id": "042090001234",
            "nationality": "VN",
        },
        "updated_at": datetime(2026, 2, 10, 9, 15, 30, 250000, tzinfo=UTC),
    },
    "civil.marriage": {
        "registering_agency_id": "000.21.35.H25",
        "book_number": "01/2025",
        "registration_number": "48",
        "registering_commune_code": "18229",
        "registration_date": date(2025, 11, 22),
        "registration_type": "FOREIGN_ELEMENT",
        "husband": {
            "personal_id": None,
            "full_name": "Kim Min-jun",
            "date_of_birth": date(1994, 4, 8),
            "ethnicity": "Hàn",
            "nationality": "KR",
            "residence": {"commune_code": None, "address": "Mapo-gu, Seoul, Hàn Quốc"},
        },
        "wife": {
            "personal_id": "042199007812",
            "full_name": "Lê Thị Quỳnh Anh",
            "date_of_birth": date(1999, 9, 30),
            "ethnicity": "Kinh",
            "nationality": "VN",
            "residence": {
                "commune_code": "18229",
                "address": "Thôn Yên Khánh, xã Đức Thọ",
            },
        },
        "updated_at": datetime(2025, 11, 22, 7, 40, tzinfo=UTC),
    },
    "civil.death": {
        "registering_agency_id": "000.22.40.H25",
        "book_number": "01/2026",
        "registration_number": "07",
        "registering_commune_code": "18313",
        "registration_date": date(2026, 1, 14),
        "registration_type": "ON_TIME",
        "deceased": {
            "personal_id": "042038000215",
            "full_name": "Hoàng Văn Lợi",
            "gender": "MALE",
            "date_of_birth": date(1938, 6, 2),
            "ethnicity": "Kinh",
            "nationality": "VN",
        },
        "date_of_death": date(2026, 1, 5),
        "place_of_death": {"commune_code": "18313", "address": "Thôn Kim Quang, xã Vũ Quang"},
        "cause_of_death": "Già yếu",
        "death_notice": {"number": "03/GBT", "issuer": "Trạm Y tế xã Vũ Quang"},
        "updated_at": datetime(2026, 1, 14, 2, 5, 9, tzinfo=UTC),
    },
    "business.enterprise": {
        "enterprise_code": "3001234567",
        "name_vi": "Công ty Cổ phần Thương mại và Dịch vụ Hồng Lĩnh",
        "name_foreign": "Hong Linh Trading and Services Joint Stock Company",
        "name_short": "HONG LINH JSC",
        "legal_form": "JOINT_STOCK_COMPANY",
        "head_office": {
            "commune_code": "18115",
            "address": "Số 45 đường Quang Trung, phường Bắc Hồng Lĩnh",
        },
        "charter_capital": Decimal("15000000000"),
        "legal_representative": {
            "full_name": "Võ Đức Thắng",
            "personal_id": "042082004417",
            "title": "Tổng giám đốc",
        },
        "business_lines": [
            {
                "code": "4661",
                "name": "Bán buôn nhiên liệu rắn, lỏng, khí và các sản phẩm liên quan",
                "main": False,
            },
            {
                "code": "4719",
                "name": "Bán lẻ khác trong các cửa hàng kinh doanh tổng hợp",
                "main": True,
            },
            {"code": "5210", "name": "Kho bãi và lưu giữ hàng hóa", "main": False},
        ],
        "branches": [
            {
                "branch_code": "3001234567-001",
                "name": "Chi nhánh Công ty Cổ phần Thương mại và Dịch vụ Hồng Lĩnh tại Hà Nội",
                "address": "Số 8 phố Phan Đình Phùng, phường Ba Đình",
                "commune_code": "00004",
            },
            {
                "branch_code": "3001234567-002",
                "name": "Chi nhánh Đức Thọ",
                "address": "Khối 3, xã Đức Thọ",
                "commune_code": "18229",
            },
        ],
        "first_registered_on": date(2012, 5, 3),
        "amendment_number": 7,
        "amended_on": date(2025, 9, 16),
        "status": "ACTIVE",
        "updated_at": datetime(2025, 9, 17, 2, 0, tzinfo=UTC),
    },
    "document.record": {
        "holder_agency_id": "000.00.12.H25",
        "holder_level": "PROVINCE",
        "direction": "INCOMING",
        "issuing_agency_id": "000.00.00.H25",
        "issuing_agency_name": "Ủy ban nhân dân tỉnh Hà Tĩnh",
        "issue_date": date(2026, 3, 2),
        "number_symbol": "424/QĐ-UBND",
        "document_type": "QUYET_DINH",
        "subject": "Về việc phê duyệt Kế hoạch chuyển đổi số tỉnh Hà Tĩnh năm 2026",
        "signer_name": "Nguyễn Hồng Lĩnh",
        "signer_title": "KT. CHỦ TỊCH PHÓ CHỦ TỊCH",
        "digitally_signed": True,
        "received_at": datetime(2026, 3, 2, 8, 47, 12, tzinfo=UTC),
        "sent_at": None,
        "processing_deadline": date(2026, 3, 16),
        "handling_unit": "Phòng Tổ chức, biên chế và tổ chức phi chính phủ",
        "processing_status": "IN_PROGRESS",
        "processed_online": True,
        "updated_at": datetime(2026, 3, 3, 1, 30, tzinfo=UTC),
    },
}

DATASET_IDS = default_catalogue().dataset_ids


def schema_of(dataset_id: str) -> dict[str, Any]:
    return default_catalogue().dataset(dataset_id).avro_schema()


def named_types(node: Any, namespace: str = "") -> Iterator[tuple[dict[str, Any], str]]:
    """Every named type (record, enum, fixed) defined under ``node``, with its namespace."""
    if isinstance(node, list):
        for branch in node:
            yield from named_types(branch, namespace)
    elif isinstance(node, dict):
        kind = node.get("type")
        if kind in ("record", "enum", "fixed"):
            name = node["name"]
            own = name.rpartition(".")[0] if "." in name else node.get("namespace", namespace)
            yield node, own
            for field in node.get("fields", []):
                yield from named_types(field["type"], own)
        elif kind == "array":
            yield from named_types(node["items"], namespace)
        elif kind == "map":
            yield from named_types(node["values"], namespace)


def all_fields(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every field of every record in ``schema``, as (``Record.field``, field)."""
    for named, _ in named_types(schema):
        for field in named.get("fields", []):
            yield f"{named['name']}.{field['name']}", field


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def test_every_dataset_has_a_record() -> None:
    assert set(RECORDS) == set(DATASET_IDS)


@pytest.mark.parametrize("dataset_id", DATASET_IDS)
def test_schema_parses_with_fastavro_and_avro(dataset_id: str) -> None:
    schema = schema_of(dataset_id)
    parsed = fastavro.parse_schema(schema, named_schemas={})
    assert parsed["name"] == f"{schema['namespace']}.{schema['name']}"
    assert avro.schema.parse(json.dumps(schema)).fullname == parsed["name"]


@pytest.mark.parametrize("dataset_id", DATASET_IDS)
def test_record_round_trips(dataset_id: str) -> None:
    parsed = fastavro.parse_schema(schema_of(dataset_id), named_schemas={})
    record = RECORDS[dataset_id]
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed, record)
    buffer.seek(0)
    assert fastavro.schemaless_reader(buffer, parsed, None) == record


@pytest.mark.parametrize("dataset_id", DATASET_IDS)
def test_record_passes_its_rules(dataset_id: str) -> None:
    rules = RuleSet.for_dataset(default_catalogue().dataset(dataset_id), today=TODAY)
    assert rules.check(RECORDS[dataset_id]) == []


@pytest.mark.parametrize("dataset_id", DATASET_IDS)
def test_record_has_its_key_and_version(dataset_id: str) -> None:
    dataset = default_catalogue().dataset(dataset_id)
    record = RECORDS[dataset_id]
    for path in dataset.key:
        value = get_path(record, path)
        assert value is not None, path
        assert not isinstance(value, str) or value.strip(), path
    assert get_path(record, dataset.version_field) is not None


@pytest.mark.parametrize("dataset_id", DATASET_IDS)
def test_record_text_is_nfc(dataset_id: str) -> None:
    for text in strings(RECORDS[dataset_id]):
        assert unicodedata.is_normalized("NFC", text), text


@pytest.mark.parametrize("dataset_id", DATASET_IDS)
def test_every_record_and_field_has_a_bilingual_doc(dataset_id: str) -> None:
    schema = schema_of(dataset_id)
    for named, _ in named_types(schema):
        assert " / " in named.get("doc", ""), named["name"]
    for where, field in all_fields(schema):
        assert " / " in field.get("doc", ""), where


@pytest.mark.parametrize("dataset_id", DATASET_IDS)
def test_every_optional_field_defaults_to_null(dataset_id: str) -> None:
    for where, field in all_fields(schema_of(dataset_id)):
        if isinstance(field["type"], list) and "null" in field["type"]:
            # A union's default must match its first branch, so null comes first.
            assert field["type"][0] == "null", where
            assert "default" in field, where
            assert field["default"] is None, where


@pytest.mark.parametrize("dataset_id", DATASET_IDS)
def test_namespaces_are_the_hubs(dataset_id: str) -> None:
    for named, namespace in named_types(schema_of(dataset_id)):
        assert namespace.startswith("vn.lgsp."), named["name"]


@pytest.mark.parametrize("dataset_id", DATASET_IDS)
def test_enum_defaults_are_symbols(dataset_id: str) -> None:
    for named, _ in named_types(schema_of(dataset_id)):
        if named["type"] == "enum" and "default" in named:
            assert named["default"] in named["symbols"], named["name"]


def test_schema_and_catalogue_text_is_nfc() -> None:
    paths = [CATALOGUE_PATH, *(d.schema_path for d in default_catalogue().datasets)]
    for path in paths:
        text = path.read_text(encoding="utf-8")
        assert unicodedata.is_normalized("NFC", text), path.name
