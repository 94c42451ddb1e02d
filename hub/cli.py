"""The ``lgsp`` command line: assembles the command groups, reports failures as one line."""

from __future__ import annotations

import logging
import sys

import typer

from hub.commands.access import api, apikey_app, audit_app, subscription_app
from hub.commands.common import CommandError, err
from hub.commands.connectors import connector_app
from hub.commands.contracts import asyncapi, catalogue_app, registry_app, schemas_app
from hub.commands.pipeline import bench, demo, simulate, validate, worker
from hub.commands.quality import quality_app
from hub.commands.quarantine import quarantine_app
from hub.commands.warehouse import warehouse_app
from hub.commands.web import web

app = typer.Typer(
    name="lgsp",
    help="LGSP Hub: the province's data integration hub.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
for command in (demo, worker, simulate, validate, asyncapi, bench, web, api):
    app.command()(command)
app.add_typer(catalogue_app, name="catalogue")
app.add_typer(schemas_app, name="schemas")
app.add_typer(registry_app, name="registry")
app.add_typer(connector_app, name="connector")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(quality_app, name="quality")
app.add_typer(warehouse_app, name="warehouse")
app.add_typer(subscription_app, name="subscription")
app.add_typer(apikey_app, name="apikey")
app.add_typer(audit_app, name="audit")


# Failures reported as one line. Looked up only in modules already imported: an error class
# whose module was never loaded cannot have been raised, and importing them all (Great
# Expectations among them) would cost every command seconds.
_USER_ERRORS = (
    ("connectors.declared", "ConnectorDeclarationError"),
    ("bench.stack", "BenchError"),
    ("connectors.base", "SourceUnavailable"),
    ("connectors.runner", "PublishError"),
    ("connectors.scaffold", "ScaffoldError"),
    ("connectors.simulators.register", "RegisterError"),
    ("hub.access.errors", "AccessError"),
    ("hub.broker", "BrokerError"),
    ("hub.contracts", "ContractError"),
    ("hub.demo", "DemoError"),
    ("hub.quarantine", "QuarantineError"),
    ("hub.runtime", "RuntimeStartError"),
    ("hub.topics", "TopicError"),
    ("quality.suites", "QualityError"),
    ("schemas.catalogue", "CatalogueError"),
    ("schemas.registry.client", "RegistryError"),
    ("streams.sharing", "PseudonymKeyError"),
    ("warehouse.db", "WarehouseError"),
)


def _is_user_error(exc: BaseException) -> bool:
    if isinstance(exc, CommandError):
        return True
    for module_name, class_name in _USER_ERRORS:
        module = sys.modules.get(module_name)
        if module is not None and isinstance(exc, getattr(module, class_name)):
            return True
    return False


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Client libraries log every failed connection attempt; the hub reports the outcome once.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        app()
    except Exception as exc:
        if not _is_user_error(exc):
            raise
        err.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
