"""The tables of the encrypted store, as SQLAlchemy 2 typed models.

A record is one row: its answers are one JSON document (the definition decides what questions
exist, so the schema does not change when the dataset does), and the columns beside it are
derived by the rules at every save. Lists, the worklist, KPIs and export query those columns, so
they never have to evaluate 50,000 records in Python.

These classes describe the *current* schema. The database is built and upgraded only by the
numbered steps in ``migrations.py``; a test checks that the two agree.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine


class _ServerText(TypeDecorator[str]):
    """Text on PostgreSQL, which cannot hold the NUL character that SQLite's text can: what
    people typed or imported may carry one, so it is dropped on the way in there (the answers
    document keeps it, escaped by JSON). Unbounded, as SQLite never enforces a length either."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return value.replace("\x00", "") if isinstance(value, str) else value


def _str(length: int, collation: str | None = None) -> TypeEngine[str]:
    """VARCHAR(n) on SQLite (which never enforces n), unbounded text on PostgreSQL: the
    derived columns hold what people typed, and a server refusing a long name would refuse a
    save the local store takes. NOCASE is SQLite's; on PostgreSQL the patient list searches
    with ILIKE and sorts on lower() instead (flsdesk/patient_list.py)."""
    return String(length, collation=collation).with_variant(_ServerText(), "postgresql")


def _text() -> TypeEngine[str]:
    return Text().with_variant(_ServerText(), "postgresql")


# Partial indexes, the same predicate on both engines.
_LIVE: dict[str, Any] = {
    "sqlite_where": text("deleted_at IS NULL"),
    "postgresql_where": text("deleted_at IS NULL"),
}
_DELETED: dict[str, Any] = {
    "sqlite_where": text("deleted_at IS NOT NULL"),
    "postgresql_where": text("deleted_at IS NOT NULL"),
}


class Base(DeclarativeBase):
    pass


class Record(Base):
    __tablename__ = "records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Stable across backups, restores and machines; the integer id is only local.
    uuid: Mapped[str] = mapped_column(_str(36), unique=True)
    answers: Mapped[str] = mapped_column(_text())  # JSON object, see docs/internal-contracts.md
    dataset_id: Mapped[str] = mapped_column(_str(64))  # the definition it was evaluated under

    # Derived at every save from the rules' Evaluation (effective answers: hidden ones are absent).
    nhs_number: Mapped[str | None] = mapped_column(_str(16))
    diagnosed: Mapped[date | None] = mapped_column(Date)
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    gender: Mapped[str | None] = mapped_column(_str(40))
    site: Mapped[str | None] = mapped_column(_str(80))
    # NOCASE so that a prefix search (LIKE 'smi%') can use the index.
    name: Mapped[str | None] = mapped_column(_str(200, "NOCASE"))
    hospital_number: Mapped[str | None] = mapped_column(_str(40, "NOCASE"))
    match_key: Mapped[str | None] = mapped_column(_str(200))
    status: Mapped[str] = mapped_column(_str(20))
    has_errors: Mapped[bool] = mapped_column(Boolean)
    missing_count: Mapped[int] = mapped_column(Integer)
    followup_applies: Mapped[bool] = mapped_column(Boolean)
    fu16_closed: Mapped[bool] = mapped_column(Boolean)
    fu52_closed: Mapped[bool] = mapped_column(Boolean)
    followup_ended: Mapped[bool] = mapped_column(Boolean)
    # The recommended bone therapy labels joined by ";" in definition order, and whether any is
    # a drug (KPIs 7, 10, 11 count on it).
    bone_therapy: Mapped[str | None] = mapped_column(_str(400))
    bone_therapy_drug: Mapped[bool] = mapped_column(Boolean)
    # Status can change with the calendar alone (6.01 becomes required from day 113): the day of
    # the last evaluation tells the start-up refresh which rows may be stale.
    evaluated_on: Mapped[date] = mapped_column(Date)

    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)
    deleted_reason: Mapped[str | None] = mapped_column(_str(40))
    deleted_note: Mapped[str | None] = mapped_column(_text())

    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(_str(120))
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    updated_by: Mapped[str] = mapped_column(_str(120))
    # Bumped by every write of the record (save, import, delete, restore): a save states the
    # version it was based on, and one based on an older version is merged, never written over
    # someone else's answers (Store.save_versioned). Last, as ALTER TABLE added it (schema 5).
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))

    __table_args__ = (
        Index("ix_records_nhs_number", "nhs_number"),
        Index("ix_records_diagnosed", "diagnosed"),
        # Partial: only live records count as duplicates, and the duplicate queries then read
        # the index alone.
        Index("ix_records_match_key", "match_key", **_LIVE),
        Index("ix_records_status", "status"),
        # Partial: for the deleted view and the purge only. A full index on a column that is
        # NULL in almost every row would tempt the planner away from the selective ones.
        Index("ix_records_deleted_at", "deleted_at", **_DELETED),
        Index("ix_records_name", "name"),
        Index("ix_records_hospital_number", "hospital_number"),
        # The start-up refresh looks for rows evaluated before today without a full scan.
        Index("ix_records_evaluated_on", "evaluated_on"),
    )


class AuditEntry(Base):
    """Append-only (triggers refuse UPDATE, and DELETE while the record still exists)."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    user: Mapped[str] = mapped_column(_str(120))
    # No foreign key: the purge entry must outlive the record it describes.
    record_id: Mapped[int | None] = mapped_column(Integer)
    question: Mapped[str | None] = mapped_column(_str(64))
    old_value: Mapped[str | None] = mapped_column(_text())  # JSON
    new_value: Mapped[str | None] = mapped_column(_text())  # JSON
    reason: Mapped[str | None] = mapped_column(_text())
    action: Mapped[str] = mapped_column(_str(16))

    __table_args__ = (Index("ix_audit_record_id", "record_id"),)


class Setting(Base):
    """Service settings, secrets included (the upload token): they are safe only in here."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(_str(80), primary_key=True)
    value: Mapped[str] = mapped_column(_text())  # JSON


class Meta(Base):
    """Facts about the store itself (when and by which version it was created, migrations run).

    The schema number itself is ``PRAGMA user_version``: it lives in the database header and is
    written in the same transaction as each migration step.
    """

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(_str(80), primary_key=True)
    value: Mapped[str] = mapped_column(_text())


class CallAttempt(Base):
    """A telephone call about a record's follow-up (the worklist's "Log call attempt").

    Local to this computer: never exported, not a question of the dataset. The rows go with the
    record when it is purged (ON DELETE CASCADE; the engine turns foreign keys on).
    """

    __tablename__ = "call_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[int] = mapped_column(Integer, ForeignKey("records.id", ondelete="CASCADE"))
    window_id: Mapped[str] = mapped_column(_str(32))  # the definition's follow-up window id
    called_on: Mapped[date] = mapped_column(Date)
    outcome: Mapped[str] = mapped_column(_str(40))  # flsdesk.followups.OUTCOMES
    try_again_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(_str(120))  # who, as the audit trail names them

    __table_args__ = (Index("ix_call_attempts_record_window", "record_id", "window_id"),)


class ExportBatch(Base):
    """One completed export (or a file uploaded that no export recorded): the outbox's rows.

    ``batch_id`` travels as the upload's Idempotency-Key. ``state`` is exported, uploading, sent
    (with the server's ``receipt``) or failed (with the server's ``failure`` reason).
    """

    __tablename__ = "export_batches"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)  # export order, 1, 2, 3…
    batch_id: Mapped[str] = mapped_column(_str(36), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(_str(120))
    scope: Mapped[str] = mapped_column(_str(40))  # since-last, month:YYYY-MM, all, external
    profile: Mapped[str] = mapped_column(_str(80))
    file_path: Mapped[str] = mapped_column(_text())
    file_sha256: Mapped[str] = mapped_column(_str(64))
    record_count: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(_str(16))
    state_at: Mapped[datetime] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer)
    receipt: Mapped[str | None] = mapped_column(_text())
    failure: Mapped[str | None] = mapped_column(_text())

    __table_args__ = (Index("ix_export_batches_file_sha256", "file_sha256"),)


class ExportRow(Base):
    """What one batch said about one record: the hash of the row sent ("row"), or that the record
    was reported as deleted here ("deleted", no hash).

    No foreign key to ``records``: the purge of a deleted record must not be blocked, and the
    fact that its row was sent is what the reconciliation report needs.
    """

    __tablename__ = "export_rows"

    # Keyed by record first: every question asked of this table is about records (the row last
    # sent, whether a record was ever sent), and one B-tree is cheaper to fill than two.
    record_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_seq: Mapped[int] = mapped_column(
        Integer, ForeignKey("export_batches.seq", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(_str(8))
    row_hash: Mapped[str | None] = mapped_column(_str(64))


class OptoutList(Base):
    """A list of NHS numbers handed to information governance for the National Data Opt-out
    check; reading their answer back marks exactly the records it covered."""

    __tablename__ = "optout_lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(_str(120))
    nhs_numbers: Mapped[str] = mapped_column(_text())  # JSON list
    result_read_at: Mapped[datetime | None] = mapped_column(DateTime)


# The follow-up worklist's look-ups (flsdesk/followups.py): live (partial: an index leading with
# deleted_at, which is NULL in almost every row, lures the planner into it for unrelated
# queries — the duplicates view took 950 ms instead of 9), owed, not ended, not closed, then a
# range of diagnosis dates. With the flags first, SQLite finds the open follow-ups of a day
# in the index alone (the counts per state never read a record) instead of reading every record
# diagnosed in the window.
Index(
    "ix_records_fu16_open",
    Record.followup_applies,
    Record.followup_ended,
    Record.fu16_closed,
    Record.diagnosed,
    **_LIVE,
    # What else the worklist's counts read, so that PostgreSQL answers them from the index
    # alone too (SQLite's rowid is in every index; dataset_id is read from the row there).
    postgresql_include=["dataset_id", "id"],
)
Index(
    "ix_records_fu52_open",
    Record.followup_applies,
    Record.followup_ended,
    Record.fu52_closed,
    Record.diagnosed,
    **_LIVE,
    # What else the worklist's counts read, so that PostgreSQL answers them from the index
    # alone too (SQLite's rowid is in every index; dataset_id is read from the row there).
    postgresql_include=["dataset_id", "id"],
)

# The patient list (flsdesk/patient_list.py) searches, filters and sorts on these columns only.
# A record row is wide (its answers live in it), so a scan of the table reads ~100 MB at 50,000
# records; this narrow index holds everything the list needs, and the list's queries are
# answered from it alone (search ~20 ms and sort ~40 ms instead of ~500 ms each). Partial, for
# live records only: an index leading with deleted_at draws the planner away from the selective
# indexes of other queries (possible duplicates, the start-up refresh).
Index(
    "ix_records_list",
    Record.status,
    Record.diagnosed,
    Record.nhs_number,
    Record.name,
    Record.hospital_number,
    Record.date_of_birth,
    Record.site,
    Record.missing_count,
    **_LIVE,
    # SQLite keeps the rowid in every index; PostgreSQL needs the id included to answer the
    # list's queries (which return ids) from the index alone.
    postgresql_include=["id"],
)


# PostgreSQL only: the patient list's search looks for what was typed anywhere in the name or
# the hospital number (ILIKE '%…%') and at the start of the NHS number; a B-tree cannot answer
# either, and on the server every row tested is a case-folding comparison. Trigram indexes
# (the pg_trgm extension, which team_schema.create_schema installs) answer them for three or
# more characters typed; shorter searches match most rows anyway and read the list index.
# SQLite has no such index type: its NOCASE columns and the narrow list index do this there.
for _column in (Record.name, Record.hospital_number, Record.nhs_number):
    Index(
        f"ix_records_{_column.key}_trgm",
        _column,
        postgresql_using="gin",
        postgresql_ops={_column.key: "gin_trgm_ops"},
        **_LIVE,
    ).ddl_if(dialect="postgresql")


class ExportRowCache(Base):
    """The row last rendered for a record, so that an export does not decode and re-render
    50,000 unchanged records. Valid only while the record's stored answers are unchanged
    (``answers_sha``, the SHA-256 of the stored text) and while everything else the row depends
    on (definitions, profile, code version) is what the meta key ``export_row_cache_context``
    says; when that changes, the whole cache is dropped. Goes with its record on purge."""

    __tablename__ = "export_row_cache"

    record_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("records.id", ondelete="CASCADE"), primary_key=True
    )
    answers_sha: Mapped[bytes] = mapped_column(LargeBinary)
    row_bytes: Mapped[bytes | None] = mapped_column(LargeBinary)  # None: cannot be encoded
    row_hash: Mapped[str | None] = mapped_column(_str(64))
    optout_state: Mapped[str] = mapped_column(_str(16))
    sort_key: Mapped[str] = mapped_column(_text())
