"""Issue 11.1 in the window: a Save… dialog refuses a place on the store's own files or folders
with a message saying why, and lets the user pick again. Driven as a person would: the path is
chosen in the Save dialog, the warning is read and clicked away with the mouse."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtPrintSupport import QPrinter
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QMessageBox,
    QWidget,
)

from flsdesk import session
from flsdesk.paths import AppPaths, resolve
from flsdesk_ui.followups_view import FollowupsPage

PASSPHRASE = "correct horse battery staple"
TODAY = date(2025, 6, 2)


class Steps:
    """Runs one action per modal window, in order, as each opens. A failure inside rejects the
    window (so no event loop runs for ever) and is raised again by ``check()``."""

    def __init__(self, *actions: Callable[[QWidget], None]) -> None:
        self.actions = list(actions)
        self.errors: list[BaseException] = []
        self.last: QWidget | None = None
        QTimer.singleShot(0, self._run)

    def _run(self) -> None:
        if not self.actions:
            return
        window = QApplication.activeModalWidget()
        if window is None or window is self.last or not window.isVisible():
            QTimer.singleShot(10, self._run)
            return
        self.last = window
        action = self.actions.pop(0)
        try:
            action(window)
        except BaseException as exc:
            self.errors.append(exc)
            window.close()
        QTimer.singleShot(10, self._run)

    def check(self) -> None:
        if self.errors:
            raise self.errors[0]
        assert not self.actions, f"{len(self.actions)} step(s) never ran"


@pytest.fixture
def paths() -> AppPaths:
    return resolve(None)


@pytest.fixture
def page(qtbot, paths: AppPaths):
    created = session.create(paths, PASSPHRASE, "AB", "Northtown FLS", "RXX01")
    created.store.new_record(
        {
            "1.01": "9434765919",
            "1.02": "1944-05-06",
            "1.03": "Female",
            "1.09": (TODAY - timedelta(days=90)).isoformat(),
            "1.11": "Hip",
            "4.01": ["Alendronate"],
            "name": "Margaret Ashworth",
        }
    )
    p = FollowupsPage(created.store, today=lambda: TODAY)
    qtbot.addWidget(p)
    p.show()
    qtbot.waitExposed(p)
    yield p
    created.store.close()


class Chooser:
    """Stands in for the operating system's Save dialog (as the other UI tests do): hands out
    the places the user picks, in order, and counts how often it was asked."""

    def __init__(self, *picks: Path | None) -> None:
        self.picks = list(picks)
        self.asked = 0

    def __call__(self, *args: object, **kwargs: object) -> tuple[str, str]:
        self.asked += 1
        pick = self.picks.pop(0)
        return ("" if pick is None else str(pick)), ""


def _click(qtbot, button: QMessageBox.StandardButton, seen: list[str]) -> Callable[[QWidget], None]:
    def act(window: QWidget) -> None:
        assert isinstance(window, QMessageBox), type(window)
        seen.append(window.text())
        qtbot.mouseClick(window.button(button), Qt.MouseButton.LeftButton)

    return act


def test_saving_the_call_sheet_onto_the_key_file_is_refused_then_saved_elsewhere(
    qtbot, page: FollowupsPage, paths: AppPaths, tmp_path: Path, monkeypatch
) -> None:
    key_before = hashlib.sha256(paths.key_file.read_bytes()).hexdigest()
    good = tmp_path / "calls.csv"
    seen: list[str] = []
    chooser = Chooser(paths.key_file, good)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(chooser))
    steps = Steps(_click(qtbot, QMessageBox.StandardButton.Ok, seen))
    qtbot.mouseClick(page.csv_button, Qt.MouseButton.LeftButton)
    steps.check()
    assert chooser.asked == 2  # refused, then asked again
    assert good.is_file() and "Margaret Ashworth" in good.read_text(encoding="utf-8-sig")
    assert "flsdesk.key" in seen[-1] and "destroy the store" in seen[-1]
    assert hashlib.sha256(paths.key_file.read_bytes()).hexdigest() == key_before


def test_a_pdf_into_the_data_folder_is_refused_and_cancel_writes_nothing(
    qtbot, page: FollowupsPage, paths: AppPaths, monkeypatch
) -> None:
    before = sorted(p.name for p in paths.data_dir.iterdir())
    seen: list[str] = []
    # The user picks the data folder, reads why not, then gives up (cancels the Save dialog).
    chooser = Chooser(paths.data_dir / "calls.pdf", None)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(chooser))
    steps = Steps(_click(qtbot, QMessageBox.StandardButton.Ok, seen))
    qtbot.mouseClick(page.pdf_button, Qt.MouseButton.LeftButton)
    steps.check()
    assert chooser.asked == 2
    assert "data folder" in seen[0]
    assert sorted(p.name for p in paths.data_dir.iterdir()) == before


def test_print_to_file_onto_the_database_is_refused(
    qtbot, page: FollowupsPage, paths: AppPaths, monkeypatch
) -> None:
    db_before = hashlib.sha256(paths.database.read_bytes()).hexdigest()

    def print_to_file(printer: QPrinter) -> bool:
        # Stands in for the print dialog: the person ticks "Print to file" and names the file.
        printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
        printer.setOutputFileName(str(paths.database))
        return True

    monkeypatch.setattr(page, "_ask_printer", print_to_file)
    seen: list[str] = []
    steps = Steps(_click(qtbot, QMessageBox.StandardButton.Ok, seen))
    qtbot.mouseClick(page.print_button, Qt.MouseButton.LeftButton)
    steps.check()
    assert "flsdesk.db" in seen[0] and "destroy the store" in seen[0]
    assert hashlib.sha256(paths.database.read_bytes()).hexdigest() == db_before
