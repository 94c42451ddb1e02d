"""An ASGI app served by uvicorn from a background thread, on a loopback port.

The embedded schema registry and the simulated source APIs run this way inside the hub's
own process, so they start in milliseconds and stop with it.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import httpx
import uvicorn


class BackgroundServerError(RuntimeError):
    """The server could not start; the message names what it serves and why."""


class BackgroundServer:
    """One uvicorn server in a daemon thread.

    Args:
        what: What it serves, for messages (``"the schema registry"``).
        probe_path: A path that answers 200 once the app is ready.
        host: Interface to listen on.
        port: Port to listen on; 0 picks a free one.
        startup_timeout: Seconds :meth:`start` waits for the probe to answer.
    """

    def __init__(
        self,
        what: str,
        probe_path: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout: float = 10.0,
    ) -> None:
        self.what = what
        self._probe_path = probe_path
        self._host = host
        self._port = port
        self._startup_timeout = startup_timeout
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """Base URL while running, e.g. ``http://127.0.0.1:40123``."""
        if self._url is None:
            raise BackgroundServerError(f"{self.what} is not started")
        return self._url

    @property
    def running(self) -> bool:
        return self._thread is not None

    def bind(self) -> int:
        """Reserve the port before the app exists, so the app may be told its own address."""
        if self._socket is not None:
            raise BackgroundServerError(f"{self.what} is already started")
        # IPPROTO_TCP makes asyncio set TCP_NODELAY; without it every answer waits out the
        # client's 40 ms delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self._host, self._port))
        except OSError as exc:
            sock.close()
            raise BackgroundServerError(
                f"cannot listen on {self._host}:{self._port} for {self.what}: {exc}"
            ) from exc
        self._socket = sock
        return int(sock.getsockname()[1])

    def serve(self, app: Any, thread_name: str) -> str:
        """Serve ``app`` on the bound socket and wait until it answers; returns the URL."""
        if self._socket is None:
            self.bind()
        assert self._socket is not None
        port = self._socket.getsockname()[1]
        config = uvicorn.Config(
            app,
            host=self._host,
            port=port,
            log_level="warning",
            lifespan="on",
            # Leave the host process's logging configuration alone.
            log_config=None,
            access_log=False,
        )
        # uvicorn installs signal handlers only on the main thread, so Ctrl-C stays with
        # the owning process.
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=thread_name,
            daemon=True,
        )
        self._thread.start()
        self._url = f"http://{self._host}:{port}"
        try:
            self._wait_until_answering()
        except BackgroundServerError:
            self.stop()
            raise
        return self._url

    def stop(self) -> None:
        """Shut uvicorn down and wait for its thread; safe to call twice."""
        server, thread = self._server, self._thread
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(timeout=10)
            if thread.is_alive():
                server.force_exit = True
                thread.join(timeout=5)
        self._server = None
        self._thread = None
        self._url = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _wait_until_answering(self) -> None:
        url = self.url
        deadline = time.monotonic() + self._startup_timeout
        last_error = "no answer yet"
        with httpx.Client(base_url=url, timeout=1.0) as probe:
            while time.monotonic() < deadline:
                if self._thread is None or not self._thread.is_alive():
                    raise BackgroundServerError(
                        f"{self.what} at {url} stopped while starting; see the uvicorn log above"
                    )
                if self._server is not None and self._server.started:
                    try:
                        response = probe.get(self._probe_path)
                    except httpx.TransportError as exc:
                        last_error = str(exc) or type(exc).__name__
                    else:
                        if response.status_code == 200:
                            return
                        last_error = f"HTTP {response.status_code}"
                time.sleep(0.01)
        raise BackgroundServerError(
            f"{self.what} at {url} did not answer within {self._startup_timeout:g}s: {last_error}"
        )
