"""A synchronous client for the Confluent Schema Registry REST API.

It speaks to any Confluent-compatible registry: the hub's embedded server or an external
one. Errors keep the registry's own ``error_code`` so callers can tell "no such schema"
(40403) from "no such subject" (40401) without parsing messages.
"""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field

from schemas.registry.compatibility import CompatibilityResult

MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"

SUBJECT_NOT_FOUND = 40401
VERSION_NOT_FOUND = 40402
SCHEMA_NOT_FOUND = 40403
SUBJECT_SOFT_DELETED = 40404
SUBJECT_NOT_SOFT_DELETED = 40405
VERSION_SOFT_DELETED = 40406
VERSION_NOT_SOFT_DELETED = 40407
SUBJECT_COMPATIBILITY_NOT_CONFIGURED = 40408
# Confluent's long-standing code for an incompatible registration; recent releases send 40901.
INCOMPATIBLE_SCHEMA = 409
INVALID_SCHEMA = 42201
INVALID_VERSION = 42202
INVALID_COMPATIBILITY_LEVEL = 42203


def _one_line(text: str) -> str:
    return " ".join(text.split())


class RegistryError(Exception):
    """The registry refused a request or could not be asked.

    Attributes:
        status_code: HTTP status of the answer; ``None`` when there was no answer.
        error_code: Confluent error code such as 40403; ``None`` when there was no answer.
        message: The registry's message, on one line.
    """

    def __init__(
        self, message: str, *, status_code: int | None = None, error_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = _one_line(message)
        self.status_code = status_code
        self.error_code = error_code

    def __str__(self) -> str:
        if self.error_code is None:
            return self.message
        return f"{self.message} (error_code {self.error_code}, HTTP {self.status_code})"


class RegistryUnavailable(RegistryError):
    """The registry did not answer: connection refused, timeout, DNS failure."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"schema registry at {url} is unreachable: {reason}")
        self.url = url


class RegisteredSchema(BaseModel):
    """One version of a subject as the registry reports it."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    subject: str
    version: int
    id: int
    # ``schema`` would shadow a BaseModel method, so the JSON name is an alias.
    schema_str: str = Field(alias="schema")
    schema_type: str = Field(default="AVRO", alias="schemaType")


class RegistryClient:
    """Client for the Confluent Schema Registry REST API.

    Args:
        url: Base URL of the registry, e.g. ``http://127.0.0.1:8081``.
        timeout: Seconds to wait for connecting and for each answer.
    """

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self._url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self._url,
            timeout=timeout,
            headers={"Accept": f"{MEDIA_TYPE}, application/json"},
        )

    @property
    def url(self) -> str:
        return self._url

    def register(
        self, subject: str, schema: dict[str, Any] | str, schema_type: str = "AVRO"
    ) -> int:
        """Register a schema under a subject; registering it again returns the same id.

        Args:
            subject: Subject name, e.g. ``raw.citizen.person-value``.
            schema: The schema as parsed JSON or as its JSON text.
            schema_type: ``AVRO``, ``JSON`` or ``PROTOBUF``.

        Returns:
            The registry-wide schema id.
        """
        body: dict[str, Any] = {"schema": _schema_text(schema)}
        # Older registries reject the field, and AVRO is everyone's default.
        if schema_type != "AVRO":
            body["schemaType"] = schema_type
        answer = self._request("POST", f"/subjects/{_segment(subject)}/versions", body)
        return int(answer["id"])

    def get_schema(self, schema_id: int) -> str:
        """The schema text registered under an id (error 40403 if none)."""
        answer = self._request("GET", f"/schemas/ids/{int(schema_id)}")
        return str(answer["schema"])

    def latest(self, subject: str) -> RegisteredSchema:
        """The newest version of a subject."""
        return self.get_version(subject, "latest")

    def get_version(self, subject: str, version: int | Literal["latest"]) -> RegisteredSchema:
        """One version of a subject (errors 40401 no subject, 40402 no version)."""
        answer = self._request("GET", f"/subjects/{_segment(subject)}/versions/{version}")
        return RegisteredSchema.model_validate(answer)

    def versions(self, subject: str) -> list[int]:
        """The version numbers of a subject, oldest first (error 40401 if none)."""
        return [int(v) for v in self._request("GET", f"/subjects/{_segment(subject)}/versions")]

    def lookup(self, subject: str, schema: dict[str, Any] | str) -> RegisteredSchema | None:
        """The version of a subject that holds this schema, or ``None`` if none does."""
        try:
            answer = self._request(
                "POST", f"/subjects/{_segment(subject)}", {"schema": _schema_text(schema)}
            )
        except RegistryError as exc:
            if exc.error_code in (SUBJECT_NOT_FOUND, SCHEMA_NOT_FOUND):
                return None
            raise
        return RegisteredSchema.model_validate(answer)

    def subjects(self) -> list[str]:
        """All subjects that have at least one version."""
        return [str(s) for s in self._request("GET", "/subjects")]

    def check_compatibility(
        self,
        subject: str,
        schema: dict[str, Any] | str,
        version: int | Literal["latest"] | None = "latest",
        verbose: bool = True,
    ) -> CompatibilityResult:
        """Whether a schema is compatible with one version of a subject, under its level.

        Args:
            subject: Subject name.
            schema: The candidate schema as parsed JSON or as its JSON text.
            version: The version to compare with; ``None`` compares with every version the
                subject's level asks for, as registering would.
            verbose: Ask for the reasons. With it, Confluent also answers an invalid schema
                as incompatible with the reason, where it otherwise refuses it (42201).

        Returns:
            The verdict; its messages are empty unless ``verbose`` and incompatible.
        """
        answer = self._request(
            "POST",
            f"/compatibility/subjects/{_segment(subject)}/versions"
            + ("" if version is None else f"/{version}"),
            {"schema": _schema_text(schema)},
            params={"verbose": _flag(verbose)},
        )
        return CompatibilityResult(
            is_compatible=bool(answer["is_compatible"]),
            messages=[str(m) for m in answer.get("messages") or []],
        )

    def get_compatibility(self, subject: str | None = None) -> str:
        """The compatibility level that applies: the subject's own, else the global one."""
        if subject is None:
            return str(self._request("GET", "/config")["compatibilityLevel"])
        answer = self._request(
            "GET", f"/config/{_segment(subject)}", params={"defaultToGlobal": "true"}
        )
        return str(answer["compatibilityLevel"])

    def set_compatibility(self, level: str, subject: str | None = None) -> str:
        """Set the level of a subject, or the global one; returns the level as stored."""
        path = "/config" if subject is None else f"/config/{_segment(subject)}"
        return str(self._request("PUT", path, {"compatibility": level})["compatibility"])

    def delete_subject(self, subject: str, permanent: bool = False) -> list[int]:
        """Delete a subject and return the deleted version numbers.

        A soft delete keeps the schemas readable by id; a permanent delete needs a soft
        delete first (error 40405 otherwise).
        """
        answer = self._request(
            "DELETE", f"/subjects/{_segment(subject)}", params={"permanent": _flag(permanent)}
        )
        return [int(v) for v in answer]

    def delete_version(
        self, subject: str, version: int | Literal["latest"], permanent: bool = False
    ) -> int:
        """Delete one version of a subject and return its number.

        A permanent delete needs a soft delete first (error 40407 otherwise).
        """
        answer = self._request(
            "DELETE",
            f"/subjects/{_segment(subject)}/versions/{version}",
            params={"permanent": _flag(permanent)},
        )
        return int(answer)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        content = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = None if body is None else {"Content-Type": MEDIA_TYPE}
        try:
            response = self._http.request(
                method, path, content=content, headers=headers, params=params
            )
        except httpx.TransportError as exc:
            raise RegistryUnavailable(self._url, str(exc) or type(exc).__name__) from exc
        if not response.is_success:
            raise _error_from(response)
        try:
            return response.json()
        except ValueError as exc:
            raise RegistryError(
                f"schema registry at {self._url} answered {method} {path} with a body "
                f"that is not JSON",
                status_code=response.status_code,
            ) from exc


def _schema_text(schema: dict[str, Any] | str) -> str:
    return schema if isinstance(schema, str) else json.dumps(schema, ensure_ascii=False)


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _segment(name: str) -> str:
    # A subject is one path segment even when it holds '/' or '?'.
    return quote(name, safe="")


def _error_from(response: httpx.Response) -> RegistryError:
    """A RegistryError from a Confluent error body, or from whatever a proxy sent instead."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "error_code" in body:
        return RegistryError(
            str(body.get("message") or response.reason_phrase),
            status_code=response.status_code,
            error_code=int(body["error_code"]),
        )
    text = _one_line(response.text)[:200] or response.reason_phrase
    return RegistryError(
        f"schema registry answered {response.request.method} {response.request.url.path} "
        f"with HTTP {response.status_code}: {text}",
        status_code=response.status_code,
        error_code=response.status_code,
    )
