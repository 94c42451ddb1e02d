"""Warehouse tables.

Each catalogue dataset gets a table derived from its Avro schema (nested fields flattened,
key from the catalogue), plus lineage columns; adding a dataset needs no code here.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

from schemas.catalogue import Dataset, FieldColumn, default_catalogue, leaf_fields

metadata = MetaData()

LINEAGE_COLUMNS = ("source_system", "agency_id", "trace_id", "ingested_at")

# Record keys (the Kafka key: the catalogue key fields joined by "|") are cut to this length
# wherever they are stored, so the quarantine and the ingest log compare them alike.
RECORD_KEY_LENGTH = 128


class Base(DeclarativeBase):
    metadata = metadata


class Quarantine(Base):
    """A record held back from the warehouse, with every reason it was held."""

    __tablename__ = "quarantine"
    __table_args__ = (UniqueConstraint("dataset", "fingerprint", name="uq_quarantine_record"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset: Mapped[str] = mapped_column(String(64), index=True)
    # sha256 of the dead-lettered bytes: a redelivered record lands on the same row.
    fingerprint: Mapped[str] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(32))
    rules: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    failures: Mapped[str] = mapped_column(Text, doc="JSON list of {rule, field, reason, reason_vi}")
    record_key: Mapped[str | None] = mapped_column(String(RECORD_KEY_LENGTH), index=True)
    # The record's version field, when its bytes could be decoded: a valid record of the same
    # key and at least this version supersedes the row.
    record_version: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    source_system: Mapped[str | None] = mapped_column(String(64))
    agency_id: Mapped[str | None] = mapped_column(String(32))
    trace_id: Mapped[str | None] = mapped_column(String(64))
    origin_topic: Mapped[str | None] = mapped_column(String(255))
    origin_partition: Mapped[int | None] = mapped_column(Integer)
    origin_offset: Mapped[int | None] = mapped_column(BigInteger)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    record_json: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(
        String(16), default="held", doc="held, replayed, released or superseded (warehouse.store)"
    )
    quarantined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AdminUnit(Base):
    """Administrative units, one row per unit per published list (versioned by dates)."""

    __tablename__ = "ref_admin_unit"

    list_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    level: Mapped[str] = mapped_column(String(16), primary_key=True)
    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    province_code: Mapped[str] = mapped_column(String(4), index=True)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)


def _sql_type(field: FieldColumn) -> TypeEngine[Any]:
    avro = field.avro_type
    logical = field.logical_type
    if logical == "date":
        return Date()
    if logical in ("timestamp-millis", "timestamp-micros"):
        return DateTime(timezone=True)
    if logical == "decimal":
        return Numeric(avro.get("precision", 38), avro.get("scale", 0))
    base = avro.get("type") if isinstance(avro, dict) else avro
    if base == "enum":
        return String(max(len(s) for s in avro["symbols"]))
    mapping: dict[str, TypeEngine[Any]] = {
        "string": Text(),
        "int": Integer(),
        "long": BigInteger(),
        "boolean": Boolean(),
        "float": Float(),
        "double": Float(),
        "bytes": LargeBinary(),
    }
    if isinstance(base, str) and base in mapping:
        return mapping[base]
    # Arrays and maps are kept as JSON text until a dataset needs them relational.
    return Text()


def build_dataset_table(dataset: Dataset, meta: MetaData = metadata) -> Table:
    fields = leaf_fields(dataset.avro_schema())
    key_columns = {path.replace(".", "_") for path in dataset.key}
    columns = [
        Column(
            f.column,
            _sql_type(f),
            primary_key=f.column in key_columns,
            nullable=f.nullable and f.column not in key_columns,
        )
        for f in fields
    ]
    columns += [
        Column("source_system", String(64)),
        Column("agency_id", String(32)),
        Column("trace_id", String(64)),
        Column("ingested_at", DateTime(timezone=True)),
    ]
    return Table(dataset.table_name, meta, *columns)


DATASET_TABLES: dict[str, Table] = {
    entry.id: build_dataset_table(entry) for entry in default_catalogue().datasets
}


def dataset_table(dataset_id: str) -> Table:
    return DATASET_TABLES[default_catalogue().dataset(dataset_id).id]
