"""Reference tables of the warehouse, filled from the lists shipped with ``schemas``.

Quality suites join warehouse rows to these tables, so they must hold every published list
with the dates it was in force.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.orm import Session

from schemas.reference import UNIT_LISTS, load_admin_units
from warehouse.models import AdminUnit


def admin_unit_rows() -> list[dict[str, Any]]:
    """Every administrative unit of every shipped list as ``ref_admin_unit`` rows."""
    lists = {unit_list.list_id: unit_list for unit_list in UNIT_LISTS}
    return [
        {
            "list_id": unit.list_id,
            "level": unit.level,
            "code": unit.code,
            "name": unit.name,
            "province_code": unit.province_code,
            "valid_from": lists[unit.list_id].valid_from,
            "valid_to": lists[unit.list_id].valid_to,
        }
        for unit in load_admin_units()
    ]


def load_reference_tables(engine: Engine) -> int:
    """Fill ``ref_admin_unit`` from the shipped lists, idempotently.

    The table is left alone when it already holds the same number of rows; otherwise it is
    emptied and refilled in one transaction, so readers never see a half-loaded list.

    Args:
        engine: The warehouse; its tables must exist (``metadata.create_all``).

    Returns:
        The number of rows the table holds afterwards.
    """
    rows = admin_unit_rows()
    with Session(engine) as session, session.begin():
        loaded = session.scalar(select(func.count()).select_from(AdminUnit))
        if loaded == len(rows):
            return loaded
        session.execute(delete(AdminUnit))
        session.execute(insert(AdminUnit), rows)
    return len(rows)
