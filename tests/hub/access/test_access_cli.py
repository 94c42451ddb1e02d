"""The steward's commands: subscription, apikey, audit, end to end against the data API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, update
from typer.testing import CliRunner, Result

from hub.access.api import create_access_api
from hub.commands.access import apikey_app, audit_app, subscription_app
from hub.commands.common import CommandError
from warehouse.access import AuditEntry

PORTAL = "000.00.00.H42/so-y-te-portal"
STEWARD = "Đặng Quốc Việt"
KEY = SecretStr("một-khóa-bí-danh-đủ-dài-cho-thử-nghiệm-42")


@pytest.fixture
def lgsp(warehouse_url: str, tmp_path: Path):
    runner = CliRunner()

    def run(app: typer.Typer, *args: str) -> Result:
        return runner.invoke(
            app,
            [*args, "--workdir", str(tmp_path)],
            env={"LGSP_WAREHOUSE_URL": warehouse_url},
        )

    return run


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def test_a_steward_grants_a_system_which_then_reads_and_the_log_verifies(
    lgsp, engine: Engine
) -> None:
    ok(
        lgsp(
            subscription_app,
            "request",
            PORTAL,
            "citizen.person",
            "--purpose",
            "Tra cứu hồ sơ bệnh nhân",
            "--personal-data",
            "--by",
            STEWARD,
        )
    )
    granted = ok(
        lgsp(
            subscription_app, "grant", PORTAL, "citizen.person", "--personal-data", "--by", STEWARD
        )
    )
    assert granted.strip() == f"{PORTAL} citizen.person: granted with personal data"
    issued = lgsp(apikey_app, "issue", PORTAL, "--by", STEWARD)
    key = ok(issued).strip()
    assert key.startswith("lgsp_")
    assert "shown only now" in issued.stderr

    listed = [
        json.loads(line) for line in ok(lgsp(subscription_app, "list", "--json")).splitlines()
    ]
    assert [(s["system_id"], s["status"], s["personal_data"]) for s in listed] == [
        (PORTAL, "granted", True)
    ]
    keys = ok(lgsp(apikey_app, "list", "--json"))
    assert key not in keys

    with TestClient(create_access_api(engine, pseudonym_key=KEY)) as client:
        answer = client.get("/v1/datasets/citizen.person/records", headers={"X-API-Key": key})
    assert answer.status_code == 200

    entries = [json.loads(line) for line in ok(lgsp(audit_app, "list", "--json")).splitlines()]
    assert [(e["action"], e["outcome"], e["actor"]) for e in reversed(entries)] == [
        ("subscription.request", "ok", STEWARD),
        ("subscription.grant", "ok", STEWARD),
        ("apikey.issue", "ok", STEWARD),
        ("data.read", "allowed", PORTAL),
    ]
    assert "intact: 4 entries" in ok(lgsp(audit_app, "verify"))

    with engine.begin() as connection:
        connection.execute(update(AuditEntry).where(AuditEntry.id == 2).values(actor="ai đó khác"))
    broken = lgsp(audit_app, "verify")
    assert broken.exit_code == 1
    assert broken.stdout.startswith("audit log broken at entry 2:")


def test_acls_follow_the_grants(lgsp) -> None:
    other = "000.00.00.H42/cuc-thong-ke"
    for system, personal in ((PORTAL, True), (other, False)):
        flags = ["--personal-data"] if personal else []
        ok(
            lgsp(
                subscription_app,
                "request",
                system,
                "citizen.person",
                "--purpose",
                "Thống kê",
                *flags,
            )
        )
        ok(lgsp(subscription_app, "grant", system, "citizen.person", *flags))
    script = ok(lgsp(subscription_app, "acls"))
    adds = [line for line in script.splitlines() if " --add " in line]
    assert (
        f"--add --allow-principal User:{PORTAL} --operation Read --operation Describe "
        "--topic clean.citizen.person"
    ) in script
    assert (
        f"--add --allow-principal User:{other} --operation Read --operation Describe "
        "--topic shared.citizen.person"
    ) in script
    assert not any(f"User:{other}" in line and "clean." in line for line in adds)
    assert f"--group {PORTAL} --resource-pattern-type prefixed" in script

    ok(lgsp(subscription_app, "revoke", PORTAL, "citizen.person", "--reason", "Hết hạn"))
    after = ok(lgsp(subscription_app, "acls"))
    removed = [line for line in after.splitlines() if f"User:{PORTAL}" in line]
    assert removed
    assert all(" --remove --force " in line for line in removed)


def test_mistakes_are_one_line_errors(lgsp) -> None:
    bad_system = lgsp(apikey_app, "issue", "so-y-te-portal")
    assert isinstance(bad_system.exception, CommandError)
    assert "<agency e-ID>/<subsystem>" in str(bad_system.exception)
    no_request = lgsp(subscription_app, "grant", PORTAL, "civil.birth")
    assert isinstance(no_request.exception, CommandError)
    assert str(no_request.exception) == f"{PORTAL} has not requested civil.birth"
    bad_status = lgsp(subscription_app, "list", "--status", "pending")
    assert isinstance(bad_status.exception, CommandError)
    # The refused grant is in the log too.
    entries = ok(lgsp(audit_app, "list", "--json")).splitlines()
    assert json.loads(entries[0])["outcome"] == "rejected"
