"""The Follow-ups page: whom to call today, from ``flsdesk.followups`` (no rules or SQL here).

One table model over the day's rows (no widget per row), state filters with their counts, and
the actions a nurse needs: open the record on its follow-up tab, log a call attempt, end the
follow-up with a reason, print the list or save it as PDF or CSV.

Wiring (main window)::

    page = FollowupsPage(store)                       # today = store.today unless given
    page.open_record_requested.connect(lambda rid, tab: window.open_record(rid, tab=tab))
    page.counts_changed.connect(show_counts)          # {"upcoming": n, "due": n, …, "open": n}
    page.records_changed.connect(window.refresh)      # a follow-up was ended (record saved)
    # after any record save: page.refresh()
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QPageLayout, QTextDocument
from PySide6.QtPrintSupport import QPrintDialog, QPrinter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from flsdesk import files
from flsdesk import followups as fu
from flsdesk.answers import date_for_people, nhs_for_people
from flsdesk.dataset import parse_iso_date
from flsdesk.queries import StoreQueries
from flsdesk.store.settings import SERVICE_NAME
from flsdesk.store.store import Store
from flsdesk_ui.common import ask_save_path, ok_cancel, reason_combo
from flsdesk_ui.form.values import date_from_text

log = logging.getLogger("ui.followups")

Index = QModelIndex | QPersistentModelIndex
_STATE_COLOURS = {fu.OVERDUE: QColor("#b00020"), fu.DUE: QColor("#8a5a00")}
_STATE_TITLES = {
    fu.UPCOMING: "Upcoming",
    fu.DUE: "Due",
    fu.OVERDUE: "Overdue",
    fu.MISSED: "Missed",
}


# How the columns share the width (``FollowupsPage.fit_columns``): each gets its content's width
# up to _MAX_WIDTH; when that is more than the window has, these give way, in this order, down
# to their least width (their text elided, the whole of it in the tooltip). Follow-up, State and
# "try again on" never do, and come early, so State is in view on a 1024-wide screen; what still
# does not fit is a scroll away.
_GIVE_WAY: tuple[tuple[str, int], ...] = (
    ("bone_therapy", 80),
    ("window", 90),
    ("gp_practice", 80),
    ("site", 50),
    ("hospital_number", 70),
    ("diagnosed", 80),
    ("last_attempt", 90),
    ("phone", 105),  # the first number stays whole; both are in the tooltip
    ("name", 100),
)
_MAX_WIDTH = 320


def _dmy(value: date | None) -> str:
    return date_for_people(value)


def _phone_tip(row: fu.FollowupRow) -> str | None:
    lines = [
        f"{title}: {value}"
        for title, value in (("Phone", row.phone), ("Second phone", row.phone_2))
        if value
    ]
    return "\n".join(lines) or None


# ---------------------------------------------------------------------------------------------
# The table model
# ---------------------------------------------------------------------------------------------


class FollowupsModel(QAbstractTableModel):
    """The day's follow-up rows; sorting is in memory (the list is one day's, a few hundred)."""

    ROW_ROLE = Qt.ItemDataRole.UserRole + 1

    # key, title, display text, sort key. The order is what a nurse reads first when phoning:
    # who, which number, which follow-up and how urgent; the details after.
    COLUMNS: tuple[
        tuple[str, str, Callable[[fu.FollowupRow], str], Callable[..., Any] | None], ...
    ] = (
        ("name", "Name", lambda r: r.name or "", lambda r: (r.name or "").casefold() or None),
        (
            "nhs_number",
            "NHS number",
            lambda r: nhs_for_people(r.nhs_number),
            lambda r: r.nhs_number,
        ),
        ("phone", "Phone", lambda r: r.phones, lambda r: r.phones or None),
        ("label", "Follow-up", lambda r: r.label, lambda r: (r.window_opens, r.label)),
        (
            "state",
            "State",
            lambda r: r.state_text,
            # Ascending is the worklist's own order: the most urgent first (fu.urgency_key).
            lambda r: fu.urgency_key(r.state, r.days),
        ),
        ("try_again_on", "Try again on", lambda r: _dmy(r.try_again_on), lambda r: r.try_again_on),
        ("last_attempt", "Last call", lambda r: fu.attempt_text(r.last_attempt), None),
        ("gp_practice", "GP practice", lambda r: r.gp_practice or "", lambda r: r.gp_practice),
        (
            "bone_therapy",
            "Bone therapy recommended",
            lambda r: (r.bone_therapy or "").replace(";", ", "),
            lambda r: r.bone_therapy,
        ),
        (
            "hospital_number",
            "Hospital no.",
            lambda r: r.hospital_number or "",
            lambda r: r.hospital_number,
        ),
        ("diagnosed", "Fracture date", lambda r: _dmy(r.diagnosed), lambda r: r.diagnosed),
        ("site", "Site", lambda r: r.site or "", lambda r: r.site),
        (
            "window",
            "Window",
            lambda r: f"{_dmy(r.window_opens)}–{_dmy(r.window_closes)}",
            lambda r: r.window_opens,
        ),
    )
    # Columns whose whole text may not fit: the cell's tooltip shows all of it.
    TOOLTIP_COLUMNS = frozenset({"name", "phone", "gp_practice", "bone_therapy", "last_attempt"})

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[fu.FollowupRow] = []

    def column(self, key: str) -> int:
        return [c[0] for c in self.COLUMNS].index(key)

    def set_rows(self, rows: Sequence[fu.FollowupRow]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def row_at(self, row: int) -> fu.FollowupRow | None:
        return self.rows[row] if 0 <= row < len(self.rows) else None

    def find(self, record_id: int, window_id: str) -> int:
        for i, r in enumerate(self.rows):
            if r.record_id == record_id and r.window_id == window_id:
                return i
        return -1

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section][1]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = self.row_at(index.row()) if index.isValid() else None
        if row is None:
            return None
        key, _title, text, _sort = self.COLUMNS[index.column()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return text(row)
        if role == self.ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.ToolTipRole and key in self.TOOLTIP_COLUMNS:
            return _phone_tip(row) if key == "phone" else text(row) or None
        if role == Qt.ItemDataRole.ForegroundRole and key == "state":
            colour = _STATE_COLOURS.get(row.state)
            return QBrush(colour) if colour else None
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(self.COLUMNS):
            return
        key = self.COLUMNS[column][3]
        if key is None:  # the last call: by its date
            key = lambda r: r.last_attempt.called_on if r.last_attempt else None  # noqa: E731
        descending = order == Qt.SortOrder.DescendingOrder
        present = [r for r in self.rows if key(r) is not None]
        absent = [r for r in self.rows if key(r) is None]
        # Stable, and the blanks stay at the bottom either way (a follow-up never tried is not
        # "the soonest to try again").
        present.sort(key=key, reverse=descending)
        self.layoutAboutToBeChanged.emit()
        self.rows = present + absent
        self.layoutChanged.emit()


# ---------------------------------------------------------------------------------------------
# Dialogs
# ---------------------------------------------------------------------------------------------


class DateField(QLineEdit):
    """A date typed as dd/mm/yyyy, as everywhere else in flsdesk (the record form's convention)."""

    def __init__(self, name: str, accessible: str, value: date | None) -> None:
        super().__init__(_dmy(value), objectName=name)
        self.setAccessibleName(accessible)
        self.setPlaceholderText("dd/mm/yyyy")

    def set_value(self, value: date | None) -> None:
        self.setText(_dmy(value))

    def value(self) -> date | None:
        """The date typed, or None when blank or not a date (see ``readable``)."""
        return parse_iso_date(date_from_text(self.text()))

    @property
    def readable(self) -> bool:
        return not self.text().strip() or self.value() is not None


def _problem_label(name: str) -> QLabel:
    label = QLabel(objectName=name)
    label.setStyleSheet("color: #b00020")
    label.setWordWrap(True)
    label.hide()
    return label


class CallAttemptDialog(QDialog):
    """Date of the call, its outcome, and (optionally) when to try again."""

    REACHED = fu.OUTCOMES[-1]

    def __init__(self, description: str, today: date, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("call_attempt_dialog")
        self.setWindowTitle("Log call attempt")
        self._tomorrow = today + timedelta(days=1)
        layout = QVBoxLayout(self)
        intro = QLabel(description)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.called_on = DateField("call_date", "Date of the call", today)
        self.outcome = QComboBox(objectName="call_outcome")
        self.outcome.setAccessibleName("Outcome")
        for outcome in fu.OUTCOMES:
            self.outcome.addItem(outcome, outcome)
        self.retry_on = DateField("call_retry_on", "Try again on", self._tomorrow)
        self.retry_on.setToolTip("Leave blank when there is no need to call again")
        form.addRow("Date of the call", self.called_on)
        form.addRow("Outcome", self.outcome)
        form.addRow("Try again on", self.retry_on)
        layout.addLayout(form)
        self.problem = _problem_label("call_problem")
        layout.addWidget(self.problem)
        layout.addWidget(ok_cancel(self, "Log"))
        self.outcome.currentTextChanged.connect(self._outcome_changed)

    def _outcome_changed(self, outcome: str) -> None:
        # Once the patient is reached there is usually nobody to call back; a date the person
        # typed is left alone.
        if self.retry_on.isModified():
            return
        self.retry_on.set_value(None if outcome == self.REACHED else self._tomorrow)

    def show_problem(self, text: str) -> None:
        self.problem.setText(text)
        self.problem.show()

    def accept(self) -> None:
        if self.called_on.value() is None:
            self.show_problem("Type the date of the call as dd/mm/yyyy.")
            return
        if not self.retry_on.readable:
            self.show_problem("Type 'try again on' as dd/mm/yyyy, or leave it blank.")
            return
        super().accept()

    @property
    def chosen(self) -> tuple[date, str, date | None]:
        called_on = self.called_on.value()
        assert called_on is not None  # accept() saw to it
        return called_on, str(self.outcome.currentData()), self.retry_on.value()


class EndFollowupDialog(QDialog):
    """Why follow-up ends (the answers of the definition's local field) and on which day."""

    def __init__(
        self,
        description: str,
        reasons: Sequence[str],
        today: date,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("end_followup_dialog")
        self.setWindowTitle("End follow-up")
        layout = QVBoxLayout(self)
        intro = QLabel(description)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.reason = reason_combo("end_reason", reasons)
        self.ended_on = DateField("end_date", "Follow-up ended on", today)
        form.addRow("Reason", self.reason)
        form.addRow("Ended on", self.ended_on)
        layout.addLayout(form)
        self.buttons = ok_cancel(self, "End follow-up")
        layout.addWidget(self.buttons)
        self.reason.currentIndexChanged.connect(self._changed)
        self.ended_on.textChanged.connect(self._changed)
        self._changed()

    def _changed(self) -> None:
        ok = self.reason.currentData() is not None and self.ended_on.value() is not None
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)

    @property
    def chosen(self) -> tuple[str, date]:
        return str(self.reason.currentData()), self.ended_on.value() or date.today()


# ---------------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------------


class _Table(QTableView):
    """Enter and double-click open the row, once, on every platform.

    Qt's own ``activated`` depends on the style (macOS starts editing on Enter; some styles
    activate on a single click) and on the press that came before the double-click, so both are
    handled here and ``activated`` is emitted exactly once per gesture.
    """

    resized = Signal()

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self.resized.emit()

    def mouseDoubleClickEvent(self, event: Any) -> None:
        index = self.indexAt(event.position().toPoint())
        if event.button() == Qt.MouseButton.LeftButton and index.isValid():
            self.setCurrentIndex(index)
            self.activated.emit(index)
            return
        super().mouseDoubleClickEvent(event)

    def keyPressEvent(self, event: Any) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self.activated.emit(self.currentIndex())
            return
        super().keyPressEvent(event)


class FollowupsPage(QWidget):
    """The worklist page. ``refresh()`` re-reads the day's list (call it after a record save)."""

    open_record_requested = Signal(int, str)  # record id, the follow-up's tab id
    counts_changed = Signal(dict)  # {"upcoming": n, "due": n, "overdue": n, "missed": n, "open": n}
    records_changed = Signal()  # a record was saved from here (follow-up ended)

    def __init__(
        self,
        store: Store,
        today: Callable[[], date] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("followups_page")
        self.store = store
        self._today = today or store.today
        self.day = self._today()
        self._counts: dict[str, int] = {}
        layout = QVBoxLayout(self)

        top = QHBoxLayout()
        self.heading = QLabel(objectName="followups_heading")
        top.addWidget(self.heading)
        top.addStretch(1)
        self.filters: dict[str, QCheckBox] = {}
        for state in fu.STATES:
            box = QCheckBox(_STATE_TITLES[state], objectName=f"followups_filter_{state}")
            box.setChecked(state in fu.OPEN_STATES)
            box.setToolTip(
                "Missed follow-ups (the next window has opened) are listed only on request"
                if state == fu.MISSED
                else f"Show {state} follow-ups"
            )
            self.filters[state] = box
            top.addWidget(box)
        layout.addLayout(top)

        self.model = FollowupsModel(self)
        self.view = _Table(objectName="followups_table")
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAlternatingRowColors(True)
        self.view.setTabKeyNavigation(False)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(24)
        self.view.setSortingEnabled(True)
        # One line per row: a long text is elided (…) rather than wrapped out of sight.
        self.view.setWordWrap(False)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        # fit_columns measures this many rows per column at most: it runs after every refresh.
        header.setResizeContentsPrecision(300)
        # The worklist's own order is by urgency, which is State ascending: the header says so.
        header.setSortIndicator(self.model.column("state"), Qt.SortOrder.AscendingOrder)
        self._fitting = False
        self._user_sized = False  # once the person drags a column, its width is theirs
        header.sectionResized.connect(self._section_resized)
        self.view.resized.connect(self.fit_columns)
        self.view.setAccessibleName("Follow-ups")
        layout.addWidget(self.view, 1)

        self.empty = QLabel(objectName="followups_empty")
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color: palette(mid)")
        layout.addWidget(self.empty)

        buttons = QHBoxLayout()
        self.log_button = QPushButton("Log call attempt…", objectName="followups_log_call")
        self.end_button = QPushButton("End follow-up…", objectName="followups_end")
        self.retry_sort = QPushButton("Sort by try again on", objectName="followups_sort_retry")
        self.print_button = QPushButton("Print…", objectName="followups_print")
        self.pdf_button = QPushButton("Save as PDF…", objectName="followups_pdf")
        self.csv_button = QPushButton("Save as CSV…", objectName="followups_csv")
        for b in (self.log_button, self.end_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        for b in (self.retry_sort, self.print_button, self.pdf_button, self.csv_button):
            buttons.addWidget(b)
        layout.addLayout(buttons)

        for box in self.filters.values():
            box.toggled.connect(self._filters_changed)
        self.view.activated.connect(self._activated)
        self.view.selectionModel().currentRowChanged.connect(self._selection_changed)
        self.log_button.clicked.connect(self.log_call_attempt)
        self.end_button.clicked.connect(self.end_followup)
        self.retry_sort.clicked.connect(self.sort_by_try_again_on)
        self.print_button.clicked.connect(self.print_list)
        self.pdf_button.clicked.connect(self.save_pdf)
        self.csv_button.clicked.connect(self.save_csv)
        self.refresh()

    # -- reading ----------------------------------------------------------------------------

    def states(self) -> frozenset[str]:
        return frozenset(s for s, box in self.filters.items() if box.isChecked())

    def counts(self) -> dict[str, int]:
        """The counts per state (and "open") as of the last refresh."""
        return dict(self._counts)

    def refresh(self) -> None:
        """Re-read the list for today, keeping the selected row and the chosen sort."""
        current = self.selected()
        keep = (current.record_id, current.window_id) if current else None
        self.day = self._today()
        rows = StoreQueries(self.store).worklist(self.day, self.states())
        self.model.set_rows(rows)
        header = self.view.horizontalHeader()
        if header.sortIndicatorSection() >= 0:
            self.model.sort(header.sortIndicatorSection(), header.sortIndicatorOrder())
        self.fit_columns()
        self._counts = StoreQueries(self.store).followup_counts(self.day)
        for state, box in self.filters.items():
            box.setText(f"{_STATE_TITLES[state]} ({self._counts[state]})")
        self.heading.setText(f"Follow-ups on {date_for_people(self.day)}")
        self._update_empty()
        if keep is not None:
            row = self.model.find(*keep)
            if row >= 0:
                self.view.selectRow(row)
        self._selection_changed()
        self.counts_changed.emit(self.counts())

    def fit_columns(self) -> None:
        """Columns as wide as their content, within the window (see _GIVE_WAY)."""
        if self._user_sized:
            return
        header = self.view.horizontalHeader()
        widths: dict[int, int] = {}
        for col in range(self.model.columnCount()):
            natural = max(header.sectionSizeHint(col), self.view.sizeHintForColumn(col))
            widths[col] = min(natural, _MAX_WIDTH)
        excess = sum(widths.values()) - self.view.viewport().width()
        for key, least in _GIVE_WAY:
            if excess <= 0:
                break
            col = self.model.column(key)
            give = min(excess, max(0, widths[col] - least))
            widths[col] -= give
            excess -= give
        self._fitting = True
        try:
            for col, width in widths.items():
                self.view.setColumnWidth(col, width)
        finally:
            self._fitting = False

    def _section_resized(self, logical: int, _old: int, _new: int) -> None:
        # The last section stretches with the window by itself: not the person's doing.
        if not self._fitting and logical != self.model.columnCount() - 1:
            self._user_sized = True

    def _update_empty(self) -> None:
        if self.model.rowCount():
            self.empty.hide()
            return
        if not self.states():
            self.empty.setText("Tick a state above to list its follow-ups.")
        else:
            self.empty.setText("No follow-up in the states ticked above. Nobody to call.")
        self.empty.show()

    def _filters_changed(self) -> None:
        self.refresh()

    def selected(self) -> fu.FollowupRow | None:
        index = self.view.currentIndex()
        return self.model.row_at(index.row()) if index.isValid() else None

    def _selection_changed(self, *_args: Any) -> None:
        has = self.selected() is not None
        self.log_button.setEnabled(has)
        self.end_button.setEnabled(has)
        has_rows = self.model.rowCount() > 0
        for b in (self.print_button, self.pdf_button, self.csv_button):
            b.setEnabled(has_rows)

    def select(self, record_id: int, window_id: str) -> bool:
        row = self.model.find(record_id, window_id)
        if row >= 0:
            self.view.selectRow(row)
        return row >= 0

    def sort_by_try_again_on(self) -> None:
        self.view.sortByColumn(self.model.column("try_again_on"), Qt.SortOrder.AscendingOrder)

    # -- actions ----------------------------------------------------------------------------

    def _activated(self, index: QModelIndex) -> None:
        row = self.model.row_at(index.row())
        if row is not None:
            self.open_record_requested.emit(row.record_id, row.tab_id)

    def _describe(self, row: fu.FollowupRow) -> str:
        who = " ".join(p for p in (nhs_for_people(row.nhs_number), row.name or "") if p)
        return f"{row.label} follow-up of record {row.record_id}: {who}"

    def _run(self, dialog: QDialog) -> bool:
        return bool(dialog.exec())

    def log_call_attempt(self) -> None:
        row = self.selected()
        if row is None:
            return
        dialog = CallAttemptDialog(self._describe(row), self._today(), self)
        while self._run(dialog):
            called_on, outcome, retry = dialog.chosen
            try:
                fu.log_call_attempt(
                    self.store, row.record_id, row.window_id, called_on, outcome, retry
                )
            except ValueError as exc:
                dialog.show_problem(str(exc))
                continue
            self.refresh()
            self.select(row.record_id, row.window_id)
            break
        dialog.deleteLater()

    def end_followup(self) -> None:
        row = self.selected()
        if row is None:
            return
        definition = self.store.definitions.get(self.store.load(row.record_id).dataset_id)
        labels = " and ".join(w.label for w in definition.followup_windows)
        dialog = EndFollowupDialog(
            f"{self._describe(row)}\n\nThis closes every follow-up of the record ({labels}). "
            "The reason is saved on the record, in its audit trail.",
            fu.end_reasons(definition),
            self._today(),
            self,
        )
        accepted = self._run(dialog)
        reason, ended_on = dialog.chosen
        dialog.deleteLater()
        if not accepted:
            return
        try:
            fu.end_followup(self.store, row.record_id, reason, ended_on)
        except ValueError as exc:
            QMessageBox.warning(self, "End follow-up", str(exc))
            return
        self.refresh()
        self.records_changed.emit()

    # -- print and export -------------------------------------------------------------------

    def call_sheet_html(self) -> str:
        """The visible rows as a printable table: only what is needed to make the calls."""
        head = "".join(f"<th>{html.escape(c)}</th>" for c in fu.CALL_SHEET_COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in fu.call_sheet_row(r)) + "</tr>"
            for r in self.model.rows
        )
        chosen = ", ".join(_STATE_TITLES[s].lower() for s in fu.STATES if s in self.states())
        service = str(self.store.get_setting(SERVICE_NAME, "") or "").strip()
        title = f"{service}: follow-ups" if service else "Follow-ups"
        return (
            "<html><body style='font-size: 9pt'>"
            f"<h3>{html.escape(title)} on {date_for_people(self.day)} ({html.escape(chosen)}): "
            f"{len(self.model.rows)}</h3>"
            "<table border='1' cellspacing='0' cellpadding='3' width='100%'>"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            "<p>Confidential: patient data. Shred after use.</p></body></html>"
        )

    def _document(self) -> QTextDocument:
        doc = QTextDocument(self)
        doc.setHtml(self.call_sheet_html())
        return doc

    def _printer(self) -> QPrinter:
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        printer.setPageOrientation(QPageLayout.Orientation.Landscape)
        printer.setDocName("flsdesk follow-ups")
        return printer

    def _ask_printer(self, printer: QPrinter) -> bool:
        return QPrintDialog(printer, self).exec() == QDialog.DialogCode.Accepted

    def print_list(self) -> None:
        printer = self._printer()
        if not self._ask_printer(printer):
            return
        to_file = printer.outputFileName()
        if not to_file:
            self._document().print_(printer)
            log.info("follow-up list printed: %d row(s)", len(self.model.rows))
            return
        # "Print to file" is a file written for the user: the same guard and owner-only writing
        # as Save as PDF.
        try:
            with files.private_path(to_file, paths=self.store.paths) as tmp:
                printer.setOutputFileName(str(tmp))
                self._document().print_(printer)
        except OSError as exc:
            QMessageBox.warning(self, "Print", f"Cannot write {to_file}: {exc.strerror or exc}")
            return
        log.info("follow-up list printed to a file: %d row(s)", len(self.model.rows))

    def _save_name(self, title: str, suggested: str, filter_text: str) -> Path | None:
        return ask_save_path(self, title, suggested, filter_text, self.store.paths)

    def save_pdf(self) -> Path | None:
        target = self._save_name(
            "Save the follow-up list as PDF",
            f"follow-ups-{self.day:%Y-%m-%d}.pdf",
            "PDF files (*.pdf)",
        )
        if target is None:
            return None
        printer = self._printer()
        printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
        try:
            with files.private_path(target, paths=self.store.paths) as tmp:
                printer.setOutputFileName(str(tmp))
                self._document().print_(printer)
        except OSError as exc:
            QMessageBox.warning(self, "Save as PDF", f"Cannot write {target}: {exc.strerror}.")
            return None
        log.info("follow-up list saved as PDF: %d row(s)", len(self.model.rows))
        return target

    def save_csv(self) -> Path | None:
        target = self._save_name(
            "Save the follow-up list as CSV",
            f"follow-ups-{self.day:%Y-%m-%d}.csv",
            "CSV files (*.csv)",
        )
        if target is None:
            return None
        try:
            fu.write_call_sheet_csv(target, self.model.rows)
        except OSError as exc:
            QMessageBox.warning(self, "Save as CSV", f"Cannot write {target}: {exc.strerror}.")
            return None
        return target
