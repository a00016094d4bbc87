"""Words for clinicians: dates as dd/mm/yyyy with question labels, one passphrase rule, no class
names, the recovery-key typo message, and what is provisional said once, in About."""

from __future__ import annotations

import re
from datetime import date, datetime

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPlainTextEdit, QTableView, QWizard

from flsdesk import session
from flsdesk.store import keys
from flsdesk_ui.dialogs import AboutDialog, AuditDialog
from flsdesk_ui.main_window import MainWindow
from flsdesk_ui.unlock import UnlockDialog
from flsdesk_ui.wizard import SetupWizard
from tests.ui.conftest import PASSPHRASE

RECORD = {
    "1.01": "9434765919",
    "name": "Margaret Ashworth",
    "1.02": "1950-03-02",
    "1.03": "Female",
    "1.09": "2024-03-01",
    "1.11": "Wrist",
}
CLASS_NAME = re.compile(r"\b[a-z_]+\.[a-z_]+\.[A-Za-z_.]+")  # e.g. keyring.backends.fail.Keyring


def rows_of(model) -> list[list[str]]:  # type: ignore[no-untyped-def]
    return [
        [model.index(r, c).data() for c in range(model.columnCount())]
        for r in range(model.rowCount())
    ]


# -- dates and question labels -------------------------------------------------------------------


def test_audit_trail_shows_dates_as_ddmmyyyy_and_questions_by_label(qtbot, store) -> None:
    record_id = store.new_record(RECORD)
    answers = store.load(record_id).answers
    answers["1.02"] = "1950-03-12"
    answers["hospital_number"] = "RX1234567"
    store.save(record_id, answers)
    dialog = AuditDialog(store, record_id)
    qtbot.addWidget(dialog)
    dialog.show()
    rows = rows_of(dialog.findChild(QTableView, "audit_table").model())
    when, who, action = rows[0][:3]
    assert action == "create"
    assert re.fullmatch(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}", when)
    assert abs((datetime.strptime(when, "%d/%m/%Y %H:%M").date() - date.today()).days) <= 1
    assert who.startswith("TS (")
    dob = next(r for r in rows if r[3] == "1.02 Date of birth")
    assert dob[4:] == ["02/03/1950", "12/03/1950"]
    local = next(r for r in rows if r[3] == "Hospital number")
    assert local[4:] == ["", "RX1234567"]


def test_duplicates_view_and_side_by_side_use_labels_and_ddmmyyyy(qtbot, store, app_paths) -> None:
    store.new_record(RECORD)
    store.new_record(dict(RECORD, name="Margaret Ashworth (again)"))
    window = MainWindow(store, app_paths, "TS")
    qtbot.addWidget(window)
    window.show()
    window.act_duplicates.trigger()
    model = window.duplicates.model
    headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(2)]
    assert headers == ["1.01 NHS number", "1.09 Date the index fracture was diagnosed"]
    assert rows_of(model)[0][:2] == ["943 476 5919", "01/03/2024"]
    window.duplicates.view.selectRow(0)
    qtbot.mouseClick(window.duplicates.compare, Qt.MouseButton.LeftButton)
    compare = next(w for w in window.open_windows if w.objectName() == "record_dialog")
    for panel in compare.panels:
        patient = rows_of(panel.models[0])
        assert next(r[:2] for r in patient if r[0].startswith("1.02 ")) == [
            "1.02 Date of birth",
            "02/03/1950",
        ]
        assert next(r[1] for r in patient if r[0].startswith("1.09 ")) == "01/03/2024"
    compare.close()


# -- one passphrase rule -------------------------------------------------------------------------


def test_passphrase_hint_and_refusal_state_the_same_minimum(qtbot, app_paths) -> None:
    minimum = keys.MIN_PASSPHRASE_LENGTH
    wizard = SetupWizard(app_paths)
    qtbot.addWidget(wizard)
    wizard.show()
    page = wizard.service_page
    qtbot.keyClicks(page.site, "Northtown FLS")
    qtbot.keyClicks(page.initials, "ab")
    qtbot.mouseClick(wizard.button(QWizard.WizardButton.NextButton), Qt.MouseButton.LeftButton)
    pp = wizard.passphrase_page
    assert f"at least {minimum} characters" in pp.subTitle()
    one_short = "x" * (minimum - 1)
    qtbot.keyClicks(pp.first, one_short)
    qtbot.keyClicks(pp.second, one_short)
    assert f"at least {minimum} characters" in pp.hint.text()
    assert f"at least {minimum} characters" in pp.problem.text()
    assert not pp.isComplete()
    # One more character: the hint no longer says too short, and it is accepted.
    qtbot.keyClicks(pp.first, "x")
    qtbot.keyClicks(pp.second, "x")
    assert "Too short" not in pp.hint.text()
    assert pp.problem.text() == ""
    assert pp.isComplete()
    assert session.passphrase_strength("x" * minimum)[0] >= 1
    keys.check_new_passphrase("x" * minimum)  # the refusal agrees


# -- the keyring note ----------------------------------------------------------------------------


def test_keyring_note_has_no_class_names(qtbot, app_paths) -> None:
    # The tests run without a secure keyring (tests/conftest.py): the headless case.
    wizard = SetupWizard(app_paths)
    qtbot.addWidget(wizard)
    pp = wizard.passphrase_page
    assert not pp.remember.isEnabled()
    note, tip = pp.remember_note.text(), pp.remember.toolTip()
    assert "no secure keyring" in note
    for text in (note, tip, keys.keyring_status()[1]):
        assert "keyring.backends" not in text
        assert not CLASS_NAME.search(text), text


# -- the recovery-key typo -----------------------------------------------------------------------


def test_a_recovery_key_typo_is_named_in_the_unlock_dialog(qtbot, app_paths) -> None:
    created = session.create(app_paths, PASSPHRASE, "AB", "Northtown FLS", "RX1")
    created.store.close()
    good = created.recovery_key
    # The last character is part of the checksum: any other letter there is a typo.
    typo = good[:-1] + ("A" if good[-1] != "A" else "B")
    dialog = UnlockDialog(app_paths, None)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.initials, "ab")
    qtbot.mouseClick(dialog.use_recovery, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(dialog.secret, typo)
    qtbot.keyClick(dialog.secret, Qt.Key.Key_Return)
    assert dialog.data_key is None
    assert "typo" in dialog.error.text()
    assert "8 groups of 5" in dialog.error.text()
    # A well-formed key of another store is "not right", not a typo.
    other = keys.new_recovery_key()
    dialog.secret.clear()
    qtbot.keyClicks(dialog.secret, other)
    qtbot.keyClick(dialog.secret, Qt.Key.Key_Return)
    assert "recovery key is not right" in dialog.error.text()
    assert "typo" not in dialog.error.text()
    dialog.secret.clear()
    qtbot.keyClicks(dialog.secret, good)
    qtbot.keyClick(dialog.secret, Qt.Key.Key_Return)
    assert dialog.data_key == created.data_key


# -- About says what is provisional --------------------------------------------------------------


def test_about_states_that_the_dataset_and_format_are_provisional(qtbot, store, app_paths) -> None:
    dialog = AboutDialog(store, app_paths)
    qtbot.addWidget(dialog)
    text = dialog.findChild(QPlainTextEdit, "about_text").toPlainText()
    assert "Provisional" in text
    provisional = text[text.index("Provisional") : text.index("Data folder")]
    assert "FLS-DB patient dataset" in provisional
    assert "FLS-DB webtool import CSV: the whole format." in provisional
    assert "01/01/2016" in provisional  # the date it applies from, as people write dates
