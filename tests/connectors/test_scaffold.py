"""A scaffolded connector passes the conformance kit as generated."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.scaffold import ScaffoldError, scaffold_connector
from schemas.catalogue import default_catalogue
from schemas.json_records import sample_json

VENV_BIN = Path(sys.executable).parent


def lgsp(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


def test_the_scaffold_passes_the_kit_and_lint(tmp_path: Path) -> None:
    created = lgsp(
        "connector", "new", "ho_tich_xa", "--dataset", "citizen.person", "--out", ".", cwd=tmp_path
    )
    assert created.returncode == 0, created.stderr
    root = tmp_path / "lgsp-connector-ho-tich-xa"
    assert {p.name for p in root.iterdir()} >= {
        "pyproject.toml",
        "README.md",
        "catalogue_entry.yaml",
        "src",
        "tests",
    }

    kit = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "ignore::DeprecationWarning",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root / "src")},
        check=False,
    )
    assert kit.returncode == 0, kit.stdout[-3000:]
    assert "3 passed, 1 skipped" in kit.stdout

    lint = subprocess.run(
        [
            str(VENV_BIN / "ruff"),
            "check",
            "--isolated",
            "--line-length",
            "100",
            "--select",
            "E,F,W,I",
            ".",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout


def test_bad_names_and_existing_packages_are_refused(tmp_path: Path) -> None:
    person = default_catalogue().dataset("citizen.person")
    sample = sample_json(person.avro_schema())
    with pytest.raises(ScaffoldError, match="lowercase"):
        scaffold_connector("Hộ-tịch", person, sample, tmp_path)
    scaffold_connector("ho_tich", person, sample, tmp_path)
    with pytest.raises(ScaffoldError, match="already exists"):
        scaffold_connector("ho_tich", person, sample, tmp_path)


def test_an_unknown_dataset_is_one_line(tmp_path: Path) -> None:
    result = lgsp("connector", "new", "x", "--dataset", "nope.nothing", "--out", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: unknown dataset 'nope.nothing'")
