"""The engine factory: real SQLCipher files, the key, the pragmas, nothing in clear text."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from flsdesk.cli import main
from flsdesk.logs import setup_logging
from flsdesk.paths import resolve
from flsdesk.store import backup, engine, keys
from flsdesk.store.errors import WrongKey

NHS = "9434765919"
NAME = "Zebedee Quilliam-Test"
KEY = bytes(range(32))


def _write_patient(conn) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS patient (id INTEGER PRIMARY KEY, nhs TEXT, name TEXT)")
    conn.execute("INSERT INTO patient (nhs, name) VALUES (?, ?)", (NHS, NAME))
    conn.commit()


def test_encrypted_file_and_settings(tmp_path: Path) -> None:
    db = tmp_path / "flsdesk.db"
    conn = engine.connect(db, KEY)
    try:
        _write_patient(conn)
        assert engine.cipher_version(conn).startswith("4.")
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0
        if os.name == "posix":
            for f in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
                assert f.stat().st_mode & 0o777 == 0o600, f
    finally:
        conn.close()
    assert not db.read_bytes().startswith(b"SQLite format 3")
    again = engine.connect(db, KEY)
    assert again.execute("SELECT nhs, name FROM patient").fetchall() == [(NHS, NAME)]
    again.close()


def test_wrong_key(tmp_path: Path) -> None:
    db = tmp_path / "flsdesk.db"
    _write_patient(engine.connect(db, KEY))
    before = db.read_bytes()
    with pytest.raises(WrongKey):
        engine.connect(db, bytes(32))
    with pytest.raises(WrongKey), engine.create_engine(db, bytes(32)).connect():
        pass
    assert db.read_bytes() == before


def test_plain_sqlite_file_is_not_opened_as_a_store(tmp_path: Path) -> None:
    db = tmp_path / "plain.db"
    sqlite3.connect(db).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(WrongKey):
        engine.connect(db, KEY)


def test_key_must_be_32_bytes(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        engine.connect(tmp_path / "x.db", b"passphrase")
    with pytest.raises(ValueError):
        engine.create_engine(tmp_path / "x.db", "x'00'; DROP TABLE t" * 2)  # type: ignore[arg-type]


def test_sqlalchemy_engine(tmp_path: Path) -> None:
    db = tmp_path / "flsdesk.db"
    eng = engine.create_engine(db, KEY)
    try:
        with eng.begin() as conn:
            conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
            conn.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": NAME})
        with eng.connect() as conn:
            assert conn.execute(text("SELECT v FROM t")).scalar_one() == NAME
            assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
        assert "x'" not in str(eng.url) and KEY.hex() not in repr(eng.url)
    finally:
        eng.dispose()
    assert not db.read_bytes().startswith(b"SQLite format 3")


def test_key_none_is_plain_sqlite_for_the_benchmark(tmp_path: Path) -> None:
    db = tmp_path / "plain.db"
    conn = engine.connect(db, None)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert db.read_bytes().startswith(b"SQLite format 3")


def test_no_clear_text_anywhere_under_the_data_folder(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = resolve(None)  # FLSDESK_DATA_DIR from tests/conftest.py
    monkeypatch.setenv("FLSDESK_NEW_PASSPHRASE", "correct horse battery")
    assert main(["init", "--site", "Test FLS"]) == 0
    data_key = keys.unlock_with_passphrase(paths.key_file, "correct horse battery")
    setup_logging(paths.log_dir)
    conn = engine.connect(paths.database, data_key)
    try:
        _write_patient(conn)
        # Even if some code slipped, the log redacts numbers; the name must simply never appear.
        logging.getLogger("flsdesk.store").info("saved record %d", 1)
        backup.rotating_backup_on_close(paths, data_key)
        monkeypatch.setenv("FLSDESK_PASSPHRASE", "correct horse battery")
        assert main(["backup", str(paths.backups_dir / "manual")]) == 0
        # The WAL still holds the row (connection open, not checkpointed): scan it too.
        files = [p for p in paths.data_dir.rglob("*") if p.is_file()]
        names = {p.name for p in files}
        assert "flsdesk.db-wal" in names and "flsdesk.key" in names and "flsdesk.log" in names
        assert any(n.endswith(".fdbk") for n in names)
        for f in files:
            data = f.read_bytes()
            for needle in (NHS, NAME):
                for encoded in (needle.encode("utf-8"), needle.encode("utf-16-le")):
                    assert encoded not in data, f"{needle!r} in clear in {f.name}"
    finally:
        conn.close()
    capsys.readouterr()
