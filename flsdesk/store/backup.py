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
import secrets
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy
import sqlcipher3

from flsdesk import __version__, files
from flsdesk.files import fsync_folder
from flsdesk.paths import AppPaths, make_private_dir
from flsdesk.store import integrity, keys, migrations
from flsdesk.store.engine import connect, create_engine
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
# Written (and synced) before the first file of the store is moved aside, removed after the swap:
# it lists the store's files that existed, so a recovery knows which of the files in place are
# the old store's and which came from the backup.
_SWAP_MARKER = ".flsdesk-restore-swap"


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    created: str
    app_version: str
    db_size: int
    key_document: dict[str, Any]
    db_offset: int
    records: int | None = None  # None: a backup from before the count was kept, or no store


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
        if key_file.exists():
            raise StoreDamaged(f"The database file {src_db} is missing; no backup was written.")
        raise NoStore(f"There is no flsdesk store in {src_db.parent}.")
    if src_db.stat().st_size == 0:
        # Connecting would turn the empty file into a new database, and back up the emptiness.
        raise StoreDamaged(f"The database file {src_db} is empty (0 bytes); no backup was written.")
    doc = keys.read_key_document(key_file)
    if not keys.matches(key_file, key):
        raise WrongKey("That key is not the key of this store.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp_db = _private_tmp(dest.parent, "backup", ".db")
    tmp_out = _private_tmp(dest.parent, "backup", ".tmp")
    try:
        try:
            source = connect(src_db, key)
        except WrongKey:
            # The key file accepted this key: a database it does not open is damaged.
            raise StoreDamaged(
                f"The database file {src_db} cannot be read with the store's own key; "
                "no backup was written."
            ) from None
        try:
            target = connect(tmp_db, key, wal=False)
            try:
                source.backup(target)
                # The copied header says WAL; a backup must be one self-contained file.
                target.execute("PRAGMA journal_mode = DELETE")
                # The backup API copies pages as they are, damaged ones too: check the copy (the
                # same pages, WAL included) so that damage never reaches a backup, and the live
                # store is not held while the check runs.
                records = _check_copy(target, src_db)
            finally:
                target.close()
            # The copy leaves out what the live file holds outside its pages in use; damage
            # there still means the file is failing, and is reported before backing up.
            pages = integrity.page_check(source)
            if not pages.ok:
                raise StoreDamaged(
                    f"The store's database {src_db} is damaged ({pages.problems[0]}); "
                    "no backup was written."
                )
        finally:
            source.close()
        _write_container(tmp_out, tmp_db, doc, records)
        os.replace(tmp_out, dest)
        fsync_folder(dest.parent)
    finally:
        _remove_sqlite_files(tmp_db)
        tmp_out.unlink(missing_ok=True)
    log.info("backup written (%d bytes)", dest.stat().st_size)
    return dest


def _check_copy(target: Any, src_db: Path) -> int | None:
    result = integrity.full_check(target)
    if not result.ok:
        raise StoreDamaged(
            f"The store's database {src_db} is damaged ({result.problems[0]}); "
            "no backup was written."
        )
    if integrity.table_count(target) == 0:
        raise StoreDamaged(
            f"The store's database {src_db} holds nothing (no tables); no backup was written."
        )
    return integrity.record_count(target)


def _write_container(
    out: Path, db: Path, key_doc: dict[str, Any], records: int | None = None
) -> None:
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
            "records": records,
            "integrity": "ok",
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
    with _naming_last_good(paths):
        return snapshot(paths.database, key, folder / default_backup_name(), paths.key_file)


def backup_from_copy(
    folder: Path, passphrase: str, fill: Callable[[sqlalchemy.Engine], int | None]
) -> tuple[Path, str]:
    """A backup, in the same file format, of a store that is not a SQLCipher file here (a team
    store on PostgreSQL): ``fill`` copies the store into a new encrypted database at the current
    schema, which is checked and wrapped like any backup. Its key document is new, so it opens
    with ``passphrase`` or the recovery key returned here (to show once). ``dest`` appears
    complete or not at all; no plain copy ever touches the disk."""
    keys.check_new_passphrase(passphrase)
    folder = Path(folder)
    if not folder.exists():
        make_private_dir(folder)
    dest = folder / default_backup_name()
    data_key = secrets.token_bytes(keys.KEY_BYTES)
    doc, recovery_key = keys.build_key_document(data_key, passphrase)
    tmp_db = _private_tmp(folder, "backup", ".db")
    tmp_out = _private_tmp(folder, "backup", ".tmp")
    try:
        engine = create_engine(tmp_db, data_key)
        try:
            migrations.migrate(engine)
            fill(engine)
        finally:
            engine.dispose()
        target = connect(tmp_db, data_key, wal=False)
        try:
            target.execute("PRAGMA journal_mode = DELETE")
            records = _check_copy(target, tmp_db)
        finally:
            target.close()
        _write_container(tmp_out, tmp_db, doc, records)
        os.replace(tmp_out, dest)
        fsync_folder(dest.parent)
    finally:
        _remove_sqlite_files(tmp_db)
        tmp_out.unlink(missing_ok=True)
    log.info("backup of a copied store written (%d bytes)", dest.stat().st_size)
    return dest, recovery_key


@contextlib.contextmanager
def _naming_last_good(paths: AppPaths) -> Iterator[None]:
    """A damaged store's message ends with the backup to go back to."""
    try:
        yield
    except StoreDamaged as exc:
        raise StoreDamaged(f"{exc} {restore_hint(paths)}") from exc


def automatic_backups(folder: Path) -> list[Path]:
    """The automatic backups in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    return sorted(folder.glob(f"{AUTO_PREFIX}*{SUFFIX}"))


@dataclass(frozen=True)
class RicherBackups:
    """Old automatic backups that rotation would delete but that hold more records than the
    store now does: asked about, never deleted silently (an emptied store must not rotate away
    the backups that still hold the caseload)."""

    store_records: int
    backups: list[tuple[Path, int]]  # oldest first, with their record counts

    def describe(self) -> str:
        most = max(count for _, count in self.backups)
        return (
            f"{len(self.backups)} older automatic backup(s) hold more records (up to {most}) "
            f"than the store now does ({self.store_records})"
        )


AskRicher = Callable[[RicherBackups], bool]


def rotating_backup_on_close(
    paths: AppPaths, key: bytes, keep: int = KEEP_AUTOMATIC, ask: AskRicher | None = None
) -> Path:
    """Back up into ``paths.backups_dir`` and keep only the newest ``keep`` automatic backups.

    Backups the user put there by hand (other names) are never deleted. An old automatic backup
    holding more records than this one is deleted only when ``ask`` says yes; without anyone to
    ask it is kept, and the log says why. A damaged store is not backed up (StoreDamaged).
    """
    folder = make_private_dir(paths.backups_dir)
    with _naming_last_good(paths):
        made = snapshot(
            paths.database, key, folder / default_backup_name(AUTO_PREFIX), paths.key_file
        )
    now = read_info(made).records
    richer: list[tuple[Path, int]] = []
    for old in automatic_backups(folder)[:-keep]:
        count = _records_in(old, key)
        if now is not None and (count is None or count > now):
            richer.append((old, -1 if count is None else count))
        else:
            old.unlink(missing_ok=True)
    if richer:
        question = RicherBackups(now or 0, richer)
        if ask is not None and ask(question):
            for old, _count in richer:
                old.unlink(missing_ok=True)
            log.warning("%s; deleted, as the user agreed", question.describe())
        else:
            log.warning("%s; kept them", question.describe())
    log.info("automatic backup written; %d kept", len(automatic_backups(folder)))
    return made


def _records_in(backup_file: Path, key: bytes) -> int | None:
    """The record count of a backup: from its header, or (older backups) by opening it with
    ``key``; None when it cannot be known (damaged, or another store's key)."""
    try:
        info = read_info(backup_file)
        if info.records is not None:
            return info.records
        if not hmac.compare_digest(keys.key_check(key), info.key_document["key_check"]):
            return None
        tmp_db, records = _extract_and_check(info, key, backup_file.parent)
        _remove_sqlite_files(tmp_db)
        return records
    except StoreError:
        return None


def latest_good_backup(folder: Path) -> BackupInfo | None:
    """The newest backup in ``folder`` that verifies (size and SHA-256), preferring one that
    holds records over a newer backup of an empty store."""
    if not folder.is_dir():
        return None
    candidates = sorted(
        (p for p in folder.glob(f"*{SUFFIX}") if p.is_file()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    fallback: BackupInfo | None = None
    for path in candidates:
        try:
            info = read_info(path)
        except StoreError:
            continue
        if info.records is None or info.records > 0:
            return info
        fallback = fallback or info
    return fallback


def restore_hint(paths: AppPaths) -> str:
    """Which backup to restore from, as a sentence for the user."""
    info = latest_good_backup(paths.backups_dir)
    if info is None:
        return (
            f"No backup was found in {paths.backups_dir}; restore one you keep elsewhere with "
            "'flsdesk restore FILE'."
        )
    held = "" if info.records is None else f", {info.records} records"
    return (
        f"The latest good backup is {info.path} (made {info.created}{held}): restore it with "
        f"'flsdesk restore {info.path}'."
    )


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
    records = header.get("records")
    return BackupInfo(
        path=backup_file,
        created=str(header.get("created", "")),
        app_version=str(header.get("app_version", "")),
        db_size=db_size,
        key_document=key_doc,
        db_offset=offset,
        records=records if isinstance(records, int) and records >= 0 else None,
    )


def _chunks(fh: BinaryIO) -> Iterator[bytes]:
    yield from iter(lambda: fh.read(_CHUNK), b"")


def _extract_and_check(info: BackupInfo, data_key: bytes, folder: Path) -> tuple[Path, int | None]:
    """Copy the (encrypted) database out of the backup into ``folder`` and check it; returns
    the copy and its record count."""
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
            if integrity.table_count(conn) == 0:
                raise StoreDamaged(
                    "The backup holds an empty database (no tables): it was taken of an empty "
                    "or damaged store and cannot replace one."
                )
            _check_schema(conn)
            records = integrity.record_count(conn)
        finally:
            conn.close()
    except BaseException:
        _remove_sqlite_files(tmp_db)
        raise
    return tmp_db, records


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


def restore_leftovers(paths: AppPaths) -> list[Path]:
    """What an interrupted restore leaves in the data folder (temp files, the old store kept
    aside as ``*.before-restore``, the swap marker); empty when no restore was cut short."""
    folder = paths.data_dir
    if not folder.is_dir():
        return []
    return sorted({*folder.glob(f"{_RESTORE_TMP_PREFIX}*"), *folder.glob(f"*{_BEFORE}*")})


def _read_marker(marker: Path) -> set[str] | None:
    try:
        names = json.loads(marker.read_text("utf-8"))
    except (OSError, ValueError):
        return None  # killed while writing it: nothing had been moved yet
    return {str(n) for n in names} if isinstance(names, list) else None


def recover_interrupted_restore(paths: AppPaths) -> bool:
    """Finish or undo a restore that was cut short (crash, power cut). True if it did anything.

    Call it holding the store's lock. The database is the last file moved into place, so a
    database in place with the old one still aside means the swap finished and only the
    clean-up was missed; an old database aside and none in place means it did not (put the old
    store back). The swap marker lists which of the store's files existed before, so the key
    file that came with the backup is told apart from the old one.
    """
    if not restore_leftovers(paths):
        return False
    marker = paths.data_dir / _SWAP_MARKER
    had = _read_marker(marker) if marker.exists() else None
    for tmp in paths.data_dir.glob(f"{_RESTORE_TMP_PREFIX}*"):
        if tmp != marker:
            tmp.unlink(missing_ok=True)
    if paths.database.exists():
        # The old database is the first file moved aside and the new one the last moved in, so
        # a database in place means the swap finished (or had not begun): only copies are left.
        for path in reversed(_store_files(paths)):  # the database's copy goes last
            _before(path).unlink(missing_ok=True)
        log.info("finished the clean-up after an interrupted restore")
    else:
        if (
            had is not None
            and paths.key_file.name not in had
            and not _before(paths.key_file).exists()
        ):
            # No key file before the restore: the one in place (if any) came with the backup,
            # and its database never arrived.
            paths.key_file.unlink(missing_ok=True)
        for path in _store_files(paths):
            if _before(path).exists():
                os.replace(_before(path), path)
        log.warning("an interrupted restore was undone; the previous store is back")
    marker.unlink(missing_ok=True)
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


@dataclass(frozen=True)
class RestorePreview:
    """What a restore is about to do, shown to the person before the store is replaced."""

    backup: BackupInfo
    records: int | None  # in the backup, counted in the checked copy
    replaces_store: bool  # a store (or what is left of one) is in the data folder

    def describe(self) -> str:
        held = "an unknown number of" if self.records is None else str(self.records)
        return (
            f"The backup {self.backup.path} was made {self.backup.created} "
            f"and holds {held} records."
        )


Confirm = Callable[[RestorePreview], bool]


def restore_with_key(
    info: BackupInfo,
    data_key: bytes,
    paths: AppPaths,
    lock: StoreLock | None = None,
    confirm: Confirm | None = None,
) -> bool:
    """Restore from a verified backup with its data key. ``confirm`` is asked, once the backup's
    copy has passed its checks and before anything is replaced; False when it said no (nothing
    changed)."""
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
        new_db, records = _extract_and_check(info, data_key, paths.data_dir)
        new_key: Path | None = None
        try:
            preview = RestorePreview(info, records, any(p.exists() for p in _store_files(paths)))
            if confirm is not None and not confirm(preview):
                log.info("restore not confirmed; nothing changed")
                return False
            new_key = _private_tmp(paths.data_dir, "restore", ".key")
            keys.write_key_document(new_key, info.key_document)
            _swap_in(paths, new_db, new_key)
        finally:
            _remove_sqlite_files(new_db)
            if new_key is not None:
                new_key.unlink(missing_ok=True)
    finally:
        if own_lock:
            held.release()
    log.info("store restored from a backup")
    return True


def _write_marker(paths: AppPaths, present: list[Path]) -> Path:
    marker = paths.data_dir / _SWAP_MARKER
    fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump([p.name for p in present], fh)
        fh.flush()
        os.fsync(fh.fileno())
    fsync_folder(paths.data_dir)
    return marker


def _swap_in(paths: AppPaths, new_db: Path, new_key: Path) -> None:
    moved: list[Path] = []
    done = False
    present = [p for p in _store_files(paths) if p.exists()]
    marker = _write_marker(paths, present)
    try:
        # The old WAL must go with the old database, or SQLite would replay it into the new one.
        for path in present:
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
            with contextlib.suppress(OSError):
                marker.unlink()
        raise
    for path in reversed(_store_files(paths)):
        _before(path).unlink(missing_ok=True)
    marker.unlink(missing_ok=True)
    fsync_folder(paths.data_dir)
