"""Schema contracts: register the catalogue's schemas, and refuse a change that breaks a reader.

Producers do not register schemas in production; ``lgsp schemas register`` does, once a
change has passed ``lgsp schemas check``.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from schemas.catalogue import Catalogue, Dataset
from schemas.registry import compatibility
from schemas.registry.client import RegistryClient

Status = Literal["compatible", "new", "incompatible"]


class ContractError(RuntimeError):
    """The schemas cannot be compared (no git history, an unknown reference)."""


@dataclass(frozen=True)
class Verdict:
    subject: str
    status: Status
    messages: list[str] = field(default_factory=list)


def subjects(dataset: Dataset) -> list[str]:
    """The registry subjects of a dataset's Avro topics (TopicNameStrategy)."""
    return [f"{dataset.raw_topic}-value", f"{dataset.clean_topic}-value"]


def register_all(client: RegistryClient, catalogue: Catalogue) -> list[tuple[str, int]]:
    """Register every dataset's schema under each of its subjects; (subject, id) pairs."""
    return [
        (subject, client.register(subject, dataset.avro_schema()))
        for dataset in catalogue.datasets
        for subject in subjects(dataset)
    ]


def check_against_registry(client: RegistryClient, catalogue: Catalogue) -> list[Verdict]:
    """Each subject's working-tree schema against what the registry holds, under its level."""
    verdicts = []
    registered = set(client.subjects())
    for dataset in catalogue.datasets:
        for subject in subjects(dataset):
            if subject not in registered:
                verdicts.append(Verdict(subject, "new"))
                continue
            result = client.check_compatibility(subject, dataset.avro_schema(), version=None)
            status: Status = "compatible" if result.is_compatible else "incompatible"
            verdicts.append(Verdict(subject, status, list(result.messages)))
    return verdicts


def _git(directory: Path, *args: str) -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(directory), *args],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except FileNotFoundError as exc:
        raise ContractError("git is not installed") from exc
    except subprocess.CalledProcessError as exc:
        raise ContractError(f"git {' '.join(args)}: {exc.stderr.strip()}") from exc


def check_against_git(catalogue: Catalogue, reference: str, level: str) -> list[Verdict]:
    """Each dataset's working-tree schema against the same file at a git reference."""
    level = compatibility.normalize_level(level)
    verdicts = []
    for dataset in catalogue.datasets:
        directory = dataset.schema_path.parent
        top = Path(_git(directory, "rev-parse", "--show-toplevel").strip())
        relative = dataset.schema_path.resolve().relative_to(top.resolve()).as_posix()
        listed = _git(top, "ls-tree", "--name-only", reference, "--", relative).strip()
        subject = f"{dataset.id} ({relative} at {reference})"
        if not listed:
            verdicts.append(Verdict(subject, "new"))
            continue
        old = _git(top, "show", f"{reference}:{relative}")
        result = compatibility.check(dataset.schema_path.read_text(encoding="utf-8"), [old], level)
        status: Status = "compatible" if result.is_compatible else "incompatible"
        verdicts.append(Verdict(subject, status, list(result.messages)))
    return verdicts
