"""Export for the FLS-DB: the report, then Save…, then Upload or the webtool's import page.

One click opens this dialog and starts the report for "since the last export"; one more (Save…)
writes the file. Everything slow (the report, writing, uploading) runs as a ``BackgroundOp`` with a
progress bar and Cancel; results come back by signal, so the window never freezes. The dialog
holds no rules and no SQL: it asks ``flsdesk.exchange``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from flsdesk import settings as settings_schema
from flsdesk.answers import date_for_people, moment_for_people, nhs_for_people
from flsdesk.exchange import export as ex
from flsdesk.exchange import upload as up
from flsdesk.store.store import Store
from flsdesk_ui.background import CancelFn, ProgressFn, WorkPanel
from flsdesk_ui.common import ask_save_path, read_only_table
from flsdesk_ui.rows_model import RowsModel

log = logging.getLogger("ui.export")


def upload_job(store: Store, path: Path) -> Callable[[ProgressFn, CancelFn], up.UploadResult]:
    """The upload as a worker job: Cancel also cuts the back-off waits short."""

    def job(progress: ProgressFn, cancel: CancelFn) -> up.UploadResult:
        def sleep(seconds: float) -> None:
            end = time.monotonic() + seconds
            while not cancel() and time.monotonic() < end:
                time.sleep(min(0.1, max(0.0, end - time.monotonic())))

        return up.upload_file(
            store,
            path,
            cancel=cancel,
            sleep=sleep,
            on_attempt=lambda n, total: progress(n - 1, total),
        )

    return job


def _day(value: date | None) -> str:
    return date_for_people(value)


def local_time(value: datetime | None) -> str:
    """A stored naive-UTC moment as local time for display."""
    if value is None:
        return ""
    return moment_for_people(value.replace(tzinfo=UTC))


# ---------------------------------------------------------------------------------------------
# The dialog
# ---------------------------------------------------------------------------------------------

SCOPES = (
    ("since-last", "New or changed since the last export"),
    ("month", "Diagnosed in a month"),
    ("all", "Every record"),
)


class ExportDialog(QDialog):
    """``ExportDialog(store, parent)``; ``open_record_requested(record_id)`` asks the window to
    open a held-back record; ``exported(batch_id)`` and ``uploaded(batch_id)`` tell it to
    refresh the outbox and the status bar."""

    open_record_requested = Signal(int)
    optout_requested = Signal()  # open the opt-out tools (mark records as checked)
    exported = Signal(str)
    uploaded = Signal(str)
    report_ready = Signal()  # for tests and the window: the report is on screen
    finished_work = Signal(str)  # "report", "saved", "uploaded", "failed", "cancelled"

    def __init__(self, store: Store, parent: QWidget | None = None, *, start: bool = True) -> None:
        super().__init__(parent)
        self.store = store
        self.plan: ex.ExportPlan | None = None
        self.saved: ex.ExportResult | None = None
        self.setObjectName("export_dialog")
        self.setWindowTitle("Export for FLS-DB")
        self.resize(900, 560)
        # Hooks a test replaces; by default they ask the user.
        self.ask_save_path: Callable[[str], str | None] = self._ask_save_path
        self.confirm: Callable[[str, str], bool] = self._confirm
        self.inform: Callable[[str, str], None] = self._inform
        self.open_url: Callable[[QUrl], Any] = QDesktopServices.openUrl

        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.scope_box = QComboBox(objectName="export_scope")
        self.scope_box.setAccessibleName("Which records")
        for key, label in SCOPES:
            self.scope_box.addItem(label, key)
        self.month_edit = QDateEdit(objectName="export_month")
        self.month_edit.setAccessibleName("Month of diagnosis")
        self.month_edit.setDisplayFormat("MM/yyyy")
        today = store.today()
        self.month_edit.setDate(QDate(today.year, today.month, 1).addMonths(-1))
        self.month_edit.setEnabled(False)
        self.refresh_button = QPushButton("Refresh report", objectName="export_refresh")
        top.addWidget(QLabel("Records:"))
        top.addWidget(self.scope_box, 1)
        top.addWidget(self.month_edit)
        top.addWidget(self.refresh_button)
        layout.addLayout(top)

        self.summary = QLabel(objectName="export_summary")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)

        self.going_model = RowsModel(
            [
                ("Record", lambda r: r.record_id),
                ("NHS number", lambda r: nhs_for_people(r.nhs_number)),
                ("Name", lambda r: r.name),
                ("Diagnosed", lambda r: _day(r.diagnosed)),
                ("Status", lambda r: r.status),
            ]
        )
        self.held_model = RowsModel(
            [
                ("Record", lambda r: r.record_id),
                ("NHS number", lambda r: nhs_for_people(r.nhs_number)),
                ("Name", lambda r: r.name),
                ("Diagnosed", lambda r: _day(r.diagnosed)),
                ("Why held back", lambda r: r.reason),
            ]
        )
        self.warnings_model = RowsModel(
            [
                ("Record", lambda r: r.record_id),
                ("NHS number", lambda r: nhs_for_people(r.nhs_number)),
                ("Name", lambda r: r.name),
                ("Warning", lambda r: r.reason),
            ]
        )
        self.deleted_model = RowsModel(
            [
                ("Record", lambda d: d.record_id),
                (
                    "NHS number",
                    lambda d: nhs_for_people(d.nhs_number) if d.nhs_number else "(purged)",
                ),
                ("Diagnosed", lambda d: _day(d.diagnosed)),
                ("Deleted here", lambda d: local_time(d.deleted_at)),
                ("Reason", lambda d: d.reason),
                ("Last sent", lambda d: local_time(d.last_sent)),
            ]
        )
        self.tabs = QTabWidget(objectName="export_tabs")
        self.going_view = read_only_table("export_going", self.going_model)
        self.held_view = read_only_table("export_held", self.held_model)
        self.warnings_view = read_only_table("export_warnings", self.warnings_model)
        self.deleted_view = read_only_table("export_deleted", self.deleted_model)
        held_page = QWidget()
        held_layout = QVBoxLayout(held_page)
        held_layout.addWidget(
            QLabel("These records are not in the file. Double-click one (or Open) to fix it.")
        )
        held_layout.addWidget(self.held_view)
        held_buttons = QHBoxLayout()
        self.optout_button = QPushButton(
            "Mark these as checked against the list…", objectName="export_optout"
        )
        self.optout_button.setToolTip(
            "Save the list of NHS numbers not yet checked for your information-governance team "
            "and read their answer back: every record on it is marked at once."
        )
        self.optout_button.hide()
        self.open_button = QPushButton("Open record", objectName="export_open_record")
        held_buttons.addWidget(self.optout_button)
        held_buttons.addStretch(1)
        held_buttons.addWidget(self.open_button)
        held_layout.addLayout(held_buttons)
        deleted_page = QWidget()
        deleted_layout = QVBoxLayout(deleted_page)
        deleted_layout.addWidget(
            QLabel(
                "Deleted here after they were sent: delete these in the FLS-DB webtool too "
                "(they will not be listed again after this export is saved)."
            )
        )
        deleted_layout.addWidget(self.deleted_view)
        self.tabs.addTab(self.going_view, "Going")
        self.tabs.addTab(held_page, "Held back")
        self.tabs.addTab(self.warnings_view, "Warnings")
        self.tabs.addTab(deleted_page, "Deleted since sent")
        layout.addWidget(self.tabs, 1)

        self.work = WorkPanel(self)
        layout.addWidget(self.work)

        self.after = QLabel(objectName="export_after")
        self.after.setWordWrap(True)
        layout.addWidget(self.after)
        buttons = QHBoxLayout()
        self.save_button = QPushButton("Save…", objectName="export_save")
        self.save_button.setDefault(True)
        self.upload_button = QPushButton("Upload", objectName="export_upload")
        self.webtool_button = QPushButton(
            "Open the FLS-DB import page", objectName="export_open_webtool"
        )
        self.folder_button = QPushButton("Show the file in its folder", objectName="export_folder")
        self.close_button = QPushButton("Close", objectName="export_close")
        for b in (self.save_button, self.upload_button, self.webtool_button, self.folder_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        layout.addLayout(buttons)
        for b in (self.save_button, self.upload_button, self.webtool_button, self.folder_button):
            b.setEnabled(False)
        self._has_upload_address()  # the disabled Upload button says where to set the address

        self.scope_box.currentIndexChanged.connect(self._scope_changed)
        self.month_edit.dateChanged.connect(lambda _d: self.prepare())
        self.refresh_button.clicked.connect(self.prepare)
        self.held_view.doubleClicked.connect(lambda index: self._open_held(index.row()))
        self.open_button.clicked.connect(self._open_selected_held)
        self.optout_button.clicked.connect(self.optout_requested.emit)
        self.save_button.clicked.connect(self.save)
        self.upload_button.clicked.connect(self.upload)
        self.webtool_button.clicked.connect(self.open_webtool)
        self.folder_button.clicked.connect(self.show_folder)
        self.close_button.clicked.connect(self.reject)
        if start:
            self.prepare()

    # -- the report ---------------------------------------------------------------------------

    def scope(self) -> ex.Scope:
        key = self.scope_box.currentData()
        if key == "month":
            d = self.month_edit.date()
            return ex.Scope.of_month(d.year(), d.month())
        return ex.Scope.all() if key == "all" else ex.Scope.since_last()

    def set_scope(self, key: str) -> None:
        self.scope_box.setCurrentIndex(self.scope_box.findData(key))

    def _scope_changed(self, _index: int) -> None:
        self.month_edit.setEnabled(self.scope_box.currentData() == "month")
        self.prepare()

    def prepare(self) -> None:
        if self.work.busy:
            return
        scope = self.scope()
        self.plan = None
        self.saved = None
        self._set_busy(True)
        self.summary.setText(f"Preparing the report ({scope.describe()})…")
        store = self.store
        self.work.run(
            "Reading the records…",
            lambda progress, cancel: ex.prepare(store, scope, progress=progress, cancel=cancel),
            self._report_ready,
            self._failed,
            self._cancelled,
        )

    def _report_ready(self, plan: ex.ExportPlan) -> None:
        self.plan = plan
        self.going_model.set_items(plan.going)
        self.held_model.set_items(plan.held_back)
        self.warnings_model.set_items(plan.warnings)
        self.deleted_model.set_items(plan.deleted_since_sent)
        self.tabs.setTabText(0, f"Going ({len(plan.going)})")
        self.tabs.setTabText(1, f"Held back ({len(plan.held_back)})")
        self.tabs.setTabText(2, f"Warnings ({len(plan.warnings)})")
        self.tabs.setTabText(3, f"Deleted since sent ({len(plan.deleted_since_sent)})")
        # Clinicians' words: the file format and its provisional status belong in About.
        text = plan.summary_line()
        unchecked = sum(1 for r in plan.held_back if r.reason == ex.HELD_OPTOUT_NOT_CHECKED)
        unchecked += sum(1 for r in plan.warnings if r.reason == ex.WARN_OPTOUT_NOT_CHECKED)
        self.optout_button.setVisible(unchecked > 0)
        if unchecked:
            text += (
                f" {unchecked} record(s) not yet checked against the National Data Opt-out "
                "list: see Held back or Warnings."
            )
        if plan.is_empty:
            text += " Nothing to save."
        self.summary.setText(text)
        self.after.setText("")
        self._set_busy(False)
        self.report_ready.emit()
        self.finished_work.emit("report")

    def _open_selected_held(self) -> None:
        rows = self.held_view.selectionModel().selectedRows()
        if rows:
            self._open_held(rows[0].row())

    def _open_held(self, row: int) -> None:
        item = self.held_model.item(row)
        if item is not None:
            self.open_record_requested.emit(item.record_id)

    # -- saving -------------------------------------------------------------------------------

    def save(self) -> None:
        plan = self.plan
        if plan is None or plan.is_empty or self.work.busy:
            return
        name = self.ask_save_path(
            str(self.suggested_path(ex.default_file_name(self.store, plan.scope)))
        )
        if not name:
            return
        path = Path(name)
        store = self.store
        self._set_busy(True)
        self.work.run(
            "Writing the file…",
            lambda progress, cancel: ex.write(store, plan, path, cancel=cancel),
            self._saved,
            self._failed,
            self._cancelled,
        )

    def _saved(self, result: ex.ExportResult) -> None:
        self.saved = result
        self._set_busy(False)
        self.save_button.setEnabled(False)  # saved: a new report is needed for another file
        has_url = self._has_upload_address()
        self.after.setText(
            f"Saved {result.records} record(s) to {result.path}. Saved is not sent: "
            + (
                "upload it now, or upload it on the FLS-DB import page and then mark it as "
                "uploaded in the Outbox."
                if has_url
                else "upload it on the FLS-DB webtool's Import Data page, then mark it as "
                "uploaded in the Outbox (until then its records go again with the next export)."
            )
        )
        for b in (self.webtool_button, self.folder_button):
            b.setEnabled(True)
        self.upload_button.setEnabled(has_url)
        if result.batch_id:
            self.exported.emit(result.batch_id)
        self.finished_work.emit("saved")

    # -- after saving -------------------------------------------------------------------------

    def upload(self) -> None:
        if self.saved is None or self.saved.path is None or self.work.busy:
            return
        if not str(self.store.get_setting(up.URL_SETTING) or "").strip():
            self.inform("Upload", up.HOW_TO_SET_ADDRESS)
            return
        path = self.saved.path
        store = self.store
        self._set_busy(True)

        self.work.run(
            "Uploading…", upload_job(store, path), self._uploaded, self._failed, self._cancelled
        )

    def _uploaded(self, result: up.UploadResult) -> None:
        self._set_busy(False)
        self.uploaded.emit(result.batch_id)
        if not result.sent:
            self.after.setText(result.message + "\nYou can retry from the Outbox.")
            self.upload_button.setEnabled(True)
            self.finished_work.emit("failed")
            return
        self.after.setText(result.message)
        self.upload_button.setEnabled(False)
        path = self.saved.path if self.saved else None
        if (
            path is not None
            and path.exists()
            and self.confirm(
                "Delete the local file?",
                f"The file was sent. Delete {path.name} from this computer? It holds patient "
                "data; the outbox keeps the record of what was sent.",
            )
        ):
            try:
                path.unlink()
                self.after.setText(result.message + "\nThe local file was deleted.")
                self.folder_button.setEnabled(False)
            except OSError as exc:
                self.inform("Delete the local file", f"It could not be deleted: {exc.strerror}.")
        self.finished_work.emit("uploaded")

    def open_webtool(self) -> None:
        default = settings_schema.BY_KEY["webtool_url"].default
        address = str(self.store.get_setting("webtool_url", default) or "").strip()
        if not address:
            self.inform("FLS-DB import page", "Set the webtool's address in Settings first.")
            return
        self.open_url(QUrl(address))

    def show_folder(self) -> None:
        if self.saved is not None and self.saved.path is not None:
            self.open_url(QUrl.fromLocalFile(str(self.saved.path.parent)))

    # -- shared -------------------------------------------------------------------------------

    def _failed(self, message: str) -> None:
        self._set_busy(False)
        self.after.setText(message)
        if self.plan is None:
            self.summary.setText("The report could not be prepared.")
        self.inform("Export for FLS-DB", message)
        self.finished_work.emit("failed")

    def _cancelled(self) -> None:
        self._set_busy(False)
        self.after.setText("Cancelled; nothing was written.")
        self.finished_work.emit("cancelled")

    def _has_upload_address(self) -> bool:
        has_url = bool(str(self.store.get_setting(up.URL_SETTING) or "").strip())
        self.upload_button.setToolTip(
            ""
            if has_url
            else "No upload address is set: set one in Settings (Upload address) to upload from "
            "flsdesk, or upload the file on the webtool's Import Data page."
        )
        return has_url

    def _set_busy(self, busy: bool) -> None:
        for w in (self.scope_box, self.refresh_button):
            w.setEnabled(not busy)
        self.month_edit.setEnabled(not busy and self.scope_box.currentData() == "month")
        can_save = not busy and self.plan is not None and not self.plan.is_empty and not self.saved
        self.save_button.setEnabled(can_save)
        if busy:
            for b in (self.upload_button, self.webtool_button, self.folder_button):
                b.setEnabled(False)
        elif self.saved is not None:
            self.webtool_button.setEnabled(True)
            self.folder_button.setEnabled(self.saved.path is not None)

    def suggested_path(self, name: str) -> Path:
        """The file name in the folder of the last export (where the user keeps them)."""
        return ex.last_export_folder(self.store) / name

    def _ask_save_path(self, suggested: str) -> str | None:
        name = ask_save_path(
            self,
            "Save the FLS-DB import file",
            suggested,  # already in the last export's folder
            "CSV files (*.csv)",
            self.store.paths,
        )
        return str(name) if name else None

    def _confirm(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes

    def _inform(self, title: str, text: str) -> None:
        QMessageBox.information(self, title, text)

    def done(self, result: int) -> None:  # closing mid-work: stop the worker first
        self.work.wait()
        super().done(result)
