"""The quarantine queue as the console filters and replays it, on top of ``hub.quarantine``.

Listing, showing and replaying are ``hub.quarantine``'s; the console adds an end date to the
filters and turns the replay's failures into what a steward can act on.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from typing import Annotated, Any, Final, Literal, cast, get_args

from pydantic import BaseModel, BeforeValidator, Field, model_validator
from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.orm import Session

from hub.quarantine import (
    QuarantineEntry,
    QuarantineError,
    QuarantineQuery,
    ReplayResult,
    StatusFilter,
    _conditions,
    _entry,
    select_for_replay,
    send_replays,
    show_quarantine,
)
from hub.topics import TopicError, ensure_topics
from quality.rules import VN_TZ
from schemas.catalogue import Catalogue
from warehouse.models import Quarantine

STATUSES: Final[tuple[str, ...]] = get_args(StatusFilter)
"""Every status filter ``hub.quarantine`` knows, ``all`` last."""

OFFERED_FOR_REPLAY: Final = ("held", "replayed")
"""Statuses whose rows get a replay button: still in the queue, or a replay that was lost.
``hub.quarantine`` decides; a row it refuses is refused with its reason whatever the page."""


def _blank_is_none(value: Any) -> Any:
    # An HTML form sends every field, the ones left empty as "".
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


Blankable = BeforeValidator(_blank_is_none)


class QueueFilters(BaseModel):
    """What the queue page and ``GET /api/quarantine`` filter on; dates are days in ICT."""

    dataset: Annotated[str | None, Blankable] = Field(default=None, description="Dataset id")
    rule: Annotated[str | None, Blankable] = Field(
        default=None, description="A rule, or a family of rules such as `decode`"
    )
    source: Annotated[str | None, Blankable] = Field(default=None, description="Source system")
    since: Annotated[date | None, Blankable] = Field(
        default=None, description="Held on or after this day (ICT)"
    )
    until: Annotated[date | None, Blankable] = Field(
        default=None, description="Held on or before this day (ICT)"
    )
    status: Annotated[str, Blankable] = Field(
        default="held", description=f"One of: {', '.join(STATUSES)}"
    )
    limit: int = Field(default=100, ge=1, le=1000, description="Newest rows shown at most")

    @model_validator(mode="after")
    def _consistent(self) -> QueueFilters:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {self.status!r}")
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ValueError("the date range ends before it starts")
        return self

    def query(self) -> QuarantineQuery:
        return QuarantineQuery(
            dataset=self.dataset,
            rule=self.rule,
            source_system=self.source,
            since=self.since,
            status=cast(StatusFilter, self.status),
            limit=self.limit,
        )


class QueuePage(BaseModel):
    """The newest matching rows and how many match in all."""

    total: int
    items: list[QuarantineEntry]


def _has_queue(engine: Engine) -> bool:
    return inspect(engine).has_table(Quarantine.__tablename__)


def list_queue(engine: Engine, catalogue: Catalogue, filters: QueueFilters) -> QueuePage:
    """The queue with the filters of ``lgsp quarantine list`` and an end date.

    Raises:
        CatalogueError: The dataset filter names no dataset of the catalogue.
    """
    query = filters.query()
    if query.dataset is not None:
        catalogue.dataset(query.dataset)
    if not _has_queue(engine):
        return QueuePage(total=0, items=[])
    conditions = _conditions(query)
    if filters.until is not None:
        # Stored times are UTC (compared as text on SQLite): the bound is the next day's
        # start in the province, in UTC.
        end = datetime.combine(filters.until + timedelta(days=1), clock(), VN_TZ)
        conditions.append(Quarantine.quarantined_at < end.astimezone(UTC))
    with Session(engine) as session:
        total = session.scalar(select(func.count()).select_from(Quarantine).where(*conditions))
        rows = session.scalars(
            select(Quarantine)
            .where(*conditions)
            .order_by(Quarantine.quarantined_at.desc(), Quarantine.id.desc())
            .limit(query.limit)
        )
        items = [_entry(row) for row in rows]
    return QueuePage(total=int(total or 0), items=items)


def known_rules(engine: Engine, *, at_most: int = 200) -> list[str]:
    """The rules rows in the queue failed, for the rule filter's suggestions."""
    if not _has_queue(engine):
        return []
    with engine.connect() as connection:
        stored = connection.scalars(select(Quarantine.rules).distinct().limit(at_most))
        return sorted({rule for rules in stored for rule in rules.split(",") if rule})


class ReplayProblem(Exception):
    """A replay the console could not do; ``kind`` says what the steward can do about it.

    ``no_broker``: no broker is configured; ``unreachable``: the broker did not answer or
    acknowledge; ``refused``: the row cannot be replayed (see the message); ``not_found``: no
    row has the id.
    """

    def __init__(
        self, kind: Literal["no_broker", "unreachable", "refused", "not_found"], message: str
    ) -> None:
        super().__init__(message)
        self.kind = kind

    @property
    def http_status(self) -> int:
        """503 while the broker is missing (try again later), 409 refused, 404 no such row."""
        return {"no_broker": 503, "unreachable": 503, "refused": 409}.get(self.kind, 404)


def replay_row(
    engine: Engine,
    catalogue: Catalogue,
    row_id: int,
    *,
    bootstrap_servers: str | None,
    topic_partitions: int = 1,
) -> ReplayResult:
    """Publish one quarantined record to its raw topic again, for the running worker to judge.

    The row is ``replayed`` once the broker acknowledges the record, and so leaves the queue
    of held rows; the worker releases it or holds it again.

    Raises:
        ReplayProblem: The record was not replayed; the message is one line.
    """
    try:
        show_quarantine(engine, row_id)
    except QuarantineError as exc:
        raise ReplayProblem("not_found", str(exc)) from exc
    if bootstrap_servers is None:
        raise ReplayProblem(
            "no_broker",
            "LGSP_BOOTSTRAP_SERVERS is not set: the console publishes replays to a running "
            f"hub's broker; `lgsp quarantine replay {row_id}` runs an embedded hub instead",
        )
    selection = select_for_replay(engine, catalogue, ids=[row_id])
    if selection.refused:
        raise ReplayProblem("refused", selection.refused[0].reason)
    topics = sorted({catalogue.dataset(item.dataset).raw_topic for item in selection.items})
    try:
        ensure_topics(bootstrap_servers, topics, topic_partitions)
        send_replays(engine, bootstrap_servers, catalogue, selection.items)
    except (TopicError, QuarantineError) as exc:
        raise ReplayProblem("unreachable", str(exc)) from exc
    return ReplayResult(replayed=[item.id for item in selection.items], refused=[])
