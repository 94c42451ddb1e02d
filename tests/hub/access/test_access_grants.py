"""Subscriptions, grants and API keys: the steward's decisions, each in the audit log."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from hub.access.audit import AuditQuery, list_entries, verify
from hub.access.errors import AccessError
from hub.access.grants import (
    Status,
    grant_in_force,
    grant_subscription,
    list_subscriptions,
    refuse_subscription,
    request_subscription,
    revoke_subscription,
)
from hub.access.keys import authenticate, issue_key, list_keys, revoke_keys
from hub.access.systems import ConsumingSystem
from schemas.catalogue import default_catalogue
from warehouse.access import ApiKey

CATALOGUE = default_catalogue()
PORTAL = ConsumingSystem.parse("000.00.00.H42/so-y-te-portal")
STEWARD = "Lê Thị Thu Hà"
PURPOSE = "Đối chiếu hồ sơ khám chữa bệnh với dữ liệu dân cư"


def actions(engine: Engine) -> list[tuple[str, str]]:
    lines = sorted(list_entries(engine, AuditQuery(limit=100)), key=lambda line: line.id)
    return [(line.action, line.outcome) for line in lines]


@pytest.mark.parametrize(
    "text",
    ["000.00.00.H42/so-y-te-portal", "H42.151/cong-dich-vu-cong", " 000.00.00.G22/vdxp "],
)
def test_a_consuming_system_is_an_agency_e_id_and_a_subsystem(text: str) -> None:
    system = ConsumingSystem.parse(text)
    assert system.id == text.strip()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("000.00.H42/portal", "not an agency e-ID"),
        ("so-y-te-portal", "<agency e-ID>/<subsystem>"),
        ("000.00.00.H42/Cổng Y tế", "lower-case letters"),
        ("000.00.00.H42/", "subsystem ''"),
        ("000.00.00.H42/-portal", "subsystem '-portal'"),
    ],
)
def test_a_malformed_system_name_is_refused_saying_why(text: str, says: str) -> None:
    with pytest.raises(AccessError, match=says):
        ConsumingSystem.parse(text)


def test_request_then_grant_with_personal_data(engine: Engine) -> None:
    requested = request_subscription(
        engine,
        CATALOGUE,
        PORTAL,
        "citizen.person",
        purpose=PURPOSE,
        personal_data=True,
        actor=STEWARD,
    )
    assert requested.status == Status.REQUESTED
    with engine.connect() as connection:
        assert grant_in_force(connection, PORTAL.id, "citizen.person") is None

    granted = grant_subscription(
        engine,
        CATALOGUE,
        PORTAL,
        "citizen.person",
        personal_data=True,
        actor=STEWARD,
        note="Theo Quyết định 123/QĐ-UBND",
    )
    assert (granted.status, granted.personal_data, granted.decided_by) == (
        Status.GRANTED,
        True,
        STEWARD,
    )
    with engine.connect() as connection:
        in_force = grant_in_force(connection, PORTAL.id, "citizen.person")
    assert in_force is not None
    assert in_force.personal_data
    assert actions(engine) == [("subscription.request", "ok"), ("subscription.grant", "ok")]
    grant_entry = list_entries(engine, AuditQuery(action="subscription.grant"))[0]
    assert (grant_entry.actor, grant_entry.system_id, grant_entry.dataset) == (
        STEWARD,
        PORTAL.id,
        "citizen.person",
    )
    assert grant_entry.detail_json() == {
        "personal_data": True,
        "note": "Theo Quyết định 123/QĐ-UBND",
    }


def test_a_grant_cannot_give_personal_data_not_asked_for(engine: Engine) -> None:
    request_subscription(
        engine,
        CATALOGUE,
        PORTAL,
        "civil.birth",
        purpose=PURPOSE,
        personal_data=False,
        actor=STEWARD,
    )
    with pytest.raises(AccessError, match="did not ask for personal data"):
        grant_subscription(
            engine, CATALOGUE, PORTAL, "civil.birth", personal_data=True, actor=STEWARD
        )
    (still,) = list_subscriptions(engine, system_id=PORTAL.id)
    assert (still.status, still.personal_data) == (Status.REQUESTED, False)
    assert actions(engine) == [("subscription.request", "ok"), ("subscription.grant", "rejected")]
    rejected = list_entries(engine, AuditQuery(outcome="rejected"))[0]
    assert "did not ask for personal data" in rejected.detail_json()["reason"]

    granted = grant_subscription(
        engine, CATALOGUE, PORTAL, "civil.birth", personal_data=False, actor=STEWARD
    )
    assert (granted.status, granted.personal_data) == (Status.GRANTED, False)


def test_refuse_and_revoke_need_a_reason_and_the_right_state(engine: Engine) -> None:
    with pytest.raises(AccessError, match="has not requested"):
        grant_subscription(
            engine, CATALOGUE, PORTAL, "citizen.person", personal_data=False, actor=STEWARD
        )
    request_subscription(
        engine,
        CATALOGUE,
        PORTAL,
        "citizen.person",
        purpose=PURPOSE,
        personal_data=False,
        actor=STEWARD,
    )
    with pytest.raises(AccessError, match="already requested"):
        request_subscription(
            engine,
            CATALOGUE,
            PORTAL,
            "citizen.person",
            purpose=PURPOSE,
            personal_data=False,
            actor=STEWARD,
        )
    with pytest.raises(AccessError, match="not granted"):
        revoke_subscription(
            engine, CATALOGUE, PORTAL, "citizen.person", reason="Hết hạn", actor=STEWARD
        )
    with pytest.raises(AccessError, match="say why"):
        refuse_subscription(engine, CATALOGUE, PORTAL, "citizen.person", reason=" ", actor=STEWARD)
    refused = refuse_subscription(
        engine,
        CATALOGUE,
        PORTAL,
        "citizen.person",
        reason="Mục đích chưa rõ ràng",
        actor=STEWARD,
    )
    assert (refused.status, refused.decision_note) == (Status.REFUSED, "Mục đích chưa rõ ràng")

    # A refused system may ask again, with a clearer purpose.
    request_subscription(
        engine,
        CATALOGUE,
        PORTAL,
        "citizen.person",
        purpose=PURPOSE + " (bổ sung)",
        personal_data=False,
        actor=STEWARD,
    )
    grant_subscription(
        engine, CATALOGUE, PORTAL, "citizen.person", personal_data=False, actor=STEWARD
    )
    with pytest.raises(AccessError, match="already holds a grant"):
        request_subscription(
            engine,
            CATALOGUE,
            PORTAL,
            "citizen.person",
            purpose=PURPOSE,
            personal_data=True,
            actor=STEWARD,
        )
    revoked = revoke_subscription(
        engine,
        CATALOGUE,
        PORTAL,
        "citizen.person",
        reason="Hết thời hạn thỏa thuận",
        actor=STEWARD,
    )
    assert revoked.status == Status.REVOKED
    with engine.connect() as connection:
        assert grant_in_force(connection, PORTAL.id, "citizen.person") is None
    outcomes = actions(engine)
    assert outcomes.count(("subscription.grant", "rejected")) == 1
    assert outcomes.count(("subscription.revoke", "rejected")) == 1
    assert outcomes[-1] == ("subscription.revoke", "ok")
    assert verify(engine).entries == len(outcomes)


def test_unknown_datasets_and_empty_purposes_are_refused(engine: Engine) -> None:
    with pytest.raises(AccessError, match=r"unknown dataset 'citizen\.people'"):
        request_subscription(
            engine,
            CATALOGUE,
            PORTAL,
            "citizen.people",
            purpose=PURPOSE,
            personal_data=False,
            actor=STEWARD,
        )
    with pytest.raises(AccessError, match="purpose"):
        request_subscription(
            engine,
            CATALOGUE,
            PORTAL,
            "citizen.person",
            purpose="  ",
            personal_data=False,
            actor=STEWARD,
        )
    assert list_subscriptions(engine) == []
    assert actions(engine) == [("subscription.request", "rejected")] * 2


def test_personal_data_cannot_be_asked_of_a_dataset_without_any(engine: Engine) -> None:
    enterprise = CATALOGUE.dataset("business.enterprise").model_copy(update={"personal_data": ()})
    catalogue = CATALOGUE.model_copy(update={"datasets": (enterprise,)})
    with pytest.raises(AccessError, match="has no personal-data fields"):
        request_subscription(
            engine,
            catalogue,
            PORTAL,
            "business.enterprise",
            purpose=PURPOSE,
            personal_data=True,
            actor=STEWARD,
        )


def test_api_keys_are_kept_as_hashes_and_can_be_revoked(engine: Engine) -> None:
    first = issue_key(engine, PORTAL, actor=STEWARD)
    second = issue_key(engine, PORTAL, actor=STEWARD)
    assert first.key != second.key
    assert first.key.startswith("lgsp_")
    with engine.connect() as connection:
        stored = connection.execute(select(ApiKey.__table__)).mappings().all()
        assert all(first.key not in map(str, row.values()) for row in stored)
        found = authenticate(connection, first.key)
        assert found is not None
        assert found.system_id == PORTAL.id
        assert authenticate(connection, first.key + "x") is None

    assert revoke_keys(engine, PORTAL, actor=STEWARD, key_id=first.key_id) == [first.key_id]
    with engine.connect() as connection:
        assert authenticate(connection, first.key) is None
        assert authenticate(connection, second.key) is not None
    assert revoke_keys(engine, PORTAL, actor=STEWARD) == [second.key_id]
    with pytest.raises(AccessError, match="no active keys"):
        revoke_keys(engine, PORTAL, actor=STEWARD)
    assert all(not key.active for key in list_keys(engine, system_id=PORTAL.id))
    assert actions(engine) == [
        ("apikey.issue", "ok"),
        ("apikey.issue", "ok"),
        ("apikey.revoke", "ok"),
        ("apikey.revoke", "ok"),
        ("apikey.revoke", "rejected"),
    ]
    issued = list_entries(engine, AuditQuery(action="apikey.issue"))
    assert {line.detail_json()["key_id"] for line in issued} == {first.key_id, second.key_id}
    assert verify(engine).intact
