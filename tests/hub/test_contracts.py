"""Schema contracts: registration, and refusing a change that breaks subscribers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hub.contracts import ContractError, check_against_git, check_against_registry, register_all
from schemas.catalogue import CATALOGUE_PATH, Catalogue, default_catalogue
from schemas.registry.client import RegistryClient

PERSON = default_catalogue().dataset("citizen.person")


def catalogue_with_person_schema(schema: dict, path: Path) -> Catalogue:
    path.write_text(json.dumps(schema, ensure_ascii=False), encoding="utf-8")
    person = PERSON.model_copy(update={"schema_file": str(path)})
    return default_catalogue().model_copy(update={"datasets": (person,)})


def with_field(field: dict) -> dict:
    schema = PERSON.avro_schema()
    return {**schema, "fields": [*schema["fields"], field]}


@pytest.fixture
def client(lgsp_registry):
    with RegistryClient(lgsp_registry.url) as registry_client:
        yield registry_client


def unique_person(tmp_path: Path) -> dict:
    """The person schema under a name no other test registered (the registry is shared)."""
    schema = PERSON.avro_schema()
    return {**schema, "namespace": f"vn.lgsp.test{tmp_path.name.replace('-', '_')}"}


def test_registered_schemas_check_compatible_and_breaking_changes_are_named(
    client, tmp_path
) -> None:
    base = unique_person(tmp_path)
    dataset_id = f"t{tmp_path.name[-6:].replace('-', '_')}.person"

    def catalogue(schema: dict, name: str) -> Catalogue:
        loaded = catalogue_with_person_schema(schema, tmp_path / name)
        renamed = loaded.datasets[0].model_copy(update={"id": dataset_id})
        return loaded.model_copy(update={"datasets": (renamed,)})

    released = catalogue(base, "released.avsc")
    assert {v.status for v in check_against_registry(client, released)} == {"new"}
    registered = register_all(client, released)
    assert len({schema_id for _, schema_id in registered}) == 1
    assert {v.status for v in check_against_registry(client, released)} == {"compatible"}

    breaking = {**base, "fields": [*base["fields"], {"name": "tax_code", "type": "string"}]}
    verdicts = check_against_registry(client, catalogue(breaking, "breaking.avsc"))
    assert {v.status for v in verdicts} == {"incompatible"}
    assert any("tax_code" in message for message in verdicts[0].messages)

    optional = {"name": "tax_code", "type": ["null", "string"], "default": None}
    evolving = {**base, "fields": [*base["fields"], optional]}
    verdicts = check_against_registry(client, catalogue(evolving, "evolving.avsc"))
    assert {v.status for v in verdicts} == {"compatible"}


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        check=True,
        capture_output=True,
    )


def test_checking_against_a_git_reference(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    schema_path = tmp_path / "schemas" / "person.avsc"
    schema_path.parent.mkdir()
    catalogue = catalogue_with_person_schema(PERSON.avro_schema(), schema_path)
    with pytest.raises(ContractError, match="HEAD"):
        check_against_git(catalogue, "HEAD", "BACKWARD")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "release")
    assert [v.status for v in check_against_git(catalogue, "HEAD", "FULL")] == ["compatible"]

    schema_path.write_text(
        json.dumps(with_field({"name": "tax_code", "type": "string"})), encoding="utf-8"
    )
    backward = check_against_git(catalogue, "HEAD", "BACKWARD")
    assert [v.status for v in backward] == ["incompatible"]
    assert backward[0].messages
    # A reader of the old schema ignores the new field, so FORWARD holds.
    assert [v.status for v in check_against_git(catalogue, "HEAD", "FORWARD")] == ["compatible"]


def lgsp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args], capture_output=True, text=True, check=False
    )


def test_the_commands_check_and_register_in_the_embedded_registry(tmp_path: Path) -> None:
    workdir = str(tmp_path / "hub")
    first = lgsp("schemas", "check", "--workdir", workdir)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("new") == 2 * len(default_catalogue().datasets)
    registered = lgsp("schemas", "register", "--workdir", workdir)
    assert registered.returncode == 0, registered.stderr
    assert "raw.citizen.person-value: id " in registered.stdout
    again = lgsp("schemas", "check", "--workdir", workdir)
    assert again.stdout.count("compatible") == 2 * len(default_catalogue().datasets)


def test_catalogue_validate_names_the_entry_and_field_at_fault(tmp_path: Path) -> None:
    assert lgsp("catalogue", "validate").returncode == 0
    raw = yaml.safe_load(CATALOGUE_PATH.read_text(encoding="utf-8"))
    person = next(d for d in raw["datasets"] if d["id"] == "citizen.person")
    person["schema"] = str(PERSON.schema_path)
    person["key"] = ["personal_number"]
    person["rules"] = [*person["rules"], {"rule": "no_such_rule", "field": "full_name"}]
    broken = tmp_path / "catalogue.yaml"
    broken.write_text(
        yaml.safe_dump({**raw, "datasets": [person]}, allow_unicode=True), encoding="utf-8"
    )
    result = lgsp("catalogue", "validate", "--file", str(broken))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert any(line.startswith("citizen.person: personal_number:") for line in lines), lines
    assert any(
        line.startswith("citizen.person: rules:") and "no_such_rule" in line for line in lines
    ), lines
