"""Which pseudonym key the hub uses: the configured one, else the embedded work directory's."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pydantic import SecretStr

from hub.access.pseudonym_key import KEY_FILE, pseudonym_key
from streams.sharing import PseudonymKeyError

CONFIGURED = SecretStr("khóa-bí-mật-của-tỉnh-Hà-Tĩnh-dùng-cho-bí-danh")
PRODUCTION = "postgresql+psycopg://lgsp@postgres:5432/lgsp"


def test_a_configured_key_is_used_as_given(tmp_path: Path) -> None:
    key = pseudonym_key(CONFIGURED, warehouse_url=PRODUCTION, workdir=tmp_path)
    assert key.get_secret_value() == CONFIGURED.get_secret_value()
    assert not (tmp_path / KEY_FILE).exists()


def test_a_short_configured_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PseudonymKeyError, match="at least 32"):
        pseudonym_key(SecretStr("ngắn"), warehouse_url=None, workdir=tmp_path)


def test_an_external_warehouse_without_a_key_is_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = pseudonym_key(None, warehouse_url=PRODUCTION, workdir=tmp_path)
    assert key == pseudonym_key(None, warehouse_url=None, workdir=tmp_path)
    assert "LGSP_PSEUDONYM_KEY is not set" in caplog.text


def test_the_embedded_hub_keeps_one_private_key_in_its_workdir(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        keys = list(
            pool.map(
                lambda _: pseudonym_key(
                    None, warehouse_url=None, workdir=tmp_path
                ).get_secret_value(),
                range(8),
            )
        )
    assert len(set(keys)) == 1, "every process of one hub makes the same pseudonyms"
    assert len(keys[0]) >= 32
    mode = stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode)
    assert mode == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILE], "no scratch files left behind"
