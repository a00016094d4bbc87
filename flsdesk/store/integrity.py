"""Finding damage in the database before it spreads into the backups.

Two checks, both read-only:

* the *quick* check runs at every open. ``PRAGMA quick_check`` reads every b-tree page (so
  SQLCipher verifies each page's HMAC and a flipped byte in a page that holds records, an index
  or the schema is found) but skips the index-versus-table cross-checks. Pages on the free list
  are not read by it. It is time-boxed: on a slow disk it is cut short rather than keep a person
  waiting, and the open goes ahead (the full check still comes).
* the *full* check runs before every backup and, in the window, at most once a day in the
  background: ``PRAGMA cipher_integrity_check`` (every page's HMAC, free pages included) and
  ``PRAGMA integrity_check`` (the whole structure, indexes against tables).

SQLCipher reports a page whose HMAC fails by aborting the statement ("database disk image is
malformed") rather than listing it, so an exception from a check is a finding, not a crash.
The messages SQLite gives name pages, tables and indexes, never a value held in them, so they may
be logged.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("flsdesk.store")

# Measured on a 50,000-record store (113 MB) on the shared 2-core test machine: quick_check 1.0 s
# idle, 1.3-1.7 s under load; the full check 4.8 s idle, 9.8 s under load (cipher_integrity_check
# alone 0.7-1.0 s).
# Past the budget the open goes ahead (logged); the full check before a backup still comes.
# A clinic's store (a few thousand records, ~10 MB) is checked whole well within the budget; at
# 50,000 records the budget keeps the launch to a usable window under its 2 s target.
QUICK_CHECK_BUDGET_S = 0.5
_PROGRESS_STEPS = 10_000  # SQLite VM instructions between looks at the clock
_MAX_LISTED = 20  # problems listed; one is enough to refuse, the rest goes to the log
FULL_CHECK_META_KEY = "last_full_check"


@dataclass(frozen=True)
class CheckResult:
    problems: list[str] = field(default_factory=list)
    complete: bool = True  # False: the quick check ran out of time (nothing found so far)
    note: str | None = None  # said to the user beside the result (a team database's checks)

    @property
    def ok(self) -> bool:
        return not self.problems


# A team database's pages are the server's: PostgreSQL checksums them itself (initdb
# --data-checksums, the DBA's choice) and its backups are the DBA's, so there is nothing for a
# client to read page by page.
SERVER_NOTE = (
    "The team database's files are checked by its server (PostgreSQL's own page checksums and "
    "the trust's backups), not by flsdesk."
)


def server_result() -> CheckResult:
    """What the quick and full checks report on a team database: ok, with the note."""
    return CheckResult(note=SERVER_NOTE)


def _raw(conn: Any) -> Any:
    # A SQLAlchemy pooled connection wraps the DBAPI one; the checks need the driver's own.
    return getattr(conn, "driver_connection", None) or conn


def _is_cipher(conn: Any) -> bool:
    try:
        row = conn.execute("PRAGMA cipher_version").fetchone()
    except Exception:  # plain sqlite3 (the benchmark's unencrypted store) has no such pragma
        return False
    return bool(row and row[0])


def _run(conn: Any, sql: str) -> list[str]:
    import sqlite3

    import sqlcipher3

    try:
        rows = [str(row[0]) for row in conn.execute(sql).fetchall()]
    except (sqlcipher3.DatabaseError, sqlite3.DatabaseError) as exc:
        if "interrupted" in str(exc):
            raise
        return [f"a page cannot be read ({exc})"]
    return [row for row in rows if row != "ok"]


def quick_check(conn: Any, budget_s: float = QUICK_CHECK_BUDGET_S) -> CheckResult:
    """``PRAGMA quick_check`` on ``conn`` (a DBAPI connection), cut short after ``budget_s``."""
    import sqlite3

    import sqlcipher3

    raw = _raw(conn)
    deadline = time.monotonic() + budget_s
    raw.set_progress_handler(lambda: int(time.monotonic() > deadline), _PROGRESS_STEPS)
    try:
        problems = _run(raw, f"PRAGMA quick_check({_MAX_LISTED})")
    except (sqlcipher3.OperationalError, sqlite3.OperationalError):
        log.warning("quick check cut short after %.1f s; the full check will look", budget_s)
        return CheckResult(complete=False)
    finally:
        raw.set_progress_handler(None, 0)
    if problems:
        log.error("quick check found %d problem(s): %s", len(problems), "; ".join(problems[:3]))
    return CheckResult(problems)


def full_check(conn: Any) -> CheckResult:
    """Every page's HMAC (SQLCipher) and the whole structure; never time-boxed."""
    raw = _raw(conn)
    problems: list[str] = []
    if _is_cipher(raw):
        problems += _run(raw, "PRAGMA cipher_integrity_check")
    if not problems:
        # After a failed HMAC the structural check would only repeat the news, slowly.
        problems += _run(raw, f"PRAGMA integrity_check({_MAX_LISTED})")
    if problems:
        log.error("integrity check found %d problem(s): %s", len(problems), "; ".join(problems[:3]))
    return CheckResult(problems)


def page_check(conn: Any) -> CheckResult:
    """Every page's HMAC only (free pages included), without the structural check: for the live
    file, whose free pages a backup does not carry but whose damage still says the disk or the
    file is failing."""
    raw = _raw(conn)
    problems = _run(raw, "PRAGMA cipher_integrity_check") if _is_cipher(raw) else []
    if problems:
        log.error("page check found %d problem(s): %s", len(problems), "; ".join(problems[:3]))
    return CheckResult(problems)


def record_count(conn: Any) -> int | None:
    """Rows in the records table (deleted ones still in their retention included), or None when
    the database has no such table (a test database, or one holding no store)."""
    raw = _raw(conn)
    row = raw.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'records'"
    ).fetchone()
    if not row or not row[0]:
        return None
    return int(raw.execute("SELECT count(*) FROM records").fetchone()[0])


def table_count(conn: Any) -> int:
    row = _raw(conn).execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()
    return int(row[0])
