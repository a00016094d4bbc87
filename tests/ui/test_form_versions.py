"""Never lose a save to a second window or a second process (issue 12.1).

The scenario as it was found: a record open from the patient list and again from the worklist;
the 16-week follow-up recorded in one window, the height changed in the other. Today's answer is
two layers: the main window never opens a second window on a record (it brings the first to
the front), and beneath that every save states the version it was based on, so a stale window
merges what others saved instead of writing over it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtWidgets import QApplication, QComboBox, QLineEdit, QRadioButton, QWidget

from flsdesk.store.store import Store
from flsdesk_ui.form.conflict import ConflictDialog
from flsdesk_ui.form.window import RecordWindow
from flsdesk_ui.main_window import MainWindow
from tests.helpers.import_helpers import cells_from_answers, write_csv
from tests.ui.conftest import PASSPHRASE

REPO = Path(__file__).resolve().parents[2]
RECORD = {
    "1.01": "9434765919",
    "name": "Margaret Ashworth",
    "hospital_number": "RX1234567",
    "1.02": "1950-03-02",
    "1.03": "Female",
    "1.11": "Wrist",
    "4.01": ["Alendronate"],
}


def _due_record(store: Store) -> int:
    """A record whose 16-week follow-up is due today (so the worklist lists it)."""
    diagnosed = store.today() - timedelta(days=90)
    return store.new_record({**RECORD, "1.09": diagnosed.isoformat()})


def _activate(qtbot, window: QWidget) -> None:  # type: ignore[no-untyped-def]
    # Key clicks and focus changes belong to the active window, as on a real desktop.
    window.show()
    window.raise_()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)


def _type(qtbot, window: QWidget, name: str, text: str) -> QWidget:  # type: ignore[no-untyped-def]
    """Put the cursor in a field (as a click would) and type; the field is not left."""
    _activate(qtbot, window)
    widget = window.findChild(QWidget, name)
    assert widget is not None, name
    widget.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is widget, timeout=2000)
    if isinstance(widget, QComboBox):
        qtbot.wait(QApplication.keyboardInputInterval() + 50)  # a fresh type-ahead search
    elif isinstance(widget, QLineEdit):
        widget.selectAll()
    qtbot.keyClicks(widget, text)
    return widget


def _type_then_tab(qtbot, window: QWidget, name: str, text: str) -> None:  # type: ignore[no-untyped-def]
    widget = _type(qtbot, window, name, text)
    qtbot.keyClick(widget, Qt.Key.Key_Tab)


def _record_followup(qtbot, window: RecordWindow) -> None:  # type: ignore[no-untyped-def]
    window.show_tab("followup")
    _type_then_tab(qtbot, window, "q_6_01", "Y")
    _type_then_tab(qtbot, window, "q_6_02", "01/05/2025")


def _lost(store: Store, record_id: int) -> list[tuple[str, object]]:
    """Audit entries that cleared an answer: none of these scenarios clears anything."""
    return [
        (e.question or "", e.old_value)
        for e in store.audit_trail(record_id)
        if e.action == "update" and e.new_value is None
    ]


def test_the_worklist_brings_the_open_window_to_the_front_and_nothing_is_lost(
    qtbot, store: Store, app_paths
) -> None:
    record_id = _due_record(store)
    main = MainWindow(store, app_paths, "TS")
    qtbot.addWidget(main)
    main.show()
    # From the patient list: select the row, Enter.
    view = main.patients.view
    view.setFocus()
    view.selectRow(main.patients.model.row_of(record_id))
    qtbot.keyClick(view, Qt.Key.Key_Return)
    forms = [w for w in main.open_windows if isinstance(w, RecordWindow)]
    assert [f.record_id for f in forms] == [record_id]
    first = forms[0]
    # Again from the worklist: Enter on its row brings the same window to the front.
    main.act_followups.trigger()
    _activate(qtbot, main)
    worklist = main.followups.view
    worklist.setFocus()
    worklist.selectRow(0)
    qtbot.keyClick(worklist, Qt.Key.Key_Return)
    forms = [w for w in main.open_windows if isinstance(w, RecordWindow)]
    assert forms == [first]
    qtbot.waitUntil(lambda: QApplication.activeWindow() is first, timeout=3000)
    assert first.tabs.currentWidget().tab.id == "followup"
    _record_followup(qtbot, first)
    first.show_tab("investigation")
    _type_then_tab(qtbot, first, "q_2_01", "165")
    after = store.load(record_id).answers
    assert (after["6.01"], after["6.02"], after["2.01"]) == ("Yes", "2025-05-01", 165)
    assert _lost(store, record_id) == []
    first.close()


def test_two_windows_on_one_record_merge_instead_of_overwriting(
    qtbot, store: Store, open_form
) -> None:
    # Beneath the one-window rule: even two windows on one record lose nothing.
    record_id = _due_record(store)
    first = open_form(record_id)
    second = open_form(record_id)
    _record_followup(qtbot, second)
    assert store.load(record_id).answers["6.01"] == "Yes"
    # The first window still shows the record as it was loaded; a change there saves.
    first.show_tab("investigation")
    _type_then_tab(qtbot, first, "q_2_01", "165")
    after = store.load(record_id).answers
    assert (after["6.01"], after["6.02"], after["2.01"]) == ("Yes", "2025-05-01", 165)
    assert _lost(store, record_id) == []
    # What the other window saved now shows in the first, so its next save keeps it too.
    assert first.row("6.01").input.value() == "Yes"
    assert first.row("6.02").input.value() == "2025-05-01"
    _type_then_tab(qtbot, first, "q_2_01", "166")
    assert store.load(record_id).answers["6.01"] == "Yes"
    assert _lost(store, record_id) == []
    # Both windows' saves are in the audit trail.
    changed = [e.question for e in store.audit_trail(record_id) if e.action == "update"]
    assert changed == ["6.01", "6.02", "2.01", "2.01"]


def _answer_conflict_dialog(qtbot, choice: str, seen: list[str]) -> None:  # type: ignore[no-untyped-def]
    """When the conflict dialog shows, read it, choose with the mouse, then OK."""

    def act() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, ConflictDialog) or not dialog.isVisible():
            QTimer.singleShot(50, act)
            return
        try:
            qtbot.waitExposed(dialog)
            seen.extend(b.text() for b in dialog.findChildren(QRadioButton))
            button = dialog.findChild(QRadioButton, f"{choice}_2_01")
            # On the round indicator: a radio button takes clicks on its indicator and text only.
            spot = QPoint(button.iconSize().width() // 2 + 2, button.height() // 2)
            qtbot.mouseClick(button, Qt.MouseButton.LeftButton, pos=spot)
            assert button.isChecked()
            ok = dialog.buttons.buttons()[0]
            qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
        finally:
            if dialog.isVisible():  # a failed step must fail the test, not hang it
                seen.append("dialog not answered")
                dialog.reject()

    QTimer.singleShot(0, act)


def test_the_same_answer_changed_in_both_windows_is_the_persons_choice(
    qtbot, store: Store, open_form
) -> None:
    record_id = store.new_record({**RECORD, "1.09": "2025-01-10", "2.01": 150})
    first = open_form(record_id)
    second = open_form(record_id)
    second.show_tab("investigation")
    _type_then_tab(qtbot, second, "q_2_01", "160")
    first.show_tab("investigation")
    seen: list[str] = []
    _answer_conflict_dialog(qtbot, "keep_mine", seen)
    _type_then_tab(qtbot, first, "q_2_01", "170")
    assert "dialog not answered" not in seen
    assert any(t.startswith("Take theirs: 160") and "saved by TS" in t for t in seen), seen
    assert "Keep mine: 170" in seen
    assert store.load(record_id).answers["2.01"] == 170
    heights = [e.new_value for e in store.audit_trail(record_id) if e.question == "2.01"]
    assert heights == [160, 170]  # both saves, in order
    assert first.row("2.01").input.value() == 170
    # The second window is now the stale one: taking theirs writes nothing of its own answer.
    _answer_conflict_dialog(qtbot, "take_theirs", seen)
    _type_then_tab(qtbot, second, "q_2_01", "180")
    assert "dialog not answered" not in seen
    assert store.load(record_id).answers["2.01"] == 170
    assert second.row("2.01").input.value() == 170
    assert not second.pending
    heights = [e.new_value for e in store.audit_trail(record_id) if e.question == "2.01"]
    assert heights == [160, 170]


def test_an_import_in_another_process_and_an_unsaved_edit_both_survive(
    qtbot, store: Store, store_box, open_form, tmp_path: Path
) -> None:
    record_id = store.new_record({**RECORD, "1.09": "2025-01-10", "1.05": "No"})
    form = open_form(record_id)
    form.show_tab("investigation")
    # An edit typed, not yet saved (the event loop does not run while the import does).
    _type(qtbot, form, "q_2_01", "165")
    assert form.pending
    # The file lock keeps a second copy of flsdesk off a local store; between PCs (a team
    # database) there is no such lock, only the record versions. Let the command line in, as
    # a second PC would be, to prove the versions alone lose nothing.
    assert store._lock is not None
    store._lock.release()
    cells = cells_from_answers(store.load(record_id).answers) | {"1.05": "Yes"}
    csv = write_csv(tmp_path, [cells])
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "FLSDESK_PASSPHRASE": PASSPHRASE,
        "FLSDESK_INITIALS": "IM",
    }
    command = [sys.executable, str(REPO / "main.py"), "--data-dir", str(store_box.paths.data_dir)]
    done = subprocess.run(
        [*command, "import", str(csv)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert store.load(record_id).answers["1.05"] == "Yes"
    # Now the form saves its edit (leaving the field), based on the version before the import.
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
    assert not form.pending
    after = store.load(record_id).answers
    assert (after["1.05"], after["2.01"]) == ("Yes", 165)
    assert form.row("1.05").input.value() == "Yes"
    trail = [(e.user.split()[0], e.question, e.new_value) for e in store.audit_trail(record_id)]
    assert ("IM", "1.05", "Yes") in trail
    assert ("TS", "2.01", 165) in trail
    assert _lost(store, record_id) == []
