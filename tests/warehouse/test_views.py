"""What the linked views and the ingest log hold, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from linked_records import (
    CHILD,
    CIVIL_AGENCY,
    ENTERPRISE_CODE,
    FATHER,
    GRANDFATHER,
    MOTHER,
    OTHER_CIVIL_AGENCY,
    SECOND_CHILD,
    Feed,
    at,
    birth,
    death,
    enterprise,
    marriage,
    people,
    second_birth,
)
from sqlalchemy import Engine, select

from warehouse.db import create_warehouse_engine, init_warehouse
from warehouse.views import (
    CitizenView,
    EnterpriseBranch,
    EnterpriseBusinessLine,
    EnterpriseView,
    IngestLog,
)

PERSON, BIRTH, MARRIAGE, DEATH = "citizen.person", "civil.birth", "civil.marriage", "civil.death"
ENTERPRISE = "business.enterprise"


@pytest.fixture
def engine(warehouse_url: str) -> Iterator[Engine]:
    engine = create_warehouse_engine(warehouse_url)
    init_warehouse(engine)
    yield engine
    engine.dispose()


def rows(engine: Engine, model: type) -> list[dict]:
    table = model.__table__
    with engine.connect() as connection:
        result = connection.execute(select(table).order_by(*table.primary_key.columns))
        return [dict(row) for row in result.mappings()]


def citizen(engine: Engine, personal_id: str) -> dict:
    [row] = [row for row in rows(engine, CitizenView) if row["personal_id"] == personal_id]
    return row


def test_a_citizen_carries_marriage_children_and_their_sources(engine) -> None:
    feed = Feed(engine)
    feed.load(PERSON, *people())
    feed.load(MARRIAGE, marriage())
    feed.load(BIRTH, birth("0123"), second_birth())

    mother = citizen(engine, MOTHER)
    assert mother["full_name"] == "Trần Thị Thu Hương"
    assert unicodedata.is_normalized("NFC", mother["full_name"])
    assert mother["deceased"] is False
    assert mother["date_of_death"] is None
    assert mother["marital_status"] == "MARRIED"
    assert (mother["spouse_id"], mother["spouse_name"]) == (FATHER, "Nguyễn Văn Đạt")
    assert mother["children_count"] == 2
    assert json.loads(mother["children_ids"]) == [CHILD, SECOND_CHILD]

    sources = json.loads(mother["sources"])
    assert set(sources) == {"person", "marital_status", "spouse_id", "children"}
    assert sources["spouse_id"] == {
        "dataset": MARRIAGE,
        "source_system": "civil_status",
        "key": f"{CIVIL_AGENCY}|01/2015|0088",
        "updated_at": "2015-09-12T09:00:00.000+00:00",
        "trace_id": sources["spouse_id"]["trace_id"],
    }
    assert sources["person"]["dataset"] == PERSON
    assert sources["person"]["source_system"] == "population"
    assert [child["key"] for child in sources["children"]] == [
        f"{CIVIL_AGENCY}|01/2024|0123",
        f"{CIVIL_AGENCY}|01/2025|0457",
    ]
    # Each linked field names the record that said it, down to its trace id.
    with engine.connect() as connection:
        traced = set(connection.execute(select(IngestLog.trace_id)).scalars())
    assert {sources["spouse_id"]["trace_id"], sources["person"]["trace_id"]} <= traced

    father = citizen(engine, FATHER)
    assert (father["spouse_id"], father["spouse_name"]) == (MOTHER, "Trần Thị Thu Hương")
    assert father["children_count"] == 2
    child = citizen(engine, CHILD)
    assert (child["marital_status"], child["children_count"], child["children_ids"]) == (
        None,
        0,
        "[]",
    )
    assert set(json.loads(child["sources"])) == {"person"}


def test_a_death_marks_the_citizen_deceased(engine) -> None:
    feed = Feed(engine)
    feed.load(PERSON, *people())
    feed.load(DEATH, death())
    grandfather = citizen(engine, GRANDFATHER)
    assert grandfather["deceased"] is True
    assert grandfather["date_of_death"] == date(2025, 3, 4)
    sources = json.loads(grandfather["sources"])
    assert sources["deceased"] == sources["date_of_death"]
    assert sources["deceased"]["key"] == f"{CIVIL_AGENCY}|01/2025|0031"
    assert citizen(engine, FATHER)["deceased"] is False


def test_a_child_registered_twice_is_one_child(engine) -> None:
    feed = Feed(engine)
    feed.load(PERSON, *people())
    reregistered = birth(
        "0009",
        registering_agency_id=OTHER_CIVIL_AGENCY,
        book_number="02/2025",
        registration_date=date(2025, 1, 9),
        registration_type="RE_REGISTRATION",
        updated_at=at(date(2025, 1, 9)),
    )
    feed.load(BIRTH, birth("0123"), reregistered)
    mother = citizen(engine, MOTHER)
    assert mother["children_count"] == 1
    assert json.loads(mother["children_ids"]) == [CHILD]
    assert len(json.loads(mother["sources"])["children"]) == 2


def test_a_foreign_spouse_is_named_without_an_id(engine) -> None:
    feed = Feed(engine)
    feed.load(PERSON, *people())
    foreign_wife = {
        **marriage()["wife"],
        "personal_id": None,
        "full_name": "Kim Ji-yeon",
        "nationality": "KR",
        "residence": {"commune_code": None, "address": "Suwon, Gyeonggi-do, Hàn Quốc"},
    }
    feed.load(MARRIAGE, marriage(wife=foreign_wife, registration_type="FOREIGN_ELEMENT"))
    father = citizen(engine, FATHER)
    assert father["marital_status"] == "MARRIED"
    assert (father["spouse_id"], father["spouse_name"]) == (None, "Kim Ji-yeon")


def test_the_enterprise_links_its_representative_when_the_citizen_arrives(engine) -> None:
    feed = Feed(engine)
    feed.load(ENTERPRISE, enterprise())
    [view] = rows(engine, EnterpriseView)
    assert view["representative_personal_id"] == FATHER
    assert view["representative_name"] == "Nguyễn Văn Đạt"
    assert view["representative_citizen_id"] is None
    assert set(json.loads(view["sources"])) == {"enterprise"}

    feed.load(PERSON, *people())
    [view] = rows(engine, EnterpriseView)
    assert view["representative_citizen_id"] == FATHER
    assert view["representative_citizen_name"] == "Nguyễn Văn Đạt"
    assert json.loads(view["sources"])["representative_citizen_id"]["dataset"] == PERSON
    assert view["name_vi"] == "Công ty TNHH Thương mại Hồng Lĩnh"
    assert (view["legal_form"], view["status"]) == ("SINGLE_MEMBER_LLC", "ACTIVE")
    assert (view["branch_count"], view["business_line_count"]) == (1, 2)
    assert (view["main_business_line_code"], view["main_business_line_name"]) == (
        "4632",
        "Bán buôn thực phẩm",
    )
    assert rows(engine, EnterpriseBusinessLine) == [
        {
            "enterprise_code": ENTERPRISE_CODE,
            "code": "4632",
            "name": "Bán buôn thực phẩm",
            "main": True,
        },
        {
            "enterprise_code": ENTERPRISE_CODE,
            "code": "4659",
            "name": "Bán buôn máy móc, thiết bị khác",
            "main": False,
        },
    ]
    [branch] = rows(engine, EnterpriseBranch)
    assert branch["branch_code"] == f"{ENTERPRISE_CODE}-001"
    assert branch["commune_code"] == "18115"


def test_an_amended_enterprise_replaces_its_branches_and_lines(engine) -> None:
    feed = Feed(engine)
    feed.load(ENTERPRISE, enterprise())
    second = {
        "branch_code": f"{ENTERPRISE_CODE}-003",
        "name": "Văn phòng đại diện Công ty TNHH Thương mại Hồng Lĩnh tại Kỳ Anh",
        "address": "Số 9 đường Lê Thánh Tông",
        "commune_code": "18313",
    }
    feed.load(
        ENTERPRISE,
        enterprise(
            branches=[second],
            business_lines=[{"code": "4632", "name": "Bán buôn thực phẩm", "main": True}],
            amendment_number=1,
            amended_on=date(2024, 2, 1),
            updated_at=datetime(2024, 2, 1, 3, 0, tzinfo=UTC),
        ),
    )
    assert [b["branch_code"] for b in rows(engine, EnterpriseBranch)] == [second["branch_code"]]
    assert [line["code"] for line in rows(engine, EnterpriseBusinessLine)] == ["4632"]
    [view] = rows(engine, EnterpriseView)
    assert (view["branch_count"], view["business_line_count"]) == (1, 1)


def test_the_ingest_log_holds_each_offset_once(engine) -> None:
    feed = Feed(engine)
    messages = feed.publish(PERSON, *people())
    feed.deliver(messages)
    feed.deliver(messages[1:3])
    log = rows(engine, IngestLog)
    assert [(entry["topic"], entry["partition"], entry["offset"]) for entry in log] == [
        ("clean.citizen.person", 0, offset) for offset in range(4)
    ]
    first = log[0]
    assert (first["dataset"], first["record_key"]) == (PERSON, GRANDFATHER)
    version = first["version"]
    assert (version if version.tzinfo else version.replace(tzinfo=UTC)) == at(date(2025, 1, 6))
    assert len(first["trace_id"]) == 32
    assert first["ingested_at"] is not None
