"""Connecting to the warehouse: SQLite when embedded, PostgreSQL in production."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from warehouse.models import metadata

# Importing a table module registers its tables on the shared metadata.
import warehouse.access as _access  # noqa: F401  isort: skip
import warehouse.quality as _quality  # noqa: F401  isort: skip
import warehouse.views as _views  # noqa: F401  isort: skip

# ``metadata`` from here holds every table, the modules above having registered theirs.
__all__ = [
    "WarehouseError",
    "create_warehouse_engine",
    "init_warehouse",
    "metadata",
    "warehouse_answers",
]


SQLITE_CACHE_KIB = 32 * 1024


class WarehouseError(RuntimeError):
    """The warehouse cannot be used; the message is one line naming the setting."""


def create_warehouse_engine(url: str, *, setting: str = "LGSP_WAREHOUSE_URL") -> Engine:
    """An engine for ``url`` that has been shown to connect.

    Raises:
        WarehouseError: the URL is malformed, names an unknown driver, or the database
            does not answer.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise WarehouseError(f"{setting}={url!r} is not a database URL: {exc}") from exc
    options: dict[str, Any] = {"pool_pre_ping": True}
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # A busy writer holds the file briefly; wait for it instead of failing.
        options["connect_args"] = {"timeout": 30}
    try:
        engine = create_engine(parsed, **options)
    except (NoSuchModuleError, ArgumentError, ImportError) as exc:
        raise WarehouseError(f"{setting}: unsupported database URL {url!r}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = str(exc.orig if getattr(exc, "orig", None) else exc).splitlines()[0]
        shown = parsed.render_as_string(hide_password=True)
        raise WarehouseError(f"{setting}: warehouse at {shown} is unreachable: {reason}") from exc
    return engine


def warehouse_answers(engine: Engine) -> bool:
    """Whether the warehouse answers a query now; for health and readiness endpoints."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the console and quality runs read while the sink writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # 32 MiB of page cache instead of 2 MiB: a bulk load inserts keys at random places in
    # indexes that soon outgrow 2 MiB (at 200,000 citizens a sink batch took 1.9x as long).
    # Per connection; the worker writes from its default thread pool (CPUs + 4 threads).
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def init_warehouse(engine: Engine) -> None:
    """Migrate the warehouse to the newest schema and load the reference tables."""
    from warehouse.migrate import upgrade
    from warehouse.reference import load_reference_tables

    upgrade(engine)
    load_reference_tables(engine)
