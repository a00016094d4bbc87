"""The one background-operation helper: progress, cancel, success and the one error type all
reach the GUI thread; the log never gets an exception's message."""

from __future__ import annotations

import logging
import threading

import pytest
from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication, QWidget

from flsdesk.exchange import export as ex
from flsdesk_ui.background import BackgroundOp, OpFailed, WorkPanel, running_ops


def gui_thread() -> QThread:
    return QApplication.instance().thread()


def test_the_job_runs_off_the_gui_thread_and_its_result_and_progress_arrive_on_it(qtbot) -> None:
    job_threads: list[object] = []
    seen: list[tuple[str, object, bool]] = []

    def job(progress, cancelled):
        job_threads.append(QThread.currentThread())
        for n in range(3):
            progress(n + 1, 3)
        return "the answer"

    op = BackgroundOp(
        job,
        on_progress=lambda d, t: seen.append(("progress", (d, t), _on_gui())),
        on_success=lambda r: seen.append(("success", r, _on_gui())),
    )
    with qtbot.waitSignal(op.finished, timeout=30_000):
        op.start()
    op.wait()
    assert job_threads and job_threads[0] is not gui_thread()
    assert seen == [
        ("progress", (1, 3), True),
        ("progress", (2, 3), True),
        ("progress", (3, 3), True),
        ("success", "the answer", True),
    ]
    assert op.done and op.result == "the answer" and op.error is None
    qtbot.waitUntil(lambda: running_ops() == 0, timeout=30_000)


def _on_gui() -> bool:
    return QThread.currentThread() is gui_thread()


def test_cancel_stops_a_job_that_checks_and_says_cancelled_not_failed(qtbot) -> None:
    started = threading.Event()
    outcomes: list[str] = []

    def job(progress, cancelled):
        started.set()
        while not cancelled():
            threading.Event().wait(0.01)
        raise ex.ExportCancelled("The export was cancelled; nothing was written.")

    op = BackgroundOp(
        job,
        on_success=lambda r: outcomes.append("success"),
        on_failure=lambda e: outcomes.append("failure"),
        on_cancelled=lambda m: outcomes.append(m),
    )
    op.start()
    assert started.wait(30)
    assert op.running
    with qtbot.waitSignal(op.finished, timeout=30_000):
        op.cancel()
    op.wait()
    assert outcomes == ["The export was cancelled; nothing was written."]
    assert op.is_cancelled() and not op.running


def test_an_expected_error_reaches_the_gui_thread_as_the_one_error_type_with_its_sentence(
    qtbot,
) -> None:
    errors: list[tuple[OpFailed, bool]] = []

    def job(progress, cancelled):
        raise ex.NothingToExport("Nothing has changed since the last export.")

    op = BackgroundOp(job, on_failure=lambda e: errors.append((e, _on_gui())))
    with qtbot.waitSignal(op.finished, timeout=30_000):
        op.start()
    op.wait()
    [(error, on_gui)] = errors
    assert on_gui and isinstance(error, OpFailed)
    assert error.message == "Nothing has changed since the last export."
    assert not error.unexpected and error.cause == "NothingToExport"


def test_an_unexpected_error_is_a_plain_sentence_and_the_log_has_its_type_but_not_its_text(
    qtbot, caplog: pytest.LogCaptureFixture
) -> None:
    def job(progress, cancelled):
        raise KeyError("SMITH 943 476 5919")  # what a bug might carry: a patient's details

    op = BackgroundOp(job, name="test op")
    with (
        caplog.at_level(logging.ERROR, logger="ui.background"),
        qtbot.waitSignal(op.failed, timeout=30_000) as failed,
    ):
        op.start()
    op.wait()
    error = failed.args[0]
    assert error.unexpected and error.cause == "KeyError"
    assert "KeyError" in error.message and "SMITH" not in error.message
    assert "KeyError" in caplog.text and "test op" in caplog.text
    assert "SMITH" not in caplog.text and "943" not in caplog.text


def test_the_work_panel_shows_progress_and_its_cancel_button_cancels(qtbot) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)
    panel = WorkPanel(parent)
    parent.show()
    reported = threading.Event()
    outcome: list[str] = []

    def job(progress, cancelled):
        progress(2, 5)
        reported.set()
        while not cancelled():
            threading.Event().wait(0.01)
        raise ex.ExportCancelled("cancelled")

    op = panel.run(
        "Working…",
        job,
        on_done=lambda r: outcome.append("done"),
        on_failed=lambda m: outcome.append("failed"),
        on_cancelled=lambda: outcome.append("cancelled"),
    )
    assert panel.busy and panel.isVisible() and panel.label.text() == "Working…"
    assert reported.wait(30)
    qtbot.waitUntil(lambda: panel.bar.value() == 2 and panel.bar.maximum() == 5, timeout=30_000)
    from PySide6.QtCore import Qt

    with qtbot.waitSignal(op.finished, timeout=30_000):
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    op.wait()
    assert outcome == ["cancelled"]
    assert not panel.busy and not panel.isVisible()
