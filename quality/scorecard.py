"""Scores of one quality run: per dataset, per source system and per owning agency.

A score is the share of expectation weight met: the sum of the weights of the expectations
that held over the sum of the weights of those evaluated (an expectation GX could not
evaluate counts as not met). The catalogue gives each expectation its weight (1 unless
stated).

- A dataset's score is over its own suite.
- An owning agency's score pools the suites of every dataset the catalogue says it owns.
- A source system's score pools the suites of every dataset its rows feed, as the rows'
  ``source_system`` lineage column says (rows without one count for the catalogue's source
  system; so does an empty table). A suite checks the whole table, and table-level
  expectations (uniqueness across sources, volume, freshness) cannot be split between
  sources, so a source answers for each dataset it feeds as a whole: two sources feeding one
  dataset share its score, and a source feeding two datasets is scored over both.

Scopes with no weight evaluated get no score: no expectations is not a perfect record.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict

from quality.report import DatasetQuality, QualityReport
from schemas.catalogue import Catalogue

Scope = Literal["dataset", "source_system", "agency"]
SCOPES: Final[tuple[Scope, ...]] = ("dataset", "source_system", "agency")


class ScopeScore(BaseModel):
    """The score of one scope in one run.

    Attributes:
        scope: ``dataset``, ``source_system`` or ``agency``.
        scope_value: The dataset id, the source system or the owning agency's e-ID.
        datasets: The datasets pooled into the score, in catalogue order.
        met: Weight of the expectations met.
        total: Weight of the expectations evaluated.
    """

    model_config = ConfigDict(frozen=True)

    scope: Scope
    scope_value: str
    datasets: tuple[str, ...]
    met: float
    total: float

    @property
    def score(self) -> float:
        """Share of the weight met, 0 to 1."""
        return self.met / self.total

    @property
    def dataset(self) -> str | None:
        """The dataset of a dataset score; ``None`` for the pooled scopes."""
        return self.scope_value if self.scope == "dataset" else None


def dataset_sources(dataset_id: str, quality: DatasetQuality, catalogue: Catalogue) -> list[str]:
    """The source systems a dataset's rows came from; the catalogue's when it has no rows."""
    return sorted(quality.sources) or [catalogue.dataset(dataset_id).source_system]


def compute_scores(report: QualityReport, catalogue: Catalogue) -> list[ScopeScore]:
    """Every scope's score in a run: datasets, then source systems, then agencies.

    Args:
        report: The run's outcome.
        catalogue: Where each dataset's owning agency (and fallback source) is declared.

    Returns:
        One score per scope with weight evaluated, each scope's values sorted.
    """
    pools: dict[tuple[Scope, str], list[str]] = {}
    for dataset_id, quality in report.datasets.items():
        pools.setdefault(("dataset", dataset_id), []).append(dataset_id)
        for source in dataset_sources(dataset_id, quality, catalogue):
            pools.setdefault(("source_system", source), []).append(dataset_id)
        owner = catalogue.dataset(dataset_id).owner_agency
        pools.setdefault(("agency", owner), []).append(dataset_id)
    scores = []
    for (scope, value), dataset_ids in pools.items():
        qualities = [report.datasets[dataset_id] for dataset_id in dataset_ids]
        total = sum(quality.weight_total for quality in qualities)
        if total <= 0:
            continue
        scores.append(
            ScopeScore(
                scope=scope,
                scope_value=value,
                datasets=tuple(dataset_ids),
                met=sum(quality.weight_met for quality in qualities),
                total=total,
            )
        )
    return sorted(scores, key=lambda score: (SCOPES.index(score.scope), score.scope_value))
