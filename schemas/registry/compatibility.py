"""Avro schema compatibility under the Confluent levels, with Confluent's reason messages.

The reader/writer check itself is Apache Avro's own ``ReaderWriterCompatibilityChecker`` (the
Python port of the Java checker Confluent uses). This module picks which schemas to compare for
each level, in which direction, and words the reasons as Confluent does::

    {errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'email' at path
    '/fields/2' in the new schema has no default value and is missing in the old schema',
    additionalInfo:'email'}

followed by ``{oldSchemaVersion: N}``, ``{oldSchema: '...'}`` and the level.

Two places where the Python checker differs from the Java one are worked around here:

- It compares a reader's aliases with the writer's full name without first resolving
  unqualified aliases against the reader's namespace, as the Avro specification and the Java
  parser do. So a record renamed within its namespace with ``"aliases": ["OldName"]`` would be
  refused; aliases are qualified before parsing instead.
- Its result keeps messages and locations as unordered sets, and merging an incompatible
  result with a compatible one adds the compatible one's root location ``/``. A single
  incompatibility is reported exactly; several are reported together, since the sets cannot
  say which message belongs to which path.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
from avro.schema import Schema
from avro.schema import parse as parse_avro

LEVELS = (
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
    "NONE",
)
DEFAULT_LEVEL = "BACKWARD"

# Confluent appends the old schema to its reasons, cut at this many characters.
_MAX_SCHEMA_IN_MESSAGE = 10 * 1024
_NAMED_TYPES = ("record", "error", "enum", "fixed")

# Confluent's descriptions (io.confluent.kafka.schemaregistry.avro.Difference).
_DESCRIPTIONS = {
    "FIXED_SIZE_MISMATCH": (
        "The size of FIXED type field at path '{path}' in the {reader} schema does not match "
        "with the {writer} schema"
    ),
    "TYPE_MISMATCH": (
        "The type (path '{path}') of a field in the {reader} schema does not match with the "
        "{writer} schema"
    ),
    "NAME_MISMATCH": "The name of the schema has changed (path '{path}')",
    "MISSING_ENUM_SYMBOLS": (
        "The {reader} schema is missing enum symbols '{info}' at path '{path}' in the {writer} "
        "schema"
    ),
    "MISSING_UNION_BRANCH": (
        "The {reader} schema is missing a type inside a union field at path '{path}' in the "
        "{writer} schema"
    ),
    "READER_FIELD_MISSING_DEFAULT_VALUE": (
        "The field '{info}' at path '{path}' in the {reader} schema has no default value and is "
        "missing in the {writer} schema"
    ),
}


class InvalidSchemaError(ValueError):
    """The text is not an Avro schema the checker can parse."""


@dataclass(frozen=True, slots=True)
class CompatibilityResult:
    """Whether a schema may join a subject, and if not, why.

    Attributes:
        is_compatible: True when every required reader/writer pair is compatible.
        messages: Confluent-style reasons; empty when compatible.
    """

    is_compatible: bool
    messages: list[str] = field(default_factory=list)


def normalize_level(level: str) -> str:
    """The level's canonical name; Confluent accepts any letter case.

    Raises:
        ValueError: When the text names no compatibility level.
    """
    name = level.upper()
    if name not in LEVELS:
        raise ValueError(f"unknown compatibility level {level!r}; use one of {', '.join(LEVELS)}")
    return name


# Registration re-parses every live version of a subject, so parsed schemas are kept.
@functools.lru_cache(maxsize=256)
def parse(schema: str) -> Schema:
    """Parse an Avro schema text with the checker's parser.

    Raises:
        InvalidSchemaError: When the text is not JSON or not a valid Avro schema.
    """
    try:
        parsed = json.loads(schema)
    except ValueError as exc:
        raise InvalidSchemaError(f"the schema is not JSON: {exc}") from exc
    try:
        return parse_avro(json.dumps(_qualify_aliases(parsed, "")))
    # The avro parser signals a bad schema with many exception types; any means invalid.
    except Exception as exc:
        raise InvalidSchemaError(f"{type(exc).__name__}: {exc}") from exc


def check(
    new: str,
    existing: Sequence[str],
    level: str,
    *,
    versions: Sequence[int] | None = None,
) -> CompatibilityResult:
    """Check a new schema against a subject's earlier schemas, as Confluent does on register.

    Non-transitive levels compare with the newest schema only; transitive ones with every
    schema, newest first, stopping at the first incompatible one as Confluent does.

    Args:
        new: The candidate schema text.
        existing: The subject's live schema texts, oldest first (newest last).
        level: A compatibility level, in any letter case.
        versions: The version numbers of ``existing``, for the messages.

    Returns:
        The verdict, with Confluent-style messages when incompatible.

    Raises:
        InvalidSchemaError: When a schema cannot be parsed.
        ValueError: When the level is unknown, or ``versions`` does not match ``existing``.
    """
    level = normalize_level(level)
    numbers: Sequence[int | None] = [None] * len(existing) if versions is None else versions
    if len(numbers) != len(existing):
        raise ValueError("versions must give one number per existing schema")
    if level == "NONE" or not existing:
        return CompatibilityResult(is_compatible=True)
    candidate = parse(new)
    pairs = list(zip(existing, numbers, strict=True))
    earlier = reversed(pairs) if level.endswith("_TRANSITIVE") else pairs[-1:]
    for text, version in earlier:
        old = parse(text)
        # Confluent's FULL lists the forward reasons first, then the backward ones.
        reasons = []
        if level.startswith(("FORWARD", "FULL")):
            reasons += _differences(reader=old, writer=candidate, roles=("old", "new"))
        if level.startswith(("BACKWARD", "FULL")):
            reasons += _differences(reader=candidate, writer=old, roles=("new", "old"))
        if reasons:
            if version is not None:
                reasons.append(f"{{oldSchemaVersion: {version}}}")
            reasons.append(_old_schema_message(text))
            reasons.append(f"{{validateFields: 'false', compatibility: '{level}'}}")
            return CompatibilityResult(is_compatible=False, messages=reasons)
    return CompatibilityResult(is_compatible=True)


def _differences(reader: Schema, writer: Schema, roles: tuple[str, str]) -> list[str]:
    """Why ``reader`` cannot read what ``writer`` wrote, in Confluent's words; empty if it can."""
    result = ReaderWriterCompatibilityChecker().get_compatibility(reader, writer)
    if result.compatibility is SchemaCompatibilityType.compatible:
        return []
    kinds = list(dict.fromkeys(kind.name.upper() for kind in result.incompatibilities))
    locations = set(result.locations)
    # Only the merge artefact can make the locations outnumber the incompatibilities.
    if len(locations) > len(result.incompatibilities):
        locations.discard("/")
    reader_role, writer_role = roles
    if len(result.incompatibilities) == len(locations) == len(result.messages) == 1:
        path, info = next(iter(locations)), next(iter(result.messages))
        description = _DESCRIPTIONS[kinds[0]].format(
            path=path, info=info, reader=reader_role, writer=writer_role
        )
        return [_difference(kinds[0], description, info)]
    paths = ", ".join(f"'{path}'" for path in sorted(locations))
    description = (
        f"The {reader_role} schema cannot read data written with the {writer_role} schema "
        f"at paths {paths}"
    )
    return [_difference(", ".join(kinds), description, "; ".join(sorted(result.messages)))]


def _difference(kind: str, description: str, info: str) -> str:
    return f"{{errorType:'{kind}', description:'{description}', additionalInfo:'{info}'}}"


def _old_schema_message(text: str) -> str:
    compact = json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
    if len(compact) <= _MAX_SCHEMA_IN_MESSAGE:
        return f"{{oldSchema: '{compact}'}}"
    return (
        f"{{oldSchema: <truncated to {_MAX_SCHEMA_IN_MESSAGE} characters> "
        f"'{compact[:_MAX_SCHEMA_IN_MESSAGE]}'}}"
    )


def _qualify_aliases(node: Any, namespace: str) -> Any:
    """The schema JSON with each named type's unqualified aliases made full names.

    Per the Avro specification an unqualified alias is relative to the namespace of the type
    it aliases; the checker compares aliases with full names as they stand.
    """
    if isinstance(node, list):
        return [_qualify_aliases(branch, namespace) for branch in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    kind = node.get("type")
    if kind in _NAMED_TYPES and isinstance(node.get("name"), str):
        name = node["name"]
        if "." in name:
            namespace = name.rpartition(".")[0]
        elif isinstance(node.get("namespace"), str):
            namespace = node["namespace"]
        aliases = node.get("aliases")
        if namespace and isinstance(aliases, list):
            node["aliases"] = [
                f"{namespace}.{alias}" if isinstance(alias, str) and "." not in alias else alias
                for alias in aliases
            ]
    if kind in ("record", "error") and isinstance(node.get("fields"), list):
        node["fields"] = [
            {**item, "type": _qualify_aliases(item["type"], namespace)}
            if isinstance(item, dict) and "type" in item
            else item
            for item in node["fields"]
        ]
    elif kind == "array" and "items" in node:
        node["items"] = _qualify_aliases(node["items"], namespace)
    elif kind == "map" and "values" in node:
        node["values"] = _qualify_aliases(node["values"], namespace)
    elif isinstance(kind, dict | list):
        node["type"] = _qualify_aliases(kind, namespace)
    return node
