"""``lgsp validate DATASET FILE``: one JSON verdict per record, exit 1 when any is invalid."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

GOOD = {
    "personal_id": "042190001234",
    "full_name": "Nguyễn Thị Hồng Nhung",
    "date_of_birth": "1990-05-17",
    "gender": "FEMALE",
    "birth_registration_commune_code": "18073",
    "permanent_residence": {"commune_code": "18073", "address": "Số 12 đường Phan Đình Phùng"},
    "updated_at": "2026-03-04T05:06:07.123Z",
}


def validate(path: Path) -> tuple[int, list[dict]]:
    result = subprocess.run(
        [sys.executable, "-m", "hub.cli", "validate", "citizen.person", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode, [json.loads(line) for line in result.stdout.splitlines()]


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_clean_export_passes(tmp_path: Path) -> None:
    code, verdicts = validate(write(tmp_path / "ok.jsonl", json.dumps(GOOD, ensure_ascii=False)))
    assert code == 0
    assert verdicts == [{"line": 1, "valid": True, "failures": []}]


def test_every_failure_of_every_record_is_listed(tmp_path: Path) -> None:
    spoiled = {
        **GOOD,
        "personal_id": "04219000123",
        "full_name": "  ",
        "permanent_residence": {"commune_code": "99999", "address": "Thôn Trung Lương"},
    }
    path = write(
        tmp_path / "export.jsonl",
        json.dumps(GOOD, ensure_ascii=False),
        "",
        json.dumps(spoiled, ensure_ascii=False),
        "{not json",
        json.dumps({**GOOD, "date_of_birth": "17/05/1990"}, ensure_ascii=False),
    )
    code, verdicts = validate(path)
    assert code == 1
    assert [v["line"] for v in verdicts] == [1, 3, 4, 5]
    assert [v["valid"] for v in verdicts] == [True, False, False, False]
    assert {f["rule"] for f in verdicts[1]["failures"]} == {
        "required",
        "personal_id.shape",
        "admin_unit.unknown",
    }
    assert {f["field"] for f in verdicts[1]["failures"]} == {
        "full_name",
        "personal_id",
        "permanent_residence.commune_code",
    }
    assert verdicts[2]["failures"][0]["rule"] == "json"
    assert verdicts[3]["failures"][0] == {
        "rule": "schema",
        "field": "date_of_birth",
        "reason": "date_of_birth: '17/05/1990' is not a valid date",
        "reason_vi": "Bản ghi không khớp lược đồ: date_of_birth: '17/05/1990' is not a valid date",
    }


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hub.cli", "validate", "citizen.person", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: cannot read")
