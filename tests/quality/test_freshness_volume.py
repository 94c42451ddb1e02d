"""Freshness against the declared update frequency, and volume against the last stored run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

from quality.history import open_history, previous_row_counts, store_quality_run
from quality.report import ExpectationOutcome, QualityReport
from quality.suites import run_quality
from tests.quality.warehouse_rows import (
    FRESH_NOW,
    UPDATED,
    citizen,
    create_warehouse,
    document,
    replace_rows,
)

DATASETS = ["citizen.person", "document.record"]
FAMILY_NAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Võ", "Đặng", "Bùi", "Đỗ"]


def citizens(count: int) -> list[dict[str, Any]]:
    return [
        citizen(f"04209000{n:04d}", f"{FAMILY_NAMES[n % len(FAMILY_NAMES)]} Văn Thành")
        for n in range(count)
    ]


DOCUMENTS = [
    document("424/QĐ-UBND", "Về việc phê duyệt kế hoạch chuyển đổi số năm 2026"),
    document("125/UBND-TH", "Về việc báo cáo kết quả cải cách hành chính quý I"),
]


def outcome(report: QualityReport, dataset_id: str, name: str) -> ExpectationOutcome:
    (found,) = [o for o in report.datasets[dataset_id].results if o.expectation == name]
    return found


def newest(found: ExpectationOutcome) -> datetime:
    moment = datetime.fromisoformat(str(found.observed_value))
    # SQLite hands back UTC wall time without its zone.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def test_volume_and_freshness_over_successive_runs(warehouse_url: str, tmp_path: Path) -> None:
    engine = create_engine(warehouse_url)
    create_warehouse(engine)
    history = open_history(warehouse_url)
    workdir = tmp_path / "work"

    def run(citizen_count: int, now: datetime) -> QualityReport:
        replace_rows(
            engine, {"citizen.person": citizens(citizen_count), "document.record": DOCUMENTS}
        )
        previous = previous_row_counts(history, DATASETS)
        report = run_quality(
            warehouse_url, workdir, DATASETS, now=now, previous_row_counts=previous
        )
        store_quality_run(history, report)
        return report

    try:
        # A first run has nothing to compare with; everything was updated 20 minutes ago.
        first = run(20, FRESH_NOW)
        assert outcome(first, "citizen.person", "volume:-").success
        assert outcome(first, "citizen.person", "volume:-").observed_value == 20
        for dataset_id in DATASETS:
            fresh = outcome(first, dataset_id, "freshness:updated_at")
            assert fresh.success, dataset_id
            assert newest(fresh) == UPDATED

        # Three hours on: a day's frequency is met, an hour's is not. A 10% drop of
        # citizens breaks the 5% bound; two documents as before are fine.
        second = run(18, UPDATED + timedelta(hours=3))
        assert outcome(second, "citizen.person", "freshness:updated_at").success
        assert not outcome(second, "document.record", "freshness:updated_at").success
        dropped = outcome(second, "citizen.person", "volume:-")
        assert (dropped.success, dropped.observed_value) == (False, 18)
        assert outcome(second, "document.record", "volume:-").success

        # Two days on, nothing is fresh; 18 -> 28 citizens is more than the 50% growth allowed.
        third = run(28, UPDATED + timedelta(days=2))
        assert not outcome(third, "citizen.person", "freshness:updated_at").success
        assert newest(outcome(third, "citizen.person", "freshness:updated_at")) == UPDATED
        assert not outcome(third, "citizen.person", "volume:-").success

        # Growth within bounds of the last stored count (28) passes again.
        fourth = run(30, FRESH_NOW)
        assert outcome(fourth, "citizen.person", "volume:-").success
        assert fourth.datasets["citizen.person"].success
    finally:
        history.dispose()
        engine.dispose()
