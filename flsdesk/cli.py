"""The command line (see shared/spec/cli.md): global options, exit codes, command registry.

Each area of the program adds its commands from its own module (listed in ``COMMAND_MODULES``)
through a ``register(subparsers)`` function, so this file stays small and commands stay beside
the code they drive.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from flsdesk import __version__, files
from flsdesk.paths import AppPaths, resolve
from flsdesk.store.errors import StoreError

log = logging.getLogger("flsdesk.cli")

EXIT_OK = 0
EXIT_ATTENTION = 1
EXIT_USAGE = 2
EXIT_STORE = 3

COMMAND_MODULES = [
    "flsdesk.definitions_cli",
    "flsdesk.store.commands",
    "flsdesk.followups_cli",
    "flsdesk.sync.cli",
    "flsdesk.sync.import_cli",
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


def main(argv: Sequence[str] | None = None) -> int:
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
        from flsdesk.gui_launcher import launch_gui

        return launch_gui(paths)
    from flsdesk.logs import install_excepthook, setup_logging

    try:
        setup_logging(paths.log_dir)
    except OSError as exc:
        print(
            f"flsdesk: cannot write the log folder {paths.log_dir}: {exc.strerror}", file=sys.stderr
        )
        return EXIT_USAGE
    install_excepthook()
    handler: Handler = args.handler
    log.info("command %s started", args.command)
    try:
        code = handler(args, Context(paths=paths))
    except CliError as exc:
        print(f"flsdesk {args.command}: {exc}", file=sys.stderr)
        log.info("command %s ended with exit %d", args.command, exc.code)
        return exc.code
    except files.ProtectedTarget as exc:  # any writer, even one that forgot to check first
        print(f"flsdesk {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StoreError as exc:
        print(f"flsdesk {args.command}: {exc}", file=sys.stderr)
        log.info("command %s: %s; exit %d", args.command, type(exc).__name__, EXIT_STORE)
        return EXIT_STORE
    except KeyboardInterrupt:
        print("flsdesk: interrupted", file=sys.stderr)
        return EXIT_USAGE
    log.info("command %s ended with exit %d", args.command, code)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
