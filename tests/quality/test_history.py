"""Stored runs, scores per dataset, source system and agency, and their trend, on both databases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, inspect, select

from quality.history import (
    latest_scores,
    open_history,
    previous_row_counts,
    score_history,
    store_quality_run,
)
from quality.report import DatasetQuality, ExpectationOutcome, QualityReport
from quality.scorecard import compute_scores
from schemas.catalogue import default_catalogue
from tests.quality.warehouse_rows import create_warehouse
from warehouse.db import WarehouseError
from warehouse.quality import QualityResult, QualityRun, QualityScore

STARTED = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def outcome(name: str, success: bool, weight: float = 1.0, **details: Any) -> ExpectationOutcome:
    kind, _, column = name.partition(":")
    return ExpectationOutcome(
        expectation=name,
        type=kind,
        gx_type="expect_column_values_to_not_be_null",
        column=None if column == "-" else column,
        success=success,
        critical=details.pop("critical", False),
        weight=weight,
        **details,
    )


def dataset(*outcomes: ExpectationOutcome, rows: int = 0, **sources: int) -> DatasetQuality:
    failed = [o for o in outcomes if not o.success]
    return DatasetQuality(
        success=not failed,
        evaluated=len(outcomes),
        failed=len(failed),
        critical_failed=sum(o.critical for o in failed),
        results=list(outcomes),
        row_count=rows,
        sources=sources,
    )


def report(run: int, **datasets: DatasetQuality) -> QualityReport:
    return QualityReport(
        report=Path("/srv/lgsp/gx/uncommitted/data_docs/local_site/index.html"),
        datasets={name.replace("__", "."): quality for name, quality in datasets.items()},
        started_at=STARTED + timedelta(days=run),
        finished_at=STARTED + timedelta(days=run, seconds=9),
    )


def first_run() -> QualityReport:
    return report(
        0,
        citizen__person=dataset(
            outcome("not_null:personal_id", True, 3, critical=True),
            outcome(
                "in_reference:permanent_residence.commune_code",
                False,
                observed_value=2,
                unexpected_count=2,
                failing_keys=[{"personal_id": "042092007788"}, {"personal_id": "042185000999"}],
                sample=["99999", "00000"],
            ),
            outcome("volume:-", True, 2, observed_value=5),
            rows=5,
            population=4,
            population_legacy=1,
        ),
        civil__birth=dataset(
            outcome("not_null:registration_number", True, critical=True),
            outcome(
                "exists_in:mother.personal_id",
                False,
                failing_keys=[
                    {
                        "registering_agency_id": "000.00.17.H25",
                        "book_number": "01/2026",
                        "registration_number": "003",
                    }
                ],
                sample=["042199999999"],
            ),
            outcome("volume:-", True, observed_value=4),
            rows=4,
            civil_status=4,
        ),
        civil__death=dataset(outcome("freshness:updated_at", False, error="no such table")),
    )


@pytest.fixture
def history(warehouse_url: str) -> Iterator[Engine]:
    warehouse = create_engine(warehouse_url)
    create_warehouse(warehouse)
    warehouse.dispose()
    engine = open_history(warehouse_url)
    yield engine
    engine.dispose()


def test_a_run_is_stored_with_every_result(history: Engine) -> None:
    run_id = store_quality_run(history, first_run())
    with history.connect() as connection:
        run = connection.execute(select(QualityRun).where(QualityRun.id == run_id)).one()
        results = {
            (row.dataset, row.expectation): row
            for row in connection.execute(
                select(QualityResult).where(QualityResult.run_id == run_id)
            )
        }
    assert json.loads(run.datasets) == ["citizen.person", "civil.birth", "civil.death"]
    assert run.success is False
    assert run.critical_failed == 0
    assert run.docs_path.endswith("local_site/index.html")
    assert len(results) == 7
    commune = results["citizen.person", "in_reference:permanent_residence.commune_code"]
    assert commune.column == "permanent_residence.commune_code"
    assert commune.success is False
    assert commune.unexpected_count == 2
    assert json.loads(commune.observed_value) == 2
    assert json.loads(commune.failing_keys) == [
        {"personal_id": "042092007788"},
        {"personal_id": "042185000999"},
    ]
    mother = results["civil.birth", "exists_in:mother.personal_id"]
    assert json.loads(mother.failing_keys)[0]["registration_number"] == "003"
    # A result that held keeps no sample; one GX could not evaluate keeps its reason.
    key = results["citizen.person", "not_null:personal_id"]
    assert key.failing_keys is None
    assert (key.weight, key.critical) == (3.0, True)
    assert results["civil.death", "freshness:updated_at"].error == "no such table"


def test_scores_per_dataset_source_system_and_agency(history: Engine) -> None:
    run_id = store_quality_run(history, first_run())
    with history.connect() as connection:
        scores = {
            (row.scope, row.scope_value): row
            for row in connection.execute(select(QualityScore).where(QualityScore.run_id == run_id))
        }
    pairs = {key: (row.met, row.total) for key, row in scores.items()}
    assert pairs == {
        ("dataset", "citizen.person"): (5.0, 6.0),
        ("dataset", "civil.birth"): (2.0, 3.0),
        # Not evaluated counts as not met.
        ("dataset", "civil.death"): (0.0, 1.0),
        # Both sources feeding citizen.person answer for its whole suite.
        ("source_system", "population"): (5.0, 6.0),
        ("source_system", "population_legacy"): (5.0, 6.0),
        # civil.birth's rows and the empty civil.death (its catalogue source) pool together.
        ("source_system", "civil_status"): (2.0, 4.0),
        ("agency", "000.00.10.H25"): (5.0, 6.0),
        ("agency", "000.00.17.H25"): (2.0, 4.0),
    }
    assert scores[("dataset", "citizen.person")].score == pytest.approx(5 / 6)
    assert scores[("dataset", "citizen.person")].dataset == "citizen.person"
    assert scores[("agency", "000.00.17.H25")].dataset is None


def test_a_scope_without_weight_gets_no_score() -> None:
    empty = report(0, document__record=dataset())
    assert compute_scores(empty, default_catalogue()) == []


def test_trend_and_history(history: Engine) -> None:
    assert latest_scores(history) == []
    first = store_quality_run(history, first_run())
    better = report(
        1,
        citizen__person=dataset(
            outcome("not_null:personal_id", True, 3, critical=True),
            outcome("in_reference:permanent_residence.commune_code", True),
            outcome("volume:-", True, 2, observed_value=6),
            rows=6,
            population=6,
        ),
    )
    second = store_quality_run(history, better)

    trends = {(t.scope, t.scope_value): t for t in latest_scores(history)}
    person = trends[("dataset", "citizen.person")]
    assert (person.run_id, person.score, person.previous) == (second, 1.0, pytest.approx(5 / 6))
    assert person.change == pytest.approx(1 / 6)
    assert person.started_at == STARTED + timedelta(days=1)
    # Not checked in the second run: its latest score is still the first run's, no change.
    birth = trends[("dataset", "civil.birth")]
    assert (birth.run_id, birth.previous, birth.change) == (first, None, None)
    assert trends[("source_system", "population_legacy")].run_id == first
    assert {t.scope for t in latest_scores(history, "agency")} == {"agency"}

    points = score_history(history, "dataset", "citizen.person")
    assert [(p.run_id, p.score) for p in points] == [
        (first, pytest.approx(5 / 6)),
        (second, 1.0),
    ]
    assert [p.run_id for p in score_history(history, "dataset", "citizen.person", limit=1)] == [
        second
    ]
    assert score_history(history, "agency", "000.00.99.H25") == []


def test_previous_row_counts_come_from_the_last_run_that_counted(history: Engine) -> None:
    assert previous_row_counts(history, ["citizen.person"]) == {}
    store_quality_run(history, first_run())
    store_quality_run(
        history,
        report(1, citizen__person=dataset(outcome("volume:-", False, observed_value=3), rows=3)),
    )
    # A run whose volume check GX could not evaluate counted nothing.
    store_quality_run(
        history,
        report(2, citizen__person=dataset(outcome("volume:-", False, error="timeout"), rows=0)),
    )
    counts = previous_row_counts(history, ["citizen.person", "civil.birth", "civil.death"])
    assert counts == {"citizen.person": 3, "civil.birth": 4}


def test_open_history_refuses_a_missing_sqlite_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "warehouse.db"
    with pytest.raises(WarehouseError, match="does not exist") as info:
        open_history(f"sqlite:///{missing}")
    assert "\n" not in str(info.value)
    assert not missing.exists()


def test_a_warehouse_without_the_history_tables(tmp_path: Path) -> None:
    """Writers are told to migrate; readers find the history empty. Neither creates tables."""
    path = tmp_path / "warehouse.db"
    path.touch()
    url = f"sqlite:///{path}"
    with pytest.raises(WarehouseError, match="lgsp warehouse upgrade") as info:
        open_history(url)
    assert "quality_run, quality_result, quality_score" in str(info.value)
    assert "\n" not in str(info.value)
    engine = open_history(url, require=False)
    try:
        assert latest_scores(engine) == []
        assert score_history(engine, "dataset", "citizen.person") == []
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
