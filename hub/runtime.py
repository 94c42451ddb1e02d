"""The embedded runtime: start what the settings leave unset, check the rest, stop it all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from pydantic import SecretStr

from hub.access.pseudonym_key import pseudonym_key
from hub.broker import TansuBroker, die_with_parent
from hub.settings import Settings
from hub.topics import catalogue_topics, ensure_topics
from schemas.catalogue import Catalogue
from schemas.registry.client import RegistryClient, RegistryError
from schemas.registry.server import EmbeddedRegistry
from warehouse.db import create_warehouse_engine, init_warehouse


class RuntimeStartError(RuntimeError):
    """A part of the hub could not be started or reached; one line naming the setting."""


@dataclass(frozen=True)
class Endpoints:
    """Where every part of a running hub is, embedded or external."""

    bootstrap_servers: str
    registry_url: str
    warehouse_url: str
    workdir: Path
    pseudonym_key: SecretStr
    topic_partitions: int = 1

    def environment(self) -> dict[str, str]:
        """The ``LGSP_`` settings that point a child process at this hub."""
        return {
            "LGSP_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "LGSP_REGISTRY_URL": self.registry_url,
            "LGSP_WAREHOUSE_URL": self.warehouse_url,
            "LGSP_WORKDIR": str(self.workdir),
            "LGSP_TOPIC_PARTITIONS": str(self.topic_partitions),
            # Children make the same pseudonyms as this process, embedded key or not.
            "LGSP_PSEUDONYM_KEY": self.pseudonym_key.get_secret_value(),
        }


class Runtime:
    """Context manager giving :class:`Endpoints`; whatever it started, it stops on exit."""

    def __init__(self, settings: Settings, catalogue: Catalogue) -> None:
        self.settings = settings
        self.catalogue = catalogue
        self.workdir = settings.workdir.resolve()
        self._stack = ExitStack()

    def __enter__(self) -> Endpoints:
        try:
            return self._start()
        except BaseException:
            self._stack.close()
            raise

    def _start(self) -> Endpoints:
        settings = self.settings
        self.workdir.mkdir(parents=True, exist_ok=True)
        logs = self.workdir / "logs"

        bootstrap = settings.bootstrap_servers
        if bootstrap is None:
            broker = TansuBroker(log_path=logs / "broker.log")
            broker.start()
            self._stack.callback(broker.stop)
            bootstrap = broker.bootstrap_servers

        registry_url = self._stack.enter_context(registry_endpoint(settings))

        key = pseudonym_key(
            settings.pseudonym_key, warehouse_url=settings.warehouse_url, workdir=self.workdir
        )
        warehouse_url = settings.warehouse_url or settings.embedded_warehouse_url
        engine = create_warehouse_engine(warehouse_url)
        try:
            init_warehouse(engine)
        finally:
            engine.dispose()

        ensure_topics(bootstrap, catalogue_topics(self.catalogue), settings.topic_partitions)
        return Endpoints(
            bootstrap_servers=bootstrap,
            registry_url=registry_url,
            warehouse_url=warehouse_url,
            workdir=self.workdir,
            pseudonym_key=key,
            topic_partitions=settings.topic_partitions,
        )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stack.close()


@contextmanager
def registry_endpoint(settings: Settings) -> Iterator[str]:
    """The registry URL: the configured one, checked, or an embedded registry's while open.

    The embedded registry keeps its schemas in the work directory, so what one command
    registered the next one finds.
    """
    if settings.registry_url is not None:
        try:
            with RegistryClient(settings.registry_url, timeout=5.0) as client:
                client.subjects()
        except RegistryError as exc:
            raise RuntimeStartError(f"LGSP_REGISTRY_URL: {exc}") from exc
        yield settings.registry_url
        return
    workdir = settings.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    with EmbeddedRegistry(storage_url=f"sqlite:///{workdir / 'registry.db'}") as registry:
        yield registry.url


class WorkerProcess:
    """The stream worker in a child process, as production runs it (``lgsp worker``)."""

    def __init__(
        self,
        endpoints: Endpoints,
        log_path: Path,
        datasets: tuple[str, ...] = (),
        metrics_port: int | None = None,
    ) -> None:
        self.endpoints = endpoints
        self.log_path = log_path
        self.datasets = datasets
        self.metrics_port = metrics_port
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "hub.cli",
                    "worker",
                    "--workdir",
                    str(self.endpoints.workdir),
                    *(f"--dataset={dataset}" for dataset in self.datasets),
                    *(
                        ()
                        if self.metrics_port is None
                        else ("--metrics-port", str(self.metrics_port))
                    ),
                ],
                env={**os.environ, **self.endpoints.environment()},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent,
            )

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def kill(self) -> None:
        """Stop at once, as a crash would (SIGKILL)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def stop(self, timeout: float = 20.0) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._process.poll() is None:
            time.sleep(0.1)
        self.kill()

    def __enter__(self) -> WorkerProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
