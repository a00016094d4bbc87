"""At start-up, when the dataset definition changed: re-derive the records with a progress dialog
while the work runs in a worker thread (50,000 records take a while; the window never freezes),
then say once what changed."""

from __future__ import annotations

import logging
import threading
from typing import Any

from PySide6.QtCore import QEventLoop, QObject, Qt, QThread, Signal, Slot
from PySide6.QtWidgets import QMainWindow, QMessageBox, QProgressDialog, QWidget

from flsdesk.store.rederive import Rederived
from flsdesk.store.store import Store

log = logging.getLogger("ui.rederive")


class _Worker(QObject):
    progress = Signal(int, int)
    finished = Signal(object)  # the Rederived, or None
    failed = Signal(object)  # the exception, raised again on the GUI thread

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store
        self.thread_ident: int | None = None

    @Slot()
    def run(self) -> None:
        self.thread_ident = threading.get_ident()
        try:
            result = self.store.rederive(self.progress.emit)
        except BaseException as exc:  # handed to the GUI thread and raised there
            self.failed.emit(exc)
        else:
            self.finished.emit(result)


class RederiveAtStart(QObject):
    """``run()`` re-derives (if due) behind a modal progress dialog and returns the result."""

    progressed = Signal(int, int)  # after the dialog shows (done, total)

    def __init__(self, store: Store, parent: QWidget | None = None) -> None:
        super().__init__()
        self.store = store
        self.dialog = QProgressDialog(
            "The dataset definition changed: updating every record's status…", "", 0, 0, parent
        )
        self.dialog.setObjectName("rederive_progress")
        self.dialog.setWindowTitle("flsdesk")
        self.dialog.setCancelButton(None)  # all or nothing: stopping half-way would undo it all
        self.dialog.setWindowModality(Qt.WindowModality.ApplicationModal)
        self.dialog.setMinimumDuration(0)
        self.dialog.setAutoClose(False)
        self.dialog.setAutoReset(False)
        self.dialog.hide()
        self.worker_thread: int | None = None  # the thread the work ran on (not the GUI's)
        self._outcome: tuple[str, Any] | None = None
        self._loop: QEventLoop | None = None

    def run(self) -> Rederived | None:
        if not self.store.rederive_due():
            return None
        worker = _Worker(self.store)
        thread = QThread()
        thread.setObjectName("rederive")
        worker.moveToThread(thread)
        self._loop = QEventLoop()
        thread.started.connect(worker.run)
        # Slots of this object, which lives on the GUI thread: queued from the worker.
        worker.progress.connect(self._progress)
        worker.finished.connect(self._finished)
        worker.failed.connect(self._failed)
        self.dialog.show()
        thread.start()
        if self._outcome is None:
            self._loop.exec()
        thread.quit()
        thread.wait()
        self.worker_thread = worker.thread_ident
        self.dialog.close()
        assert self._outcome is not None
        kind, value = self._outcome
        if kind == "error":
            raise value
        return value  # type: ignore[no-any-return]

    @Slot(int, int)
    def _progress(self, done: int, total: int) -> None:
        self.dialog.setMaximum(max(total, 1))
        self.dialog.setValue(done)
        self.progressed.emit(done, total)

    @Slot(object)
    def _finished(self, result: Any) -> None:
        self._end("ok", result)

    @Slot(object)
    def _failed(self, exc: Any) -> None:
        self._end("error", exc)

    def _end(self, kind: str, value: Any) -> None:
        self._outcome = (kind, value)
        if self._loop is not None:
            self._loop.quit()


def announce(window: QMainWindow, result: Rederived | None) -> QMessageBox | None:
    """Tell the person once (the new fingerprint is stored: the next start says nothing)."""
    notice = result.notice() if result is not None else None
    if notice is None:
        return None
    log.info("told the user: records re-derived")
    window.statusBar().showMessage(notice)
    box = QMessageBox(QMessageBox.Icon.Information, "flsdesk", notice, parent=window)
    box.setObjectName("rederive_notice")
    box.setInformativeText(
        "The statuses, missing answers, duplicate checks and follow-ups of every record now "
        "follow the definition files in use ('flsdesk definitions' lists them)."
    )
    box.open()  # not exec(): the window is usable behind it
    return box
