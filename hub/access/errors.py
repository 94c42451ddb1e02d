"""The one error access control reports to a person: one line, no traceback."""

from __future__ import annotations


class AccessError(ValueError):
    """An access-control request that cannot be carried out; the message says why."""
