"""The names every command module shares: exit codes, the expected-failure exception, the context
a handler gets, the handler type and the parser class.

Kept apart from ``flsdesk.cli.runner`` (which imports every command module) so that a command
module never imports back from the module that imports it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flsdesk.paths import AppPaths

# The exit codes of the command line (README.md, "The command line").
EXIT_OK = 0
EXIT_ATTENTION = 1
EXIT_USAGE = 2
EXIT_STORE = 3
EXIT_INTERNAL = 4


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

# What each command module's ``register`` receives: ``parser.add_subparsers(...)``.
Subparsers = Any


class CliParser(argparse.ArgumentParser):
    """argparse, but a usage mistake raises CliError (exit 2 with our message) instead of
    calling sys.exit from deep inside parsing."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise CliError(f"{self.prog}: {message}", EXIT_USAGE)
