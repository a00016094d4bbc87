"""The record's call history, at the foot of its Follow-up tab: every call logged about its
follow-ups from the Follow-ups list (date, follow-up, outcome, who, next try).

The calls come from ``flsdesk.followups.call_attempts``; this widget only shows them. It reads
them again whenever it is shown and whenever its window comes to the front, so a call logged
from the list while the record is open is there when the person looks back at the record.

Wiring (the record window, when it builds a tab)::

    call_history.attach(page, definition, store, lambda: window.record_id)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from flsdesk import followups as fu
from flsdesk.answers import date_for_people
from flsdesk.dataset import Definition
from flsdesk.store.store import Store
from flsdesk_ui.form.builder import TabPage

COLUMNS = ("Date", "Follow-up", "Outcome", "Who", "Try again on")
_ROWS_SHOWN = 8  # beyond this the table scrolls; the tab stays a form


def _dmy(value: date | None) -> str:
    return date_for_people(value)


class CallHistory(QGroupBox):
    """The calls about one record's follow-ups, the latest first."""

    def __init__(
        self, store: Store, record_id: Callable[[], int | None], parent: QWidget | None = None
    ) -> None:
        super().__init__("Calls about follow-up", parent)
        self.setObjectName("call_history")
        self.store = store
        self._record_id = record_id
        self._watched: QObject | None = None
        self.attempts: list[fu.CallAttemptInfo] = []
        layout = QVBoxLayout(self)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("call_history_table")
        self.table.setAccessibleName("Calls about follow-up")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setTabKeyNavigation(False)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        layout.addWidget(self.table)
        self.empty = QLabel(
            "No call logged yet. Calls are logged from the Follow-ups list (Log call attempt…).",
            self,
        )
        self.empty.setObjectName("call_history_empty")
        self.empty.setWordWrap(True)
        layout.addWidget(self.empty)
        self.refresh()

    def refresh(self) -> None:
        record_id = self._record_id()
        self.attempts = fu.call_attempts(self.store.engine, record_id) if record_id else []
        labels = fu.labels(self.store.definitions)
        self.table.setRowCount(len(self.attempts))
        for row, a in enumerate(self.attempts):
            cells = (
                _dmy(a.called_on),
                labels.get(a.window_id, a.window_id),
                a.outcome,
                a.who,
                _dmy(a.try_again_on),
            )
            for col, text in enumerate(cells):
                self.table.setItem(row, col, QTableWidgetItem(text))
        self.table.setVisible(bool(self.attempts))
        self.empty.setVisible(not self.attempts)
        shown = min(len(self.attempts), _ROWS_SHOWN)
        frame = 2 * self.table.frameWidth()
        height = self.table.horizontalHeader().sizeHint().height() + frame
        height += sum(self.table.rowHeight(r) for r in range(shown))
        self.table.setFixedHeight(height)

    def rows(self) -> list[list[str]]:
        """The table as shown (for tests and screen readers' sake, read from the widgets)."""
        return [
            [self.table.item(r, c).text() for c in range(self.table.columnCount())]
            for r in range(self.table.rowCount())
        ]

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        window = self.window()
        if window is not self._watched:
            if self._watched is not None:
                self._watched.removeEventFilter(self)
            window.installEventFilter(self)
            self._watched = window
        self.refresh()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.WindowActivate and self.isVisible():
            self.refresh()
        return False


def attach(
    page: TabPage, definition: Definition, store: Store, record_id: Callable[[], int | None]
) -> CallHistory | None:
    """Put the call history at the foot of ``page`` when it is the tab of the follow-ups (the
    tab of the questions that close them); None for any other tab."""
    tabs = {
        definition.questions[w.closed_by].tab
        for w in definition.followup_windows
        if w.closed_by in definition.questions
    }
    if page.tab.id not in tabs:
        return None
    history = CallHistory(store, record_id, page.content)
    # Before the stretch that closes the page, so it sits under the last question.
    page.layout_.insertWidget(page.layout_.count() - 1, history)
    return history
