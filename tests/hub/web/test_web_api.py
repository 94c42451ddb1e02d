"""The console's JSON API over a seeded warehouse, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from web_seed import (
    BIRTH,
    BIRTH_KEY,
    CATALOGUE,
    FULL_NAME,
    MISSING_NAME_KEYS,
    PERSON,
    UNKNOWN_COMMUNE_KEYS,
    UNKNOWN_COMMUNE_REASON_VI,
    Seeded,
    seed,
    stored_keys,
    with_person,
)

from hub.broker import TansuBroker
from hub.settings import Settings
from hub.web import create_web_app
from schemas import headers as h
from schemas.catalogue import Dataset
from warehouse.models import Quarantine


def client_for(seeded: Seeded, workdir: Path, **settings: str) -> TestClient:
    app = create_web_app(Settings(workdir=workdir, **settings), engine=seeded.engine)
    return TestClient(app)


@pytest.fixture
def api(seeded: Seeded, tmp_path: Path) -> Iterator[TestClient]:
    with client_for(seeded, tmp_path) as client:
        yield client


def status_of(seeded: Seeded, row_id: int) -> str:
    with seeded.engine.connect() as connection:
        return connection.scalar(select(Quarantine.status).where(Quarantine.id == row_id))


def test_the_catalogue_has_every_dataset_with_owner_sharing_level_score_and_trend(
    api: TestClient,
) -> None:
    response = api.get("/api/datasets")
    assert response.status_code == 200
    datasets = {entry["id"]: entry for entry in response.json()}
    assert list(datasets) == CATALOGUE.dataset_ids
    citizens = datasets[PERSON.id]
    assert citizens["title"]["vi"] == "Cơ sở dữ liệu dân cư – công dân"
    assert citizens["owner_agency"] == PERSON.owner_agency
    assert citizens["sharing_level"] == "shared"
    assert "full_name" in citizens["personal_data"]
    quality = citizens["quality"]
    assert quality["latest"]["score"] == pytest.approx(0.8)
    assert quality["trend"] == "up"
    assert [point["score"] for point in quality["history"]] == pytest.approx([0.9, 0.75, 0.8])
    latest_run = datetime.fromisoformat(quality["latest"]["started_at"])
    assert latest_run.utcoffset() == timedelta(hours=7)
    assert latest_run.hour == 8
    assert datasets[BIRTH.id]["quality"]["trend"] == "down"
    never_checked = datasets["business.enterprise"]["quality"]
    assert never_checked == {"latest": None, "trend": None, "history": []}


def test_a_dataset_shows_its_failing_expectations_first_with_their_failing_keys(
    api: TestClient,
) -> None:
    response = api.get(f"/api/datasets/{PERSON.id}")
    assert response.status_code == 200
    body = response.json()
    assert body["run"]["critical_failed"] == 1
    assert body["run"]["success"] is False
    failing = {result["expectation"]: result for result in body["failing"]}
    assert list(failing) == [
        "completeness:full_name",
        "in_reference:permanent_residence.commune_code",
    ]
    assert failing["completeness:full_name"]["critical"] is True
    assert failing["completeness:full_name"]["observed_value"] == {"null_count": 1}
    assert failing["completeness:full_name"]["failing_keys"] == stored_keys(MISSING_NAME_KEYS)
    commune = failing["in_reference:permanent_residence.commune_code"]
    assert commune["failing_keys"] == stored_keys(UNKNOWN_COMMUNE_KEYS)
    assert commune["unexpected_count"] == 2
    assert {result["expectation"] for result in body["passing"]} == {
        "unique:personal_id",
        "in_set:gender",
    }
    assert all(result["success"] for result in body["passing"])


def test_a_composite_key_is_kept_whole(api: TestClient) -> None:
    [failing] = api.get(f"/api/datasets/{BIRTH.id}").json()["failing"]
    assert failing["failing_keys"] == [BIRTH_KEY]


def test_history_and_scorecard(api: TestClient) -> None:
    history = api.get(f"/api/datasets/{PERSON.id}/history", params={"runs": 2}).json()
    assert [point["score"] for point in history] == pytest.approx([0.75, 0.8])
    assert history[0]["run_id"] < history[1]["run_id"]
    card = api.get("/api/scorecard").json()
    sources = {entry["value"]: entry["quality"] for entry in card["source_systems"]}
    assert sources["population"]["latest"]["score"] == pytest.approx(0.8)
    assert sources["civil_status"]["trend"] == "down"
    assert sources["business_registration"]["latest"] is None
    agencies = {entry["value"]: entry["quality"] for entry in card["agencies"]}
    assert agencies[PERSON.owner_agency]["latest"]["met"] == pytest.approx(8.0)


@pytest.mark.parametrize(
    "path", ["/api/datasets/citizen.nobody", "/api/datasets/citizen.nobody/history"]
)
def test_an_unknown_dataset_is_a_404_naming_it(api: TestClient, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert "unknown dataset 'citizen.nobody'" in response.json()["detail"]


def test_the_queue_lists_held_records_newest_first_with_a_count(
    api: TestClient, seeded: Seeded
) -> None:
    page = api.get("/api/quarantine").json()
    assert page["total"] == 4
    assert [item["id"] for item in page["items"]] == [
        seeded.connector,
        seeded.late_schema,
        seeded.unknown_commune,
        seeded.birth,
    ]
    commune = page["items"][2]
    assert commune["key"] == "042195000006"
    assert commune["failures"][0]["reason_vi"] == UNKNOWN_COMMUNE_REASON_VI
    one = api.get("/api/quarantine", params={"limit": 1}).json()
    assert (one["total"], len(one["items"])) == (4, 1)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"dataset": "civil.birth"}, {"birth"}),
        ({"rule": "decode"}, {"late_schema"}),
        ({"rule": "admin_unit"}, {"unknown_commune"}),
        ({"source": "civil_status"}, {"birth"}),
        # Held at 00:30 on 13 September in Hà Tĩnh, which is still the 12th in UTC.
        ({"until": "2026-09-12"}, {"unknown_commune", "birth"}),
        ({"since": "2026-09-13"}, {"late_schema", "connector"}),
        ({"since": "2026-09-10", "until": "2026-09-10"}, {"unknown_commune"}),
        ({"status": "released"}, {"released"}),
        (
            {"status": "all", "dataset": "citizen.person"},
            {"unknown_commune", "late_schema", "connector", "released"},
        ),
        (
            {"dataset": "", "rule": "", "since": ""},
            {"unknown_commune", "late_schema", "connector", "birth"},
        ),
    ],
)
def test_the_queue_filters(
    api: TestClient, seeded: Seeded, filters: dict[str, str], expected: set[str]
) -> None:
    response = api.get("/api/quarantine", params=filters)
    assert response.status_code == 200, response.text
    page = response.json()
    assert {item["id"] for item in page["items"]} == {getattr(seeded, name) for name in expected}
    assert page["total"] == len(expected)


@pytest.mark.parametrize(
    ("filters", "status", "message"),
    [
        ({"dataset": "citizen.nobody"}, 400, "unknown dataset 'citizen.nobody'"),
        ({"status": "lost"}, 422, "status must be one of held, replayed, released"),
        ({"since": "2026-09-14", "until": "2026-09-13"}, 422, "ends before it starts"),
        ({"since": "14/09/2026"}, 422, "valid date"),
    ],
)
def test_bad_filters_are_refused_with_the_reason(
    api: TestClient, filters: dict[str, str], status: int, message: str
) -> None:
    response = api.get("/api/quarantine", params=filters)
    assert response.status_code == status
    assert message in response.text


def test_a_record_shows_everything_about_it(api: TestClient, seeded: Seeded) -> None:
    detail = api.get(f"/api/quarantine/{seeded.unknown_commune}").json()
    assert detail["record"]["full_name"] == FULL_NAME
    assert detail["record"]["permanent_residence"]["address"] == "Thôn Đông, xã Cẩm Bình"
    assert detail["payload_size"] == len(seeded.unknown_commune_payload)
    assert detail["origin_topic"] == f"raw.{PERSON.id}"
    connector = api.get(f"/api/quarantine/{seeded.connector}").json()
    assert connector["record"] is None
    assert connector["source_row"]["Ngày sinh"] == "31/02/1995"
    missing = api.get("/api/quarantine/999999")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "no quarantine row with id 999999"}


def test_replay_without_a_broker_is_a_503_and_the_record_stays_held(
    api: TestClient, seeded: Seeded
) -> None:
    response = api.post(f"/api/quarantine/{seeded.unknown_commune}/replay")
    assert response.status_code == 503
    assert "LGSP_BOOTSTRAP_SERVERS is not set" in response.json()["detail"]
    assert status_of(seeded, seeded.unknown_commune) == "held"


def test_replay_to_an_unreachable_broker_is_a_503_naming_it(seeded: Seeded, tmp_path: Path) -> None:
    with client_for(seeded, tmp_path, bootstrap_servers="127.0.0.1:1") as client:
        response = client.post(f"/api/quarantine/{seeded.unknown_commune}/replay")
    assert response.status_code == 503
    assert re.search(r"broker at 127\.0\.0\.1:1 is unreachable", response.json()["detail"])
    assert status_of(seeded, seeded.unknown_commune) == "held"


@pytest.mark.parametrize(
    ("row", "status", "message"),
    [
        ("connector", 409, "held by the connector"),
        ("released", 409, "already released"),
    ],
)
def test_records_that_cannot_be_replayed_are_refused(
    seeded: Seeded, tmp_path: Path, row: str, status: int, message: str
) -> None:
    # The broker is never reached: the refusal comes first.
    with client_for(seeded, tmp_path, bootstrap_servers="127.0.0.1:1") as client:
        response = client.post(f"/api/quarantine/{getattr(seeded, row)}/replay")
        missing = client.post("/api/quarantine/999999/replay")
    assert response.status_code == status
    assert message in response.json()["detail"]
    assert missing.status_code == 404


def test_a_replay_another_site_asks_for_is_refused(api: TestClient, seeded: Seeded) -> None:
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        response = api.post(f"/api/quarantine/{seeded.unknown_commune}/replay", headers=headers)
        assert response.status_code == 403
    assert status_of(seeded, seeded.unknown_commune) == "held"


def test_health(api: TestClient) -> None:
    assert api.get("/api/health").json() == {"warehouse": True, "replay": False}


def test_openapi_and_docs_are_served_from_the_console_itself(api: TestClient) -> None:
    document = api.get("/api/openapi.json").json()
    assert set(document["paths"]) >= {
        "/api/datasets",
        "/api/datasets/{dataset_id}",
        "/api/datasets/{dataset_id}/history",
        "/api/scorecard",
        "/api/quarantine",
        "/api/quarantine/{row_id}",
        "/api/quarantine/{row_id}/replay",
    }
    # The pages are for people, not part of the API contract.
    assert not any(not path.startswith("/api/") for path in document["paths"])
    docs = api.get("/api/docs").text
    assets = re.findall(r'(?:src|href)="([^"]+)"', docs)
    assert assets
    assert all(asset.startswith("/api/docs-assets/") for asset in assets), assets
    assert '"validatorUrl": null' in docs
    for asset in assets:
        assert api.get(asset).status_code == 200, asset


@pytest.mark.timeout(120)
def test_replay_publishes_the_record_to_its_raw_topic(
    broker: TansuBroker,
    lgsp_fresh_dataset: Callable[[str], Dataset],
    lgsp_read_topic: Callable[..., list],
    sqlite_url: str,
    tmp_path: Path,
) -> None:
    fresh = lgsp_fresh_dataset(PERSON.id)
    catalogue = with_person(CATALOGUE, fresh)
    seeded = seed(sqlite_url, catalogue, fresh.id)
    settings = Settings(workdir=tmp_path, bootstrap_servers=broker.bootstrap_servers)
    try:
        with TestClient(
            create_web_app(settings, engine=seeded.engine, catalogue=catalogue)
        ) as client:
            response = client.post(f"/api/quarantine/{seeded.unknown_commune}/replay")
            assert response.status_code == 200, response.text
            assert response.json() == {
                "replayed": [seeded.unknown_commune],
                "refused": [],
                "outcomes": None,
                "timed_out": [],
            }
            held = {item["id"] for item in client.get("/api/quarantine").json()["items"]}
            assert seeded.unknown_commune not in held
            pending = client.get("/api/quarantine", params={"status": "replayed"}).json()
            assert [item["id"] for item in pending["items"]] == [seeded.unknown_commune]
        [message] = lgsp_read_topic(broker.bootstrap_servers, fresh.raw_topic)
        assert message.value == seeded.unknown_commune_payload
        assert message.key == b"042195000006"
        headers = h.decode_headers(message.headers)
        assert headers[h.REPLAY_OF] == str(seeded.unknown_commune)
        assert headers[h.SOURCE_SYSTEM] == "population"
    finally:
        seeded.engine.dispose()
