from __future__ import annotations

from pathlib import Path

import pytest

from connectors.declared import (
    ConnectorDeclarationError,
    build_connector,
    connector_types,
    load_declarations,
)
from connectors.population import PopulationConnector


def declare(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "connectors.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_built_in_connectors_are_found_through_the_entry_point_group() -> None:
    types = connector_types()
    assert types["population"] is PopulationConnector
    assert {"civil_birth", "civil_marriage", "civil_death", "business_registration"} <= set(types)


def test_secrets_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = declare(
        tmp_path,
        "connectors:\n  dan-cu:\n    type: population\n    config:\n"
        "      database_url: postgresql+psycopg://reader:${DAN_CU_PASSWORD}@db/dancu\n",
    )
    declarations = load_declarations(path)
    with pytest.raises(
        ConnectorDeclarationError, match=r"config.database_url refers to \$\{DAN_CU_PASSWORD\}"
    ):
        build_connector("dan-cu", declarations)
    monkeypatch.setenv("DAN_CU_PASSWORD", "mật-khẩu")
    connector = build_connector("dan-cu", declarations)
    assert connector.instance_name == "dan-cu"
    assert "mật-khẩu" not in repr(connector.config)
    assert connector.config.database_url.get_secret_value().endswith("reader:mật-khẩu@db/dancu")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("connectors:\n  x:\n    type: nope\n", "unknown type 'nope' (installed: "),
        (
            "connectors:\n  x:\n    type: population\n    config: {table: citizen}\n",
            "config.database_url: Field required",
        ),
        ("connectors:\n  x:\n    kind: population\n", "connectors.x.type: Field required"),
        ("connectors: [\n", "cannot read"),
    ],
)
def test_bad_declarations_say_where(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConnectorDeclarationError, match=message.replace("(", r"\(")):
        build_connector("x", load_declarations(declare(tmp_path, text)))


def test_a_missing_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConnectorDeclarationError, match="LGSP_CONNECTORS_FILE"):
        load_declarations(tmp_path / "absent.yaml")
