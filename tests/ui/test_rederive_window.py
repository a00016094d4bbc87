"""The window's start-up path when the dataset definition changed: progress while the records
are derived again off the GUI thread, then the message once; the next start says nothing."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QProgressBar

from flsdesk.paths import AppPaths
from flsdesk.rules import DRAFT
from flsdesk.store import unlock as store_unlock
from flsdesk_ui import app as app_mod
from flsdesk_ui.main_window import MainWindow
from flsdesk_ui.rederive_progress import RederiveAtStart, announce
from tests.helpers.conftest_records import complete_answers, nhs_number
from tests.store.test_rederive import corrected_v3
from tests.ui.conftest import INITIALS, PASSPHRASE, StoreBox

RECORDS = 1200  # three chunks of the re-derivation: several progress steps


def _start(paths: AppPaths, monkeypatch: pytest.MonkeyPatch) -> app_mod.Started:
    """As the window starts: unlock (from the environment here) and open."""
    monkeypatch.setenv(store_unlock.PASSPHRASE_ENV, PASSPHRASE)
    started = app_mod.start_store(paths)
    assert started is not None
    return started


def test_the_window_shows_progress_then_says_it_once(
    qtbot, store_box: StoreBox, app_paths: AppPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = store_box.store
    assert store is not None
    ids = store.bulk_insert(
        [complete_answers(nhs_number(610000000 + 3 * i)) for i in range(RECORDS)]
    )
    store_box.close()
    corrected_v3(app_paths)  # 1.10 becomes required: every record becomes a draft

    started = _start(app_paths, monkeypatch)
    store = started.store
    try:
        # Opened for the window: not yet re-derived, so the window can show the progress.
        assert store.rederive_due()
        assert store.load(ids[0]).status != DRAFT

        runner = RederiveAtStart(store)
        qtbot.addWidget(runner.dialog)
        seen: list[tuple[int, int, bool, bool]] = []
        bar_values: list[int] = []
        runner.dialog.findChild(QProgressBar).valueChanged.connect(bar_values.append)
        runner.progressed.connect(
            lambda done, total: seen.append(
                (done, total, runner.dialog.isVisible(), runner.dialog.isModal())
            )
        )
        result = runner.run()

        assert result is not None and result.total == RECORDS
        assert result.changed_status == RECORDS
        assert seen[0][:2] == (0, RECORDS)
        # The total may grow once (a second pass for records whose duplicate checks would now
        # answer otherwise); the bar ends full either way.
        assert seen[-1][0] == seen[-1][1] == bar_values[-1] >= RECORDS
        assert [done for done, *_ in seen] == sorted(done for done, *_ in seen)
        assert all(visible and modal for *_, visible, modal in seen)
        assert len(seen) >= 4
        # The work ran on a worker thread; the GUI thread kept its event loop.
        assert runner.worker_thread not in (None, threading.get_ident())
        assert not runner.dialog.isVisible()
        assert {store.load(i).status for i in ids[:: RECORDS // 10]} == {DRAFT}

        window = MainWindow(store, app_paths, INITIALS)
        qtbot.addWidget(window)
        window.show()
        box = announce(window, result)
        assert box is not None
        qtbot.waitUntil(box.isVisible)
        text = f"The dataset definition changed: {RECORDS} records changed status"
        assert box.text() == text
        assert window.statusBar().currentMessage() == text
        notices = [
            b for b in window.findChildren(QMessageBox) if b.objectName() == box.objectName()
        ]
        assert notices == [box]
        qtbot.mouseClick(box.button(QMessageBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not box.isVisible())
        window.close()
    finally:
        store.close()

    # The next start: nothing to do, no dialog, nothing said.
    started = _start(app_paths, monkeypatch)
    try:
        assert not started.store.rederive_due()
        runner = RederiveAtStart(started.store)
        qtbot.addWidget(runner.dialog)
        shown: list[int] = []
        runner.progressed.connect(lambda done, total: shown.append(done))
        again = runner.run()
        assert again is None and shown == [] and not runner.dialog.isVisible()
        window = MainWindow(started.store, app_paths, INITIALS)
        qtbot.addWidget(window)
        assert announce(window, again) is None
        assert window.findChildren(QMessageBox) == []
        assert started.store.load(ids[0]).status == DRAFT
    finally:
        started.store.close()
