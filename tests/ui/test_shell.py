"""The application shell as a person meets it: set-up, unlock, the list, record actions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QApplication,
    QDialogButtonBox,
    QMessageBox,
    QTableView,
    QWidget,
    QWizard,
)

from flsdesk import session
from flsdesk.paths import resolve
from flsdesk.store.records import DELETE_REASONS
from flsdesk_ui.dialogs import DeleteDialog, SettingsDialog
from flsdesk_ui.main_window import MainWindow
from flsdesk_ui.unlock import UnlockDialog
from flsdesk_ui.wizard import SetupWizard

PASSPHRASE = "correct horse battery staple"

PATIENTS = [
    {
        "1.01": "9434765919",
        "name": "Margaret Ashworth",
        "hospital_number": "RX1234567",
        "1.02": "1950-03-02",
        "1.03": "Female",
        "1.09": "2024-03-01",
        "1.11": "Wrist",
    },
    {
        "1.01": "4010232137",
        "name": "Harold Binns",
        "hospital_number": "RX7654321",
        "1.02": "1941-07-15",
        "1.03": "Male",
        "1.09": "2024-05-20",
        "1.11": "Hip",
    },
    {
        "1.01": "OVERSEAS",
        "name": "Ingrid Castellano",
        "hospital_number": "TMP-0042",
        "1.02": "1948-11-30",
        "1.03": "Female",
        "1.09": "2024-06-02",
        "1.11": "Spine",
    },
]


@pytest.fixture
def paths():
    return resolve(None)


@pytest.fixture
def store(paths):
    created = session.create(paths, PASSPHRASE, "AB", "Northtown FLS", "RXX01")
    yield created.store
    created.store.close()


@pytest.fixture
def window(qtbot, store, paths):
    for answers in PATIENTS:
        store.new_record(answers)
    w = MainWindow(store, paths, "AB")
    qtbot.addWidget(w)
    w.show()
    return w


def visible_names(w: MainWindow) -> list[str]:
    m = w.patients.model
    col = [c.key for c in m.columns].index("name")
    return [m.index(r, col).data() for r in range(m.rowCount())]


def test_wizard_end_to_end_then_restart_unlocks(qtbot, paths, monkeypatch, tmp_path):
    wizard = SetupWizard(paths)
    qtbot.addWidget(wizard)
    wizard.show()
    page = wizard.service_page
    qtbot.keyClicks(page.site, "Northtown FLS")
    qtbot.keyClicks(page.org, "RXX01")
    qtbot.keyClicks(page.initials, "ab")
    next_button = wizard.button(QWizard.WizardButton.NextButton)
    assert next_button.isEnabled()
    qtbot.mouseClick(next_button, Qt.MouseButton.LeftButton)

    pp = wizard.passphrase_page
    assert wizard.currentPage() is pp
    qtbot.keyClicks(pp.first, "short")
    qtbot.keyClicks(pp.second, "short")
    assert not pp.isComplete()  # too short
    assert pp.problem.text()
    pp.first.clear()
    pp.second.clear()
    qtbot.keyClicks(pp.first, PASSPHRASE)
    assert pp.meter.value() >= 3
    qtbot.keyClicks(pp.second, PASSPHRASE + "x")
    assert "not the same" in pp.problem.text()
    qtbot.keyClick(pp.second, Qt.Key.Key_Backspace)
    assert pp.isComplete()
    # No secure keyring in the test environment: remembering is offered but disabled, with why.
    assert not pp.remember.isEnabled()
    assert pp.remember.toolTip()
    qtbot.mouseClick(next_button, Qt.MouseButton.LeftButton)

    rp = wizard.recovery_page
    assert wizard.currentPage() is rp
    recovery_key = rp.key_view.toPlainText()
    assert len(recovery_key.replace("-", "")) >= 30
    # "Save to a file…": owner-only, holding the key and the warning.
    saved = tmp_path / "recovery.txt"
    monkeypatch.setattr(
        "PySide6.QtWidgets.QFileDialog.getSaveFileName", lambda *a, **k: (str(saved), "")
    )
    qtbot.mouseClick(rp.findChild(QWidget, "wizard_save_key"), Qt.MouseButton.LeftButton)
    assert recovery_key in saved.read_text(encoding="utf-8")
    assert saved.stat().st_mode & 0o777 == 0o600
    finish = wizard.button(QWizard.WizardButton.FinishButton)
    assert not finish.isEnabled()  # the key must be confirmed as kept
    # By keyboard: Tab from the key leads on to the buttons, then the tick box.
    rp.key_view.setFocus()
    for _ in range(8):
        if wizard.focusWidget() is rp.confirm:
            break
        qtbot.keyClick(wizard.focusWidget(), Qt.Key.Key_Tab)
    assert wizard.focusWidget() is rp.confirm
    qtbot.keyClick(rp.confirm, Qt.Key.Key_Space)
    assert finish.isEnabled()
    qtbot.mouseClick(finish, Qt.MouseButton.LeftButton)
    assert wizard.store is not None
    assert wizard.store.get_setting("service_name") == "Northtown FLS"
    assert wizard.store.get_setting("org_code") == "RXX01"
    wizard.store.close()

    # Restart: the unlock dialog opens the store with the passphrase …
    dialog = UnlockDialog(paths, session.remembered_key(paths))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.initials, "ab")
    qtbot.keyClicks(dialog.secret, PASSPHRASE)
    qtbot.keyClick(dialog.secret, Qt.Key.Key_Return)
    assert dialog.result() == UnlockDialog.DialogCode.Accepted
    reopened = session.open_store(paths, dialog.data_key, dialog.initials.text())
    assert reopened.get_setting("service_name") == "Northtown FLS"
    reopened.close()

    # … and with the recovery key shown once by the wizard, typed in lower case with spaces.
    dialog = UnlockDialog(paths, None)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.initials, "cd")
    qtbot.mouseClick(dialog.use_recovery, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(dialog.secret, recovery_key.lower().replace("-", " "))
    qtbot.keyClick(dialog.secret, Qt.Key.Key_Return)
    assert dialog.result() == UnlockDialog.DialogCode.Accepted
    session.open_store(paths, dialog.data_key, "CD").close()


def test_wrong_passphrase_says_so_and_lets_them_try_again(qtbot, paths, store):
    store.close()
    dialog = UnlockDialog(paths, None)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.initials, "ab")
    qtbot.keyClicks(dialog.secret, "not the passphrase")
    qtbot.keyClick(dialog.secret, Qt.Key.Key_Return)
    assert dialog.isVisible()
    assert dialog.data_key is None
    assert "not right" in dialog.error.text()
    dialog.secret.clear()
    qtbot.keyClicks(dialog.secret, PASSPHRASE)
    qtbot.keyClick(dialog.secret, Qt.Key.Key_Return)
    assert dialog.result() == UnlockDialog.DialogCode.Accepted
    assert dialog.data_key is not None


def test_unlock_requires_initials(qtbot, paths, store):
    dialog = UnlockDialog(paths, None)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.secret, PASSPHRASE)
    qtbot.keyClick(dialog.secret, Qt.Key.Key_Return)
    assert dialog.data_key is None
    assert "initials" in dialog.error.text()


def test_remembered_key_skips_the_passphrase(qtbot, paths, memory_keyring):
    created = session.create(paths, PASSPHRASE, "AB", "Northtown FLS", "", remember=True)
    created.store.close()
    assert created.remembered
    remembered = session.remembered_key(paths)
    assert remembered == created.data_key
    dialog = UnlockDialog(paths, remembered)
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.secret.isVisibleTo(dialog)
    qtbot.keyClicks(dialog.initials, "ab")
    qtbot.keyClick(dialog.initials, Qt.Key.Key_Return)
    assert dialog.data_key == created.data_key


def test_idle_lock_hides_content_and_unlock_restores(qtbot, store, paths, monkeypatch):
    now = [1000.0]
    asked: list[str] = []
    answers = iter([None, "AB"])  # not unlocked first, then unlocked by AB

    def unlock(parent, idle):
        asked.append(idle)
        return next(answers)

    store.new_record(PATIENTS[0])
    w = MainWindow(store, paths, "AB", unlock=None, clock=lambda: now[0])
    qtbot.addWidget(w)
    w.show()
    w.start_idle_watch(QApplication.instance())
    w.idle.minutes = 10
    w.idle.touch()
    now[0] += 9 * 60
    w.idle.check()
    assert not w.is_locked
    # Activity resets the clock.
    qtbot.keyClick(w.patients.search, Qt.Key.Key_A)
    now[0] += 9 * 60
    w.idle.check()
    assert not w.is_locked
    now[0] += 61
    w.idle.check()
    assert w.is_locked
    assert not w.pages.isVisible()
    assert not w.menuBar().isEnabled()
    # Unlocking asks again until right (the dialog itself is tested above); declining the
    # offer to quit in between keeps it locked and asks again.
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    w._unlock = unlock
    w._ask_unlock()
    assert not w.is_locked
    assert w.pages.isVisible()
    assert asked == [True, True]  # the idle timer locked it


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("943 476 5919", ["Margaret Ashworth"]),
        ("9434765919", ["Margaret Ashworth"]),
        ("401023", ["Harold Binns"]),
        ("binns", ["Harold Binns"]),
        ("Ingrid", ["Ingrid Castellano"]),
        ("RX7654321", ["Harold Binns"]),
        ("tmp-0042", ["Ingrid Castellano"]),
        ("nobody", []),
    ],
)
def test_search_as_you_type_by_each_field(qtbot, window, typed, expected):
    assert len(visible_names(window)) == 3
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert window.patients.search.hasFocus()
    qtbot.keyClicks(window.patients.search, typed)
    assert visible_names(window) == expected
    if not expected:
        assert window.patients.empty.isVisibleTo(window)
    window.patients.search.clear()
    assert len(visible_names(window)) == 3


def test_sort_by_each_column(qtbot, window):
    view = window.patients.view
    name_col = [c.key for c in window.patients.model.columns].index("name")
    view.sortByColumn(name_col, Qt.SortOrder.AscendingOrder)
    assert visible_names(window) == ["Harold Binns", "Ingrid Castellano", "Margaret Ashworth"]
    view.sortByColumn(name_col, Qt.SortOrder.DescendingOrder)
    assert visible_names(window) == ["Margaret Ashworth", "Ingrid Castellano", "Harold Binns"]
    for col in range(window.patients.model.columnCount()):
        view.sortByColumn(col, Qt.SortOrder.AscendingOrder)
        assert sorted(visible_names(window)) == sorted(p["name"] for p in PATIENTS)


def test_status_filters_and_counts(qtbot, window, store):
    # All three lack lite answers; the OVERSEAS one has no error, so all are drafts.
    assert "3 records" in window.counts.text()
    store.new_record({"1.01": "1234567890", "name": "Bad Number", "1.09": "2024-01-05"})
    window.refresh()
    assert "4 records" in window.counts.text()
    assert "1 need correction" in window.counts.text()
    qtbot.mouseClick(window.patients.filters["Needs correction"], Qt.MouseButton.LeftButton)
    assert visible_names(window) == ["Bad Number"]
    qtbot.mouseClick(window.patients.filters["Draft"], Qt.MouseButton.LeftButton)
    assert len(visible_names(window)) == 4
    qtbot.mouseClick(window.patients.filters["Needs correction"], Qt.MouseButton.LeftButton)
    assert "Bad Number" not in visible_names(window)


def _select(window, name):
    names = visible_names(window)
    window.patients.view.selectRow(names.index(name))


@pytest.mark.parametrize("reason", DELETE_REASONS)
def test_delete_with_each_reason_and_restore(qtbot, window, store, monkeypatch, reason):
    _select(window, "Harold Binns")
    typed = {}

    def fake_exec(dialog: DeleteDialog) -> int:
        # Driven as a person would: pick the reason with the keyboard, type the note if needed.
        ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
        assert not ok.isEnabled()
        dialog.reason.setFocus()
        dialog.reason.setCurrentIndex(dialog.reason.findData(reason))
        if reason == "Other":
            assert not ok.isEnabled()  # Other needs text
            qtbot.keyClicks(dialog.note, "Entered twice by mistake")
        assert ok.isEnabled()
        typed["note"] = dialog.chosen_note
        return 1

    monkeypatch.setattr(DeleteDialog, "exec", fake_exec)
    window.act_delete.trigger()
    assert "Harold Binns" not in visible_names(window)
    assert "1 deleted" in window.counts.text()

    window.act_deleted.trigger()
    assert window.pages.currentWidget() is window.deleted
    model = window.deleted.model
    assert model.rowCount() == 1
    row = [model.index(0, c).data() for c in range(model.columnCount())]
    assert row[1] == "Harold Binns"
    assert row[4].startswith(reason)
    assert row[5] == "30"
    window.deleted.view.selectRow(0)
    qtbot.mouseClick(window.deleted.restore, Qt.MouseButton.LeftButton)
    assert model.rowCount() == 0
    window.show_page("patients")
    assert "Harold Binns" in visible_names(window)
    trail = [item.action for item in store.audit_trail(window.patients.model.ids[0])]
    assert trail  # every record has its creation entry at least


def test_duplicates_view_opens_both_records(qtbot, window, store):
    dup = dict(PATIENTS[0], name="Margaret Ashworth (again)")
    store.new_record(dup)
    window.refresh()
    window.act_duplicates.trigger()
    model = window.duplicates.model
    assert model.rowCount() == 1
    assert (
        window.pages.tabText(window.pages.indexOf(window.duplicates)) == "Possible duplicates (1)"
    )
    assert model.index(0, 0).data() == "943 476 5919"
    window.duplicates.view.selectRow(0)
    qtbot.mouseClick(window.duplicates.compare, Qt.MouseButton.LeftButton)
    dialogs = [w for w in window.open_windows if w.objectName() == "record_dialog"]
    assert len(dialogs) == 1
    panels = dialogs[0].panels
    assert len(panels) == 2
    assert "Margaret Ashworth" in panels[0].title
    assert "(again)" in panels[1].title
    assert all("Needs correction" in p.status.text() for p in panels)
    dialogs[0].close()


def test_settings_saved_and_read_back(qtbot, window, store):
    dialog = SettingsDialog(store, window)
    qtbot.addWidget(dialog)
    dialog.show()
    name = dialog.inputs["service_name"]
    name.selectAll()
    qtbot.keyClicks(name, "Southtown FLS")
    idle = dialog.inputs["idle_lock_minutes"]
    idle.selectAll()
    qtbot.keyClicks(idle, "25")
    url = dialog.inputs["upload_url"]
    qtbot.keyClicks(url, "http://example.org/upload")
    dialog.accept()
    assert dialog.isVisible() or dialog.result() != 1
    assert "https" in dialog.problem.text()  # plain http refused except to localhost
    url.clear()
    qtbot.keyClicks(url, "https://integration.example.nhs.uk/fls")
    qtbot.keyClicks(dialog.inputs["upload_token"], "s3cret-token")
    # A new store requires the opt-out check (FAQ 5); the setting can relax it.
    assert dialog.inputs["require_optout_check"].isChecked()
    qtbot.mouseClick(dialog.inputs["require_optout_check"], Qt.MouseButton.LeftButton)
    dialog.accept()
    assert dialog.result() == 1
    assert store.get_setting("service_name") == "Southtown FLS"
    assert store.get_setting("idle_lock_minutes") == 25
    assert store.get_setting("upload_url") == "https://integration.example.nhs.uk/fls"
    assert store.get_setting("upload_token") == "s3cret-token"
    assert store.get_setting("require_optout_check") is False
    again = SettingsDialog(store, window)
    qtbot.addWidget(again)
    assert again.inputs["service_name"].text() == "Southtown FLS"
    assert again.inputs["idle_lock_minutes"].value() == 25


def test_new_fracture_prefills_patient_details(qtbot, window, store):
    _select(window, "Margaret Ashworth")
    before = set(window.patients.model.ids)
    opened = []
    window.open_record = lambda record_id, prefill=None, tab=None: opened.append(prefill)
    window.act_new_fracture.trigger()
    prefill = opened[0]
    assert prefill["1.01"] == "9434765919"
    assert prefill["name"] == "Margaret Ashworth"
    assert prefill["1.02"] == "1950-03-02"
    assert "1.09" not in prefill and "1.11" not in prefill
    assert set(window.patients.model.ids) == before


def test_purged_after_thirty_days_is_gone_from_deleted_view(qtbot, paths):
    start = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
    now = [start]
    created = session.create(paths, PASSPHRASE, "AB", "Northtown FLS", "")
    created.store.close()
    st = session.open_store(paths, created.data_key, "AB", clock=lambda: now[0])
    rid = st.new_record(PATIENTS[0])
    st.delete(rid, "Test record")
    st.close()
    now[0] = start + timedelta(days=31)
    st = session.open_store(paths, created.data_key, "AB", clock=lambda: now[0])
    w = MainWindow(st, paths, "AB")
    qtbot.addWidget(w)
    w.act_deleted.trigger()
    assert w.deleted.model.rowCount() == 0
    st.close()


def test_new_record_opens_the_form_and_the_list_follows_its_saves(qtbot, window, store):
    before = len(window.patients.model.ids)
    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    forms = [w for w in window.open_windows if w.objectName() == "record_window"]
    assert len(forms) == 1
    form = forms[0]  # owned by the main window, which closes it (WA_DeleteOnClose)
    assert form.record_id is None  # nothing is created until something is typed
    nhs = form.findChild(QWidget, "q_1_01")
    nhs.setFocus()
    qtbot.keyClicks(nhs, "450 557 7104")
    qtbot.keyClick(nhs, Qt.Key.Key_Tab)  # leaving the field saves it
    qtbot.waitUntil(lambda: form.record_id is not None, timeout=3000)
    qtbot.waitUntil(lambda: len(window.patients.model.ids) == before + 1, timeout=3000)
    assert store.load(form.record_id).answers["1.01"] == "4505577104"
    form.close()


def test_followups_tab_lists_owed_followups_and_opens_the_followup_tab(qtbot, store, paths):
    today = store.today()
    diagnosed = today - timedelta(days=90)  # the 16-week follow-up is due
    record_id = store.new_record(
        dict(
            PATIENTS[0],
            **{"1.09": diagnosed.isoformat(), "4.01": ["Alendronate"]},
        )
    )
    store.new_record(dict(PATIENTS[1], **{"4.01": ["Inappropriate"]}))
    w = MainWindow(store, paths, "AB")
    qtbot.addWidget(w)
    w.show()
    assert "Follow-ups: 1 due" in w.followup_counts.text()
    w.act_followups.trigger()
    assert w.pages.currentWidget() is w.followups
    opened = []
    w.open_record = lambda rid, prefill=None, tab=None: opened.append((rid, tab))
    w.followups.open_record_requested.disconnect()
    w.followups.open_record_requested.connect(lambda rid, tab: w.open_record(rid, tab=tab))
    view = w.followups.findChild(QTableView)
    view.setFocus()
    view.selectRow(0)
    qtbot.keyClick(view, Qt.Key.Key_Return)
    assert opened == [(record_id, "followup")]
    # The patient list shows the next follow-up.
    model = w.patients.model
    col = [c.key for c in model.columns].index("next_followup")
    row = model.row_of(record_id)
    assert model.index(row, col).data().startswith("16-week")


def test_export_action_outbox_and_days_since_export(qtbot, window, store, tmp_path):
    from flsdesk.exchange.export import Scope, export

    assert window.export_age.text() == "Never exported"
    qtbot.keyClick(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    dialogs = [w for w in window.open_windows if w.objectName() == "export_dialog"]
    assert len(dialogs) == 1
    dialogs[0].close()
    store.set_setting("require_optout_check", False)  # these records are not opt-out checked
    _plan, result = export(store, Scope.all(), tmp_path / "fls.csv")
    assert result is not None
    window.refresh()
    assert window.export_age.text().startswith("Never sent")  # saved is not sent
    assert window.export_age.styleSheet() == ""  # a new store is not overdue
    window.act_outbox.trigger()
    assert window.pages.currentWidget() is window.outbox
    window.outbox.refresh()
    assert window.outbox.model.rowCount() == 1


def test_import_and_optout_dialogs_open_from_the_fls_db_menu(qtbot, window):
    window.act_import.trigger()
    window.act_optout.trigger()
    names = {w.objectName() for w in window.open_windows}
    assert {"import_dialog", "optout_dialog"} <= names
    for w in list(window.open_windows):
        w.close()


def test_audit_trail_dialog_lists_every_change(qtbot, window, store):
    record_id = window.patients.model.ids[0]
    answers = store.load(record_id).answers
    answers["1.04"] = "LS1 4AB"
    store.save(record_id, answers, reason="Post code found in the notes")
    from flsdesk_ui.dialogs import AuditDialog

    dialog = AuditDialog(store, record_id, window)
    qtbot.addWidget(dialog)
    table = dialog.findChild(QTableView, "audit_table")
    assert table.model() is dialog.model
    rows = [
        [dialog.model.index(r, c).data() for c in range(dialog.model.columnCount())]
        for r in range(dialog.model.rowCount())
    ]
    assert rows[0][2] == "create"
    change = next(r for r in rows if r[3] == "1.04 Post code at time of fracture")
    assert change[2] == "update — Post code found in the notes"
    assert change[5] == "LS1 4AB"


def test_enter_on_a_row_opens_that_record_in_the_form(qtbot, window):
    _select(window, "Harold Binns")
    record_id = window.patients.selected_id()
    view = window.patients.view
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Return)
    forms = [w for w in window.open_windows if w.objectName() == "record_window"]
    assert [f.record_id for f in forms] == [record_id]
    forms[0].close()
