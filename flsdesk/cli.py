"""The command line (see shared/spec/cli.md): global options, exit codes, command registry.

Each area of the program adds its commands from its own module (listed in ``COMMAND_MODULES``)
through a ``register(subparsers)`` function, so this file stays small and commands stay beside
the code they drive.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from flsdesk import __version__, files
from flsdesk.paths import AppPaths, resolve
from flsdesk.store.errors import StoreError

log = logging.getLogger("flsdesk.cli")

EXIT_OK = 0
EXIT_ATTENTION = 1
EXIT_USAGE = 2
EXIT_STORE = 3
EXIT_INTERNAL = 4

COMMAND_MODULES = [
    "flsdesk.definitions_cli",
    "flsdesk.store.commands",
    "flsdesk.followups_cli",
    "flsdesk.exchange.cli",
    "flsdesk.exchange.import_cli",
]


class CliError(Exception):
    """An expected failure: its message is shown to the user, never a traceback."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Context:
    paths: AppPaths
    out: object = sys.stdout
    err: object = sys.stderr


Handler = Callable[[argparse.Namespace, Context], int]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise CliError(f"{self.prog}: {message}", EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="flsdesk",
        description="flsdesk: offline FLS-DB data entry, follow-ups and export. "
        "With no command, opens the window.",
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="where the store, its key file, backups and logs live "
        "(beats FLSDESK_DATA_DIR; default: the user data folder)",
    )
    parser.add_argument("--version", action="version", version=f"flsdesk {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


OpenWindow = Callable[[AppPaths], int]


def main(argv: Sequence[str] | None = None, open_window: OpenWindow | None = None) -> int:
    """Run the command in ``argv``; with no command, ``open_window(paths)`` (handed in by the
    composition root, ``flsdesk.__main__``: the core never names the front end)."""
    try:
        return _main(argv, open_window)
    except KeyboardInterrupt:
        _say("flsdesk: interrupted")
        return EXIT_USAGE
    except Exception:
        # Outside a command (parsing, paths, logging set-up): Python's own exit would be 1,
        # which tells a script the work was done.
        _say("flsdesk: internal error, a bug in flsdesk; nothing was started.")
        with contextlib.suppress(Exception):
            log.exception("internal error outside a command")
        return EXIT_INTERNAL


def _main(argv: Sequence[str] | None, open_window: OpenWindow | None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        args = parser.parse_args(args_list)
    except CliError as exc:
        print(exc, file=sys.stderr)
        return exc.code
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0)
    paths = resolve(args.data_dir)
    # Before any command or the window: nothing written for the user may land on the store, and
    # what a killed earlier run left in our folders goes now.
    files.protect(paths)
    files.clean_at_start(paths)
    if args.command is None:
        if open_window is None:
            print("flsdesk: give a command (see --help); the window opens from 'flsdesk' itself.")
            return EXIT_USAGE
        return open_window(paths)
    from flsdesk.logs import install_excepthook, log_nowhere, setup_logging

    if args.command in CREATES_STORE or store_present(paths):
        try:
            setup_logging(paths.log_dir)
        except OSError as exc:
            print(
                f"flsdesk: cannot write the log folder {paths.log_dir}: {exc.strerror}",
                file=sys.stderr,
            )
            return EXIT_USAGE
    else:
        # Nothing is there to log about, and a mistyped --data-dir must not grow folders.
        log_nowhere()
    install_excepthook()
    handler: Handler = args.handler
    log.info("command %s started", args.command)
    try:
        code = handler(args, Context(paths=paths))
        sys.stdout.flush()  # a closed stdout shows here, not at exit as "Exception ignored"
    except KeyboardInterrupt:
        print("flsdesk: interrupted", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        message, code = describe_failure(exc, args, paths)
        if code == EXIT_INTERNAL:
            log.error("command %s failed", args.command, exc_info=exc)
        else:
            log.info("command %s: %s; exit %d", args.command, type(exc).__name__, code)
        _say(f"flsdesk {args.command}: {message}")
        return code
    log.info("command %s ended with exit %d", args.command, code)
    return code


# Commands that may make a data folder where there is none; every other one needs a store.
CREATES_STORE = frozenset({"init", "restore"})


def store_present(paths: AppPaths) -> bool:
    """Whether anything of a store is in the data folder (for deciding where to log)."""
    try:
        return paths.data_dir.is_dir() and any(
            p.name.startswith(("flsdesk.db", "flsdesk.key")) for p in paths.data_dir.iterdir()
        )
    except OSError:
        return False


def _say(text: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # stderr closed too: nothing left to tell
        print(text, file=sys.stderr)


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
    where = f"the log at {log_file}" if log_file else "no log (there is no store to log beside)"
    return (
        f"internal error ({type(exc).__name__}), a bug in flsdesk. Whatever the command was "
        f"doing was rolled back or never started. The details are in {where}.",
        EXIT_INTERNAL,
    )


if __name__ == "__main__":
    raise SystemExit(main())
