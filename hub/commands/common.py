"""What every command shares: consoles, the --workdir option, settings, one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from hub.settings import Settings

out = Console()
err = Console(stderr=True)

WorkdirOption = Annotated[
    Path | None,
    typer.Option(
        "--workdir",
        help="Where embedded data, offsets and reports live [env: LGSP_WORKDIR; default ./.lgsp]",
        show_default=False,
    ),
]

MetricsPortOption = Annotated[
    int | None,
    typer.Option(
        "--metrics-port",
        min=0,
        max=65535,
        help="Serve /metrics, /healthz and /readyz on this port [env: LGSP_METRICS_PORT]",
        show_default=False,
    ),
]


class CommandError(Exception):
    """A failure to report as one line, without a traceback."""


# Failures reported as one line. Looked up only in modules already imported: an error class
# whose module was never loaded cannot have been raised, and importing them all (Great
# Expectations among them) would cost every command seconds.


def settings_for(workdir: Path | None) -> Settings:
    from pydantic import ValidationError

    try:
        return Settings(workdir=workdir) if workdir is not None else Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "LGSP_" + "_".join(str(part) for part in first["loc"]).upper()
        raise CommandError(f"{name}: {first['msg']}") from exc
