"""Records written as JSON (ISO dates, decimal strings) turned into Avro-ready Python values.

Exports, APIs and hand-written test files carry records as JSON; the codec needs ``date``,
``datetime`` and ``Decimal``. The dataset's schema says which is which.

Values come from outside the hub, so errors quote them shortened (a multi-megabyte string or a
list nested a thousand deep must not become a multi-megabyte or unprintable message) and
documents nested deeper than :data:`MAX_NESTING` are refused before anything recurses into them.
"""

from __future__ import annotations

import base64
import reprlib
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_NESTING = 64
"""Deepest nesting of objects and lists accepted; the hub's schemas need fewer than ten levels."""

_SHOWN = reprlib.Repr()
_SHOWN.maxstring = 80
_SHOWN.maxother = 80
_SHOWN.maxlevel = 3
_SHOWN.maxlist = _SHOWN.maxdict = _SHOWN.maxtuple = 5


class JsonRecordError(ValueError):
    """A JSON value does not fit the schema; the message names the field path."""


def shown(value: Any) -> str:
    """A value as error messages quote it: its repr, cut short when long or deep."""
    return _SHOWN.repr(value)


def ensure_shallow(value: Any, max_nesting: int = MAX_NESTING) -> None:
    """Refuse a JSON value nested deeper than ``max_nesting`` objects and lists.

    Walks with an explicit stack, so a value nested thousands deep is refused rather than
    overflowing the interpreter's recursion limit in whatever reads it next.

    Raises:
        JsonRecordError: The value is nested too deeply.
    """
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        current, depth = pending.pop()
        if isinstance(current, dict):
            children: Any = current.values()
        elif isinstance(current, list):
            children = current
        else:
            continue
        if depth > max_nesting:
            raise JsonRecordError(f"record: nested more than {max_nesting} levels deep")
        pending.extend((child, depth + 1) for child in children)


def record_from_json(schema: dict[str, Any], value: Any) -> dict[str, Any]:
    """Convert a JSON object to the Python values the dataset's Avro schema expects.

    Raises:
        JsonRecordError: The value does not fit the schema, or is nested more than
            :data:`MAX_NESTING` levels deep.
    """
    ensure_shallow(value)
    named: dict[str, Any] = {}
    converted = _convert(schema, value, "", named)
    if not isinstance(converted, dict):
        raise JsonRecordError("a record must be a JSON object")
    return converted


def _fail(path: str, message: str) -> JsonRecordError:
    return JsonRecordError(f"{path or 'record'}: {message}")


def _convert(schema: Any, value: Any, path: str, named: dict[str, Any]) -> Any:
    if isinstance(schema, list):
        return _union(schema, value, path, named)
    if isinstance(schema, str):
        if schema in named:
            return _convert(named[schema], value, path, named)
        return _primitive(schema, value, path)
    kind = schema["type"]
    if kind == "record":
        named[schema["name"]] = schema
        if schema.get("namespace"):
            named[f"{schema['namespace']}.{schema['name']}"] = schema
        if not isinstance(value, dict):
            raise _fail(path, "expected an object")
        record: dict[str, Any] = {}
        for field in schema["fields"]:
            field_path = f"{path}.{field['name']}" if path else field["name"]
            if field["name"] in value:
                record[field["name"]] = _convert(
                    field["type"], value[field["name"]], field_path, named
                )
            elif "default" in field:
                record[field["name"]] = field["default"]
            else:
                raise _fail(field_path, "is missing")
        return record
    if kind == "enum":
        named[schema["name"]] = schema
        if value not in schema["symbols"]:
            raise _fail(path, f"{shown(value)} is not one of {', '.join(schema['symbols'])}")
        return value
    if kind == "array":
        if not isinstance(value, list):
            raise _fail(path, "expected a list")
        return [_convert(schema["items"], v, f"{path}[{i}]", named) for i, v in enumerate(value)]
    if kind == "map":
        if not isinstance(value, dict):
            raise _fail(path, "expected an object")
        return {k: _convert(schema["values"], v, f"{path}.{k}", named) for k, v in value.items()}
    logical = schema.get("logicalType")
    if logical is not None and value is not None:
        return _logical(logical, schema, value, path)
    return _primitive(kind, value, path)


def _union(branches: list[Any], value: Any, path: str, named: dict[str, Any]) -> Any:
    if value is None:
        if "null" in branches:
            return None
        raise _fail(path, "must not be null")
    errors = []
    for branch in branches:
        if branch == "null":
            continue
        try:
            return _convert(branch, value, path, named)
        except JsonRecordError as exc:
            errors.append(str(exc))
    raise _fail(path, "fits no branch of its union: " + "; ".join(errors))


def _logical(logical: str, schema: dict[str, Any], value: Any, path: str) -> Any:
    try:
        if logical == "date":
            return value if isinstance(value, date) else date.fromisoformat(str(value))
        if logical in ("timestamp-millis", "timestamp-micros"):
            moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        if logical == "decimal":
            if isinstance(value, bool):
                raise ValueError("a boolean is not a number")
            amount = Decimal(str(value))
            return amount.quantize(Decimal(1).scaleb(-int(schema.get("scale", 0))))
    except (ValueError, InvalidOperation) as exc:
        raise _fail(path, f"{shown(value)} is not a valid {logical}") from exc
    return _primitive(schema["type"], value, path)


def _primitive(kind: str, value: Any, path: str) -> Any:
    if kind == "null":
        if value is not None:
            raise _fail(path, "expected null")
        return None
    if value is None:
        raise _fail(path, "must not be null")
    if kind == "string":
        if not isinstance(value, str):
            raise _fail(path, f"expected text, got {shown(value)}")
        return value
    if kind in ("int", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(path, f"expected a whole number, got {shown(value)}")
        return value
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(path, f"expected a number, got {shown(value)}")
        return float(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _fail(path, f"expected true or false, got {shown(value)}")
        return value
    if kind in ("bytes", "fixed"):
        if not isinstance(value, str):
            raise _fail(path, "expected base64 text")
        try:
            return base64.b64decode(value, validate=True)
        except ValueError as exc:
            raise _fail(path, "is not valid base64") from exc
    raise _fail(path, f"unsupported Avro type {kind!r}")


def sample_json(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON object that fits the schema: defaults where given, plain values elsewhere."""
    named: dict[str, Any] = {}
    sample = _sample(schema, named)
    assert isinstance(sample, dict)
    return sample


def _sample(schema: Any, named: dict[str, Any]) -> Any:
    if isinstance(schema, list):
        return None if "null" in schema else _sample(schema[0], named)
    if isinstance(schema, str):
        if schema in named:
            return _sample(named[schema], named)
        return {
            "string": "mẫu",
            "int": 0,
            "long": 0,
            "float": 0.0,
            "double": 0.0,
            "boolean": False,
            "null": None,
            "bytes": "",
        }[schema]
    kind = schema["type"]
    if kind == "record":
        named[schema["name"]] = schema
        return {
            field["name"]: field["default"] if "default" in field else _sample(field["type"], named)
            for field in schema["fields"]
        }
    if kind == "enum":
        named[schema["name"]] = schema
        return schema.get("default", schema["symbols"][0])
    if kind == "array":
        return []
    if kind == "map":
        return {}
    logical = schema.get("logicalType")
    if logical == "date":
        return "2025-07-01"
    if logical in ("timestamp-millis", "timestamp-micros"):
        return "2025-07-01T08:00:00+07:00"
    if logical == "decimal":
        return "0"
    return _sample(kind, named)
