"""Great Expectations suites built from the catalogue, run against the warehouse.

Each dataset's suite comes from its catalogue ``expectations:`` alone; adding an expectation
is a catalogue edit. :func:`run_quality` validates the warehouse tables in the database
(through GX's SQL data sources, never by loading tables into memory), samples the keys of
failing rows in SQL, builds GX Data Docs in a file-backed GX project under the work directory
and returns a typed summary (:mod:`quality.report`).

Which expectation types exist, and their parameters, is declared once in
:data:`schemas.catalogue.EXPECTATION_TYPES`; this module has a GX builder for each.

This is the only module of the project that imports ``great_expectations``; importing it
takes a few seconds, so import it where a quality run is about to happen.
"""

from __future__ import annotations

import os

# Before GX is imported: nothing may phone home.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import unquote, urlparse

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.core.batch_definition import BatchDefinition
from great_expectations.core.expectation_validation_result import (
    ExpectationValidationResult,
)
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.data_context.file_data_context import (
    FileDataContext,
)
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.datasource.fluent import SQLDatasource
from great_expectations.util import convert_to_json_serializable
from sqlalchemy import Engine, create_engine, func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from quality.report import (
    FAILING_KEY_SAMPLE,
    DatasetQuality,
    ExpectationOutcome,
    QualityReport,
)
from schemas.catalogue import (
    EXPECTATION_TYPES,
    BetweenParams,
    Catalogue,
    CatalogueError,
    CompletenessParams,
    Dataset,
    ExistsInParams,
    ExpectationConfigError,
    ExpectationParams,
    ExpectationSpec,
    FieldColumn,
    FormatParams,
    FreshnessParams,
    InReferenceParams,
    InSetParams,
    VolumeParams,
    check_expectation,
    column_name,
    default_catalogue,
    expectation_where,
    freshness_column,
    freshness_max_age,
    leaf_fields,
)
from warehouse.models import AdminUnit

__all__ = [
    "DatasetQuality",
    "ExpectationOutcome",
    "QualityError",
    "QualityReport",
    "SuiteConfigError",
    "SuiteContext",
    "build_suite",
    "run_quality",
]

DATASOURCE_NAME: Final = "warehouse"
CHECKPOINT_NAME: Final = "lgsp_quality"
BATCH_DEFINITION_NAME: Final = "whole_table"
# GX substitutes ${VAR} from the environment, so the URL (and any password in it) is never
# written to the GX project's YAML.
_URL_VARIABLE: Final = "LGSP_GX_WAREHOUSE_URL"
_META_KEY: Final = "lgsp"
_REFERENCE_TABLE: Final = AdminUnit.__tablename__
_UNEXPECTED_ROWS: Final = "unexpected_rows_expectation"
_LEVEL_VI: Final[dict[str, str]] = {
    "province": "cấp tỉnh",
    "district": "cấp huyện",
    "commune": "cấp xã",
}


class SuiteConfigError(CatalogueError):
    """A catalogue expectation is of an unknown type or has bad parameters; the message names
    the dataset and the expectation."""


class QualityError(RuntimeError):
    """A quality run cannot happen: the warehouse is unreachable or lacks a table."""


Progress = Callable[[str, int, int], None]
"""Told ``(step, done, total)`` before each dataset's suite runs (``step`` is its id) and
before Data Docs are built (``step`` is ``"Data Docs"``, ``done == total``)."""


@dataclass(frozen=True)
class SuiteContext:
    """What a suite depends on besides the catalogue.

    Attributes:
        now: The moment freshness is measured from (aware).
        previous_row_count: The dataset's row count at the last stored run, for ``volume``;
            ``None`` on a first run.
        naive_timestamps: Whether the database returns timestamps without a zone (SQLite
            keeps UTC wall time), so freshness compares naive UTC values.
    """

    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    previous_row_count: int | None = None
    naive_timestamps: bool = False


# --- suites ----------------------------------------------------------------------------------


_P = TypeVar("_P", bound=ExpectationParams)


@dataclass(frozen=True)
class _Target:
    """One catalogue expectation, checked, with everything a builder needs."""

    dataset: Dataset
    spec: ExpectationSpec
    params: ExpectationParams
    path: str | None
    leaf: FieldColumn | None
    catalogue: Catalogue
    context: SuiteContext

    def params_of(self, kind: type[_P]) -> _P:
        """The parameters, as the type the builder was registered for."""
        if not isinstance(self.params, kind):
            raise TypeError(f"{self.spec.type} parameters are {type(self.params).__name__}")
        return self.params

    @property
    def column(self) -> str:
        if self.path is None:
            raise SuiteConfigError(f"{self.spec.type} checks no column")
        return column_name(self.path)


def _quoted(identifier: str) -> str:
    # Double quotes name a column in both SQLite and PostgreSQL; catalogue paths hold no quotes.
    return '"' + identifier.replace('"', '""') + '"'


def _not_null(target: _Target) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToNotBeNull(column=target.column)


def _unique(target: _Target) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeUnique(column=target.column)


def _completeness(target: _Target) -> gxe.Expectation:
    params = target.params_of(CompletenessParams)
    return gxe.ExpectColumnValuesToNotBeNull(column=target.column, mostly=params.min)


def _in_set(target: _Target) -> gxe.Expectation:
    params = target.params_of(InSetParams)
    return gxe.ExpectColumnValuesToBeInSet(column=target.column, value_set=list(params.values))


def _between(target: _Target) -> gxe.Expectation:
    params = target.params_of(BetweenParams)
    return gxe.ExpectColumnValuesToBeBetween(
        column=target.column, min_value=params.min, max_value=params.max
    )


def _in_reference(target: _Target) -> gxe.Expectation:
    params = target.params_of(InReferenceParams)
    level = params.reference
    column = _quoted(target.column)
    # Any list counts here: which list applies on a record's event date is checked per
    # record by the stream validator; this catches codes no list has ever had.
    query = (
        f"SELECT * FROM {{batch}} WHERE {column} IS NOT NULL AND {column} NOT IN "
        f"(SELECT code FROM {_REFERENCE_TABLE} WHERE level = '{level}')"
    )
    description = (
        f"{target.path}: every code is a {level} code of a published administrative unit list "
        f"({_REFERENCE_TABLE}) / mọi mã là mã đơn vị hành chính {_LEVEL_VI[level]} "
        f"có trong danh mục đã công bố"
    )
    return gxe.UnexpectedRowsExpectation(unexpected_rows_query=query, description=description)


def _format(target: _Target) -> gxe.Expectation:
    params = target.params_of(FormatParams)
    return gxe.ExpectColumnValuesToMatchRegex(
        column=target.column, regex=params.pattern, mostly=params.min
    )


def _exists_in(target: _Target) -> gxe.Expectation:
    params = target.params_of(ExistsInParams)
    referenced = target.catalogue.dataset(params.dataset)
    column = _quoted(target.column)
    field_column = _quoted(column_name(params.field))
    # An anti-join, not NOT IN: both databases run it on the referenced key, where
    # PostgreSQL would rescan a NOT IN subquery too large for its hash table. The JOIN also
    # tells GX to leave {batch} unaliased, so "checked" can name it.
    query = (
        f"SELECT checked.* FROM {{batch}} AS checked "
        f"LEFT JOIN {_quoted(referenced.table_name)} AS referenced "
        f"ON referenced.{field_column} = checked.{column} "
        f"WHERE checked.{column} IS NOT NULL AND referenced.{field_column} IS NULL"
    )
    description = (
        f"{target.path}: every value is a {params.field} in {referenced.id} "
        f"({referenced.table_name}) / mọi giá trị có trong {referenced.title.vi} "
        f"({referenced.id}.{params.field})"
    )
    return gxe.UnexpectedRowsExpectation(unexpected_rows_query=query, description=description)


def _freshness(target: _Target) -> gxe.Expectation:
    params = target.params_of(FreshnessParams)
    now = target.context.now.astimezone(UTC)
    cutoff = now - freshness_max_age(target.dataset, params)
    oldest: Any
    if target.leaf is not None and target.leaf.logical_type == "date":
        oldest = cutoff.date()
    elif target.context.naive_timestamps:
        oldest = cutoff.replace(tzinfo=None)
    else:
        oldest = cutoff
    return gxe.ExpectColumnMaxToBeBetween(column=target.column, min_value=oldest)


def _volume(target: _Target) -> gxe.Expectation:
    params = target.params_of(VolumeParams)
    previous = target.context.previous_row_count
    low: int | None = None
    high: int | None = None
    if previous is not None:
        if params.max_drop is not None:
            low = math.ceil(previous * (1 - params.max_drop))
        # From an empty table any growth is infinite: only a drop bound applies then.
        if params.max_growth is not None and previous > 0:
            high = math.floor(previous * (1 + params.max_growth))
    # A first run has nothing to compare with: any count passes.
    return gxe.ExpectTableRowCountToBeBetween(
        min_value=low if low is not None else 0, max_value=high
    )


_Builder = Callable[[_Target], gxe.Expectation]

_BUILDERS: Final[Mapping[str, _Builder]] = {
    "not_null": _not_null,
    "unique": _unique,
    "completeness": _completeness,
    "in_set": _in_set,
    "between": _between,
    "in_reference": _in_reference,
    "format": _format,
    "exists_in": _exists_in,
    "freshness": _freshness,
    "volume": _volume,
}
if set(_BUILDERS) != set(EXPECTATION_TYPES):  # pragma: no cover - caught by the tests
    raise ImportError(
        "quality.suites has builders for "
        f"{sorted(_BUILDERS)} but the catalogue knows {sorted(EXPECTATION_TYPES)}"
    )


def expectation_names(dataset: Dataset) -> list[str]:
    """Each expectation's stable name: ``<type>:<field path or ->``, repeats numbered."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for spec in dataset.expectations:
        path = freshness_column(dataset, spec) if spec.type == "freshness" else spec.column
        base = f"{spec.type}:{path or '-'}"
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
    return names


def _expectation(
    dataset: Dataset,
    index: int,
    name: str,
    leaves: Mapping[str, FieldColumn],
    catalogue: Catalogue,
    context: SuiteContext,
) -> gxe.Expectation:
    spec = dataset.expectations[index]
    params = check_expectation(spec, dataset, catalogue, leaves)
    path = freshness_column(dataset, spec) if isinstance(params, FreshnessParams) else spec.column
    target = _Target(
        dataset=dataset,
        spec=spec,
        params=params,
        path=path,
        leaf=leaves.get(path) if path is not None else None,
        catalogue=catalogue,
        context=context,
    )
    try:
        expectation = _BUILDERS[spec.type](target)
    except ValueError as exc:  # GX rejects the arguments (pydantic)
        raise ExpectationConfigError(str(exc).replace("\n", " ")) from exc
    critical = "yes" if spec.critical else "no"
    expectation.meta = {
        _META_KEY: {
            "name": name,
            "index": index,
            "type": spec.type,
            "column": path,
            "critical": spec.critical,
            "weight": spec.weight,
        },
        "notes": f"Catalogue: {spec.type} on {path or 'the table'}; critical: {critical}; "
        f"weight: {spec.weight:g}",
    }
    return expectation


def build_suite(
    dataset: Dataset,
    *,
    catalogue: Catalogue | None = None,
    context: SuiteContext | None = None,
) -> gx.ExpectationSuite:
    """The GX suite of a dataset, from its catalogue expectations alone.

    Every expectation carries its stable name, its index in the catalogue list, the catalogue
    type, field path, ``critical`` and ``weight`` in ``meta["lgsp"]``.

    Args:
        dataset: The catalogue entry.
        catalogue: Where ``exists_in`` finds the datasets it names; the project's by default.
        context: The moment, the previous row count and the database's timestamp style;
            now, no previous run and zoned timestamps by default.

    Returns:
        An unsaved suite named after the dataset id.

    Raises:
        SuiteConfigError: An expectation has an unknown type, names a field the schema does
            not have, or has bad parameters.
    """
    catalogue = catalogue or default_catalogue()
    context = context or SuiteContext()
    try:
        leaves = {leaf.path: leaf for leaf in leaf_fields(dataset.avro_schema())}
    except (OSError, ValueError) as exc:
        raise SuiteConfigError(f"dataset {dataset.id!r}: cannot read its schema: {exc}") from exc
    names = expectation_names(dataset)
    expectations = []
    for index in range(len(dataset.expectations)):
        try:
            expectations.append(
                _expectation(dataset, index, names[index], leaves, catalogue, context)
            )
        except ExpectationConfigError as exc:
            raise SuiteConfigError(f"{expectation_where(dataset, index)}: {exc}") from exc
    return gx.ExpectationSuite(name=dataset.id, expectations=expectations)


# --- running ---------------------------------------------------------------------------------


def _safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip()
    return text.splitlines()[0] if text else type(cause).__name__


def _sqlite_file_exists(database: str | None) -> bool:
    """Whether a SQLite URL's database exists (in-memory databases always do)."""
    return database in (None, "", ":memory:") or Path(database).is_file()


def _open_warehouse(warehouse_url: str, tables: Sequence[str], *, reference: bool) -> Engine:
    """An engine on the warehouse, once shown to hold every table the suites read.

    Raises:
        QualityError: In one line, whatever would keep GX from validating the warehouse.
    """
    shown = _safe_url(warehouse_url)
    try:
        url = make_url(warehouse_url)
        # Connecting to a missing SQLite file would silently create an empty database.
        if url.get_backend_name() == "sqlite" and not _sqlite_file_exists(url.database):
            raise QualityError(f"warehouse {shown}: database file {url.database} does not exist")
        engine = create_engine(url)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise QualityError(f"warehouse URL {shown} is not usable: {_first_line(exc)}") from exc
    try:
        with engine.connect() as connection:
            present = set(inspect(connection).get_table_names())
            needed = [*dict.fromkeys(tables), *([_REFERENCE_TABLE] if reference else [])]
            if missing := [table for table in needed if table not in present]:
                raise QualityError(
                    f"warehouse {shown} has no table {', '.join(missing)}; "
                    "create the warehouse schema first"
                )
            if reference and not connection.scalar(select(func.count()).select_from(AdminUnit)):
                raise QualityError(
                    f"warehouse {shown}: {_REFERENCE_TABLE} is empty; load it with "
                    "warehouse.reference.load_reference_tables"
                )
    except SQLAlchemyError as exc:
        engine.dispose()
        raise QualityError(f"cannot reach warehouse {shown}: {_first_line(exc)}") from exc
    except QualityError:
        engine.dispose()
        raise
    return engine


@contextmanager
def _url_in_environment(warehouse_url: str) -> Iterator[None]:
    previous = os.environ.get(_URL_VARIABLE)
    os.environ[_URL_VARIABLE] = warehouse_url
    try:
        yield
    finally:
        if previous is None:
            del os.environ[_URL_VARIABLE]
        else:
            os.environ[_URL_VARIABLE] = previous


def _context(workdir: Path) -> FileDataContext:
    """The file-backed GX project under ``workdir/gx``, quiet and offline."""
    workdir.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=workdir)
    # tqdm progress bars would print to stderr on every validation.
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    context.variables.analytics_enabled = False
    # The "how to" footer links stewards to GX tutorials; it has no place in a province's report.
    sites = dict(context.variables.data_docs_sites or {})
    for site in sites.values():
        site["show_how_to_buttons"] = False
    context.variables.data_docs_sites = sites
    context.variables.save()
    return context


def _datasource(context: FileDataContext, warehouse_url: str) -> SQLDatasource:
    """A fresh warehouse data source, replacing any earlier one and its assets."""
    # Earlier versions ran a checkpoint naming the assets of the last run; it must not be
    # left pointing at assets that are about to go.
    if CHECKPOINT_NAME in {c.name for c in context.checkpoints.all()}:
        context.checkpoints.delete(CHECKPOINT_NAME)
    if DATASOURCE_NAME in context.data_sources.all():
        # add_or_update refuses to change the type, e.g. when a workdir moves to PostgreSQL.
        context.data_sources.delete(DATASOURCE_NAME)
    backend = make_url(warehouse_url).get_backend_name()
    template = f"${{{_URL_VARIABLE}}}"
    if backend == "sqlite":
        return context.data_sources.add_sqlite(DATASOURCE_NAME, connection_string=template)
    if backend == "postgresql":
        return context.data_sources.add_postgres(DATASOURCE_NAME, connection_string=template)
    return context.data_sources.add_sql(DATASOURCE_NAME, connection_string=template)


def _exception_message(result: ExpectationValidationResult) -> str | None:
    info = result.exception_info or {}
    # GX reports either one exception or one per failed metric.
    entries = [info] if "raised_exception" in info else list(info.values())
    for entry in entries:
        if isinstance(entry, dict) and entry.get("raised_exception"):
            return str(entry.get("exception_message") or "GX raised an exception").splitlines()[0]
    return None


def _json_safe(value: Any) -> Any:
    return convert_to_json_serializable(value)


def _sorted_keys(keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(keys, key=lambda key: json.dumps(key, sort_keys=True, ensure_ascii=False))


class _DatasetRun:
    """One dataset's validation: its table's counts and the outcomes of its suite."""

    def __init__(self, dataset: Dataset, engine: Engine) -> None:
        self.dataset = dataset
        self.engine = engine
        self.key_columns = [column_name(path) for path in dataset.key]

    def counts(self) -> tuple[int, dict[str, int]]:
        """Rows in the table, and rows per source system (lineage column)."""
        table = _quoted(self.dataset.table_name)
        with self.engine.connect() as connection:
            columns = {c["name"] for c in inspect(connection).get_columns(self.dataset.table_name)}
            if "source_system" not in columns:
                count = int(connection.scalar(text(f"SELECT COUNT(*) FROM {table}")) or 0)
                return count, ({self.dataset.source_system: count} if count else {})
            rows = connection.execute(
                text(f"SELECT source_system, COUNT(*) FROM {table} GROUP BY source_system")
            ).all()
        sources: dict[str, int] = {}
        for source, count in rows:
            name = source or self.dataset.source_system
            sources[name] = sources.get(name, 0) + int(count)
        return sum(sources.values()), dict(sorted(sources.items()))

    # Two passes: sampling failing rows costs GX a scan per expectation, and a scan that finds
    # nothing reads the whole table, so the first pass (stored, shown in Data Docs) only
    # counts, and the second samples values and keys of the expectations that failed.
    def count_format(self) -> dict[str, Any]:
        return {"result_format": "BASIC", "partial_unexpected_count": 0}

    def sample_format(self) -> dict[str, Any]:
        return {
            "result_format": "SUMMARY",
            # GX samples the failing rows' keys in SQL, at most partial_unexpected_count.
            "unexpected_index_column_names": self.key_columns,
            "partial_unexpected_count": FAILING_KEY_SAMPLE,
        }

    def _keys(self, row: Mapping[str, Any]) -> dict[str, Any]:
        return {
            path: _json_safe(row.get(column))
            for path, column in zip(self.dataset.key, self.key_columns, strict=True)
        }

    def _unexpected_rows(self, query: str, column: str | None) -> tuple[list[Any], list[Any]]:
        """Keys and values of some rows an unexpected-rows query returns, from its own SQL."""
        keys = ", ".join(f"failing.{_quoted(c)}" for c in self.key_columns)
        value = f", failing.{_quoted(column)} AS checked_value" if column is not None else ""
        order = ", ".join(str(n) for n in range(1, len(self.key_columns) + 1))
        # The very query GX ran, on the dataset's table, so the keys are those GX counted.
        rows_query = query.format(batch=_quoted(self.dataset.table_name))
        sample = text(
            f"SELECT {keys}{value} FROM ({rows_query}) AS failing "
            f"ORDER BY {order} LIMIT {FAILING_KEY_SAMPLE}"
        )
        with self.engine.connect() as connection:
            rows = [dict(row) for row in connection.execute(sample).mappings()]
        values = [_json_safe(row["checked_value"]) for row in rows] if column else []
        return [self._keys(row) for row in rows], values

    def outcome(
        self, result: ExpectationValidationResult, sampled: ExpectationValidationResult | None
    ) -> ExpectationOutcome:
        """An expectation's outcome from its counting pass and, if it failed, its sampling."""
        config = result.expectation_config
        meta = (config.meta or {}).get(_META_KEY, {})
        details = result.result or {}
        gx_type = config.type
        error = _exception_message(result)
        success = bool(result.success)
        unexpected = details.get("unexpected_count")
        sample: list[Any] = []
        keys: list[dict[str, Any]] = []
        if sampled is not None:
            found = sampled.result or {}
            sample = _json_safe(found.get("partial_unexpected_list") or [])
            keys = [self._keys(row) for row in found.get("partial_unexpected_index_list") or []]
        if gx_type == _UNEXPECTED_ROWS:
            unexpected = details.get("observed_value")
            if not success and error is None:
                column = meta.get("column")
                try:
                    keys, sample = self._unexpected_rows(
                        config.kwargs["unexpected_rows_query"],
                        column_name(column) if column else None,
                    )
                except SQLAlchemyError as exc:
                    error = f"sampling the failing rows failed: {_first_line(exc)}"
        return ExpectationOutcome(
            expectation=meta.get("name", gx_type),
            type=meta.get("type", gx_type),
            gx_type=gx_type,
            column=meta.get("column", config.kwargs.get("column")),
            success=success,
            critical=bool(meta.get("critical", False)),
            weight=float(meta.get("weight", 1.0)),
            observed_value=_json_safe(details.get("observed_value")),
            element_count=details.get("element_count"),
            unexpected_count=unexpected,
            unexpected_percent=details.get("unexpected_percent"),
            sample=sample,
            failing_keys=_sorted_keys(keys),
            error=error,
        )


def _dataset_quality(
    outcomes: list[ExpectationOutcome], row_count: int, sources: dict[str, int]
) -> DatasetQuality:
    failed = [outcome for outcome in outcomes if not outcome.success]
    return DatasetQuality(
        success=not failed,
        evaluated=len(outcomes),
        failed=len(failed),
        critical_failed=sum(outcome.critical for outcome in failed),
        results=outcomes,
        row_count=row_count,
        sources=sources,
    )


def _tables_read(selected: Sequence[Dataset], catalogue: Catalogue) -> list[str]:
    tables = [dataset.table_name for dataset in selected]
    for dataset in selected:
        for spec in dataset.expectations:
            if spec.type == "exists_in":
                tables.append(catalogue.dataset(str(spec.params.get("dataset"))).table_name)
    return tables


def run_quality(
    warehouse_url: str,
    workdir: Path,
    datasets: list[str] | None = None,
    *,
    catalogue: Catalogue | None = None,
    now: datetime | None = None,
    previous_row_counts: Mapping[str, int] | None = None,
    progress: Progress | None = None,
) -> QualityReport:
    """Validate warehouse tables against their catalogue suites and build Data Docs.

    Each dataset's suite runs on its own, so progress can be shown per dataset; all share one
    GX run id, and Data Docs are rebuilt once at the end. Re-running in the same work
    directory replaces the suites, data source and definitions by name; GX keeps earlier
    validation results, so Data Docs show the history.

    Args:
        warehouse_url: SQLAlchemy URL of the warehouse (SQLite or PostgreSQL).
        workdir: Work directory; the GX project lives in ``workdir / "gx"``.
        datasets: Dataset ids to check; every catalogue dataset when ``None``.
        catalogue: The catalogue to build suites from; the project's by default.
        now: The moment freshness is measured from; the start of the run by default.
        previous_row_counts: Each dataset's row count at the last stored run, for ``volume``
            (:func:`quality.history.previous_row_counts`); a dataset missing here has no
            earlier run to compare with.
        progress: Told of each step (see :data:`Progress`).

    Returns:
        When the run happened, the path of the Data Docs index page and every dataset's
        outcome, with samples of the keys of failing rows.

    Raises:
        QualityError: An unknown dataset id, an unreachable warehouse or a missing table.
        SuiteConfigError: A catalogue expectation cannot be turned into a GX expectation.
    """
    catalogue = catalogue or default_catalogue()
    try:
        selected = (
            list(catalogue.datasets)
            if datasets is None
            else [catalogue.dataset(dataset_id) for dataset_id in datasets]
        )
    except CatalogueError as exc:
        raise QualityError(str(exc)) from exc
    started = datetime.now(UTC)
    try:
        naive = make_url(warehouse_url).get_backend_name() == "sqlite"
    except ArgumentError as exc:
        shown = _safe_url(warehouse_url)
        raise QualityError(f"warehouse URL {shown} is not usable: {_first_line(exc)}") from exc
    previous = previous_row_counts or {}
    suites = [
        build_suite(
            dataset,
            catalogue=catalogue,
            context=SuiteContext(
                now=now or started,
                previous_row_count=previous.get(dataset.id),
                naive_timestamps=naive,
            ),
        )
        for dataset in selected
    ]
    uses_reference = any(e.type == "in_reference" for d in selected for e in d.expectations)
    engine = _open_warehouse(
        warehouse_url, _tables_read(selected, catalogue), reference=uses_reference
    )
    try:
        context = _context(Path(workdir))
        qualities = _validate(context, engine, warehouse_url, selected, suites, progress)
        if progress is not None:
            progress("Data Docs", len(selected), len(selected))
        context.build_data_docs()
    except SQLAlchemyError as exc:
        raise QualityError(
            f"warehouse {_safe_url(warehouse_url)} failed during the run: {_first_line(exc)}"
        ) from exc
    finally:
        engine.dispose()
    sites = context.get_docs_sites_urls(only_if_exists=True)
    if not sites:
        raise QualityError(f"GX built no Data Docs under {Path(workdir) / 'gx'}")
    return QualityReport(
        report=Path(unquote(urlparse(sites[0]["site_url"]).path)),
        datasets=qualities,
        started_at=started,
        finished_at=datetime.now(UTC),
    )


def _validate(
    context: FileDataContext,
    engine: Engine,
    warehouse_url: str,
    selected: Sequence[Dataset],
    suites: Sequence[gx.ExpectationSuite],
    progress: Progress | None,
) -> dict[str, DatasetQuality]:
    """Run each dataset's suite through GX; the outcomes by dataset id, in catalogue order."""
    run_id = RunIdentifier(run_name="lgsp-quality", run_time=datetime.now(UTC))
    qualities: dict[str, DatasetQuality] = {}
    with _url_in_environment(warehouse_url):
        datasource = _datasource(context, warehouse_url)
        try:
            for done, (dataset, suite) in enumerate(zip(selected, suites, strict=True)):
                if progress is not None:
                    progress(dataset.id, done, len(selected))
                asset = datasource.add_table_asset(dataset.id, table_name=dataset.table_name)
                batch = asset.add_batch_definition_whole_table(BATCH_DEFINITION_NAME)
                definition = context.validation_definitions.add_or_update(
                    gx.ValidationDefinition(
                        name=dataset.id, data=batch, suite=context.suites.add_or_update(suite)
                    )
                )
                checking = _DatasetRun(dataset, engine)
                row_count, sources = checking.counts()
                validation = definition.run(result_format=checking.count_format(), run_id=run_id)
                samples = _sample_failures(batch, suite, validation.results, checking)
                order = {name: index for index, name in enumerate(expectation_names(dataset))}
                outcomes = sorted(
                    (
                        checking.outcome(result, samples.get(_name_of(result)))
                        for result in validation.results
                    ),
                    key=lambda outcome: order.get(outcome.expectation, len(order)),
                )
                qualities[dataset.id] = _dataset_quality(outcomes, row_count, sources)
        finally:
            datasource.get_engine().dispose()
    return qualities


def _name_of(result: ExpectationValidationResult) -> str:
    return str((result.expectation_config.meta or {}).get(_META_KEY, {}).get("name", ""))


def _sample_failures(
    batch_definition: BatchDefinition,
    suite: gx.ExpectationSuite,
    results: Sequence[ExpectationValidationResult],
    checking: _DatasetRun,
) -> dict[str, ExpectationValidationResult]:
    """Values and keys of failing rows for each failed row-level expectation, by name.

    Validated on the batch directly, so nothing is stored: the run's stored result is the
    counting pass. Unexpected-rows expectations are sampled by :class:`_DatasetRun` itself.
    """
    failed = {
        _name_of(result)
        for result in results
        if not result.success
        and _exception_message(result) is None
        and (result.result or {}).get("unexpected_count")
    }
    if not failed:
        return {}
    batch = batch_definition.get_batch()
    return {
        name: batch.validate(expectation, result_format=checking.sample_format())
        for expectation in suite.expectations
        if (name := str((expectation.meta or {}).get(_META_KEY, {}).get("name"))) in failed
    }
