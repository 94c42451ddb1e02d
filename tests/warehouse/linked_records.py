"""Real-looking records of one Hà Tĩnh family, its firm and its paperwork, for the projections.

Each builder gives a record as the clean topic carries it (nested, Avro field names), valid
under the catalogue's rules, with ``changes`` applied on top.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from citizens import person
from sqlalchemy import Engine, Table, select

from schemas import headers as h
from schemas.catalogue import Dataset, default_catalogue
from streams.verdicts import RowBuilder
from warehouse.models import Quarantine, dataset_table
from warehouse.projections import store_clean_batch
from warehouse.store import Consumed, row_key
from warehouse.views import DERIVED_TABLES

# Personal ids agree with birth year, century and gender (province 042, Hà Tĩnh).
GRANDFATHER = "042048001122"  # Hoàng Văn Thụ, male, born 1948
FATHER = "042088003344"  # Nguyễn Văn Đạt, male, born 1988
MOTHER = "042190005566"  # Trần Thị Thu Hương, female, born 1990
CHILD = "042224007788"  # Nguyễn Minh Khôi, male, born 2024
SECOND_CHILD = "042325009900"  # Nguyễn Ngọc Ánh, female, born 2025

COMMUNE = "18073"  # Phường Thành Sen (Phường Nam Hà before July 2025)
OTHER_COMMUNE = "18100"  # Phường Trần Phú
CIVIL_AGENCY = "000.05.31.H25"
OTHER_CIVIL_AGENCY = "000.07.31.H25"
ENTERPRISE_CODE = "3001234567"
PROVINCE_OFFICE = "000.00.01.H25"
DEPARTMENT = "000.00.06.H25"


def at(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def people() -> list[dict[str, Any]]:
    """The family as the population database holds it."""
    return [
        person(
            GRANDFATHER,
            full_name="Hoàng Văn Thụ",
            gender="MALE",
            date_of_birth=date(1948, 3, 2),
            eid_level=1,
            updated_at=at(date(2025, 1, 6)),
        ),
        person(
            FATHER,
            full_name="Nguyễn Văn Đạt",
            gender="MALE",
            date_of_birth=date(1988, 11, 20),
            updated_at=at(date(2025, 2, 3)),
        ),
        person(
            MOTHER,
            full_name="Trần Thị Thu Hương",
            gender="FEMALE",
            date_of_birth=date(1990, 4, 15),
            updated_at=at(date(2025, 2, 3)),
        ),
        person(
            CHILD,
            full_name="Nguyễn Minh Khôi",
            gender="MALE",
            date_of_birth=date(2024, 6, 1),
            father_id=FATHER,
            mother_id=MOTHER,
            eid_level=0,
            updated_at=at(date(2025, 2, 4)),
        ),
    ]


def birth(number: str, **changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "registering_agency_id": CIVIL_AGENCY,
        "book_number": "01/2024",
        "registration_number": number,
        "registering_commune_code": COMMUNE,
        "registration_date": date(2024, 6, 20),
        "registration_type": "ON_TIME",
        "child": {
            "personal_id": CHILD,
            "full_name": "Nguyễn Minh Khôi",
            "gender": "MALE",
            "date_of_birth": date(2024, 6, 1),
            "place_of_birth": {
                "commune_code": COMMUNE,
                "address": "Bệnh viện Đa khoa tỉnh Hà Tĩnh",
            },
            "ethnicity": "Kinh",
            "nationality": "VN",
        },
        "mother": {"full_name": "Trần Thị Thu Hương", "personal_id": MOTHER, "nationality": "VN"},
        "father": {"full_name": "Nguyễn Văn Đạt", "personal_id": FATHER, "nationality": "VN"},
        "updated_at": at(date(2024, 6, 20)),
    }
    record.update(changes)
    return record


def second_birth(**changes: Any) -> dict[str, Any]:
    """The second child, registered late: 75 days after the birth."""
    record = birth(
        "0457",
        book_number="01/2025",
        registration_date=date(2025, 5, 1),
        registration_type="LATE",
        child={
            "personal_id": SECOND_CHILD,
            "full_name": "Nguyễn Ngọc Ánh",
            "gender": "FEMALE",
            "date_of_birth": date(2025, 2, 15),
            "place_of_birth": {"commune_code": COMMUNE, "address": "Trạm Y tế phường Nam Hà"},
            "ethnicity": "Kinh",
            "nationality": "VN",
        },
        updated_at=at(date(2025, 5, 1)),
    )
    record.update(changes)
    return record


def marriage(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "registering_agency_id": CIVIL_AGENCY,
        "book_number": "01/2015",
        "registration_number": "0088",
        "registering_commune_code": COMMUNE,
        "registration_date": date(2015, 9, 12),
        "registration_type": "ON_TIME",
        "husband": {
            "personal_id": FATHER,
            "full_name": "Nguyễn Văn Đạt",
            "date_of_birth": date(1988, 11, 20),
            "ethnicity": "Kinh",
            "nationality": "VN",
            "residence": {"commune_code": COMMUNE, "address": "Số 12 đường Phan Đình Phùng"},
        },
        "wife": {
            "personal_id": MOTHER,
            "full_name": "Trần Thị Thu Hương",
            "date_of_birth": date(1990, 4, 15),
            "ethnicity": "Kinh",
            "nationality": "VN",
            "residence": {
                "commune_code": OTHER_COMMUNE,
                "address": "Tổ dân phố 4, phường Trần Phú",
            },
        },
        "updated_at": at(date(2015, 9, 12)),
    }
    record.update(changes)
    return record


def death(**changes: Any) -> dict[str, Any]:
    """The grandfather's death, registered 10 days after it."""
    record: dict[str, Any] = {
        "registering_agency_id": CIVIL_AGENCY,
        "book_number": "01/2025",
        "registration_number": "0031",
        "registering_commune_code": COMMUNE,
        "registration_date": date(2025, 3, 14),
        "registration_type": "ON_TIME",
        "deceased": {
            "personal_id": GRANDFATHER,
            "full_name": "Hoàng Văn Thụ",
            "gender": "MALE",
            "date_of_birth": date(1948, 3, 2),
            "ethnicity": "Kinh",
            "nationality": "VN",
        },
        "date_of_death": date(2025, 3, 4),
        "place_of_death": {"commune_code": COMMUNE, "address": "Số 7 ngõ 3 đường Nguyễn Du"},
        "cause_of_death": "Bệnh tuổi già",
        "death_notice": {"number": "112/GBT", "issuer": "Bệnh viện Đa khoa tỉnh Hà Tĩnh"},
        "updated_at": at(date(2025, 3, 14)),
    }
    record.update(changes)
    return record


def enterprise(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "enterprise_code": ENTERPRISE_CODE,
        "name_vi": "Công ty TNHH Thương mại Hồng Lĩnh",
        "name_foreign": "Hong Linh Trading Company Limited",
        "name_short": "Hồng Lĩnh Co.",
        "legal_form": "SINGLE_MEMBER_LLC",
        "head_office": {"commune_code": COMMUNE, "address": "Số 45 đường Trần Phú"},
        "charter_capital": None,
        "legal_representative": {
            "full_name": "Nguyễn Văn Đạt",
            "personal_id": FATHER,
            "title": "Giám đốc",
        },
        "business_lines": [
            {"code": "4659", "name": "Bán buôn máy móc, thiết bị khác", "main": False},
            {"code": "4632", "name": "Bán buôn thực phẩm", "main": True},
        ],
        "branches": [
            {
                "branch_code": f"{ENTERPRISE_CODE}-001",
                "name": "Chi nhánh Công ty TNHH Thương mại Hồng Lĩnh tại Hồng Lĩnh",
                "address": "Số 3 đường Quang Trung",
                "commune_code": "18115",
            }
        ],
        "first_registered_on": date(2019, 5, 6),
        "amendment_number": 0,
        "amended_on": None,
        "status": "ACTIVE",
        "updated_at": at(date(2019, 5, 6)),
    }
    record.update(changes)
    return record


def document(number_symbol: str, **changes: Any) -> dict[str, Any]:
    """An outgoing decision of the provincial People's Committee, signed and sent online."""
    record: dict[str, Any] = {
        "holder_agency_id": PROVINCE_OFFICE,
        "holder_level": "PROVINCE",
        "direction": "OUTGOING",
        "issuing_agency_id": PROVINCE_OFFICE,
        "issuing_agency_name": "Ủy ban nhân dân tỉnh Hà Tĩnh",
        "issue_date": date(2025, 3, 10),
        "number_symbol": number_symbol,
        "document_type": "QUYET_DINH",
        "subject": "Về việc phê duyệt kế hoạch chuyển đổi số năm 2025",
        "signer_name": "Võ Trọng Hải",
        "signer_title": "CHỦ TỊCH",
        "digitally_signed": True,
        "received_at": None,
        # 23:30 UTC is the next morning in Vietnam.
        "sent_at": datetime(2025, 3, 10, 23, 30, tzinfo=UTC),
        "processing_deadline": None,
        "handling_unit": "Văn phòng UBND tỉnh",
        "processing_status": "ISSUED",
        "processed_online": True,
        "updated_at": datetime(2025, 3, 10, 23, 31, tzinfo=UTC),
    }
    record.update(changes)
    return record


def incoming(number_symbol: str, **changes: Any) -> dict[str, Any]:
    """The same decision as the Department of Planning and Investment registers it."""
    record = document(
        number_symbol,
        holder_agency_id=DEPARTMENT,
        holder_level="PROVINCE",
        direction="INCOMING",
        digitally_signed=True,
        sent_at=None,
        received_at=datetime(2025, 3, 11, 2, 15, tzinfo=UTC),
        processing_deadline=date(2025, 3, 20),
        handling_unit="Phòng Tổng hợp",
        processing_status="IN_PROGRESS",
        processed_online=False,
        updated_at=datetime(2025, 3, 11, 2, 16, tzinfo=UTC),
    )
    record.update(changes)
    return record


# -- delivering records as the sinks do -----------------------------------------------------


@dataclass(frozen=True)
class Message:
    """A record on its clean topic."""

    dataset: str
    offset: int
    record: dict[str, Any]


class Feed:
    """Publishes records to numbered offsets and delivers them in batches, as a sink reads them.

    Trace ids and ingest times derive from the record, so two feeds of the same records in
    different orders store the same rows.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.offsets: Counter[str] = Counter()

    def publish(self, dataset_id: str, *records: dict[str, Any]) -> list[Message]:
        messages = []
        for record in records:
            messages.append(Message(dataset_id, self.offsets[dataset_id], record))
            self.offsets[dataset_id] += 1
        return messages

    def consumed(self, messages: list[Message]) -> tuple[Dataset, list[Consumed]]:
        """The batch a sink builds from these messages, all of one dataset."""
        [dataset_id] = {message.dataset for message in messages}
        dataset = default_catalogue().dataset(dataset_id)
        builder = RowBuilder(dataset)
        consumed = []
        for message in messages:
            version = message.record["updated_at"]
            row = builder.row(
                message.record,
                {
                    h.SOURCE_SYSTEM: dataset.source_system,
                    h.AGENCY_ID: dataset.owner_agency,
                    h.TRACE_ID: _trace_id(dataset_id, message.record),
                    h.INGEST_TIME: version.isoformat(),
                },
            )
            consumed.append(
                Consumed(
                    topic=dataset.clean_topic,
                    partition=0,
                    offset=message.offset,
                    record_key=row_key(dataset, row),
                    row=row,
                )
            )
        return dataset, consumed

    def deliver(self, messages: list[Message], released: tuple[int, ...] = ()) -> None:
        dataset, consumed = self.consumed(messages)
        with self.engine.begin() as connection:
            store_clean_batch(connection, dataset, consumed, released, at=STORED_AT)

    def load(self, dataset_id: str, *records: dict[str, Any]) -> list[Message]:
        """Publish and deliver the records as one batch."""
        messages = self.publish(dataset_id, *records)
        self.deliver(messages)
        return messages


STORED_AT = datetime(2026, 1, 5, tzinfo=UTC)


def _trace_id(dataset_id: str, record: dict[str, Any]) -> str:
    text = json.dumps([dataset_id, record], default=str, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


# -- the warehouse's state, row for row ---------------------------------------------------------

SNAPSHOT_DATASETS = (
    "citizen.person",
    "civil.birth",
    "civil.marriage",
    "civil.death",
    "business.enterprise",
    "document.record",
)


def snapshot(engine: Engine, *, offsets: bool = True) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the dataset tables, the derived tables and the quarantine, sorted.

    Without ``offsets`` the ingest log is compared by what was ingested, not where it was
    read: two feeds publishing in different orders number their offsets differently.
    """
    tables: list[Table] = [dataset_table(d) for d in SNAPSHOT_DATASETS]
    tables += [*DERIVED_TABLES, Quarantine.__table__]
    state: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as connection:
        for table in tables:
            columns = list(table.columns)
            if table.name == "ingest_log" and not offsets:
                columns = [table.c.dataset, table.c.record_key, table.c.version, table.c.trace_id]
            rows = connection.execute(select(*columns)).all()
            state[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return state
