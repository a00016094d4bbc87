"""The idle lock: after N minutes without keyboard or mouse use, the window locks itself."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QTimer, Signal

_ACTIVITY = {
    QEvent.Type.KeyPress,
    QEvent.Type.MouseButtonPress,
    QEvent.Type.MouseMove,
    QEvent.Type.Wheel,
    QEvent.Type.TouchBegin,
}


class IdleWatcher(QObject):
    """Watches the whole application's input; emits ``idle`` once the limit passes.

    ``clock`` returns seconds (monotonic); tests pass their own and call ``check()``.
    """

    idle = Signal()

    def __init__(
        self,
        minutes: float,
        clock: Callable[[], float] = time.monotonic,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.clock = clock
        self.minutes = minutes
        self.last_activity = clock()
        self.paused = False
        self.timer = QTimer(self)
        self.timer.setInterval(15_000)
        self.timer.timeout.connect(self.check)

    def start(self, app: QObject) -> None:
        app.installEventFilter(self)
        self.timer.start()

    def stop(self, app: QObject) -> None:
        app.removeEventFilter(self)
        self.timer.stop()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() in _ACTIVITY:
            self.last_activity = self.clock()
        return False

    def touch(self) -> None:
        self.last_activity = self.clock()

    def check(self) -> None:
        if self.paused or self.minutes <= 0:
            return
        if self.clock() - self.last_activity >= self.minutes * 60:
            self.paused = True  # until unlocked: one lock at a time
            self.idle.emit()

    def resume(self) -> None:
        self.paused = False
        self.touch()
