"""The outbox: every export batch with its state — exported, uploading, sent (with the server's
receipt), failed (with the server's reason) — and Upload / Retry. Nothing is ever sent unless the
user presses the button."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMessageBox, QPushButton, QVBoxLayout, QWidget

from flsdesk.store.store import Store
from flsdesk.sync import batches
from flsdesk.sync import upload as up
from ui.common import read_only_table
from ui.export_dialog import WorkPanel, local_time, upload_job
from ui.rows_model import RowsModel

STATE_TEXT = {
    batches.EXPORTED: "Exported (not sent)",
    batches.UPLOADING: "Uploading (interrupted?)",
    batches.SENT: "Sent",
    batches.FAILED: "Failed",
}


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

    def __init__(self, store: Store, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.setObjectName("outbox_page")
        self.inform: Callable[[str, str], None] = lambda title, text: QMessageBox.information(
            self, title, text
        )
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Every export saved from flsdesk. A batch counts as sent only when the server "
            "accepted it; nothing is sent unless you press Upload."
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
                ("Since", lambda b: local_time(b.state_at)),
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
        self.refresh_button = QPushButton("Refresh", objectName="outbox_refresh")
        buttons.addWidget(self.upload_button)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)
        layout.addLayout(buttons)
        self.upload_button.clicked.connect(self.upload_selected)
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
