"""Helpers for the damaged-store, integrity and restore-crash tests: a real store made through
the command line, with real records and real automatic backups."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flsdesk.cli import EXIT_OK, main
from flsdesk.paths import AppPaths
from flsdesk.store import backup, engine, keys
from flsdesk.store.store import Store
from tests.helpers.conftest_records import complete_answers, nhs_number

PASS = "correct horse battery"
RECOVERY = re.compile(r"\b[A-Z2-7]{5}(?:-[A-Z2-7]{5}){7}\b")


def init_store(
    paths: AppPaths, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> str:
    """``flsdesk init`` into ``paths``; returns the recovery key it printed. Leaves
    FLSDESK_PASSPHRASE set, as a script running the other commands would."""
    monkeypatch.setenv("FLSDESK_NEW_PASSPHRASE", PASS)
    assert main(["--data-dir", str(paths.data_dir), "init", "--site", "Test FLS"]) == EXIT_OK
    monkeypatch.delenv("FLSDESK_NEW_PASSPHRASE")
    found = RECOVERY.findall(capsys.readouterr().out)
    assert len(found) == 1
    monkeypatch.setenv("FLSDESK_PASSPHRASE", PASS)
    return found[0]


def data_key(paths: AppPaths) -> bytes:
    return keys.unlock_with_passphrase(paths.key_file, PASS)


def add_records(paths: AppPaths, count: int, start: int = 0) -> None:
    with Store.open(paths, data_key(paths), "TS (tester)") as store:
        for n in range(start, start + count):
            store.new_record(complete_answers(nhs_number(200000000 + n * 7)))


def record_count(paths: AppPaths) -> int:
    """Records in the store, read as the app reads them (lock, quick check and all)."""
    with Store.open(paths, data_key(paths), "TS (tester)") as store, store.engine.connect() as c:
        return int(c.exec_driver_sql("SELECT count(*) FROM records").scalar())


def checkpoint(paths: AppPaths, key: bytes | None = None) -> None:
    """Fold the WAL into the database file, so a byte flipped in the file is a byte of data."""
    conn = engine.connect(paths.database, key or data_key(paths))
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def flip_byte_in_records_page(paths: AppPaths, key: bytes | None = None) -> int:
    """Flip one byte inside a page that holds rows of the records table; returns the page."""
    key = key or data_key(paths)
    checkpoint(paths, key)
    conn = engine.connect(paths.database, key)
    try:
        root = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = 'records'"
        ).fetchone()[0]
        page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    finally:
        conn.close()
    raw = bytearray(paths.database.read_bytes())
    offset = (root - 1) * page_size + page_size // 2
    raw[offset] ^= 0x5A
    paths.database.write_bytes(bytes(raw))
    return int(root)


def automatic_backups(paths: AppPaths) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in backup.automatic_backups(paths.backups_dir)}


def flip_byte_in_free_page(paths: AppPaths, key: bytes | None = None) -> None:
    """Free some pages (a scratch table dropped) and flip a byte among them: damage only the
    full check (every page's HMAC) can see; quick_check reads the pages in use only."""
    key = key or data_key(paths)
    conn = engine.connect(paths.database, key)
    try:
        conn.execute("CREATE TABLE scratch (v BLOB)")
        conn.executemany("INSERT INTO scratch VALUES (?)", [(bytes(3000),) for _ in range(40)])
        conn.commit()
        conn.execute("DROP TABLE scratch")  # its pages go to the free list
        conn.commit()
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] > 10
        page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    raw = bytearray(paths.database.read_bytes())
    raw[len(raw) - 3 * page_size + 100] ^= 0xFF  # near the end: among the freed pages
    paths.database.write_bytes(bytes(raw))
