"""What every route of the console shares: the hub it looks at, and the request's language."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlencode, urlsplit

from fastapi import HTTPException, Request
from sqlalchemy import Engine

from hub.web.i18n import Lang, normalise_lang
from schemas.catalogue import Catalogue

# Where GX Core's file project keeps its "local_site" Data Docs under the work directory
# (quality.suites builds it there).
DATA_DOCS_SITE: Final = Path("gx") / "uncommitted" / "data_docs" / "local_site"


@dataclass(frozen=True)
class Console:
    """The hub the console shows.

    Attributes:
        engine: The warehouse: quality history and the quarantine table.
        catalogue: The datasets.
        bootstrap_servers: The running hub's broker, which replays are published to; ``None``
            when none is configured, and then the console cannot replay.
        topic_partitions: Partitions of a raw topic the console has to create.
        data_docs_dir: The GX Data Docs site, served as static files.
    """

    engine: Engine
    catalogue: Catalogue
    bootstrap_servers: str | None
    topic_partitions: int
    data_docs_dir: Path

    def data_docs_page(self, dataset_id: str | None = None) -> str | None:
        """The Data Docs page to link to (relative to the site), if it exists.

        A dataset's page is its suite's page; the index stands in before GX has built one.
        """
        candidates = [f"expectations/{dataset_id}.html"] if dataset_id is not None else []
        candidates.append("index.html")
        for page in candidates:
            if (self.data_docs_dir / page).is_file():
                return page
        return None


def get_console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def get_lang(request: Request) -> Lang:
    return normalise_lang(request.query_params.get("lang"))


def href(request: Request, path: str, **query: object) -> str:
    """A link inside the console that keeps the page's language; ``None`` values are left out."""
    params = {name: value for name, value in query.items() if value is not None}
    if get_lang(request) == "en":
        params["lang"] = "en"
    root = request.scope.get("root_path", "")
    return f"{root}{path}" + (f"?{urlencode(params)}" if params else "")


def require_same_origin(request: Request) -> None:
    """Refuse a state-changing request that another web site made the steward's browser send.

    Browsers name the page's origin on every POST; a form on a foreign page would replay
    records in the steward's name otherwise. Clients that are not browsers send no origin.

    Raises:
        HTTPException: 403 for a cross-site request.
    """
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise HTTPException(status_code=403, detail="cross-site request refused")
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(status_code=403, detail="cross-site request refused")
