"""The main window on a team database: it names the database and who is signed in, shows a
review user no editing action at all (and an entry user none of the administrator's), and its
patient list and worklist catch up with what other PCs save, keeping the selection."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLineEdit, QWidget

from flsdesk.store.roles import Role
from flsdesk.store.store import Store
from flsdesk_ui.form import autosave
from flsdesk_ui.form.window import RecordWindow
from flsdesk_ui.main_window import MainWindow
from flsdesk_ui.refresh import AWAY_POLL_MS, POLL_MS
from tests.helpers.pg import PgCluster
from tests.helpers.team_ui import PASSWORD, ROOT, TeamDb, team_db_fixture  # noqa: F401  (fixture)
from tests.ui.conftest import PASSPHRASE, Driver

RECORD = {
    "1.01": "9434765919",
    "name": "Margaret Ashworth",
    "1.02": "1950-03-02",
    "1.03": "Female",
    "1.11": "Wrist",
    "4.01": ["Alendronate"],  # a bone therapy: the follow-ups apply
}


def _window(qtbot, store: Store, paths) -> MainWindow:  # type: ignore[no-untyped-def]
    window = MainWindow(store, paths, "")
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
    return window


def _menu_texts(window: MainWindow) -> set[str]:
    return {
        action.text()
        for menu in window.menuBar().actions()
        for action in menu.menu().actions()
        if action.isVisible() and not action.isSeparator()
    }


def _toolbar_texts(window: MainWindow) -> set[str]:
    return {a.text() for a in window.toolbar.actions() if a.isVisible() and not a.isSeparator()}


EDITING = {"New record", "New fracture for this patient", "Import…"}
ADMINISTERING = {"Delete…", "Export for FLS-DB", "National Data Opt-out…", "Settings…"}


def test_the_review_window_offers_nothing_that_changes_records(
    qtbot, team_db: TeamDb, app_paths
) -> None:
    admin = team_db.open(Role.ADMIN, app_paths)
    record_id = admin.new_record(
        {**RECORD, "1.09": (admin.today() - timedelta(days=90)).isoformat()}
    )
    store = team_db.open(Role.REVIEW, app_paths)
    window = _window(qtbot, store, app_paths)

    shown = _menu_texts(window) | _toolbar_texts(window)
    assert not shown & (EDITING | ADMINISTERING), shown & (EDITING | ADMINISTERING)
    assert {"Find", "Open", "Audit trail", "Follow-ups", "Lock now"} <= shown
    window.show_page("followups")
    for button in (
        window.followups.log_button,
        window.followups.end_button,
        window.deleted.restore,
        window.outbox.upload_button,
        window.outbox.mark_button,
        window.outbox.discard_button,
    ):
        assert not button.isVisible(), button.objectName()
    assert window.followups.model.rowCount() == 1  # the worklist itself is there to read

    # Ctrl+N (a hidden action's shortcut) opens nothing; selecting a row enables no delete.
    window.show_page("patients")
    window.patients.view.setFocus()
    window.patients.view.selectRow(0)
    assert not window.act_delete.isEnabled()
    qtbot.keyClick(window.patients.view, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.open_windows == []

    # The record opens to read; typing into it changes nothing.
    qtbot.keyClick(window.patients.view, Qt.Key.Key_Return)
    forms = [w for w in window.open_windows if isinstance(w, RecordWindow)]
    assert [f.record_id for f in forms] == [record_id]
    form = forms[0]  # the main window's (deleted on close), not the test's
    qtbot.waitUntil(lambda: form.fully_built, timeout=3000)
    assert form._autosave.state == autosave.VIEW_ONLY
    assert form.indicator.text() == "Read only"
    assert "review role" in form.banner.text()
    name = form.findChild(QLineEdit, "local_name")
    assert name is not None and not name.isEnabled()  # read-only inputs are disabled
    qtbot.keyClicks(name, "Smith")
    qtbot.keyClick(name, Qt.Key.Key_Tab)
    assert not form.pending
    assert store.load(record_id).answers["name"] == "Margaret Ashworth"
    assert store.load(record_id).version == 1
    form.close()


def test_the_entry_window_edits_records_but_offers_no_administration(
    qtbot, team_db: TeamDb, app_paths
) -> None:
    store = team_db.open(Role.ENTRY, app_paths)
    window = _window(qtbot, store, app_paths)
    shown = _menu_texts(window) | _toolbar_texts(window)
    assert shown >= EDITING
    assert not shown & ADMINISTERING
    assert window.followups.log_button.isVisibleTo(window.followups)
    assert not window.outbox.upload_button.isVisibleTo(window.outbox)
    assert "Ctrl+N" in window.patients.empty.text()  # an empty list suggests a first record
    review = _window(qtbot, team_db.open(Role.REVIEW, app_paths), app_paths)
    assert review.patients.empty.text() == "No records yet."  # not to a review user
    # The administrator sees everything.
    admin_window = _window(qtbot, team_db.open(Role.ADMIN, app_paths), app_paths)
    assert _menu_texts(admin_window) | _toolbar_texts(admin_window) >= EDITING | ADMINISTERING


def test_the_title_and_status_bar_name_the_database_and_the_person_never_the_password(
    qtbot, team_db: TeamDb, app_paths
) -> None:
    store = team_db.open(Role.ENTRY, app_paths)
    window = _window(qtbot, store, app_paths)
    user = team_db.users[Role.ENTRY]
    address = team_db.address(Role.ENTRY).display
    assert address in window.windowTitle()
    assert f"{user} (entry)" in window.windowTitle()
    status = window.findChild(QWidget, "status_team")
    assert status.isVisible()
    assert f"signed in as {user}" in status.text() and address in status.text()
    assert PASSWORD not in window.windowTitle() + status.text()


def test_the_lists_follow_what_another_pc_saves_and_keep_the_selection(
    qtbot, team_db: TeamDb, app_paths
) -> None:
    store = team_db.open(Role.ENTRY, app_paths)
    first = store.new_record({**RECORD, "1.09": "2025-01-10"})
    window = _window(qtbot, store, app_paths)
    view = window.patients.view
    view.selectRow(window.patients.model.row_of(first))
    assert window.followups.model.rowCount() == 0
    assert window.watcher.poll() is False  # nothing changed yet: nothing re-read

    # Another PC (another process, another person) enters a patient due a follow-up today.
    due = (store.today() - timedelta(days=90)).isoformat()
    printed = team_db.run_elsewhere(
        Role.ENTRY,
        app_paths,
        f"""
        answers = {{"1.01": "4010232137", "name": "Olive Ncube", "1.02": "1948-06-01",
                    "1.03": "Female", "1.11": "Wrist", "4.01": ["Alendronate"],
                    "1.09": "{due}"}}
        print(store.new_record(answers))
        """,
    )
    second = int(printed.strip())
    assert window.patients.model.row_of(second) == -1  # not shown until the poll
    assert window.watcher.poll() is True
    assert window.patients.model.row_of(second) >= 0
    assert window.patients.selected_id() == first  # the selection stayed where it was
    assert [r.record_id for r in window.followups.model.rows] == [second]
    window.show_page("followups")
    window.followups.view.selectRow(0)

    # A third patient due: the worklist grows and keeps its selected row.
    printed = team_db.run_elsewhere(
        Role.ENTRY,
        app_paths,
        f"""
        answers = {{"1.01": "9434765870", "name": "Ada Brown", "1.02": "1951-01-01",
                    "1.03": "Female", "1.11": "Wrist", "4.01": ["Alendronate"],
                    "1.09": "{due}"}}
        print(store.new_record(answers))
        """,
    )
    third = int(printed.strip())
    assert window.watcher.poll() is True
    assert sorted(r.record_id for r in window.followups.model.rows) == [second, third]
    selected = window.followups.selected()
    assert selected is not None and selected.record_id == second

    # The window's own timer does the same by itself, within seconds.
    team_db.run_elsewhere(Role.ADMIN, app_paths, f"store.delete({second}, 'Duplicate')")
    qtbot.waitUntil(lambda: window.patients.model.row_of(second) == -1, timeout=15_000)
    assert window.patients.selected_id() == first
    assert [r.record_id for r in window.followups.model.rows] == [third]


@pytest.mark.slow
def test_the_status_bar_says_when_the_team_database_cannot_be_reached(
    qtbot, team_db: TeamDb, pg_cluster: PgCluster, app_paths
) -> None:
    store = team_db.open(Role.ENTRY, app_paths)
    record_id = store.new_record({**RECORD, "1.09": "2025-01-10"})
    window = _window(qtbot, store, app_paths)
    status = window.team_status
    pg_cluster.stop()
    try:
        assert window.watcher.poll() is False
        assert "cannot be reached" in status.text()
        assert window.watcher.timer.interval() == AWAY_POLL_MS  # asks less often meanwhile
        # Opening a record meanwhile: said plainly, not as a failure of flsdesk.
        said: list[str] = []
        driver = Driver(lambda box: (said.append(box.text()), box.accept()))
        assert window.open_record(record_id) is None
        assert driver.check() and said and "team database" in said[0]
        assert window.open_windows == []
    finally:
        pg_cluster.pg_ctl_start()
    printed = team_db.run_elsewhere(
        Role.ENTRY, app_paths, f"print(store.new_record({{**{RECORD!r}, '1.09': '2025-01-10'}}))"
    )
    assert window.watcher.poll() is True
    assert window.patients.model.row_of(int(printed.strip())) >= 0
    assert "signed in as" in status.text()
    assert window.watcher.timer.interval() == POLL_MS


def test_the_local_store_follows_a_command_run_meanwhile(
    qtbot, store: Store, store_box, app_paths
) -> None:
    """The same poll on the single-PC store: a scheduled command (another process) adds a
    record while the window is open."""
    first = store.new_record({**RECORD, "1.09": "2025-01-10"})
    window = _window(qtbot, store, app_paths)
    window.patients.view.selectRow(window.patients.model.row_of(first))
    # The file lock keeps a second copy of flsdesk off the store; a command run by the
    # service's scheduler is let in here as test_form_versions does, to prove the token moves.
    assert store._lock is not None
    store._lock.release()
    script = (
        "from flsdesk import session; from flsdesk.paths import resolve; p = resolve(); "
        f"s = session.open_store(p, session.unlock_key(p, {PASSPHRASE!r}), 'CMD'); "
        "print(s.new_record({'1.01': '9434765870', 'name': 'Ada Brown'})); s.close()"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    added = int(done.stdout.strip())
    assert window.patients.model.row_of(added) == -1
    assert window.watcher.poll() is True
    assert window.patients.model.row_of(added) >= 0
    assert window.patients.selected_id() == first
    assert window.watcher.poll() is False  # one change, one refresh
