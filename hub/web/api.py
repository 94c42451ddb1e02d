"""The console's JSON API under ``/api``: the same data as the pages, for scripts and portals."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel

from hub.quarantine import QuarantineDetail, QuarantineError, ReplayResult, show_quarantine
from hub.web.console import Console, get_console, require_same_origin
from hub.web.queue import QueueFilters, QueuePage, ReplayProblem, list_queue, replay_row
from hub.web.scorecards import (
    DatasetQuality,
    DatasetSummary,
    Scorecard,
    ScorePoint,
    catalogue_summaries,
    dataset_quality,
    score_history,
    scorecard,
)
from schemas.catalogue import CatalogueError
from warehouse.db import warehouse_answers


class ApiError(BaseModel):
    """Why a request failed, in one line."""

    detail: str


class Health(BaseModel):
    """Whether the console can read the warehouse and could replay."""

    warehouse: bool
    replay: bool


router = APIRouter(prefix="/api", tags=["console"])

ConsoleDep = Annotated[Console, Depends(get_console)]


def _not_found(message: str) -> dict[int | str, dict[str, object]]:
    return {404: {"model": ApiError, "description": message}}


@router.get("/health", response_model=Health)
def health(console: ConsoleDep) -> Health:
    """The console is up; ``warehouse`` says whether the warehouse answers."""
    return Health(
        warehouse=warehouse_answers(console.engine), replay=console.bootstrap_servers is not None
    )


@router.get("/datasets", response_model=list[DatasetSummary])
def list_datasets(console: ConsoleDep) -> list[DatasetSummary]:
    """Every catalogue dataset with its owner, sharing level, latest score and trend."""
    return catalogue_summaries(console.engine, console.catalogue)


@router.get(
    "/datasets/{dataset_id}",
    response_model=DatasetQuality,
    responses=_not_found("The catalogue has no such dataset"),
)
def get_dataset(dataset_id: str, console: ConsoleDep) -> DatasetQuality:
    """A dataset's entry, its latest run's results (failing first) and its score history."""
    try:
        return dataset_quality(console.engine, console.catalogue, dataset_id)
    except CatalogueError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc


@router.get(
    "/datasets/{dataset_id}/history",
    response_model=list[ScorePoint],
    responses=_not_found("The catalogue has no such dataset"),
)
def get_dataset_history(
    dataset_id: str,
    console: ConsoleDep,
    runs: Annotated[int, Query(ge=1, le=1000, description="The last this many runs")] = 100,
) -> list[ScorePoint]:
    """The dataset's score in each of its last runs, oldest first."""
    try:
        dataset = console.catalogue.dataset(dataset_id)
    except CatalogueError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    return score_history(console.engine, "dataset", [dataset.id], runs=runs).get(dataset.id, [])


@router.get("/scorecard", response_model=Scorecard)
def get_scorecard(console: ConsoleDep) -> Scorecard:
    """Scores per source system and per owning agency, with their trends."""
    return scorecard(console.engine, console.catalogue)


@router.get(
    "/quarantine",
    response_model=QueuePage,
    responses={400: {"model": ApiError, "description": "The dataset filter names no dataset"}},
)
def list_quarantined(console: ConsoleDep, filters: Annotated[QueueFilters, Query()]) -> QueuePage:
    """Quarantined records, newest first, and how many match the filters in all."""
    try:
        return list_queue(console.engine, console.catalogue, filters)
    except CatalogueError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc


@router.get(
    "/quarantine/{row_id}",
    response_model=QuarantineDetail,
    responses=_not_found("No quarantine row has this id"),
)
def get_quarantined(row_id: int, console: ConsoleDep) -> QuarantineDetail:
    """Everything about one quarantined record: failures, lineage, origin, the record."""
    try:
        return show_quarantine(console.engine, row_id)
    except QuarantineError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc


@router.post(
    "/quarantine/{row_id}/replay",
    response_model=ReplayResult,
    dependencies=[Depends(require_same_origin)],
    responses={
        403: {"model": ApiError, "description": "A cross-site request"},
        404: {"model": ApiError, "description": "No quarantine row has this id"},
        409: {"model": ApiError, "description": "The row cannot be replayed (see detail)"},
        503: {"model": ApiError, "description": "No broker configured, or it did not answer"},
    },
)
def replay_quarantined(row_id: int, console: ConsoleDep) -> ReplayResult:
    """Publish the record to its raw topic again; the running worker judges it.

    The row's status is ``replayed`` until the worker releases it or holds it again.
    """
    try:
        return replay_row(
            console.engine,
            console.catalogue,
            row_id,
            bootstrap_servers=console.bootstrap_servers,
            topic_partitions=console.topic_partitions,
        )
    except ReplayProblem as problem:
        raise HTTPException(status_code=problem.http_status, detail=str(problem)) from None


def is_api_request(request: Request) -> bool:
    root = request.scope.get("root_path", "")
    return request.url.path.removeprefix(root).startswith("/api/")
