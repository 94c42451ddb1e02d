"""Contracts: the catalogue, schemas in the registry, the AsyncAPI document."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from hub.commands.common import CommandError, WorkdirOption, err, out, settings_for

registry_app = typer.Typer(help="The schema registry.", no_args_is_help=True)
catalogue_app = typer.Typer(help="The shared-database catalogue.", no_args_is_help=True)
schemas_app = typer.Typer(help="Schema contracts in the registry.", no_args_is_help=True)


def asyncapi(
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="Write here (.json for JSON, else YAML) instead of stdout"),
    ] = None,
    workdir: WorkdirOption = None,
) -> None:
    """Print the AsyncAPI 3.0 contract of every topic, generated from the catalogue."""
    import json

    import yaml

    from schemas.asyncapi import build_asyncapi
    from schemas.catalogue import default_catalogue

    settings = settings_for(workdir)
    servers = {"production": settings.bootstrap_servers} if settings.bootstrap_servers else None
    document = build_asyncapi(default_catalogue(), servers=servers)
    if out_file is not None and out_file.suffix == ".json":
        text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    else:
        text = yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=100)
    if out_file is None:
        sys.stdout.write(text)
    else:
        out_file.write_text(text, encoding="utf-8")
        err.print(f"wrote {out_file}")


@catalogue_app.command("validate")
def catalogue_validate(
    file: Annotated[
        Path | None, typer.Option("--file", help="A catalogue other than the hub's own")
    ] = None,
) -> None:
    """Check the catalogue against its schemas, rules and expectation types."""
    from quality.rules import RuleConfigError, RuleSet
    from schemas.catalogue import (
        CatalogueProblem,
        default_catalogue,
        load_catalogue,
        validate_catalogue,
    )

    catalogue = load_catalogue(file) if file is not None else default_catalogue()
    problems = validate_catalogue(catalogue)
    for dataset in catalogue.datasets:
        try:
            RuleSet.for_dataset(dataset)
        except RuleConfigError as exc:
            problems.append(CatalogueProblem(dataset=dataset.id, field="rules", message=str(exc)))
    for problem in problems:
        err.print(f"{problem.dataset}: {problem.field}: {problem.message}", highlight=False)
    if problems:
        raise typer.Exit(1)
    out.print(f"catalogue valid: {len(catalogue.datasets)} datasets")


def _print_verdicts(verdicts: list[Any]) -> None:
    colours = {"compatible": "green", "new": "cyan", "incompatible": "red"}
    for verdict in verdicts:
        out.print(f"[{colours[verdict.status]}]{verdict.status:>12}[/] {verdict.subject}")
        for message in verdict.messages:
            out.print(f"               {message}", highlight=False, markup=False)
    if any(v.status == "incompatible" for v in verdicts):
        raise typer.Exit(1)


@schemas_app.command("check")
def schemas_check(
    against: Annotated[
        str | None,
        typer.Option(help="Compare with the schemas at this git reference, not the registry"),
    ] = None,
    level: Annotated[
        str, typer.Option(help="Compatibility level with --against (the registry's own else)")
    ] = "BACKWARD",
    workdir: WorkdirOption = None,
) -> None:
    """Fail when a working-tree schema would break the registered (or released) one."""
    from hub.contracts import check_against_git, check_against_registry
    from hub.runtime import registry_endpoint
    from schemas.catalogue import default_catalogue
    from schemas.registry.client import RegistryClient

    catalogue = default_catalogue()
    if against is not None:
        try:
            _print_verdicts(check_against_git(catalogue, against, level))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        return
    settings = settings_for(workdir)
    with registry_endpoint(settings) as url, RegistryClient(url) as client:
        _print_verdicts(check_against_registry(client, catalogue))


@schemas_app.command("register")
def schemas_register(workdir: WorkdirOption = None) -> None:
    """Register every dataset's schema under its topics' subjects."""
    from hub.contracts import register_all
    from hub.runtime import registry_endpoint
    from schemas.catalogue import default_catalogue
    from schemas.registry.client import RegistryClient

    settings = settings_for(workdir)
    with registry_endpoint(settings) as url, RegistryClient(url) as client:
        for subject, schema_id in register_all(client, default_catalogue()):
            out.print(f"{subject}: id {schema_id}")


@registry_app.command("serve")
def registry_serve(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on")] = 8081,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    workdir: WorkdirOption = None,
) -> None:
    """Serve the Confluent-compatible schema registry on its own."""
    from schemas.registry.server import serve

    settings = settings_for(workdir)
    settings.workdir.mkdir(parents=True, exist_ok=True)
    storage = f"sqlite:///{(settings.workdir / 'registry.db').resolve()}"
    err.print(f"schema registry on http://{host}:{port} (storage {storage})")
    serve(port=port, storage_url=storage, host=host)
