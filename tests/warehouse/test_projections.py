"""Views and indicators are a function of the stored records: order and redelivery cannot matter.

Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from linked_records import (
    CHILD,
    CIVIL_AGENCY,
    COMMUNE,
    FATHER,
    GRANDFATHER,
    MOTHER,
    OTHER_CIVIL_AGENCY,
    OTHER_COMMUNE,
    PROVINCE_OFFICE,
    Feed,
    Message,
    at,
    birth,
    death,
    document,
    enterprise,
    incoming,
    marriage,
    people,
    second_birth,
    snapshot,
)
from sqlalchemy import Engine, select, text
from sqlalchemy.engine import make_url

from warehouse.db import create_warehouse_engine, init_warehouse
from warehouse.projections import (
    INDICATORS,
    REGISTRATION_DEADLINE_DAYS,
    SHARES,
    indicator_shares,
    pending_civil_events,
    registered_on_time,
    store_clean_batch,
)
from warehouse.views import CitizenView, IndicatorDaily

PERSON, BIRTH, MARRIAGE, DEATH = "citizen.person", "civil.birth", "civil.marriage", "civil.death"
ENTERPRISE, DOCUMENT = "business.enterprise", "document.record"


@pytest.fixture
def engine(warehouse_url: str) -> Iterator[Engine]:
    engine = create_warehouse_engine(warehouse_url)
    init_warehouse(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def other_engine(warehouse_url: str, tmp_path: Path) -> Iterator[Engine]:
    """A second, empty warehouse on the same kind of database."""
    url = make_url(warehouse_url)
    schema = None
    if url.get_backend_name() == "sqlite":
        url = url.set(database=str(tmp_path / "other.db"))
    else:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        run_ddl(warehouse_url, f'CREATE SCHEMA "{schema}"')
        url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    engine = create_warehouse_engine(url.render_as_string(hide_password=False))
    init_warehouse(engine)
    yield engine
    engine.dispose()
    if schema is not None:
        run_ddl(warehouse_url, f'DROP SCHEMA "{schema}" CASCADE')


def run_ddl(url: str, statement: str) -> None:
    admin = create_warehouse_engine(url)
    with admin.begin() as connection:
        connection.execute(text(statement))
    admin.dispose()


def corrected_death() -> dict:
    """The death registration corrected a week later: the death was on 3 March."""
    return death(date_of_death=date(2025, 3, 3), updated_at=at(date(2025, 3, 21)))


def moved_birth() -> dict:
    """The first birth's record corrected: registered by the neighbouring ward a day later."""
    return birth(
        "0123",
        registering_agency_id=CIVIL_AGENCY,
        registering_commune_code=OTHER_COMMUNE,
        registration_date=date(2024, 6, 21),
        updated_at=at(date(2024, 7, 1)),
    )


def dissolved() -> dict:
    return enterprise(
        status="DISSOLVED",
        amendment_number=2,
        amended_on=date(2025, 8, 4),
        updated_at=datetime(2025, 8, 4, 18, 0, tzinfo=UTC),
    )


def in_order(feed: Feed) -> None:
    feed.load(PERSON, *people())
    feed.load(BIRTH, birth("0123"), second_birth())
    feed.load(MARRIAGE, marriage())
    feed.load(DEATH, death())
    feed.load(ENTERPRISE, enterprise())
    feed.load(DOCUMENT, document("424/QĐ-UBND"), incoming("424/QĐ-UBND"))
    feed.load(DEATH, corrected_death())
    feed.load(BIRTH, moved_birth())
    feed.load(ENTERPRISE, dissolved())


def out_of_order(feed: Feed) -> None:
    family = {p["personal_id"]: p for p in people()}
    # Amendments before what they amend; events before the people they name; children
    # before their parents; the enterprise before its representative.
    feed.load(ENTERPRISE, dissolved())
    feed.load(DEATH, corrected_death())
    feed.load(BIRTH, moved_birth(), second_birth())
    feed.load(PERSON, family[CHILD])
    feed.load(DEATH, death())
    feed.load(DOCUMENT, incoming("424/QĐ-UBND"))
    feed.load(MARRIAGE, marriage())
    feed.load(ENTERPRISE, enterprise())
    feed.load(BIRTH, birth("0123"))
    feed.load(PERSON, family[MOTHER], family[GRANDFATHER])
    feed.load(DOCUMENT, document("424/QĐ-UBND"))
    feed.load(PERSON, family[FATHER])


def citizens(engine: Engine) -> dict[str, dict]:
    with engine.connect() as connection:
        rows = connection.execute(select(CitizenView)).mappings()
        return {row["personal_id"]: dict(row) for row in rows}


def indicators(engine: Engine) -> dict[tuple[str, str, date], int]:
    table = IndicatorDaily.__table__
    with engine.connect() as connection:
        return {
            (row.indicator, row.unit_code, row.day): row.value
            for row in connection.execute(select(table))
        }


def test_out_of_order_input_ends_in_the_in_order_state(engine, other_engine) -> None:
    in_order(Feed(engine))
    out_of_order(Feed(other_engine))

    expected = snapshot(engine, offsets=False)
    assert snapshot(other_engine, offsets=False) == expected
    # The state compared is the one intended, not two equally empty ones.
    grandfather = citizens(engine)[GRANDFATHER]
    assert grandfather["deceased"] is True
    assert grandfather["date_of_death"] == date(2025, 3, 3)
    assert citizens(engine)[MOTHER]["children_count"] == 2
    counts = indicators(engine)
    assert counts[("births_registered", OTHER_COMMUNE, date(2024, 6, 21))] == 1
    assert ("births_registered", COMMUNE, date(2024, 6, 20)) not in counts
    assert counts[("enterprises_dissolved", COMMUNE, date(2025, 8, 5))] == 1
    assert len(expected["ingest_log"]) == 14
    # Every indicator defined is counted by these records, and none undefined.
    assert {indicator for indicator, _, _ in counts} == {i.name for i in INDICATORS}
    defined = {i.name for i in INDICATORS}
    assert all({s.numerator, *s.denominators} <= defined for s in SHARES)


def batches(feed: Feed) -> Iterator[list[Message]]:
    family = people()
    yield feed.publish(PERSON, *family[:2])
    yield feed.publish(PERSON, *family[2:])
    yield feed.publish(BIRTH, birth("0123"), second_birth())
    yield feed.publish(MARRIAGE, marriage())
    yield feed.publish(DEATH, death(), corrected_death())
    yield feed.publish(ENTERPRISE, enterprise(), dissolved())
    yield feed.publish(DOCUMENT, document("424/QĐ-UBND"), incoming("424/QĐ-UBND"))
    yield feed.publish(BIRTH, moved_birth())


def test_redelivering_any_batch_changes_nothing(engine) -> None:
    feed = Feed(engine)
    delivered = []
    for batch in batches(feed):
        feed.deliver(batch)
        delivered.append(batch)
    state = snapshot(engine)
    assert state["citizen_view"], "the batches were stored"
    for batch in delivered:
        feed.deliver(batch)
        assert snapshot(engine) == state, f"redelivering {batch[0].dataset} changed the warehouse"
    # A redelivery spanning two batches, as a consumer restarted mid-way reads it.
    feed.deliver(delivered[0] + delivered[1])
    assert snapshot(engine) == state


def test_redelivering_an_older_version_changes_nothing(engine) -> None:
    feed = Feed(engine)
    original = feed.publish(DEATH, death())
    feed.load(PERSON, *people())
    feed.deliver(original)
    feed.load(DEATH, corrected_death())
    state = snapshot(engine)
    feed.deliver(original)
    assert snapshot(engine) == state
    assert citizens(engine)[GRANDFATHER]["date_of_death"] == date(2025, 3, 3)


def test_an_amended_record_moves_its_indicator_count(engine) -> None:
    feed = Feed(engine)
    neighbour = birth(
        "0124",
        child={**birth("0124")["child"], "personal_id": None, "full_name": "Lê Thị Mai"},
        mother={"full_name": "Lê Thị Hoa", "personal_id": None, "nationality": "VN"},
        father=None,
    )
    feed.load(BIRTH, birth("0123"), neighbour)
    old_bucket = ("births_registered", COMMUNE, date(2024, 6, 20))
    new_bucket = ("births_registered", OTHER_COMMUNE, date(2024, 6, 21))
    assert indicators(engine)[old_bucket] == 2
    assert new_bucket not in indicators(engine)

    feed.load(BIRTH, moved_birth())
    counts = indicators(engine)
    assert counts[old_bucket] == 1
    assert counts[new_bucket] == 1
    assert counts[("births_registered_on_time", OTHER_COMMUNE, date(2024, 6, 21))] == 1

    # Moved again, by another registering office, into the district authority's count.
    feed.load(
        BIRTH,
        birth(
            "0123",
            registering_commune_code=None,
            registering_agency_id=CIVIL_AGENCY,
            registration_date=date(2024, 9, 2),
            updated_at=at(date(2024, 9, 2)),
        ),
    )
    counts = indicators(engine)
    assert new_bucket not in counts, "an emptied bucket is removed, not left at zero"
    assert counts[("births_registered", CIVIL_AGENCY, date(2024, 9, 2))] == 1
    # 93 days after the birth: late.
    assert ("births_registered_on_time", CIVIL_AGENCY, date(2024, 9, 2)) not in counts
    assert counts[old_bucket] == 1


def test_a_key_of_another_registering_office_is_another_record(engine) -> None:
    feed = Feed(engine)
    feed.load(BIRTH, birth("0123"), birth("0123", registering_agency_id=OTHER_CIVIL_AGENCY))
    assert indicators(engine)[("births_registered", COMMUNE, date(2024, 6, 20))] == 2


def test_a_death_before_its_person_waits_and_applies_when_the_person_arrives(engine) -> None:
    feed = Feed(engine)
    feed.load(DEATH, death())
    feed.load(BIRTH, birth("0123"))
    with engine.connect() as connection:
        waiting = pending_civil_events(connection)
    assert [(e.dataset, e.role, e.personal_id) for e in waiting] == [
        (BIRTH, "father", FATHER),
        (BIRTH, "mother", MOTHER),
        (DEATH, "deceased", GRANDFATHER),
    ]
    assert waiting[2].record_key == f"{CIVIL_AGENCY}|01/2025|0031"
    assert waiting[2].registration_date == date(2025, 3, 14)
    assert GRANDFATHER not in citizens(engine)
    # The event is counted whether or not its person is known.
    assert indicators(engine)[("deaths_registered", COMMUNE, date(2025, 3, 14))] == 1

    family = {p["personal_id"]: p for p in people()}
    feed.load(PERSON, family[GRANDFATHER], family[MOTHER])
    with engine.connect() as connection:
        assert [e.personal_id for e in pending_civil_events(connection)] == [FATHER]
        assert len(pending_civil_events(connection, limit=0)) == 0
    grandfather = citizens(engine)[GRANDFATHER]
    assert grandfather["deceased"] is True
    assert grandfather["date_of_death"] == date(2025, 3, 4)
    assert citizens(engine)[MOTHER]["children_count"] == 1


def test_an_amended_marriage_naming_another_person_leaves_the_first(engine) -> None:
    feed = Feed(engine)
    feed.load(PERSON, *people())
    feed.load(MARRIAGE, marriage())
    assert citizens(engine)[FATHER]["spouse_id"] == MOTHER
    # The registry corrects a mistyped husband: the grandfather's id had been entered.
    feed.load(
        MARRIAGE,
        marriage(
            husband={**marriage()["husband"], "personal_id": GRANDFATHER},
            updated_at=at(date(2015, 10, 1)),
        ),
    )
    view = citizens(engine)
    assert view[FATHER]["marital_status"] is None
    assert view[FATHER]["spouse_id"] is None
    assert view[GRANDFATHER]["spouse_id"] == MOTHER
    assert view[MOTHER]["spouse_id"] == GRANDFATHER


@pytest.mark.parametrize(
    ("dataset_id", "days_after", "on_time"),
    [
        (BIRTH, 0, True),
        (BIRTH, 60, True),
        (BIRTH, 61, False),
        (DEATH, 15, True),
        (DEATH, 16, False),
    ],
)
def test_registration_deadlines(dataset_id: str, days_after: int, on_time: bool) -> None:
    event = date(2024, 12, 20)
    assert registered_on_time(dataset_id, event, event + timedelta(days=days_after)) is on_time
    assert REGISTRATION_DEADLINE_DAYS == {BIRTH: 60, DEATH: 15}


def test_shares_derive_from_the_counts(engine) -> None:
    feed = Feed(engine)
    late = second_birth(registration_date=date(2024, 6, 20), child=second_birth()["child"])
    late["child"] = {**late["child"], "date_of_birth": date(2024, 3, 1)}
    feed.load(BIRTH, birth("0123"), late)
    feed.load(DEATH, death())
    feed.load(
        DOCUMENT,
        document("424/QĐ-UBND"),
        document("425/QĐ-UBND", digitally_signed=False, processed_online=False),
        incoming("424/QĐ-UBND"),
    )
    with engine.connect() as connection:
        births = indicator_shares(connection, "births_on_time_share")
        deaths = indicator_shares(connection, "deaths_on_time_share")
        signed = indicator_shares(connection, "documents_signed_share")
        online = indicator_shares(connection, "documents_online_share", unit_code=PROVINCE_OFFICE)
        none = indicator_shares(connection, "births_on_time_share", since=date(2025, 1, 1))
    assert [(s.unit_code, s.day, s.numerator, s.denominator, s.value) for s in births] == [
        (COMMUNE, date(2024, 6, 20), 1, 2, 0.5)
    ]
    assert [(s.day, s.value) for s in deaths] == [(date(2025, 3, 14), 1.0)]
    # Sent at 23:30 UTC on 10 March: 11 March in Vietnam.
    assert [(s.unit_code, s.day, s.value) for s in signed] == [
        (PROVINCE_OFFICE, date(2025, 3, 11), 0.5)
    ]
    assert [(s.day, s.numerator, s.denominator) for s in online] == [(date(2025, 3, 11), 1, 2)]
    assert none == []
    counts = indicators(engine)
    assert counts[("documents_received", "000.00.06.H25", date(2025, 3, 11))] == 1
    assert ("documents_processed_online", "000.00.06.H25", date(2025, 3, 11)) not in counts


def test_enterprise_indicators_follow_status_and_amendments(engine) -> None:
    feed = Feed(engine)
    feed.load(ENTERPRISE, enterprise())
    assert indicators(engine) == {("enterprises_registered", COMMUNE, date(2019, 5, 6)): 1}
    feed.load(ENTERPRISE, dissolved())
    assert indicators(engine) == {
        ("enterprises_registered", COMMUNE, date(2019, 5, 6)): 1,
        ("enterprises_amended", COMMUNE, date(2025, 8, 4)): 1,
        # Updated at 18:00 UTC: the next day in Vietnam.
        ("enterprises_dissolved", COMMUNE, date(2025, 8, 5)): 1,
    }


@pytest.mark.postgres
def test_a_person_and_their_death_stored_at_once_both_reach_the_view(postgres_url: str) -> None:
    """Each transaction reads the other's table: without a lock each misses the other's rows."""
    engine = create_warehouse_engine(postgres_url)
    init_warehouse(engine)
    feed = Feed(engine)
    grandfather = next(p for p in people() if p["personal_id"] == GRANDFATHER)
    dataset, consumed = feed.consumed(feed.publish(DEATH, death()))
    person_batch = feed.publish(PERSON, grandfather)
    failures: list[BaseException] = []
    backend: list[int] = []

    def store_the_person() -> None:
        try:
            person_set, person_consumed = feed.consumed(person_batch)
            with engine.begin() as connection:
                backend.append(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())
                store_clean_batch(connection, person_set, person_consumed)
        except BaseException as exc:  # the test's thread reports it
            failures.append(exc)

    with engine.begin() as first:
        store_clean_batch(first, dataset, consumed)
        second = threading.Thread(target=store_the_person)
        second.start()
        # The death is stored, not committed: wait until the person's transaction waits for it.
        waiting = text("SELECT count(*) FROM pg_locks WHERE pid = :pid AND NOT granted")
        deadline = time.monotonic() + 60
        with engine.connect() as observer:
            while not backend or not observer.execute(waiting, {"pid": backend[0]}).scalar_one():
                assert second.is_alive(), failures
                assert time.monotonic() < deadline, "the person's transaction never waited"
                time.sleep(0.05)
    second.join()
    assert failures == []
    view = citizens(engine)[GRANDFATHER]
    assert (view["deceased"], view["date_of_death"]) == (True, date(2025, 3, 4))
    engine.dispose()
