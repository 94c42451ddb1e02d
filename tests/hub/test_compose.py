"""docker-compose.yml cannot run here (no Docker engine); what can be checked of it is."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from connectors.declared import build_connector, load_declarations
from hub.settings import Settings
from schemas.catalogue import default_catalogue

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES = COMPOSE["services"]
HUB_SERVICES = {
    name: s for name, s in SERVICES.items() if s.get("image", "").startswith("lgsp-hub")
}


def test_it_has_the_production_services() -> None:
    assert {"kafka", "schema-registry", "postgres", "worker", "connector-population"} <= set(
        SERVICES
    )
    assert SERVICES["kafka"]["image"].startswith("apache/kafka:")
    assert SERVICES["schema-registry"]["image"].startswith("confluentinc/cp-schema-registry:")
    assert SERVICES["postgres"]["image"].startswith("postgres:")


def test_images_are_pinned_and_infrastructure_has_health_checks() -> None:
    for name, service in SERVICES.items():
        image = service["image"]
        assert ":" in image, name
        assert not image.endswith(":latest"), name
    for name in ("kafka", "schema-registry", "postgres"):
        assert SERVICES[name]["healthcheck"]["test"], name


def test_kafka_runs_in_kraft_mode_without_auto_created_topics() -> None:
    env = SERVICES["kafka"]["environment"]
    assert "controller" in env["KAFKA_PROCESS_ROLES"]
    assert "KAFKA_ZOOKEEPER_CONNECT" not in env
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_hub_services_use_only_real_settings_and_wait_for_healthy_dependencies() -> None:
    known = {f"LGSP_{name.upper()}" for name in Settings.model_fields}
    assert HUB_SERVICES
    for name, service in HUB_SERVICES.items():
        env = {k: v for k, v in service["environment"].items() if k.startswith("LGSP_")}
        assert set(env) <= known, (name, set(env) - known)
        for setting in ("LGSP_BOOTSTRAP_SERVERS", "LGSP_REGISTRY_URL", "LGSP_WAREHOUSE_URL"):
            assert env[setting], (name, setting)
        assert env["LGSP_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["LGSP_REGISTRY_URL"] == "http://schema-registry:8081"
        assert env["LGSP_WAREHOUSE_URL"].startswith("postgresql+psycopg://")
        for dependency in ("kafka", "schema-registry", "postgres"):
            assert service["depends_on"][dependency]["condition"] == "service_healthy"
        Settings(**{key.removeprefix("LGSP_").lower(): value for key, value in env.items()})


def test_the_warehouse_credentials_match_the_database_service() -> None:
    postgres = SERVICES["postgres"]["environment"]
    url = SERVICES["worker"]["environment"]["LGSP_WAREHOUSE_URL"]
    assert f"{postgres['POSTGRES_USER']}:" in url
    assert url.endswith(f"@postgres:5432/{postgres['POSTGRES_DB']}")


def connector_services() -> dict[str, list[str]]:
    """Connector services and the connector names each runs (the arguments before flags)."""
    found = {}
    for name, service in HUB_SERVICES.items():
        command = service["command"]
        if command[1:3] == ["connector", "run"]:
            arguments = command[3:]
            flags = [i for i, a in enumerate(arguments) if a.startswith("--")]
            found[name] = arguments[: flags[0] if flags else None]
    return found


def test_every_source_system_has_a_service_running_its_declared_connectors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for service in HUB_SERVICES.values():
        for key in service["environment"]:
            if not key.startswith("LGSP_"):
                monkeypatch.setenv(key, "from-the-environment")
    declared = load_declarations(ROOT / "connectors.yaml")
    services = connector_services()
    for name in services:
        service = SERVICES[name]
        mounts = {
            v.split(":")[1]: v.split(":")[0] for v in service["volumes"] if v.startswith("./")
        }
        assert mounts[service["environment"]["LGSP_CONNECTORS_FILE"]] == "./connectors.yaml"
    running = [connector for names in services.values() for connector in names]
    assert sorted(running) == sorted(declared)
    systems = {build_connector(name, declared).source_system for name in running}
    assert systems == {d.source_system for d in default_catalogue().datasets}


def test_secrets_are_passed_from_the_environment_never_written_down() -> None:
    text = (ROOT / "connectors.yaml").read_text(encoding="utf-8")
    assert "${POPULATION_DB_PASSWORD}" in text
    assert "${BUSINESS_REGISTRY_API_KEY}" in text
    for service in HUB_SERVICES.values():
        for key, value in service["environment"].items():
            if not key.startswith("LGSP_"):
                assert str(value).startswith("${"), key
