"""The command line (README.md, "The command line"): global options, the commands, running one.

Each area's commands live in their own module of this package and are added through its
``register(subparsers)``; the list below is the whole registry, imported explicitly so that any
packager (PyInstaller) and any checker (mypy, import-linter) sees every command.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import sys
from collections.abc import Callable, Sequence

from flsdesk import __version__, files
from flsdesk.cli import definitions, exchange, followups, import_csv, kpi, store, team
from flsdesk.cli.base import EXIT_INTERNAL, EXIT_USAGE, CliError, CliParser, Context, Handler
from flsdesk.cli.failures import describe_failure
from flsdesk.paths import AppPaths, resolve

log = logging.getLogger("flsdesk.cli")

# In the order `flsdesk --help` lists them.
COMMAND_MODULES = (definitions, store, followups, exchange, import_csv, kpi, team)


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(
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
    parser.add_argument(
        "--store",
        metavar="ADDRESS",
        help="use the team database at ADDRESS (postgresql://you@host/database) instead of "
        "this computer's store (beats FLSDESK_STORE and the setting made by 'team join'; the "
        "password: FLSDESK_DB_PASSWORD, the keyring, or asked)",
    )
    parser.add_argument("--version", action="version", version=f"flsdesk {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>", parser_class=CliParser)
    for module in COMMAND_MODULES:
        module.register(sub)
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
    paths = dataclasses.replace(resolve(args.data_dir), store=args.store)
    team_store = _team_store_chosen(paths)
    if isinstance(team_store, str):
        print(f"flsdesk: {team_store}", file=sys.stderr)
        return EXIT_USAGE
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

    if (
        args.command in CREATES_STORE
        or args.command == "team"
        or team_store
        or store_present(paths)
    ):
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


def _team_store_chosen(paths: AppPaths) -> bool | str:
    """Whether a team database is chosen (--store, FLSDESK_STORE, this computer's setting);
    a bad address is a usage mistake, said before anything is opened (the message names where
    it came from, never a password)."""
    from flsdesk.store.address import BadAddress, chosen_address

    try:
        return chosen_address(paths, paths.store) is not None
    except BadAddress as exc:
        return str(exc)


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
