"""Logging that never leaks patient data.

The rule is that no code logs an NHS number, name, date of birth or answer: we log record ids and
question numbers instead. As a second line of defence the handler redacts anything shaped like an
NHS number or a date from every message and traceback before it reaches the file, because an
exception raised deep inside a library may quote the value it choked on.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from flsdesk.paths import make_private_dir

LOG_NAME = "flsdesk.log"
log = logging.getLogger("flsdesk")

_REDACTIONS = [
    # NHS numbers with or without spaces (3-3-4), and any longer run of digits.
    (re.compile(r"(?<!\d)\d{3}[ -]?\d{3}[ -]?\d{4}(?!\d)"), "[number]"),
    (re.compile(r"(?<![\d.])\d{4}-\d{2}-\d{2}(?![\d])"), "[date]"),
    (re.compile(r"(?<!\d)\d{1,2}[/.]\d{1,2}[/.]\d{2,4}(?!\d)"), "[date]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the log line
            message = str(record.msg)
        record.msg = redact(message)
        record.args = ()
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Rotating log whose files are readable by the owner only."""

    def _open(self):  # type: ignore[no-untyped-def]
        stream = super()._open()
        if os.name == "posix":
            os.chmod(self.baseFilename, 0o600)
        return stream

    def handleError(self, record: logging.LogRecord) -> None:
        # A full disk or a vanished log folder must not print "--- Logging error ---" and a
        # traceback on the user's terminal (or abort the command): the log is a help, not the
        # work. The line is dropped; the command's own message still reaches the user.
        return


_configured_path: Path | None = None
_lock = threading.Lock()


def setup_logging(log_dir: Path, level: int = logging.INFO) -> Path:
    """Send the ``flsdesk`` and ``ui`` loggers to a rotating file in ``log_dir``."""
    global _configured_path
    with _lock:
        path = make_private_dir(log_dir) / LOG_NAME
        if _configured_path == path:
            return path
        handler = _PrivateRotatingFileHandler(
            path, maxBytes=1_000_000, backupCount=5, encoding="utf-8", delay=False
        )
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(RedactingFilter())
        for name in ("flsdesk", "ui"):
            logger = logging.getLogger(name)
            for old in list(logger.handlers):
                if isinstance(old, _PrivateRotatingFileHandler):
                    logger.removeHandler(old)
                    old.close()
            logger.addHandler(handler)
            logger.setLevel(level)
            logger.propagate = False
        _configured_path = path
        return path


def configured_path() -> Path | None:
    """The log file in use, or ``None`` while nothing is logged to a file."""
    return _configured_path


def log_nowhere() -> None:
    """Log nothing, anywhere, until :func:`setup_logging` is called.

    For a command run on a folder that holds no store (a mistyped ``--data-dir``): creating a
    log folder there would leave folders behind, and Python's last-resort handler would print
    warnings on stderr in the middle of the command's own message.
    """
    for name in ("flsdesk", "ui"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())
        logger.propagate = False


def install_excepthook(show: Callable[[str], None] | None = None) -> None:
    """Log any uncaught exception; ``show`` (the window's error dialog) gets a plain sentence."""

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        log.error("Unexpected failure", exc_info=(exc_type, exc, tb))
        if show is not None:
            show(
                "Something went wrong inside flsdesk. Everything already shown as saved is safe. "
                f"The details were written to the log file ({LOG_NAME}) without any patient data."
            )
        else:
            print(
                "flsdesk: an unexpected error occurred; details are in the log file.",
                file=sys.stderr,
            )

    sys.excepthook = hook
    threading.excepthook = lambda args: hook(
        args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback
    )
