"""A warehouse with known defects: the real catalogue's suites report exactly those, with keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

from quality.report import QualityReport
from quality.suites import run_quality
from tests.quality.warehouse_rows import (
    FRESH_NOW,
    birth,
    citizen,
    create_warehouse,
    document,
    enterprise,
    replace_rows,
)

DATASETS = ["citizen.person", "civil.birth", "business.enterprise", "document.record"]
AGENCY = "000.00.17.H25"
BOOK = "01/2026"

ROWS: dict[str, list[dict[str, Any]]] = {
    "citizen.person": [
        citizen("042090001234", "Nguyễn Văn Hùng"),
        citizen("042195000321", "Trần Thị Thu Hà", gender="FEMALE"),
        citizen("042326000101", "Nguyễn Ngọc Bảo Anh", gender="FEMALE"),
        citizen("042326000303", "Trần Gia Hân", gender="FEMALE"),
        citizen("042326000404", "Lê Bảo Ngọc", gender="FEMALE"),
        # Defects, one each:
        citizen("042092007788", "Võ Thị Lụa", permanent_residence_commune_code="99999"),
        citizen("042185000999", "Hoàng Minh Châu", eid_level=3),
        citizen("42090005555", "Đặng Văn Lâm"),  # eleven digits: the key's format (critical)
        citizen("042088004321", "Phạm Đức Thắng", father_id="04205800011"),
        citizen("042196000777", "Bùi Thị Xuân", gender="NỮ"),
    ],
    "civil.birth": [
        birth(
            "001",
            "Nguyễn Ngọc Bảo Anh",
            "042326000101",
            mother_personal_id="042195000321",
            father_personal_id="042090001234",
        ),
        # Defects: a child, a mother and a registering agency unknown to the hub.
        birth("002", "Lê Minh Khôi", "042226000202", mother_personal_id="042195000321"),
        birth("003", "Trần Gia Hân", "042326000303", mother_personal_id="042199999999"),
        birth("004", "Lê Bảo Ngọc", "042326000404", registering_agency_id="UBND xã Thạch Hạ"),
    ],
    "business.enterprise": [
        enterprise(
            "0100233488",
            "Công ty TNHH Thương mại Hồng Lĩnh",
            legal_representative_personal_id="042090001234",
        ),
        # Defects: a representative who is not a citizen, a short code, no charter capital.
        enterprise(
            "3001234567",
            "Công ty Cổ phần Du lịch Thiên Cầm",
            legal_representative_personal_id="042077000000",
        ),
        enterprise("30012345", "Hợp tác xã Nông nghiệp Cẩm Xuyên"),
        enterprise("3000999888", "Doanh nghiệp tư nhân Đức Thọ", charter_capital=0),
    ],
    "document.record": [
        document("424/QĐ-UBND", "Về việc phê duyệt kế hoạch chuyển đổi số năm 2026"),
        document("20/2020/QĐ-TTg", "Quy định về định danh điện tử cơ quan nhà nước"),
        document("05-NQ/TU", "Nghị quyết về phát triển kinh tế số"),
        document("Số 17 CV", "Về việc tăng cường công tác phòng, chống thiên tai"),
    ],
}

# expectation -> keys of its failing rows; every other expectation holds.
EXPECTED: dict[str, dict[str, list[dict[str, Any]]]] = {
    "citizen.person": {
        "in_reference:permanent_residence.commune_code": [{"personal_id": "042092007788"}],
        "in_set:gender": [{"personal_id": "042196000777"}],
        "between:eid_level": [{"personal_id": "042185000999"}],
        "format:personal_id": [{"personal_id": "42090005555"}],
        "format:father_id": [{"personal_id": "042088004321"}],
    },
    "civil.birth": {
        "format:registering_agency_id": [
            {
                "registering_agency_id": "UBND xã Thạch Hạ",
                "book_number": BOOK,
                "registration_number": "004",
            }
        ],
        "exists_in:child.personal_id": [
            {"registering_agency_id": AGENCY, "book_number": BOOK, "registration_number": "002"}
        ],
        "exists_in:mother.personal_id": [
            {"registering_agency_id": AGENCY, "book_number": BOOK, "registration_number": "003"}
        ],
    },
    "business.enterprise": {
        "between:charter_capital": [{"enterprise_code": "3000999888"}],
        "format:enterprise_code": [{"enterprise_code": "30012345"}],
        "exists_in:legal_representative.personal_id": [{"enterprise_code": "3001234567"}],
    },
    "document.record": {
        "format:number_symbol": [
            {
                "holder_agency_id": "000.00.01.H25",
                "issuing_agency_id": "000.00.00.G22",
                "issue_date": "2026-02-27",
                "number_symbol": "Số 17 CV",
            }
        ]
    },
}


def failures(report: QualityReport) -> dict[str, dict[str, list[dict[str, Any]]]]:
    return {
        dataset_id: {
            outcome.expectation: outcome.failing_keys
            for outcome in quality.results
            if not outcome.success
        }
        for dataset_id, quality in report.datasets.items()
    }


def test_known_defects_are_reported_with_their_keys(warehouse_url: str, tmp_path: Path) -> None:
    engine = create_engine(warehouse_url)
    create_warehouse(engine)
    replace_rows(engine, ROWS)
    engine.dispose()

    report = run_quality(warehouse_url, tmp_path / "work", DATASETS, now=FRESH_NOW)

    assert failures(report) == EXPECTED
    for dataset_id, quality in report.datasets.items():
        assert quality.row_count == len(ROWS[dataset_id])
        assert all(outcome.error is None for outcome in quality.results), dataset_id
        for outcome in quality.results:
            if not outcome.success:
                assert outcome.unexpected_count == 1, (dataset_id, outcome.expectation)
    # The critical ones: the citizen's and the enterprise's key formats.
    assert {d: q.critical_failed for d, q in report.datasets.items()} == {
        "citizen.person": 1,
        "civil.birth": 0,
        "business.enterprise": 1,
        "document.record": 0,
    }
    person = {o.expectation: o for o in report.datasets["citizen.person"].results}
    assert person["in_set:gender"].sample == ["NỮ"]
    assert person["in_reference:permanent_residence.commune_code"].sample == ["99999"]
    assert person["volume:-"].observed_value == len(ROWS["citizen.person"])
    assert person["freshness:updated_at"].success
    births = {o.expectation: o for o in report.datasets["civil.birth"].results}
    assert births["exists_in:mother.personal_id"].sample == ["042199999999"]
    assert report.datasets["citizen.person"].sources == {"population": 10}
