"""The composition root: ``flsdesk`` (or ``python -m flsdesk``) with no command opens the window,
with a command runs the command line.

This is the one module of the package that names the front end: the command line itself
(``flsdesk.cli``) is handed the window as a function and never imports it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from flsdesk.cli import main as cli_main
from flsdesk.paths import AppPaths


def open_window(paths: AppPaths) -> int:
    from flsdesk_ui.app import run  # Qt loads only when the window is wanted

    return int(run(paths))


def main(argv: Sequence[str] | None = None) -> int:
    return cli_main(argv, open_window=open_window)


if __name__ == "__main__":
    sys.exit(main())
