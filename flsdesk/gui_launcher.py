"""Opens the window without this package importing Qt itself.

The core stays Qt-free (a test checks every module under ``flsdesk/``); the only link to the
front end is this late, by-name import, made when no command was given.
"""

from __future__ import annotations

import importlib

from flsdesk.paths import AppPaths


def launch_gui(paths: AppPaths) -> int:
    app_module = importlib.import_module("ui.app")
    return int(app_module.run(paths))
