"""The National Data Opt-out tools: save the list of NHS numbers not yet checked for the
information-governance team, read their answer back (marking every record at once), and show
the records already sent for patients who have since opted out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from flsdesk.answers import date_for_people, nhs_for_people
from flsdesk.exchange import optout
from flsdesk.store.store import Store
from flsdesk_ui.background import WorkPanel
from flsdesk_ui.common import ask_save_path, read_only_table
from flsdesk_ui.export_dialog import local_time
from flsdesk_ui.rows_model import RowsModel


class OptoutDialog(QDialog):
    """``OptoutDialog(store, parent)``; ``open_record_requested(record_id)`` opens a record of
    the report; ``records_changed()`` after the result marked records (refresh the list)."""

    open_record_requested = Signal(int)
    records_changed = Signal()
    finished_work = Signal(str)

    def __init__(self, store: Store, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.setObjectName("optout_dialog")
        self.setWindowTitle("National Data Opt-out")
        self.resize(760, 520)
        # Hooks a test replaces; by default they ask the user.
        self.ask_save_path: Callable[[str], str | None] = self._ask_save_path
        self.ask_open_path: Callable[[], str | None] = self._ask_open_path
        self.confirm: Callable[[str, str], bool] = self._confirm
        self.inform: Callable[[str, str], None] = lambda t, x: QMessageBox.information(self, t, x)

        layout = QVBoxLayout(self)
        intro = QLabel(
            "The FLS-DB has no exemption from the National Data Opt-out: check each patient's "
            "status before their details are sent (FAQ 5). 1. Save the list of NHS numbers not "
            "yet checked and give it to your information-governance team. 2. Read back their "
            "answer — the list of those who have opted out; every record on the list is marked "
            "at once, with today's date."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.pending = QLabel(objectName="optout_pending")
        layout.addWidget(self.pending)
        row = QHBoxLayout()
        self.save_button = QPushButton("Save the list…", objectName="optout_save")
        self.read_button = QPushButton("Read their answer…", objectName="optout_read")
        row.addWidget(self.save_button)
        row.addWidget(self.read_button)
        row.addStretch(1)
        layout.addLayout(row)
        self.result = QLabel(objectName="optout_result")
        self.result.setWordWrap(True)
        layout.addWidget(self.result)
        layout.addWidget(
            QLabel(
                "Already sent to the FLS-DB, since opted out — ask the FLS-DB to remove these "
                "(your information-governance lead can help, FAQ 6):"
            )
        )
        self.model = RowsModel(
            [
                ("Record", lambda r: r.record_id),
                ("NHS number", lambda r: nhs_for_people(r.nhs_number)),
                ("Name", lambda r: r.name),
                ("Diagnosed", lambda r: date_for_people(r.diagnosed)),
                ("Last sent", lambda r: local_time(r.last_sent)),
            ]
        )
        self.view = read_only_table("optout_sent_table", self.model)
        layout.addWidget(self.view, 1)
        self.work = WorkPanel(self)
        layout.addWidget(self.work)
        bottom = QHBoxLayout()
        self.open_button = QPushButton("Open record", objectName="optout_open_record")
        close = QPushButton("Close", objectName="optout_close")
        bottom.addWidget(self.open_button)
        bottom.addStretch(1)
        bottom.addWidget(close)
        layout.addLayout(bottom)

        self.save_button.clicked.connect(self.save_list)
        self.read_button.clicked.connect(self.read_answer)
        self.view.doubleClicked.connect(lambda index: self._open(index.row()))
        self.open_button.clicked.connect(self._open_selected)
        close.clicked.connect(self.reject)
        self.refresh()

    def refresh(self) -> None:
        numbers, covered = optout.unchecked_numbers(self.store)
        self.pending.setText(
            f"{len(numbers)} NHS number(s) not yet checked, on {covered} record(s)."
            if numbers
            else "Every record with an NHS number has been checked."
        )
        self.save_button.setEnabled(bool(numbers))
        self.model.set_items(optout.sent_then_opted_out(self.store))

    def save_list(self) -> None:
        name = self.ask_save_path(f"optout-check-{self.store.today():%Y-%m-%d}.csv")
        if not name:
            return
        try:
            saved = optout.write_unchecked_list(self.store, Path(name))
        except (optout.OptoutError, OSError) as exc:
            self.inform("Save the list", str(exc))
            return
        self.result.setText(
            f"Saved {saved.count} NHS number(s) to {saved.path}. Give the file to your "
            "information-governance team, then read their answer back here."
        )
        self.finished_work.emit("saved")

    def read_answer(self) -> None:
        name = self.ask_open_path()
        if not name:
            return
        try:
            opted, odd = optout.read_result(Path(name))
        except optout.OptoutError as exc:
            self.inform("Read their answer", str(exc))
            return
        question = f"The file lists {len(opted)} opted-out NHS number(s)."
        if odd:
            lines = ", ".join(str(n) for n in odd[:10]) + ("…" if len(odd) > 10 else "")
            question += f" Lines not understood (ignored): {lines}."
        question += (
            " Mark the records on the list saved earlier as checked today — opted out or not?"
        )
        if not self.confirm("Read their answer", question):
            return
        store = self.store
        self.read_button.setEnabled(False)
        self.work.run(
            "Marking records…",
            lambda progress, cancel: optout.apply_result(store, opted, progress=progress),
            self._applied,
            self._failed,
        )

    def _applied(self, applied: optout.OptoutApplied) -> None:
        self.read_button.setEnabled(True)
        text = (
            f"Marked {applied.opted_out} record(s) opted out and {applied.not_opted_out} "
            "checked, not opted out."
        )
        if applied.unknown_numbers:
            text += f" {applied.unknown_numbers} number(s) in the answer match no record here."
        if applied.sent_then_opted_out:
            text += (
                f" {len(applied.sent_then_opted_out)} were already sent to the FLS-DB: ask for "
                "their removal (listed below)."
            )
        self.result.setText(text)
        self.refresh()
        self.records_changed.emit()
        self.finished_work.emit("applied")

    def _failed(self, message: str) -> None:
        self.read_button.setEnabled(True)
        self.refresh()
        self.inform("Read their answer", message)
        self.finished_work.emit("failed")

    def _open_selected(self) -> None:
        rows = self.view.selectionModel().selectedRows()
        if rows:
            self._open(rows[0].row())

    def _open(self, row: int) -> None:
        item = self.model.item(row)
        if item is not None:
            self.open_record_requested.emit(item.record_id)

    def _ask_save_path(self, suggested: str) -> str | None:
        name = ask_save_path(
            self,
            "Save the list for information governance",
            str(Path.home() / suggested),
            "CSV files (*.csv)",
            self.store.paths,
        )
        return str(name) if name else None

    def _ask_open_path(self) -> str | None:
        name, _ = QFileDialog.getOpenFileName(
            self, "The opted-out NHS numbers", str(Path.home()), "CSV or text (*.csv *.txt)"
        )
        return name or None

    def _confirm(self, title: str, text: str) -> bool:
        return QMessageBox.question(self, title, text) == QMessageBox.StandardButton.Yes

    def done(self, result: int) -> None:
        self.work.wait()
        super().done(result)
