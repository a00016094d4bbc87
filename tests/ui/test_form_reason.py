"""After a record has gone to the FLS-DB, a change asks for a reason kept in the audit trail."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from flsdesk.exchange.batches import mark_uploaded
from flsdesk.exchange.export import Scope, export
from flsdesk_ui.form.reason import NO_REASON, EditReasonDialog

RECORD = {
    "1.01": "9434765919",
    "1.02": "1950-03-02",
    "1.03": "Female",
    "1.09": "2024-03-01",
    "1.11": "Wrist",
    "1.04": "LS1 4AB",
}


def _edit_postcode(qtbot, form, text):
    field = form.findChild(QWidget, "q_1_04")
    form.go_to("1.04")
    field.selectAll()
    qtbot.keyClicks(field, text)
    assert form.flush()


def test_an_exported_record_asks_for_a_reason_once_and_audits_it(qtbot, store, open_form, tmp_path):
    record_id = store.new_record(RECORD)
    store.set_setting("require_optout_check", False)  # RECORD is not opt-out checked
    _plan, result = export(store, Scope.all(), tmp_path / "out.csv")
    assert result is not None
    mark_uploaded(store, str(result.batch_id), store.today())  # sent, not only saved
    form = open_form(record_id)
    assert form.banner.isVisible()
    asked = []

    def ask():
        asked.append(1)
        return "Correction of an error"

    form.ask_edit_reason = ask
    _edit_postcode(qtbot, form, "LS2 9JT")
    _edit_postcode(qtbot, form, "LS2 9JU")
    assert asked == [1]  # once per opening, not per keystroke or save
    changes = [a for a in store.audit_trail(record_id) if a.question == "1.04"]
    assert [c.new_value for c in changes] == ["LS2 9JT", "LS2 9JU"]
    assert {c.reason for c in changes} == {"Correction of an error"}


def test_a_record_never_exported_saves_without_asking(qtbot, store, open_form):
    record_id = store.new_record(RECORD)
    form = open_form(record_id)
    assert not form.banner.isVisible()
    form.ask_edit_reason = lambda: (_ for _ in ()).throw(AssertionError("asked"))
    _edit_postcode(qtbot, form, "LS2 9JT")
    changes = [a for a in store.audit_trail(record_id) if a.question == "1.04"]
    assert changes[-1].reason is None


def test_reason_dialog_typed_or_declined(qtbot):
    dialog = EditReasonDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.choice.lineEdit().selectAll()
    qtbot.keyClicks(dialog.choice.lineEdit(), "Wrong date of birth corrected")
    qtbot.keyClick(dialog.choice.lineEdit(), Qt.Key.Key_Return)
    assert dialog.reason() == "Wrong date of birth corrected"
    declined = EditReasonDialog()
    qtbot.addWidget(declined)
    declined.show()
    qtbot.keyClick(declined.choice, Qt.Key.Key_Escape)
    assert declined.reason() == NO_REASON


def test_typing_in_a_sent_record_asks_once_on_leaving_the_field(qtbot, store, open_form, tmp_path):
    """Issue 12.3: never mid-typing by the autosave timer, never two dialogs, Enter accepts,
    and the half-typed value is never saved as a correction of its own."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from flsdesk_ui.form.window import AUTOSAVE_MS

    record_id = store.new_record(RECORD)
    store.set_setting("require_optout_check", False)  # RECORD is not opt-out checked
    _plan, result = export(store, Scope.all(), tmp_path / "out.csv")
    assert result is not None
    mark_uploaded(store, str(result.batch_id), store.today())  # sent, not only saved
    form = open_form(record_id)
    dialogs: list[str] = []

    def watch() -> None:
        modal = QApplication.activeModalWidget()
        # Each dialog is counted once (it is renamed when first seen).
        if isinstance(modal, EditReasonDialog) and modal.objectName() not in dialogs:
            modal.setObjectName(f"reason_{len(dialogs)}")
            dialogs.append(modal.objectName())
            edit = modal.choice.lineEdit()
            edit.selectAll()
            qtbot.keyClicks(edit, "Post code corrected from the notes")
            qtbot.keyClick(edit, Qt.Key.Key_Return)
        if watching:
            QTimer.singleShot(20, watch)

    watching = True
    QTimer.singleShot(0, watch)
    form.go_to("1.04")
    field = form.findChild(QWidget, "q_1_04")
    field.selectAll()
    qtbot.keyClicks(field, "LS2 9")
    qtbot.wait(AUTOSAVE_MS * 2)  # longer than the autosave pause: the timer would have fired
    assert dialogs == []
    assert store.load(record_id).answers["1.04"] == "LS1 4AB"  # nothing half-typed saved
    qtbot.keyClicks(field, "JT")
    qtbot.keyClick(field, Qt.Key.Key_Tab)  # leaving the field: the one question
    watching = False
    assert dialogs == ["reason_0"]
    assert QApplication.activeModalWidget() is None
    assert not form.pending
    changes = [a for a in store.audit_trail(record_id) if a.question == "1.04"]
    assert [(c.old_value, c.new_value, c.reason) for c in changes] == [
        ("LS1 4AB", "LS2 9JT", "Post code corrected from the notes")
    ]
    # The rest of this editing session saves without asking again, also on leaving the window.
    form.go_to("1.04")
    field.selectAll()
    qtbot.keyClicks(field, "LS2 9JU")
    form.close()
    assert dialogs == ["reason_0"]
    changes = [a for a in store.audit_trail(record_id) if a.question == "1.04"]
    assert [c.new_value for c in changes] == ["LS2 9JT", "LS2 9JU"]
    assert {c.reason for c in changes} == {"Post code corrected from the notes"}
