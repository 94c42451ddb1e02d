"""The Confluent wire format for Avro records.

A message is the magic byte 0, the schema id as a 4-byte big-endian integer, then the
record in Avro binary encoding without a container header. Any Confluent client reads
what this codec writes, and the reverse.

Decoding never lets a third-party exception escape for bad bytes: every failure is a
:class:`DecodeError` whose ``rule`` names what was wrong, for the dead-letter headers.
Registry outages are not the record's fault and propagate as ``RegistryError``. Error messages
travel in Kafka headers, so they are one line and cut short whatever value they quote.
"""

from __future__ import annotations

import io
import json
import reprlib
import struct
from decimal import Decimal
from typing import Any, ClassVar, cast

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.validation import ValidationError, ValidationErrorData, validate

from schemas.registry.client import SCHEMA_NOT_FOUND, RegistryClient, RegistryError

MAGIC_BYTE = 0
_HEADER = struct.Struct(">BI")
HEADER_SIZE = _HEADER.size


# Longest message text kept from a third-party error; fastavro and the datetime parsers quote
# the offending value in full, which may be megabytes long.
MAX_MESSAGE_CHARS = 300

_SHOWN = reprlib.Repr()
_SHOWN.maxstring = _SHOWN.maxother = 80
_SHOWN.maxlevel = 3
_SHOWN.maxlist = _SHOWN.maxdict = _SHOWN.maxtuple = 5


def _one_line(text: str) -> str:
    """``text`` on one line, cut to :data:`MAX_MESSAGE_CHARS`."""
    # Cut before splitting: splitting a multi-megabyte message would copy it word by word.
    cut = text[: MAX_MESSAGE_CHARS * 2]
    line = " ".join(cut.split())
    if len(line) > MAX_MESSAGE_CHARS or len(text) > len(cut):
        return f"{line[: MAX_MESSAGE_CHARS - 3]}..."
    return line


class EncodeError(ValueError):
    """The record does not fit the schema, or the schema id is unusable."""


class DecodeError(ValueError):
    """Bytes that cannot be read as a record; ``rule`` names the kind of fault."""

    rule: ClassVar[str] = "decode"


class WireFormatError(DecodeError):
    """Not Confluent wire format: too short for the header, or the magic byte is not 0."""

    rule: ClassVar[str] = "wire_format"


class UnknownSchemaError(DecodeError):
    """The schema id in the header is not in the registry, or is not an Avro schema."""

    rule: ClassVar[str] = "unknown_schema"


class AvroBodyError(DecodeError):
    """The body is not a valid Avro encoding of the writer's schema."""

    rule: ClassVar[str] = "avro_body"


def pack(
    schema_id: int, parsed_schema: dict[str, Any], record: dict[str, Any], *, check: bool = True
) -> bytes:
    """Encode a record in the Confluent wire format, after checking it against the schema.

    Args:
        schema_id: Registry id of the schema.
        parsed_schema: The schema as returned by ``fastavro.parse_schema``.
        record: The record; logical types may be given as Python values (date, datetime,
            Decimal).
        check: Validate first. Only a record just decoded with this very schema (and at most
            re-normalised in its texts) may skip it: fastavro's writer silently truncates
            floats and takes bools for ints, so anything else must be checked.

    Raises:
        EncodeError: The record does not fit the schema, or the id is out of range.
    """
    try:
        header = _HEADER.pack(MAGIC_BYTE, schema_id)
    except struct.error as exc:
        raise EncodeError(f"schema id {schema_id} does not fit in 4 bytes") from exc
    buffer = io.BytesIO()
    buffer.write(header)
    try:
        # A first pass that builds no error objects: with raise_errors=True fastavro makes
        # (and drops) a ValidationError for every non-null value of an optional field, which
        # tripled the cost of encoding a typical record.
        if check and not validate(record, parsed_schema, raise_errors=False):
            # Only a misfit pays for the errors that say what is wrong with it.
            validate(record, parsed_schema, raise_errors=True)
        else:
            schemaless_writer(buffer, parsed_schema, record)
            return buffer.getvalue()
    except ValidationError as exc:
        problems = "; ".join(_describe(error) for error in exc.errors)
        raise EncodeError(f"record does not fit schema id {schema_id}: {problems}") from exc
    # Logical types parse values (ISO date strings, decimals) and raise these on bad ones.
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise EncodeError(
            f"record does not fit schema id {schema_id}: {_one_line(str(exc))}"
        ) from exc
    # The two passes disagreed, which fastavro's validator never does; refuse rather than
    # write a record that failed a check.
    raise EncodeError(f"record does not fit schema id {schema_id}")


def _describe(error: ValidationErrorData) -> str:
    """One validation failure, short: fastavro's own text embeds whole schemas."""
    # reprlib, not repr: a datum nested a thousand deep would overflow repr's recursion.
    shown = _SHOWN.repr(error.datum)
    where = error.field or "the record"
    return _one_line(f"{where} is {shown}, expected {_type_name(error.schema)}")


def _type_name(schema: Any) -> str:
    if isinstance(schema, list):
        return " or ".join(_type_name(branch) for branch in schema)
    if not isinstance(schema, dict):
        return str(schema)
    if schema.get("type") == "enum":
        return f"{schema['name']} (one of {', '.join(schema['symbols'])})"
    return str(schema.get("name") or schema.get("logicalType") or schema.get("type"))


def unpack(data: bytes | bytearray | memoryview) -> tuple[int, memoryview]:
    """Split a message into its schema id and Avro body (a view, not a copy).

    Raises:
        WireFormatError: Shorter than the header, or the magic byte is not 0.
    """
    if len(data) < HEADER_SIZE:
        raise WireFormatError(
            f"message is {len(data)} bytes, shorter than the {HEADER_SIZE}-byte "
            f"Confluent wire-format header"
        )
    magic, schema_id = _HEADER.unpack_from(data)
    if magic != MAGIC_BYTE:
        raise WireFormatError(f"magic byte is {magic}, not {MAGIC_BYTE}: not Confluent wire format")
    return schema_id, memoryview(data)[HEADER_SIZE:]


def read_body(
    schema_id: int, parsed_schema: dict[str, Any], body: bytes | memoryview
) -> dict[str, Any]:
    """Read one Avro record that must fill the whole body.

    Raises:
        AvroBodyError: The body does not decode, or bytes are left over after the record.
    """
    stream = io.BytesIO(body)
    try:
        record = schemaless_reader(stream, parsed_schema, None)
    # Bad bytes surface as EOFError, UnicodeDecodeError, IndexError, ValueError and more.
    except Exception as exc:
        raise AvroBodyError(
            f"body does not decode with schema id {schema_id}: "
            f"{type(exc).__name__}: {_one_line(str(exc))}"
        ) from exc
    left_over = len(body) - stream.tell()
    if left_over:
        raise AvroBodyError(
            f"{left_over} bytes left over after the record of schema id {schema_id}"
        )
    # Hub schemas are records, so the reader yields a dict.
    return cast("dict[str, Any]", record)


def _has_decimal(schema: Any) -> bool:
    """Whether a parsed schema holds a ``decimal`` anywhere."""
    if isinstance(schema, list):
        return any(_has_decimal(branch) for branch in schema)
    if not isinstance(schema, dict):
        return False
    if schema.get("logicalType") == "decimal":
        return True
    return any(
        _has_decimal(part)
        for part in (
            *(field["type"] for field in schema.get("fields", ())),
            schema.get("items"),
            schema.get("values"),
        )
    )


def _oversized_decimal(schema: Any, value: Any, path: str) -> str | None:
    """The path of a decimal with more digits than its schema's precision, if any.

    fastavro reads such a value by rounding it to the precision, silently; the record would
    then reach the warehouse altered, or overflow a NUMERIC column there.
    """
    if isinstance(schema, list):
        for branch in schema:
            found = _oversized_decimal(branch, value, path)
            if found:
                return found
        return None
    if not isinstance(schema, dict):
        return None
    if schema.get("logicalType") == "decimal":
        if not isinstance(value, Decimal) or not value.is_finite() or not value:
            return None
        digits = value.adjusted() + 1 + int(schema.get("scale", 0))
        return path if digits > int(schema["precision"]) else None
    kind = schema.get("type")
    if kind == "record" and isinstance(value, dict):
        for field in schema["fields"]:
            name = field["name"]
            found = _oversized_decimal(
                field["type"], value.get(name), f"{path}.{name}" if path else name
            )
            if found:
                return found
    elif kind == "array" and isinstance(value, list):
        for index, item in enumerate(value):
            found = _oversized_decimal(schema["items"], item, f"{path}[{index}]")
            if found:
                return found
    elif kind == "map" and isinstance(value, dict):
        for key, item in value.items():
            found = _oversized_decimal(schema["values"], item, f"{path}.{key}")
            if found:
                return found
    return None


class AvroCodec:
    """Encodes and decodes records in the Confluent wire format, schemas from a registry.

    Parsed schemas are cached by id, so after the first record of each schema no call
    reaches the registry. Safe to share between threads.

    Args:
        registry: Client of the schema registry holding the schemas.
    """

    def __init__(self, registry: RegistryClient) -> None:
        self._registry = registry
        self._schemas: dict[int, dict[str, Any]] = {}
        # Ids of schemas holding decimals, whose decoded values are checked against precision.
        self._with_decimals: set[int] = set()

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        """Register a schema under a subject and keep it ready for encoding.

        Returns:
            The schema id to pass to :meth:`encode`.
        """
        # Parsing first reports a malformed schema with fastavro's own message.
        parsed = parse_schema(schema)
        schema_id = self._registry.register(subject, schema)
        self._keep(schema_id, parsed)
        return schema_id

    def encode(self, schema_id: int, record: dict[str, Any], *, check: bool = True) -> bytes:
        """Encode a record with a registered schema.

        Args:
            schema_id: The schema's registry id.
            record: The record.
            check: See :func:`pack`; skip only for a record decoded with this very schema.

        Raises:
            EncodeError: The record does not fit the schema, or the id is not registered.
        """
        try:
            parsed = self._schema(schema_id)
        except UnknownSchemaError as exc:
            raise EncodeError(str(exc)) from exc
        return pack(schema_id, parsed, record, check=check)

    def decode(self, data: bytes | bytearray | memoryview) -> tuple[int, dict[str, Any]]:
        """Decode a message into its schema id and record.

        Logical types come back as Python values: ``date`` as ``datetime.date``,
        ``timestamp-millis`` as an aware UTC ``datetime``, ``decimal`` as ``Decimal``.

        Raises:
            WireFormatError: Not Confluent wire format.
            UnknownSchemaError: The registry has no Avro schema with the header's id.
            AvroBodyError: The body does not match the schema, or holds a decimal with more
                digits than its precision.
            RegistryError: The registry could not be asked.
        """
        schema_id, body = unpack(data)
        parsed = self._schema(schema_id)
        record = read_body(schema_id, parsed, body)
        if schema_id in self._with_decimals:
            path = _oversized_decimal(parsed, record, "")
            if path is not None:
                raise AvroBodyError(
                    f"{path} of schema id {schema_id} has more digits than its precision allows"
                )
        return schema_id, record

    def _schema(self, schema_id: int) -> dict[str, Any]:
        parsed = self._schemas.get(schema_id)
        if parsed is None:
            parsed = self._keep(schema_id, self._fetch(schema_id))
        return parsed

    def _keep(self, schema_id: int, parsed: dict[str, Any]) -> dict[str, Any]:
        if _has_decimal(parsed):
            self._with_decimals.add(schema_id)
        self._schemas[schema_id] = parsed
        return parsed

    def _fetch(self, schema_id: int) -> dict[str, Any]:
        try:
            text = self._registry.get_schema(schema_id)
        except RegistryError as exc:
            # Only the registry's own "no such schema" is the record's fault; a bare 404
            # means a misconfigured URL and must not send every record to the dead letters.
            if exc.error_code == SCHEMA_NOT_FOUND:
                raise UnknownSchemaError(f"schema id {schema_id} is not in the registry") from exc
            raise
        try:
            return parse_schema(json.loads(text))
        except Exception as exc:
            raise UnknownSchemaError(
                f"schema id {schema_id} is not an Avro schema: {_one_line(str(exc))}"
            ) from exc
