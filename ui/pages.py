"""The main window's pages: the patient list, deleted records and possible duplicates."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from PySide6.QtCore import (
    QEvent,
    QItemSelectionModel,
    QObject,
    Qt,
    Signal,
)
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from flsdesk import patient_list as pl
from flsdesk.answers import nhs_for_people
from flsdesk.dataset import Definition
from flsdesk.queries import StoreQueries
from flsdesk.record_actions import RETENTION_DAYS
from flsdesk.rules import COMPLETE, DRAFT, NEEDS_CORRECTION
from flsdesk.store.store import Store
from flsdesk.wording import date_for_people, question_label
from flsdesk_ui.common import read_only_table
from flsdesk_ui.patient_model import PatientTableModel
from flsdesk_ui.rows_model import RowsModel


class PatientsPage(QWidget):
    # Enter in the search box when exactly one record matches: open it.
    open_requested = Signal(int)

    def __init__(self, store: Store, next_followups: Callable[[list[int]], dict] | None = None):
        super().__init__()
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.search = QLineEdit(objectName="patient_search")
        self.search.setPlaceholderText(
            "Find: NHS number (with or without spaces), name or hospital number"
        )
        self.search.setAccessibleName("Find a patient")
        self.search.setToolTip(
            "Enter opens the record when exactly one matches; the Down arrow moves into the list."
        )
        self.search.setClearButtonEnabled(True)
        top.addWidget(self.search, 1)
        self.filters: dict[str, QCheckBox] = {}
        for status in (NEEDS_CORRECTION, DRAFT, COMPLETE):
            box = QCheckBox(status, objectName="filter_" + status.lower().replace(" ", "_"))
            box.setToolTip(f"Show only records with status {status} (tick several to combine)")
            self.filters[status] = box
            top.addWidget(box)
        layout.addLayout(top)
        self.model = PatientTableModel(
            StoreQueries(store), next_followups, self, explain=StoreQueries(store).why
        )
        self.view = read_only_table("patient_table", fit_columns=False)
        # One line per patient: more of the list on screen, and no height to compute per row.
        self.view.setWordWrap(False)
        self.view.verticalHeader().setDefaultSectionSize(24)
        self.view.setModel(self.model)
        self.view.setSortingEnabled(True)
        self.view.horizontalHeader().setSortIndicator(
            [c.key for c in pl.COLUMNS].index("diagnosed"), Qt.SortOrder.DescendingOrder
        )
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for col, width in enumerate((110, 190, 100, 100, 100, 80, 140)):
            self.view.setColumnWidth(col, width)
        layout.addWidget(self.view)
        self.empty = QLabel(objectName="patient_empty")
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color: palette(mid)")
        layout.addWidget(self.empty)
        self.search.textChanged.connect(self.model.set_search)
        self.search.returnPressed.connect(self._search_entered)
        self.search.installEventFilter(self)
        for box in self.filters.values():
            box.toggled.connect(self._filters_changed)
        self.model.modelReset.connect(self._update_empty)
        # What an empty list says (a review user, who cannot enter records, is told less).
        self.first_record_hint = "No records yet. Press Ctrl+N to enter the first patient."

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if (
            obj is self.search
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_Down
        ):
            self.focus_list()
            return True
        return super().eventFilter(obj, event)

    def _search_entered(self) -> None:
        count = self.model.rowCount()
        if count == 1:
            self.focus_list()
            self.open_requested.emit(self.model.record_id(0))
        elif count > 1:
            # Several: go down to the list to choose with the arrow keys and Enter.
            self.focus_list()

    def focus_list(self) -> None:
        """Into the list, on its first row (when there is one)."""
        if not self.model.rowCount():
            return
        self.view.setFocus(Qt.FocusReason.OtherFocusReason)
        self.view.selectionModel().setCurrentIndex(
            self.model.index(0, 0),
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows,
        )

    def _filters_changed(self) -> None:
        chosen = frozenset(s for s, box in self.filters.items() if box.isChecked())
        self.model.set_query(replace(self.model.query, statuses=chosen))

    def _update_empty(self) -> None:
        if self.model.rowCount():
            self.empty.hide()
            return
        if self.model.query.search or self.model.query.statuses:
            self.empty.setText("No record matches. Clear the search or the filters to see all.")
        else:
            self.empty.setText(self.first_record_hint)
        self.empty.show()

    def selected_id(self) -> int | None:
        index = self.view.currentIndex()
        return self.model.record_id(index.row()) if index.isValid() else None


def _role(definition: Definition | None, role: str) -> str | None:
    return definition.role(role) if definition is not None else None


class DeletedPage(QWidget):
    def __init__(self) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        note = QLabel(
            "Deleted records are never exported. Each can be restored for "
            f"{RETENTION_DAYS} days; after that "
            "it is removed for good when flsdesk starts."
        )
        note.setWordWrap(True)
        layout.addWidget(note)
        self.model = RowsModel(
            [
                ("NHS number", lambda d: nhs_for_people(d.nhs_number)),
                ("Name", lambda d: d.name),
                ("Fracture date", lambda d: date_for_people(d.diagnosed)),
                ("Deleted", lambda d: date_for_people(d.deleted_at)),
                ("Reason", lambda d: d.reason + (f": {d.note}" if d.note else "")),
                ("Days left", lambda d: d.days_left),
            ],
            self,
        )
        self.view = read_only_table("deleted_table")
        self.view.setModel(self.model)
        layout.addWidget(self.view)
        buttons = QHBoxLayout()
        self.restore = QPushButton("Restore", objectName="restore_button")
        buttons.addWidget(self.restore)
        buttons.addStretch(1)
        layout.addLayout(buttons)

    def selected(self) -> Any:
        index = self.view.currentIndex()
        return self.model.item(index.row()) if index.isValid() else None


class DuplicatesPage(QWidget):
    def __init__(self, definition: Definition | None = None) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        note = QLabel(
            "Pairs of records with the same NHS number and date of diagnosis. Neither is exported "
            "until one is corrected or deleted as a Duplicate. Open a pair to compare them."
        )
        note.setWordWrap(True)
        layout.addWidget(note)
        self.model = RowsModel(
            [
                (
                    question_label(definition, _role(definition, "nhs_number")) or "NHS number",
                    lambda p: nhs_for_people(p[0].nhs_number),
                ),
                (
                    question_label(definition, _role(definition, "diagnosed")) or "Fracture date",
                    lambda p: date_for_people(p[0].diagnosed),
                ),
                ("First record", lambda p: f"{p[0].id} {p[0].name or ''} ({p[0].status})"),
                ("Second record", lambda p: f"{p[1].id} {p[1].name or ''} ({p[1].status})"),
            ],
            self,
        )
        self.view = read_only_table("duplicates_table")
        self.view.setModel(self.model)
        layout.addWidget(self.view)
        buttons = QHBoxLayout()
        self.compare = QPushButton("Open side by side", objectName="compare_button")
        buttons.addWidget(self.compare)
        buttons.addStretch(1)
        layout.addLayout(buttons)

    def selected(self) -> Any:
        index = self.view.currentIndex()
        return self.model.item(index.row()) if index.isValid() else None
