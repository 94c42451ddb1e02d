"""The cuttable proxy itself: what a client on the far side sees when it is cut and restored."""

from __future__ import annotations

import pytest
from proxy import CuttableProxy
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

pytestmark = pytest.mark.postgres


def _through(proxy: CuttableProxy, postgres_url: str) -> Engine:
    url = make_url(postgres_url).set(host="127.0.0.1", port=proxy.port)
    return create_engine(url, pool_pre_ping=True)


def test_a_cut_resets_open_connections_refuses_new_ones_and_restore_reopens(
    postgres_url: str,
) -> None:
    upstream = make_url(postgres_url)
    with CuttableProxy(upstream.host or "127.0.0.1", upstream.port or 5432) as proxy:
        engine = _through(proxy, postgres_url)
        try:
            with engine.connect() as open_connection:
                name = "Thị trấn Phố Châu"
                assert open_connection.execute(text("SELECT :n"), {"n": name}).scalar_one() == name
                proxy.cut()
                with pytest.raises(OperationalError):
                    open_connection.execute(text("SELECT 1"))
            with pytest.raises(OperationalError, match="refused"), engine.connect():
                pass
            proxy.restore()
            with engine.connect() as connection:
                assert connection.execute(text("SELECT 1")).scalar_one() == 1
        finally:
            engine.dispose()
        assert proxy.connections_cut == 1
        assert proxy.connections >= 2
