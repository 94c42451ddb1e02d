"""Tables derived from the datasets: linked views, daily indicators and the ingest log.

The views and indicators are recomputed from the dataset tables by ``warehouse.projections``
in the transaction that stores a batch, never adjusted by a delta; the ingest log gains a row
per topic offset in that same transaction.

Identifiers and codes copied from source records are ``Text``, as in the dataset tables: a
length the source exceeds must never stop the sink on PostgreSQL.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from warehouse.models import RECORD_KEY_LENGTH, Base, dataset_table


class CitizenView(Base):
    """A citizen from the population database with what the civil-status events say of them.

    ``sources`` is JSON mapping each linked field to the record that said it:
    ``{dataset, source_system, key, updated_at, trace_id}`` (a list for the children).
    """

    __tablename__ = "citizen_view"

    personal_id: Mapped[str] = mapped_column(Text, primary_key=True)
    full_name: Mapped[str] = mapped_column(Text)
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    gender: Mapped[str | None] = mapped_column(String(6))
    permanent_residence_commune_code: Mapped[str | None] = mapped_column(Text)
    deceased: Mapped[bool] = mapped_column(Boolean)
    date_of_death: Mapped[date | None] = mapped_column(Date)
    marital_status: Mapped[str | None] = mapped_column(
        String(16), doc="MARRIED when a marriage registration names the citizen, else NULL"
    )
    spouse_id: Mapped[str | None] = mapped_column(Text)
    spouse_name: Mapped[str | None] = mapped_column(Text)
    children_count: Mapped[int] = mapped_column(Integer)
    children_ids: Mapped[str] = mapped_column(Text, doc="JSON list of the children's ids, sorted")
    sources: Mapped[str] = mapped_column(Text, doc="JSON: linked field -> the record that said it")


class EnterpriseView(Base):
    """An enterprise with its branches and business lines counted and its representative linked.

    ``representative_citizen_id`` is set when the legal representative's personal id names a
    citizen of the population database; ``sources`` is JSON as in ``citizen_view``.
    """

    __tablename__ = "enterprise_view"

    enterprise_code: Mapped[str] = mapped_column(Text, primary_key=True)
    name_vi: Mapped[str] = mapped_column(Text)
    legal_form: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str | None] = mapped_column(String(16))
    head_office_commune_code: Mapped[str | None] = mapped_column(Text)
    representative_name: Mapped[str | None] = mapped_column(Text)
    representative_personal_id: Mapped[str | None] = mapped_column(Text)
    representative_citizen_id: Mapped[str | None] = mapped_column(Text)
    representative_citizen_name: Mapped[str | None] = mapped_column(Text)
    branch_count: Mapped[int] = mapped_column(Integer)
    business_line_count: Mapped[int] = mapped_column(Integer)
    main_business_line_code: Mapped[str | None] = mapped_column(Text)
    main_business_line_name: Mapped[str | None] = mapped_column(Text)
    sources: Mapped[str] = mapped_column(Text, doc="JSON: linked field -> the record that said it")


class EnterpriseBranch(Base):
    """A branch or representative office of an enterprise, one row each, for joins by place."""

    __tablename__ = "enterprise_branch"

    enterprise_code: Mapped[str] = mapped_column(Text, primary_key=True)
    branch_code: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text)
    commune_code: Mapped[str | None] = mapped_column(Text, index=True)


class EnterpriseBusinessLine(Base):
    """A business line (VSIC 2018 level 4) of an enterprise, one row each, for joins by trade."""

    __tablename__ = "enterprise_business_line"

    enterprise_code: Mapped[str] = mapped_column(Text, primary_key=True)
    code: Mapped[str] = mapped_column(Text, primary_key=True, index=True)
    name: Mapped[str] = mapped_column(Text)
    main: Mapped[bool] = mapped_column(Boolean)


class IndicatorFact(Base):
    """What one stored record contributes to the indicators: one row per indicator it counts in.

    Keeping the contributions lets an amended record leave its old (unit, day) bucket, and
    lets a bucket be recounted from rows that already carry its unit and day.
    """

    __tablename__ = "indicator_fact"
    __table_args__ = (Index("ix_indicator_fact_bucket", "indicator", "unit_code", "day"),)

    dataset: Mapped[str] = mapped_column(String(64), primary_key=True)
    record_key: Mapped[str] = mapped_column(Text, primary_key=True)
    indicator: Mapped[str] = mapped_column(String(64), primary_key=True)
    unit_kind: Mapped[str] = mapped_column(String(16))
    unit_code: Mapped[str] = mapped_column(Text)
    day: Mapped[date] = mapped_column(Date)


class IndicatorDaily(Base):
    """An indicator's count for one administrative unit (or agency) on one day.

    ``unit_kind`` is ``commune`` (a GSO commune code) or ``agency`` (an agency e-ID, for
    records a district authority or a mission abroad registered, and for documents). Shares
    are derived from these counts (``warehouse.projections.indicator_shares``), never stored.
    """

    __tablename__ = "indicator_daily"
    __table_args__ = (Index("ix_indicator_daily_unit_day", "unit_code", "day"),)

    indicator: Mapped[str] = mapped_column(String(64), primary_key=True)
    unit_code: Mapped[str] = mapped_column(Text, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    unit_kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[int] = mapped_column(BigInteger)


class IngestLog(Base):
    """Every record the worker stored, once per ``raw.*`` offset however often it is delivered.

    A source record a connector sent twice (a resend after a lost acknowledgement: same key,
    version and trace id at another offset) is logged at its first offset only.
    """

    __tablename__ = "ingest_log"
    __table_args__ = (Index("ix_ingest_log_dataset_key", "dataset", "record_key"),)

    topic: Mapped[str] = mapped_column(String(255), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    offset: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    dataset: Mapped[str] = mapped_column(String(64))
    record_key: Mapped[str] = mapped_column(String(RECORD_KEY_LENGTH))
    version: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    trace_id: Mapped[str | None] = mapped_column(String(64))
    ingested_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), doc="When the sink stored the record (UTC)"
    )


# The projections look civil-status events and enterprises up by the person they name; without
# these the recompute of a batch of persons would scan the event tables.
PERSON_LINK_INDEXES: Final = (
    Index("ix_civil_birth_mother_personal_id", dataset_table("civil.birth").c.mother_personal_id),
    Index("ix_civil_birth_father_personal_id", dataset_table("civil.birth").c.father_personal_id),
    Index(
        "ix_civil_marriage_husband_personal_id",
        dataset_table("civil.marriage").c.husband_personal_id,
    ),
    Index("ix_civil_marriage_wife_personal_id", dataset_table("civil.marriage").c.wife_personal_id),
    Index(
        "ix_civil_death_deceased_personal_id", dataset_table("civil.death").c.deceased_personal_id
    ),
    Index(
        "ix_business_enterprise_representative_id",
        dataset_table("business.enterprise").c.legal_representative_personal_id,
    ),
)

DERIVED_TABLES: Final[tuple[Table, ...]] = (
    CitizenView.__table__,
    EnterpriseView.__table__,
    EnterpriseBranch.__table__,
    EnterpriseBusinessLine.__table__,
    IndicatorFact.__table__,
    IndicatorDaily.__table__,
    IngestLog.__table__,
)
"""Tables holding nothing of their own: emptied whenever the dataset tables are."""
