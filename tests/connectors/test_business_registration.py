"""The business-registration connector against the simulated registry served over HTTP.

The simulator's own checks ask the hub's record rules (``quality.rules``) whether a clean
enterprise passes and a spoiled one fails, since what "valid" means for an enterprise is
exactly what the stream validator will enforce.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import socket
import sqlite3
import subprocess
import sys
import unicodedata
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from connectors.base import MappingError
from connectors.business_registration import (
    BusinessRegistrationConfig,
    BusinessRegistrationConnector,
    SourceUnavailable,
)
from connectors.offsets import OffsetStore
from connectors.runner import ConnectorRunner
from connectors.simulators.business_registration import (
    CONNECTOR_DEFECTS,
    DATABASE_FILE,
    DEFECT_KINDS,
    VALIDATOR_DEFECTS,
    BusinessRegistryApi,
    amend_enterprise,
    enterprise_check_digit,
    load_answer_key,
    simulate_business_registration,
)
from connectors.simulators.manifest import SimulationManifest
from connectors.testing import ConnectorConformance
from quality.rules import RuleSet
from schemas.catalogue import default_catalogue
from schemas.codec import AvroCodec
from schemas.json_records import JsonRecordError, record_from_json
from schemas.reference import load_admin_units
from schemas.registry.client import RegistryClient

API_KEY = "dkdn-test-7f3a9c51e2"
RECORDS = 300
RATE = 0.1
SEED = 11
# Before the system clock, so "not in the future" holds however the rules read today; two
# years back, so the registry spans the 2025 merger of communes.
START = datetime(2026, 9, 1, tzinfo=UTC)
NAME_BY_FORM = {
    "PRIVATE_ENTERPRISE": re.compile(r"Doanh nghiệp tư nhân \S.*"),
    "SINGLE_MEMBER_LLC": re.compile(r"Công ty TNHH( Một thành viên| MTV)? \S.*"),
    "MULTI_MEMBER_LLC": re.compile(r"Công ty TNHH (?!Một thành viên|MTV)\S.*"),
    "JOINT_STOCK_COMPANY": re.compile(r"Công ty Cổ phần \S.*"),
    "PARTNERSHIP": re.compile(r"Công ty Hợp danh \S.*"),
}
# Which rule each kind the validator must catch breaks, and nothing else.
VALIDATOR_RULES = {
    "bad_check_digit": "enterprise_code.check_digit",
    "branch_suffix_000": "enterprise_code.branch_suffix",
    "two_main_lines": "array.exactly_one",
    "unknown_commune": "admin_unit.unknown",
}


def simulated(directory: Path, records: int = RECORDS, rate: float = RATE) -> Path:
    simulate_business_registration(directory, records, rate, seed=SEED)
    return directory


def connector_for(api: BusinessRegistryApi, **settings: Any) -> BusinessRegistrationConnector:
    settings = {"page_size": 64, "retry_backoff_s": 0.01, **settings}
    return BusinessRegistrationConnector(
        BusinessRegistrationConfig(base_url=api.url, api_key=API_KEY, **settings)
    )


def unmappable(source: Path) -> int:
    tally = SimulationManifest.read(source).datasets["business.enterprise"]
    return sum(tally.defects_by_kind[kind] for kind in CONNECTOR_DEFECTS)


def documents(source: Path) -> list[dict[str, Any]]:
    """Every enterprise as the registry stores (and the API serves) it, in code order."""
    connection = sqlite3.connect(source / DATABASE_FILE)
    try:
        rows = connection.execute("SELECT body FROM enterprise ORDER BY enterprise_code")
        return [json.loads(body) for (body,) in rows]
    finally:
        connection.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulated(tmp_path_factory.mktemp("business-registry"))


@pytest.fixture(scope="module")
def api(source: Path) -> Any:
    with BusinessRegistryApi(source, API_KEY) as running:
        yield running


# -- the conformance kit ----------------------------------------------------------------------


class TestBusinessRegistrationConformance(ConnectorConformance):
    """The kit's secrets test runs for real: the API key is a SecretStr."""

    @pytest.fixture
    def connector(self, api: BusinessRegistryApi) -> BusinessRegistrationConnector:
        return connector_for(api)

    @pytest.fixture
    def expected_dead_letters(self, source: Path) -> int:
        return unmappable(source)


def test_the_test_source_feeds_both_stages(source: Path) -> None:
    tally = SimulationManifest.read(source).datasets["business.enterprise"]
    assert tally.defects_injected == round(RECORDS * RATE)
    assert unmappable(source) > 0
    assert sum(tally.defects_by_kind[kind] for kind in VALIDATOR_DEFECTS) > 0


# -- reading the API --------------------------------------------------------------------------


def test_pages_through_the_registry_in_update_order(api: BusinessRegistryApi) -> None:
    before = api.request_count
    records = list(connector_for(api, page_size=37).records(None))
    keys = [(r.row["updated_at"], r.row["enterprise_code"]) for r in records]
    assert len(records) == RECORDS
    assert keys == sorted(keys)
    assert len(set(keys)) == RECORDS
    requests = api.requests[before:]
    assert len(requests) == math.ceil(RECORDS / 37)
    assert all(request.status == 200 for request in requests)
    assert "cursor" not in requests[0].params
    assert all(request.params["cursor"] for request in requests[1:])
    assert {request.params["limit"] for request in requests} == {"37"}


def test_rate_limits_and_server_errors_are_waited_out(
    source: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="lgsp.connectors.business_registration")
    with BusinessRegistryApi(source, API_KEY, rate_limit_every=4, fail_every=5) as faulty:
        connector = connector_for(faulty, page_size=50)
        records = list(connector.records(None))
        requests = faulty.requests
    assert len({r.row["enterprise_code"] for r in records}) == len(records) == RECORDS
    statuses = Counter(request.status for request in requests)
    pages = math.ceil(RECORDS / 50)
    assert statuses[200] == pages
    assert statuses[429] >= 1
    assert statuses[500] >= 1
    counters = connector.counters
    assert counters.retries == statuses[429] + statuses[500] == len(requests) - pages
    assert (counters.rate_limited, counters.server_errors) == (statuses[429], statuses[500])
    assert counters.requests == len(requests)
    retries = [record.getMessage() for record in caplog.records]
    assert len(retries) == counters.retries
    # A 429 waits what Retry-After says; a 500 waits the (test-sized) backoff.
    assert sum("HTTP 429 (rate limited, Retry-After 1s)" in m and "in 1.0s" in m for m in retries)
    assert statuses[429] == sum("HTTP 429" in message for message in retries)
    assert statuses[500] == sum("HTTP 500; retry" in m and m.endswith("in 0.0s") for m in retries)
    assert API_KEY not in caplog.text


def test_gives_up_after_max_retries_with_a_clear_error(source: Path) -> None:
    with BusinessRegistryApi(source, API_KEY, fail_every=1) as broken:
        connector = connector_for(broken, max_retries=2)
        with pytest.raises(SourceUnavailable) as raised:
            list(connector.records(None))
        assert broken.request_count == 3
    message = str(raised.value)
    assert f"GET {connector.config.base_url}/api/v1/enterprises answered HTTP 500" in message
    assert "gave up after 2 retries" in message
    assert raised.value.status_code == 500
    assert API_KEY not in message


def test_lost_connections_are_retried_then_reported() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    connector = BusinessRegistrationConnector(
        BusinessRegistrationConfig(
            base_url=url, api_key=API_KEY, max_retries=1, retry_backoff_s=0.01
        )
    )
    with pytest.raises(SourceUnavailable, match=r"gave up after 1 retry$") as raised:
        list(connector.records(None))
    assert f"GET {url}/api/v1/enterprises failed" in str(raised.value)
    assert (connector.counters.connection_errors, connector.counters.retries) == (2, 1)
    with pytest.raises(
        SourceUnavailable, match=f"cannot reach the business registration API at {url}"
    ):
        connector.check()


def test_a_wrong_api_key_is_a_clear_error(api: BusinessRegistryApi) -> None:
    wrong_key = "not-the-registry-key-0451"
    connector = BusinessRegistrationConnector(
        BusinessRegistrationConfig(base_url=api.url, api_key=wrong_key)
    )
    for attempt in (connector.check, lambda: list(connector.records(None))):
        with pytest.raises(SourceUnavailable) as raised:
            attempt()
        message = str(raised.value)
        assert f"API at {api.url} refused the API key (HTTP 401)" in message
        assert "api_key" in message
        assert wrong_key not in message
        assert API_KEY not in message
        assert raised.value.status_code == 401
    # A refused key is not worth retrying.
    assert connector.counters.retries == 0
    assert api.requests[-1].status == 401
    connector_for(api).check()


def test_the_config_keeps_credentials_out_of_the_base_url() -> None:
    with pytest.raises(ValidationError, match="put the key in api_key") as raised:
        BusinessRegistrationConfig(base_url="https://reader:topsecret@dkkd.example", api_key="k")
    assert "topsecret" not in str(raised.value)
    with pytest.raises(ValidationError, match="http:// or https://"):
        BusinessRegistrationConfig(base_url="ftp://dkkd.example", api_key="k")
    config = BusinessRegistrationConfig(base_url="https://dkkd.example/lgsp/", api_key="k")
    assert config.base_url == "https://dkkd.example/lgsp"
    assert "'k'" not in repr(config)


def test_the_api_refuses_bad_requests(api: BusinessRegistryApi) -> None:
    with httpx.Client(base_url=api.url, headers={"X-API-Key": API_KEY}) as client:
        assert client.get("/api/v1/enterprises", params={"cursor": "!!"}).status_code == 400
        assert client.get("/api/v1/enterprises", params={"limit": 1001}).status_code == 422
        assert (
            client.get("/api/v1/enterprises", params={"updated_since": "hôm qua"}).status_code
            == 400
        )
        page = client.get("/api/v1/enterprises", params={"limit": 2}).json()
    assert set(page) == {"items", "next_cursor"}
    assert len(page["items"]) == 2
    assert httpx.get(f"{api.url}/api/v1/enterprises").status_code == 401


# -- offsets and updates ----------------------------------------------------------------------


def test_resumes_inside_a_run_of_equal_update_times(tmp_path: Path) -> None:
    """Enterprises amended in one transaction share an update time; the code breaks the tie."""
    source = simulated(tmp_path / "source", records=80, rate=0.0)
    start = SimulationManifest.read(source).start
    tied = sorted(document["enterprise_code"] for document in documents(source)[10:14])
    for code in tied:
        amend_enterprise(source, code, start)
    with BusinessRegistryApi(source, API_KEY) as running:
        connector = connector_for(running, page_size=7)
        everything = list(connector.records(None))
        assert [r.row["enterprise_code"] for r in everything[-4:]] == tied
        assert {r.offset["updated_since"] for r in everything[-4:]} == {
            start.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        }
        rest = list(connector.records(everything[-3].offset))
        assert [r.row["enterprise_code"] for r in rest] == tied[2:]
        before = running.request_count
        assert list(connector.records(everything[-1].offset)) == []
        # The resumed read asks the server for what changed since, not for everything.
        assert (
            running.requests[before].params["updated_since"]
            == everything[-1].offset["updated_since"]
        )


def test_a_row_updated_during_the_read_is_not_lost(tmp_path: Path) -> None:
    source = simulated(tmp_path / "source", records=120, rate=0.0)
    start = SimulationManifest.read(source).start
    with BusinessRegistryApi(source, API_KEY) as running:
        reading = connector_for(running, page_size=25).records(None)
        first = [next(reading) for _ in range(30)]
        already_read = first[5].row["enterprise_code"]
        everything_before = list(connector_for(running).records(None))
        not_yet_read = everything_before[100].row["enterprise_code"]
        amend_enterprise(source, already_read, start)
        amend_enterprise(source, not_yet_read, start + timedelta(seconds=1))
        rest = list(reading)
    seen = [r.row for r in first + rest]
    assert len(seen) == 121  # the one read before its amendment comes again
    assert {row["enterprise_code"] for row in seen} == {
        r.row["enterprise_code"] for r in everything_before
    }
    assert [row["enterprise_code"] for row in seen[-2:]] == [already_read, not_yet_read]
    old = {r.row["enterprise_code"]: r.row for r in everything_before}
    for row in seen[-2:]:
        assert row["amendment_number"] == old[row["enterprise_code"]]["amendment_number"] + 1


def test_an_amended_enterprise_is_published_again(
    tmp_path: Path, lgsp_broker: Any, lgsp_fresh_dataset: Any, lgsp_read_topic: Any, registry: Any
) -> None:
    source = simulated(tmp_path / "source", records=60, rate=0.0)
    start = SimulationManifest.read(source).start
    dataset = lgsp_fresh_dataset("business.enterprise")
    offsets = OffsetStore(tmp_path / "offsets")
    with BusinessRegistryApi(source, API_KEY) as running, RegistryClient(registry.url) as client:
        codec = AvroCodec(client)

        def run() -> Any:
            return ConnectorRunner(
                connector_for(running),
                dataset,
                bootstrap_servers=lgsp_broker.bootstrap_servers,
                codec=codec,
                offsets=offsets,
            ).run()

        assert run().published == 60
        target = documents(source)[17]
        amend_enterprise(source, target["enterprise_code"], start, charter_capital=12_500_000_000)
        second = run()
        assert (second.read, second.published, second.dead_lettered) == (1, 1, 0)
        assert run().read == 0
        raw = lgsp_read_topic(lgsp_broker.bootstrap_servers, dataset.raw_topic)
    assert len(raw) == 61
    assert raw[-1].key == target["enterprise_code"].encode("utf-8")
    _, record = codec.decode(raw[-1].value)
    assert record["amendment_number"] == target["amendment_number"] + 1
    assert record["charter_capital"] == Decimal(12_500_000_000)
    assert record["updated_at"] == start
    assert record["amended_on"] == (start + timedelta(hours=7)).date()


def test_map_names_the_field_it_cannot_convert(source: Path, api: BusinessRegistryApi) -> None:
    connector = connector_for(api)
    key = load_answer_key(source)
    messages = []
    for document in documents(source):
        defect = key.get(document["enterprise_code"])
        if defect is None or defect.stage != "connector":
            continue
        with pytest.raises(MappingError) as raised:
            connector.map(document)
        # The answer key's detail starts with the field path the defect touched.
        field = defect.detail.split()[0]
        assert str(raised.value).startswith(field), (defect, raised.value)
        messages.append(str(raised.value))
    assert len(messages) == unmappable(source)


def test_map_normalises_decomposed_text(api: BusinessRegistryApi, source: Path) -> None:
    document = next(
        d for d in documents(source) if d["enterprise_code"] not in load_answer_key(source)
    )
    decomposed = {**document, "name_vi": unicodedata.normalize("NFD", document["name_vi"])}
    assert connector_for(api).map(decomposed)["name_vi"] == document["name_vi"]


# -- the simulator ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("large-registry")
    simulate_business_registration(directory, 2500, 0.06, seed=SEED, start=START)
    return directory


def test_clean_enterprises_pass_every_rule_and_spoiled_ones_do_not(large: Path) -> None:
    dataset = default_catalogue().dataset("business.enterprise")
    rules = RuleSet.for_dataset(dataset, today=START.date())
    schema = dataset.avro_schema()
    key = load_answer_key(large)
    caught: Counter[str] = Counter()
    for document in documents(large):
        defect = key.get(document["enterprise_code"])
        if defect is not None and defect.stage == "connector":
            with pytest.raises(JsonRecordError):
                record_from_json(schema, document)
            caught[defect.kind] += 1
            continue
        record = record_from_json(schema, document)
        failures = rules.check(record)
        if defect is None:
            assert failures == [], (document["enterprise_code"], failures)
            continue
        assert defect.stage == "validator", defect
        assert {failure.rule for failure in failures} == {VALIDATOR_RULES[defect.kind]}, failures
        caught[defect.kind] += 1
    tally = SimulationManifest.read(large).datasets["business.enterprise"]
    assert caught == Counter({kind: n for kind, n in tally.defects_by_kind.items() if n})
    assert set(caught) == set(DEFECT_KINDS)


@pytest.mark.parametrize(
    ("records", "rate"), [(0, 0.5), (1, 1.0), (7, 0.5), (500, 0.0), (999, 0.013)]
)
def test_exactly_the_requested_share_is_spoiled(tmp_path: Path, records: int, rate: float) -> None:
    manifest = simulate_business_registration(tmp_path, records, rate, seed=3, start=START)
    tally = manifest.datasets["business.enterprise"]
    assert manifest.system == "business_registration"
    assert tally.records == records == len(documents(tmp_path))
    assert tally.defects_injected == round(records * rate) == len(load_answer_key(tmp_path))
    counts = list(tally.defects_by_kind.values())
    assert set(tally.defects_by_kind) == set(DEFECT_KINDS)
    assert max(counts) - min(counts) <= 1
    assert SimulationManifest.read(tmp_path) == manifest


def test_the_same_seed_gives_the_same_registry(tmp_path: Path) -> None:
    first = simulate_business_registration(tmp_path / "a", 400, 0.1, seed=9, start=START)
    # Another process with another string-hash seed: no draw may depend on set order.
    script = (
        "import sys; from datetime import datetime; from pathlib import Path; "
        "from connectors.simulators.business_registration import simulate_business_registration; "
        "simulate_business_registration(Path(sys.argv[1]), 400, 0.1, seed=9, "
        "start=datetime.fromisoformat(sys.argv[2]))"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "b"), START.isoformat()],
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    again = SimulationManifest.read(tmp_path / "b")
    other = simulate_business_registration(tmp_path / "c", 400, 0.1, seed=10, start=START)
    assert documents(tmp_path / "a") == documents(tmp_path / "b")
    assert load_answer_key(tmp_path / "a") == load_answer_key(tmp_path / "b")
    assert first.model_dump(exclude={"created_at"}) == again.model_dump(exclude={"created_at"})
    assert documents(tmp_path / "a") != documents(tmp_path / "c")
    assert other.defects_injected == first.defects_injected


def test_enterprises_look_like_ha_tinh_registrations(large: Path) -> None:
    key = load_answer_key(large)
    clean = [d for d in documents(large) if d["enterprise_code"] not in key]
    codes = [d["enterprise_code"] for d in clean]
    assert all(enterprise_check_digit(code[:9]) == int(code[9]) for code in codes)
    assert 0.85 < sum(code.startswith("30") for code in codes) / len(codes) < 0.97
    # Hà Tĩnh issues codes in order: sorted by first registration, its codes ascend.
    home = sorted(
        (d["first_registered_on"], d["enterprise_code"])
        for d in clean
        if d["enterprise_code"].startswith("30")
    )
    assert [code for _, code in home] == sorted(code for _, code in home)

    units = load_admin_units()
    representatives: dict[str, str] = {}
    unit_lists: set[str] = set()
    for document in clean:
        registered = date.fromisoformat(document["first_registered_on"])
        updated = datetime.fromisoformat(document["updated_at"])
        assert registered < START.date()
        assert updated < START
        assert registered.weekday() < 5
        # Office hours in Vietnam.
        local = updated + timedelta(hours=7)
        assert (7, 30) <= (local.hour, local.minute) < (17, 0)
        if document["amendment_number"]:
            assert registered < date.fromisoformat(document["amended_on"]) <= local.date()
        else:
            assert document["amended_on"] is None
        head_office = document["head_office"]
        unit = units.get(head_office["commune_code"], "commune", local.date())
        unit_lists.add(units.list_for(local.date()).list_id)
        assert unit is not None
        assert unit.province_code == "42"
        assert head_office["address"].endswith("Tỉnh Hà Tĩnh")
        assert int(document["charter_capital"]) >= 100_000_000
        assert sum(line["main"] for line in document["business_lines"]) == 1
        suffixes = [int(b["branch_code"][11:]) for b in document["branches"]]
        assert suffixes == sorted(suffixes)
        assert all(s >= 1 for s in suffixes)
        assert all(
            b["branch_code"][:11] == f"{document['enterprise_code']}-" for b in document["branches"]
        )
        assert all(document["name_vi"] in b["name"] for b in document["branches"])
        if document["name_foreign"] is not None:
            assert document["name_foreign"].isascii()
            assert document["name_foreign"].isupper()
        representative = document["legal_representative"]
        if representative["personal_id"] is not None:
            # One person, one id: a representative of several enterprises keeps both.
            name = representatives.setdefault(
                representative["personal_id"], representative["full_name"]
            )
            assert name == representative["full_name"]
        text = json.dumps(document, ensure_ascii=False)
        assert unicodedata.is_normalized("NFC", text)
    forms = Counter(d["legal_form"] for d in clean)
    assert set(forms) >= {
        "SINGLE_MEMBER_LLC",
        "MULTI_MEMBER_LLC",
        "JOINT_STOCK_COMPANY",
        "PRIVATE_ENTERPRISE",
    }
    for document in clean:
        assert NAME_BY_FORM[document["legal_form"]].fullmatch(document["name_vi"]), document
    assert len({d["name_vi"] for d in clean}) == len(clean)
    assert Counter(d["status"] for d in clean)["ACTIVE"] > len(clean) / 2
    assert sum(bool(d["branches"]) for d in clean) > 0
    assert {d["updated_at"][:4] for d in clean} >= {"2024", "2025", "2026"}
    # Communes before and after the 2025 merger, each on the dates it was in force.
    assert unit_lists == {"until_2025-06-30", "from_2025-07-01"}


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="records"):
        simulate_business_registration(tmp_path, -1, 0.1)
    with pytest.raises(ValueError, match="defect_rate"):
        simulate_business_registration(tmp_path, 10, 1.5)
    with pytest.raises(ValueError, match="start"):
        simulate_business_registration(tmp_path, 10, 0.1, start=datetime(1999, 12, 31))
    with pytest.raises(ValueError, match="fail_every"):
        BusinessRegistryApi(tmp_path, API_KEY, fail_every=0)
    simulate_business_registration(tmp_path, 3, 0.0, start=START)
    with pytest.raises(KeyError, match="0100233488"):
        amend_enterprise(tmp_path, "0100233488", START)
