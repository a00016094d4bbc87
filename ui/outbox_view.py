"""The outbox: every export batch with its state — saved (not yet sent), uploading, sent (with
the server's receipt, or marked uploaded in the webtool by hand), failed (with the server's
reason), discarded — and Upload / Retry, "Mark as uploaded in the webtool…" and "Discard (this
file was not sent)". Nothing is ever sent unless the user presses Upload."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from PySide6.QtCore import QDate, Signal
from PySide6.QtWidgets import (
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from flsdesk.exchange import batches
from flsdesk.exchange import upload as up
from flsdesk.store.store import Store
from flsdesk_ui.background import WorkPanel
from flsdesk_ui.common import read_only_table
from flsdesk_ui.export_dialog import local_time, upload_job
from flsdesk_ui.rows_model import RowsModel

STATE_TEXT = {
    batches.EXPORTED: "Saved, not marked as uploaded",
    batches.UPLOADING: "Uploading (interrupted?)",
    batches.SENT: "Sent",
    batches.FAILED: "Failed",
    batches.DISCARDED: "Discarded (not sent)",
}


class MarkUploadedDialog(QDialog):
    """Asks the day the file was uploaded in the webtool (today unless changed)."""

    def __init__(self, batch: batches.Batch, today: date, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mark_uploaded_dialog")
        self.setWindowTitle("Mark as uploaded in the webtool")
        layout = QVBoxLayout(self)
        text = QLabel(
            f"Batch {batch.seq} ({batch.record_count} record(s)) was uploaded on the FLS-DB "
            "webtool's Import Data page on:"
        )
        text.setWordWrap(True)
        layout.addWidget(text)
        self.date_edit = QDateEdit(objectName="mark_uploaded_date")
        self.date_edit.setAccessibleName("Day it was uploaded")
        self.date_edit.setDisplayFormat("dd/MM/yyyy")
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setMaximumDate(QDate(today.year, today.month, today.day))
        self.date_edit.setDate(QDate(today.year, today.month, today.day))
        layout.addWidget(self.date_edit)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.setObjectName("mark_uploaded_buttons")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def day(self) -> date:
        d = self.date_edit.date()
        return date(d.year(), d.month(), d.day())


def _since(batch: batches.Batch) -> str:
    # Marked by hand: the user gave a day, not a time.
    if batch.state == batches.SENT and (batch.receipt or "").startswith(batches.MARKED_BY_HAND):
        return local_time(batch.state_at)[:10]
    return local_time(batch.state_at)


def _scope_text(scope: str) -> str:
    if scope.startswith("month:"):
        return f"diagnosed {scope[6:]}"
    return {
        "since-last": "new or changed",
        "all": "all records",
        "external": "file from elsewhere",
    }.get(scope, scope)


class OutboxPage(QWidget):
    """``OutboxPage(store)``; call ``refresh()`` after an export or upload elsewhere.
    ``uploaded(batch_id)`` is emitted after every upload attempt run from here."""

    uploaded = Signal(str)
    changed = Signal(str)  # a batch marked uploaded by hand, or discarded

    def __init__(self, store: Store, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.setObjectName("outbox_page")
        self.inform: Callable[[str, str], None] = lambda title, text: QMessageBox.information(
            self, title, text
        )
        self.confirm: Callable[[str, str], bool] = lambda title, text: (
            QMessageBox.question(self, title, text) == QMessageBox.StandardButton.Yes
        )
        self.mark_dialog: MarkUploadedDialog | None = None
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Every export saved from flsdesk. A file counts as sent only once it is uploaded "
            "(Upload), or marked as uploaded in the webtool by hand; until then its records "
            "go again with the next export of new or changed records. Nothing is sent unless "
            "you press Upload."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.model = RowsModel(
            [
                ("Batch", lambda b: b.seq),
                ("Exported", lambda b: local_time(b.created_at)),
                ("By", lambda b: b.created_by),
                ("Records", lambda b: b.record_count),
                ("Which", lambda b: _scope_text(b.scope)),
                ("State", lambda b: STATE_TEXT.get(b.state, b.state)),
                ("Since", _since),
                (
                    "Receipt or reason",
                    lambda b: b.receipt if b.state == batches.SENT else b.failure,
                ),
                ("File", lambda b: str(b.file_path) + ("" if b.file_exists else " (gone)")),
            ]
        )
        self.view = read_only_table("outbox_table", self.model)
        layout.addWidget(self.view, 1)
        self.work = WorkPanel(self)
        layout.addWidget(self.work)
        buttons = QHBoxLayout()
        self.upload_button = QPushButton("Upload", objectName="outbox_upload")
        self.mark_button = QPushButton(
            "Mark as uploaded in the webtool…", objectName="outbox_mark_uploaded"
        )
        self.discard_button = QPushButton(
            "Discard (this file was not sent)", objectName="outbox_discard"
        )
        self.refresh_button = QPushButton("Refresh", objectName="outbox_refresh")
        buttons.addWidget(self.upload_button)
        buttons.addWidget(self.mark_button)
        buttons.addWidget(self.discard_button)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)
        layout.addLayout(buttons)
        self.upload_button.clicked.connect(self.upload_selected)
        self.mark_button.clicked.connect(self.mark_selected_uploaded)
        self.discard_button.clicked.connect(self.discard_selected)
        self.refresh_button.clicked.connect(self.refresh)
        self.view.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self.refresh()

    def refresh(self) -> None:
        selected = self.selected()
        self.model.set_items(batches.list_batches(self.store))
        if selected is not None:
            for row, item in enumerate(self.model.items):
                if item.batch_id == selected.batch_id:
                    self.view.selectRow(row)
        self._update_buttons()

    def selected(self) -> Any:
        rows = self.view.selectionModel().selectedRows() if self.view.selectionModel() else []
        return self.model.item(rows[0].row()) if rows else None

    def select_batch(self, batch_id: str) -> None:
        for row, item in enumerate(self.model.items):
            if item.batch_id == batch_id:
                self.view.selectRow(row)
                return

    def _update_buttons(self) -> None:
        batch = self.selected()
        ok = batch is not None and batch.can_upload and batch.file_exists and not self.work.busy
        self.upload_button.setEnabled(ok)
        self.upload_button.setText(
            "Retry" if batch is not None and batch.state != batches.EXPORTED else "Upload"
        )
        # An upload needs an address; without one the button says where to set it.
        has_url = bool(str(self.store.get_setting(up.URL_SETTING) or "").strip())
        if not has_url:
            self.upload_button.setEnabled(False)
        self.upload_button.setToolTip(
            ""
            if has_url
            else "Set an upload address in Settings (Upload address) to upload "
            "from flsdesk; otherwise upload the file in the webtool and mark it here."
        )
        idle = batch is not None and not self.work.busy
        self.mark_button.setEnabled(idle and batch.can_mark_uploaded)
        self.discard_button.setEnabled(idle and batch.can_discard)

    def mark_selected_uploaded(self) -> None:
        batch = self.selected()
        if batch is None or not batch.can_mark_uploaded:
            return
        dialog = MarkUploadedDialog(batch, self.store.today(), self)
        self.mark_dialog = dialog
        dialog.accepted.connect(lambda: self._mark(batch.batch_id, dialog.day()))
        dialog.finished.connect(lambda _r: setattr(self, "mark_dialog", None))
        dialog.open()

    def _mark(self, batch_id: str, day: date) -> None:
        try:
            batches.mark_uploaded(self.store, batch_id, day)
        except batches.BatchStateError as exc:
            self.inform("Mark as uploaded", str(exc))
        self.refresh()
        self.changed.emit(batch_id)

    def discard_selected(self) -> None:
        batch = self.selected()
        if batch is None or not batch.can_discard:
            return
        if not self.confirm(
            "Discard this file?",
            f"Batch {batch.seq} was not sent to the FLS-DB? Its {batch.record_count} record(s) "
            "will go again with the next export. The file stays where it is: delete it if you "
            "no longer need it (it holds patient data).",
        ):
            return
        try:
            batches.discard(self.store, batch.batch_id)
        except batches.BatchStateError as exc:
            self.inform("Discard", str(exc))
        self.refresh()
        self.changed.emit(batch.batch_id)

    def upload_selected(self) -> None:
        batch = self.selected()
        if batch is None or self.work.busy:
            return
        if not str(self.store.get_setting(up.URL_SETTING) or "").strip():
            self.inform("Upload", up.HOW_TO_SET_ADDRESS)
            return
        self.upload_button.setEnabled(False)
        self.work.run(
            f"Uploading batch {batch.seq}…",
            upload_job(self.store, batch.file_path),
            self._done,
            self._failed,
            self.refresh,
        )
        self.refresh()  # shows "uploading"

    def _done(self, result: up.UploadResult) -> None:
        self.refresh()
        self.uploaded.emit(result.batch_id)
        if not result.sent:
            self.inform("Upload", result.message)

    def _failed(self, message: str) -> None:
        self.refresh()
        self.inform("Upload", message)

    def closeEvent(self, event: Any) -> None:
        self.work.wait()
        super().closeEvent(event)
