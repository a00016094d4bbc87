"""flsdesk core: the dataset, its rules, the encrypted store and the FLS-DB exchange.

Nothing in this package imports Qt; the front end lives in ``ui/``.
"""

from importlib import metadata

try:
    __version__ = metadata.version("flsdesk")
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.1.0"

APP_NAME = "flsdesk"
APP_AUTHOR = "flsdesk"
