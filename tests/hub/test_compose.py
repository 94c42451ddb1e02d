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
        if name == "migrate":
            assert service["restart"] == "no"
            assert service["command"] == ["lgsp", "warehouse", "upgrade"]
            continue
        for dependency in ("kafka", "schema-registry", "postgres"):
            assert service["depends_on"][dependency]["condition"] == "service_healthy"
        # No service writes to a warehouse whose schema is behind the code's.
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        Settings(**{key.removeprefix("LGSP_").lower(): value for key, value in env.items()})


def test_every_long_running_hub_service_is_health_checked_on_its_own_port() -> None:
    for name, service in HUB_SERVICES.items():
        if name == "migrate":
            continue
        check = " ".join(service["healthcheck"]["test"])
        env = service["environment"]
        if "--port" in service["command"]:
            # The console and the data API answer a health route that asks the warehouse.
            port = service["command"][service["command"].index("--port") + 1]
            assert f"localhost:{port}/" in check, name
            assert "health" in check, name
        else:
            # Workers and connectors serve /healthz on the metrics port.
            assert f"localhost:{env['LGSP_METRICS_PORT']}/healthz" in check, name
            assert env["LGSP_METRICS_HOST"] == "0.0.0.0", name


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


# --- Kafka access control -----------------------------------------------------------------


def kafka_properties() -> dict[str, str]:
    """The broker's server properties, read back from the apache/kafka image's env names.

    The image maps ``a.b`` to ``KAFKA_A_B``, ``a_b`` to ``KAFKA_A__B`` and ``a-b`` to
    ``KAFKA_A___B``.
    """
    properties = {}
    for name, value in SERVICES["kafka"]["environment"].items():
        if not name.startswith("KAFKA_"):
            continue
        key = name.removeprefix("KAFKA_").replace("___", "-").replace("__", "\0")
        properties[key.replace("_", ".").replace("\0", "_").lower()] = str(value)
    return properties


def listeners(value: str) -> dict[str, str]:
    """``NAME://host:port,...`` as {name: host:port}."""
    return dict(item.split("://", 1) for item in value.split(","))


def test_kafka_authorises_every_request_by_acl() -> None:
    props = kafka_properties()
    assert props["authorizer.class.name"] == (
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    )
    assert props["allow.everyone.if.no.acl.found"] == "false"


def test_consuming_systems_reach_kafka_only_over_sasl_scram() -> None:
    props = kafka_properties()
    protocols = dict(item.split(":") for item in props["listener.security.protocol.map"].split(","))
    bound = listeners(props["listeners"])
    assert set(bound) == set(protocols)
    published = {int(port.split(":")[-1]) for port in SERVICES["kafka"]["ports"]}
    for name, address in bound.items():
        port = int(address.rsplit(":", 1)[1])
        if port in published:
            assert protocols[name].startswith("SASL_"), (name, "is published without SASL")
    sasl = [name for name, protocol in protocols.items() if protocol.startswith("SASL_")]
    assert sasl, "no SASL listener for consuming systems"
    for name in sasl:
        listener = name.lower()
        mechanisms = props.get(f"listener.name.{listener}.sasl.enabled.mechanisms")
        assert mechanisms is not None
        for mechanism in mechanisms.split(","):
            assert mechanism.startswith("SCRAM-"), "users per system without a static file"
            jaas = props[f"listener.name.{listener}.{mechanism.lower()}.sasl.jaas.config"]
            assert jaas.startswith("org.apache.kafka.common.security.scram.ScramLoginModule")
            assert jaas.endswith(";")
        assert int(listeners(props["advertised.listeners"])[name].rsplit(":", 1)[1]) in published


def test_the_hub_s_own_services_are_the_super_users_on_an_unpublished_listener() -> None:
    props = kafka_properties()
    protocols = dict(item.split(":") for item in props["listener.security.protocol.map"].split(","))
    advertised = listeners(props["advertised.listeners"])
    hub_listener = next(name for name, address in advertised.items() if address == "kafka:9092")
    assert protocols[hub_listener] == "PLAINTEXT"
    assert props["inter.broker.listener.name"] == hub_listener
    published = {port.split(":")[-1] for port in SERVICES["kafka"]["ports"]}
    assert "9092" not in published
    # A plaintext client is ANONYMOUS: only the hub's services can be one.
    assert props["super.users"].split(";") == ["User:ANONYMOUS"]
    for name, service in HUB_SERVICES.items():
        assert service["environment"]["LGSP_BOOTSTRAP_SERVERS"] == "kafka:9092", name


def test_acl_commands_the_grants_imply_target_the_hub_s_listener() -> None:
    from hub.access.grants import Status, SubscriptionView
    from hub.access.kafka_acls import DEFAULT_BOOTSTRAP, AclTarget, acl_script

    props = kafka_properties()
    hub_listener = next(
        name
        for name, address in listeners(props["advertised.listeners"]).items()
        if address == HUB_SERVICES["worker"]["environment"]["LGSP_BOOTSTRAP_SERVERS"]
    )
    # Run inside the Kafka container, the commands reach the listener the hub's services use.
    hub_port = listeners(props["listeners"])[hub_listener].rsplit(":", 1)[1]
    assert f"localhost:{hub_port}" == DEFAULT_BOOTSTRAP
    grant = SubscriptionView.model_validate(
        {
            "id": 1,
            "system_id": "000.00.00.H42/so-y-te-portal",
            "dataset": "civil.birth",
            "purpose": "Cấp thẻ bảo hiểm y tế cho trẻ dưới 6 tuổi",
            "personal_data_requested": True,
            "status": Status.GRANTED,
            "personal_data": False,
            "requested_at": "2026-11-01T08:00:00+07:00",
            "requested_by": "Nguyễn Thị Mai",
            "decided_at": "2026-11-02T08:00:00+07:00",
            "decided_by": "Trần Văn Nam",
            "decision_note": None,
        }
    )
    script = acl_script([grant], default_catalogue(), AclTarget())
    assert (
        "--add --allow-principal User:000.00.00.H42/so-y-te-portal --operation Read "
        "--operation Describe --topic shared.civil.birth"
    ) in script
    assert "--remove --force --allow-principal User:000.00.00.H42/so-y-te-portal" in script


def test_the_data_api_and_the_worker_share_the_secret_pseudonym_key() -> None:
    api = SERVICES["api"]
    assert api["command"][:2] == ["lgsp", "api"]
    port = api["command"][api["command"].index("--port") + 1]
    assert f"{port}:{port}" in api["ports"]
    keys = {name: SERVICES[name]["environment"]["LGSP_PSEUDONYM_KEY"] for name in ("api", "worker")}
    assert keys["api"] == keys["worker"]
    assert keys["api"].startswith("${LGSP_PSEUDONYM_KEY:?"), "required, from the environment"
    for name, service in HUB_SERVICES.items():
        if name.startswith("connector-"):
            assert "LGSP_PSEUDONYM_KEY" not in service["environment"], name
