"""The console's pages: server-rendered HTML, one stylesheet, charts as inline SVG."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from pydantic import ValidationError

from hub.quarantine import REPLAYABLE_STAGES, QuarantineError, show_quarantine
from hub.web.charts import ChartPoint, score_chart, sparkline
from hub.web.console import Console, get_console, get_lang, href, require_same_origin
from hub.web.i18n import LABELS, Lang, translator
from hub.web.queue import (
    OFFERED_FOR_REPLAY,
    STATUSES,
    QueueFilters,
    ReplayProblem,
    known_rules,
    list_queue,
    replay_row,
)
from hub.web.scorecards import ScorePoint, catalogue_summaries, dataset_quality, scorecard
from schemas.catalogue import CatalogueError

TEMPLATES_DIR: Final = Path(__file__).resolve().parent / "templates"


def _percent(lang: Lang) -> Callable[[float | None], str]:
    def show(score: float | None) -> str:
        if score is None:
            return "–"
        # Rounded down: a score short of 100 % must not read as 100 %.
        text = f"{math.floor(score * 1000) / 10:.1f}".removesuffix(".0")
        # Vietnamese writes a decimal comma.
        return (text.replace(".", ",") if lang == "vi" else text) + "%"

    return show


def _when(moment: datetime | None) -> str:
    return "–" if moment is None else moment.strftime("%Y-%m-%d %H:%M")


def _show_value(value: Any) -> str:
    """A stored JSON value as a steward reads it: text as it is, structures compact."""
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _show_key(key: Any) -> str:
    """A failing row's key as the queue shows record keys: its parts joined by ``|``."""
    if isinstance(key, dict):
        return "|".join(_show_value(part) for part in key.values())
    if isinstance(key, list | tuple):
        return "|".join(_show_value(part) for part in key)
    return _show_value(key)


def _key_fields(key: Any) -> str:
    """The fields of a key stored with their names, for a tooltip."""
    return " | ".join(str(name) for name in key) if isinstance(key, dict) else ""


def _status_label(lang: Lang) -> Callable[[str], str]:
    def label(status: str) -> str:
        # A status added to hub.quarantine before this table learns it still shows.
        labels = LABELS.get(f"status_{status}")
        return labels[lang] if labels is not None else status

    return label


def _chart_points(points: list[ScorePoint], lang: Lang) -> list[ChartPoint]:
    percent = _percent(lang)
    run = translator(lang)("run")
    return [
        ChartPoint(
            score=point.score,
            label=f"{run} {point.run_id}, {_when(point.started_at)}: {percent(point.score)}",
        )
        for point in points
    ]


def _trend_line(points: list[ScorePoint], lang: Lang) -> Markup:
    if not points:
        return Markup("")
    return sparkline(_chart_points(points, lang), title=translator(lang)("trend"))


def _language_context(request: Request) -> dict[str, Any]:
    lang = get_lang(request)
    other: Lang = "en" if lang == "vi" else "vi"
    params = [(name, value) for name, value in request.query_params.multi_items() if name != "lang"]
    if other == "en":
        params.append(("lang", "en"))
    switch = request.url.path + (f"?{urlencode(params)}" if params else "")
    return {
        "lang": lang,
        "t": translator(lang),
        "href": lambda path, **query: href(request, path, **query),
        "switch_language_url": switch,
        "percent": _percent(lang),
        "when": _when,
        "show_value": _show_value,
        "show_key": _show_key,
        "key_fields": _key_fields,
        "status_label": _status_label(lang),
        "trend_line": lambda points: _trend_line(points, lang),
    }


templates = Jinja2Templates(directory=TEMPLATES_DIR, context_processors=[_language_context])

router = APIRouter(include_in_schema=False)

ConsoleDep = Annotated[Console, Depends(get_console)]


def render(
    request: Request, template: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def error_page(
    request: Request, status_code: int, heading: str, message: str, *, back: str | None = None
) -> HTMLResponse:
    return render(
        request,
        "error.html",
        {"heading": heading, "message": message, "back": back},
        status_code=status_code,
    )


@router.get("/", response_class=HTMLResponse)
def catalogue_page(request: Request, console: ConsoleDep) -> HTMLResponse:
    return render(
        request,
        "catalogue.html",
        {
            "datasets": catalogue_summaries(console.engine, console.catalogue),
            "scorecard": scorecard(console.engine, console.catalogue),
            "data_docs": console.data_docs_page(),
        },
    )


@router.get("/datasets/{dataset_id}", response_class=HTMLResponse)
def dataset_page(request: Request, dataset_id: str, console: ConsoleDep) -> HTMLResponse:
    t = translator(get_lang(request))
    try:
        quality = dataset_quality(console.engine, console.catalogue, dataset_id)
    except CatalogueError:
        return error_page(
            request,
            404,
            t("not_found"),
            t("unknown_dataset", id=dataset_id),
            back=href(request, "/"),
        )
    held = list_queue(
        console.engine, console.catalogue, QueueFilters(dataset=dataset_id, limit=1)
    ).total
    history = quality.dataset.quality.history
    chart = score_chart(
        _chart_points(history, get_lang(request)),
        title=t("score_over_runs"),
        first_label=_when(history[0].started_at) if history else "",
        last_label=_when(history[-1].started_at) if history else "",
    )
    return render(
        request,
        "dataset.html",
        {
            "quality": quality,
            "chart": chart if history else None,
            "held": held,
            "data_docs": console.data_docs_page(dataset_id),
        },
    )


def _first_problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])


@router.get("/quarantine", response_class=HTMLResponse)
def quarantine_page(
    request: Request,
    console: ConsoleDep,
    replayed: Annotated[int | None, Query()] = None,
) -> HTMLResponse:
    t = translator(get_lang(request))
    names = set(QueueFilters.model_fields)
    try:
        # Parsed here rather than by FastAPI so that a bad filter is a page, not JSON.
        filters = QueueFilters.model_validate(
            {name: value for name, value in request.query_params.items() if name in names}
        )
        page = list_queue(console.engine, console.catalogue, filters)
    except ValidationError as exc:
        return error_page(
            request, 400, t("bad_request"), _first_problem(exc), back=href(request, "/quarantine")
        )
    except CatalogueError:
        return error_page(
            request,
            400,
            t("bad_request"),
            t("unknown_dataset", id=filters.dataset),
            back=href(request, "/quarantine"),
        )
    return render(
        request,
        "quarantine.html",
        {
            "filters": filters,
            "page": page,
            "statuses": STATUSES,
            "datasets": console.catalogue.datasets,
            "sources": sorted({d.source_system for d in console.catalogue.datasets}),
            "rules": known_rules(console.engine),
            "replayable_stages": REPLAYABLE_STAGES,
            "replayable_statuses": OFFERED_FOR_REPLAY,
            "replayed": replayed,
            # The replay form returns the steward to the page as it is now.
            "here": str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        },
    )


@router.get("/quarantine/{row_id}", response_class=HTMLResponse)
def quarantine_record_page(request: Request, row_id: int, console: ConsoleDep) -> HTMLResponse:
    t = translator(get_lang(request))
    try:
        detail = show_quarantine(console.engine, row_id)
    except QuarantineError:
        return error_page(
            request,
            404,
            t("not_found"),
            t("unknown_record", id=row_id),
            back=href(request, "/quarantine"),
        )
    return render(
        request,
        "quarantine_record.html",
        {
            "record": detail,
            "record_json": (
                json.dumps(detail.record, ensure_ascii=False, indent=2)
                if detail.record is not None
                else None
            ),
            "source_row_json": (
                detail.source_row
                if detail.source_row is None or isinstance(detail.source_row, str)
                else json.dumps(detail.source_row, ensure_ascii=False, indent=2)
            ),
            "replayable": (
                detail.status in OFFERED_FOR_REPLAY and detail.stage in REPLAYABLE_STAGES
            ),
            "here": str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        },
    )


def _local_return_path(target: str | None, fallback: str) -> str:
    """Where to send the steward after a replay: a path of this site, never another site."""
    if not target:
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return fallback
    if "\\" in target:
        return fallback
    return target


def _with_notice(target: str, row_id: int) -> str:
    parts = urlsplit(target)
    query = [(name, value) for name, value in parse_qsl(parts.query) if name != "replayed"]
    query.append(("replayed", str(row_id)))
    return f"{parts.path}?{urlencode(query)}"


@router.post(
    "/quarantine/{row_id}/replay",
    dependencies=[Depends(require_same_origin)],
    response_model=None,
)
def replay_action(
    request: Request,
    row_id: int,
    console: ConsoleDep,
    next_page: Annotated[str | None, Query(alias="next")] = None,
) -> Response:
    t = translator(get_lang(request))
    back = _local_return_path(next_page, href(request, "/quarantine"))
    try:
        replay_row(
            console.engine,
            console.catalogue,
            row_id,
            bootstrap_servers=console.bootstrap_servers,
            topic_partitions=console.topic_partitions,
        )
    except ReplayProblem as problem:
        if problem.kind == "no_broker":
            message = t("replay_no_broker", id=row_id)
        elif problem.kind == "refused":
            message = f"{t('replay_refused')} {problem}"
        elif problem.kind == "not_found":
            message = t("unknown_record", id=row_id)
        else:
            message = str(problem)
        return error_page(request, problem.http_status, t("replay_failed"), message, back=back)
    return RedirectResponse(_with_notice(back, row_id), status_code=303)
