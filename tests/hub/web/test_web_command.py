"""``lgsp web`` as a user runs it: a real process serving the console, one-line errors."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from web_seed import CATALOGUE, PERSON, seed

from hub.broker import free_port

# Runs the real command line; adds `web` only while hub/cli.py does not register it yet.
LGSP = """
import sys
from hub import cli
from hub.commands.web import web
if not any(command.callback is web for command in cli.app.registered_commands):
    cli.app.command()(web)
sys.argv[0] = "lgsp"
cli.main()
"""


def lgsp_web(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", LGSP, "web", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "LGSP_BOOTSTRAP_SERVERS": "", **(env or {})},
    )


def wait_until_serving(process: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            if httpx.get(f"{url}/api/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"lgsp web did not answer at {url}")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_lgsp_web_serves_the_workdirs_warehouse_until_stopped(
    tmp_path: Path, stop: signal.Signals
) -> None:
    seeded = seed(f"sqlite:///{tmp_path / 'warehouse.db'}", CATALOGUE)
    seeded.engine.dispose()
    port = free_port()
    process = lgsp_web("--port", str(port), "--workdir", str(tmp_path))
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(process, url)
        datasets = httpx.get(f"{url}/api/datasets").json()
        person = next(entry for entry in datasets if entry["id"] == PERSON.id)
        assert person["quality"]["latest"]["score"] == pytest.approx(0.8)
        page = httpx.get(f"{url}/quarantine")
        assert "Hàng đợi cách ly" in page.text
    finally:
        process.send_signal(stop)
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert f"stewards' console at http://127.0.0.1:{port}/" in stdout
    assert "replay is off: LGSP_BOOTSTRAP_SERVERS is not set" in stderr
    assert f"stopped ({stop.name})" in stdout


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            (),
            {"LGSP_WAREHOUSE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/test"},
            "LGSP_WAREHOUSE_URL: warehouse at postgresql+psycopg://nobody@127.0.0.1:1/test "
            "is unreachable",
        ),
        ((), {"LGSP_TOPIC_PARTITIONS": "0"}, "LGSP_TOPIC_PARTITIONS:"),
        (("--host", "no-such-host.invalid"), {}, "--host 'no-such-host.invalid'"),
    ],
)
def test_bad_configuration_is_one_line(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    process = lgsp_web("--workdir", str(tmp_path), "--port", str(free_port()), *args, env=env)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert message in lines[0]


def test_a_taken_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = lgsp_web("--workdir", str(tmp_path), "--port", str(port))
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert stderr.strip() == f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
