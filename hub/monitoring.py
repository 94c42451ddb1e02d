"""Operational monitoring: Prometheus metrics and health endpoints for each hub service.

Every long-running service (the stream worker, each connector) serves, on its own port:

- ``/metrics``: Prometheus text format;
- ``/healthz``: liveness, 200 while the process serves requests;
- ``/readyz``: readiness, 200 when every named check passes, else 503; the JSON body says
  which check failed, so an operator sees the cause without reading logs.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

log = logging.getLogger("lgsp.monitoring")

# Publish-to-warehouse latency: the interesting range is tens of milliseconds to a minute.
LATENCY_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

HealthCheck = Callable[[], bool]


class HubMetrics:
    """The hub's metrics, on a registry of their own so tests and services do not share one.

    Labels: ``service`` (``worker`` or ``connector:<name>``) and ``dataset``.
    """

    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        self.service = service
        self.registry = registry or CollectorRegistry()
        labels = ("service", "dataset")
        self._records_in = Counter(
            "lgsp_records_in",
            "Records taken in: read from a source, or consumed from a topic",
            labels,
            registry=self.registry,
        )
        self._records_out = Counter(
            "lgsp_records_out",
            "Records passed on: published, sent to the clean topic, or stored",
            (*labels, "outcome"),
            registry=self.registry,
        )
        self._dead_lettered = Counter(
            "lgsp_dead_lettered",
            "Records sent to a dead-letter topic",
            labels,
            registry=self.registry,
        )
        self._retries = Counter(
            "lgsp_retries",
            "Retries of a write the broker or the warehouse refused for a while",
            (*labels, "target"),
            registry=self.registry,
        )
        self._lag = Gauge(
            "lgsp_lag_records",
            "Records the source or topic holds that are not yet processed",
            labels,
            registry=self.registry,
        )
        self._latency = Histogram(
            "lgsp_latency_seconds",
            "Time from a record's publication to its commit in the warehouse",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def records_in(self, dataset: str, count: int = 1) -> None:
        self._records_in.labels(self.service, dataset).inc(count)

    def records_out(self, dataset: str, outcome: str, count: int = 1) -> None:
        self._records_out.labels(self.service, dataset, outcome).inc(count)

    def dead_lettered(self, dataset: str, count: int = 1) -> None:
        self._dead_lettered.labels(self.service, dataset).inc(count)

    def retried(self, dataset: str, target: str, count: int = 1) -> None:
        self._retries.labels(self.service, dataset, target).inc(count)

    def lag(self, dataset: str, records: int) -> None:
        self._lag.labels(self.service, dataset).set(records)

    def latency(self, dataset: str, seconds: float) -> None:
        self._latency.labels(self.service, dataset).observe(max(seconds, 0.0))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MonitoringServer:
    """``/metrics``, ``/healthz`` and ``/readyz`` on a background thread.

    Port 0 picks a free port; :attr:`port` tells which.
    """

    def __init__(
        self,
        metrics: HubMetrics,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        checks: Mapping[str, HealthCheck] | None = None,
    ) -> None:
        self.metrics = metrics
        self.checks = dict(checks or {})
        handler = _handler(metrics, self.checks)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="lgsp-monitoring", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = self._server.server_address[0]
        return f"http://{host}:{self.port}"

    def start(self) -> MonitoringServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> MonitoringServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def broker_answers(bootstrap_servers: str) -> HealthCheck:
    """A readiness check: a bootstrap server accepts a connection."""
    from hub.topics import check_reachable

    def check() -> bool:
        check_reachable(bootstrap_servers, timeout_s=2.0)
        return True

    return check


def _readiness(checks: Mapping[str, HealthCheck]) -> tuple[bool, dict[str, str]]:
    outcome: dict[str, str] = {}
    for name, check in checks.items():
        try:
            outcome[name] = "ok" if check() else "failing"
        except Exception as exc:  # a failing check is a finding, never a crash of the server
            outcome[name] = f"error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    return all(state == "ok" for state in outcome.values()), outcome


def _handler(
    metrics: HubMetrics, checks: Mapping[str, HealthCheck]
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(HTTPStatus.OK, metrics.exposition(), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._json(HTTPStatus.OK, {"status": "ok", "service": metrics.service})
            elif path == "/readyz":
                ready, outcome = _readiness(checks)
                self._json(
                    HTTPStatus.OK if ready else HTTPStatus.SERVICE_UNAVAILABLE,
                    {"status": "ready" if ready else "not ready", "checks": outcome},
                )
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: {path}"})

        def _json(self, status: HTTPStatus, body: dict[str, object]) -> None:
            self._send(status, json.dumps(body).encode(), "application/json")

        def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            # Prometheus scrapes every few seconds; access lines would drown the service's log.
            log.debug(format, *args)

    return Handler
