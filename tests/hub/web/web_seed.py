"""A warehouse with a known quality history and quarantine queue, for the console's tests.

Three quality runs a week apart; in the latest, citizen.person fails two expectations (one
critical) with known failing keys. The queue holds rows of every kind a steward meets:
replayable ones, one the connector held, one of another dataset, one already released.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from citizens import person
from fastavro import parse_schema
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from schemas.catalogue import Catalogue, Dataset, default_catalogue
from schemas.codec import pack
from warehouse.db import create_warehouse_engine
from warehouse.models import Quarantine, metadata
from warehouse.quality import QualityResult, QualityRun, QualityScore

CATALOGUE = default_catalogue()
PERSON = CATALOGUE.dataset("citizen.person")
BIRTH = CATALOGUE.dataset("civil.birth")

RUN_TIMES = (
    datetime(2026, 9, 1, 1, 0, tzinfo=UTC),
    datetime(2026, 9, 8, 1, 0, tzinfo=UTC),
    datetime(2026, 9, 15, 1, 0, tzinfo=UTC),
)
PERSON_SCORES = (0.9, 0.75, 0.8)
BIRTH_SCORES = (1.0, 1.0, 0.9)

# Failing keys of the latest run; a run stores each as {key field path: value}.
UNKNOWN_COMMUNE_KEYS = ["042195000006", "042095000123"]
MISSING_NAME_KEYS = ["042195000031"]
BIRTH_KEY = {
    "registering_agency_id": "000.00.17.H25",
    "book_number": "01/2026",
    "registration_number": "125",
}


def stored_keys(personal_ids: list[str]) -> list[dict[str, str]]:
    return [{"personal_id": personal_id} for personal_id in personal_ids]


FULL_NAME = "Trần Thị Ngọc Ánh"
UNKNOWN_COMMUNE_REASON_VI = (
    "permanent_residence.commune_code '99999' không phải là mã đơn vị hành chính cấp xã "
    "trong danh mục có hiệu lực ngày 01/09/2026 (theo updated_at)"
)
UNKNOWN_COMMUNE_REASON = (
    "permanent_residence.commune_code '99999' is not a commune code in the list in force on "
    "2026-09-01 (gso-2025, per updated_at)"
)


def nfc(text: str) -> str:
    assert unicodedata.is_normalized("NFC", text), text
    return text


@dataclass(frozen=True)
class Seeded:
    """The seeded warehouse: its engine, the person dataset's id, and the queue's row ids."""

    engine: Engine
    person_id: str
    unknown_commune: int
    late_schema: int
    connector: int
    birth: int
    released: int
    unknown_commune_payload: bytes

    @property
    def held_person_rows(self) -> set[int]:
        return {self.unknown_commune, self.late_schema, self.connector}


def _failure(rule: str, field: str, reason: str, reason_vi: str) -> dict[str, str]:
    return {"rule": rule, "field": field, "reason": reason, "reason_vi": nfc(reason_vi)}


def _quarantine_row(
    dataset: str,
    key: str,
    stage: str,
    failures: list[dict[str, str]],
    payload: bytes,
    *,
    at: datetime,
    source_system: str,
    agency_id: str,
    status: str = "held",
    record: dict[str, Any] | None = None,
) -> Quarantine:
    return Quarantine(
        dataset=dataset,
        fingerprint=hashlib.sha256(payload).hexdigest(),
        stage=stage,
        rules=",".join(failure["rule"] for failure in failures),
        reason="; ".join(failure["reason"] for failure in failures),
        failures=json.dumps(failures, ensure_ascii=False),
        record_key=key,
        source_system=source_system,
        agency_id=agency_id,
        trace_id=f"trace-{key}",
        origin_topic=f"raw.{dataset}",
        origin_partition=0,
        origin_offset=7,
        payload=payload,
        record_json=json.dumps(record, ensure_ascii=False, default=str) if record else None,
        status=status,
        quarantined_at=at,
    )


def _results(run_id: int, person_id: str, latest: bool) -> list[QualityResult]:
    def result(dataset: str, kind: str, column: str | None, **values: Any) -> QualityResult:
        return QualityResult(
            run_id=run_id,
            dataset=dataset,
            expectation=f"{kind}:{column or '-'}",
            expectation_type=kind,
            gx_type=values.pop("gx_type", None),
            column=column,
            element_count=values.pop("element_count", 200),
            **values,
        )

    rows = [
        result(person_id, "unique", "personal_id", critical=True, success=True, weight=2.0),
        result(person_id, "in_set", "gender", success=True, observed_value=None),
        result(BIRTH.id, "not_null", "child.full_name", success=True, critical=True),
    ]
    if not latest:
        return rows
    return [
        *rows,
        result(
            person_id,
            "in_reference",
            "permanent_residence.commune_code",
            gx_type="unexpected_rows_expectation",
            success=False,
            observed_value="2",
            unexpected_count=2,
            unexpected_percent=1.0,
            failing_keys=json.dumps(stored_keys(UNKNOWN_COMMUNE_KEYS)),
        ),
        result(
            person_id,
            "completeness",
            "full_name",
            gx_type="expect_column_values_to_not_be_null",
            critical=True,
            success=False,
            observed_value=json.dumps({"null_count": 1}),
            unexpected_count=1,
            unexpected_percent=0.5,
            failing_keys=json.dumps(stored_keys(MISSING_NAME_KEYS)),
        ),
        result(
            BIRTH.id,
            "in_reference",
            "place_of_birth_commune_code",
            success=False,
            observed_value="1",
            unexpected_count=1,
            failing_keys=json.dumps([BIRTH_KEY]),
        ),
    ]


def seed(url: str, catalogue: Catalogue, person_id: str = PERSON.id) -> Seeded:
    """Write the quality history and the queue into the warehouse at ``url``."""
    engine = create_warehouse_engine(url)
    metadata.create_all(engine)
    with Session(engine) as session:
        for index, started in enumerate(RUN_TIMES):
            run = QualityRun(
                started_at=started,
                finished_at=started.replace(minute=2),
                datasets=json.dumps([person_id, BIRTH.id]),
                success=index < 2,
                critical_failed=1 if index == 2 else 0,
            )
            session.add(run)
            session.flush()
            person_score, birth_score = PERSON_SCORES[index], BIRTH_SCORES[index]
            scores = [
                ("dataset", person_id, person_id, person_score),
                ("dataset", BIRTH.id, BIRTH.id, birth_score),
                ("source_system", "population", None, person_score),
                ("source_system", "civil_status", None, birth_score),
                ("agency", catalogue.dataset(person_id).owner_agency, None, person_score),
                ("agency", BIRTH.owner_agency, None, birth_score),
            ]
            session.add_all(
                QualityScore(
                    run_id=run.id,
                    scope=scope,
                    scope_value=value,
                    dataset=dataset,
                    score=score,
                    met=score * 10,
                    total=10.0,
                )
                for scope, value, dataset, score in scores
            )
            session.add_all(_results(run.id, person_id, latest=index == 2))

        person_schema = parse_schema(PERSON.avro_schema())
        commune_record = person(
            "042195000006",
            full_name=nfc(FULL_NAME),
            permanent_residence={"commune_code": "99999", "address": nfc("Thôn Đông, xã Cẩm Bình")},
        )
        commune_payload = pack(1, person_schema, commune_record)
        owner = catalogue.dataset(person_id).owner_agency
        lineage = {"source_system": "population", "agency_id": owner}
        unknown_commune = _quarantine_row(
            person_id,
            "042195000006",
            "validate",
            [
                _failure(
                    "admin_unit.unknown",
                    "permanent_residence.commune_code",
                    UNKNOWN_COMMUNE_REASON,
                    UNKNOWN_COMMUNE_REASON_VI,
                )
            ],
            commune_payload,
            at=datetime(2026, 9, 10, 3, 0, tzinfo=UTC),
            record=commune_record,
            **lineage,
        )
        late_schema = _quarantine_row(
            person_id,
            "042195000009",
            "decode",
            [
                _failure(
                    "decode.unknown_schema",
                    "",
                    "schema id 99 is not in the registry",
                    "Mã lược đồ 99 không có trong kho lược đồ",
                )
            ],
            b"\x00\x00\x00\x00\x63" + b"\x02" * 20,
            # 00:30 on 13 September in Hà Tĩnh, still the 12th in UTC.
            at=datetime(2026, 9, 12, 17, 30, tzinfo=UTC),
            **lineage,
        )
        connector = _quarantine_row(
            person_id,
            "042195000010",
            "connector",
            [
                _failure(
                    "source.mapping",
                    "",
                    "Ngày sinh '31/02/1995' is not a date",
                    "Không ánh xạ được dòng dữ liệu nguồn: Ngày sinh '31/02/1995' sai",
                )
            ],
            b'{"Ng\xc3\xa0y sinh": "31/02/1995"}',
            at=datetime(2026, 9, 14, 2, 0, tzinfo=UTC),
            record={"Số định danh cá nhân": "042195000010", "Ngày sinh": "31/02/1995"},
            **lineage,
        )
        birth = _quarantine_row(
            BIRTH.id,
            "000.00.17.H25|01/2026|125",
            "validate",
            [
                _failure(
                    "personal_id.gender",
                    "mother.personal_id",
                    "mother.personal_id 042095000777 is a man's number",
                    "mother.personal_id 042095000777 là số định danh của nam giới",
                )
            ],
            b"\x00\x00\x00\x00\x02birth",
            at=datetime(2026, 9, 5, 2, 0, tzinfo=UTC),
            source_system="civil_status",
            agency_id=BIRTH.owner_agency,
        )
        released = _quarantine_row(
            person_id,
            "042195000001",
            "validate",
            [_failure("admin_unit.unknown", "", "fixed since", "đã sửa")],
            b"\x00\x00\x00\x00\x01released",
            at=datetime(2026, 9, 11, 2, 0, tzinfo=UTC),
            status="released",
            **lineage,
        )
        rows = [unknown_commune, late_schema, connector, birth, released]
        session.add_all(rows)
        session.commit()
        return Seeded(
            engine=engine,
            person_id=person_id,
            unknown_commune=unknown_commune.id,
            late_schema=late_schema.id,
            connector=connector.id,
            birth=birth.id,
            released=released.id,
            unknown_commune_payload=commune_payload,
        )


def with_person(catalogue: Catalogue, replacement: Dataset) -> Catalogue:
    """The catalogue with citizen.person replaced, e.g. by a copy with topics of its own."""
    datasets = tuple(
        replacement if dataset.id == PERSON.id else dataset for dataset in catalogue.datasets
    )
    return catalogue.model_copy(update={"datasets": datasets})
