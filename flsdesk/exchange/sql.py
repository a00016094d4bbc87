"""The exchange's raw reads and bulk writes on either engine (SQLCipher or PostgreSQL).

Export, import and opt-out read every record; the ORM's result layer would cost more per row
than the rest of the work, so they use the driver's own cursor (plain tuples). The two drivers
differ in what this module hides: the parameter mark (``?`` / ``%s``), the types of what comes
back (SQLite stores dates and times as text, psycopg returns ``date``/``datetime`` objects), the
upsert spelling, and the fast bulk path (executemany on SQLite, COPY on PostgreSQL).

Also here: ``exchange_lock``, which serialises one kind of exchange work (exports, opt-out
marks) across every PC of a team while saves go on (a lock of its own, apart from the store's
one-writer lock, so a ten-second export does not hold up a nurse's save).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import date, datetime
from typing import Any

import sqlalchemy
from sqlalchemy import Connection

from flsdesk.answers import parse_iso_date

# SQLAlchemy stores DateTime on SQLite as this text; a PostgreSQL timestamp is formatted the
# same way, so that everything built from a time (the export's sort keys) is the same on both.
_STAMP = "%Y-%m-%d %H:%M:%S.%f"

# pg_advisory_lock's two-key form (a key space apart from the store's one-key writer lock):
# the first key names flsdesk's exchange, the second the kind of work.
_LOCK_CLASS = 0x464C5345  # "FLSE"
EXPORT_LOCK = 1
OPTOUT_LOCK = 2

_local_locks = {EXPORT_LOCK: threading.RLock(), OPTOUT_LOCK: threading.RLock()}


def is_postgres(bind: Connection | sqlalchemy.Engine) -> bool:
    return bind.dialect.name == "postgresql"


class Raw:
    """The driver's cursor behind an SQLAlchemy connection, taking SQLite-style SQL.

    Statements are written once, for SQLite: ``?`` marks, and ``+deleted_at`` (SQLite's way of
    keeping the planner off an index). On PostgreSQL the marks become ``%s`` and the ``+``
    goes. No statement here holds a literal ``?`` or ``%``.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.pg = is_postgres(conn)
        self.driver: Any = conn.connection.driver_connection
        # The answers as the exact text stored: its SHA-256 keys the export row cache.
        self.answers = "answers::text" if self.pg else "answers"

    def sql(self, statement: str) -> str:
        if self.pg:
            return statement.replace("+deleted_at", "deleted_at").replace("?", "%s")
        return statement

    def execute(self, statement: str, params: Sequence[Any] = ()) -> Any:
        """A cursor (iterate it, or ``fetchall``/``fetchone``)."""
        return self.driver.execute(self.sql(statement), tuple(params))

    def param_date(self, iso: str) -> Any:
        """A date parameter compared with a date column."""
        return date.fromisoformat(iso) if self.pg else iso

    def upsert_meta(self, key: str, value: str) -> None:
        if self.pg:
            self.driver.execute(
                "INSERT INTO meta (key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (key, value),
            )
        else:
            self.driver.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value)
            )

    def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Append rows (no conflicts expected): COPY on PostgreSQL, executemany on SQLite."""
        names = ", ".join(columns)
        if self.pg:
            cursor = self.driver.cursor()
            with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.close()
        else:
            marks = ", ".join("?" * len(columns))
            self.driver.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)

    def next_ids(self, table: str, count: int) -> list[int]:
        """``count`` fresh ids from the table's own sequence (PostgreSQL only): ids taken as
        max(id)+1 would leave the sequence behind, and the next ordinary insert would collide."""
        if count <= 0:
            return []
        rows = self.driver.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            (table, count),
        ).fetchall()
        return [int(r[0]) for r in rows]


@contextmanager
def one_moment(engine: sqlalchemy.Engine) -> Iterator[Connection]:
    """A connection whose reads all see the store at one moment. On a team database other PCs
    save meanwhile: what a plan reads in several statements (records, the row cache, the rows
    last sent, the outbox; an import's records and the fingerprint it is checked against later)
    must come from one snapshot (REPEATABLE READ). The local store has one writer."""
    with engine.connect() as conn:
        if is_postgres(conn):
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        yield conn


def as_date(value: Any) -> date | None:
    """A date column's value as a date, whichever engine returned it."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return parse_iso_date(value)


def as_datetime(value: Any) -> datetime:
    """A timestamp column's value (naive UTC) as a datetime, whichever engine returned it."""
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def stamp_text(value: Any) -> str:
    """A timestamp column's value as SQLite's stored text."""
    if isinstance(value, datetime):
        return value.strftime(_STAMP)
    return str(value)


def answers_of(value: Any) -> Any:
    """A record's answers as Python values, whether the driver gave text or decoded JSON."""
    return json.loads(value) if isinstance(value, str | bytes) else value


@contextmanager
def exchange_lock(engine: sqlalchemy.Engine, kind: int) -> Iterator[None]:
    """Hold the team-wide lock for one kind of exchange work (waits for another PC's turn).

    Re-entrant within a thread (the one-shot export holds it around prepare and write, and
    write takes it again). On PostgreSQL a session-level advisory lock on a connection of its
    own: it goes if this process dies, so a killed export never leaves the team locked out.
    The local store is one process (its file lock sees to that): a lock of this process suffices.
    """
    with _local_locks[kind], _held(engine, kind, wait=True) as got:
        assert got
        yield


@contextmanager
def exchange_try_lock(engine: sqlalchemy.Engine, kind: int) -> Iterator[bool]:
    """Like ``exchange_lock`` without waiting: yields whether the lock was had (False while
    this work runs in another thread or on another PC)."""
    local = _local_locks[kind]
    if not local.acquire(blocking=False):
        yield False
        return
    try:
        with _held(engine, kind, wait=False) as got:
            yield got
    finally:
        local.release()


_depth = {EXPORT_LOCK: 0, OPTOUT_LOCK: 0}  # guarded by _local_locks


@contextmanager
def _held(engine: sqlalchemy.Engine, kind: int, *, wait: bool) -> Iterator[bool]:
    """The server's lock, taken once per process (the caller holds the local lock)."""
    if _depth[kind] or not is_postgres(engine):
        _depth[kind] += 1
        try:
            yield True
        finally:
            _depth[kind] -= 1
        return
    with engine.connect() as conn:
        driver: Any = conn.connection.driver_connection
        if wait:
            # The store's connections give up waiting for a lock after a while (lock_timeout);
            # another PC's export or opt-out run may take longer, and its turn always ends (a
            # dead PC's session, and so its lock, goes with its connection): wait for it.
            driver.execute("SET LOCAL lock_timeout = 0")
            driver.execute("SELECT pg_advisory_lock(%s, %s)", (_LOCK_CLASS, kind))
            got = True
        else:
            row = driver.execute(
                "SELECT pg_try_advisory_lock(%s, %s)", (_LOCK_CLASS, kind)
            ).fetchone()
            got = bool(row[0])
        # The session's lock outlives this transaction: no snapshot is held open while the
        # work runs.
        driver.commit()
        if not got:
            yield False
            return
        _depth[kind] += 1
        try:
            yield True
        finally:
            _depth[kind] -= 1
            # A connection lost meanwhile took its lock with it: nothing left to release.
            with suppress(Exception):
                driver.execute("SELECT pg_advisory_unlock(%s, %s)", (_LOCK_CLASS, kind))
                driver.commit()
