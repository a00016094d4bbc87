"""The one place a key touches SQLCipher.

Every connection to the store, ORM or raw, comes from :func:`connect` (or :func:`create_engine`,
which calls it for each pooled connection), so the key, the cipher check and the durability
settings can never be forgotten on one code path.

The key is applied as a raw 256-bit key (``PRAGMA key = "x'…'"``): SQLCipher then skips its own
PBKDF2 (the key already comes from Argon2id or the recovery key, see ``keys.py``), and the hex
string is built only from validated bytes, so nothing the user typed is ever formatted into SQL.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy
import sqlcipher3

from flsdesk.store.errors import StoreDamaged, StoreError, WrongKey
from flsdesk.store.keys import validate_key

log = logging.getLogger("flsdesk.store")

BUSY_TIMEOUT_S = 10.0

DbConnection = Any  # sqlcipher3.Connection, or sqlite3.Connection for the benchmark's key=None


def _create_private_file(db_path: Path) -> None:
    """Create an empty database file readable by its owner only.

    SQLite gives its -wal and -shm files the same permissions as the database file, so creating
    this one 0600 up front keeps all three private. An empty file is a valid new database.
    """
    db_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(db_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def _apply_settings(conn: DbConnection, *, wal: bool) -> None:
    # Temp tables and sort spills stay in memory, so no plain temp file ever reaches the disk.
    conn.execute("PRAGMA temp_store = MEMORY")
    if wal:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError("The store's folder does not support the database's journal mode.")
    # FULL: a transaction reported committed survives power loss, not just a crash of the app.
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")


def _is_not_a_database(exc: BaseException) -> bool:
    return "file is not a database" in str(exc) or "file is encrypted" in str(exc)


def connect(db_path: Path, key: bytes | None, *, wal: bool = True) -> DbConnection:
    """Open (creating if missing) the database at ``db_path`` with the 32-byte data ``key``.

    ``key=None`` opens plain SQLite through the standard library; only the benchmark does that,
    to measure what the encryption costs. ``wal=False`` is for backup files, which must be one
    self-contained file.

    Raises WrongKey when the key does not open the file, StoreError when the SQLCipher library is
    missing its cipher, StoreDamaged when the file cannot be read at all.
    """
    db_path = Path(db_path)
    _create_private_file(db_path)
    if key is None:
        plain = sqlite3.connect(db_path, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
        try:
            _apply_settings(plain, wal=wal)
        except BaseException:
            plain.close()
            raise
        return plain

    hex_key = validate_key(key).hex()
    conn = sqlcipher3.connect(str(db_path), timeout=BUSY_TIMEOUT_S, check_same_thread=False)
    try:
        # SQLCipher otherwise prints "hmac check failed" to stderr on every wrong key, which
        # would land in the middle of the CLI's own message. The exception carries the news.
        conn.execute("PRAGMA cipher_log_level = NONE")
        # The key must come before anything that reads the file.
        conn.execute(f"PRAGMA key = \"x'{hex_key}'\"")
        row = conn.execute("PRAGMA cipher_version").fetchone()
        if not row or not row[0]:
            raise StoreError(
                "This copy of flsdesk was built without database encryption and cannot open the "
                "store. Reinstall flsdesk."
            )
        try:
            # The first read is where SQLCipher finds out whether the key is right.
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlcipher3.DatabaseError as exc:
            if _is_not_a_database(exc):
                raise WrongKey(
                    "The passphrase or recovery key is not right for this store "
                    "(or the database file is not an flsdesk store)."
                ) from None
            raise StoreDamaged("The database file cannot be read; it may be damaged.") from exc
        _apply_settings(conn, wal=wal)
    except BaseException:
        conn.close()
        raise
    return conn


def cipher_version(conn: DbConnection) -> str:
    row = conn.execute("PRAGMA cipher_version").fetchone()
    return str(row[0]) if row and row[0] else ""


def create_engine(db_path: Path, key: bytes | None, **kwargs: Any) -> sqlalchemy.Engine:
    """A SQLAlchemy 2 engine whose every pooled connection comes from :func:`connect`.

    The plain ``sqlite`` dialect is used with ``sqlcipher3`` as its DBAPI module (``module=``), so
    SQLAlchemy recognises SQLCipher's exceptions. The ``pysqlcipher`` dialect is avoided on
    purpose: it would put the key into the URL and issue ``PRAGMA key`` itself. Extra keyword
    arguments go to :func:`sqlalchemy.create_engine` (e.g. ``echo``).
    """
    db_path = Path(db_path)
    if key is not None:
        key = validate_key(key)
    # The URL only names the file, so SQLAlchemy picks its file-database pool; the creator does
    # the connecting.
    url = sqlalchemy.URL.create("sqlite", database=str(db_path))
    return sqlalchemy.create_engine(
        url,
        creator=lambda: connect(db_path, key),
        module=sqlite3 if key is None else sqlcipher3,
        **kwargs,
    )
