"""Subscriptions: a consuming system requests a dataset, a steward grants or refuses it.

A subscription moves ``requested`` -> ``granted`` | ``refused``, and ``granted`` ->
``revoked``; a refused or revoked system may request again. A grant includes personal data
only when the request asked for it and the steward allowed it (Decree 13/2023: purpose and
minimisation). Every action, carried out or not, is appended to the audit log in the
transaction that makes it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, cast

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, Engine, Table, insert, select, update

from hub.access.audit import Action, AuditRecord, Outcome, audited
from hub.access.errors import AccessError
from hub.access.systems import ConsumingSystem
from schemas.catalogue import Catalogue, CatalogueError, Dataset
from warehouse.access import Subscription


class Status(StrEnum):
    REQUESTED = "requested"
    GRANTED = "granted"
    REFUSED = "refused"
    REVOKED = "revoked"


class SubscriptionView(BaseModel):
    """A subscription as stored."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    id: int
    system_id: str
    dataset: str
    purpose: str
    personal_data_requested: bool
    status: Status
    personal_data: bool
    requested_at: datetime
    requested_by: str
    decided_at: datetime | None
    decided_by: str | None
    decision_note: str | None


def _table() -> Table:
    return cast("Table", Subscription.__table__)


def _dataset(catalogue: Catalogue, dataset_id: str) -> Dataset:
    try:
        return catalogue.dataset(dataset_id)
    except CatalogueError as exc:
        raise AccessError(str(exc)) from exc


def _current(connection: Connection, system_id: str, dataset_id: str) -> SubscriptionView | None:
    table = _table()
    row = (
        connection.execute(
            select(table).where(table.c.system_id == system_id, table.c.dataset == dataset_id)
        )
        .mappings()
        .first()
    )
    return None if row is None else SubscriptionView.model_validate(dict(row))


def _reread(connection: Connection, system_id: str, dataset_id: str) -> SubscriptionView:
    stored = _current(connection, system_id, dataset_id)
    if stored is None:  # written in this very transaction
        raise RuntimeError(f"subscription of {system_id} to {dataset_id} vanished")
    return stored


Change = Callable[[Connection], tuple[SubscriptionView, dict[str, Any]]]


def _administer(
    engine: Engine,
    action: Action,
    actor: str,
    system: ConsumingSystem,
    dataset_id: str,
    change: Change,
) -> SubscriptionView:
    """Carry out ``change`` and audit it; a refused change is audited as rejected, then raised.

    ``change`` checks everything before it writes, so a rejection leaves nothing half done.
    """
    rejected: AccessError | None = None
    with audited(engine) as log:
        try:
            view, detail = change(log.connection)
        except AccessError as exc:
            rejected = exc
            log.append(
                AuditRecord(
                    actor=actor,
                    action=action,
                    outcome=Outcome.REJECTED,
                    system_id=system.id,
                    dataset=dataset_id,
                    detail={"reason": str(exc)},
                )
            )
        else:
            log.append(
                AuditRecord(
                    actor=actor,
                    action=action,
                    outcome=Outcome.OK,
                    system_id=system.id,
                    dataset=dataset_id,
                    detail=detail,
                )
            )
    if rejected is not None:
        raise rejected
    return view


def _when(moment: datetime | None) -> str:
    return "" if moment is None else f" on {moment:%Y-%m-%d}"


def request_subscription(
    engine: Engine,
    catalogue: Catalogue,
    system: ConsumingSystem,
    dataset_id: str,
    *,
    purpose: str,
    personal_data: bool,
    actor: str,
) -> SubscriptionView:
    """Record a system's request for a dataset, for a steward to decide.

    Raises:
        AccessError: Unknown dataset, no purpose, personal data asked of a dataset that has
            none, or a request or grant already open.
    """

    def change(connection: Connection) -> tuple[SubscriptionView, dict[str, Any]]:
        dataset = _dataset(catalogue, dataset_id)
        if not purpose.strip():
            raise AccessError("a request must state its purpose (Decree 13/2023)")
        if personal_data and not dataset.personal_data:
            raise AccessError(f"{dataset.id} has no personal-data fields to ask for")
        existing = _current(connection, system.id, dataset.id)
        if existing is not None and existing.status == Status.REQUESTED:
            raise AccessError(
                f"{system} already requested {dataset.id}{_when(existing.requested_at)}; "
                "it awaits a steward's decision"
            )
        if existing is not None and existing.status == Status.GRANTED:
            raise AccessError(
                f"{system} already holds a grant for {dataset.id}; to change it, revoke it "
                "and request again"
            )
        values = {
            "purpose": purpose.strip(),
            "personal_data_requested": personal_data,
            "status": Status.REQUESTED.value,
            "personal_data": False,
            "requested_at": datetime.now(UTC),
            "requested_by": actor,
            "decided_at": None,
            "decided_by": None,
            "decision_note": None,
        }
        table = _table()
        if existing is None:
            connection.execute(
                insert(table).values(system_id=system.id, dataset=dataset.id, **values)
            )
        else:
            connection.execute(update(table).where(table.c.id == existing.id).values(**values))
        detail = {"purpose": values["purpose"], "personal_data": personal_data}
        return _reread(connection, system.id, dataset.id), detail

    return _administer(engine, Action.SUBSCRIPTION_REQUEST, actor, system, dataset_id, change)


def _decide(
    engine: Engine,
    catalogue: Catalogue,
    system: ConsumingSystem,
    dataset_id: str,
    *,
    action: Action,
    needs: Status,
    becomes: Status,
    personal_data: bool,
    note: str | None,
    actor: str,
) -> SubscriptionView:
    def change(connection: Connection) -> tuple[SubscriptionView, dict[str, Any]]:
        dataset = _dataset(catalogue, dataset_id)
        existing = _current(connection, system.id, dataset.id)
        if existing is None:
            raise AccessError(f"{system} has not requested {dataset.id}")
        if existing.status != needs:
            raise AccessError(
                f"the subscription of {system} to {dataset.id} is {existing.status.value}"
                f"{_when(existing.decided_at)}, not {needs.value}"
            )
        if personal_data and not existing.personal_data_requested:
            raise AccessError(
                f"{system} did not ask for personal data of {dataset.id}; a grant cannot "
                "give more than was requested"
            )
        if becomes in (Status.REFUSED, Status.REVOKED) and not (note and note.strip()):
            raise AccessError(f"say why the subscription is {becomes.value} (--reason)")
        table = _table()
        connection.execute(
            update(table)
            .where(table.c.id == existing.id)
            .values(
                status=becomes.value,
                personal_data=personal_data,
                decided_at=datetime.now(UTC),
                decided_by=actor,
                decision_note=note.strip() if note else None,
            )
        )
        detail: dict[str, Any] = {"personal_data": personal_data}
        if note:
            detail["note"] = note.strip()
        return _reread(connection, system.id, dataset.id), detail

    return _administer(engine, action, actor, system, dataset_id, change)


def grant_subscription(
    engine: Engine,
    catalogue: Catalogue,
    system: ConsumingSystem,
    dataset_id: str,
    *,
    personal_data: bool,
    actor: str,
    note: str | None = None,
) -> SubscriptionView:
    """Grant a pending request, with personal data only if it was asked for.

    Raises:
        AccessError: No pending request, or personal data granted beyond the request.
    """
    return _decide(
        engine,
        catalogue,
        system,
        dataset_id,
        action=Action.SUBSCRIPTION_GRANT,
        needs=Status.REQUESTED,
        becomes=Status.GRANTED,
        personal_data=personal_data,
        note=note,
        actor=actor,
    )


def refuse_subscription(
    engine: Engine,
    catalogue: Catalogue,
    system: ConsumingSystem,
    dataset_id: str,
    *,
    reason: str,
    actor: str,
) -> SubscriptionView:
    """Refuse a pending request, saying why.

    Raises:
        AccessError: No pending request, or no reason.
    """
    return _decide(
        engine,
        catalogue,
        system,
        dataset_id,
        action=Action.SUBSCRIPTION_REFUSE,
        needs=Status.REQUESTED,
        becomes=Status.REFUSED,
        personal_data=False,
        note=reason,
        actor=actor,
    )


def revoke_subscription(
    engine: Engine,
    catalogue: Catalogue,
    system: ConsumingSystem,
    dataset_id: str,
    *,
    reason: str,
    actor: str,
) -> SubscriptionView:
    """Withdraw a grant, saying why; the next API call is refused.

    Raises:
        AccessError: No grant in force, or no reason.
    """
    return _decide(
        engine,
        catalogue,
        system,
        dataset_id,
        action=Action.SUBSCRIPTION_REVOKE,
        needs=Status.GRANTED,
        becomes=Status.REVOKED,
        personal_data=False,
        note=reason,
        actor=actor,
    )


def list_subscriptions(
    engine: Engine,
    *,
    system_id: str | None = None,
    dataset_id: str | None = None,
    status: Status | None = None,
) -> list[SubscriptionView]:
    """Subscriptions matching every filter given, by system then dataset."""
    table = _table()
    statement = select(table).order_by(table.c.system_id, table.c.dataset)
    if system_id is not None:
        statement = statement.where(table.c.system_id == system_id)
    if dataset_id is not None:
        statement = statement.where(table.c.dataset == dataset_id)
    if status is not None:
        statement = statement.where(table.c.status == status.value)
    with engine.connect() as connection:
        rows = connection.execute(statement).mappings().all()
    return [SubscriptionView.model_validate(dict(row)) for row in rows]


def grant_in_force(
    connection: Connection, system_id: str, dataset_id: str
) -> SubscriptionView | None:
    """The system's grant for the dataset, or ``None`` when it holds none."""
    current = _current(connection, system_id, dataset_id)
    return current if current is not None and current.status == Status.GRANTED else None
