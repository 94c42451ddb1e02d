"""The HTTP data API for consuming systems: granted datasets, read page by page.

Every call names its system by an API key (header ``X-API-Key``) and is checked against the
system's grants: 401 without a key or with one the hub does not know (or has revoked), 403
without a grant for the dataset. Records come from the warehouse in the shape of the
dataset's Avro schema; without a personal-data grant, personal data is withheld exactly as
on ``shared.<dataset>`` (see :mod:`streams.sharing`), with the same pseudonyms. Every call,
answered or refused, is in the audit log before its answer leaves.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, SecretStr
from sqlalchemy import Engine, Table, func, inspect, select

from hub.access.audit import Action, AuditRecord, Outcome, append
from hub.access.grants import Status, grant_in_force, list_subscriptions
from hub.access.keys import KeyView, authenticate, key_id_of
from schemas.catalogue import (
    Catalogue,
    CatalogueError,
    Dataset,
    column_name,
    default_catalogue,
    leaf_fields,
)
from streams.sharing import Pseudonymiser
from warehouse.db import warehouse_answers
from warehouse.models import LINEAGE_COLUMNS, dataset_table

API_KEY_HEADER: Final = "X-API-Key"
DEFAULT_PAGE_SIZE: Final = 100
MAX_PAGE_SIZE: Final = 1000
_ANONYMOUS: Final = "anonymous"


class Lineage(BaseModel):
    """Where a record came from, as the warehouse recorded it."""

    source_system: str | None
    agency_id: str | None
    trace_id: str | None
    ingested_at: datetime | None


class Item(BaseModel):
    record: dict[str, Any]
    lineage: Lineage


class RecordsPage(BaseModel):
    """One page of a dataset, in key order."""

    dataset: str
    personal_data: bool
    page: int
    page_size: int
    total: int
    next_page: int | None
    records: list[Item]


class GrantItem(BaseModel):
    dataset: str
    title_vi: str
    title_en: str
    personal_data: bool
    granted_at: datetime | None


class Grants(BaseModel):
    system_id: str
    grants: list[GrantItem]


class Problem(BaseModel):
    """The body of a refusal: why, in Vietnamese and English."""

    detail: str


def _jsonable(value: Any) -> Any:
    """A warehouse value as JSON: exact decimals as text, dates ISO 8601, times in UTC."""
    if isinstance(value, datetime):
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return aware.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


class RecordShape:
    """Turns a dataset's flat warehouse rows back into records shaped like its Avro schema."""

    def __init__(self, dataset: Dataset) -> None:
        schema = dataset.avro_schema()
        self.leaves = leaf_fields(schema)
        self.json_columns = frozenset(
            leaf.column
            for leaf in self.leaves
            if isinstance(leaf.avro_type, dict) and leaf.avro_type.get("type") in ("array", "map")
        )
        # Deepest first, so an absent inner record is folded before its parent is looked at.
        self.optional_records = sorted(
            _optional_records(schema), key=lambda path: path.count("."), reverse=True
        )

    def record(self, row: dict[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {}
        for leaf in self.leaves:
            value = row[leaf.column]
            if leaf.column in self.json_columns and isinstance(value, str):
                value = json.loads(value)
            node = record
            *parents, name = leaf.path.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[name] = value
        for path in self.optional_records:
            *parents, name = path.split(".")
            node = record
            for part in parents:
                node = node.get(part) or {}
            inner = node.get(name)
            if isinstance(inner, dict) and _all_null(inner):
                node[name] = None
        return record


def _all_null(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_all_null(v) for v in value.values())
    return value is None


def _optional_records(schema: dict[str, Any]) -> list[str]:
    """Paths of the record-typed fields that may be null (``["null", Residence]``)."""
    named: dict[str, dict[str, Any]] = {}
    found: list[str] = []

    def walk(record: dict[str, Any], prefix: str) -> None:
        named[record["name"]] = record
        for field in record["fields"]:
            ftype = field["type"]
            branches = ftype if isinstance(ftype, list) else [ftype]
            optional = "null" in branches
            for branch in branches:
                inner = named.get(branch) if isinstance(branch, str) else branch
                if isinstance(inner, dict) and inner.get("type") == "record":
                    path = f"{prefix}{field['name']}"
                    if optional:
                        found.append(path)
                    walk(inner, f"{path}.")

    walk(schema, "")
    return found


def _lineage(row: dict[str, Any]) -> Lineage:
    ingested_at = row.get("ingested_at")
    if isinstance(ingested_at, datetime) and ingested_at.tzinfo is None:
        # SQLite gives back the stored UTC time without its zone.
        row = {**row, "ingested_at": ingested_at.replace(tzinfo=UTC)}
    return Lineage.model_validate({column: row.get(column) for column in LINEAGE_COLUMNS})


@dataclass(frozen=True)
class _Served:
    """What the routes need, kept on ``app.state`` by :func:`create_access_api`."""

    engine: Engine
    catalogue: Catalogue
    pseudonymisers: dict[str, Pseudonymiser]
    shapes: dict[str, RecordShape]


def _served(request: Request) -> _Served:
    served: _Served = request.app.state.access
    return served


def _audit(
    request: Request,
    *,
    actor: str,
    action: Action,
    outcome: Outcome,
    system_id: str | None,
    dataset: str | None,
    **detail: Any,
) -> None:
    client = request.client.host if request.client else None
    append(
        _served(request).engine,
        AuditRecord(
            actor=actor,
            action=action,
            outcome=outcome,
            system_id=system_id,
            dataset=dataset,
            detail={"path": request.url.path, "client": client, **detail},
        ),
    )


_api_key = APIKeyHeader(name=API_KEY_HEADER, auto_error=False)
PresentedKey = Annotated[str | None, Security(_api_key)]


def _identify(request: Request, presented: str | None, action: Action) -> KeyView:
    """The caller's active key; a missing or unknown one is audited, then answered 401."""
    dataset = request.path_params.get("dataset_id")
    if not presented:
        _audit(
            request,
            actor=_ANONYMOUS,
            action=action,
            outcome=Outcome.UNAUTHENTICATED,
            system_id=None,
            dataset=dataset,
            reason="no API key",
        )
        raise HTTPException(
            401,
            f"Thiếu khóa API / no API key: send it in the {API_KEY_HEADER} header",
            headers={"WWW-Authenticate": API_KEY_HEADER},
        )
    with _served(request).engine.connect() as connection:
        key = authenticate(connection, presented)
    if key is None:
        key_id = key_id_of(presented)
        _audit(
            request,
            actor=f"key:{key_id}",
            action=action,
            outcome=Outcome.UNAUTHENTICATED,
            system_id=None,
            dataset=dataset,
            reason="unknown or revoked API key",
            key_id=key_id,
        )
        raise HTTPException(
            401,
            "Khóa API không hợp lệ / the API key is unknown or revoked",
            headers={"WWW-Authenticate": API_KEY_HEADER},
        )
    return key


def _data_reader(request: Request, presented: PresentedKey) -> KeyView:
    return _identify(request, presented, Action.DATA_READ)


def _grants_reader(request: Request, presented: PresentedKey) -> KeyView:
    return _identify(request, presented, Action.GRANTS_READ)


DataReader = Annotated[KeyView, Depends(_data_reader)]
GrantsReader = Annotated[KeyView, Depends(_grants_reader)]
_REFUSALS: Final[dict[int | str, dict[str, Any]]] = {
    401: {"model": Problem, "description": "No API key, or one the hub does not accept"},
    403: {"model": Problem, "description": "No grant for the dataset"},
    404: {"model": Problem, "description": "No such dataset"},
}

router = APIRouter(prefix="/v1")
probes = APIRouter()


class Health(BaseModel):
    """For orchestrators: no key needed, no data shown, not audited."""

    status: str
    warehouse: bool


@probes.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "The warehouse does not answer"}},
)
def health(request: Request) -> JSONResponse:
    """Whether the API can serve: the warehouse answers a query."""
    reachable = warehouse_answers(_served(request).engine)
    body = Health(status="ok" if reachable else "unavailable", warehouse=reachable)
    return JSONResponse(body.model_dump(), status_code=200 if reachable else 503)


@router.get("/datasets", response_model=Grants, responses={401: _REFUSALS[401]})
def granted_datasets(request: Request, key: GrantsReader) -> Grants:
    """The datasets your system holds a grant for."""
    served = _served(request)
    grants = list_subscriptions(served.engine, system_id=key.system_id, status=Status.GRANTED)
    items = []
    for grant in grants:
        try:
            dataset = served.catalogue.dataset(grant.dataset)
        except CatalogueError:
            continue  # granted once, since removed from the catalogue
        items.append(
            GrantItem(
                dataset=dataset.id,
                title_vi=dataset.title.vi,
                title_en=dataset.title.en,
                personal_data=grant.personal_data,
                granted_at=grant.decided_at,
            )
        )
    _audit(
        request,
        actor=key.system_id,
        action=Action.GRANTS_READ,
        outcome=Outcome.ALLOWED,
        system_id=key.system_id,
        dataset=None,
        key_id=key.key_id,
        grants=len(items),
    )
    return Grants(system_id=key.system_id, grants=items)


@router.get("/datasets/{dataset_id}/records", response_model=RecordsPage, responses=_REFUSALS)
def dataset_records(
    request: Request,
    dataset_id: str,
    key: DataReader,
    page: Annotated[int, Query(ge=1, description="Page number, from 1")] = 1,
    page_size: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description="Records per page")
    ] = DEFAULT_PAGE_SIZE,
) -> RecordsPage:
    """A page of a dataset you hold a grant for, in key order.

    Without a personal-data grant, personal data is pseudonymised (text) or null.
    """
    served = _served(request)
    caller = {"actor": key.system_id, "system_id": key.system_id, "key_id": key.key_id}
    if dataset_id not in served.shapes:
        _audit(
            request,
            action=Action.DATA_READ,
            outcome=Outcome.NOT_FOUND,
            dataset=dataset_id,
            **caller,
        )
        raise HTTPException(404, f"Không có tập dữ liệu / no dataset {dataset_id!r}")
    with served.engine.connect() as connection:
        grant = grant_in_force(connection, key.system_id, dataset_id)
    if grant is None:
        _audit(
            request,
            action=Action.DATA_READ,
            outcome=Outcome.DENIED,
            dataset=dataset_id,
            reason="no grant",
            **caller,
        )
        raise HTTPException(
            403, f"Chưa được cấp quyền / {key.system_id} holds no grant for {dataset_id}"
        )
    table: Table = dataset_table(dataset_id)
    order = [table.c[column_name(path)] for path in served.catalogue.dataset(dataset_id).key]
    total, rows = 0, []
    with served.engine.connect() as connection:
        # A warehouse no worker has filled yet has no table for the dataset: it is empty.
        if inspect(connection).has_table(table.name):
            total = int(connection.execute(select(func.count()).select_from(table)).scalar_one())
            rows = list(
                connection.execute(
                    select(table).order_by(*order).limit(page_size).offset((page - 1) * page_size)
                ).mappings()
            )
    shape = served.shapes[dataset_id]
    items = []
    for row in rows:
        record = shape.record(dict(row))
        if not grant.personal_data:
            record = served.pseudonymisers[dataset_id].apply(record)
        items.append(Item(record=_jsonable(record), lineage=_lineage(dict(row))))
    # Audited before the answer leaves: data never goes out unrecorded.
    _audit(
        request,
        action=Action.DATA_READ,
        outcome=Outcome.ALLOWED,
        dataset=dataset_id,
        personal_data=grant.personal_data,
        page=page,
        page_size=page_size,
        records=len(items),
        **caller,
    )
    return RecordsPage(
        dataset=dataset_id,
        personal_data=grant.personal_data,
        page=page,
        page_size=page_size,
        total=total,
        next_page=page + 1 if page * page_size < total else None,
        records=items,
    )


def create_access_api(engine: Engine, *, pseudonym_key: SecretStr) -> FastAPI:
    """The data API over a warehouse.

    Args:
        engine: The warehouse; the access tables are created when missing.
        pseudonym_key: The secret pseudonyms are made with (``LGSP_PSEUDONYM_KEY``); the
            worker that fills the shared topics must use the same.

    Raises:
        PseudonymKeyError: The key is too short.
    """
    # The warehouse's tables are built from the hub's catalogue, so the API serves that one.
    catalogue = default_catalogue()
    app = FastAPI(
        title="LGSP Hub – API dữ liệu / data API",
        description=(
            "Dữ liệu dùng chung cho các hệ thống khai thác đã được cấp quyền. "
            "Shared data for consuming systems under a grant. Send your API key in "
            f"`{API_KEY_HEADER}`."
        ),
        version=str(catalogue.version),
    )
    app.state.access = _Served(
        engine=engine,
        catalogue=catalogue,
        pseudonymisers={d.id: Pseudonymiser(d, pseudonym_key) for d in catalogue.datasets},
        shapes={d.id: RecordShape(d) for d in catalogue.datasets},
    )
    app.include_router(router)
    app.include_router(probes)
    return app
