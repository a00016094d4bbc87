"""The record form on a team database: the server going away mid-edit loses nothing (the form
says "Not saved — the team database cannot be reached", keeps what was typed, tries again less
and less often, and saves once the server is back), and two PCs changing the same answer get the
same "keep mine / take theirs" choice as two windows on the local store."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtWidgets import QApplication, QRadioButton, QWidget

from flsdesk.store.errors import ServerUnreachable
from flsdesk.store.roles import Role
from flsdesk_ui.form import autosave, unsaved
from flsdesk_ui.form.conflict import ConflictDialog
from flsdesk_ui.form.window import RecordWindow
from tests.helpers.pg import PgCluster
from tests.helpers.team_ui import TeamDb, team_db_fixture  # noqa: F401  (fixture)

RECORD = {
    "1.01": "9434765919",
    "name": "Margaret Ashworth",
    "1.02": "1950-03-02",
    "1.03": "Female",
    "1.11": "Wrist",
    "1.09": "2025-01-10",
    "2.01": 150,
}


def _form(qtbot, store, record_id: int) -> RecordWindow:  # type: ignore[no-untyped-def]
    window = RecordWindow(store, record_id=record_id)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.fully_built, timeout=3000)
    return window


def _type_then_tab(qtbot, window: QWidget, name: str, text: str) -> None:  # type: ignore[no-untyped-def]
    window.raise_()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
    widget = window.findChild(QWidget, name)
    assert widget is not None, name
    widget.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is widget, timeout=2000)
    widget.selectAll()
    qtbot.keyClicks(widget, text)
    qtbot.keyClick(widget, Qt.Key.Key_Tab)


def test_back_off_grows_and_stays_at_half_a_minute() -> None:
    waits = [unsaved.retry_delay_ms(n) for n in range(1, 9)]
    assert waits == sorted(waits) and waits[0] == 2_000 and waits[-1] == 30_000


@pytest.mark.slow
def test_the_form_keeps_the_answers_while_the_server_is_away_and_saves_when_it_is_back(
    qtbot, team_db: TeamDb, pg_cluster: PgCluster, app_paths
) -> None:
    store = team_db.open(Role.ENTRY, app_paths)
    record_id = store.new_record(RECORD)
    form = _form(qtbot, store, record_id)
    form.show_tab("investigation")
    pg_cluster.stop()
    try:
        with pytest.raises(ServerUnreachable):
            store.load(record_id)  # the server really is away
        _type_then_tab(qtbot, form, "q_2_01", "165")
        assert form._autosave.state == autosave.UNREACHABLE
        assert form.indicator.text().startswith("Not saved — the team database cannot be reached")
        assert form.pending
        assert form.answers["2.01"] == 165
        # More typing while it is away: kept too, and still said.
        _type_then_tab(qtbot, form, "q_2_02", "61")
        assert form.answers["2.02"] == 61
        assert form._autosave.state == autosave.UNREACHABLE
        # The person presses Ctrl+S: one more try at once, still away, and the wait grows.
        tries = form._autosave.unreachable_tries
        qtbot.keyClick(form, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
        assert form._autosave.unreachable_tries > tries
        assert form._autosave.retry_ms > unsaved.BACKOFF_MS[0]
        assert form.pending and form.answers["2.01"] == 165
    finally:
        pg_cluster.pg_ctl_start()
    # The back-off's next try finds the server again and saves both answers, once each.
    qtbot.waitUntil(lambda: form._autosave.state == autosave.SAVED, timeout=60_000)
    assert form.indicator.text().startswith("Saved")
    assert not form.pending
    saved = store.load(record_id)
    assert (saved.answers["2.01"], saved.answers["2.02"]) == (165, 61)
    changes = [
        (e.question, e.new_value) for e in store.audit_trail(record_id) if e.action == "update"
    ]
    assert changes == [("2.01", 165), ("2.02", 61)]
    form.close()


def _answer_conflict(qtbot, choice: str, seen: list[str]) -> None:  # type: ignore[no-untyped-def]
    def act() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, ConflictDialog) or not dialog.isVisible():
            QTimer.singleShot(50, act)
            return
        try:
            qtbot.waitExposed(dialog)
            seen.extend(b.text() for b in dialog.findChildren(QRadioButton))
            button = dialog.findChild(QRadioButton, f"{choice}_2_01")
            spot = QPoint(button.iconSize().width() // 2 + 2, button.height() // 2)
            qtbot.mouseClick(button, Qt.MouseButton.LeftButton, pos=spot)
            qtbot.mouseClick(dialog.buttons.buttons()[0], Qt.MouseButton.LeftButton)
        finally:
            if dialog.isVisible():
                seen.append("dialog not answered")
                dialog.reject()

    QTimer.singleShot(0, act)


def test_keep_mine_or_take_theirs_between_two_pcs_on_one_team_database(
    qtbot, team_db: TeamDb, app_paths
) -> None:
    here = team_db.open(Role.ENTRY, app_paths)
    record_id = here.new_record(RECORD)
    mine = _form(qtbot, here, record_id)
    mine.show_tab("investigation")
    # Another PC (its own Store, another person) changes the height and the weight meanwhile.
    there = team_db.open(Role.ADMIN, app_paths)
    loaded = there.load(record_id)
    there.save_versioned(
        record_id,
        {**loaded.answers, "2.01": 160, "2.02": 70},
        base_version=loaded.version,
        base_answers=loaded.answers,
    )
    seen: list[str] = []
    _answer_conflict(qtbot, "keep_mine", seen)
    _type_then_tab(qtbot, mine, "q_2_01", "170")
    assert "dialog not answered" not in seen
    other = team_db.users[Role.ADMIN]
    assert any(t.startswith("Take theirs: 160") and f"saved by {other}" in t for t in seen), seen
    assert "Keep mine: 170" in seen
    final = here.load(record_id).answers
    assert (final["2.01"], final["2.02"]) == (170, 70)  # mine kept, their weight merged in
    assert mine.row("2.02").input.value() == 70
    heights = [(e.user, e.new_value) for e in here.audit_trail(record_id) if e.question == "2.01"]
    assert heights == [(other, 160), (team_db.users[Role.ENTRY], 170)]

    # Now the other PC is the stale one, and takes theirs: nothing of its own is written.
    theirs = _form(qtbot, there, record_id)
    theirs.show_tab("investigation")
    here_loaded = here.load(record_id)
    here.save_versioned(
        record_id,
        {**here_loaded.answers, "2.01": 175},
        base_version=here_loaded.version,
        base_answers=here_loaded.answers,
    )
    _answer_conflict(qtbot, "take_theirs", seen)
    _type_then_tab(qtbot, theirs, "q_2_01", "180")
    assert "dialog not answered" not in seen
    assert here.load(record_id).answers["2.01"] == 175
    assert theirs.row("2.01").input.value() == 175
    mine.close()
    theirs.close()
