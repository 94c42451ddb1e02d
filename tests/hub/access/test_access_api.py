"""The data API: an API key per system, a grant per dataset, pseudonyms without personal data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from citizens import person
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, create_engine, update

from hub.access.api import create_access_api
from hub.access.audit import AuditQuery, list_entries, verify
from hub.access.grants import grant_subscription, request_subscription, revoke_subscription
from hub.access.keys import issue_key, revoke_keys
from hub.access.systems import ConsumingSystem
from schemas import headers as h
from schemas.catalogue import default_catalogue
from streams.sharing import pseudonym
from streams.verdicts import RowBuilder
from warehouse.access import AuditEntry
from warehouse.store import upsert_records

CATALOGUE = default_catalogue()
PERSON = CATALOGUE.dataset("citizen.person")
KEY = SecretStr("khóa-bí-danh-thử-nghiệm-đủ-dài-0123456789")
STEWARD = "Phạm Minh Tuấn"
HEALTH = ConsumingSystem.parse("000.00.00.H42/so-y-te-portal")
STATISTICS = ConsumingSystem.parse("000.00.00.H42/cuc-thong-ke")
STRANGER = ConsumingSystem.parse("000.00.00.H42/he-thong-la")
RECORDS_URL = "/v1/datasets/citizen.person/records"

FATHER = person(
    "042060000009",
    full_name="Trần Văn Đức",
    gender="MALE",
    date_of_birth=date(1960, 3, 14),
    permanent_residence={"commune_code": "18073", "address": "Xóm 3, xã Thạch Hạ"},
)
DAUGHTER = person("042195000001", full_name="Trần Thị Hồng Nhung", father_id="042060000009")
NEIGHBOUR = person(
    "042301000003",
    full_name="Lê Hoàng Yến",
    date_of_birth=date(2001, 12, 31),
    current_residence={"commune_code": "18073", "address": "Thôn Trung Lộc, xã Hương Trà"},
)
CITIZENS = [FATHER, DAUGHTER, NEIGHBOUR]
HEADERS = {h.SOURCE_SYSTEM: "population", h.TRACE_ID: "trace-1"}
PERSONAL_VALUES = [
    value
    for citizen in CITIZENS
    for value in (
        citizen["personal_id"],
        citizen["full_name"],
        citizen["permanent_residence"]["address"],
        citizen["date_of_birth"].isoformat(),
    )
] + [NEIGHBOUR["current_residence"]["address"]]


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    rows = RowBuilder(PERSON)
    with engine.begin() as connection:
        upsert_records(connection, PERSON, [rows.row(c, HEADERS) for c in CITIZENS])
    with TestClient(create_access_api(engine, pseudonym_key=KEY)) as test_client:
        yield test_client


def key_for(engine: Engine, system: ConsumingSystem) -> dict[str, str]:
    return {"X-API-Key": issue_key(engine, system, actor=STEWARD).key}


def subscribe(engine: Engine, system: ConsumingSystem, *, personal_data: bool) -> None:
    request_subscription(
        engine,
        CATALOGUE,
        system,
        PERSON.id,
        purpose="Tra cứu thông tin công dân phục vụ khám chữa bệnh",
        personal_data=personal_data,
        actor=STEWARD,
    )
    grant_subscription(
        engine, CATALOGUE, system, PERSON.id, personal_data=personal_data, actor=STEWARD
    )


def everything_in(response: Any) -> str:
    return response.text + json.dumps(response.json(), ensure_ascii=False)


def assert_no_personal_data(response: Any) -> None:
    shown = everything_in(response)
    for value in PERSONAL_VALUES:
        assert value not in shown, value


def by_id(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {item["record"]["personal_id"]: item for item in records}


def test_without_a_key_or_with_an_unknown_one_the_answer_is_401(
    client: TestClient, engine: Engine
) -> None:
    missing = client.get(RECORDS_URL)
    unknown = client.get(RECORDS_URL, headers={"X-API-Key": "lgsp_not-a-key-the-hub-issued"})
    for response in (missing, unknown):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "X-API-Key"
        assert_no_personal_data(response)
    entries = list_entries(engine, AuditQuery(outcome="unauthenticated"))
    assert {line.actor.split(":")[0] for line in entries} == {"anonymous", "key"}
    assert all(line.dataset == PERSON.id for line in entries)


def test_without_a_grant_the_answer_is_403_and_shows_no_personal_data(
    client: TestClient, engine: Engine
) -> None:
    headers = key_for(engine, STRANGER)
    never_asked = client.get(RECORDS_URL, headers=headers)
    request_subscription(
        engine, CATALOGUE, STRANGER, PERSON.id, purpose="Thử", personal_data=True, actor=STEWARD
    )
    only_requested = client.get(RECORDS_URL, headers=headers)
    grant_subscription(engine, CATALOGUE, STRANGER, PERSON.id, personal_data=True, actor=STEWARD)
    assert client.get(RECORDS_URL, headers=headers).status_code == 200
    revoke_subscription(
        engine, CATALOGUE, STRANGER, PERSON.id, reason="Vi phạm thỏa thuận", actor=STEWARD
    )
    revoked = client.get(RECORDS_URL, headers=headers)
    for response in (never_asked, only_requested, revoked):
        assert response.status_code == 403
        assert STRANGER.id in response.json()["detail"]
        assert_no_personal_data(response)
    denied = list_entries(engine, AuditQuery(system_id=STRANGER.id, outcome="denied"))
    assert len(denied) == 3
    assert {line.action for line in denied} == {"data.read"}


def test_a_personal_data_grant_gets_exactly_what_was_stored(
    client: TestClient, engine: Engine
) -> None:
    subscribe(engine, HEALTH, personal_data=True)
    response = client.get(RECORDS_URL, headers=key_for(engine, HEALTH))
    assert response.status_code == 200
    page = response.json()
    assert (page["personal_data"], page["total"], page["next_page"]) == (True, 3, None)
    shown = by_id(page["records"])
    for citizen in CITIZENS:
        expected = json.loads(json.dumps(citizen, default=str))
        expected["date_of_birth"] = citizen["date_of_birth"].isoformat()
        expected["updated_at"] = citizen["updated_at"].isoformat()
        assert shown[citizen["personal_id"]]["record"] == expected
    daughter = shown[DAUGHTER["personal_id"]]
    assert daughter["record"]["full_name"] == "Trần Thị Hồng Nhung"
    assert daughter["lineage"]["source_system"] == "population"
    assert daughter["lineage"]["trace_id"] == "trace-1"


def test_without_personal_data_the_same_id_gets_the_same_pseudonym(
    client: TestClient, engine: Engine
) -> None:
    subscribe(engine, STATISTICS, personal_data=False)
    response = client.get(RECORDS_URL, headers=key_for(engine, STATISTICS))
    assert response.status_code == 200
    assert response.json()["personal_data"] is False
    assert_no_personal_data(response)
    records = [item["record"] for item in response.json()["records"]]
    father_pseudonym = pseudonym(FATHER["personal_id"], KEY.get_secret_value().encode())
    (father,) = [r for r in records if r["personal_id"] == father_pseudonym]
    (daughter,) = [r for r in records if r["father_id"] is not None]
    assert daughter["father_id"] == father["personal_id"], "joins on ids still work"
    assert daughter["full_name"].startswith("ps1_")
    assert daughter["date_of_birth"] is None
    assert daughter["permanent_residence"]["address"].startswith("ps1_")
    # Fields that are not personal data are as stored.
    assert (daughter["gender"], daughter["permanent_residence"]["commune_code"]) == (
        "FEMALE",
        "18073",
    )
    assert daughter["eid_level"] == 2
    assert daughter["current_residence"] is None


def test_pages_follow_the_key_order(client: TestClient, engine: Engine) -> None:
    subscribe(engine, HEALTH, personal_data=True)
    headers = key_for(engine, HEALTH)
    first = client.get(RECORDS_URL, params={"page_size": 2}, headers=headers).json()
    second = client.get(RECORDS_URL, params={"page_size": 2, "page": 2}, headers=headers).json()
    assert (first["total"], first["next_page"], second["next_page"]) == (3, 2, None)
    ids = [item["record"]["personal_id"] for item in first["records"] + second["records"]]
    assert ids == sorted(c["personal_id"] for c in CITIZENS)
    too_big = client.get(RECORDS_URL, params={"page_size": 100_000}, headers=headers)
    assert too_big.status_code == 422


def test_unknown_datasets_and_revoked_keys(client: TestClient, engine: Engine) -> None:
    subscribe(engine, HEALTH, personal_data=True)
    headers = key_for(engine, HEALTH)
    missing = client.get("/v1/datasets/citizen.people/records", headers=headers)
    assert missing.status_code == 404
    revoke_keys(engine, HEALTH, actor=STEWARD)
    assert client.get(RECORDS_URL, headers=headers).status_code == 401
    outcomes = [line.outcome for line in list_entries(engine, AuditQuery(action="data.read"))]
    assert outcomes == ["unauthenticated", "not_found"]


def test_a_system_lists_its_grants(client: TestClient, engine: Engine) -> None:
    subscribe(engine, STATISTICS, personal_data=False)
    answer = client.get("/v1/datasets", headers=key_for(engine, STATISTICS))
    assert answer.status_code == 200
    (grant,) = answer.json()["grants"]
    assert grant["dataset"] == PERSON.id
    assert grant["title_vi"] == "Cơ sở dữ liệu dân cư – công dân"
    assert grant["personal_data"] is False


def test_both_accesses_are_in_the_audit_log_and_tampering_shows(
    client: TestClient, engine: Engine
) -> None:
    subscribe(engine, HEALTH, personal_data=True)
    subscribe(engine, STATISTICS, personal_data=False)
    started = datetime.now(UTC)
    assert client.get(RECORDS_URL, headers=key_for(engine, HEALTH)).status_code == 200
    assert client.get(RECORDS_URL, headers=key_for(engine, STATISTICS)).status_code == 200
    reads = {
        line.system_id: line
        for line in list_entries(engine, AuditQuery(action="data.read", outcome="allowed"))
    }
    assert set(reads) == {HEALTH.id, STATISTICS.id}
    for system, personal in ((HEALTH, True), (STATISTICS, False)):
        line = reads[system.id]
        occurred = line.occurred_at.replace(tzinfo=line.occurred_at.tzinfo or UTC)
        assert occurred >= started
        assert (line.actor, line.dataset) == (system.id, PERSON.id)
        detail = line.detail_json()
        assert (detail["personal_data"], detail["records"], detail["path"]) == (
            personal,
            3,
            RECORDS_URL,
        )
    assert verify(engine).intact

    with engine.begin() as connection:
        connection.execute(
            update(AuditEntry)
            .where(AuditEntry.id == reads[STATISTICS.id].id)
            .values(detail=reads[STATISTICS.id].detail.replace('"records":3', '"records":0'))
        )
    verdict = verify(engine)
    assert verdict.broken_at == reads[STATISTICS.id].id


def test_a_dataset_no_worker_has_filled_yet_is_empty(client: TestClient, engine: Engine) -> None:
    request_subscription(
        engine,
        CATALOGUE,
        HEALTH,
        "civil.birth",
        purpose="Cấp thẻ bảo hiểm y tế cho trẻ em",
        personal_data=False,
        actor=STEWARD,
    )
    grant_subscription(engine, CATALOGUE, HEALTH, "civil.birth", personal_data=False, actor=STEWARD)
    answer = client.get("/v1/datasets/civil.birth/records", headers=key_for(engine, HEALTH))
    assert answer.status_code == 200
    assert (answer.json()["total"], answer.json()["records"]) == (0, [])


def test_health_needs_no_key_shows_no_data_and_is_not_audited(
    client: TestClient, engine: Engine
) -> None:
    before = len(list_entries(engine, AuditQuery()))
    answer = client.get("/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "warehouse": True}
    assert len(list_entries(engine, AuditQuery())) == before


def test_health_is_503_while_the_warehouse_does_not_answer() -> None:
    # Nothing listens on port 9 (discard): the connection is refused at once.
    unreachable = create_engine("postgresql+psycopg://lgsp@127.0.0.1:9/lgsp")
    with TestClient(create_access_api(unreachable, pseudonym_key=KEY)) as test_client:
        answer = test_client.get("/health")
    assert answer.status_code == 503
    assert answer.json() == {"status": "unavailable", "warehouse": False}
