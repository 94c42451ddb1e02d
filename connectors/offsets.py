"""Where each connector stopped, kept in the work directory."""

from __future__ import annotations

import json
import os
from pathlib import Path

from connectors.base import Offset


class OffsetStore:
    """One JSON file per connector, replaced atomically so a crash never leaves half a file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, connector: str) -> Path:
        return self.directory / f"{connector}.json"

    def load(self, connector: str) -> Offset | None:
        path = self._path(connector)
        if not path.exists():
            return None
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)

    def save(self, connector: str, offset: Offset) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(connector)
        temporary = path.with_suffix(".tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(offset, handle, ensure_ascii=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)

    def reset(self, connector: str) -> None:
        self._path(connector).unlink(missing_ok=True)
