"""Which pseudonym key the hub uses: the configured secret, or the work directory's own.

The worker (shared topics) and the data API must make the same pseudonyms, so they must use
the same key. A configured ``LGSP_PSEUDONYM_KEY`` is that key. Without one, the hub keeps a
random key in its work directory, readable by its owner only: right for the embedded hub and
for one machine's demo on PostgreSQL. Services on several machines have several work
directories, so a hub with an external warehouse and no key is warned; docker-compose.yml
refuses to start without it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import tempfile
from pathlib import Path
from typing import Final

from pydantic import SecretStr

from streams.sharing import key_bytes

KEY_FILE: Final = "pseudonym.key"

log = logging.getLogger("lgsp.access")


def pseudonym_key(
    configured: SecretStr | None, *, warehouse_url: str | None, workdir: Path
) -> SecretStr:
    """The key pseudonyms are made with.

    Args:
        configured: ``LGSP_PSEUDONYM_KEY``, if set.
        warehouse_url: ``LGSP_WAREHOUSE_URL``, if set: then the hub is a production one.
        workdir: The work directory, where the embedded hub keeps its own key.

    Raises:
        PseudonymKeyError: The configured key is too short.
    """
    if configured is not None:
        key_bytes(configured)
        return configured
    path = workdir.resolve() / KEY_FILE
    if warehouse_url is not None:
        log.warning(
            "LGSP_PSEUDONYM_KEY is not set; using the key in %s. Services on other machines "
            "would make other pseudonyms: give every service of the hub the same key.",
            path,
        )
    return _workdir_key(path)


def _workdir_key(path: Path) -> SecretStr:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Written aside (mkstemp makes it owner-only), then linked into place: link fails
        # when the file exists, so of two processes starting together one key wins, and
        # nobody reads a half-written file.
        descriptor, scratch = tempfile.mkstemp(dir=path.parent, prefix=".pseudonym-")
        try:
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                handle.write(secrets.token_urlsafe(48))
            with contextlib.suppress(FileExistsError):
                os.link(scratch, path)
        finally:
            os.unlink(scratch)
    key = SecretStr(path.read_text(encoding="ascii").strip())
    key_bytes(key)
    return key
