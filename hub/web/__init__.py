"""``lgsp web``: the data stewards' console (FastAPI, server-rendered pages, a JSON API)."""

from __future__ import annotations

from hub.web.app import create_web_app

__all__ = ["create_web_app"]
