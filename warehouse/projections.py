"""Linked views and daily indicators, kept exact in the transaction that stores a batch.

Every derived row is a function of the dataset tables alone. After a batch is upserted, the
rows it can have changed are computed again from those tables: the citizens its records name,
the enterprises it touches, the (indicator, unit, day) buckets its records count in now or
counted in before. So the order records arrive in, and how often they arrive, cannot change
the outcome: a death stored before its person waits in ``civil_death`` (see
:func:`pending_civil_events`) and shows in ``citizen_view`` when the person's row is computed,
and a redelivered batch computes the same rows again.

Indicators go through ``indicator_fact``, one row per record and indicator it counts in, so
that an amended record's old bucket is known without keeping its old version, and a bucket is
recounted with one indexed ``GROUP BY``. Everything runs on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache
from types import MappingProxyType
from typing import Any, Final

from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    ColumnElement,
    Connection,
    String,
    Table,
    delete,
    exists,
    func,
    insert,
    select,
    tuple_,
)

from schemas.catalogue import Dataset, column_name, default_catalogue
from warehouse.models import dataset_table
from warehouse.store import (
    PROJECTIONS_LOCK,
    Consumed,
    chunks,
    insert_many,
    lock,
    log_ingest,
    member_of,
    release_quarantine,
    row_key,
    supersede_quarantine,
    upsert_records,
    upsert_rows,
    utc,
)
from warehouse.views import (
    CitizenView,
    EnterpriseBranch,
    EnterpriseBusinessLine,
    EnterpriseView,
    IndicatorDaily,
    IndicatorFact,
)

PERSON: Final = "citizen.person"
BIRTH: Final = "civil.birth"
MARRIAGE: Final = "civil.marriage"
DEATH: Final = "civil.death"
ENTERPRISE: Final = "business.enterprise"
DOCUMENT: Final = "document.record"

# Vietnam keeps one offset all year; document times become days in the province's calendar.
ICT: Final = timezone(timedelta(hours=7), "ICT")

REGISTRATION_DEADLINE_DAYS: Final[Mapping[str, int]] = MappingProxyType(
    {
        # Law on Civil Status 60/2014/QH13, Article 15: a birth is registered within 60 days
        # of the day the child was born.
        BIRTH: 60,
        # Article 33: a death is registered within 15 days of the day the person died.
        DEATH: 15,
    }
)
"""Days after the event within which a registration counts as on time, by dataset."""

# The people a civil-status event names, by role, and the column naming each.
PERSON_LINKS: Final[Mapping[str, tuple[tuple[str, str], ...]]] = MappingProxyType(
    {
        BIRTH: (("mother", "mother_personal_id"), ("father", "father_personal_id")),
        MARRIAGE: (("husband", "husband_personal_id"), ("wife", "wife_personal_id")),
        DEATH: (("deceased", "deceased_personal_id"),),
    }
)

MARRIED: Final = "MARRIED"
COMMUNE: Final = "commune"
AGENCY: Final = "agency"


class Indicator(BaseModel):
    """A count kept per unit per day in ``indicator_daily``."""

    model_config = ConfigDict(frozen=True)

    name: str
    dataset: str
    vi: str
    en: str


class Share(BaseModel):
    """A share derived from counts: numerator over the sum of the denominators."""

    model_config = ConfigDict(frozen=True)

    name: str
    numerator: str
    denominators: tuple[str, ...]
    vi: str
    en: str


INDICATORS: Final[tuple[Indicator, ...]] = (
    Indicator(
        name="births_registered",
        dataset=BIRTH,
        vi="Số đăng ký khai sinh",
        en="Birth registrations, by registering commune and registration date",
    ),
    Indicator(
        name="births_registered_on_time",
        dataset=BIRTH,
        vi="Số đăng ký khai sinh đúng hạn (trong 60 ngày kể từ ngày sinh)",
        en="Birth registrations within 60 days of the birth",
    ),
    Indicator(
        name="marriages_registered",
        dataset=MARRIAGE,
        vi="Số đăng ký kết hôn",
        en="Marriage registrations, by registering commune and registration date",
    ),
    Indicator(
        name="deaths_registered",
        dataset=DEATH,
        vi="Số đăng ký khai tử",
        en="Death registrations, by registering commune and registration date",
    ),
    Indicator(
        name="deaths_registered_on_time",
        dataset=DEATH,
        vi="Số đăng ký khai tử đúng hạn (trong 15 ngày kể từ ngày chết)",
        en="Death registrations within 15 days of the death",
    ),
    Indicator(
        name="enterprises_registered",
        dataset=ENTERPRISE,
        vi="Số doanh nghiệp thành lập mới",
        en="New enterprises, by head-office commune and first registration date",
    ),
    Indicator(
        name="enterprises_amended",
        dataset=ENTERPRISE,
        vi="Số doanh nghiệp đăng ký thay đổi",
        en="Enterprises whose latest amendment was registered that day",
    ),
    Indicator(
        name="enterprises_dissolved",
        dataset=ENTERPRISE,
        vi="Số doanh nghiệp giải thể",
        en="Dissolved enterprises, by the day the registry last updated them (ICT)",
    ),
    Indicator(
        name="documents_received",
        dataset=DOCUMENT,
        vi="Số văn bản đến",
        en="Incoming documents, by holding agency and day received (ICT)",
    ),
    Indicator(
        name="documents_issued",
        dataset=DOCUMENT,
        vi="Số văn bản đi",
        en="Outgoing documents, by issuing agency and day sent (ICT)",
    ),
    Indicator(
        name="documents_processed_online",
        dataset=DOCUMENT,
        vi="Số văn bản được xử lý hoàn toàn trên môi trường mạng",
        en="Documents, incoming or outgoing, processed fully online",
    ),
    Indicator(
        name="documents_issued_signed",
        dataset=DOCUMENT,
        vi="Số văn bản đi có chữ ký số",
        en="Outgoing documents carrying a digital signature",
    ),
)

SHARES: Final[tuple[Share, ...]] = (
    Share(
        name="births_on_time_share",
        numerator="births_registered_on_time",
        denominators=("births_registered",),
        vi="Tỷ lệ đăng ký khai sinh đúng hạn",
        en="Share of births registered on time",
    ),
    Share(
        name="deaths_on_time_share",
        numerator="deaths_registered_on_time",
        denominators=("deaths_registered",),
        vi="Tỷ lệ đăng ký khai tử đúng hạn",
        en="Share of deaths registered on time",
    ),
    Share(
        name="documents_online_share",
        numerator="documents_processed_online",
        denominators=("documents_received", "documents_issued"),
        vi="Tỷ lệ văn bản được xử lý hoàn toàn trên môi trường mạng",
        en="Share of documents processed fully online",
    ),
    Share(
        name="documents_signed_share",
        numerator="documents_issued_signed",
        denominators=("documents_issued",),
        vi="Tỷ lệ văn bản đi có chữ ký số",
        en="Share of outgoing documents digitally signed",
    ),
)

# What a record contributes: indicator name -> (unit kind, unit code, day).
Facts = dict[str, tuple[str, str, date]]
Bucket = tuple[str, str, date]


def registered_on_time(dataset_id: str, event_day: date | None, registered: date) -> bool:
    """Whether a registration came within the legal deadline after its event."""
    if event_day is None:
        return False
    return registered <= event_day + timedelta(days=REGISTRATION_DEADLINE_DAYS[dataset_id])


def local_day(moment: datetime | None) -> date | None:
    """The calendar day of ``moment`` in Vietnam."""
    instant = utc(moment)
    return instant.astimezone(ICT).date() if instant is not None else None


def _civil_unit(row: Mapping[str, Any]) -> tuple[str, str]:
    # District-level authorities and missions abroad have no commune: count them by agency.
    commune = row["registering_commune_code"]
    return (COMMUNE, commune) if commune else (AGENCY, row["registering_agency_id"])


def _birth_facts(row: Mapping[str, Any]) -> Facts:
    kind, code = _civil_unit(row)
    registered = row["registration_date"]
    facts = {"births_registered": (kind, code, registered)}
    if registered_on_time(BIRTH, row["child_date_of_birth"], registered):
        facts["births_registered_on_time"] = (kind, code, registered)
    return facts


def _marriage_facts(row: Mapping[str, Any]) -> Facts:
    kind, code = _civil_unit(row)
    return {"marriages_registered": (kind, code, row["registration_date"])}


def _death_facts(row: Mapping[str, Any]) -> Facts:
    kind, code = _civil_unit(row)
    registered = row["registration_date"]
    facts = {"deaths_registered": (kind, code, registered)}
    if registered_on_time(DEATH, row["date_of_death"], registered):
        facts["deaths_registered_on_time"] = (kind, code, registered)
    return facts


def _enterprise_facts(row: Mapping[str, Any]) -> Facts:
    commune = row["head_office_commune_code"]
    facts = {"enterprises_registered": (COMMUNE, commune, row["first_registered_on"])}
    if row["amended_on"] is not None:
        facts["enterprises_amended"] = (COMMUNE, commune, row["amended_on"])
    # The registry records no dissolution date; the last update is when it said so.
    dissolved_on = local_day(row["updated_at"])
    if row["status"] == "DISSOLVED" and dissolved_on is not None:
        facts["enterprises_dissolved"] = (COMMUNE, commune, dissolved_on)
    return facts


def _document_facts(row: Mapping[str, Any]) -> Facts:
    holder = row["holder_agency_id"]
    incoming = row["direction"] == "INCOMING"
    # A register without the time of receipt or dispatch still dates the document.
    moment = row["received_at"] if incoming else row["sent_at"]
    day = local_day(moment) or row["issue_date"]
    facts = {("documents_received" if incoming else "documents_issued"): (AGENCY, holder, day)}
    if row["processed_online"]:
        facts["documents_processed_online"] = (AGENCY, holder, day)
    if not incoming and row["digitally_signed"]:
        facts["documents_issued_signed"] = (AGENCY, holder, day)
    return facts


FACTS: Final[Mapping[str, Callable[[Mapping[str, Any]], Facts]]] = MappingProxyType(
    {
        BIRTH: _birth_facts,
        MARRIAGE: _marriage_facts,
        DEATH: _death_facts,
        ENTERPRISE: _enterprise_facts,
        DOCUMENT: _document_facts,
    }
)


# -- the sink's transaction ------------------------------------------------------------------


def store_clean_batch(
    connection: Connection,
    dataset: Dataset,
    consumed: Sequence[Consumed],
    released: Iterable[int] = (),
    *,
    at: datetime | None = None,
) -> None:
    """Store a sink's batch and everything derived from it, in the caller's transaction.

    Logs each record's offset, upserts the rows (newest version wins), releases the replayed
    quarantine rows among them, supersedes held rows they fix, and computes again the linked
    views and indicator buckets they touch.

    Args:
        connection: A connection inside the transaction to commit with the batch's offsets.
        dataset: The catalogue dataset of the batch.
        consumed: The clean records, with where they were read.
        released: Quarantine rows whose replayed records are in the batch.
        at: When the sink stores the batch, for the ingest log; now by default.
    """
    released_ids = list(released)
    if not consumed and not released_ids:
        return
    # Two workers sharing a dataset during a rebalance must not interleave the read of the
    # old rows with the upsert. On SQLite the ingest log's insert, the first statement,
    # takes the database's single write lock instead.
    lock(connection, f"lgsp.sink.{dataset.id}")
    log_ingest(connection, dataset, consumed, at or datetime.now(UTC))
    rows = [item.row for item in consumed]
    keys = _distinct_keys(dataset, rows)
    # An amended event may name other people than before; those saw the old version.
    named_before = (
        _people_named(dataset.id, _stored_rows(connection, dataset, keys))
        if dataset.id in PERSON_LINKS
        else set()
    )
    upsert_records(connection, dataset, rows)
    # Every write below reads tables other sinks write (a death reads the persons).
    lock(connection, PROJECTIONS_LOCK)
    release_quarantine(connection, dataset, released_ids)
    supersede_quarantine(connection, dataset.id, {item.record_key for item in consumed})
    _project(connection, dataset, rows, named_before)


def _project(
    connection: Connection,
    dataset: Dataset,
    rows: Sequence[Mapping[str, Any]],
    named_before: Collection[str] = (),
) -> None:
    """Compute again the view rows and indicator buckets that stored ``rows`` can change.

    Args:
        connection: A connection in the transaction that stored the rows.
        dataset: Their dataset.
        rows: The rows as given to the upsert (older versions that lost to a stored one too).
        named_before: Personal ids the stored versions of these records named before.
    """
    people = set(named_before) | _people_named(dataset.id, rows)
    enterprises: set[str] = set()
    if dataset.id == PERSON:
        people |= {row["personal_id"] for row in rows}
        enterprises |= _represented_by(connection, people)
    elif dataset.id == ENTERPRISE:
        enterprises |= {row["enterprise_code"] for row in rows}
    buckets = _refresh_facts(connection, dataset, _distinct_keys(dataset, rows))
    _refresh_citizens(connection, people)
    _refresh_enterprises(connection, enterprises)
    _recount(connection, buckets)


def _distinct_keys(dataset: Dataset, rows: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    columns = [column_name(path) for path in dataset.key]
    return list(dict.fromkeys(tuple(row[c] for c in columns) for row in rows))


def _key_condition(
    connection: Connection, table: Table, dataset: Dataset, keys: Sequence[tuple[Any, ...]]
) -> ColumnElement[bool]:
    columns = [table.c[column_name(path)] for path in dataset.key]
    if len(columns) == 1 and isinstance(columns[0].type, String):
        return member_of(connection, columns[0], [key[0] for key in keys])
    if len(columns) == 1:
        return columns[0].in_([key[0] for key in keys])
    return tuple_(*columns).in_(keys)


def _stored_rows(
    connection: Connection, dataset: Dataset, keys: Sequence[tuple[Any, ...]]
) -> list[Mapping[str, Any]]:
    """The stored rows of these keys; only for datasets something is derived from."""
    if not keys or (dataset.id not in FACTS and dataset.id not in PERSON_LINKS):
        return []
    table = dataset_table(dataset.id)
    found: list[Mapping[str, Any]] = []
    for chunk in chunks(keys):
        found.extend(
            connection.execute(
                select(table).where(_key_condition(connection, table, dataset, chunk))
            )
            .mappings()
            .all()
        )
    return found


def _people_named(dataset_id: str, rows: Iterable[Mapping[str, Any]]) -> set[str]:
    columns = [column for _, column in PERSON_LINKS.get(dataset_id, ())]
    return {row[column] for row in rows for column in columns if row[column]}


def _represented_by(connection: Connection, people: Collection[str]) -> set[str]:
    enterprise = dataset_table(ENTERPRISE)
    representative = enterprise.c.legal_representative_personal_id
    codes: set[str] = set()
    for chunk in chunks(sorted(people)):
        codes.update(
            connection.execute(
                select(enterprise.c.enterprise_code).where(
                    member_of(connection, representative, chunk)
                )
            ).scalars()
        )
    return codes


# -- indicators --------------------------------------------------------------------------------


def _refresh_facts(
    connection: Connection, dataset: Dataset, keys: Sequence[tuple[Any, ...]]
) -> set[Bucket]:
    """Bring the stored records' contributions up to date; the buckets that changed."""
    facts_of = FACTS.get(dataset.id)
    if facts_of is None or not keys:
        return set()
    current = {
        row_key(dataset, row): facts_of(row) for row in _stored_rows(connection, dataset, keys)
    }
    fact = IndicatorFact.__table__
    before: dict[str, Facts] = {}
    for chunk in chunks(sorted(current)):
        for row in connection.execute(
            select(fact).where(
                fact.c.dataset == dataset.id, member_of(connection, fact.c.record_key, chunk)
            )
        ).mappings():
            before.setdefault(row["record_key"], {})[row["indicator"]] = (
                row["unit_kind"],
                row["unit_code"],
                row["day"],
            )
    changed = sorted(key for key, facts in current.items() if before.get(key, {}) != facts)
    if not changed:
        return set()
    touched: set[Bucket] = set()
    additions: list[dict[str, Any]] = []
    for key in changed:
        for indicator, (_, unit_code, day) in before.get(key, {}).items():
            touched.add((indicator, unit_code, day))
        for indicator, (unit_kind, unit_code, day) in current[key].items():
            touched.add((indicator, unit_code, day))
            additions.append(
                {
                    "dataset": dataset.id,
                    "record_key": key,
                    "indicator": indicator,
                    "unit_kind": unit_kind,
                    "unit_code": unit_code,
                    "day": day,
                }
            )
    for chunk in chunks(changed):
        connection.execute(
            delete(fact).where(
                fact.c.dataset == dataset.id, member_of(connection, fact.c.record_key, chunk)
            )
        )
    insert_many(connection, insert(fact), additions)
    return touched


def _recount(connection: Connection, buckets: Collection[Bucket]) -> None:
    """Count each bucket again from the contributions; an emptied bucket is removed."""
    fact = IndicatorFact.__table__
    daily = IndicatorDaily.__table__
    for chunk in chunks(sorted(buckets)):
        counted = connection.execute(
            select(
                fact.c.indicator,
                fact.c.unit_code,
                fact.c.day,
                func.max(fact.c.unit_kind),
                func.count(),
            )
            .where(tuple_(fact.c.indicator, fact.c.unit_code, fact.c.day).in_(chunk))
            .group_by(fact.c.indicator, fact.c.unit_code, fact.c.day)
        ).all()
        values = [
            {"indicator": i, "unit_code": u, "day": d, "unit_kind": kind, "value": n}
            for i, u, d, kind, n in counted
        ]
        upsert_rows(connection, daily, values, ("indicator", "unit_code", "day"))
        present = {(v["indicator"], v["unit_code"], v["day"]) for v in values}
        emptied = [bucket for bucket in chunk if bucket not in present]
        if emptied:
            connection.execute(
                delete(daily).where(
                    tuple_(daily.c.indicator, daily.c.unit_code, daily.c.day).in_(emptied)
                )
            )


class ShareValue(BaseModel):
    """A derived share for one unit on one day."""

    share: str
    unit_kind: str
    unit_code: str
    day: date
    numerator: int
    denominator: int
    value: float


def indicator_shares(
    connection: Connection,
    share: str,
    *,
    unit_code: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> list[ShareValue]:
    """A share per unit per day, from the stored counts; days without a denominator are left out.

    Raises:
        KeyError: ``share`` is not one of :data:`SHARES`.
    """
    definition = {s.name: s for s in SHARES}[share]
    daily = IndicatorDaily.__table__
    conditions: list[ColumnElement[bool]] = [
        daily.c.indicator.in_((definition.numerator, *definition.denominators))
    ]
    if unit_code is not None:
        conditions.append(daily.c.unit_code == unit_code)
    if since is not None:
        conditions.append(daily.c.day >= since)
    if until is not None:
        conditions.append(daily.c.day <= until)
    numerators: dict[tuple[str, str, date], int] = {}
    denominators: dict[tuple[str, str, date], int] = {}
    for row in connection.execute(select(daily).where(*conditions)).mappings():
        bucket = (row["unit_kind"], row["unit_code"], row["day"])
        if row["indicator"] == definition.numerator:
            numerators[bucket] = row["value"]
        else:
            denominators[bucket] = denominators.get(bucket, 0) + row["value"]
    return [
        ShareValue(
            share=share,
            unit_kind=kind,
            unit_code=code,
            day=day,
            numerator=numerators.get((kind, code, day), 0),
            denominator=total,
            value=numerators.get((kind, code, day), 0) / total,
        )
        for (kind, code, day), total in sorted(denominators.items())
        if total > 0
    ]


# -- the citizen view --------------------------------------------------------------------------


def _source(dataset_id: str, row: Mapping[str, Any]) -> dict[str, Any]:
    updated = utc(row["updated_at"])
    return {
        "dataset": dataset_id,
        "source_system": row["source_system"],
        "key": row_key(_dataset(dataset_id), row),
        "updated_at": updated.isoformat(timespec="milliseconds") if updated else None,
        "trace_id": row["trace_id"],
    }


def _latest_registration(dataset_id: str) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    dataset = _dataset(dataset_id)

    def order(row: Mapping[str, Any]) -> tuple[Any, ...]:
        # Ties broken by the record key, so the choice never depends on the read order.
        return (row["registration_date"], utc(row["updated_at"]), row_key(dataset, row))

    return order


@cache
def _dataset(dataset_id: str) -> Dataset:
    return default_catalogue().dataset(dataset_id)


def _person_columns() -> list[ColumnElement[Any]]:
    """What the views read of a person: the fields they show and the lineage they cite."""
    person = dataset_table(PERSON)
    return [
        person.c[name]
        for name in (
            "personal_id",
            "full_name",
            "date_of_birth",
            "gender",
            "permanent_residence_commune_code",
            "updated_at",
            "source_system",
            "trace_id",
        )
    ]


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _named_in(
    connection: Connection, dataset_id: str, people: Sequence[str]
) -> dict[str, list[Mapping[str, Any]]]:
    """The dataset's stored events naming each of ``people``, by personal id."""
    table = dataset_table(dataset_id)
    dataset = _dataset(dataset_id)
    found: dict[str, dict[str, Mapping[str, Any]]] = {}
    for _, column in PERSON_LINKS[dataset_id]:
        named = member_of(connection, table.c[column], people)
        for row in connection.execute(select(table).where(named)).mappings():
            found.setdefault(row[column], {})[row_key(dataset, row)] = row
    return {person: list(events.values()) for person, events in found.items()}


def _citizen_row(
    person: Mapping[str, Any],
    deaths: Sequence[Mapping[str, Any]],
    marriages: Sequence[Mapping[str, Any]],
    births: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    personal_id = person["personal_id"]
    sources: dict[str, Any] = {"person": _source(PERSON, person)}
    death = max(deaths, key=_latest_registration(DEATH)) if deaths else None
    if death is not None:
        sources["deceased"] = sources["date_of_death"] = _source(DEATH, death)
    marriage = max(marriages, key=_latest_registration(MARRIAGE)) if marriages else None
    spouse_id = spouse_name = None
    if marriage is not None:
        spouse = "wife" if marriage["husband_personal_id"] == personal_id else "husband"
        spouse_id = marriage[f"{spouse}_personal_id"]
        spouse_name = marriage[f"{spouse}_full_name"]
        sources["marital_status"] = sources["spouse_id"] = _source(MARRIAGE, marriage)
    # A child registered twice (a re-registration) is one child.
    children = {birth["child_personal_id"] or _source(BIRTH, birth)["key"] for birth in births}
    if births:
        sources["children"] = sorted(
            (_source(BIRTH, birth) for birth in births), key=lambda source: source["key"]
        )
    return {
        "personal_id": personal_id,
        "full_name": person["full_name"],
        "date_of_birth": person["date_of_birth"],
        "gender": person["gender"],
        "permanent_residence_commune_code": person["permanent_residence_commune_code"],
        "deceased": death is not None,
        "date_of_death": death["date_of_death"] if death is not None else None,
        "marital_status": MARRIED if marriage is not None else None,
        "spouse_id": spouse_id,
        "spouse_name": spouse_name,
        "children_count": len(children),
        "children_ids": (
            _json(sorted({b["child_personal_id"] for b in births} - {None})) if births else "[]"
        ),
        "sources": _json(sources),
    }


def _refresh_citizens(connection: Connection, people: Collection[str]) -> None:
    person = dataset_table(PERSON)
    view = CitizenView.__table__
    for chunk in chunks(sorted(people)):
        persons = connection.execute(
            select(*_person_columns()).where(member_of(connection, person.c.personal_id, chunk))
        )
        found = {row["personal_id"]: row for row in persons.mappings()}
        ids = sorted(found)
        deaths = _named_in(connection, DEATH, ids) if ids else {}
        marriages = _named_in(connection, MARRIAGE, ids) if ids else {}
        births = _named_in(connection, BIRTH, ids) if ids else {}
        rows = [
            _citizen_row(
                found[pid], deaths.get(pid, []), marriages.get(pid, []), births.get(pid, [])
            )
            for pid in ids
        ]
        upsert_rows(connection, view, rows, ("personal_id",))
        missing = [pid for pid in chunk if pid not in found]
        if missing:
            connection.execute(
                delete(view).where(member_of(connection, view.c.personal_id, missing))
            )


class PendingEvent(BaseModel):
    """A civil-status event waiting for the person it names."""

    dataset: str
    record_key: str
    role: str
    personal_id: str
    registration_date: date


def pending_civil_events(connection: Connection, *, limit: int | None = None) -> list[PendingEvent]:
    """Civil-status events naming a person the population database does not hold (yet).

    They are stored and counted in the indicators; they show in ``citizen_view`` once the
    person arrives. Ordered by dataset, role and key; ``limit`` keeps the first ones.
    """
    person = dataset_table(PERSON)
    found: list[tuple[str, str, tuple[Any, ...], PendingEvent]] = []
    for dataset_id, roles in sorted(PERSON_LINKS.items()):
        table = dataset_table(dataset_id)
        dataset = _dataset(dataset_id)
        key_columns = [table.c[column_name(path)] for path in dataset.key]
        for role, column in roles:
            named = table.c[column]
            statement = (
                select(table)
                .where(named.is_not(None), ~exists().where(person.c.personal_id == named))
                .order_by(*key_columns)
            )
            if limit is not None:
                statement = statement.limit(limit)
            for row in connection.execute(statement).mappings():
                event = PendingEvent(
                    dataset=dataset_id,
                    record_key=row_key(dataset, row),
                    role=role,
                    personal_id=row[column],
                    registration_date=row["registration_date"],
                )
                found.append((dataset_id, role, tuple(row[c.name] for c in key_columns), event))
    found.sort(key=lambda item: item[:3])
    events = [event for *_, event in found]
    return events if limit is None else events[:limit]


# -- the enterprise view -----------------------------------------------------------------------


def _parsed_list(text: str | None) -> list[dict[str, Any]]:
    items = json.loads(text) if text else []
    return [item for item in items if isinstance(item, dict)]


def _enterprise_rows(
    enterprise: Mapping[str, Any], citizen: Mapping[str, Any] | None
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    code = enterprise["enterprise_code"]
    branches: dict[str, dict[str, Any]] = {}
    for branch in _parsed_list(enterprise["branches"]):
        branch_code = branch.get("branch_code")
        if not branch_code:
            continue
        # A code listed twice is one branch; the first listing is kept.
        branches.setdefault(
            branch_code,
            {
                "enterprise_code": code,
                "branch_code": branch_code,
                "name": branch.get("name") or "",
                "address": branch.get("address"),
                "commune_code": branch.get("commune_code"),
            },
        )
    lines: dict[str, dict[str, Any]] = {}
    for line in _parsed_list(enterprise["business_lines"]):
        line_code = line.get("code")
        if not line_code:
            continue
        kept = lines.setdefault(
            line_code,
            {"enterprise_code": code, "code": line_code, "name": line.get("name") or ""},
        )
        kept["main"] = bool(kept.get("main")) or bool(line.get("main"))
    main = min((line for line in lines.values() if line["main"]), default=None, key=_code)
    sources: dict[str, Any] = {"enterprise": _source(ENTERPRISE, enterprise)}
    if citizen is not None:
        sources["representative_citizen_id"] = _source(PERSON, citizen)
    view = {
        "enterprise_code": code,
        "name_vi": enterprise["name_vi"],
        "legal_form": enterprise["legal_form"],
        "status": enterprise["status"],
        "head_office_commune_code": enterprise["head_office_commune_code"],
        "representative_name": enterprise["legal_representative_full_name"],
        "representative_personal_id": enterprise["legal_representative_personal_id"],
        "representative_citizen_id": citizen["personal_id"] if citizen is not None else None,
        "representative_citizen_name": citizen["full_name"] if citizen is not None else None,
        "branch_count": len(branches),
        "business_line_count": len(lines),
        "main_business_line_code": main["code"] if main is not None else None,
        "main_business_line_name": main["name"] if main is not None else None,
        "sources": _json(sources),
    }
    return view, list(branches.values()), list(lines.values())


def _code(line: Mapping[str, Any]) -> str:
    return str(line["code"])


def _refresh_enterprises(connection: Connection, codes: Collection[str]) -> None:
    table = dataset_table(ENTERPRISE)
    person = dataset_table(PERSON)
    view = EnterpriseView.__table__
    branch = EnterpriseBranch.__table__
    line = EnterpriseBusinessLine.__table__
    for chunk in chunks(sorted(codes)):
        enterprises = (
            connection.execute(
                select(table).where(member_of(connection, table.c.enterprise_code, chunk))
            )
            .mappings()
            .all()
        )
        representatives = sorted(
            {e["legal_representative_personal_id"] for e in enterprises} - {None}
        )
        citizens = {
            row["personal_id"]: row
            for row in connection.execute(
                select(*_person_columns()).where(
                    member_of(connection, person.c.personal_id, representatives)
                )
            ).mappings()
        }
        views: list[dict[str, Any]] = []
        branches: list[dict[str, Any]] = []
        lines: list[dict[str, Any]] = []
        for enterprise in enterprises:
            citizen = citizens.get(enterprise["legal_representative_personal_id"])
            row, its_branches, its_lines = _enterprise_rows(enterprise, citizen)
            views.append(row)
            branches.extend(its_branches)
            lines.extend(its_lines)
        upsert_rows(connection, view, views, ("enterprise_code",))
        found = {row["enterprise_code"] for row in views}
        missing = [code for code in chunk if code not in found]
        if missing:
            connection.execute(
                delete(view).where(member_of(connection, view.c.enterprise_code, missing))
            )
        connection.execute(
            delete(branch).where(member_of(connection, branch.c.enterprise_code, chunk))
        )
        connection.execute(delete(line).where(member_of(connection, line.c.enterprise_code, chunk)))
        insert_many(connection, insert(branch), branches)
        insert_many(connection, insert(line), lines)
