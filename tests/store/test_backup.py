"""Backups: one encrypted file, made through the backup API; restore checks before replacing."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest

from flsdesk.paths import AppPaths, resolve
from flsdesk.store import backup, engine, keys
from flsdesk.store.errors import NewerSchema, StoreDamaged, StoreInUse, WrongKey
from flsdesk.store.lock import StoreLock

PASS = "correct horse battery"
ROWS = [(i, f"record {i}") for i in range(1, 51)]


def _make_store(root: Path) -> tuple[AppPaths, bytes, str]:
    paths = resolve(root)
    data_key, recovery = keys.create_key_file(paths.key_file, PASS)
    conn = engine.connect(paths.database, data_key)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", ROWS)
    conn.commit()
    conn.close()
    return paths, data_key, recovery


def _rows(paths: AppPaths, key: bytes) -> list[tuple[int, str]]:
    conn = engine.connect(paths.database, key)
    try:
        return conn.execute("SELECT id, v FROM t ORDER BY id").fetchall()
    finally:
        conn.close()


def _store_bytes(paths: AppPaths) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes()
        for p in paths.data_dir.iterdir()
        if p.is_file() and p.name != "flsdesk.lock"
    }


@pytest.mark.parametrize("use_recovery", [False, True])
def test_round_trip_into_a_fresh_data_folder(tmp_path: Path, use_recovery: bool) -> None:
    src, data_key, recovery = _make_store(tmp_path / "old-pc")
    made = backup.backup_to_folder(src, data_key, tmp_path / "usb")
    assert made.suffix == ".fdbk"
    assert not list((tmp_path / "usb").glob(".*"))  # no temp files left
    if os.name == "posix":
        assert made.stat().st_mode & 0o777 == 0o600
    raw = made.read_bytes()
    assert b"SQLite format 3" not in raw and b"record 1" not in raw

    dest = resolve(tmp_path / "new-pc")
    secret = " ".join(recovery.lower().split("-")) if use_recovery else PASS
    backup.restore(made, secret, dest)
    assert _rows(dest, data_key) == ROWS
    # The restored store carries the backup's keys: both secrets still open it.
    assert keys.unlock_with_passphrase(dest.key_file, PASS) == data_key
    assert keys.unlock_with_recovery_key(dest.key_file, recovery) == data_key
    assert not [p for p in dest.data_dir.iterdir() if "restore" in p.name]


def test_backup_of_a_live_database_sees_committed_wal_rows(tmp_path: Path) -> None:
    paths, data_key, _ = _make_store(tmp_path / "data")
    writer = engine.connect(paths.database, data_key)
    try:
        writer.execute("INSERT INTO t VALUES (999, 'late')")
        writer.commit()  # in the WAL, not yet checkpointed; the app still has it open
        made = backup.snapshot(paths.database, data_key, tmp_path / "b.fdbk")
    finally:
        writer.close()
    dest = resolve(tmp_path / "restored")
    backup.restore(made, PASS, dest)
    assert _rows(dest, data_key)[-1] == (999, "late")


def test_restore_over_an_existing_store_replaces_it(tmp_path: Path) -> None:
    src, src_key, _ = _make_store(tmp_path / "a")
    made = backup.snapshot(src.database, src_key, tmp_path / "a.fdbk")
    other, other_key, _ = _make_store(tmp_path / "b")
    conn = engine.connect(other.database, other_key)
    conn.execute("DELETE FROM t")
    conn.commit()
    conn.close()  # leaves -wal/-shm behind on some platforms; they must not be replayed
    backup.restore(made, PASS, other)
    assert _rows(other, src_key) == ROWS
    assert keys.unlock_with_passphrase(other.key_file, PASS) == src_key


def _corrupt(made: Path, fix_checksum: bool) -> None:
    raw = bytearray(made.read_bytes())
    (header_len,) = struct.unpack(">Q", raw[len(backup.MAGIC) : len(backup.MAGIC) + 8])
    start = len(backup.MAGIC) + 8 + header_len
    raw[start + 5000] ^= 0xFF  # inside the second page
    if fix_checksum:  # damage the checksum cannot see: the database check must catch it
        import hashlib

        header = json.loads(raw[len(backup.MAGIC) + 8 : start])
        header["db_sha256"] = hashlib.sha256(raw[start:]).hexdigest()
        new_header = json.dumps(header).encode()
        raw = (
            bytearray(backup.MAGIC) + struct.pack(">Q", len(new_header)) + new_header + raw[start:]
        )
    made.write_bytes(bytes(raw))


@pytest.mark.parametrize("fix_checksum", [False, True])
def test_corrupt_backup_refused_store_untouched(tmp_path: Path, fix_checksum: bool) -> None:
    src, data_key, _ = _make_store(tmp_path / "data")
    made = backup.snapshot(src.database, data_key, tmp_path / "b.fdbk")
    _corrupt(made, fix_checksum)
    before = _store_bytes(src)
    with pytest.raises(StoreDamaged):
        backup.restore(made, PASS, src)
    assert _store_bytes(src) == before
    assert _rows(src, data_key) == ROWS


def test_not_a_backup_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.fdbk"
    junk.write_bytes(b"SQLite format 3\x00" + bytes(4096))
    with pytest.raises(StoreDamaged):
        backup.read_info(junk)


def test_wrong_passphrase_refused_store_untouched(tmp_path: Path) -> None:
    src, data_key, _ = _make_store(tmp_path / "data")
    made = backup.snapshot(src.database, data_key, tmp_path / "b.fdbk")
    before = _store_bytes(src)
    with pytest.raises(WrongKey):
        backup.restore(made, "not the passphrase", src)
    assert _store_bytes(src) == before


def test_restore_refused_while_the_store_is_open(tmp_path: Path) -> None:
    src, data_key, _ = _make_store(tmp_path / "data")
    made = backup.snapshot(src.database, data_key, tmp_path / "b.fdbk")
    before = _store_bytes(src)
    with StoreLock(src.data_dir), pytest.raises(StoreInUse):
        backup.restore(made, PASS, src)
    assert _store_bytes(src) == before
    # The app itself may restore when it passes the lock it holds.
    with StoreLock(src.data_dir) as lock:
        backup.restore(made, PASS, src, lock=lock)


def test_backup_after_passphrase_change_opens_with_the_old_passphrase(tmp_path: Path) -> None:
    src, data_key, recovery = _make_store(tmp_path / "data")
    made = backup.snapshot(src.database, data_key, tmp_path / "b.fdbk")
    keys.change_passphrase(src.key_file, data_key, "the new passphrase")
    dest = resolve(tmp_path / "elsewhere")
    with pytest.raises(WrongKey):
        backup.restore(made, "the new passphrase", dest)
    backup.restore(made, recovery, dest)
    assert _rows(dest, data_key) == ROWS


def test_rotating_backup_keeps_seven(tmp_path: Path) -> None:
    paths, data_key, _ = _make_store(tmp_path / "data")
    paths.backups_dir.mkdir(mode=0o700)
    manual = paths.backups_dir / "before-upgrade.fdbk"
    manual.write_bytes(b"kept")
    made = [backup.rotating_backup_on_close(paths, data_key) for _ in range(9)]
    left = backup.automatic_backups(paths.backups_dir)
    assert left == made[-7:]
    assert manual.exists()
    if os.name == "posix":
        assert paths.backups_dir.stat().st_mode & 0o777 == 0o700
    backup.read_info(left[-1])  # a complete, verifiable file


def test_interrupted_restore_is_undone(tmp_path: Path) -> None:
    paths, data_key, _ = _make_store(tmp_path / "data")
    # The state a power cut leaves between moving the old store aside and moving the new one in.
    os.replace(paths.database, paths.data_dir / "flsdesk.db.before-restore")
    os.replace(paths.key_file, paths.data_dir / "flsdesk.key.before-restore")
    (paths.data_dir / ".flsdesk-restore-0123.db").write_bytes(b"partial")
    assert backup.recover_interrupted_restore(paths)
    assert _rows(paths, data_key) == ROWS
    assert not [p for p in paths.data_dir.iterdir() if "restore" in p.name]
    assert not backup.recover_interrupted_restore(paths)


def test_backup_from_a_newer_version_refused_before_replacing(tmp_path: Path) -> None:
    newer, newer_key, _ = _make_store(tmp_path / "newer")
    conn = engine.connect(newer.database, newer_key)
    conn.execute("PRAGMA user_version = 999")
    conn.commit()
    conn.close()
    made = backup.snapshot(newer.database, newer_key, tmp_path / "newer.fdbk")
    current, _key, _ = _make_store(tmp_path / "current")
    before = _store_bytes(current)
    with pytest.raises(NewerSchema):
        backup.restore(made, PASS, current)
    assert _store_bytes(current) == before
