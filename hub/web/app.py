"""The data stewards' console: the catalogue with scores, datasets' failing expectations, the
quarantine queue with replay, GX Data Docs, and the same data as JSON under ``/api``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.quarantine import warehouse_engine
from hub.settings import Settings
from hub.web import api, pages
from hub.web.console import DATA_DOCS_SITE, Console, get_lang, href
from hub.web.i18n import translator
from schemas.catalogue import Catalogue, default_catalogue

STATIC_DIR: Final = Path(__file__).resolve().parent / "static"


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if api.is_api_request(request):
        return await http_exception_handler(request, exc)
    t = translator(get_lang(request))
    heading = {404: t("not_found"), 403: t("forbidden")}.get(exc.status_code, t("bad_request"))
    message = t("cross_site") if exc.status_code == 403 else str(exc.detail)
    return pages.error_page(request, exc.status_code, heading, message, back=href(request, "/"))


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if api.is_api_request(request):
        return await request_validation_exception_handler(request, exc)
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    t = translator(get_lang(request))
    return pages.error_page(
        request, 400, t("bad_request"), f"{where}: {first['msg']}", back=href(request, "/")
    )


def create_web_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    catalogue: Catalogue | None = None,
) -> FastAPI:
    """The console for the hub the settings name.

    Args:
        settings: Where the hub's parts are: the warehouse (the work directory's SQLite
            warehouse when unset), the broker replays go to (none: the console cannot
            replay), the work directory whose GX Data Docs are served. The environment's
            ``LGSP_`` settings when ``None``.
        engine: The warehouse to read instead of the one the settings name; the caller
            disposes of it.
        catalogue: The datasets; the project's catalogue by default.

    Raises:
        WarehouseError: The settings' warehouse does not answer (only when ``engine`` is
            not given).
    """
    settings = settings if settings is not None else Settings()
    owns_engine = engine is None
    console = Console(
        engine=engine if engine is not None else warehouse_engine(settings),
        catalogue=catalogue if catalogue is not None else default_catalogue(),
        bootstrap_servers=settings.bootstrap_servers,
        topic_partitions=settings.topic_partitions,
        data_docs_dir=settings.workdir.resolve() / DATA_DOCS_SITE,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owns_engine:
            console.engine.dispose()

    # Swagger UI's script and stylesheet come from the fastapi-offline package, not a CDN.
    app = FastAPIOffline(
        title="LGSP Hub: data stewards' console",
        summary="Quality scores, failing expectations and the quarantine queue of the hub.",
        version="1",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        static_url="/api/docs-assets",
        # The default validator badge would send the document to an outside service.
        swagger_ui_parameters={"validatorUrl": None},
        lifespan=lifespan,
    )
    app.state.console = console
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # Only the Data Docs site is served: the rest of the GX project is configuration.
    app.mount(
        "/data-docs",
        StaticFiles(directory=console.data_docs_dir, html=True, check_dir=False),
        name="data-docs",
    )
    return app
