"""Shared topics: each dataset's clean records with the catalogue's personal data withheld.

Consumers without a personal-data grant read ``shared.<dataset>``. Each personal-data field
the catalogue lists (a path naming a nested record covers all its fields) is withheld by
its type:

- text (Avro ``string``) is replaced by its pseudonym: ``ps1_`` and the first 32 hex digits
  of HMAC-SHA256 under the secret ``LGSP_PSEUDONYM_KEY``, over the value in NFC. The same
  value gets the same pseudonym in every field, record, dataset, topic and API answer, so a
  citizen's id still joins a birth registration's mother id; without the key a pseudonym
  cannot be reversed or recomputed from a guessed id.
- anything else (a date of birth, a number, an enum) cannot hold a pseudonym and is dropped:
  set to null. A substitute value (1970-01-01, the first enum symbol) would read as a real
  one, so the shared topic's schema is the dataset's with those fields made optional (null
  first, default null), registered under ``shared.<dataset>-value``. A dataset whose
  personal data is all text keeps its own schema there unchanged.

The record key is rebuilt from the withheld record, so it carries pseudonyms, never ids.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from pydantic import SecretStr

from schemas.catalogue import Dataset, FieldColumn, get_path, leaf_fields, load_schema_json
from schemas.codec import AvroCodec

PSEUDONYM_PREFIX: Final = "ps1_"
"""Versions the scheme: a pseudonym made another way (or under a new key) will not collide."""
PSEUDONYM_HEX_DIGITS: Final = 32
MIN_KEY_LENGTH: Final = 32
# Key parts are joined as the connectors join them (connectors.runner.record_key).
_KEY_SEPARATOR: Final = "|"


class PseudonymKeyError(ValueError):
    """The pseudonym key is missing or too short to be secret."""


def key_bytes(key: SecretStr) -> bytes:
    """The HMAC key; refuses one shorter than 32 characters, which could be guessed."""
    value = key.get_secret_value()
    if len(value) < MIN_KEY_LENGTH:
        raise PseudonymKeyError(
            f"LGSP_PSEUDONYM_KEY must be at least {MIN_KEY_LENGTH} characters of secret "
            f"(it has {len(value)}); make one with: python -c "
            "'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return value.encode("utf-8")


def pseudonym(value: str, key: bytes) -> str:
    """The keyed pseudonym of one text value."""
    if not unicodedata.is_normalized("NFC", value):
        value = unicodedata.normalize("NFC", value)
    # The one-shot digest: hmac.new builds a Python object per call, several times slower.
    digest = hmac.digest(key, value.encode("utf-8"), hashlib.sha256)
    return PSEUDONYM_PREFIX + digest.hex()[:PSEUDONYM_HEX_DIGITS]


@dataclass(frozen=True)
class Withheld:
    """One personal-data leaf field and how it is withheld.

    Attributes:
        path: Dotted field path.
        pseudonymised: True for text replaced by its pseudonym; False for a field dropped.
        nullable: Whether the field's own type in the dataset's schema admits null.
    """

    path: str
    pseudonymised: bool
    nullable: bool

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.path.split("."))


def _is_text(leaf: FieldColumn) -> bool:
    return leaf.avro_type == "string" or (
        isinstance(leaf.avro_type, dict)
        and leaf.avro_type.get("type") == "string"
        and leaf.logical_type is None
    )


def withheld_fields(dataset: Dataset) -> tuple[Withheld, ...]:
    """Every personal-data leaf of the dataset's schema, in schema order."""
    return _withheld(dataset.schema_path.as_posix(), dataset.personal_data)


@lru_cache(maxsize=64)
def _withheld(schema_path: str, personal_data: tuple[str, ...]) -> tuple[Withheld, ...]:
    schema = load_schema_json(Path(schema_path))
    own_null = _admits_null(schema)
    return tuple(
        Withheld(path=leaf.path, pseudonymised=_is_text(leaf), nullable=own_null[leaf.path])
        for leaf in leaf_fields(schema)
        if any(leaf.path == p or leaf.path.startswith(f"{p}.") for p in personal_data)
    )


def _admits_null(schema: dict[str, Any]) -> dict[str, bool]:
    """For each leaf path, whether the leaf's own type admits null.

    Unlike ``FieldColumn.nullable``, an optional parent record does not count: inside a
    record that is present, a non-null leaf must have a value.
    """
    named: dict[str, dict[str, Any]] = {}
    _named_records(schema, named)
    found: dict[str, bool] = {}

    def walk(record: dict[str, Any], prefix: str) -> None:
        for spec in record["fields"]:
            path = f"{prefix}{spec['name']}"
            branches = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
            inner = [b for b in branches if b != "null"]
            target = named.get(inner[0]) if len(inner) == 1 and isinstance(inner[0], str) else None
            if target is None and len(inner) == 1 and isinstance(inner[0], dict):
                target = inner[0] if inner[0].get("type") == "record" else None
            if target is not None:
                walk(target, f"{path}.")
            else:
                found[path] = "null" in branches

    walk(schema, "")
    return found


# What to do at each step of the personal-data paths: a nested plan, or the change itself.
_Plan = dict[str, "_Plan | Callable[[Any], Any]"]


def _withhold(node: dict[str, Any], plan: _Plan) -> dict[str, Any]:
    """``node`` changed as ``plan`` says, copying only the dicts on the way."""
    result = dict(node)
    for head, step in plan.items():
        if head not in node:
            continue
        value = node[head]
        if isinstance(step, dict):
            # An absent optional record has no fields to withhold.
            if isinstance(value, dict):
                result[head] = _withhold(value, step)
        else:
            result[head] = step(value)
    return result


def _dropped(_value: Any) -> None:
    return None


class Pseudonymiser:
    """Withholds one dataset's personal data; build once, apply to every record."""

    def __init__(self, dataset: Dataset, key: SecretStr) -> None:
        self.dataset = dataset
        self.fields = withheld_fields(dataset)
        self._key = key_bytes(key)
        self._plan: _Plan = {}
        for field in self.fields:
            *parents, leaf = field.parts
            step = self._plan
            for part in parents:
                nested = step.setdefault(part, {})
                if not isinstance(nested, dict):
                    raise ValueError(f"personal-data path {field.path!r} is inside another")
                step = nested
            step[leaf] = self._pseudonym if field.pseudonymised else _dropped

    def _pseudonym(self, value: Any) -> str | None:
        # A text field holds text; anything else (never seen on a clean topic) is dropped
        # rather than shown.
        return pseudonym(value, self._key) if isinstance(value, str) else None

    def apply(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record with its personal data withheld; the given record is not changed."""
        return _withhold(record, self._plan)

    def key(self, withheld_record: dict[str, Any]) -> str:
        """The shared topic's record key, built from an already withheld record."""
        return _KEY_SEPARATOR.join(str(get_path(withheld_record, p)) for p in self.dataset.key)


def pseudonymise(dataset: Dataset, record: dict[str, Any], key: SecretStr) -> dict[str, Any]:
    """``record`` of ``dataset`` as a consumer without a personal-data grant may see it.

    Raises:
        PseudonymKeyError: The key is shorter than 32 characters.
    """
    return Pseudonymiser(dataset, key).apply(record)


def _named_records(schema: Any, found: dict[str, dict[str, Any]]) -> None:
    """Every named record definition in ``schema``, by short and full name."""
    if isinstance(schema, list):
        for branch in schema:
            _named_records(branch, found)
        return
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "record":
        name = schema["name"]
        found[name] = schema
        if schema.get("namespace"):
            found[f"{schema['namespace']}.{name}"] = schema
        for field in schema["fields"]:
            _named_records(field["type"], found)
    elif schema.get("type") == "array":
        _named_records(schema["items"], found)
    elif schema.get("type") == "map":
        _named_records(schema["values"], found)


def _field(record: dict[str, Any], name: str, path: str) -> dict[str, Any]:
    for spec in record["fields"]:
        if spec["name"] == name:
            return spec
    # validate_catalogue checks personal-data paths against the schema; this is a bug.
    raise ValueError(f"personal-data path {path!r} is not in the schema")


def _record_of(spec: dict[str, Any], named: dict[str, dict[str, Any]], path: str) -> Any:
    field_type = spec["type"]
    branches = field_type if isinstance(field_type, list) else [field_type]
    for branch in branches:
        if isinstance(branch, str) and branch in named:
            return named[branch]
        if isinstance(branch, dict) and branch.get("type") == "record":
            return branch
    raise ValueError(f"personal-data path {path!r} goes through a field that is not a record")


def shared_schema(dataset: Dataset) -> dict[str, Any]:
    """The Avro schema of ``shared.<dataset>``: dropped fields made optional.

    A named record used in several places (a ``Parent`` for both mother and father) is one
    definition, so making its field optional widens every use; that only admits nulls.
    """
    schema = dataset.avro_schema()
    named: dict[str, dict[str, Any]] = {}
    _named_records(schema, named)
    for field in withheld_fields(dataset):
        if field.pseudonymised or field.nullable:
            continue
        record: dict[str, Any] = schema
        *parents, leaf = field.parts
        for part in parents:
            record = _record_of(_field(record, part, field.path), named, field.path)
        spec = _field(record, leaf, field.path)
        branches = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
        spec["type"] = ["null", *(b for b in branches if b != "null")]
        spec["default"] = None
    return schema


def shared_subject(dataset: Dataset) -> str:
    return f"{dataset.shared_topic}-value"


class Sharer:
    """Makes the ``shared.<dataset>`` message of each of a dataset's clean records.

    The validate agent publishes it from the same batch as the clean message, so sharing
    costs no consumer of its own. Registers the shared schema at once, so a registry or key
    problem stops the worker at start rather than at the first record.

    Raises:
        PseudonymKeyError: The key is shorter than 32 characters.
    """

    def __init__(self, dataset: Dataset, codec: AvroCodec, key: SecretStr) -> None:
        self.dataset = dataset
        self.topic = dataset.shared_topic
        self._codec = codec
        self._pseudonymiser = Pseudonymiser(dataset, key)
        self.schema_id = codec.register(shared_subject(dataset), shared_schema(dataset))

    def message(self, record: dict[str, Any]) -> tuple[bytes, bytes]:
        """The shared message's key and value for a clean record.

        Raises:
            EncodeError: The withheld record does not fit the shared schema.
        """
        withheld = self._pseudonymiser.apply(record)
        # A clean record fits the dataset's schema, and withholding only puts a pseudonym in
        # a text field or null in one the shared schema made optional; a bug that broke that
        # still fails, in the writer, rather than writing a wrong record.
        value = self._codec.encode(self.schema_id, withheld, check=False)
        return self._pseudonymiser.key(withheld).encode("utf-8"), value
