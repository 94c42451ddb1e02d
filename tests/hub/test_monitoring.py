"""Metrics and health endpoints, read over HTTP as Prometheus and an orchestrator would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from connectors.simulators.population import simulate_population
from hub.broker import TansuBroker, free_port
from hub.monitoring import HubMetrics, MonitoringServer
from schemas.registry.server import EmbeddedRegistry


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_what_the_service_reports() -> None:
    metrics = HubMetrics("worker")
    metrics.records_in("citizen.person", 120)
    metrics.records_out("citizen.person", "stored", 117)
    metrics.dead_lettered("citizen.person", 3)
    metrics.retried("citizen.person", "warehouse")
    metrics.lag("citizen.person", 42)
    metrics.latency("citizen.person", 0.3)
    metrics.latency("citizen.person", 7.0)

    with MonitoringServer(metrics) as server:
        response = httpx.get(f"{server.url}/metrics")
    assert response.status_code == 200
    samples = _samples(response.text)
    base = (("dataset", "citizen.person"), ("service", "worker"))
    assert samples[("lgsp_records_in_total", base)] == 120
    stored = tuple(sorted((*base, ("outcome", "stored"))))
    assert samples[("lgsp_records_out_total", stored)] == 117
    assert samples[("lgsp_dead_lettered_total", base)] == 3
    retried = tuple(sorted((*base, ("target", "warehouse"))))
    assert samples[("lgsp_retries_total", retried)] == 1
    assert samples[("lgsp_lag_records", base)] == 42
    assert samples[("lgsp_latency_seconds_count", base)] == 2
    under_one = tuple(sorted((*base, ("le", "1.0"))))
    assert samples[("lgsp_latency_seconds_bucket", under_one)] == 1


def test_readiness_names_the_failing_check_and_liveness_stays_up() -> None:
    up = {"warehouse": True, "broker": True}

    def broker() -> bool:
        if not up["broker"]:
            raise ConnectionError("broker 127.0.0.1:9 refused the connection\nmore detail")
        return True

    checks = {"warehouse": lambda: up["warehouse"], "broker": broker}
    with MonitoringServer(HubMetrics("connector:population"), checks=checks) as server:
        assert httpx.get(f"{server.url}/readyz").json() == {
            "status": "ready",
            "checks": {"warehouse": "ok", "broker": "ok"},
        }
        up["warehouse"] = up["broker"] = False
        not_ready = httpx.get(f"{server.url}/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["checks"] == {
            "warehouse": "failing",
            "broker": "error: broker 127.0.0.1:9 refused the connection",
        }
        alive = httpx.get(f"{server.url}/healthz")
        assert alive.status_code == 200
        assert alive.json()["service"] == "connector:population"
        assert httpx.get(f"{server.url}/nowhere").status_code == 404


def test_a_running_connector_serves_its_counts_and_readiness(
    broker: TansuBroker, registry: EmbeddedRegistry, tmp_path: Path
) -> None:
    manifest = simulate_population(tmp_path / "source", 400, 0.05, seed=5)
    declared = tmp_path / "connectors.yaml"
    declared.write_text(
        "connectors:\n  population:\n    type: population\n    config:\n"
        f"      database_url: sqlite:///{tmp_path / 'source' / 'population.db'}\n"
        "      batch_size: 100\n",
        encoding="utf-8",
    )
    port = free_port()
    env = {
        **os.environ,
        "LGSP_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "LGSP_REGISTRY_URL": registry.url,
        "LGSP_WAREHOUSE_URL": f"sqlite:///{tmp_path / 'warehouse.db'}",
        "LGSP_CONNECTORS_FILE": str(declared),
        "LGSP_METRICS_PORT": str(port),
    }
    command = [sys.executable, "-m", "hub.cli", "connector", "run", "population"]
    command += ["--interval", "0.5", "--workdir", str(tmp_path / "hub")]
    connector = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    tally = manifest.datasets["citizen.person"]
    base = (("dataset", "citizen.person"), ("service", "connector"))
    try:
        deadline = time.monotonic() + 60
        samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        while time.monotonic() < deadline:
            assert connector.poll() is None, connector.stderr.read() if connector.stderr else ""
            try:
                samples = _samples(httpx.get(f"http://127.0.0.1:{port}/metrics").text)
            except httpx.TransportError:
                samples = {}
            if samples.get(("lgsp_records_in_total", base)) == tally.records:
                break
            time.sleep(0.2)
        assert samples[("lgsp_records_in_total", base)] == tally.records
        published = tuple(sorted((*base, ("outcome", "published"))))
        dead = samples.get(("lgsp_dead_lettered_total", base), 0.0)
        assert samples[("lgsp_records_out_total", published)] + dead == tally.records
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz")
        assert ready.json() == {"status": "ready", "checks": {"source:population": "ok"}}
    finally:
        connector.terminate()
        connector.wait(timeout=30)
