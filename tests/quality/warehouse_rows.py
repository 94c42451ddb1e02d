"""Warehouse rows that meet every catalogue expectation, for quality tests to spoil on purpose.

Each builder returns one row of a dataset's table (nested fields flattened to columns, lineage
columns filled) with ``changes`` applied. Every row was last updated at :data:`UPDATED`, so a
run with ``now`` shortly after it finds every dataset fresh.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, insert

from warehouse.db import init_warehouse
from warehouse.models import dataset_table

UPDATED = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
FRESH_NOW = UPDATED + timedelta(minutes=20)
"""A moment at which every dataset of these rows is fresh (document.record: PT1H)."""
COMMUNE = "18073"  # a commune of Hà Tĩnh on every published list


def _lineage(source_system: str, agency_id: str) -> dict[str, Any]:
    return {
        "source_system": source_system,
        "agency_id": agency_id,
        "trace_id": uuid.uuid4().hex,
        "ingested_at": UPDATED + timedelta(minutes=1),
    }


def citizen(personal_id: str, full_name: str, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "personal_id": personal_id,
        "full_name": full_name,
        "date_of_birth": date(1990, 5, 17),
        "gender": "MALE",
        "ethnicity": "Kinh",
        "nationality": "VN",
        "birth_registration_commune_code": COMMUNE,
        "permanent_residence_commune_code": COMMUNE,
        "permanent_residence_address": "Số 25 đường Hà Huy Tập, phường Thành Sen",
        "current_residence_commune_code": None,
        "current_residence_address": None,
        "father_id": None,
        "mother_id": None,
        "spouse_id": None,
        "eid_level": 2,
        "updated_at": UPDATED,
        **_lineage("population", "000.00.10.H25"),
    }
    row.update(changes)
    return row


def birth(number: str, child: str, child_id: str | None, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "registering_agency_id": "000.00.17.H25",
        "book_number": "01/2026",
        "registration_number": number,
        "registering_commune_code": COMMUNE,
        "registration_date": date(2026, 2, 20),
        "registration_type": "ON_TIME",
        "child_personal_id": child_id,
        "child_full_name": child,
        "child_gender": "FEMALE",
        "child_date_of_birth": date(2026, 2, 10),
        "child_place_of_birth_commune_code": COMMUNE,
        "child_place_of_birth_address": "Bệnh viện Đa khoa tỉnh Hà Tĩnh",
        "child_ethnicity": "Kinh",
        "child_nationality": "VN",
        "mother_full_name": "Trần Thị Thu Hà",
        "mother_personal_id": None,
        "mother_nationality": "VN",
        "father_full_name": "Nguyễn Văn Hùng",
        "father_personal_id": None,
        "father_nationality": "VN",
        "updated_at": UPDATED,
        **_lineage("civil_status", "000.00.17.H25"),
    }
    row.update(changes)
    return row


def enterprise(code: str, name: str, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "enterprise_code": code,
        "name_vi": name,
        "name_foreign": None,
        "name_short": None,
        "legal_form": "SINGLE_MEMBER_LLC",
        "head_office_commune_code": COMMUNE,
        "head_office_address": "Số 12 đường Phan Đình Phùng, phường Thành Sen",
        "charter_capital": 2_000_000_000,
        "legal_representative_full_name": "Nguyễn Văn Hùng",
        "legal_representative_personal_id": None,
        "legal_representative_title": "Giám đốc",
        "business_lines": json.dumps(
            [{"code": "4711", "name": "Bán lẻ lương thực", "main": True}], ensure_ascii=False
        ),
        "branches": "[]",
        "first_registered_on": date(2019, 4, 1),
        "amendment_number": 0,
        "amended_on": None,
        "status": "ACTIVE",
        "updated_at": UPDATED,
        **_lineage("business_registration", "000.00.06.H25"),
    }
    row.update(changes)
    return row


def document(number_symbol: str, subject: str, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "holder_agency_id": "000.00.01.H25",
        "holder_level": "PROVINCE",
        "direction": "INCOMING",
        "issuing_agency_id": "000.00.00.G22",
        "issuing_agency_name": "Văn phòng Chính phủ",
        "issue_date": date(2026, 2, 27),
        "number_symbol": number_symbol,
        "document_type": "CONG_VAN",
        "subject": subject,
        "signer_name": "Trần Văn Sơn",
        "signer_title": "Phó Chủ nhiệm",
        "digitally_signed": True,
        "received_at": UPDATED - timedelta(hours=1),
        "sent_at": None,
        "processing_deadline": date(2026, 3, 10),
        "handling_unit": "Phòng Tổng hợp",
        "processing_status": "IN_PROGRESS",
        "processed_online": True,
        "updated_at": UPDATED,
        **_lineage("document_management", "000.00.01.H25"),
    }
    row.update(changes)
    return row


def create_warehouse(engine: Engine) -> None:
    """The warehouse as the hub makes it: migrated to the newest schema, reference loaded."""
    init_warehouse(engine)


def replace_rows(engine: Engine, rows: Mapping[str, Sequence[dict[str, Any]]]) -> None:
    """Make each named dataset's table hold exactly ``rows[dataset]``."""
    with engine.begin() as connection:
        for dataset_id, dataset_rows in rows.items():
            table = dataset_table(dataset_id)
            connection.execute(delete(table))
            if dataset_rows:
                connection.execute(insert(table), list(dataset_rows))
