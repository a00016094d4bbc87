"""Writing files for the user safely: atomically, owner-only, never over the store, and with no
temporary file left behind for long.

Atomic writes: the data goes to a temporary file in the target folder (same file system, so the
rename is atomic), is flushed and fsynced, and only then renamed over the target — inside
``commit``, so the caller can record the file in the store in the same step. A crash before the
rename leaves the target untouched.

Temporary files: every flsdesk temporary file (atomic writes, backups, restore, the key file) is
named ``.flsdesk-<kind>-<pid>-<random><suffix>`` by ``mkstemp`` here, so one rule can tell a live
process's file from one a killed process left: it is stale when its process is gone (or, where
that cannot be asked, when it is older than this process). Stale ones are removed at start-up
(``clean_at_start``: the data folder, the backups folder and every folder a killed process was
writing into) and by the next write into their folder. The names hold no patient data.

The guard: a file written for the user (export, call sheet, opt-out list, PDF, backup) must never
land on the store. ``protect(paths)`` registers the store's folders once at start-up; from then on
``atomic_write`` and ``private_path`` refuse by themselves a target inside the data or log folder,
or that is (or links to) one of the store's files, unless an internal writer says so.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flsdesk.paths import AppPaths

log = logging.getLogger("flsdesk.files")

TEMP_ROOT = ".flsdesk-"
TEMP_PREFIX = ".flsdesk-write-"
TEMP_SUFFIX = ".tmp"
TEMP_KINDS = ("write", "backup", "restore", "key", "where")

# Taken at import, which is as early as this process could have made a temporary file of its own.
PROCESS_STARTED = time.time()

_TEMP_NAME = re.compile(
    r"^\.flsdesk-(?P<kind>write|backup|restore|key|where)-(?P<pid>\d+)-[0-9a-f]{16}"
    r"(?:\.tmp|\.db|\.key)(?:-journal|-wal|-shm)?$"
)
# Names written by flsdesk versions before the shared scheme: no process id, so age decides.
_OLD_TEMP_NAMES = (
    re.compile(r"^\.flsdesk-(?:write|key)-[A-Za-z0-9_]{8}\.tmp$"),
    re.compile(r"^\.flsdesk-restore-[0-9a-f]{16}\.(?:db|key)(?:-journal|-wal|-shm)?$"),
    re.compile(r"^\.flsdesk-(?:backup|auto)-[0-9-]+\.fdbk\.[0-9a-f]{16}\.(?:db|tmp)(?:-journal)?$"),
)


class WriteError(OSError):
    """The file could not be written; ``str()`` is a sentence for the user."""


class ProtectedTarget(WriteError):
    """The chosen file or folder is (or is inside, or links to) the store's own files."""


# --------------------------------------------------------------------------- the store guard

_protected: list[AppPaths] = []


def protect(paths: AppPaths) -> None:
    """Register the store this process serves: from now on no file written for the user may
    land in its folders. Called once at start-up by the command line and the window."""
    _protected[:] = [paths]


def protected_paths() -> AppPaths | None:
    return _protected[0] if _protected else None


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)  # follows a symlink: its target is what would be written
    except (OSError, ValueError):
        return None
    # Some file systems (FAT, some network shares) report no inode numbers: no identity then.
    return (st.st_dev, st.st_ino) if st.st_ino else None


def _real(path: Path) -> Path:
    try:
        return Path(os.path.abspath(path)).resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def _inside(path: Path, folder: Path) -> bool:
    """``path`` is ``folder`` or inside it, by name (symlinks resolved) or by the folder's
    identity on disk (a bind mount, another spelling on a case-insensitive disk)."""
    real, real_folder = _real(path), _real(folder)
    if real == real_folder or real.is_relative_to(real_folder):
        return True
    wanted = _identity(real_folder)
    if wanted is None:
        return False
    return any(_identity(ancestor) == wanted for ancestor in (real, *real.parents))


def _store_file_identities(paths: AppPaths) -> dict[tuple[int, int], str]:
    found: dict[tuple[int, int], str] = {}
    for folder in (paths.data_dir, paths.log_dir):
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            with contextlib.suppress(OSError):
                identity = _identity(Path(entry.path)) if entry.is_file() else None
                if identity is not None:
                    found[identity] = entry.name
    return found


def refusal(
    target: Path | str,
    paths: AppPaths | None = None,
    *,
    folder: bool = False,
    allow_backups: bool = False,
) -> str | None:
    """Why ``target`` must not be written for the user, or None when it may.

    ``folder`` says ``target`` is a folder to write into (a backup's); ``allow_backups`` lets a
    backup go into the data folder's own ``backups`` folder, where the automatic ones live.
    """
    target = Path(target).expanduser()
    candidates = [p for p in (paths, protected_paths()) if p is not None]
    seen: set[Path] = set()
    for store in candidates:
        if store.data_dir in seen:
            continue
        seen.add(store.data_dir)
        what = "folder" if folder else "file"
        if not folder:
            identity = _identity(target)
            name = _store_file_identities(store).get(identity) if identity else None
            if name is not None:
                return (
                    f"{target} is (or links to) the store's own file {name}: writing there would "
                    "destroy the store. Choose another file, outside flsdesk's data folder."
                )
        for protected, description in (
            (store.log_dir, "flsdesk's log folder"),
            (store.data_dir, "flsdesk's data folder"),
        ):
            if not _inside(target, protected):
                continue
            if allow_backups and _inside(target, store.backups_dir):
                continue
            hint = f" (or its backups folder {store.backups_dir})" if allow_backups else ""
            return (
                f"{target} is inside {description} ({protected}), where the store's own files "
                f"are kept. Choose a {what} outside it{hint}."
            )
    return None


def check_target(
    target: Path | str,
    paths: AppPaths | None = None,
    *,
    folder: bool = False,
    allow_backups: bool = False,
) -> None:
    """Raise ProtectedTarget (a sentence for the user) when ``target`` may not be written."""
    problem = refusal(target, paths, folder=folder, allow_backups=allow_backups)
    if problem is not None:
        log.warning("refused to write a file onto the store's own files or folders")
        raise ProtectedTarget(problem)


# --------------------------------------------------------------------------- temporary files


def temp_name(kind: str, suffix: str = TEMP_SUFFIX) -> str:
    """A fresh temporary file name of ours: no patient data, and the process that owns it."""
    if kind not in TEMP_KINDS:
        raise ValueError(f"unknown temporary file kind {kind!r}")
    return f"{TEMP_ROOT}{kind}-{os.getpid()}-{secrets.token_hex(8)}{suffix}"


def _process_alive(pid: int) -> bool | None:
    """True/False when it can be asked (POSIX), None elsewhere."""
    if os.name != "posix":
        return None  # os.kill on Windows would terminate the process, not ask about it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    except OSError:
        return None
    return True


def _is_stale(entry: os.DirEntry[str]) -> bool:
    match = _TEMP_NAME.match(entry.name)
    try:
        older = entry.stat(follow_symlinks=False).st_mtime < PROCESS_STARTED
    except OSError:
        return False
    if match is None:
        return any(p.match(entry.name) for p in _OLD_TEMP_NAMES) and older
    pid = int(match["pid"])
    if pid == os.getpid():
        return older  # ours only if made after we started: before that, a dead namesake's
    alive = _process_alive(pid)
    return older if alive is None else not alive


def clean_stale_temps(folder: Path | str, keep_kinds: tuple[str, ...] = ()) -> int:
    """Remove the temporary files in ``folder`` that no live flsdesk process holds (except
    those of ``keep_kinds``)."""
    folder = Path(folder)
    removed = 0
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(TEMP_ROOT)]
    except OSError:
        return 0
    for entry in entries:
        if not _is_stale(entry):
            continue
        match = _TEMP_NAME.match(entry.name)
        kind = match["kind"] if match is not None else entry.name.split("-")[1]
        if kind == "where" or kind in keep_kinds:
            continue  # the notes of where a process wrote are for clean_at_start
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
            removed += 1
    if removed:
        log.info("removed %d temporary file(s) left by an interrupted write", removed)
    return removed


_noted: set[Path] = set()
_notes: list[Path] = []


@atexit.register
def _forget_notes() -> None:
    # A normal exit has removed its own temporary files; only a killed process's notes should
    # stay for the next start to act on.
    for note in _notes:
        with contextlib.suppress(OSError):
            note.unlink()


def _note_folder(folder: Path) -> None:
    """Remember, in the data folder, a folder this process makes temporary files in, so that
    the next start can clean it if this process is killed."""
    paths = protected_paths()
    if paths is None:
        return
    real = _real(folder)
    if real in _noted or real in (_real(paths.data_dir), _real(paths.backups_dir)):
        return
    if not paths.data_dir.is_dir():
        return
    digest = hashlib.sha256(os.fsencode(real)).hexdigest()[:16]
    note = paths.data_dir / f"{TEMP_ROOT}where-{os.getpid()}-{digest}{TEMP_SUFFIX}"
    try:
        fd = os.open(note, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        _noted.add(real)
        return
    except OSError:
        return
    with os.fdopen(fd, "wb") as fh:
        fh.write(os.fsencode(real))
    _noted.add(real)
    _notes.append(note)


def mkstemp(folder: Path | str, kind: str, suffix: str = TEMP_SUFFIX) -> tuple[int, Path]:
    """Create a new owner-only temporary file in ``folder``; returns (open fd, path).

    Stale temporary files in that folder go first: a write into a folder cleans it.
    """
    folder = Path(folder)
    clean_stale_temps(folder)
    _note_folder(folder)
    while True:
        path = folder / temp_name(kind, suffix)
        try:
            fd = os.open(
                path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600
            )
        except FileExistsError:
            continue
        return fd, path


def create_temp(folder: Path | str, kind: str, suffix: str = TEMP_SUFFIX) -> Path:
    """Like ``mkstemp`` for writers that open the file themselves (SQLite)."""
    fd, path = mkstemp(folder, kind, suffix)
    os.close(fd)
    return path


def clean_at_start(paths: AppPaths) -> int:
    """At start-up: remove what killed flsdesk processes left in the data and backups folders
    and in every folder they noted they were writing into. Never creates a folder."""
    # A restore cut short is finished or undone by the restore's own recovery, which decides
    # what its temporary files are still good for: they are not ours to remove then.
    interrupted = any(paths.data_dir.glob("*.before-restore*")) or any(
        paths.data_dir.glob(f"{TEMP_ROOT}restore-swap*")
    )
    removed = clean_stale_temps(paths.data_dir, ("restore",) if interrupted else ())
    removed += clean_stale_temps(paths.backups_dir)
    try:
        notes = [
            e
            for e in os.scandir(paths.data_dir)
            if e.name.startswith(f"{TEMP_ROOT}where-") and _is_stale(e)
        ]
    except OSError:
        return removed
    for note in notes:
        with contextlib.suppress(OSError):
            folder = Path(os.fsdecode(Path(note.path).read_bytes()))
            if folder.is_dir():
                removed += clean_stale_temps(folder)
            os.unlink(note.path)
    return removed


# --------------------------------------------------------------------------- atomic writes


def fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX); a no-op elsewhere."""
    if os.name != "posix":
        return  # Windows cannot open a folder for fsync; NTFS journals the rename itself
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(
    path: Path,
    chunks: Iterable[bytes],
    commit: Callable[[Callable[[], None]], None] | None = None,
    *,
    internal: bool = False,
) -> str:
    """Write ``chunks`` to ``path`` atomically (mode 0600); returns the file's SHA-256.

    ``commit(replace)`` is called once the data is safely on disk; it must call ``replace()``
    (typically inside a database transaction, so that the file and its record appear together).
    Without ``commit`` the rename happens straight away. Unless ``internal``, a target on the
    store's own files or folders is refused (ProtectedTarget) before anything is written.
    """
    path = Path(path)
    if not internal:
        check_target(path)
    folder = path.parent
    if not folder.is_dir():
        raise WriteError(f"The folder {folder} does not exist.")
    try:
        fd, tmp = mkstemp(folder, "write")
    except PermissionError:
        raise WriteError(f"Cannot write into {folder}.") from None
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                digest.update(chunk)
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())

        def replace() -> None:
            try:
                os.replace(tmp, path)
            except PermissionError:
                raise WriteError(
                    f"{path} cannot be replaced: is it open in another program (Excel)? "
                    "Close it and try again."
                ) from None
            if os.name == "posix":
                os.chmod(path, 0o600)
            fsync_folder(folder)

        if commit is None:
            replace()
        else:
            commit(replace)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return digest.hexdigest()


def write_text(path: Path, text: str, encoding: str = "utf-8") -> str:
    """Write ``text`` atomically to a file readable by its owner only; returns its SHA-256."""
    return atomic_write(Path(path), [text.encode(encoding)])


@contextmanager
def private_path(
    path: Path | str, *, paths: AppPaths | None = None, internal: bool = False
) -> Iterator[Path]:
    """A temporary path for writers that need a file name (Qt's PDF printer); on success it
    replaces ``path`` atomically, 0600, like ``atomic_write``; on failure nothing changes.
    Unless ``internal``, a target on the store's files or folders (the registered store's, and
    ``paths``') is refused (ProtectedTarget) first."""
    target = Path(path).expanduser()
    if not internal:
        check_target(target, paths)
    folder = target.parent
    if not folder.is_dir():
        raise WriteError(f"The folder {folder} does not exist.")
    tmp = create_temp(folder, "write")
    try:
        yield tmp
        if os.name == "posix":
            os.chmod(tmp, 0o600)  # a writer that re-created the file may have widened it
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        fsync_folder(folder)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
