"""Warehouse schema migrations (Alembic), run by ``lgsp warehouse upgrade`` and at start-up.

Dataset tables are derived from the catalogue's Avro schemas, so a schema change (a new
optional field, say) changes :data:`warehouse.db.metadata`. The migration scripts in
``warehouse/migrations/versions`` are the fixed history a production database walks through;
:func:`schema_drift` tells when the two disagree, and a test keeps them in step.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any, Final

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError as AlembicCommandError
from sqlalchemy import Engine, create_engine, inspect

from warehouse.db import WarehouseError, metadata

MIGRATIONS_DIR: Final = Path(__file__).parent / "migrations"
VERSION_TABLE: Final = "alembic_version"


def _config(**attributes: Any) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes.update(attributes)
    return config


def head_revision() -> str:
    """The newest revision the code knows."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise WarehouseError(f"no warehouse migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; ``None`` for a database never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def _alembic_errors() -> Iterator[None]:
    try:
        yield
    except AlembicCommandError as exc:
        raise WarehouseError(f"warehouse migration: {exc}") from exc


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the database to ``revision``; returns (revision before, revision after).

    Raises:
        WarehouseError: the database holds hub tables but no migration history (made by a
            hub that predates migrations), or the revision is unknown.
    """
    before = current_revision(engine)
    if before is None:
        found = set(inspect(engine).get_table_names()) & set(metadata.tables)
        if found:
            raise WarehouseError(
                f"the warehouse has tables ({', '.join(sorted(found)[:3])}, ...) but no "
                "migration history: it was made by an LGSP Hub older than migrations; "
                "move it aside (an embedded warehouse can be deleted) and run "
                "`lgsp warehouse upgrade`"
            )
    with _alembic_errors(), engine.begin() as connection:
        command.upgrade(_config(connection=connection), revision)
    return before, current_revision(engine)


def upgrade_sql(dialect_url: str, revision: str = "head") -> str:
    """The DDL the upgrade from an empty database would run, for a DBA to review."""
    config = _config()
    config.set_main_option("sqlalchemy.url", dialect_url)
    buffer = io.StringIO()
    config.output_buffer = buffer
    with _alembic_errors(), redirect_stdout(buffer):
        command.upgrade(config, revision, sql=True)
    return buffer.getvalue()


def schema_drift(engine: Engine) -> list[str]:
    """Differences between the migrated database and the tables the code expects.

    Empty when the migrations describe the code's tables exactly.
    """
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    return [_describe(difference) for difference in differences]


def _describe(difference: Any) -> str:
    if isinstance(difference, list):
        return "; ".join(_describe(item) for item in difference)
    action, *details = difference
    named = [getattr(d, "name", None) or str(d) for d in details if d is not None][:3]
    return f"{action}: {', '.join(str(n) for n in named)}"


@contextmanager
def _scratch_at_head() -> Iterator[Engine]:
    """A throw-away SQLite database migrated to the newest revision."""
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite:///{Path(scratch) / 'scratch.db'}")
        try:
            if ScriptDirectory.from_config(_config()).get_current_head() is not None:
                with _alembic_errors(), engine.begin() as connection:
                    command.upgrade(_config(connection=connection), "head")
            yield engine
        finally:
            engine.dispose()


def schema_drift_from_head() -> list[str]:
    """What the code's tables add to (or take from) the newest migration."""
    with _scratch_at_head() as engine:
        return schema_drift(engine)


def new_revision(message: str) -> Path:
    """Write a migration for whatever the code's tables add to the newest revision.

    For developers changing the catalogue or the models: the script is generated against a
    scratch SQLite database at head, then reviewed and committed.
    """
    with _scratch_at_head() as engine, _alembic_errors(), engine.begin() as connection:
        config = _config(connection=connection)
        config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
        # Generated scripts are committed, so they meet the project's style.
        for hook, options in (("format", "format"), ("lint", "check --fix")):
            config.set_section_option("post_write_hooks", f"{hook}.type", "module")
            config.set_section_option("post_write_hooks", f"{hook}.module", "ruff")
            config.set_section_option(
                "post_write_hooks", f"{hook}.options", f"{options} REVISION_SCRIPT_FILENAME"
            )
        config.set_section_option("post_write_hooks", "hooks", "format, lint")
        script = command.revision(
            config, message=message, autogenerate=True, rev_id=_next_revision_id()
        )
    if script is None or isinstance(script, list):
        raise WarehouseError("alembic wrote no single revision")
    return Path(script.path)


def _next_revision_id() -> str:
    revisions = list(ScriptDirectory.from_config(_config()).walk_revisions())
    return f"{len(revisions) + 1:04d}"
