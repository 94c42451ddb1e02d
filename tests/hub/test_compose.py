"""docker-compose.yml cannot run here (no Docker engine); what can be checked of it is."""

from __future__ import annotations

from pathlib import Path

import yaml

from connectors.declared import build_connector, load_declarations
from hub.settings import Settings

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
        env = service["environment"]
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


def test_the_connector_service_runs_a_declared_connector() -> None:
    service = SERVICES["connector-population"]
    name = service["command"][service["command"].index("run") + 1]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"] if v.startswith("./")}
    declared_at = service["environment"]["LGSP_CONNECTORS_FILE"]
    connector = build_connector(name, load_declarations(ROOT / mounted[declared_at]))
    assert connector.dataset == "citizen.person"
