"""Great Expectations suites built from the catalogue, run against the warehouse.

Each dataset's suite comes from its catalogue ``expectations:`` alone; adding an expectation
is a catalogue edit. :func:`run_quality` validates the warehouse tables in the database
(through GX's SQL data sources, never by loading tables into memory), builds GX Data Docs in
a file-backed GX project under the work directory and returns a typed summary.

This is the only module of the project that imports ``great_expectations``; importing it
takes a few seconds, so import it where a quality run is about to happen.
"""

from __future__ import annotations

import os

# Before GX is imported: nothing may phone home.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlparse

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.checkpoint import UpdateDataDocsAction
from great_expectations.core.expectation_validation_result import (
    ExpectationValidationResult,
)
from great_expectations.data_context.data_context.file_data_context import (
    FileDataContext,
)
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.datasource.fluent import SQLDatasource
from great_expectations.util import convert_to_json_serializable
from pydantic import BaseModel, ConfigDict
from sqlalchemy import create_engine, func, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from schemas.catalogue import (
    Catalogue,
    CatalogueError,
    Dataset,
    ExpectationSpec,
    column_name,
    default_catalogue,
    leaf_fields,
)
from warehouse.models import AdminUnit

DATASOURCE_NAME: Final = "warehouse"
CHECKPOINT_NAME: Final = "lgsp_quality"
BATCH_DEFINITION_NAME: Final = "whole_table"
# GX substitutes ${VAR} from the environment, so the URL (and any password in it) is never
# written to the GX project's YAML.
_URL_VARIABLE: Final = "LGSP_GX_WAREHOUSE_URL"
_META_KEY: Final = "lgsp"
_REFERENCE_TABLE: Final = AdminUnit.__tablename__
_LEVEL_VI: Final[dict[str, str]] = {
    "province": "cấp tỉnh",
    "district": "cấp huyện",
    "commune": "cấp xã",
}


class SuiteConfigError(ValueError):
    """A catalogue expectation is of an unknown type or has bad parameters."""


class QualityError(RuntimeError):
    """A quality run cannot happen: the warehouse is unreachable or lacks a table."""


class ExpectationOutcome(BaseModel):
    """The result of one catalogue expectation.

    Attributes:
        type: The catalogue type (``completeness``, ``in_reference``, ...).
        gx_type: The GX expectation that implements it.
        column: The catalogue field path it checks.
        success: Whether it held.
        critical: Whether the catalogue marks it critical.
        weight: Its weight in a dataset score.
        observed_value: GX's observed value, where the expectation has one (JSON-safe).
        unexpected_count: Rows that broke it, where GX counts them.
        unexpected_percent: Their share of the checked rows, in percent.
        sample: Some unexpected values (JSON-safe), for stewards.
        error: Why GX could not evaluate it, if it could not.
    """

    model_config = ConfigDict(frozen=True)

    type: str
    gx_type: str
    column: str | None
    success: bool
    critical: bool
    weight: float
    observed_value: Any = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    sample: list[Any] = []
    error: str | None = None


class DatasetQuality(BaseModel):
    """The outcome of one dataset's suite."""

    model_config = ConfigDict(frozen=True)

    success: bool
    evaluated: int
    failed: int
    critical_failed: int
    results: list[ExpectationOutcome]


class QualityReport(BaseModel):
    """One quality run: the Data Docs page and every dataset's outcome."""

    model_config = ConfigDict(frozen=True)

    report: Path
    datasets: dict[str, DatasetQuality]


# --- suites ----------------------------------------------------------------------------------


class _Params:
    """An expectation's catalogue parameters; leftovers are reported by :meth:`unread`."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self._params = dict(params)
        self._read: set[str] = set()

    def get(self, name: str, *, required: bool = True) -> Any:
        self._read.add(name)
        if required and self._params.get(name) is None:
            raise SuiteConfigError(f"missing parameter {name!r}")
        return self._params.get(name)

    def number(self, name: str, *, required: bool = True) -> float | None:
        value = self.get(name, required=required)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise SuiteConfigError(f"parameter {name!r} must be a number, got {value!r}")
        return value

    def unread(self) -> list[str]:
        return sorted(set(self._params) - self._read)


_Builder = Callable[[str, str, _Params], gxe.Expectation]


def _not_null(path: str, column: str, params: _Params) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToNotBeNull(column=column)


def _unique(path: str, column: str, params: _Params) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeUnique(column=column)


def _completeness(path: str, column: str, params: _Params) -> gxe.Expectation:
    share = params.number("min")
    if share is None or not 0 < share <= 1:
        raise SuiteConfigError(f"parameter 'min' must be a share in (0, 1], got {share!r}")
    return gxe.ExpectColumnValuesToNotBeNull(column=column, mostly=share)


def _in_set(path: str, column: str, params: _Params) -> gxe.Expectation:
    values = params.get("values")
    if not isinstance(values, list | tuple) or not values:
        raise SuiteConfigError(f"parameter 'values' must be a non-empty list, got {values!r}")
    return gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(values))


def _between(path: str, column: str, params: _Params) -> gxe.Expectation:
    low = params.number("min", required=False)
    high = params.number("max", required=False)
    if low is None and high is None:
        raise SuiteConfigError("give 'min', 'max' or both")
    if low is not None and high is not None and low > high:
        raise SuiteConfigError(f"'min' {low} is above 'max' {high}")
    return gxe.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high)


def _in_reference(path: str, column: str, params: _Params) -> gxe.Expectation:
    level = params.get("reference")
    if level not in _LEVEL_VI:
        raise SuiteConfigError(
            f"parameter 'reference' must be one of {', '.join(_LEVEL_VI)}, got {level!r}"
        )
    # Any list counts here: which list applies on a record's event date is checked per
    # record by the stream validator; this catches codes no list has ever had.
    query = (
        f'SELECT * FROM {{batch}} WHERE "{column}" IS NOT NULL AND "{column}" NOT IN '
        f"(SELECT code FROM {_REFERENCE_TABLE} WHERE level = '{level}')"
    )
    description = (
        f"{path}: every code is a {level} code of a published administrative unit list "
        f"({_REFERENCE_TABLE}) / mọi mã là mã đơn vị hành chính {_LEVEL_VI[level]} "
        f"có trong danh mục đã công bố"
    )
    return gxe.UnexpectedRowsExpectation(unexpected_rows_query=query, description=description)


EXPECTATION_TYPES: Final[Mapping[str, _Builder]] = {
    "not_null": _not_null,
    "unique": _unique,
    "completeness": _completeness,
    "in_set": _in_set,
    "between": _between,
    "in_reference": _in_reference,
}


def _expectation(spec: ExpectationSpec, columns: set[str]) -> gxe.Expectation:
    builder = EXPECTATION_TYPES.get(spec.type)
    if builder is None:
        raise SuiteConfigError(f"unknown type; known types: {', '.join(sorted(EXPECTATION_TYPES))}")
    if spec.column is None:
        raise SuiteConfigError("missing 'column'")
    if spec.column not in columns:
        raise SuiteConfigError(f"the schema has no field {spec.column!r}")
    params = _Params(spec.params)
    try:
        expectation = builder(spec.column, column_name(spec.column), params)
    except SuiteConfigError:
        raise
    except ValueError as exc:  # GX rejects the arguments (pydantic)
        raise SuiteConfigError(str(exc).replace("\n", " ")) from exc
    if unread := params.unread():
        raise SuiteConfigError(f"unexpected parameter(s) {', '.join(unread)}")
    critical = "yes" if spec.critical else "no"
    expectation.meta = {
        _META_KEY: {
            "type": spec.type,
            "column": spec.column,
            "critical": spec.critical,
            "weight": spec.weight,
        },
        "notes": f"Catalogue: {spec.type} on {spec.column}; critical: {critical}; "
        f"weight: {spec.weight:g}",
    }
    return expectation


def build_suite(dataset: Dataset) -> gx.ExpectationSuite:
    """The GX suite of a dataset, from its catalogue expectations alone.

    Every expectation carries the catalogue type, field path, ``critical`` and ``weight`` in
    ``meta["lgsp"]``.

    Args:
        dataset: The catalogue entry.

    Returns:
        An unsaved suite named after the dataset id.

    Raises:
        SuiteConfigError: An expectation has an unknown type, names a field the schema does
            not have, or has bad parameters.
    """
    try:
        columns = {leaf.path for leaf in leaf_fields(dataset.avro_schema())}
    except (OSError, ValueError) as exc:
        raise SuiteConfigError(f"dataset {dataset.id!r}: cannot read its schema: {exc}") from exc
    expectations = []
    for index, spec in enumerate(dataset.expectations):
        try:
            expectations.append(_expectation(spec, columns))
        except SuiteConfigError as exc:
            where = f"dataset {dataset.id!r}, expectation {spec.type!r} (expectations[{index}])"
            raise SuiteConfigError(f"{where}: {exc}") from exc
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


def _check_warehouse(warehouse_url: str, tables: Sequence[str], *, reference: bool) -> None:
    """Fail fast, in one line, when GX could not validate the warehouse."""
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
            needed = [*tables, _REFERENCE_TABLE] if reference else list(tables)
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
        raise QualityError(f"cannot reach warehouse {shown}: {_first_line(exc)}") from exc
    finally:
        engine.dispose()


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
    # The checkpoint names the assets of the last run; a run over other datasets must not
    # find it pointing at assets that are about to go.
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


def _outcome(result: ExpectationValidationResult) -> ExpectationOutcome:
    config = result.expectation_config
    meta = (config.meta or {}).get(_META_KEY, {})
    details = result.result or {}
    gx_type = config.type
    unexpected = details.get("unexpected_count")
    if unexpected is None and gx_type == "unexpected_rows_expectation":
        unexpected = details.get("observed_value")
    return ExpectationOutcome(
        type=meta.get("type", gx_type),
        gx_type=gx_type,
        column=meta.get("column", config.kwargs.get("column")),
        success=bool(result.success),
        critical=bool(meta.get("critical", False)),
        weight=float(meta.get("weight", 1.0)),
        observed_value=convert_to_json_serializable(details.get("observed_value")),
        unexpected_count=unexpected,
        unexpected_percent=details.get("unexpected_percent"),
        sample=convert_to_json_serializable(details.get("partial_unexpected_list") or []),
        error=_exception_message(result),
    )


def _dataset_quality(outcomes: list[ExpectationOutcome]) -> DatasetQuality:
    failed = [outcome for outcome in outcomes if not outcome.success]
    return DatasetQuality(
        success=not failed,
        evaluated=len(outcomes),
        failed=len(failed),
        critical_failed=sum(outcome.critical for outcome in failed),
        results=outcomes,
    )


def run_quality(
    warehouse_url: str,
    workdir: Path,
    datasets: list[str] | None = None,
    *,
    catalogue: Catalogue | None = None,
) -> QualityReport:
    """Validate warehouse tables against their catalogue suites and build Data Docs.

    All datasets run through one GX checkpoint, so Data Docs are rebuilt once. Re-running in
    the same work directory replaces the suites, data source and definitions by name; GX
    keeps earlier validation results, so Data Docs show the history.

    Args:
        warehouse_url: SQLAlchemy URL of the warehouse (SQLite or PostgreSQL).
        workdir: Work directory; the GX project lives in ``workdir / "gx"``.
        datasets: Dataset ids to check; every catalogue dataset when ``None``.
        catalogue: The catalogue to build suites from; the project's by default.

    Returns:
        The path of the Data Docs index page and every dataset's outcome.

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
    suites = [build_suite(dataset) for dataset in selected]
    uses_reference = any(e.type == "in_reference" for d in selected for e in d.expectations)
    _check_warehouse(warehouse_url, [d.table_name for d in selected], reference=uses_reference)

    context = _context(Path(workdir))
    with _url_in_environment(warehouse_url):
        datasource = _datasource(context, warehouse_url)
        try:
            definitions = []
            for dataset, suite in zip(selected, suites, strict=True):
                asset = datasource.add_table_asset(dataset.id, table_name=dataset.table_name)
                batch = asset.add_batch_definition_whole_table(BATCH_DEFINITION_NAME)
                definitions.append(
                    context.validation_definitions.add_or_update(
                        gx.ValidationDefinition(
                            name=dataset.id, data=batch, suite=context.suites.add_or_update(suite)
                        )
                    )
                )
            checkpoint = context.checkpoints.add_or_update(
                gx.Checkpoint(
                    name=CHECKPOINT_NAME,
                    validation_definitions=definitions,
                    actions=[UpdateDataDocsAction(name="update_data_docs")],
                    result_format="SUMMARY",
                )
            )
            result = checkpoint.run()
        finally:
            datasource.get_engine().dispose()

    outcomes: dict[str, list[ExpectationOutcome]] = {dataset.id: [] for dataset in selected}
    for validation in result.run_results.values():
        outcomes[validation.suite_name] = [_outcome(r) for r in validation.results]
    sites = context.get_docs_sites_urls(only_if_exists=True)
    if not sites:
        raise QualityError(f"GX built no Data Docs under {Path(workdir) / 'gx'}")
    return QualityReport(
        report=Path(unquote(urlparse(sites[0]["site_url"]).path)),
        datasets={dataset_id: _dataset_quality(found) for dataset_id, found in outcomes.items()},
    )
