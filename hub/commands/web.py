"""``lgsp web``: the data stewards' console, served by uvicorn."""

from __future__ import annotations

import signal
import socket
from types import FrameType
from typing import Annotated, Final

import typer

from hub.commands.common import CommandError, WorkdirOption, err, out, settings_for

_STOP_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)


class _StopRequested(Exception):
    """The console was asked to stop (Ctrl-C, or SIGTERM from a service manager)."""


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before uvicorn starts so a taken port is one line."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as exc:
        raise CommandError(f"--host {host!r}: {exc.strerror}") from exc
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return sock


def web(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on")] = 8080,
    workdir: WorkdirOption = None,
) -> None:
    """The data stewards' console: quality scores, failing expectations, the quarantine queue.

    It reads the warehouse of LGSP_WAREHOUSE_URL (default: the work directory's SQLite one).

    Replays go to LGSP_BOOTSTRAP_SERVERS, a running hub's broker; without it there is none.

    GX Data Docs are served from the work directory; JSON is under /api (docs: /api/docs).
    """

    import uvicorn

    from hub.topics import TopicError, check_reachable
    from hub.web import create_web_app

    settings = settings_for(workdir)
    app = create_web_app(settings)
    sock = _listen(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
    out.print(f"stewards' console at http://{shown_host}:{bound_port}/ (API: /api/docs)")
    if settings.bootstrap_servers is None:
        err.print(
            "replay is off: LGSP_BOOTSTRAP_SERVERS is not set (lgsp quarantine replay runs an "
            "embedded hub instead)",
            highlight=False,
            soft_wrap=True,
        )
    else:
        try:
            check_reachable(settings.bootstrap_servers)
        except TopicError as exc:
            # The broker may come up later; each replay checks again and says so on the page.
            err.print(f"warning: {exc}", highlight=False, soft_wrap=True)
    server = uvicorn.Server(
        uvicorn.Config(app, host=bound_host, port=bound_port, log_level="info", lifespan="on")
    )

    def stop_requested(signum: int, _frame: FrameType | None) -> None:
        raise _StopRequested(signal.Signals(signum).name)

    # uvicorn shuts down gracefully on SIGINT or SIGTERM, then raises the signal again to the
    # handler it found: this one, so a stop that was asked for ends the command normally.
    previous = {sig: signal.signal(sig, stop_requested) for sig in _STOP_SIGNALS}
    try:
        server.run(sockets=[sock])
    except _StopRequested as stop:
        out.print(f"stopped ({stop})")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
