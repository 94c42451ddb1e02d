"""A TCP proxy a test can cut and restore: a database outage without stopping the database.

The PostgreSQL server on the machine serves other tests at the same time, so an outage is
made between the worker and the server instead: the worker connects through this proxy, and
:meth:`CuttableProxy.cut` resets every connection through it and refuses new ones until
:meth:`CuttableProxy.restore`. To the worker that is a server gone away, then back.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T")

_CHUNK = 64 * 1024
_CALL_TIMEOUT_S = 10.0


class CuttableProxy:
    """Forwards ``127.0.0.1:<port>`` to ``upstream``, on an event loop in its own thread."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.port = 0
        self.connections = 0
        self.connections_cut = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="cuttable-proxy", daemon=True
        )
        self._server: asyncio.Server | None = None
        self._open: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()

    def __enter__(self) -> CuttableProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._call(self._cut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_CALL_TIMEOUT_S)
        self._loop.close()

    @property
    def cut_off(self) -> bool:
        return self._server is None

    def cut(self) -> None:
        """Reset every open connection and refuse new ones."""
        self._call(self._cut())

    def restore(self) -> None:
        """Accept connections again, on the same port."""
        self._call(self._listen())

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(_CALL_TIMEOUT_S)

    async def _listen(self) -> None:
        if self._server is not None:
            return
        # reuse_address: the port's old connections may linger in TIME_WAIT after a cut.
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            # Close the listener first, so nothing connects between the resets and the close.
            server.close()
        for pair in list(self._open):
            for writer in pair:
                # abort, not close: the peers see a reset at once, as when a server dies.
                writer.transport.abort()
            self.connections_cut += 1
        self._open.clear()
        if server is not None:
            await server.wait_closed()

    async def _serve(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        try:
            upstream_reader, upstream = await asyncio.open_connection(
                self.upstream_host, self.upstream_port
            )
        except OSError:
            client.transport.abort()
            return
        pair = (client, upstream)
        self._open.add(pair)
        self.connections += 1
        try:
            await asyncio.gather(
                self._pipe(client_reader, upstream), self._pipe(upstream_reader, client)
            )
        finally:
            self._open.discard(pair)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(_CHUNK):
                writer.write(data)
                await writer.drain()
        except OSError:
            # A reset from either side (or from a cut) ends both directions below.
            pass
        finally:
            writer.close()
