"""The command line: ``flsdesk <command>`` (README.md, "The command line").

``main`` runs it; the exit codes are named here for scripts and tests. The commands themselves
live one module per area beside ``runner`` (which lists them); the names they share are in
``base``.
"""

from flsdesk.cli.base import (
    EXIT_ATTENTION,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_STORE,
    EXIT_USAGE,
    CliError,
    Context,
)
from flsdesk.cli.runner import build_parser, main

__all__ = [
    "EXIT_ATTENTION",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_STORE",
    "EXIT_USAGE",
    "CliError",
    "Context",
    "build_parser",
    "main",
]
