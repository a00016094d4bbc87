"""The one way the window runs a long task: off the GUI thread, with progress and Cancel.

After Anki's ``CollectionOp``/``QueryOp``: a job is a plain function
``job(progress, cancelled) -> result`` that never touches a widget. ``BackgroundOp`` runs it in
its own thread and hands exactly one outcome back **on the GUI thread**: the result, a
``OpFailed`` (the one error type the window sees, carrying a sentence for the user), or a
cancellation. Every dialog uses this instead of writing its own worker, so the rules below
(what counts as a user-facing error, that the log gets no patient data, that no thread outlives
its Python object) are kept in one place.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from flsdesk.exchange import export as ex
from flsdesk.exchange import importer
from flsdesk.exchange import upload as up
from flsdesk.exchange.batches import BatchStateError
from flsdesk.exchange.bulk_write import WriteCancelled
from flsdesk.exchange.optout import OptoutError
from flsdesk.store.errors import StoreError

log = logging.getLogger("ui.background")

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]
Job = Callable[[ProgressFn, CancelFn], Any]

# Errors whose message is written for the person at the screen. Anything else is a bug: the user
# gets a plain sentence and the log gets the type and the code lines, never the message (which may
# quote a cell of a patient's record).
USER_ERRORS: tuple[type[BaseException], ...] = (
    ex.ExportError,
    up.UploadError,
    importer.ImportFailed,
    OptoutError,
    BatchStateError,
    StoreError,
    ValueError,
    OSError,
)
# Checked before USER_ERRORS: several cancellations subclass their area's error.
CANCELLED: tuple[type[BaseException], ...] = (
    ex.ExportCancelled,
    up.UploadCancelled,
    importer.ImportCancelled,
    WriteCancelled,
)


class OpFailed(Exception):
    """The one error a background operation hands back: ``message`` is fit to show."""

    def __init__(self, message: str, *, unexpected: bool = False, cause: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.unexpected = unexpected
        self.cause = cause  # the original exception's type name, for tests and the log


def unexpected_sentence(exc_type: str) -> str:
    return f"Something went wrong ({exc_type}); see the log."


class _Runner(QObject):
    """Lives in the worker thread; talks to the GUI side by queued signals only."""

    progress = Signal(int, int)
    outcome = Signal(str, object)  # "succeeded" | "failed" | "cancelled", payload

    def __init__(self, op: BackgroundOp, job: Job) -> None:
        super().__init__()
        self._job = job
        self._cancel = op._cancel
        self._expected = op._expected
        self._cancel_types = op._cancel_types
        self._unexpected_message = op._unexpected_message
        self._name = op.name

    @Slot()
    def run(self) -> None:
        try:
            result = self._job(self.progress.emit, self._cancel.is_set)
        except self._cancel_types as exc:
            self.outcome.emit("cancelled", str(exc) or "Cancelled.")
        except self._expected as exc:
            self.outcome.emit("failed", OpFailed(str(exc), cause=type(exc).__name__))
        except Exception as exc:  # the window must survive whatever the job does
            name = type(exc).__name__
            # File, line and function only: the source line could quote what the code held.
            where = "\n".join(
                f"  {frame.filename}:{frame.lineno} in {frame.name}"
                for frame in traceback.extract_tb(exc.__traceback__)
            )
            log.error("%s failed: %s\n%s", self._name, name, where)
            message = self._unexpected_message or unexpected_sentence(name)
            self.outcome.emit("failed", OpFailed(message, unexpected=True, cause=name))
        else:
            self.outcome.emit("succeeded", result)


# Held until its thread has ended: a QThread destroyed while running aborts the process.
_RUNNING: set[BackgroundOp] = set()


class BackgroundOp(QObject):
    """Run ``job`` off the GUI thread; every signal below is emitted on the GUI thread.

    ``finished`` follows whichever of ``succeeded``/``failed``/``cancelled`` came. Callbacks
    given to the constructor are connected to those signals (so they run on the GUI thread too).
    """

    progress = Signal(int, int)
    succeeded = Signal(object)
    failed = Signal(object)  # OpFailed
    cancelled = Signal(str)
    finished = Signal()

    def __init__(
        self,
        job: Job,
        *,
        name: str = "background work",
        on_success: Callable[[Any], None] | None = None,
        on_failure: Callable[[OpFailed], None] | None = None,
        on_cancelled: Callable[[str], None] | None = None,
        on_progress: ProgressFn | None = None,
        expected: tuple[type[BaseException], ...] = USER_ERRORS,
        cancel_types: tuple[type[BaseException], ...] = CANCELLED,
        unexpected_message: str | None = None,
    ) -> None:
        # No Qt parent on purpose: the op must outlive a dialog closed mid-work until its thread
        # ends (``_RUNNING`` holds it); it reaches widgets only through their own slots, which Qt
        # disconnects when they are deleted.
        super().__init__()
        self.name = name
        self._cancel = threading.Event()
        self._expected = expected
        self._cancel_types = cancel_types
        self._unexpected_message = unexpected_message
        self.done = False
        self.result: Any = None
        self.error: OpFailed | None = None
        self._thread = QThread()
        self._thread.setObjectName(name)
        self.worker = _Runner(self, job)
        self.worker.moveToThread(self._thread)
        self._thread.started.connect(self.worker.run)
        # Both receivers live in the GUI thread, so Qt queues these calls there.
        self.worker.progress.connect(self._on_progress)
        self.worker.outcome.connect(self._on_outcome)
        # Direct: quit() is thread-safe, and a queued quit would wait for the GUI loop, so a
        # wait() on the GUI thread right after the outcome would never return.
        self.worker.outcome.connect(self._thread.quit, Qt.ConnectionType.DirectConnection)
        self._thread.finished.connect(self._release)
        for signal, callback in (
            (self.succeeded, on_success),
            (self.failed, on_failure),
            (self.cancelled, on_cancelled),
            (self.progress, on_progress),
        ):
            if callback is not None:
                signal.connect(callback)

    def start(self) -> BackgroundOp:
        _RUNNING.add(self)
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the job to stop; it notices at its next ``cancelled()`` check."""
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def running(self) -> bool:
        return not self.done

    def wait(self, ms: int | None = None) -> bool:
        """Block until the thread ends (a window closing mid-work). True when it has ended."""
        with contextlib.suppress(RuntimeError):  # the thread object is already gone
            if ms is None:
                return bool(self._thread.wait())
            return bool(self._thread.wait(ms))
        return True

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        self.progress.emit(done, total)

    @Slot(str, object)
    def _on_outcome(self, kind: str, payload: Any) -> None:
        self.done = True
        if kind == "succeeded":
            self.result = payload
            self.succeeded.emit(payload)
        elif kind == "failed":
            self.error = payload
            self.failed.emit(payload)
        else:
            self.cancelled.emit(payload)
        self.finished.emit()

    @Slot()
    def _release(self) -> None:
        _RUNNING.discard(self)


def running_ops() -> int:
    """How many operations still hold a thread (tests check none is left behind)."""
    return len(_RUNNING)


class WorkPanel(QWidget):
    """A progress bar, a line of text and Cancel, shown while a background operation runs."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel(objectName="work_label")
        self.bar = QProgressBar(objectName="work_progress")
        self.bar.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel", objectName="work_cancel")
        row.addWidget(self.label, 1)
        row.addWidget(self.bar, 2)
        row.addWidget(self.cancel_button)
        self.op: BackgroundOp | None = None
        self._callbacks: tuple[Any, Any, Any] = (None, None, None)
        self.cancel_button.clicked.connect(self.cancel)
        self.hide()

    def run(
        self,
        text: str,
        job: Job,
        on_done: Callable[[Any], None],
        on_failed: Callable[[str], None],
        on_cancelled: Callable[[], None] | None = None,
    ) -> BackgroundOp:
        op = BackgroundOp(job, name=text)
        self.op = op
        self._callbacks = (on_done, on_failed, on_cancelled)
        self.label.setText(text)
        self.bar.setRange(0, 0)  # busy until the first progress report
        self.cancel_button.setEnabled(True)
        self.show()
        # Bound methods of this widget: if it is deleted mid-work, Qt drops the calls.
        op.progress.connect(self._progress)
        op.succeeded.connect(self._finished)
        op.failed.connect(self._failed)
        op.cancelled.connect(self._cancelled)
        return op.start()

    @Slot(object)
    def _finished(self, result: Any) -> None:
        on_done = self._callbacks[0]
        self._done()
        on_done(result)

    @Slot(object)
    def _failed(self, error: OpFailed) -> None:
        on_failed = self._callbacks[1]
        self._done()
        on_failed(error.message)

    @Slot(str)
    def _cancelled(self, _message: str) -> None:
        on_cancelled = self._callbacks[2]
        self._done()
        if on_cancelled is not None:
            on_cancelled()

    @property
    def busy(self) -> bool:
        return self.op is not None

    def cancel(self) -> None:
        if self.op is not None:
            self.op.cancel()
            self.cancel_button.setEnabled(False)
            self.label.setText("Cancelling…")

    @Slot(int, int)
    def _progress(self, done: int, total: int) -> None:
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(done)

    def _done(self) -> None:
        self.op = None
        self.hide()

    def wait(self, ms: int = 30_000) -> None:
        """Cancel and block until the thread ends (closing a window mid-work)."""
        op = self.op
        if op is not None:
            op.cancel()
            op.wait(ms)
