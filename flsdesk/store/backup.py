"""Encrypted backups: one self-contained ``.fdbk`` file per backup, and restore.

Why one file rather than a database plus a key file beside it: a backup is copied to a USB stick or
a network share by people in a hurry, and half of a pair is useless (the database cannot be opened
without its wrapped keys; the key file alone holds no data). One file cannot be split.

The format is deliberately simple so it can be read without flsdesk::

    b"FLSDESK-BACKUP 1\\n"                  magic line
    8 bytes, big-endian                    length N of the header
    N bytes                                header, UTF-8 JSON: created, flsdesk version,
                                           db_size, db_sha256, keys (the key file document)
    db_size bytes                          the SQLCipher database, encrypted with the data key

The database part is made through SQLite's backup API from the live (WAL) database, never by a
file copy, and is written already encrypted: no plain copy ever touches the disk. The key file copy
means the backup opens with the passphrase in force *when it was taken* or with the recovery key.
The SHA-256 lets ``restore`` tell a damaged file from a wrong passphrase before trying any key.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import sqlcipher3

from flsdesk import __version__, files
from flsdesk.files import fsync_folder
from flsdesk.paths import AppPaths, make_private_dir
from flsdesk.store import keys, migrations
from flsdesk.store.engine import connect
from flsdesk.store.errors import NoStore, StoreDamaged, StoreError, WrongKey
from flsdesk.store.lock import StoreLock

log = logging.getLogger("flsdesk.store")

MAGIC = b"FLSDESK-BACKUP 1\n"
SUFFIX = ".fdbk"
AUTO_PREFIX = "flsdesk-auto-"
KEEP_AUTOMATIC = 7
_MAX_HEADER = 1 << 20
_CHUNK = 1 << 20
_BEFORE = ".before-restore"
_RESTORE_TMP_PREFIX = ".flsdesk-restore-"


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    created: str
    app_version: str
    db_size: int
    key_document: dict[str, Any]
    db_offset: int


def _timestamp() -> str:
    # Microseconds keep two backups taken in the same second apart (and the names sortable).
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")


def default_backup_name(prefix: str = "flsdesk-backup-") -> str:
    return f"{prefix}{_timestamp()}{SUFFIX}"


def _private_tmp(folder: Path, kind: str, suffix: str) -> Path:
    """A new, empty, owner-only file in ``folder`` (same file system as the final place),
    named by the one temporary-file scheme so a killed process's leftovers are cleaned."""
    return files.create_temp(folder, kind, suffix)


def _remove_sqlite_files(db: Path) -> None:
    for extra in ("", "-wal", "-shm", "-journal"):
        Path(f"{db}{extra}").unlink(missing_ok=True)


# --------------------------------------------------------------------------- making backups


def snapshot(src_db: Path, key: bytes, dest: Path, key_file: Path | None = None) -> Path:
    """Write an encrypted backup of the live database ``src_db`` to the file ``dest``.

    ``key_file`` defaults to the key file beside the database (``flsdesk.key`` for
    ``flsdesk.db``). Safe while the app has the store open: the backup API reads a consistent
    snapshot through SQLite's own locking. ``dest`` appears complete or not at all.
    """
    src_db, dest = Path(src_db), Path(dest)
    key_file = Path(key_file) if key_file else src_db.with_suffix(".key")
    if not src_db.exists():
        raise NoStore(f"There is no flsdesk store in {src_db.parent}.")
    doc = keys.read_key_document(key_file)
    if not keys.matches(key_file, key):
        raise WrongKey("That key is not the key of this store.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp_db = _private_tmp(dest.parent, "backup", ".db")
    tmp_out = _private_tmp(dest.parent, "backup", ".tmp")
    try:
        source = connect(src_db, key)
        try:
            target = connect(tmp_db, key, wal=False)
            try:
                source.backup(target)
                # The copied header says WAL; a backup must be one self-contained file.
                target.execute("PRAGMA journal_mode = DELETE")
            finally:
                target.close()
        finally:
            source.close()
        _write_container(tmp_out, tmp_db, doc)
        os.replace(tmp_out, dest)
        fsync_folder(dest.parent)
    finally:
        _remove_sqlite_files(tmp_db)
        tmp_out.unlink(missing_ok=True)
    log.info("backup written (%d bytes)", dest.stat().st_size)
    return dest


def _write_container(out: Path, db: Path, key_doc: dict[str, Any]) -> None:
    digest = hashlib.sha256()
    size = 0
    with db.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
    header = json.dumps(
        {
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "app_version": __version__,
            "db_size": size,
            "db_sha256": digest.hexdigest(),
            "keys": key_doc,
        },
        sort_keys=True,
    ).encode("utf-8")
    with out.open("wb") as fh, db.open("rb") as src:
        fh.write(MAGIC)
        fh.write(struct.pack(">Q", len(header)))
        fh.write(header)
        for chunk in iter(lambda: src.read(_CHUNK), b""):
            fh.write(chunk)
        fh.flush()
        os.fsync(fh.fileno())


def backup_to_folder(paths: AppPaths, key: bytes, folder: Path) -> Path:
    """A backup chosen by the user (``flsdesk backup DIR``), named by date and time."""
    folder = Path(folder)
    if not folder.exists():
        make_private_dir(folder)
    return snapshot(paths.database, key, folder / default_backup_name(), paths.key_file)


def automatic_backups(folder: Path) -> list[Path]:
    """The automatic backups in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    return sorted(folder.glob(f"{AUTO_PREFIX}*{SUFFIX}"))


def rotating_backup_on_close(paths: AppPaths, key: bytes, keep: int = KEEP_AUTOMATIC) -> Path:
    """Back up into ``paths.backups_dir`` and keep only the newest ``keep`` automatic backups.

    Backups the user put there by hand (other names) are never deleted.
    """
    folder = make_private_dir(paths.backups_dir)
    made = snapshot(paths.database, key, folder / default_backup_name(AUTO_PREFIX), paths.key_file)
    for old in automatic_backups(folder)[:-keep]:
        old.unlink(missing_ok=True)
    log.info("automatic backup written; %d kept", min(keep, len(automatic_backups(folder))))
    return made


# --------------------------------------------------------------------------- reading backups


def read_info(backup_file: Path) -> BackupInfo:
    """Parse and verify a backup file (size and SHA-256), without any key.

    Raises StoreDamaged when the file is not an flsdesk backup or has been damaged.
    """
    backup_file = Path(backup_file)
    damaged = StoreDamaged("The backup file is damaged or is not an flsdesk backup.")
    try:
        with backup_file.open("rb") as fh:
            if fh.read(len(MAGIC)) != MAGIC:
                raise damaged
            raw_len = fh.read(8)
            if len(raw_len) != 8:
                raise damaged
            (header_len,) = struct.unpack(">Q", raw_len)
            if header_len > _MAX_HEADER:
                raise damaged
            raw_header = fh.read(header_len)
            try:
                header = json.loads(raw_header.decode("utf-8"))
                db_size = int(header["db_size"])
                db_sha = str(header["db_sha256"])
                key_doc = keys.parse_key_document(json.dumps(header["keys"]).encode("utf-8"))
            except (ValueError, KeyError, TypeError, UnicodeDecodeError, StoreDamaged) as exc:
                raise damaged from exc
            offset = len(MAGIC) + 8 + header_len
            digest = hashlib.sha256()
            seen = 0
            for chunk in _chunks(fh):
                digest.update(chunk)
                seen += len(chunk)
    except FileNotFoundError as exc:
        raise StoreError(f"The backup file {backup_file} does not exist.") from exc
    except IsADirectoryError as exc:
        raise StoreError(f"{backup_file} is a folder, not a backup file.") from exc
    if seen != db_size or digest.hexdigest() != db_sha:
        raise damaged
    return BackupInfo(
        path=backup_file,
        created=str(header.get("created", "")),
        app_version=str(header.get("app_version", "")),
        db_size=db_size,
        key_document=key_doc,
        db_offset=offset,
    )


def _chunks(fh: BinaryIO) -> Iterator[bytes]:
    yield from iter(lambda: fh.read(_CHUNK), b"")


def _extract_and_check(info: BackupInfo, data_key: bytes, folder: Path) -> Path:
    """Copy the (encrypted) database out of the backup into ``folder`` and check it."""
    tmp_db = _private_tmp(folder, "restore", ".db")
    try:
        with info.path.open("rb") as src, tmp_db.open("r+b") as out:
            src.seek(info.db_offset)
            for chunk in _chunks(src):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        damaged = StoreDamaged("The backup file is damaged (its integrity check failed).")
        try:
            conn = connect(tmp_db, data_key, wal=False)
        except WrongKey:
            # The key matched the backup's key check, so an unreadable first page is damage.
            raise damaged from None
        try:
            if not conn.execute("PRAGMA cipher_version").fetchone()[0]:
                raise StoreDamaged("The backup is not encrypted; it was not made by flsdesk.")
            try:
                result = [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]
            except sqlcipher3.DatabaseError:
                # A page whose HMAC fails aborts the check instead of being listed by it.
                raise damaged from None
            if result != ["ok"]:
                log.warning("backup failed its integrity check (%d problems)", len(result))
                raise damaged
            _check_schema(conn)
        finally:
            conn.close()
    except BaseException:
        _remove_sqlite_files(tmp_db)
        raise
    return tmp_db


def _check_schema(conn: Any) -> None:
    # A backup written by a newer flsdesk would be refused at open anyway; refuse it before it
    # has replaced the working store.
    migrations.check_not_newer(migrations.schema_version(conn))


# --------------------------------------------------------------------------- restore


def _store_files(paths: AppPaths) -> list[Path]:
    db = paths.database
    return [db, Path(f"{db}-wal"), Path(f"{db}-shm"), paths.key_file]


def _before(path: Path) -> Path:
    # flsdesk.db-wal -> flsdesk.db.before-restore-wal, so SQLite would still pair it with its db.
    name = path.name
    for tail in ("-wal", "-shm"):
        if name.endswith(tail):
            return path.with_name(name[: -len(tail)] + _BEFORE + tail)
    return path.with_name(name + _BEFORE)


def recover_interrupted_restore(paths: AppPaths) -> bool:
    """Finish or undo a restore that was cut short (crash, power cut). True if it did anything.

    The database is the last file moved into place, so: no database but a ``.before-restore``
    one means the swap did not finish (put the old store back); both present means it finished
    and only the clean-up was missed.
    """
    db_before = _before(paths.database)
    for tmp in paths.data_dir.glob(f"{_RESTORE_TMP_PREFIX}*"):
        tmp.unlink(missing_ok=True)
    if not db_before.exists():
        return False
    if paths.database.exists():
        for path in reversed(_store_files(paths)):  # the database's copy goes last
            _before(path).unlink(missing_ok=True)
        log.info("finished clean-up after an interrupted restore")
    else:
        for path in _store_files(paths):
            if _before(path).exists():
                os.replace(_before(path), path)
        log.warning("an interrupted restore was undone; the previous store is back")
    fsync_folder(paths.data_dir)
    return True


def restore(
    backup_file: Path,
    passphrase_or_recovery: str,
    paths: AppPaths,
    lock: StoreLock | None = None,
) -> None:
    """Replace the store in ``paths`` with the backup, after checking the backup completely.

    ``passphrase_or_recovery`` is the passphrase that was in force when the backup was taken, or
    the recovery key. Order: verify the file (size, SHA-256), unlock its keys, extract the
    database and run ``PRAGMA integrity_check`` -- and only then swap the files in. Until the swap
    is complete the previous store is kept as ``*.before-restore``. Refused with StoreInUse while
    flsdesk has the store open (pass ``lock`` if this process holds it).
    """
    info = read_info(backup_file)
    data_key = keys.unlock_document(info.key_document, passphrase_or_recovery)
    restore_with_key(info, data_key, paths, lock)


def restore_with_key(
    info: BackupInfo, data_key: bytes, paths: AppPaths, lock: StoreLock | None = None
) -> None:
    if not hmac.compare_digest(keys.key_check(data_key), info.key_document["key_check"]):
        raise WrongKey("That key is not the key of this backup.")
    make_private_dir(paths.data_dir)
    own_lock = lock is None or not lock.held
    held = StoreLock(paths.data_dir) if own_lock else lock
    assert held is not None
    if own_lock:
        held.acquire()
    try:
        recover_interrupted_restore(paths)
        new_db = _extract_and_check(info, data_key, paths.data_dir)
        new_key = _private_tmp(paths.data_dir, "restore", ".key")
        try:
            keys.write_key_document(new_key, info.key_document)
            _swap_in(paths, new_db, new_key)
        finally:
            _remove_sqlite_files(new_db)
            new_key.unlink(missing_ok=True)
    finally:
        if own_lock:
            held.release()
    log.info("store restored from a backup")


def _swap_in(paths: AppPaths, new_db: Path, new_key: Path) -> None:
    moved: list[Path] = []
    done = False
    try:
        # The old WAL must go with the old database, or SQLite would replay it into the new one.
        for path in _store_files(paths):
            if path.exists():
                os.replace(path, _before(path))
                moved.append(path)
        fsync_folder(paths.data_dir)
        os.replace(new_key, paths.key_file)
        os.replace(new_db, paths.database)
        done = True  # from here on the restore has happened
        fsync_folder(paths.data_dir)
    except BaseException:
        if not done:
            if paths.key_file not in moved and not new_key.exists():
                paths.key_file.unlink(missing_ok=True)  # ours, from this failed attempt
            for path in moved:
                with contextlib.suppress(OSError):
                    os.replace(_before(path), path)
        raise
    for path in reversed(_store_files(paths)):
        _before(path).unlink(missing_ok=True)
    fsync_folder(paths.data_dir)
