"""A realistic citizen record for tests that need one and change a field or two."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any


def person(personal_id: str, **changes: object) -> dict[str, Any]:
    """A valid ``citizen.person`` record (Hà Tĩnh, 1995) with ``changes`` applied."""
    record: dict[str, Any] = {
        "personal_id": personal_id,
        "full_name": "Nguyễn Thị Hồng Nhung",
        "date_of_birth": date(1995, 8, 2),
        "gender": "FEMALE",
        "ethnicity": "Kinh",
        "nationality": "VN",
        "birth_registration_commune_code": "18073",
        "permanent_residence": {"commune_code": "18073", "address": "Số 5 đường Hà Huy Tập"},
        "current_residence": None,
        "father_id": None,
        "mother_id": None,
        "spouse_id": None,
        "eid_level": 2,
        "updated_at": datetime(2026, 9, 1, 7, 30, tzinfo=UTC),
    }
    record.update(changes)
    return record
