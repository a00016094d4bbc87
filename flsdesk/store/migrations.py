"""Numbered schema steps, from an empty database to the current schema.

Each step runs in its own ``BEGIN IMMEDIATE`` transaction that also sets ``PRAGMA user_version``
(the header field is written transactionally), so a crash mid-step leaves the database at the
previous schema, never between two. Before an existing database is upgraded, a copy is taken
through SQLite's backup API (a file copy of a live WAL database can be torn).

The steps are frozen SQL: once released, a step never changes. ``models.py`` describes the result;
``tests/store/test_migrations.py`` checks that the two agree, and that every released fixture
database in ``tests/fixtures/`` migrates with its records intact.

A team database (PostgreSQL) has no history before team mode: ``team_schema.create_schema``
builds it whole from the models at step ``PG_BASELINE`` and records that number in ``meta``
(key ``schema_version``; PostgreSQL has no header field). Every later step must carry its
PostgreSQL form (``run_pg``), run the same way: one transaction per step, with the number, under
the store's advisory write lock so two PCs opening at once never both migrate.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import Connection
from sqlalchemy import text as sql_text

from flsdesk import __version__
from flsdesk.store.errors import NewerSchema, NoStore, StoreDamaged, StoreError

log = logging.getLogger("flsdesk.store")


@dataclass(frozen=True)
class Step:
    number: int  # the schema version the database has once this step is done
    description: str
    run: Callable[[Any], None]  # receives the DB-API connection, inside the step's transaction
    # The same change on a team database (a SQLAlchemy Connection, inside the step's
    # transaction); None only for steps up to PG_BASELINE, which a team database never runs.
    run_pg: Callable[[Connection], None] | None = None


def _statements(*statements: str) -> Callable[[Any], None]:
    def run(conn: Any) -> None:
        # One execute() per statement: executescript() would COMMIT the step's transaction.
        for statement in statements:
            conn.execute(statement)

    return run


_schema_1 = _statements(
    """
CREATE TABLE records (
    id INTEGER NOT NULL,
    uuid VARCHAR(36) NOT NULL,
    answers TEXT NOT NULL,
    dataset_id VARCHAR(64) NOT NULL,
    nhs_number VARCHAR(16),
    diagnosed DATE,
    date_of_birth DATE,
    gender VARCHAR(40),
    site VARCHAR(80),
    name VARCHAR(200) COLLATE "NOCASE",
    hospital_number VARCHAR(40) COLLATE "NOCASE",
    match_key VARCHAR(200),
    status VARCHAR(20) NOT NULL,
    has_errors BOOLEAN NOT NULL,
    missing_count INTEGER NOT NULL,
    followup_applies BOOLEAN NOT NULL,
    fu16_closed BOOLEAN NOT NULL,
    fu52_closed BOOLEAN NOT NULL,
    followup_ended BOOLEAN NOT NULL,
    bone_therapy VARCHAR(400),
    bone_therapy_drug BOOLEAN NOT NULL,
    evaluated_on DATE NOT NULL,
    deleted_at DATETIME,
    deleted_reason VARCHAR(40),
    deleted_note TEXT,
    created_at DATETIME NOT NULL,
    created_by VARCHAR(120) NOT NULL,
    updated_at DATETIME NOT NULL,
    updated_by VARCHAR(120) NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (uuid)
)
""",
    """
CREATE INDEX ix_records_nhs_number ON records (nhs_number)
""",
    """
CREATE INDEX ix_records_diagnosed ON records (diagnosed)
""",
    """
CREATE INDEX ix_records_match_key ON records (match_key) WHERE deleted_at IS NULL
""",
    """
CREATE INDEX ix_records_status ON records (status)
""",
    """
CREATE INDEX ix_records_deleted_at ON records (deleted_at) WHERE deleted_at IS NOT NULL
""",
    """
CREATE INDEX ix_records_name ON records (name)
""",
    """
CREATE INDEX ix_records_hospital_number ON records (hospital_number)
""",
    """
CREATE INDEX ix_records_evaluated_on ON records (evaluated_on)
""",
    """
CREATE TABLE audit (
    id INTEGER NOT NULL,
    at DATETIME NOT NULL,
    user VARCHAR(120) NOT NULL,
    record_id INTEGER,
    question VARCHAR(64),
    old_value TEXT,
    new_value TEXT,
    reason TEXT,
    action VARCHAR(16) NOT NULL,
    PRIMARY KEY (id)
)
""",
    """
CREATE INDEX ix_audit_record_id ON audit (record_id)
""",
    """
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END
""",
    """
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
WHEN OLD.action = 'purge'
    OR EXISTS (SELECT 1 FROM records WHERE records.id = OLD.record_id)
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END
""",
    """
CREATE TABLE settings (
    "key" VARCHAR(80) NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY ("key")
)
""",
    """
CREATE TABLE meta (
    "key" VARCHAR(80) NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY ("key")
)
""",
)

# Follow-up call attempts (issue 8): local to this computer, never exported; they go with their
# record when it is purged (foreign keys are on in every connection, see engine.py).
_schema_2 = _statements(
    """
CREATE TABLE call_attempts (
    id INTEGER NOT NULL,
    record_id INTEGER NOT NULL,
    window_id VARCHAR(32) NOT NULL,
    called_on DATE NOT NULL,
    outcome VARCHAR(40) NOT NULL,
    try_again_on DATE,
    created_at DATETIME NOT NULL,
    created_by VARCHAR(120) NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY(record_id) REFERENCES records (id) ON DELETE CASCADE
)
""",
    """
CREATE INDEX ix_call_attempts_record_window ON call_attempts (record_id, window_id)
""",
    # The worklist's look-ups: live, owed, not ended, not closed, then a range of diagnosis
    # dates; the index alone answers the counts per state.
    """
CREATE INDEX ix_records_fu16_open
ON records (followup_applies, followup_ended, fu16_closed, diagnosed) WHERE deleted_at IS NULL
""",
    """
CREATE INDEX ix_records_fu52_open
ON records (followup_applies, followup_ended, fu52_closed, diagnosed) WHERE deleted_at IS NULL
""",
)

# Export batches, the rows each sent, and opt-out lists (issue 6). The outbox is these batches.
_schema_3 = _statements(
    """
CREATE TABLE export_batches (
    seq INTEGER NOT NULL,
    batch_id VARCHAR(36) NOT NULL,
    created_at DATETIME NOT NULL,
    created_by VARCHAR(120) NOT NULL,
    scope VARCHAR(40) NOT NULL,
    profile VARCHAR(80) NOT NULL,
    file_path TEXT NOT NULL,
    file_sha256 VARCHAR(64) NOT NULL,
    record_count INTEGER NOT NULL,
    state VARCHAR(16) NOT NULL,
    state_at DATETIME NOT NULL,
    attempts INTEGER NOT NULL,
    receipt TEXT,
    failure TEXT,
    PRIMARY KEY (seq),
    UNIQUE (batch_id)
)
""",
    """
CREATE INDEX ix_export_batches_file_sha256 ON export_batches (file_sha256)
""",
    """
CREATE TABLE export_rows (
    record_id INTEGER NOT NULL,
    batch_seq INTEGER NOT NULL,
    kind VARCHAR(8) NOT NULL,
    row_hash VARCHAR(64),
    PRIMARY KEY (record_id, batch_seq),
    FOREIGN KEY(batch_seq) REFERENCES export_batches (seq) ON DELETE CASCADE
)
""",
    """
CREATE TABLE optout_lists (
    id INTEGER NOT NULL,
    created_at DATETIME NOT NULL,
    created_by VARCHAR(120) NOT NULL,
    nhs_numbers TEXT NOT NULL,
    result_read_at DATETIME,
    PRIMARY KEY (id)
)
""",
    """
CREATE TABLE export_row_cache (
    record_id INTEGER NOT NULL,
    answers_sha BLOB NOT NULL,
    row_bytes BLOB,
    row_hash VARCHAR(64),
    optout_state VARCHAR(16) NOT NULL,
    sort_key TEXT NOT NULL,
    PRIMARY KEY (record_id),
    FOREIGN KEY(record_id) REFERENCES records (id) ON DELETE CASCADE
)
""",
)

_schema_4 = _statements(
    """
CREATE INDEX ix_records_list ON records (status, diagnosed, nhs_number, name, hospital_number, """
    """date_of_birth, site, missing_count) WHERE deleted_at IS NULL
""",
)

# Record versions (issue 12): every write bumps it; a save based on an older one is merged.
_schema_5 = _statements(
    """
ALTER TABLE records ADD COLUMN version INTEGER DEFAULT 1 NOT NULL
""",
)

STEPS: tuple[Step, ...] = (
    Step(1, "records, audit trail, settings, meta", _schema_1),
    Step(2, "follow-up call attempts and worklist indexes", _schema_2),
    Step(3, "export batches, rows sent, opt-out lists, export row cache", _schema_3),
    Step(4, "covering index for the patient list", _schema_4),
    Step(5, "record versions", _schema_5),
)

CURRENT_SCHEMA = STEPS[-1].number
# The step a team database is created at (from the models, see team_schema.py).
PG_BASELINE = 5
# meta key holding a team database's schema number
PG_VERSION_KEY = "schema_version"
# pg_advisory_xact_lock key of "the store's writer": every write transaction on a team database
# takes it (Store._writing), migrations too. An arbitrary constant, the same on every PC.
PG_WRITE_LOCK = 0x464C5344  # "FLSD"


def schema_version(conn: Any) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _is_empty(conn: Any) -> bool:
    row = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()
    return int(row[0]) == 0


def check_not_newer(version: int, steps: Sequence[Step] | None = None) -> None:
    current = (STEPS if steps is None else steps)[-1].number
    if version > current:
        raise NewerSchema(
            f"This store was written by a newer version of flsdesk (store schema {version}, "
            f"this version knows up to {current}). Install the newer version to open it; "
            "nothing has been changed."
        )


def pg_require_tables(conn: Connection) -> None:
    """NoStore when a team database holds no flsdesk tables at all (needs no rights on them)."""
    if conn.scalar(sql_text("SELECT to_regclass('meta')")) is None:
        raise NoStore(
            "The team database has no flsdesk tables yet: its administrator creates them with "
            "'flsdesk team init'."
        )


def pg_schema_version(conn: Connection) -> int:
    """A team database's schema number; NoStore when it holds no flsdesk tables at all."""
    pg_require_tables(conn)
    value = conn.scalar(sql_text("SELECT value FROM meta WHERE key = :k"), {"k": PG_VERSION_KEY})
    if value is None:
        raise StoreDamaged("The team database is not an flsdesk store (no schema version).")
    return int(value)


def record_pg_step(conn: Connection, number: int, stamp: datetime) -> None:
    """Write a team database's schema number (and when, by which version) in the caller's
    transaction."""
    rows = {
        PG_VERSION_KEY: str(int(number)),
        f"schema_{number}_at": f"{stamp.isoformat()} flsdesk {__version__}",
    }
    for key, value in rows.items():
        conn.execute(
            sql_text(
                "INSERT INTO meta (key, value) VALUES (:k, :v) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
            ),
            {"k": key, "v": value},
        )


def _migrate_pg(
    engine: sqlalchemy.Engine, steps: Sequence[Step], clock: Callable[[], datetime]
) -> int:
    with engine.connect() as conn:
        start = pg_schema_version(conn)
        conn.rollback()
        check_not_newer(start, steps)
        for step in steps:
            if step.number <= start:
                continue
            with conn.begin():
                conn.execute(sql_text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_WRITE_LOCK})
                # Another PC may have run it while this one waited for the lock.
                if pg_schema_version(conn) >= step.number:
                    continue
                if step.run_pg is None:
                    raise StoreError(
                        f"Schema step {step.number} has no PostgreSQL form; this version of "
                        "flsdesk cannot upgrade the team database."
                    )
                step.run_pg(conn)
                record_pg_step(conn, step.number, clock())
            log.info("team database schema migrated to %d (%s)", step.number, step.description)
        return start


def migrate(
    engine: sqlalchemy.Engine,
    backup: Callable[[int], Path | None] | None = None,
    steps: Sequence[Step] | None = None,
    now: Callable[[], datetime] | None = None,
) -> int:
    """Bring the database to the last of ``steps``; returns the schema version it started at.

    ``backup(from_version)`` is called once, before the first step, when an existing database
    (schema >= 1) is about to change. A newer database raises ``NewerSchema`` and is left alone.
    """
    # Looked up at call time, so that a test can add a future step to the module's list.
    steps = STEPS if steps is None else steps
    numbers = [s.number for s in steps]
    if numbers != list(range(1, len(steps) + 1)):
        raise ValueError("migration steps must be numbered 1, 2, 3… without gaps")
    clock = now or (lambda: datetime.now(UTC))
    if engine.dialect.name == "postgresql":
        # No file to copy: the server's own backups are the DBA's (README, team section).
        return _migrate_pg(engine, steps, clock)
    raw = engine.raw_connection()
    try:
        conn: Any = raw.driver_connection
        start = schema_version(conn)
        check_not_newer(start, steps)
        if start == 0 and not _is_empty(conn):
            # Tables but no schema number: not a database this program made.
            raise StoreDamaged("The database file is not an flsdesk store (no schema version).")
        pending = [s for s in steps if s.number > start]
        if not pending:
            return start
        if start > 0 and backup is not None:
            path = backup(start)
            log.info("backup before migrating from schema %d written (%s)", start, path)
        saved_level = conn.isolation_level
        # Autocommit mode in the driver so that our explicit BEGIN/COMMIT are the only
        # transaction boundaries (pysqlite would otherwise not wrap DDL at all).
        conn.isolation_level = None
        try:
            for step in pending:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    step.run(conn)
                    stamp = clock().isoformat()
                    conn.execute(
                        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                        (f"schema_{step.number}_at", f"{stamp} flsdesk {__version__}"),
                    )
                    conn.execute(f"PRAGMA user_version = {int(step.number)}")
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                log.info("store schema migrated to %d (%s)", step.number, step.description)
        finally:
            conn.isolation_level = saved_level
        return start
    finally:
        raw.close()
