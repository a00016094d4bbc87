"""Following what others change: the patient list and the worklist catch up within seconds.

On a team database other people save records all day; on the local store a command (an
import, a scheduled export) can too. Asking the store for its change token is cheap, so the
window asks every couple of seconds and re-reads its lists only when the token moved.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from flsdesk.store.errors import StoreError

log = logging.getLogger("ui.refresh")

POLL_MS = 2000  # "at most a few seconds behind" (issue 14), at a few ms of work per poll
# While the server is away each poll waits for the connection's timeout on the GUI thread: ask
# far less often until it answers again.
AWAY_POLL_MS = 15_000


class ChangeWatcher(QObject):
    """Polls ``token()`` every ``interval_ms``; ``changed`` when it differs from the last one.

    ``unreachable(str)`` is emitted once when a poll fails (the server went away) and
    ``reachable`` once when polls work again, so the window can say so without a dialog.
    The token read when the watcher starts (or after ``mark_seen``) is the baseline: a change
    made by this window's own refresh is not reported again.
    """

    changed = Signal()
    unreachable = Signal(str)
    reachable = Signal()

    def __init__(
        self,
        token: Callable[[], str],
        interval_ms: int = POLL_MS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._token = token
        self._last: str | None = None
        self._failing = False
        self.interval_ms = interval_ms
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.poll)

    def start(self) -> None:
        self.mark_seen()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def mark_seen(self) -> None:
        """Take the current token as seen (after a refresh the window made itself)."""
        try:
            self._last = self._token()
        except StoreError:
            self._last = None  # the next poll that works reports a change

    def poll(self) -> bool:
        """Ask once; True when the token moved (``changed`` was emitted)."""
        try:
            now = self._token()
        except StoreError as exc:
            if not self._failing:
                self._failing = True
                self.timer.setInterval(max(self.interval_ms, AWAY_POLL_MS))
                log.warning("change poll failed: %s", type(exc).__name__)
                self.unreachable.emit(str(exc))
            return False
        if self._failing:
            self._failing = False
            self.timer.setInterval(self.interval_ms)
            log.info("change poll works again")
            self.reachable.emit()
        if now == self._last:
            return False
        self._last = now
        self.changed.emit()
        return True
