"""``lgsp warehouse``: the warehouse's schema, migrated by Alembic."""

from __future__ import annotations

from typing import Annotated

import typer

from hub.commands.common import CommandError, WorkdirOption, out, settings_for

warehouse_app = typer.Typer(help="The shared warehouse's schema.", no_args_is_help=True)


def _warehouse_url(workdir: WorkdirOption) -> str:
    settings = settings_for(workdir)
    return settings.warehouse_url or settings.embedded_warehouse_url


@warehouse_app.command()
def upgrade(
    revision: Annotated[str, typer.Option(help="Target revision")] = "head",
    sql: Annotated[
        bool,
        typer.Option(
            "--sql", help="Print the DDL from an empty database to the target; change nothing"
        ),
    ] = False,
    workdir: WorkdirOption = None,
) -> None:
    """Migrate the warehouse (LGSP_WAREHOUSE_URL, or the embedded one) to the newest schema."""
    from sqlalchemy.engine import make_url

    from warehouse.db import create_warehouse_engine
    from warehouse.migrate import upgrade as run_upgrade
    from warehouse.migrate import upgrade_sql

    url = _warehouse_url(workdir)
    if sql:
        out.print(upgrade_sql(make_url(url).render_as_string(), revision), end="", markup=False)
        return
    engine = create_warehouse_engine(url)
    try:
        before, after = run_upgrade(engine, revision)
    finally:
        engine.dispose()
    if before == after:
        out.print(f"warehouse already at revision {after}")
    else:
        out.print(f"warehouse migrated from {before or 'empty'} to revision {after}")


@warehouse_app.command()
def current(workdir: WorkdirOption = None) -> None:
    """Show the warehouse's revision and whether it is the newest; exit 1 when behind."""
    from warehouse.db import create_warehouse_engine
    from warehouse.migrate import current_revision, head_revision

    engine = create_warehouse_engine(_warehouse_url(workdir))
    try:
        revision = current_revision(engine)
    finally:
        engine.dispose()
    head = head_revision()
    if revision == head:
        out.print(f"{revision} (head)")
        return
    out.print(f"{revision or 'empty'} (head is {head}: run `lgsp warehouse upgrade`)")
    raise typer.Exit(1)


@warehouse_app.command()
def revision(
    message: Annotated[str, typer.Option("--message", "-m", help="What the migration does")],
) -> None:
    """For developers: write a migration for what the catalogue or models changed."""
    from warehouse.migrate import new_revision, schema_drift_from_head

    if not schema_drift_from_head():
        raise CommandError("the migrations already describe the code's tables; nothing to write")
    out.print(f"wrote {new_revision(message)}; review it and commit it")
