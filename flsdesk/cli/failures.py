"""What a command's failure tells the user, and with which exit code (README.md, "The
command line").

Expected failures (CliError, a store that cannot be opened, a full disk, a closed pipe, an output
file that cannot be written) get a sentence and their code; anything else is a bug: exit 4, with
the details in the log only.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import sys
from pathlib import Path

from flsdesk import files
from flsdesk.cli.base import EXIT_INTERNAL, EXIT_STORE, EXIT_USAGE, CliError
from flsdesk.paths import AppPaths
from flsdesk.store.errors import StoreError


def _silence_stdout() -> None:
    # Later writes (and the interpreter's own flush at exit) go nowhere instead of raising.
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


_FULL = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
_MIN_FREE_BYTES = 1024 * 1024


def _inside(path: Path, folder: Path) -> bool:
    try:
        return Path(os.path.abspath(path)).is_relative_to(os.path.abspath(folder))
    except (OSError, ValueError):
        return False


def _output_targets(args: argparse.Namespace) -> list[Path]:
    """The files or folders the user asked this command to write (outside the store)."""
    found = []
    for name in ("out", "csv", "dir"):
        value = getattr(args, name, None)
        if isinstance(value, str) and value:
            found.append(Path(value).expanduser())
    return found


def _nearly_full(path: Path) -> bool:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        st = os.statvfs(probe)
    except (OSError, AttributeError):  # no statvfs on Windows
        return False
    return st.f_bavail * st.f_frsize < _MIN_FREE_BYTES


def _store_disk_full(paths: AppPaths) -> str:
    return (
        f"the disk holding the store ({paths.data_dir}) is full; the command was not done "
        "and what was saved before is unchanged. Free some space and try again."
    )


def _full_disk(exc: OSError | None, args: argparse.Namespace, paths: AppPaths) -> tuple[str, int]:
    filename = getattr(exc, "filename", None)
    if filename:
        where = Path(os.fsdecode(filename))
        in_store = _inside(where, paths.data_dir)
    else:
        # Which disk filled up: an output file's (usage, 2) or the store's (3)?
        where = next((t for t in _output_targets(args) if _nearly_full(t)), paths.data_dir)
        in_store = where == paths.data_dir or _inside(where, paths.data_dir)
    if in_store:
        return _store_disk_full(paths), EXIT_STORE
    return (
        f"the disk is full: {where} could not be written; the command was not done. "
        "Free some space there (or choose another place) and try again.",
        EXIT_USAGE,
    )


def _store_disk_filled(db_words: str, paths: AppPaths) -> bool:
    return ("full" in db_words or "disk i/o" in db_words) and _nearly_full(paths.data_dir)


def _database_error(exc: BaseException) -> str | None:
    """The words of a SQLite/SQLCipher error (through SQLAlchemy or not), else None."""
    inner = getattr(exc, "orig", None) or exc
    module = type(inner).__module__.split(".")[0]
    if module in ("sqlite3", "sqlcipher3", "_sqlite3"):
        return str(inner).lower()
    return None


def describe_failure(
    exc: BaseException, args: argparse.Namespace, paths: AppPaths
) -> tuple[str, int]:
    """The message and exit code (spec/cli.md) for an exception that ended a command."""
    if isinstance(exc, CliError):
        return str(exc), exc.code
    if isinstance(exc, files.ProtectedTarget):  # any writer, even one that forgot to check first
        return str(exc), EXIT_USAGE
    if isinstance(exc, StoreError):
        cause = _database_error(exc.__cause__) if exc.__cause__ is not None else None
        if cause is not None and _store_disk_filled(cause, paths):
            # SQLite reports a -shm or -wal it cannot grow as "disk I/O error", which the
            # opening calls damage: on a full disk it is the disk, and the store is fine.
            return _store_disk_full(paths), EXIT_STORE
        return str(exc), EXIT_STORE
    if isinstance(exc, BrokenPipeError):
        _silence_stdout()
        return (
            "the output was closed before everything was printed (for example by '| head'); "
            "what was printed is incomplete.",
            EXIT_USAGE,
        )
    if isinstance(exc, OSError) and exc.errno in _FULL:
        return _full_disk(exc, args, paths)
    db_words = _database_error(exc)
    if db_words is not None:
        if "full" in db_words:
            return _full_disk(None, args, paths)
        if _store_disk_filled(db_words, paths):
            return _store_disk_full(paths), EXIT_STORE
        if "malformed" in db_words or "not a database" in db_words or "disk i/o" in db_words:
            return (
                f"the store's database {paths.database} cannot be read or written "
                f"({db_words}); it may be damaged. Nothing was changed. Restore the latest "
                "backup with 'flsdesk restore' if this happens again.",
                EXIT_STORE,
            )
    if isinstance(exc, OSError) and exc.filename:
        where = Path(os.fsdecode(exc.filename))
        code = EXIT_STORE if _inside(where, paths.data_dir) else EXIT_USAGE
        return f"cannot use {where}: {exc.strerror or exc}. The command was not done.", code
    from flsdesk.logs import configured_path

    log_file = configured_path()
    details = f"the log at {log_file}" if log_file else "no log (there is no store to log beside)"
    return (
        f"internal error ({type(exc).__name__}), a bug in flsdesk. Whatever the command was "
        f"doing was rolled back or never started. The details are in {details}.",
        EXIT_INTERNAL,
    )
