"""File → Import…: the dry-run report of an import file in a table, then Apply.

Everything the import decides comes from ``flsdesk.exchange.importer`` (reading, matching, the
rules, the one-transaction apply); this dialog only shows the plan and runs the work as a
``BackgroundOp``, which never touches a widget and hands its outcome back on the GUI thread.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRegularExpression,
    QSortFilterProxyModel,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from flsdesk.exchange import importer
from flsdesk.store.store import Store
from flsdesk_ui.background import BackgroundOp, OpFailed

log = logging.getLogger("flsdesk.ui")

Index = QModelIndex | QPersistentModelIndex

IGNORED_COLUMN = "ignored column"
WARNING = "warning"
# (shown, outcome) for the filter; None shows everything.
FILTERS: tuple[tuple[str, str | None], ...] = (
    ("All", None),
    ("New", importer.NEW),
    ("Updated", importer.UPDATED),
    ("Unchanged", importer.UNCHANGED),
    ("Rejected", importer.REJECTED),
    ("Warnings", WARNING),
    ("Ignored columns", IGNORED_COLUMN),
)


@dataclass(frozen=True)
class ReportItem:
    outcome: str
    line: int
    column: str
    record: str
    nhs_number: str
    diagnosed: str
    details: str


def report_items(plan: importer.ImportPlan) -> list[ReportItem]:
    """The plan as table rows: one per row of the file, one per reason a row is rejected, one
    per warning, one per ignored column."""
    items: list[ReportItem] = []
    for r in plan.rows:
        record = "" if r.record_id is None else str(r.record_id)
        nhs = r.nhs_number or ""
        day = importer.day_text(r.diagnosed) if r.diagnosed else ""
        if r.outcome == importer.REJECTED:
            for p in r.problems:
                reason = p.describe().split(": ", 1)[-1]
                items.append(ReportItem(r.outcome, r.line, p.column, record, nhs, day, reason))
        else:
            items.append(
                ReportItem(r.outcome, r.line, "", record, nhs, day, importer.row_summary(r))
            )
        for w in r.warnings:
            items.append(
                ReportItem(
                    WARNING, w.line, w.column, record, nhs, day, w.describe().split(": ", 1)[-1]
                )
            )
    for c in plan.ignored_columns:
        items.append(ReportItem(IGNORED_COLUMN, 1, c.header, "", "", "", c.reason))
    return items


class ImportReportModel(QAbstractTableModel):
    COLUMNS = ("Outcome", "Line", "Column", "Record", "NHS number", "Diagnosed", "Details")
    OUTCOME = 0

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.items: list[ReportItem] = []

    def set_plan(self, plan: importer.ImportPlan | None) -> None:
        self.beginResetModel()
        self.items = report_items(plan) if plan is not None else []
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.items)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item = self.items[index.row()]
        values = (
            item.outcome,
            item.line,
            item.column,
            item.record,
            item.nhs_number,
            item.diagnosed,
            item.details,
        )
        value = values[index.column()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return str(value)
        if role == Qt.ItemDataRole.UserRole:  # sorting: lines as numbers
            return value
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == len(values) - 1:
            return item.details
        return None


class ImportDialog(QDialog):
    """Choose a file, read the dry-run report, apply it (all, or the valid rows)."""

    imported = Signal()  # records were created or changed: the main window refreshes
    plan_ready = Signal()  # a dry-run report is shown (tests wait on it)
    work_failed = Signal(str)

    def __init__(self, store: Store, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.plan: importer.ImportPlan | None = None
        self.result: importer.ImportResult | None = None
        self._op: BackgroundOp | None = None
        self._on_done: Callable[[Any], None] | None = None
        self.setObjectName("import_dialog")
        self.setWindowTitle("Import records")

        layout = QVBoxLayout(self)
        intro = QLabel(
            "Import a CSV in the FLS-DB import format, or an export from the webtool. Nothing "
            "is changed until you press Apply; by default the file goes in all or nothing."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)

        top = QHBoxLayout()
        self.choose = QPushButton("Choose file…", objectName="import_choose")
        self.choose.clicked.connect(self.choose_file)
        self.file_label = QLabel("No file chosen.", objectName="import_file_label")
        top.addWidget(self.choose)
        top.addWidget(self.file_label, 1)
        layout.addLayout(top)

        self.summary = QLabel("", objectName="import_summary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.summary)

        row = QHBoxLayout()
        label = QLabel("&Show:")
        self.filter = QComboBox(objectName="import_filter")
        self.filter.setAccessibleName("Show rows")
        label.setBuddy(self.filter)
        for text, outcome in FILTERS:
            self.filter.addItem(text, outcome)
        self.filter.currentIndexChanged.connect(self._filter_changed)
        row.addWidget(label)
        row.addWidget(self.filter)
        row.addStretch(1)
        layout.addLayout(row)

        self.model = ImportReportModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterKeyColumn(ImportReportModel.OUTCOME)
        self.proxy.setSortRole(Qt.ItemDataRole.UserRole)
        self.table = QTableView(objectName="import_table")
        self.table.setAccessibleName("Import report")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        # File order: the header's ignored columns (line 1), then the rows as the file has them.
        self.table.sortByColumn(1, Qt.SortOrder.AscendingOrder)
        self.table.setEditTriggers(QTableView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        # Fitting columns to 50,000 rows would freeze the window; a sample of rows is enough.
        header.setResizeContentsPrecision(300)
        header.setStretchLastSection(True)
        layout.addWidget(self.table, 1)

        progress_row = QHBoxLayout()
        self.progress = QProgressBar(objectName="import_progress")
        self.progress.setAccessibleName("Import progress")
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel", objectName="import_cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel)
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        layout.addLayout(progress_row)

        self.buttons = QDialogButtonBox()
        self.apply_button = QPushButton("Apply", objectName="import_apply")
        self.apply_valid_button = QPushButton(
            "Apply the valid rows", objectName="import_apply_valid"
        )
        self.close_button = QPushButton("Close", objectName="import_close")
        self.buttons.addButton(self.apply_valid_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.addButton(self.apply_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(self.close_button, QDialogButtonBox.ButtonRole.RejectRole)
        self.apply_button.clicked.connect(lambda: self.apply(skip_invalid=False))
        self.apply_valid_button.clicked.connect(lambda: self.apply(skip_invalid=True))
        self.close_button.clicked.connect(self.reject)
        layout.addWidget(self.buttons)
        self._update_buttons()
        self.resize(980, 560)

    # -- actions -------------------------------------------------------------------------------

    def choose_file(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self, "Import records from", "", "CSV files (*.csv *.txt);;All files (*)"
        )
        if name:
            self.load_file(Path(name))

    def load_file(self, path: Path) -> None:
        """Read ``path`` and show its dry-run report (in the worker)."""
        if self.busy:
            return
        self.plan = None
        self.result = None
        self.model.set_plan(None)
        self.file_label.setText(str(path))
        self.summary.setText("Reading the file…")
        store = self.store

        def job(progress: Callable[[int, int], None], cancel: Callable[[], bool]) -> Any:
            return importer.read_plan(store, path, progress=progress, cancel=cancel)

        self._start(job, self._plan_done)

    def apply(self, skip_invalid: bool) -> None:
        plan = self.plan
        if plan is None or self.busy:
            return
        self.summary.setText("Importing…")
        store = self.store

        def job(progress: Callable[[int, int], None], cancel: Callable[[], bool]) -> Any:
            return importer.apply(
                store, plan, skip_invalid=skip_invalid, progress=progress, cancel=cancel
            )

        self._start(job, self._apply_done)

    def cancel(self) -> None:
        if self._op is not None:
            self._op.cancel()
            self.cancel_button.setEnabled(False)
            self.summary.setText("Cancelling…")

    @property
    def busy(self) -> bool:
        return self._op is not None

    def reject(self) -> None:
        # Closing while working: cancel, and wait for the worker to roll back and stop, so no
        # thread outlives the dialog.
        if self._op is not None:
            self._op.cancel()
            self._op.wait()
        super().reject()

    # -- the background operation --------------------------------------------------------------

    def _start(self, job: Callable[..., Any], on_done: Callable[[Any], None]) -> None:
        op = BackgroundOp(
            job,
            name="import",
            expected=(importer.ImportFailed,),
            cancel_types=(importer.ImportCancelled,),
            unexpected_message=(
                "The import stopped on an unexpected error; nothing was changed. The log file "
                "has the details."
            ),
        )
        op.progress.connect(self._progress)
        op.succeeded.connect(self._done)
        op.failed.connect(self._failed)
        op.cancelled.connect(self._cancelled)
        self._op, self._on_done = op, on_done
        self.progress.setRange(0, 0)  # busy until the first report
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.cancel_button.setEnabled(True)
        self._update_buttons()
        op.start()

    def _finish_work(self) -> None:
        op, self._op = self._op, None
        if op is not None:
            op.wait()
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)

    @Slot(int, int)
    def _progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    @Slot(object)
    def _done(self, result: Any) -> None:
        on_done = self._on_done
        self._finish_work()
        if on_done is not None:
            on_done(result)
        self._update_buttons()

    @Slot(object)
    def _failed(self, error: OpFailed) -> None:
        self._show_stop(error.message)

    @Slot(str)
    def _cancelled(self, message: str) -> None:
        self._show_stop(message)

    def _show_stop(self, message: str) -> None:
        self._finish_work()
        self.summary.setText(message)
        self._update_buttons()
        self.work_failed.emit(message)

    def _plan_done(self, plan: importer.ImportPlan) -> None:
        self.plan = plan
        self.model.set_plan(plan)
        self.table.resizeColumnsToContents()
        self._update_filter_counts()
        self.summary.setText(self._plan_text(plan))
        self.plan_ready.emit()

    def _apply_done(self, result: importer.ImportResult) -> None:
        self.result = result
        text = (
            f"Imported: {result.created} created, {result.updated} updated, "
            f"{result.unchanged} unchanged"
        )
        if result.skipped:
            text += f"; {result.skipped} rejected row(s) left out"
        self.summary.setText(text + ".")
        self.plan = None  # applied: a second Apply would find the store changed
        if result.created or result.updated:
            self.imported.emit()

    # -- showing -------------------------------------------------------------------------------

    @staticmethod
    def _plan_text(plan: importer.ImportPlan) -> str:
        if plan.unreadable:
            return f"This file cannot be imported: {plan.unreadable}"
        c = plan.counts
        style = importer.HEADER_STYLE_WORDS.get(plan.header_style or "", "-")
        text = (
            f"Read as {plan.encoding}, header {style}: {c['new']} new, {c['updated']} updated, "
            f"{c['unchanged']} unchanged, {c['rejected']} rejected; "
            f"{len(plan.ignored_columns)} column(s) ignored, {plan.warning_count} warning(s)."
        )
        if c["rejected"]:
            text += (
                " Rejected rows are never imported: correct them in the file and choose it "
                "again, or apply the valid rows only."
            )
        elif not (c["new"] or c["updated"]):
            text += " Nothing to change."
        return text

    def _update_filter_counts(self) -> None:
        counts: dict[str | None, int] = {None: 0}
        for item in self.model.items:
            counts[item.outcome] = counts.get(item.outcome, 0) + 1
            counts[None] += 1
        for i, (text, outcome) in enumerate(FILTERS):
            self.filter.setItemText(i, f"{text} ({counts.get(outcome, 0)})")

    def _filter_changed(self, _index: int) -> None:
        outcome = self.filter.currentData()
        if outcome is None:
            self.proxy.setFilterRegularExpression(QRegularExpression())
        else:
            self.proxy.setFilterRegularExpression(
                QRegularExpression(f"^{re.escape(str(outcome))}$")
            )

    def _update_buttons(self) -> None:
        plan = self.plan
        busy = self.busy
        ready = plan is not None and not plan.unreadable
        counts = plan.counts if plan is not None else dict.fromkeys(importer.OUTCOMES, 0)
        changes = counts[importer.NEW] + counts[importer.UPDATED]
        self.apply_button.setEnabled(ready and not busy and changes > 0 and not counts["rejected"])
        self.apply_valid_button.setVisible(ready and counts[importer.REJECTED] > 0)
        self.apply_valid_button.setEnabled(ready and not busy and changes > 0)
        self.choose.setEnabled(not busy)
