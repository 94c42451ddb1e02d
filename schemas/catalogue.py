"""The shared-database catalogue: the one source of truth every layer derives from.

Topic names, warehouse tables, record rules and quality suites are all read from
``catalogue.yaml``; nothing else names a dataset.
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import timedelta
from functools import cache, cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Final, Literal

import fastavro
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

SCHEMA_DIR = Path(__file__).resolve().parent
CATALOGUE_PATH = SCHEMA_DIR / "catalogue.yaml"

AGENCY_ID_PATTERN: Final = re.compile(
    r"\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}|[A-Z]\d{2}(?:\.\d{2,3})+", re.ASCII
)
"""An agency e-ID (QCVN 102:2016): ``000.00.00.H25``, or the short form ``H25.151``; use
``fullmatch``."""
_DATASET_ID = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")

SharingLevel = Literal["shared", "internal", "open"]


class CatalogueError(ValueError):
    """The catalogue is malformed or names something that does not exist."""


class Titles(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    vi: str
    en: str


class RuleSpec(BaseModel):
    """One record rule as the catalogue declares it; parameters depend on the rule."""

    model_config = ConfigDict(frozen=True, extra="allow")

    rule: str

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ExpectationSpec(BaseModel):
    """One quality expectation; ``column`` is a field path as in the Avro schema."""

    model_config = ConfigDict(frozen=True, extra="allow")

    type: str
    column: str | None = None
    critical: bool = False
    weight: float = Field(default=1.0, gt=0)

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Dataset(BaseModel):
    """A catalogue entry: one shared dataset and everything the hub enforces on it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    title: Titles
    description: Titles | None = None
    owner_agency: str
    source_system: str
    schema_file: str = Field(alias="schema")
    key: tuple[str, ...]
    version_field: str
    update_frequency: str
    sharing_level: SharingLevel
    legal_basis: str | None = None
    personal_data: tuple[str, ...] = ()
    rules: tuple[RuleSpec, ...] = ()
    expectations: tuple[ExpectationSpec, ...] = ()

    @field_validator("id")
    @classmethod
    def _dataset_id(cls, value: str) -> str:
        if not _DATASET_ID.match(value):
            raise ValueError(f"dataset id {value!r} must look like 'domain.name'")
        return value

    @field_validator("owner_agency")
    @classmethod
    def _agency(cls, value: str) -> str:
        if not AGENCY_ID_PATTERN.fullmatch(value):
            raise ValueError(f"owner_agency {value!r} is not an agency e-ID like 000.00.00.H25")
        return value

    @property
    def raw_topic(self) -> str:
        return f"raw.{self.id}"

    @property
    def clean_topic(self) -> str:
        return f"clean.{self.id}"

    @property
    def dlq_topic(self) -> str:
        return f"dlq.{self.id}"

    @property
    def shared_topic(self) -> str:
        return f"shared.{self.id}"

    @property
    def table_name(self) -> str:
        return self.id.replace(".", "_")

    @property
    def schema_path(self) -> Path:
        return SCHEMA_DIR / self.schema_file

    def avro_schema(self) -> dict[str, Any]:
        """The dataset's Avro schema as JSON (not parsed): the caller's own copy to change."""
        # The file is read once; handing out the cached dict itself let one caller's change
        # (a test widening the schema) become every later caller's schema.
        return copy.deepcopy(load_schema_json(self.schema_path))


class Province(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    name: str
    agency_id: str


class Catalogue(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int
    province: Province
    datasets: tuple[Dataset, ...]

    def dataset(self, dataset_id: str) -> Dataset:
        for entry in self.datasets:
            if entry.id == dataset_id:
                return entry
        known = ", ".join(d.id for d in self.datasets)
        raise CatalogueError(f"unknown dataset {dataset_id!r}; the catalogue has: {known}")

    @property
    def dataset_ids(self) -> list[str]:
        return [d.id for d in self.datasets]


@cache
def load_schema_json(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def load_catalogue(path: Path = CATALOGUE_PATH) -> Catalogue:
    """Read and check the catalogue; raise :class:`CatalogueError` naming the fault."""
    try:
        with path.open(encoding="utf-8") as handle:
            raw = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogueError(f"cannot read catalogue {path}: {exc}") from exc
    try:
        catalogue = Catalogue.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise CatalogueError(f"catalogue {path}: {where}: {first['msg']}") from exc
    for entry in catalogue.datasets:
        if not entry.schema_path.is_file():
            raise CatalogueError(f"{entry.id}: schema file {entry.schema_file} does not exist")
    return catalogue


@cache
def default_catalogue() -> Catalogue:
    return load_catalogue()


def column_name(field_path: str) -> str:
    """Warehouse column for a (possibly nested) field path: ``a.b`` becomes ``a_b``."""
    return field_path.replace(".", "_")


def get_path(record: dict[str, Any], field_path: str) -> Any:
    """Value at a dotted field path, ``None`` when any step is missing or null."""
    return _value_at(record, field_path.split("."))


def _value_at(record: dict[str, Any], parts: Iterable[str]) -> Any:
    value: Any = record
    for part in parts:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


class FieldColumn(BaseModel):
    """A leaf of a record schema as the warehouse stores it."""

    model_config = ConfigDict(frozen=True)

    path: str
    avro_type: Any
    logical_type: str | None = None
    nullable: bool = False

    # Cached: the stream worker flattens every record by these.
    @cached_property
    def column(self) -> str:
        return column_name(self.path)

    @cached_property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.path.split("."))


def leaf_fields(schema: dict[str, Any]) -> list[FieldColumn]:
    """Every leaf field of a record schema, nested records flattened to dotted paths.

    A field under an optional record is nullable even when the leaf itself is not.
    """
    named: dict[str, dict[str, Any]] = {}

    def walk(record: dict[str, Any], prefix: str, nullable: bool) -> list[FieldColumn]:
        named[record["name"]] = record
        leaves: list[FieldColumn] = []
        for field in record["fields"]:
            path = f"{prefix}{field['name']}"
            ftype = field["type"]
            optional = nullable
            if isinstance(ftype, list):
                branches = [b for b in ftype if b != "null"]
                optional = optional or len(branches) < len(ftype)
                ftype = branches[0] if len(branches) == 1 else branches
            if isinstance(ftype, str) and ftype in named:
                ftype = named[ftype]
            if isinstance(ftype, dict) and ftype.get("type") == "record":
                leaves.extend(walk(ftype, f"{path}.", optional))
                continue
            if isinstance(ftype, dict) and ftype.get("type") == "enum":
                named[ftype["name"]] = ftype
            logical = ftype.get("logicalType") if isinstance(ftype, dict) else None
            leaves.append(
                FieldColumn(path=path, avro_type=ftype, logical_type=logical, nullable=optional)
            )
        return leaves

    return walk(schema, "", False)


def flatten(record: dict[str, Any], fields: list[FieldColumn]) -> dict[str, Any]:
    """A decoded record as warehouse columns (``a.b`` -> ``a_b``)."""
    return {f.column: _value_at(record, f.parts) for f in fields}


# --- validation ------------------------------------------------------------------------------

# A version orders updates, so it must be a point in time or a counter.
_VERSION_LOGICAL_TYPES: Final = frozenset(
    {
        "date",
        "timestamp-millis",
        "timestamp-micros",
        "local-timestamp-millis",
        "local-timestamp-micros",
    }
)
_VERSION_BASE_TYPES: Final = frozenset({"int", "long"})
_COLLECTION_TYPES: Final = frozenset({"array", "map"})


class CatalogueProblem(BaseModel):
    """One fault :func:`validate_catalogue` found.

    Attributes:
        dataset: The dataset id.
        field: The field path at fault, or the catalogue key (``schema``, ``key``, ``id``,
            ``owner_agency``) when no field is.
        message: What is wrong, in English.
    """

    model_config = ConfigDict(frozen=True)

    dataset: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.dataset}: {self.field}: {self.message}"


def _base_type(leaf: FieldColumn) -> Any:
    return leaf.avro_type.get("type") if isinstance(leaf.avro_type, dict) else leaf.avro_type


def _schema_problems(
    dataset: Dataset, namespaces: dict[str, str]
) -> tuple[list[CatalogueProblem], dict[str, FieldColumn] | None]:
    """Parse the dataset's schema; its problems and, when it parses, its leaf fields.

    ``namespaces`` maps each namespace seen so far to the dataset whose schema uses it, and
    gains this dataset's.
    """

    def problem(message: str) -> CatalogueProblem:
        return CatalogueProblem(dataset=dataset.id, field="schema", message=message)

    named: dict[str, Any] = {}
    try:
        schema = dataset.avro_schema()
        fastavro.parse_schema(schema, named_schemas=named)
    except OSError as exc:
        return [problem(f"cannot read {dataset.schema_file}: {exc.strerror or exc}")], None
    # fastavro raises SchemaParseException (an Exception) or ValueError/TypeError subclasses.
    except Exception as exc:
        return [problem(f"{dataset.schema_file} is not a valid Avro schema: {exc}")], None
    if not (
        isinstance(schema, dict)
        and schema.get("type") == "record"
        and isinstance(schema.get("fields"), list)
    ):
        return [problem(f"{dataset.schema_file} is not a record schema with fields")], None
    problems = []
    for namespace in sorted({name.rpartition(".")[0] for name in named}):
        owner = namespaces.setdefault(namespace, dataset.id)
        if owner != dataset.id:
            problems.append(
                problem(
                    f"namespace {namespace!r} is also used by dataset {owner!r}; each "
                    "dataset's schema needs namespaces of its own"
                )
            )
    return problems, {leaf.path: leaf for leaf in leaf_fields(schema)}


def _field_problems(dataset: Dataset, leaves: dict[str, FieldColumn]) -> list[CatalogueProblem]:
    """Key, version, personal-data and expectation paths checked against the schema."""
    problems: list[CatalogueProblem] = []

    def problem(field: str, message: str) -> None:
        problems.append(CatalogueProblem(dataset=dataset.id, field=field, message=message))

    # A personal-data path may name a whole nested record.
    records = {
        ".".join(parts[:depth])
        for parts in (path.split(".") for path in leaves)
        for depth in range(1, len(parts))
    }
    if not dataset.key:
        problem("key", "the key names no field")
    for path in dataset.key:
        leaf = leaves.get(path)
        if leaf is None:
            problem(path, "key field is not a field of the schema")
        elif leaf.nullable:
            problem(path, "key field is nullable; every record must have its key")
        elif _base_type(leaf) in _COLLECTION_TYPES:
            problem(path, f"key field is an {_base_type(leaf)}; a key must be a single value")
    version = leaves.get(dataset.version_field)
    if version is None:
        problem(dataset.version_field, "version_field is not a field of the schema")
    elif version.nullable:
        problem(dataset.version_field, "version_field is nullable; every version must be ordered")
    elif version.logical_type not in _VERSION_LOGICAL_TYPES and not (
        version.logical_type is None and _base_type(version) in _VERSION_BASE_TYPES
    ):
        problem(
            dataset.version_field,
            "version_field must be a date, a timestamp, an int or a long",
        )
    for path in dataset.personal_data:
        if path not in leaves and path not in records:
            problem(path, "personal_data names a field the schema does not have")
    return problems


def validate_catalogue(catalogue: Catalogue) -> list[CatalogueProblem]:
    """Every fault of a catalogue that its YAML's shape cannot show.

    Checks: dataset ids are unique; owner agencies are agency e-IDs; each schema parses with
    fastavro, is a record and uses namespaces no other dataset uses; key fields exist, are
    single values and are never null; the version field exists, is never null and is a date,
    timestamp, int or long; personal-data paths exist; every expectation is of a known type
    with sound parameters (:func:`check_expectation`). Record rule parameters are checked where
    the rules live (``quality.rules``).

    Args:
        catalogue: A loaded catalogue, or a copy with edits.

    Returns:
        The problems found, in catalogue order; empty when there are none.
    """
    problems: list[CatalogueProblem] = []
    counts = Counter(entry.id for entry in catalogue.datasets)
    problems.extend(
        CatalogueProblem(
            dataset=dataset_id, field="id", message=f"dataset id appears {count} times"
        )
        for dataset_id, count in counts.items()
        if count > 1
    )
    namespaces: dict[str, str] = {}
    for dataset in catalogue.datasets:
        # model_copy skips validation, so a copied entry may carry any owner_agency.
        if not AGENCY_ID_PATTERN.fullmatch(dataset.owner_agency):
            problems.append(
                CatalogueProblem(
                    dataset=dataset.id,
                    field="owner_agency",
                    message=f"{dataset.owner_agency!r} is not an agency e-ID like 000.00.00.H25",
                )
            )
        schema_problems, leaves = _schema_problems(dataset, namespaces)
        problems.extend(schema_problems)
        if leaves is not None:
            problems.extend(_field_problems(dataset, leaves))
            problems.extend(_expectation_problems(dataset, leaves, catalogue))
    return problems


# --- expectations ----------------------------------------------------------------------------
# The one list of expectation types: the catalogue validator checks against it and the quality
# suite builder (quality.suites) has a Great Expectations builder for each, so a type known here
# and unknown there cannot exist.

ColumnUse = Literal["required", "optional", "forbidden"]
_TIMESTAMP_LOGICAL_TYPES: Final = frozenset({"date", "timestamp-millis", "timestamp-micros"})
_DURATION = TypeAdapter(timedelta)


class ExpectationConfigError(CatalogueError):
    """A catalogue expectation is of an unknown type or has bad parameters.

    Attributes:
        field: The field path at fault when the problem is the expectation's column.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _share(value: float) -> float:
    if not 0 < value <= 1:
        raise ValueError("must be a share in (0, 1]")
    return value


def _fraction(value: float) -> float:
    if not 0 <= value <= 1:
        raise ValueError("must be a share in [0, 1]")
    return value


def _non_negative(value: float) -> float:
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


# Strict: a quoted "0.9" in the YAML is a mistake worth reporting, not a number.
Share = Annotated[float, Field(strict=True), AfterValidator(_share)]
Fraction = Annotated[float, Field(strict=True), AfterValidator(_fraction)]
Number = Annotated[float, Field(strict=True)]


def parse_duration(text: str) -> timedelta:
    """An ISO 8601 duration (``P1D``, ``PT1H``; a month counts as 30 days) as a timedelta.

    Raises:
        ValueError: ``text`` is not a positive ISO 8601 duration.
    """
    if not isinstance(text, str) or not text.startswith("P"):
        raise ValueError(f"{text!r} is not an ISO 8601 duration like P1D or PT1H")
    try:
        duration = _DURATION.validate_python(text)
    except ValidationError as exc:
        raise ValueError(f"{text!r} is not an ISO 8601 duration like P1D or PT1H") from exc
    if duration <= timedelta(0):
        raise ValueError(f"{text!r} is not a positive duration")
    return duration


class ExpectationParams(BaseModel):
    """The parameters of one expectation type, as the catalogue gives them.

    ``column_use`` says whether the type checks one field (``required``), may default to one
    (``optional``) or checks the whole table (``forbidden``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    column_use: ClassVar[ColumnUse] = "required"


class NotNullParams(ExpectationParams):
    """Every row has the field."""


class UniqueParams(ExpectationParams):
    """No two rows share a value of the field (nulls aside)."""


class CompletenessParams(ExpectationParams):
    """At least ``min`` of the rows have the field."""

    min: Share


class InSetParams(ExpectationParams):
    """Every value is one of ``values``."""

    values: tuple[StrictStr | StrictInt | StrictFloat | StrictBool, ...]

    @field_validator("values")
    @classmethod
    def _non_empty(cls, values: tuple[Any, ...]) -> tuple[Any, ...]:
        if not values:
            raise ValueError("must be a non-empty list")
        return values


class BetweenParams(ExpectationParams):
    """Every value lies in [``min``, ``max``]; either bound may be left open."""

    min: Number | None = None
    max: Number | None = None

    @model_validator(mode="after")
    def _bounds(self) -> BetweenParams:
        if self.min is None and self.max is None:
            raise ValueError("give 'min', 'max' or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"'min' {self.min:g} is above 'max' {self.max:g}")
        return self


class InReferenceParams(ExpectationParams):
    """Every code is an administrative unit code of the given level in a published list."""

    reference: Literal["province", "district", "commune"]


class FormatParams(ExpectationParams):
    """At least ``min`` of the present values match the regular expression ``pattern``.

    The pattern runs in the database (PostgreSQL's ``~``, Python's ``re`` on SQLite) with search
    semantics, so anchor it with ``^...$``; keep to the syntax both share.
    """

    pattern: Annotated[str, Field(strict=True, min_length=1)]
    min: Share = 1.0

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from exc
        return pattern


class ExistsInParams(ExpectationParams):
    """Every present value is a value of ``field`` in dataset ``dataset``'s table."""

    dataset: Annotated[str, Field(strict=True)]
    field: Annotated[str, Field(strict=True)]


class FreshnessParams(ExpectationParams):
    """The newest value of the field (the version field unless ``column`` is given) is at most
    ``max_age`` old (the dataset's ``update_frequency`` unless given)."""

    column_use: ClassVar[ColumnUse] = "optional"

    max_age: Annotated[str, Field(strict=True)] | None = None

    @field_validator("max_age")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value


class VolumeParams(ExpectationParams):
    """The row count changed since the last stored run by at most ``max_drop`` (a share of
    the earlier count lost) and ``max_growth`` (a share gained). A first run passes."""

    column_use: ClassVar[ColumnUse] = "forbidden"

    max_drop: Fraction | None = None
    max_growth: Annotated[float, Field(strict=True), AfterValidator(_non_negative)] | None = None

    @model_validator(mode="after")
    def _a_bound(self) -> VolumeParams:
        if self.max_drop is None and self.max_growth is None:
            raise ValueError("give 'max_drop', 'max_growth' or both")
        return self


EXPECTATION_TYPES: Final[Mapping[str, type[ExpectationParams]]] = MappingProxyType(
    {
        "not_null": NotNullParams,
        "unique": UniqueParams,
        "completeness": CompletenessParams,
        "in_set": InSetParams,
        "between": BetweenParams,
        "in_reference": InReferenceParams,
        "format": FormatParams,
        "exists_in": ExistsInParams,
        "freshness": FreshnessParams,
        "volume": VolumeParams,
    }
)
"""Every expectation type the catalogue may declare, with its parameters."""


def _params_error(exc: ValidationError) -> str:
    """A pydantic error on expectation parameters as one short line."""
    first = exc.errors()[0]
    if first["type"] == "extra_forbidden":
        extra = sorted(str(e["loc"][0]) for e in exc.errors() if e["type"] == "extra_forbidden")
        return f"unexpected parameter(s) {', '.join(extra)}"
    name = str(first["loc"][0]) if first["loc"] else None
    if first["type"] == "missing":
        return f"missing parameter {name!r}"
    message = str(first["msg"]).removeprefix("Value error, ")
    if name is None:
        return message
    shown = repr(first["input"])
    got = "" if shown in message else f", got {shown}"
    return f"parameter {name!r} {message[0].lower()}{message[1:]}{got}"


def _leaves(dataset: Dataset) -> dict[str, FieldColumn]:
    try:
        return {leaf.path: leaf for leaf in leaf_fields(dataset.avro_schema())}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ExpectationConfigError(f"cannot read the schema of {dataset.id!r}: {exc}") from exc


def freshness_column(dataset: Dataset, spec: ExpectationSpec) -> str:
    """The field path a freshness expectation checks: its column, else the version field."""
    return spec.column or dataset.version_field


def freshness_max_age(dataset: Dataset, params: FreshnessParams) -> timedelta:
    """The age the newest record may reach: ``max_age``, else the declared update frequency."""
    if params.max_age is not None:
        return parse_duration(params.max_age)
    try:
        return parse_duration(dataset.update_frequency)
    except ValueError as exc:
        raise ExpectationConfigError(f"update_frequency: {exc}") from exc


def check_expectation(
    spec: ExpectationSpec,
    dataset: Dataset,
    catalogue: Catalogue,
    leaves: Mapping[str, FieldColumn] | None = None,
) -> ExpectationParams:
    """An expectation's parameters, checked against its type, its schema and the catalogue.

    Args:
        spec: The expectation as the catalogue declares it.
        dataset: The dataset declaring it.
        catalogue: The catalogue, where ``exists_in`` finds the dataset it names.
        leaves: The dataset's schema fields by path, when the caller already has them.

    Returns:
        The typed parameters (a subclass of :class:`ExpectationParams`).

    Raises:
        ExpectationConfigError: The problem in one line, without the dataset's name; ``field``
            is set when the problem is the expectation's column.
    """
    params_type = EXPECTATION_TYPES.get(spec.type)
    if params_type is None:
        raise ExpectationConfigError(
            f"unknown type; known types: {', '.join(sorted(EXPECTATION_TYPES))}"
        )
    leaves = _leaves(dataset) if leaves is None else leaves
    if params_type.column_use == "required" and spec.column is None:
        raise ExpectationConfigError("missing 'column'")
    if params_type.column_use == "forbidden" and spec.column is not None:
        raise ExpectationConfigError(
            f"takes no 'column' (it checks the whole table), got {spec.column!r}"
        )
    if spec.column is not None and spec.column not in leaves:
        raise ExpectationConfigError(f"the schema has no field {spec.column!r}", field=spec.column)
    try:
        params = params_type.model_validate(spec.params)
    except ValidationError as exc:
        raise ExpectationConfigError(_params_error(exc)) from exc
    if isinstance(params, ExistsInParams):
        _check_exists_in(spec, params, leaves, catalogue)
    elif isinstance(params, FreshnessParams):
        path = freshness_column(dataset, spec)
        leaf = leaves.get(path)
        if leaf is None:
            raise ExpectationConfigError(f"the schema has no field {path!r}", field=path)
        if leaf.logical_type not in _TIMESTAMP_LOGICAL_TYPES:
            raise ExpectationConfigError(
                f"field {path!r} is not a date or a timestamp; freshness needs one", field=path
            )
        freshness_max_age(dataset, params)
    return params


def _check_exists_in(
    spec: ExpectationSpec,
    params: ExistsInParams,
    leaves: Mapping[str, FieldColumn],
    catalogue: Catalogue,
) -> None:
    try:
        target = catalogue.dataset(params.dataset)
    except CatalogueError as exc:
        raise ExpectationConfigError(f"parameter 'dataset': {exc}") from exc
    target_leaves = _leaves(target)
    field = target_leaves.get(params.field)
    if field is None:
        raise ExpectationConfigError(
            f"parameter 'field': dataset {target.id!r} has no field {params.field!r}"
        )
    column = leaves[str(spec.column)]
    if (_base_type(column), column.logical_type) != (_base_type(field), field.logical_type):
        raise ExpectationConfigError(
            f"{spec.column!r} and {target.id}'s {params.field!r} are of different types",
            field=spec.column,
        )


def _expectation_problems(
    dataset: Dataset, leaves: dict[str, FieldColumn], catalogue: Catalogue
) -> list[CatalogueProblem]:
    problems = []
    for index, spec in enumerate(dataset.expectations):
        try:
            check_expectation(spec, dataset, catalogue, leaves)
        except ExpectationConfigError as exc:
            problems.append(
                CatalogueProblem(
                    dataset=dataset.id,
                    field=exc.field or f"expectations[{index}]",
                    message=f"expectation {spec.type!r} (expectations[{index}]): {exc}",
                )
            )
    return problems


def expectation_where(dataset: Dataset, index: int) -> str:
    """How a one-line error names an expectation: its dataset, type and position."""
    spec = dataset.expectations[index]
    return f"dataset {dataset.id!r}, expectation {spec.type!r} (expectations[{index}])"


def check_expectations(dataset: Dataset, catalogue: Catalogue) -> list[ExpectationParams]:
    """Every expectation of a dataset checked (:func:`check_expectation`), in order.

    Raises:
        ExpectationConfigError: The first problem, naming the dataset and the expectation.
    """
    leaves = _leaves(dataset)
    checked = []
    for index, spec in enumerate(dataset.expectations):
        try:
            checked.append(check_expectation(spec, dataset, catalogue, leaves))
        except ExpectationConfigError as exc:
            raise ExpectationConfigError(
                f"{expectation_where(dataset, index)}: {exc}", field=exc.field
            ) from exc
    return checked
