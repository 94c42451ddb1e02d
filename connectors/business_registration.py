"""The business-registration system (đăng ký doanh nghiệp): a paginated HTTP JSON API.

The registry answers ``GET /api/v1/enterprises?updated_since=&cursor=&limit=`` with
``{"items": [...], "next_cursor": "..." | null}``, items ordered by (``updated_at``,
``enterprise_code``) and each an enterprise document shaped like the dataset's Avro schema.
An ``X-API-Key`` header authenticates every request.

One bad item must not stop the integration, so an item the connector cannot place in that order
(no usable ``updated_at`` or ``enterprise_code``, or not an object at all) or cannot parse (JSON
nested too deeply, a number too long, bytes that are not UTF-8) becomes an
:class:`UnreadableItem`, which ``map()`` turns into a dead letter. A page that fails to parse as
a whole is parsed again item by item to find such items; only a page whose structure is broken
stops the run.
"""

from __future__ import annotations

import json
import logging
import re
import time
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cached_property
from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr, field_validator

from connectors import base
from connectors.base import Connector, ConnectorConfig, MappingError, Offset, SourceRecord
from schemas.catalogue import default_catalogue
from schemas.json_records import JsonRecordError, ensure_shallow, record_from_json, shown

ENTERPRISES_PATH = "/api/v1/enterprises"
# What an unreadable item keeps of its text, and of its reason, for the dead letter.
ITEM_HEAD_CHARS = 1024
REASON_CHARS = 300
# JSON strings and punctuation: enough to find where a page's items begin and end without
# parsing them (numbers, true, false and null need no token: they sit between punctuation).
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]')

log = logging.getLogger("lgsp.connectors.business_registration")


class BusinessRegistrationConfig(ConnectorConfig):
    base_url: str = Field(
        description="Base URL of the registry's API, e.g. https://dangkykinhdoanh.hatinh.gov.vn"
    )
    api_key: SecretStr = Field(description="Key sent in the X-API-Key header")
    page_size: int = Field(default=500, ge=1, le=1000, description="Enterprises per request")
    timeout_s: float = Field(
        default=30.0, gt=0, description="Seconds to wait for connecting and for each answer"
    )
    max_retries: int = Field(
        default=5,
        ge=0,
        le=20,
        description="Retries of one request after 429, 5xx or a lost connection before giving up",
    )
    retry_backoff_s: float = Field(
        default=1.0,
        ge=0,
        description="First wait after a 5xx or a lost connection; doubles with each retry",
    )
    max_wait_s: float = Field(
        default=60.0, ge=0, description="Longest single wait, whether a Retry-After or a backoff"
    )

    @field_validator("base_url")
    @classmethod
    def _http_url_without_credentials(cls, value: str) -> str:
        try:
            url = httpx.URL(value)
        except httpx.InvalidURL as exc:
            raise ValueError(f"base_url is not a URL: {exc}") from exc
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("base_url must be an http:// or https:// URL with a host")
        # A password here would be shown in every message; the key belongs in api_key.
        if url.userinfo:
            raise ValueError("base_url must not hold credentials; put the key in api_key")
        return value.rstrip("/")


class SourceUnavailable(base.SourceUnavailable):
    """The registry's API cannot be read: unreachable, refusing the key, or broken.

    Attributes:
        status_code: The HTTP status of the last answer, if there was one.
    """

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass
class ApiCounters:
    """What this connector asked of the API since it was made.

    Attributes:
        requests: Requests sent, retries included.
        retries: Requests sent again after a 429, a 5xx or a lost connection.
        rate_limited: Answers with 429.
        server_errors: Answers with 5xx.
        connection_errors: Requests that got no answer.
    """

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    connection_errors: int = 0


def _nfc(value: Any) -> Any:
    # Source systems hand over decomposed (NFD) Vietnamese now and then; the hub speaks NFC.
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, dict):
        return {key: _nfc(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_nfc(item) for item in value]
    return value


def _reason(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delay or HTTP date), if it says."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _moment(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"{shown(value)} is not an ISO-8601 timestamp")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{shown(value)} is not an ISO-8601 timestamp") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class UnreadableItem(dict[str, Any]):
    """An item of a page that has no place in the API's order, or could not be parsed.

    It holds what there is of the item (the item itself when it is an object) for the dead
    letter, and why it is unreadable; :meth:`BusinessRegistrationConnector.map` raises that.

    Attributes:
        reason: Why the item cannot be read, one line.
    """

    __slots__ = ("reason",)

    def __init__(self, content: Mapping[str, Any], reason: str) -> None:
        super().__init__(content)
        cut = " ".join(reason.split())
        self.reason = cut if len(cut) <= REASON_CHARS else f"{cut[: REASON_CHARS - 3]}..."


def _item_spans(text: str) -> tuple[int, int, list[tuple[int, int]]] | None:
    """Where a page's ``items`` array lies and where each item in it lies, without parsing.

    Returns:
        The array's start and end offsets and each item's ``(start, end)``, or ``None`` when
        the text is not an object whose brackets balance around an ``items`` array.
    """
    stack: list[str] = []
    key = previous = ""
    array: tuple[int, int] | None = None
    in_items = False
    item_start = 0
    spans: list[tuple[int, int]] = []
    for match in _JSON_TOKENS.finditer(text):
        token = match.group()
        depth = len(stack)
        if token in ("{", "["):
            if depth == 0 and token != "{":
                return None
            if depth == 1 and token == "[" and key == '"items"' and array is None:
                in_items, item_start = True, match.end()
                array = (match.start(), -1)
            stack.append(token)
        elif token in ("}", "]"):
            if not stack or stack.pop() != ("{" if token == "}" else "["):
                return None
            if in_items and depth == 2:
                spans.append((item_start, match.start()))
                in_items = False
                array = (array[0], match.end()) if array else None
        elif token == ",":
            if in_items and depth == 2:
                spans.append((item_start, match.start()))
                item_start = match.end()
        elif token != ":" and depth == 1 and previous in ("{", ","):
            key = token
        previous = token
    if stack or array is None or array[1] < 0:
        return None
    return array[0], array[1], [(a, b) for a, b in spans if text[a:b].strip()]


def _parse_items(text: str) -> tuple[list[Any], Any] | None:
    """A page parsed item by item: unparseable items become :class:`UnreadableItem`.

    Returns:
        The items and the rest of the page (parsed with an empty ``items``), or ``None`` when
        the page's structure cannot be found or the rest does not parse.
    """
    found = _item_spans(text)
    if found is None:
        return None
    array_start, array_end, spans = found
    try:
        rest = json.loads(f"{text[:array_start]}[]{text[array_end:]}")
    except (ValueError, RecursionError):
        return None
    items: list[Any] = []
    for number, (start, end) in enumerate(spans, start=1):
        item_text = text[start:end].strip()
        try:
            items.append(json.loads(item_text))
        except RecursionError:
            problem = "JSON nested too deeply to parse"
            items.append(_unparsed(item_text, number, problem))
        except ValueError as exc:
            items.append(_unparsed(item_text, number, f"not valid JSON ({_reason(exc)})"))
    return items, rest


def _unparsed(item_text: str, number: int, problem: str) -> UnreadableItem:
    head = item_text[:ITEM_HEAD_CHARS]
    return UnreadableItem({"item_text": head}, f"item {number} of its page: {problem}")


class BusinessRegistrationConnector(Connector[BusinessRegistrationConfig]):
    """Pages through the registry's enterprises by update time, resuming after an offset.

    The offset is the last enterprise handed over: ``{"updated_since": its updated_at,
    "after_code": its code}``. A run asks for ``updated_since`` (inclusive) and skips what
    does not lie after the offset, so enterprises sharing that update time are neither lost nor
    sent twice. Pages follow the API's keyset cursor, so an enterprise amended while we read
    moves behind the cursor and is read again, in its new version, later in the same run.
    """

    name: ClassVar[str] = "business_registration"
    dataset: ClassVar[str] = "business.enterprise"
    source_system: ClassVar[str] = "business_registration"
    Config: ClassVar[type[ConnectorConfig]] = BusinessRegistrationConfig

    def __init__(
        self, config: BusinessRegistrationConfig, instance_name: str | None = None
    ) -> None:
        super().__init__(config, instance_name)
        self.counters = ApiCounters()

    @cached_property
    def _schema(self) -> dict[str, Any]:
        return default_catalogue().dataset(self.dataset).avro_schema()

    def _client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.config.base_url,
            headers={
                "X-API-Key": self.config.api_key.get_secret_value(),
                "Accept": "application/json",
            },
            timeout=self.config.timeout_s,
        )

    def check(self) -> None:
        """One authenticated request for one enterprise, without retries."""
        with self._client() as client:
            try:
                response = client.get(ENTERPRISES_PATH, params={"limit": 1})
            except httpx.TransportError as exc:
                raise SourceUnavailable(
                    f"cannot reach the business registration API at {self.config.base_url}: "
                    f"{_reason(exc)}"
                ) from exc
        self._raise_for_status(response)
        self._page(response)

    def records(self, since: Offset | None) -> Iterator[SourceRecord]:
        """Items after ``since`` (an empty offset is the start), unreadable ones included.

        An unreadable item carries the offset of the item before it: it has no place of its
        own, and storing that offset neither skips nor repeats a readable item. Only what lies
        at or before ``since`` is skipped (the server's ``updated_since`` is inclusive, so it
        comes again); an item whose own keys fall behind the page order is handed over, never
        dropped, and the offset stays at the furthest item handed over.
        """
        resume: tuple[datetime, str] | None = None
        position: tuple[datetime, str] | None = None
        last_offset: Offset = dict(since) if since else {}
        params: dict[str, str | int] = {"limit": self.config.page_size}
        if since:
            try:
                resume = (_moment(since["updated_since"]), str(since["after_code"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(
                    f"{self.instance_name}: offset {since!r} is not a business_registration "
                    "offset ({'updated_since': <ISO timestamp>, 'after_code': <code>})"
                ) from exc
            params["updated_since"] = since["updated_since"]
        with self._client() as client:
            while True:
                items, next_cursor = self._page(self._get(client, params))
                for item in items:
                    if isinstance(item, UnreadableItem):
                        yield SourceRecord(row=item, offset=last_offset)
                        continue
                    try:
                        key = self._key(item)
                    except ValueError as exc:
                        content = item if isinstance(item, dict) else {"item": item}
                        reason = (
                            "the item has no usable updated_at and enterprise_code, so it has "
                            f"no place in the API's order ({_reason(exc)})"
                        )
                        yield SourceRecord(row=UnreadableItem(content, reason), offset=last_offset)
                        continue
                    if resume is not None and key <= resume:
                        continue
                    if position is None or key > position:
                        position = key
                        last_offset = {
                            "updated_since": item["updated_at"],
                            "after_code": item["enterprise_code"],
                        }
                    yield SourceRecord(row=item, offset=last_offset)
                if next_cursor is None:
                    return
                params = {"limit": self.config.page_size, "cursor": next_cursor}

    def map(self, row: Mapping[str, Any]) -> dict[str, Any]:
        if isinstance(row, UnreadableItem):
            raise MappingError(row.reason)
        try:
            # Before _nfc, which recurses: an item nested thousands deep is refused here.
            ensure_shallow(row)
            return record_from_json(self._schema, _nfc(dict(row)))
        except JsonRecordError as exc:
            raise MappingError(str(exc)) from exc

    def _get(self, client: httpx.Client, params: Mapping[str, str | int]) -> httpx.Response:
        """A page request, sent again after 429 (as told), 5xx or a lost connection (backoff)."""
        config = self.config
        where = f"GET {config.base_url}{ENTERPRISES_PATH}"
        attempt = 0
        while True:
            self.counters.requests += 1
            status: int | None = None
            try:
                response = client.get(ENTERPRISES_PATH, params=params)
            except httpx.TransportError as exc:
                self.counters.connection_errors += 1
                problem = f"{where} failed: {_reason(exc)}"
                wait = config.retry_backoff_s * 2**attempt
            else:
                status = response.status_code
                if status == 429:
                    self.counters.rate_limited += 1
                    asked = _retry_after(response)
                    told = "" if asked is None else f", Retry-After {asked:g}s"
                    problem = f"{where} answered HTTP 429 (rate limited{told})"
                    wait = config.retry_backoff_s * 2**attempt if asked is None else asked
                elif status >= 500:
                    self.counters.server_errors += 1
                    problem = f"{where} answered HTTP {status}"
                    wait = config.retry_backoff_s * 2**attempt
                else:
                    self._raise_for_status(response)
                    return response
            if attempt == config.max_retries:
                retries = "1 retry" if attempt == 1 else f"{attempt} retries"
                raise SourceUnavailable(
                    f"business registration API: {problem}; gave up after {retries}", status
                )
            attempt += 1
            wait = min(wait, config.max_wait_s)
            self.counters.retries += 1
            log.warning(
                "%s: %s; retry %d of %d in %.1fs",
                self.instance_name,
                problem,
                attempt,
                config.max_retries,
                wait,
            )
            time.sleep(wait)

    def _raise_for_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if response.is_success:
            return
        if status in (401, 403):
            raise SourceUnavailable(
                f"the business registration API at {self.config.base_url} refused the API key "
                f"(HTTP {status}); check the connector's api_key",
                status,
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        message = body.get("message") if isinstance(body, dict) else None
        detail = str(message) if message else " ".join(response.text.split())[:200]
        raise SourceUnavailable(
            f"the business registration API at {self.config.base_url} answered "
            f"{response.request.method} {response.request.url.path} with HTTP {status}: "
            f"{detail or response.reason_phrase}",
            status,
        )

    def _page(self, response: httpx.Response) -> tuple[list[Any], str | None]:
        try:
            body = json.loads(response.content)
        except (ValueError, RecursionError) as exc:
            # Perhaps one item spoils the page: find it, keep the others.
            salvaged = _parse_items(response.content.decode("utf-8", errors="surrogateescape"))
            if salvaged is None:
                raise SourceUnavailable(
                    f"the business registration API at {self.config.base_url} answered with a "
                    "body that is not JSON",
                    response.status_code,
                ) from exc
            items, body = salvaged
            log.warning(
                "%s: a page did not parse whole (%s); read item by item",
                self.instance_name,
                _reason(exc)[:REASON_CHARS],
            )
            if isinstance(body, dict):
                body["items"] = items
        items = body.get("items") if isinstance(body, dict) else None
        next_cursor = body.get("next_cursor") if isinstance(body, dict) else None
        if not isinstance(items, list) or not (next_cursor is None or isinstance(next_cursor, str)):
            raise SourceUnavailable(
                f"the business registration API at {self.config.base_url} answered with a page "
                'that is not {"items": [...], "next_cursor": "..." | null}',
                response.status_code,
            )
        return items, next_cursor or None

    @staticmethod
    def _key(item: Any) -> tuple[datetime, str]:
        """An item's place in the API's order.

        Raises:
            ValueError: The item is not an object with a text ``enterprise_code`` and an
                ISO-8601 ``updated_at``.
        """
        if not isinstance(item, dict):
            raise ValueError(f"the item is {shown(item)}, not an object")
        if "enterprise_code" not in item or "updated_at" not in item:
            raise ValueError("enterprise_code or updated_at is missing")
        code = item["enterprise_code"]
        if not isinstance(code, str):
            raise ValueError(f"enterprise_code {shown(code)} is not text")
        return _moment(item["updated_at"]), code
