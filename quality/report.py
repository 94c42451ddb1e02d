"""What a quality run found, as plain data: stored, printed and served without importing GX.

:mod:`quality.suites` fills these models; :mod:`quality.history` stores them and the console
reads them back. Great Expectations takes seconds to import, so nothing here may need it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

FAILING_KEY_SAMPLE: Final = 20
"""At most this many keys of failing rows are kept per failed expectation."""


class ExpectationOutcome(BaseModel):
    """The result of one catalogue expectation.

    Attributes:
        expectation: A name stable across runs, so a result can be followed over time:
            ``<type>:<field path or ->``, with ``#2``, ``#3`` ... for repeats in one dataset.
        type: The catalogue type (``completeness``, ``in_reference``, ...).
        gx_type: The GX expectation that implements it.
        column: The catalogue field path it checks (the version field for ``freshness``).
        success: Whether it held.
        critical: Whether the catalogue marks it critical.
        weight: Its weight in a dataset score.
        observed_value: GX's observed value, where the expectation has one (JSON-safe).
        element_count: Rows checked, where GX counts them.
        unexpected_count: Rows that broke it, where GX counts them.
        unexpected_percent: Their share of the checked rows, in percent.
        sample: Some unexpected values (JSON-safe), for stewards.
        failing_keys: Up to :data:`FAILING_KEY_SAMPLE` keys of failing rows, each a mapping of
            the dataset's catalogue key field paths to values (JSON-safe).
        error: Why GX could not evaluate it, if it could not.
    """

    model_config = ConfigDict(frozen=True)

    expectation: str
    type: str
    gx_type: str
    column: str | None
    success: bool
    critical: bool
    weight: float
    observed_value: Any = None
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    sample: list[Any] = []
    failing_keys: list[dict[str, Any]] = []
    error: str | None = None


class DatasetQuality(BaseModel):
    """The outcome of one dataset's suite.

    Attributes:
        row_count: Rows in the dataset's table when it was checked.
        sources: Rows per source system, from the table's ``source_system`` lineage column
            (rows without one count under the catalogue's source system).
    """

    model_config = ConfigDict(frozen=True)

    success: bool
    evaluated: int
    failed: int
    critical_failed: int
    results: list[ExpectationOutcome]
    row_count: int | None = None
    sources: dict[str, int] = {}

    @property
    def weight_met(self) -> float:
        return sum(outcome.weight for outcome in self.results if outcome.success)

    @property
    def weight_total(self) -> float:
        return sum(outcome.weight for outcome in self.results)


class QualityReport(BaseModel):
    """One quality run: when, the Data Docs page and every dataset's outcome."""

    model_config = ConfigDict(frozen=True)

    report: Path
    datasets: dict[str, DatasetQuality]
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def critical_failed(self) -> int:
        return sum(quality.critical_failed for quality in self.datasets.values())

    @property
    def success(self) -> bool:
        return all(quality.success for quality in self.datasets.values())
