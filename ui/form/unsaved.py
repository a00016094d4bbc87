"""When the team database cannot be reached: the form keeps what was typed and keeps trying.

A save that fails because the server went away (network cut, server restart) is not a problem
with the answers: nothing was written (the store rolls the transaction back), the answers stay
in the form, and the save is tried again, less often the longer the server stays away so that a
form left open does not hammer it, until it comes back and the save goes through.
"""

from __future__ import annotations

from flsdesk.store.errors import ServerUnreachable

UNREACHABLE_TEXT = "Not saved — the team database cannot be reached"

# Seconds between tries: soon at first (a server restart takes seconds), then every half minute.
BACKOFF_MS = (2_000, 4_000, 8_000, 15_000, 30_000)


def is_unreachable(exc: BaseException) -> bool:
    return isinstance(exc, ServerUnreachable)


def retry_delay_ms(failures: int) -> int:
    """The wait before try number ``failures + 1`` (``failures`` ≥ 1 tries have failed)."""
    return BACKOFF_MS[min(max(failures, 1), len(BACKOFF_MS)) - 1]


def indicator_text(retry_ms: int) -> str:
    return (
        f"{UNREACHABLE_TEXT}. Everything you typed is kept; trying again in "
        f"{max(1, round(retry_ms / 1000))} s (Ctrl+S tries now)."
    )
