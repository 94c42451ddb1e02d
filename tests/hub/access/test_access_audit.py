"""The audit log: a hash chain that shows any altered, removed or added entry."""

from __future__ import annotations

import itertools
import threading
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, func, insert, select, update
from typer.testing import CliRunner

from hub.access.audit import (
    GENESIS_HASH,
    Action,
    AuditQuery,
    AuditRecord,
    Outcome,
    append,
    entry_hash,
    list_entries,
    verify,
)
from hub.commands.access import audit_app
from warehouse.access import AuditEntry

STEWARD = "Nguyễn Văn Bình (cán bộ Sở Thông tin và Truyền thông)"
PORTAL = "000.00.00.H42/so-y-te-portal"


def fill(engine: Engine, count: int) -> None:
    for number in range(count):
        append(
            engine,
            AuditRecord(
                actor=STEWARD,
                action=Action.SUBSCRIPTION_GRANT if number % 2 else Action.DATA_READ,
                outcome=Outcome.OK,
                system_id=PORTAL,
                dataset="citizen.person",
                detail={"note": f"Lần {number}: cấp quyền cho Cổng thông tin Sở Y tế"},
            ),
        )


def run_verify(warehouse_url: str, tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        audit_app,
        ["verify", "--workdir", str(tmp_path), *args],
        env={"LGSP_WAREHOUSE_URL": warehouse_url},
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.stdout


def test_an_empty_log_is_intact(engine: Engine) -> None:
    verdict = verify(engine)
    assert verdict.intact
    assert (verdict.entries, verdict.head_id, verdict.head_hash) == (0, 0, GENESIS_HASH)


def test_entries_chain_each_to_the_one_before(engine: Engine, warehouse_url, tmp_path) -> None:
    fill(engine, 5)
    lines = sorted(list_entries(engine, AuditQuery(limit=10)), key=lambda line: line.id)
    assert [line.id for line in lines] == [1, 2, 3, 4, 5]
    assert lines[0].prev_hash == GENESIS_HASH
    for earlier, later in itertools.pairwise(lines):
        assert later.prev_hash == earlier.entry_hash
    assert lines[0].actor == STEWARD
    assert lines[0].detail_json()["note"] == "Lần 0: cấp quyền cho Cổng thông tin Sở Y tế"

    verdict = verify(engine)
    assert verdict.intact
    assert (verdict.entries, verdict.head_id, verdict.head_hash) == (5, 5, lines[-1].entry_hash)
    code, output = run_verify(warehouse_url, tmp_path)
    assert code == 0, output
    assert "intact: 5 entries" in output
    assert lines[-1].entry_hash in output


def test_text_is_stored_and_hashed_in_nfc(engine: Engine) -> None:
    decomposed = unicodedata.normalize("NFD", STEWARD)
    assert decomposed != STEWARD
    line = append(
        engine,
        AuditRecord(
            actor=decomposed,
            action=Action.APIKEY_ISSUE,
            outcome=Outcome.OK,
            detail={"ghi_chú": unicodedata.normalize("NFD", "Sở Y tế Hà Tĩnh")},
        ),
    )
    assert line.actor == STEWARD
    assert line.detail_json() == {"ghi_chú": "Sở Y tế Hà Tĩnh"}
    assert verify(engine).intact


ALTERATIONS = {
    "occurred_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    "actor": "Trần Thị Lan",
    "action": "subscription.refuse",
    "system_id": "000.00.00.H42/khac",
    "dataset": "civil.birth",
    "outcome": "denied",
    "detail": '{"note":"đã sửa"}',
    "prev_hash": "f" * 64,
    "entry_hash": "e" * 64,
}


@pytest.mark.parametrize("column", sorted(ALTERATIONS))
def test_altering_any_column_of_any_entry_breaks_the_chain_there(
    engine: Engine, warehouse_url: str, tmp_path: Path, column: str
) -> None:
    fill(engine, 5)
    with engine.begin() as connection:
        connection.execute(
            update(AuditEntry).where(AuditEntry.id == 3).values({column: ALTERATIONS[column]})
        )
    verdict = verify(engine)
    assert verdict.broken_at == 3, verdict
    code, output = run_verify(warehouse_url, tmp_path)
    assert code == 1
    assert output.startswith("audit log broken at entry 3:"), output


@pytest.mark.parametrize(("removed", "named"), [(1, 1), (3, 3), (5, 5)])
def test_removing_an_entry_breaks_the_chain_naming_it(
    engine: Engine, warehouse_url: str, tmp_path: Path, removed: int, named: int
) -> None:
    fill(engine, 5)
    with engine.begin() as connection:
        connection.execute(delete(AuditEntry).where(AuditEntry.id == removed))
    verdict = verify(engine)
    assert verdict.broken_at == named, verdict
    code, output = run_verify(warehouse_url, tmp_path)
    assert code == 1
    assert f"broken at entry {named}:" in output


def test_an_entry_added_behind_the_hub_s_back_is_found(engine: Engine) -> None:
    fill(engine, 2)
    last = max(list_entries(engine, AuditQuery()), key=lambda line: line.id)
    moment = datetime.now(UTC)
    forged = {
        "id": 3,
        "occurred_at": moment,
        "actor": PORTAL,
        "action": "data.read",
        "system_id": PORTAL,
        "dataset": "citizen.person",
        "outcome": "allowed",
        "detail": "{}",
        "prev_hash": last.entry_hash,
    }
    digest = entry_hash(
        entry_id=3,
        occurred_at=moment,
        actor=PORTAL,
        action="data.read",
        system_id=PORTAL,
        dataset="citizen.person",
        outcome="allowed",
        detail="{}",
        prev_hash=last.entry_hash,
    )
    with engine.begin() as connection:
        connection.execute(insert(AuditEntry).values(entry_hash=digest, **forged))
    verdict = verify(engine)
    assert verdict.broken_at == 3
    assert "without the log's head record" in (verdict.reason or "")


def test_an_anchor_proves_the_log_was_not_rewritten(engine: Engine) -> None:
    fill(engine, 3)
    anchor = verify(engine).head_hash
    fill(engine, 2)
    assert verify(engine, anchor=anchor).intact
    rewritten = verify(engine, anchor="a" * 64)
    assert not rewritten.intact
    assert "anchor" in (rewritten.reason or "")


def test_concurrent_writers_never_fork_the_chain(engine: Engine) -> None:
    writers, each = 4, 15
    failures: list[BaseException] = []

    def write() -> None:
        try:
            fill(engine, each)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=write) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    verdict = verify(engine)
    assert verdict.intact, verdict
    assert verdict.entries == writers * each
    with engine.connect() as connection:
        distinct_prev = connection.execute(
            select(func.count(func.distinct(AuditEntry.prev_hash)))
        ).scalar_one()
    assert distinct_prev == writers * each, "two entries extend the same one"
