"""The embedded Confluent-compatible schema registry (AVRO schemas).

It implements the parts of the Confluent Schema Registry REST API that producers,
consumers and standard Confluent clients use: registering and looking up schemas, reading
them by id, listing subjects and versions, compatibility levels and checks (registration
refuses an incompatible schema with 409), and soft and permanent deletes. Ids are global and
persist in SQL storage. Error bodies follow Confluent: ``{"error_code": 40403, "message": "..."}``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Annotated, Any

import fastavro
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from schemas.registry import compatibility
from schemas.registry.client import (
    INCOMPATIBLE_SCHEMA,
    INVALID_COMPATIBILITY_LEVEL,
    INVALID_SCHEMA,
    INVALID_VERSION,
    MEDIA_TYPE,
    SCHEMA_NOT_FOUND,
    SUBJECT_COMPATIBILITY_NOT_CONFIGURED,
    SUBJECT_NOT_FOUND,
    SUBJECT_NOT_SOFT_DELETED,
    SUBJECT_SOFT_DELETED,
    VERSION_NOT_FOUND,
    VERSION_NOT_SOFT_DELETED,
    VERSION_SOFT_DELETED,
)
from schemas.registry.storage import (
    RegistryStorage,
    SchemaNotFound,
    SubjectNotFound,
    SubjectNotSoftDeleted,
    SubjectSoftDeleted,
    SubjectVersion,
    VersionNotFound,
    VersionNotSoftDeleted,
    VersionSoftDeleted,
)
from schemas.serving import BackgroundServer, BackgroundServerError

SUPPORTED_TYPES = ("AVRO",)
BACKEND_ERROR = 50001
_MAX_VERSION = 2**31 - 1
_INVALID_LEVEL = (
    "Invalid compatibility level. Valid values are none, backward, forward, full, "
    "backward_transitive, forward_transitive, and full_transitive"
)
_NOT_FOUND_CODES: dict[type[LookupError], int] = {
    SubjectNotFound: SUBJECT_NOT_FOUND,
    VersionNotFound: VERSION_NOT_FOUND,
    SchemaNotFound: SCHEMA_NOT_FOUND,
    SubjectSoftDeleted: SUBJECT_SOFT_DELETED,
    SubjectNotSoftDeleted: SUBJECT_NOT_SOFT_DELETED,
    VersionSoftDeleted: VERSION_SOFT_DELETED,
    VersionNotSoftDeleted: VERSION_NOT_SOFT_DELETED,
}


class RegistryResponse(JSONResponse):
    """JSON with the registry's media type, as Confluent clients expect."""

    media_type = MEDIA_TYPE


class RegistryHTTPError(Exception):
    """An error answered with a Confluent error body."""

    def __init__(self, status_code: int, error_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_code = error_code
        self.message = message


def invalid_schema(reason: str) -> RegistryHTTPError:
    return RegistryHTTPError(422, INVALID_SCHEMA, f"Invalid schema: {reason}")


def canonical_avro(schema: str) -> str:
    """The canonical form of an Avro schema text, after checking it is a valid schema.

    Canonical means the parsed JSON dumped with sorted keys and no whitespace, so the same
    schema written differently maps to one id. The schema must satisfy both fastavro, which
    the hub encodes with, and the Apache Avro parser the compatibility checker uses; the
    latter holds names, unions and field orders to the specification as Confluent does.

    Raises:
        RegistryHTTPError: 42201 when the text is not JSON or not a valid Avro schema.
    """
    try:
        parsed = json.loads(schema)
    except ValueError as exc:
        raise invalid_schema(f"the schema is not JSON: {exc}") from exc
    try:
        fastavro.parse_schema(parsed)
    # fastavro signals a bad schema with many exception types; any of them means invalid.
    except Exception as exc:
        raise invalid_schema(f"{type(exc).__name__}: {exc}") from exc
    try:
        compatibility.parse(schema)
    except compatibility.InvalidSchemaError as exc:
        raise invalid_schema(str(exc)) from exc
    return json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class SchemaRequest:
    """The body of a register or lookup request, checked and canonicalised."""

    def __init__(self, body: Any) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("schema"), str):
            raise invalid_schema("the request body needs a 'schema' string")
        schema_type = body.get("schemaType") or "AVRO"
        if schema_type not in SUPPORTED_TYPES:
            raise invalid_schema(f"schema type {schema_type!r} is not supported; use AVRO")
        if body.get("references"):
            raise invalid_schema("schema references are not supported by this registry")
        self.schema: str = body["schema"]
        self.schema_type: str = schema_type
        self.canonical = canonical_avro(self.schema)


async def _json_body(request: Request) -> Any:
    # Parsed by hand so both content types work and bad JSON gets a Confluent error body.
    raw = await request.body()
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise invalid_schema(f"the request body is not JSON: {exc}") from exc


async def _level_body(request: Request) -> str:
    """The level of a config update body ``{"compatibility": "FULL"}``, in any letter case."""
    try:
        body = json.loads(await request.body())
    except ValueError:
        body = None
    level = body.get("compatibility") if isinstance(body, dict) else None
    if isinstance(level, str) and level.upper() in compatibility.LEVELS:
        return level.upper()
    raise RegistryHTTPError(422, INVALID_COMPATIBILITY_LEVEL, _INVALID_LEVEL)


def _storage(request: Request) -> RegistryStorage:
    return request.app.state.storage


def _true(flag: str | None) -> bool:
    # Confluent's query flags are true only for "true" in any case, and never an error.
    return flag is not None and flag.lower() == "true"


Storage = Annotated[RegistryStorage, Depends(_storage)]
JsonBody = Annotated[Any, Depends(_json_body)]
LevelBody = Annotated[str, Depends(_level_body)]

router = APIRouter()


@router.get("/schemas/types")
def schema_types() -> list[str]:
    return list(SUPPORTED_TYPES)


@router.get("/schemas/ids/{schema_id}")
def schema_by_id(schema_id: int, storage: Storage) -> dict[str, Any]:
    stored = storage.schema_by_id(schema_id)
    return _with_type({"schema": stored.schema}, stored.schema_type)


@router.get("/schemas/ids/{schema_id}/versions")
def schema_versions(schema_id: int, storage: Storage) -> list[dict[str, Any]]:
    return [
        {"subject": subject, "version": version}
        for subject, version in storage.schema_versions(schema_id)
    ]


@router.get("/subjects")
def subjects(storage: Storage, deleted: str | None = None) -> list[str]:
    return storage.subjects(include_deleted=_true(deleted))


@router.get("/subjects/{subject}/versions")
def versions(subject: str, storage: Storage, deleted: str | None = None) -> list[int]:
    return storage.versions(subject, include_deleted=_true(deleted))


@router.post("/subjects/{subject}/versions")
def register(subject: str, body: JsonBody, storage: Storage) -> dict[str, Any]:
    request = SchemaRequest(body)
    level = _effective_level(storage, subject)

    def refuse_incompatible(live: Sequence[SubjectVersion]) -> None:
        result = _check(request.schema, live, level)
        if not result.is_compatible:
            raise RegistryHTTPError(
                409,
                INCOMPATIBLE_SCHEMA,
                f"Schema being registered is incompatible with an earlier schema for subject "
                f'"{subject}", details: [{", ".join(result.messages)}]',
            )

    schema_id = storage.register(
        subject,
        request.schema,
        request.canonical,
        request.schema_type,
        check=refuse_incompatible,
    )
    return {"id": schema_id}


@router.get("/subjects/{subject}/versions/{version}")
def subject_version(subject: str, version: str, storage: Storage) -> dict[str, Any]:
    return _version_body(storage.version(subject, _parse_version(version)))


@router.get("/subjects/{subject}/versions/{version}/schema")
def subject_version_schema(subject: str, version: str, storage: Storage) -> Response:
    # The bare schema text, not a JSON string holding it.
    found = storage.version(subject, _parse_version(version))
    return Response(found.schema, media_type=MEDIA_TYPE)


@router.delete("/subjects/{subject}")
def delete_subject(subject: str, storage: Storage, permanent: str | None = None) -> list[int]:
    return storage.delete_subject(subject, permanent=_true(permanent))


@router.delete("/subjects/{subject}/versions/{version}")
def delete_version(
    subject: str, version: str, storage: Storage, permanent: str | None = None
) -> int:
    return storage.delete_version(subject, _parse_version(version), permanent=_true(permanent))


@router.post("/compatibility/subjects/{subject}/versions/{version}")
def compatibility_with_version(
    subject: str, version: str, body: JsonBody, storage: Storage, verbose: str | None = None
) -> dict[str, Any]:
    earlier = storage.version(subject, _parse_version(version))
    return _compatibility_answer(storage, subject, body, [earlier], _true(verbose))


@router.post("/compatibility/subjects/{subject}/versions")
def compatibility_with_subject(
    subject: str, body: JsonBody, storage: Storage, verbose: str | None = None
) -> dict[str, Any]:
    earlier = storage.live_versions(subject)
    return _compatibility_answer(storage, subject, body, earlier, _true(verbose))


@router.get("/config")
def global_level(storage: Storage) -> dict[str, str]:
    return {"compatibilityLevel": storage.compatibility() or compatibility.DEFAULT_LEVEL}


@router.put("/config")
def set_global_level(level: LevelBody, storage: Storage) -> dict[str, str]:
    storage.set_compatibility(level)
    return {"compatibility": level}


@router.get("/config/{subject}")
def subject_level(
    subject: str,
    storage: Storage,
    default_to_global: Annotated[str | None, Query(alias="defaultToGlobal")] = None,
) -> dict[str, str]:
    level = storage.compatibility(subject)
    if level is None and _true(default_to_global):
        level = storage.compatibility() or compatibility.DEFAULT_LEVEL
    if level is None:
        raise RegistryHTTPError(
            404,
            SUBJECT_COMPATIBILITY_NOT_CONFIGURED,
            f"Subject '{subject}' does not have subject-level compatibility configured",
        )
    return {"compatibilityLevel": level}


@router.put("/config/{subject}")
def set_subject_level(subject: str, level: LevelBody, storage: Storage) -> dict[str, str]:
    storage.set_compatibility(level, subject)
    return {"compatibility": level}


@router.delete("/config/{subject}")
def delete_subject_level(subject: str, storage: Storage) -> dict[str, str]:
    level = storage.delete_compatibility(subject)
    if level is None:
        # Confluent answers "subject not found" when the subject has no level of its own.
        raise SubjectNotFound(subject)
    return {"compatibilityLevel": level}


@router.post("/subjects/{subject}")
def lookup(subject: str, body: JsonBody, storage: Storage) -> dict[str, Any]:
    request = SchemaRequest(body)
    return _version_body(storage.lookup(subject, request.schema_type, request.canonical))


def _effective_level(storage: RegistryStorage, subject: str) -> str:
    """The subject's own level, else the global one, else Confluent's default."""
    return storage.compatibility(subject) or storage.compatibility() or compatibility.DEFAULT_LEVEL


def _check(
    schema: str, earlier: Sequence[SubjectVersion], level: str
) -> compatibility.CompatibilityResult:
    return compatibility.check(
        schema,
        [found.schema for found in earlier],
        level,
        versions=[found.version for found in earlier],
    )


def _compatibility_answer(
    storage: RegistryStorage,
    subject: str,
    body: Any,
    earlier: Sequence[SubjectVersion],
    verbose: bool,
) -> dict[str, Any]:
    """The answer of a compatibility check, as Confluent words it."""
    try:
        request = SchemaRequest(body)
    except RegistryHTTPError as exc:
        # Confluent's verbose check answers an invalid schema as incompatible, with the reason.
        if not verbose:
            raise
        return {"is_compatible": False, "messages": [exc.message]}
    result = _check(request.schema, earlier, _effective_level(storage, subject))
    answer: dict[str, Any] = {"is_compatible": result.is_compatible}
    if verbose:
        answer["messages"] = result.messages
    return answer


def _parse_version(raw: str) -> int | None:
    """A version number, or ``None`` for the latest (``latest`` or ``-1``, as Confluent)."""
    if raw in ("latest", "-1"):
        return None
    try:
        number = int(raw)
    except ValueError:
        number = 0
    if not 1 <= number <= _MAX_VERSION:
        raise RegistryHTTPError(
            422,
            INVALID_VERSION,
            f"The specified version '{raw}' is not a valid version id. Allowed values are "
            f'between [1, {_MAX_VERSION}] and the string "latest"',
        )
    return number


def _with_type(body: dict[str, Any], schema_type: str) -> dict[str, Any]:
    # Confluent leaves schemaType out for AVRO, and old clients expect exactly that.
    if schema_type != "AVRO":
        body["schemaType"] = schema_type
    return body


def _version_body(found: SubjectVersion) -> dict[str, Any]:
    return _with_type(
        {
            "subject": found.subject,
            "version": found.version,
            "id": found.schema_id,
            "schema": found.schema,
        },
        found.schema_type,
    )


def _error(
    status_code: int, error_code: int, message: str, headers: Mapping[str, str] | None = None
) -> RegistryResponse:
    return RegistryResponse(
        {"error_code": error_code, "message": " ".join(message.split())},
        status_code=status_code,
        headers=headers,
    )


async def _registry_error(_: Request, exc: Exception) -> RegistryResponse:
    assert isinstance(exc, RegistryHTTPError)
    return _error(exc.status_code, exc.error_code, exc.message)


async def _not_found(_: Request, exc: Exception) -> RegistryResponse:
    return _error(404, _NOT_FOUND_CODES[type(exc)], str(exc))


async def _unparsable_schema(_: Request, exc: Exception) -> RegistryResponse:
    # Only a stored schema from before the Avro parser checked registrations can land here.
    return _error(422, INVALID_SCHEMA, f"Invalid schema: {exc}")


async def _http_error(_: Request, exc: Exception) -> RegistryResponse:
    assert isinstance(exc, StarletteHTTPException)
    # Keeps headers such as Allow on a 405.
    return _error(
        exc.status_code, exc.status_code, f"HTTP {exc.status_code} {exc.detail}", exc.headers
    )


async def _validation_error(_: Request, exc: Exception) -> RegistryResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()))
    return _error(422, 422, f"Invalid request: {where}: {first.get('msg', 'invalid value')}")


async def _internal_error(_: Request, exc: Exception) -> RegistryResponse:
    # Starlette still re-raises after this answer, so uvicorn logs the traceback.
    if isinstance(exc, SQLAlchemyError):
        return _error(500, BACKEND_ERROR, f"Error in the backend data store: {type(exc).__name__}")
    return _error(500, 500, f"Internal server error: {type(exc).__name__}")


def create_app(storage_url: str) -> FastAPI:
    """The registry as an ASGI app over SQL storage; tables are created at once.

    Args:
        storage_url: SQLAlchemy URL, e.g. ``sqlite:///.lgsp/registry.db`` or a PostgreSQL URL.
    """
    storage = RegistryStorage(storage_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        storage.dispose()

    # No docs routes: every answer here is registry JSON with the registry media type.
    app = FastAPI(
        title="LGSP Hub schema registry",
        default_response_class=RegistryResponse,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.storage = storage
    app.include_router(router)
    app.add_exception_handler(RegistryHTTPError, _registry_error)
    for not_found in _NOT_FOUND_CODES:
        app.add_exception_handler(not_found, _not_found)
    app.add_exception_handler(compatibility.InvalidSchemaError, _unparsable_schema)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _internal_error)
    return app


# Starting the embedded registry fails the way any background server does.
EmbeddedRegistryError = BackgroundServerError


class EmbeddedRegistry:
    """The registry served by uvicorn in a background thread, for the embedded runtime.

    Args:
        storage_url: SQLAlchemy URL of the storage; a SQLite file keeps ids across restarts.
        host: Interface to listen on.
        port: Port to listen on; 0 picks a free one.
        startup_timeout: Seconds ``start()`` waits for the registry to answer.
    """

    def __init__(
        self,
        storage_url: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout: float = 10.0,
    ) -> None:
        self._storage_url = storage_url
        self._server = BackgroundServer(
            "the schema registry",
            "/schemas/types",
            host=host,
            port=port,
            startup_timeout=startup_timeout,
        )

    @property
    def url(self) -> str:
        """Base URL of the running registry, e.g. ``http://127.0.0.1:40123``."""
        return self._server.url

    def start(self) -> EmbeddedRegistry:
        """Open the storage, start serving and wait until the registry answers."""
        self._server.bind()
        try:
            app = create_app(self._storage_url)
        except (SQLAlchemyError, OSError) as exc:
            self._server.stop()
            reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
            raise EmbeddedRegistryError(
                f"cannot open the schema registry storage {_shown(self._storage_url)}: {reason}"
            ) from exc
        except Exception:
            self._server.stop()
            raise
        self._server.serve(app, "lgsp-schema-registry")
        return self

    def stop(self) -> None:
        """Shut the registry down; safe to call twice."""
        self._server.stop()

    def __enter__(self) -> EmbeddedRegistry:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _shown(url: str) -> str:
    """A storage URL fit for a message: password hidden, or as given if it does not parse."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def serve(port: int, storage_url: str, host: str = "127.0.0.1") -> None:
    """Serve the registry in the foreground until interrupted (``lgsp registry serve``)."""
    uvicorn.run(create_app(storage_url), host=host, port=port, log_level="info")
