"""Who is working: after the lock, whoever unlocks types their own initials and the audit trail
names them from then on, in every open record window; the lock says why it locked."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QWidget

from flsdesk import session
from flsdesk.exchange.batches import mark_uploaded
from flsdesk.exchange.export import Scope, export
from flsdesk_ui.app import relock_prompt
from flsdesk_ui.main_window import MainWindow
from flsdesk_ui.unlock import UnlockDialog
from tests.ui.conftest import PASSPHRASE, StoreBox

RECORD = {
    "1.01": "9434765919",
    "name": "Margaret Ashworth",
    "1.02": "1950-03-02",
    "1.03": "Female",
    "1.09": "2024-03-01",
    "1.11": "Wrist",
}


def answer_unlock_dialog(qtbot, initials: str, seen: list[dict]) -> None:  # type: ignore[no-untyped-def]
    """When the unlock dialog comes up, type initials and passphrase as a person would.

    The dialog is modal (its own event loop), so this waits for it from a timer; what the
    person saw at that moment goes into ``seen``.
    """

    def fill() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, UnlockDialog):
            QTimer.singleShot(20, fill)
            return
        window = dialog.parentWidget()
        assert isinstance(window, MainWindow)
        seen.append(
            {
                "intro": dialog.intro.text(),
                "locked_page": window.locked.text(),
                "initials_prefilled": dialog.initials.text(),
                "records_hidden": not any(w.isVisible() for w in window.open_windows),
            }
        )
        qtbot.keyClicks(dialog.initials, initials)
        qtbot.keyClicks(dialog.secret, PASSPHRASE)
        qtbot.keyClick(dialog.secret, Qt.Key.Key_Return)

    QTimer.singleShot(0, fill)


def edit_postcode(qtbot, form: QWidget, text: str) -> None:  # type: ignore[no-untyped-def]
    field = form.findChild(QWidget, "q_1_04")
    form.go_to("1.04")  # type: ignore[attr-defined]
    field.selectAll()  # type: ignore[attr-defined]
    qtbot.keyClicks(field, text)
    assert form.flush()  # type: ignore[attr-defined]


def test_lock_now_then_someone_else_unlocks_and_the_audit_names_each(
    qtbot, store_box: StoreBox, app_paths
) -> None:
    # Start-up: AB unlocks with the dialog, as at the start of a clinic.
    assert store_box.store is not None
    store_box.store.new_record(RECORD)
    store_box.close()
    start = UnlockDialog(app_paths, None)
    qtbot.addWidget(start)
    start.show()
    qtbot.keyClicks(start.initials, "ab")
    qtbot.keyClicks(start.secret, PASSPHRASE)
    qtbot.keyClick(start.secret, Qt.Key.Key_Return)
    assert start.data_key is not None
    store = session.open_store(app_paths, start.data_key, start.initials.text())
    store_box.store = store
    now = [1000.0]
    window = MainWindow(
        store,
        app_paths,
        start.initials.text(),
        unlock=relock_prompt(app_paths),
        clock=lambda: now[0],
    )
    qtbot.addWidget(window)
    window.show()

    # AB opens the record from the list (Enter on the row) and changes the post code.
    window.patients.view.setFocus()
    window.patients.view.selectRow(0)
    qtbot.keyClick(window.patients.view, Qt.Key.Key_Return)
    forms = [w for w in window.open_windows if w.objectName() == "record_window"]
    assert len(forms) == 1
    form = forms[0]
    qtbot.waitUntil(lambda: form.fully_built, timeout=5000)
    edit_postcode(qtbot, form, "LS1 4AB")

    # Lock now; CD sits down and unlocks; the same record window is back and edits as CD.
    seen: list[dict] = []
    answer_unlock_dialog(qtbot, "cd", seen)
    window.act_lock.trigger()
    assert window.is_locked
    qtbot.waitUntil(lambda: not window.is_locked, timeout=10_000)
    assert form.isVisible()
    edit_postcode(qtbot, form, "LS2 9JT")

    changes = [a for a in store.audit_trail(form.record_id) if a.question == "1.04"]
    assert [c.new_value for c in changes] == ["LS1 4AB", "LS2 9JT"]
    assert [c.user.split()[0] for c in changes] == ["AB", "CD"]
    assert store.user.startswith("CD (")
    assert window.initials == "cd"

    # What CD saw: locked with Lock now — not "without use" — and no initials filled in for them.
    assert len(seen) == 1
    assert "Lock now" in seen[0]["intro"] and "without use" not in seen[0]["intro"]
    assert "Lock now" in seen[0]["locked_page"]
    assert seen[0]["initials_prefilled"] == ""
    assert seen[0]["records_hidden"]

    # Later nobody touches it for the idle limit: the lock says so; EF unlocks.
    window.idle.minutes = 10
    window.idle.touch()
    answer_unlock_dialog(qtbot, "ef", seen)
    now[0] += 10 * 60 + 1
    window.idle.check()
    qtbot.waitUntil(lambda: len(seen) == 2 and not window.is_locked, timeout=10_000)
    assert "after a while without use" in seen[1]["intro"]
    assert "without use" in seen[1]["locked_page"]
    edit_postcode(qtbot, form, "LS3 1AA")
    users = [a.user.split()[0] for a in store.audit_trail(form.record_id) if a.question == "1.04"]
    assert users == ["AB", "CD", "EF"]
    form.close()


def test_one_lock_at_a_time(qtbot, store, app_paths) -> None:
    """The idle timer does not lock again (a second dialog) over a Lock now still open."""
    asked: list[bool] = []
    answers = iter(["GH"])

    def unlock(parent: QWidget, idle: bool) -> str | None:
        asked.append(idle)
        # While this "dialog" is open, the idle limit passes.
        now[0] += 60 * 60
        window.idle.check()
        return next(answers)

    now = [0.0]
    window = MainWindow(store, app_paths, "AB", unlock=unlock, clock=lambda: now[0])
    qtbot.addWidget(window)
    window.show()
    window.idle.minutes = 10
    window.act_lock.trigger()
    qtbot.waitUntil(lambda: not window.is_locked, timeout=10_000)
    assert asked == [False]
    assert store.user.startswith("GH (")


def test_a_reason_given_before_the_lock_is_not_reused_for_the_next_person(
    qtbot, store, app_paths, tmp_path
) -> None:
    store.set_setting("require_optout_check", False)
    record_id = store.new_record(dict(RECORD, **{"1.04": "LS1 4AB"}))
    _plan, result = export(store, Scope.all(), tmp_path / "out.csv")
    assert result is not None
    mark_uploaded(store, str(result.batch_id), store.today())  # sent, not only saved
    reasons = iter(["Typing error (TS)", "Letter from the GP (CD)"])
    window = MainWindow(store, app_paths, "TS", unlock=lambda _parent, _idle: "CD")
    qtbot.addWidget(window)
    window.show()
    form = window.open_record(record_id)
    qtbot.waitUntil(lambda: form.fully_built, timeout=5000)
    form.ask_edit_reason = lambda: next(reasons)
    edit_postcode(qtbot, form, "LS2 9JT")
    edit_postcode(qtbot, form, "LS2 9JU")  # the same person, the same session: asked once
    window.act_lock.trigger()
    qtbot.waitUntil(lambda: not window.is_locked, timeout=10_000)
    edit_postcode(qtbot, form, "LS3 1AA")
    changes = [a for a in store.audit_trail(record_id) if a.question == "1.04"]
    assert [(c.user.split()[0], c.reason) for c in changes] == [
        ("TS", "Typing error (TS)"),
        ("TS", "Typing error (TS)"),
        ("CD", "Letter from the GP (CD)"),
    ]
    form.close()


def test_the_idle_lock_closes_an_audit_trail_left_open(qtbot, store, app_paths) -> None:
    """Someone leaves the audit trail (patient answers) open and walks away."""
    store.new_record(RECORD)
    now = [0.0]
    window = MainWindow(store, app_paths, "TS", unlock=lambda _p, _i: "CD", clock=lambda: now[0])
    qtbot.addWidget(window)
    window.show()
    window.patients.view.selectRow(0)
    window.idle.minutes = 10
    seen: list[tuple[str, bool]] = []

    def walk_away() -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None or dialog.objectName() != "audit_dialog":
            QTimer.singleShot(20, walk_away)
            return
        now[0] += 10 * 60 + 1
        window.idle.check()
        seen.append((dialog.objectName(), dialog.isVisible()))
        if dialog.isVisible():  # the lock failed to close it: close it, so the test can fail
            dialog.reject()

    QTimer.singleShot(0, walk_away)
    window.act_audit.trigger()  # modal: returns once the dialog is gone
    assert seen == [("audit_dialog", False)]
    qtbot.waitUntil(lambda: not window.is_locked, timeout=10_000)
    assert store.user.startswith("CD (")
