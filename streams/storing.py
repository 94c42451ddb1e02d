"""Writing a stream batch to the warehouse: retried through outages, refused records set apart.

Two kinds of database error call for opposite answers. An ``OperationalError`` (the server
gone, the file locked, a connection dropped) says nothing about the records: the write is
retried with backoff until it succeeds, while the batch's offsets wait. A ``DataError`` or
``IntegrityError`` (text PostgreSQL cannot hold, such as a NUL character) is one record's
fault: retrying would fail forever, so the batch is split in halves, each written in its own
transaction, down to the records the database refuses, which are handed back to be
dead-lettered while the rest are stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

log = logging.getLogger("lgsp.streams")

MAX_RETRY_DELAY_S: Final = 30.0
MAX_REASON_CHARS: Final = 300

T = TypeVar("T")

REFUSALS: Final = (DataError, IntegrityError)
"""Errors that are the records' fault: the same write would fail the same way again."""


def write_until_done(
    engine: Engine,
    what: str,
    write: Callable[[Connection], Any],
    on_retry: Callable[[], None] | None = None,
) -> None:
    """Run one transaction, retrying with backoff while the database is unavailable.

    The batch's offsets are held until this returns, so an outage delays and never loses.
    ``on_retry`` is told of each retry (the worker counts them in its metrics).
    """
    delay = 0.5
    while True:
        try:
            with engine.begin() as connection:
                write(connection)
            return
        except OperationalError as exc:
            log.warning("%s: warehouse unavailable (%s); retrying in %.1fs", what, exc.orig, delay)
            if on_retry is not None:
                on_retry()
            time.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_DELAY_S)


def refusal_reason(exc: DataError | IntegrityError) -> str:
    """The database's own message, first line only and cut short: it may quote the value."""
    message = str(exc.orig if exc.orig is not None else exc)
    line = next((text.strip() for text in message.splitlines() if text.strip()), "")
    line = line or type(exc.orig or exc).__name__
    return line if len(line) <= MAX_REASON_CHARS else f"{line[: MAX_REASON_CHARS - 3]}..."


def write_or_refuse(
    engine: Engine,
    what: str,
    items: Sequence[T],
    write: Callable[[Connection, Sequence[T]], Any],
    on_retry: Callable[[], None] | None = None,
) -> dict[int, str]:
    """Write ``items`` in one transaction, or as many as the database takes if it refuses some.

    Args:
        engine: The warehouse.
        what: Names the writer in log lines.
        items: What to write; ``write`` must be idempotent, as a part may be written again
            after an outage.
        write: Writes some of the items in the given transaction.
        on_retry: Told of each retry while the warehouse is unavailable.

    Returns:
        The positions (in ``items``) of those the database refused, with its reason; every
        other item is written, in one transaction with the items it was tried with.
    """
    refused: dict[int, str] = {}

    def attempt(start: int, part: Sequence[T]) -> None:
        try:
            write_until_done(engine, what, lambda connection: write(connection, part), on_retry)
        except REFUSALS as exc:
            if len(part) == 1:
                refused[start] = refusal_reason(exc)
                log.warning("%s: the warehouse refused a record: %s", what, refused[start])
                return
            half = len(part) // 2
            attempt(start, part[:half])
            attempt(start + half, part[half:])

    if items:
        attempt(0, items)
    return refused
