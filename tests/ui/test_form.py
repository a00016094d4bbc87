"""The record form, driven as a person drives it: keys typed into real widgets, Tab between
fields, a real encrypted store underneath."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QComboBox, QLabel, QLineEdit, QListWidget, QWidget

from flsdesk.rules import COMPLETE, NEEDS_CORRECTION
from flsdesk.store.store import Store
from flsdesk_ui.form.builder import LOCAL_NOTE
from flsdesk_ui.form.widgets import NO_LONGER_OFFERED
from flsdesk_ui.form.window import RecordWindow
from tests.ui.conftest import StoreBox

NHS = "9434765919"  # NHS Digital's own example number (valid Modulus 11)


# -- helpers: what a person does -----------------------------------------------------------------


def focused() -> QWidget:
    widget = QApplication.focusWidget()
    assert widget is not None, "nothing has the keyboard focus"
    return widget


def type_then_tab(qtbot, expected: str, text: str) -> None:  # type: ignore[no-untyped-def]
    """Type into the field that has the focus (it must be ``expected``), then press Tab."""
    widget = focused()
    assert widget.objectName() == expected, f"focus is on {widget.objectName()!r}"
    if text:
        qtbot.keyClicks(widget, text)
    qtbot.keyClick(widget, Qt.Key.Key_Tab)


def tick_then_tab(qtbot, expected: str, labels: list[str]) -> None:  # type: ignore[no-untyped-def]
    """In a check list: arrow to each answer and press Space, then Tab on."""
    widget = focused()
    assert widget.objectName() == expected, f"focus is on {widget.objectName()!r}"
    assert isinstance(widget, QListWidget)
    for label in labels:
        target = next(i for i in range(widget.count()) if widget.item(i).text() == label)
        qtbot.keyClick(widget, Qt.Key.Key_Home)
        for _ in range(target):
            qtbot.keyClick(widget, Qt.Key.Key_Down)
        qtbot.keyClick(widget, Qt.Key.Key_Space)
    qtbot.keyClick(widget, Qt.Key.Key_Tab)


def next_tab(qtbot) -> None:  # type: ignore[no-untyped-def]
    qtbot.keyClick(focused(), Qt.Key.Key_PageDown, Qt.KeyboardModifier.ControlModifier)


def field(window: RecordWindow, name: str) -> QWidget:
    widget = window.findChild(QWidget, name)
    assert widget is not None, f"no widget named {name}"
    return widget


def pick(qtbot, window: RecordWindow, name: str, text: str) -> None:  # type: ignore[no-untyped-def]
    """Put the cursor in a field (as a click would) and type into it; the combo type-ahead
    needs a pause between two searches in the same box."""
    widget = field(window, name)
    widget.setFocus()
    if isinstance(widget, QComboBox):
        qtbot.wait(QApplication.keyboardInputInterval() + 50)
    elif isinstance(widget, QLineEdit):
        widget.selectAll()
    qtbot.keyClicks(widget, text)


def checked(widget: QListWidget) -> list[str]:
    return [
        widget.item(i).text()
        for i in range(widget.count())
        if widget.item(i).checkState() == Qt.CheckState.Checked
    ]


# -- the tests -----------------------------------------------------------------------------------


EXPECTED_WRIST: dict[str, Any] = {
    "1.01": NHS,
    "1.02": "1950-03-04",
    "1.03": "Female",
    "1.04": "AB1 2CD",
    "1.05": "No",
    "1.06": "2025-03-15",
    "1.07": "2025-04-01",
    "1.08": "No",
    "1.09": "2025-03-10",
    "1.10": "Clinical",
    "1.11": "Wrist",
    "name": "Ada Testcase",
    "hospital_number": "H1234567",
    "notes": "Seen in fracture clinic",
    "optout_status": "Checked, not opted out",
    "optout_date": "2025-04-01",
    "2.01": 162,
    "2.02": 58.5,
    "2.03": "No",
    "2.04": "Yes",
    "2.05": "No",
    "2.06": "No",
    "3.01": "Ordered or recommended",
    "3.03": "2025-03-20",
    "3.04": -2.7,
    "3.05": 12.5,
    "4.01": ["Alendronate"],
    "4.02": "Calcium and vitamin D combined",
    "5.01": "Assessed by FLS",
    "5.02": "No",
    "5.03": "No",
    "5.04": "Don't know",
    "5.05": "Independent",
    "5.06": "No",
    "5.07": "No",
    "5.08": "No",
    "5.09": "No",
    "5.10": ["Physiotherapy"],
    "6.01": "Yes",
    "6.02": "2025-07-01",
    "6.03": "Yes",
    "6.04": "Yes",
    "6.05": "Alendronate",
    "6.06": "Yes",
    "7.01": "No",
}


def test_a_complete_record_by_keyboard_only_survives_a_restart(
    qtbot, store_box: StoreBox, open_form
) -> None:
    window = open_form()
    assert window.record_id is None
    # Patient: the cursor starts in the patient's name, then the hospital number (what a
    # clinician has in hand first); Tab walks the visual order.
    type_then_tab(qtbot, "local_name", "Ada Testcase")
    assert window.record_id is not None  # created at the first change, saved on leaving
    record_id = window.record_id
    type_then_tab(qtbot, "local_hospital_number", "H1234567")
    type_then_tab(qtbot, "q_1_01", "943 476 5919")
    type_then_tab(qtbot, "q_1_02", "04/03/1950")
    type_then_tab(qtbot, "q_1_03", "F")
    type_then_tab(qtbot, "q_1_04", "AB1 2CD")
    type_then_tab(qtbot, "q_1_05", "N")
    type_then_tab(qtbot, "q_1_06", "15/03/2025")
    type_then_tab(qtbot, "q_1_07", "01/04/2025")
    type_then_tab(qtbot, "q_1_08", "N")
    type_then_tab(qtbot, "q_1_09", "10/03/2025")
    type_then_tab(qtbot, "q_1_10", "C")
    type_then_tab(qtbot, "q_1_11", "W")
    type_then_tab(qtbot, "q_1_12", "")  # shown now 1.11 is answered; left blank
    # 1.13 stays hidden (1.12 unanswered), so Tab skips it.
    for contact in ("local_contact_phone", "local_contact_phone_2", "local_gp_practice"):
        type_then_tab(qtbot, contact, "")  # left blank here (see test_followups_worklist)
    type_then_tab(qtbot, "local_notes", "Seen in fracture clinic")
    type_then_tab(qtbot, "local_optout_status", "C")
    type_then_tab(qtbot, "local_optout_date", "01/04/2025")

    next_tab(qtbot)
    type_then_tab(qtbot, "q_2_01", "162")
    type_then_tab(qtbot, "q_2_02", "58.5")
    for name, key in (("q_2_03", "N"), ("q_2_04", "Y"), ("q_2_05", "N"), ("q_2_06", "N")):
        type_then_tab(qtbot, name, key)

    next_tab(qtbot)
    type_then_tab(qtbot, "q_3_01", "O")
    type_then_tab(qtbot, "q_3_03", "20/03/2025")  # 3.02 hidden: DXA was ordered
    type_then_tab(qtbot, "q_3_03_special", "")  # the "Patient did not attend" tick box
    type_then_tab(qtbot, "q_3_04", "-2.7")
    type_then_tab(qtbot, "q_3_05", "12.5")

    next_tab(qtbot)
    tick_then_tab(qtbot, "q_4_01", ["Alendronate"])
    type_then_tab(qtbot, "q_4_02", "C")

    next_tab(qtbot)
    type_then_tab(qtbot, "q_5_01", "A")
    for name, key in (("q_5_02", "N"), ("q_5_03", "N"), ("q_5_04", "D"), ("q_5_05", "I")):
        type_then_tab(qtbot, name, key)
    for name in ("q_5_06", "q_5_07", "q_5_08", "q_5_09"):
        type_then_tab(qtbot, name, "N")
    tick_then_tab(qtbot, "q_5_10", ["Physiotherapy"])

    next_tab(qtbot)
    type_then_tab(qtbot, "q_6_01", "Y")
    type_then_tab(qtbot, "q_6_02", "01/07/2025")
    type_then_tab(qtbot, "q_6_03", "Y")
    type_then_tab(qtbot, "q_6_04", "Y")
    type_then_tab(qtbot, "q_6_05", "A")
    type_then_tab(qtbot, "q_6_06", "Y")
    type_then_tab(qtbot, "q_7_01", "N")

    assert window.badge.text() == COMPLETE
    assert window.missing.count() == 0
    # Esc closes the record; everything is already saved.
    qtbot.keyClick(focused(), Qt.Key.Key_Escape)
    assert not window.isVisible()

    store = store_box.restart()
    record = store.load(record_id)
    assert record.answers == EXPECTED_WRIST
    assert record.status == COMPLETE

    again = open_form(record_id, store=store)
    assert field(again, "q_1_01").text() == "943 476 5919"
    assert field(again, "q_1_02").text() == "04/03/1950"
    assert field(again, "q_1_11").currentText() == "Wrist"
    assert checked(field(again, "q_4_01")) == ["Alendronate"]
    assert again.badge.text() == COMPLETE
    assert again.indicator.text().startswith("Saved")


def test_606_hides_for_a_hip_fracture_and_its_answer_comes_back(
    qtbot, store: Store, open_form
) -> None:
    record_id = store.new_record(
        {"1.01": NHS, "1.09": "2025-03-10", "1.11": "Wrist", "4.01": ["Alendronate"]}
        | {"6.01": "Yes", "6.06": "Yes"}
    )
    window = open_form(record_id)
    row = window.row("6.06")
    assert not row.isHidden()

    pick(qtbot, window, "q_1_11", "Hi")
    assert field(window, "q_1_11").currentText() == "Hip"
    assert row.isHidden()  # at once, before any save
    # The tab says why, in one line taken from the definition file.
    note = window.findChild(QLabel, "q_6_06_hidden_note")
    assert not note.isHidden()
    assert note.text() == store.definitions.latest.questions["6.06"].hidden_note
    assert "hip fracture" in note.text()
    assert window.answers["6.06"] == "Yes"  # kept, not erased
    assert window.flush()
    assert store.load(record_id).answers["6.06"] == "Yes"
    assert "6.06" not in window.evaluation.effective  # the rules ignore it while hidden

    pick(qtbot, window, "q_1_11", "W")
    assert field(window, "q_1_11").currentText() == "Wrist"
    assert not row.isHidden()
    assert note.isHidden()
    assert field(window, "q_6_06").currentText() == "Yes"
    assert row.input.stale  # greyed until confirmed
    assert row.keep_bar is not None and not row.keep_bar.isHidden()
    qtbot.mouseClick(row.keep_button, Qt.MouseButton.LeftButton)
    assert not row.input.stale
    assert row.keep_bar.isHidden()


def test_followup_not_required_when_401_is_inappropriate(qtbot, store: Store, open_form) -> None:
    window = open_form(tab="initiation")
    followup = window.tabs.indexOf(window.findChild(QWidget, "tab_followup"))
    tick_then_tab(qtbot, "q_4_01", ["Alendronate"])
    assert window.tabs.tabText(followup) == "Follow-up"
    assert not window.row("6.01").isHidden()

    pick(qtbot, window, "q_4_01", "")
    tick_then_tab(qtbot, "q_4_01", ["Inappropriate"])
    assert window.tabs.tabText(followup) == "Follow-up not required"
    notice = field(window, "tab_followup_not_applicable")
    assert not notice.isHidden()
    assert "Follow-up not required" in notice.text()
    assert window.row("6.01").isHidden()
    assert window.row("followup_ended_reason").isHidden()
    window.flush()
    assert store.load(window.record_id).answers["4.01"] == ["Inappropriate"]


def test_exclusive_answers_of_401(qtbot, open_form) -> None:
    window = open_form(tab="initiation")
    therapy = field(window, "q_4_01")
    assert isinstance(therapy, QListWidget)
    tick_then_tab(qtbot, "q_4_01", ["Alendronate", "Denosumab"])
    assert checked(therapy) == ["Alendronate", "Denosumab"]

    therapy.setFocus()
    tick_then_tab(qtbot, "q_4_01", ["Inappropriate"])
    assert checked(therapy) == ["Inappropriate"]  # an exclusive answer stands alone

    therapy.setFocus()
    tick_then_tab(qtbot, "q_4_01", ["Don't know"])
    assert checked(therapy) == ["Don't know"]  # …and replaces another exclusive one

    therapy.setFocus()
    tick_then_tab(qtbot, "q_4_01", ["Risedronate"])
    assert checked(therapy) == ["Risedronate"]  # a drug unticks the exclusive answer
    assert window.answers["4.01"] == ["Risedronate"]
    assert "4.01" not in window.evaluation.errors


def test_a_duplicate_key_is_flagged_with_a_link_to_the_other_record(
    qtbot, store: Store, open_form
) -> None:
    other = store.new_record({"1.01": NHS, "1.09": "2025-03-10", "name": "First Record"})
    window = open_form()
    pick(qtbot, window, "q_1_01", NHS)
    qtbot.keyClick(focused(), Qt.Key.Key_Tab)
    pick(qtbot, window, "q_1_09", "10/03/2025")
    qtbot.keyClick(focused(), Qt.Key.Key_Tab)

    nhs_row = window.row("1.01")
    assert not nhs_row.messages.isHidden()
    assert f"record {other}" in nhs_row.messages.text()
    assert f'href="record:{other}"' in nhs_row.messages.text()
    assert window.badge.text() == NEEDS_CORRECTION
    # Saved all the same, and the other record is flagged too.
    assert store.load(window.record_id).status == NEEDS_CORRECTION
    assert store.load(other).status == NEEDS_CORRECTION

    with qtbot.waitSignal(window.open_record_requested) as clicked:
        nhs_row.messages.linkActivated.emit(f"record:{other}")
    assert clicked.args == [other]

    # The same link for the keyboard and mouse, in the side panel.
    problems = window.problems
    link = next(
        problems.item(i)
        for i in range(problems.count())
        if problems.item(i).text().endswith(f"Open record {other}")
    )
    with qtbot.waitSignal(window.open_record_requested) as clicked:
        rect = problems.visualItemRect(link)
        qtbot.mouseClick(problems.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert clicked.args == [other]


def test_no_record_is_created_by_opening_and_closing(qtbot, store: Store, open_form) -> None:
    window = open_form(prefill={"1.01": NHS, "name": "Prefilled"})
    assert field(window, "q_1_01").text() == "943 476 5919"
    window.close()
    assert window.record_id is None
    assert store.live_count() == 0


def test_autosave_within_a_second_and_a_truthful_indicator(qtbot, store: Store, open_form) -> None:
    record_id = store.new_record({"1.01": NHS})
    window = open_form(record_id)
    pick(qtbot, window, "q_1_04", "ZZ9 9ZZ")  # typed, the field not left
    assert window.indicator.text() == "Saving…"
    assert store.load(record_id).answers.get("1.04") is None
    qtbot.waitUntil(lambda: store.load(record_id).answers.get("1.04") == "ZZ9 9ZZ", timeout=1000)
    assert window.indicator.text().startswith("Saved ")


def test_leaving_a_field_and_ctrl_s_save_at_once(qtbot, store: Store, open_form) -> None:
    record_id = store.new_record({"1.01": NHS})
    window = open_form(record_id)
    pick(qtbot, window, "q_1_04", "AB1")
    qtbot.keyClick(focused(), Qt.Key.Key_Tab)
    assert store.load(record_id).answers["1.04"] == "AB1"

    pick(qtbot, window, "local_hospital_number", "H42")
    qtbot.keyClick(focused(), Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert store.load(record_id).answers["hospital_number"] == "H42"
    assert not window.pending

    # Enter saves too, and keeps what was typed.
    pick(qtbot, window, "local_hospital_number", "H43")
    qtbot.keyClick(focused(), Qt.Key.Key_Return)
    assert field(window, "local_hospital_number").text() == "H43"
    assert store.load(record_id).answers["hospital_number"] == "H43"
    assert window.isVisible()


def test_typing_is_never_refused(qtbot, store: Store, open_form) -> None:
    record_id = store.new_record({"1.01": NHS, "1.09": "2025-03-10"})
    window = open_form(record_id)
    pick(qtbot, window, "q_1_02", "31/02/1950")
    qtbot.keyClick(focused(), Qt.Key.Key_Tab)
    pick(qtbot, window, "q_2_01", "tall")
    qtbot.keyClick(focused(), Qt.Key.Key_Tab)
    saved = store.load(record_id)
    assert saved.answers["1.02"] == "31/02/1950"
    assert saved.answers["2.01"] == "tall"
    assert saved.status == NEEDS_CORRECTION
    assert "Not a date: type it as dd/mm/yyyy." in window.row("1.02").messages.text()
    assert "must be a number" in window.row("2.01").messages.text()
    assert "Not a date" in " ".join(
        window.problems.item(i).text() for i in range(window.problems.count())
    )


def test_a_warning_is_amber_and_an_error_red(qtbot, store: Store, open_form) -> None:
    from flsdesk_ui.form.builder import ERROR_COLOUR, WARNING_COLOUR

    record_id = store.new_record(
        {"1.01": NHS, "1.09": "2025-03-10", "1.06": "2025-03-01", "2.01": 500}
    )
    window = open_form(record_id)
    assert WARNING_COLOUR in window.row("1.06").messages.text()
    assert "first FLS contact is before" in window.row("1.06").messages.text()
    assert ERROR_COLOUR in window.row("2.01").messages.text()
    assert "must be between" in window.row("2.01").messages.text()


def test_an_answer_no_longer_offered_is_shown_and_kept(qtbot, store: Store, open_form) -> None:
    record_id = store.new_record(
        {"1.01": NHS, "1.03": "Unknown", "4.01": ["Alendronate", "Calcitonin"]}
    )
    window = open_form(record_id)
    gender = field(window, "q_1_03")
    assert gender.currentText() == f"Unknown {NO_LONGER_OFFERED}"
    assert f"Calcitonin {NO_LONGER_OFFERED}" in checked(field(window, "q_4_01"))
    assert "no longer offered" in window.row("1.03").messages.text()

    pick(qtbot, window, "q_1_04", "AB1")  # another field changes: the odd answers stay
    qtbot.keyClick(focused(), Qt.Key.Key_Tab)
    saved = store.load(record_id).answers
    assert saved["1.03"] == "Unknown"
    assert saved["4.01"] == ["Alendronate", "Calcitonin"]

    pick(qtbot, window, "q_1_03", "F")
    qtbot.keyClick(focused(), Qt.Key.Key_Tab)
    assert store.load(record_id).answers["1.03"] == "Female"
    assert "1.03" not in window.evaluation.errors


def test_missing_panel_jumps_to_the_question(qtbot, store: Store, open_form) -> None:
    record_id = store.new_record({"1.01": NHS, "1.09": "2025-03-10"})
    window = open_form(record_id)
    missing = window.missing
    item = next(
        missing.item(i) for i in range(missing.count()) if missing.item(i).text().startswith("5.01")
    )
    rect = missing.visualItemRect(item)
    qtbot.mouseClick(missing.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.tabs.currentWidget().objectName() == "tab_falls"
    assert focused().objectName() == "q_5_01"
    assert window.badge.text().startswith("Draft")


def test_ctrl_page_keys_switch_tabs_and_show_tab(qtbot, open_form) -> None:
    window = open_form()
    assert window.tabs.currentIndex() == 0
    next_tab(qtbot)
    assert window.tabs.currentWidget().objectName() == "tab_investigation"
    assert focused().objectName() == "q_2_01"
    qtbot.keyClick(focused(), Qt.Key.Key_PageUp, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentIndex() == 0
    window.show_tab("followup")
    assert window.tabs.currentWidget().objectName() == "tab_followup"


def test_every_input_is_named_and_labelled(store: Store, open_form) -> None:
    window = open_form()
    definition = store.definitions.latest
    for question in definition.questions.values():
        widget = field(window, question.object_name)
        assert widget.accessibleName() == question.label
        assert widget.focusPolicy() & Qt.FocusPolicy.TabFocus
    assert field(window, "q_1_11").objectName() == "q_1_11"
    for local in definition.local_fields:
        badge = window.findChild(QWidget, f"{local.object_name}_local")
        assert badge is not None and badge.text() == LOCAL_NOTE
    # The provisional status of the dataset belongs in About and the README, not beside fields.
    assert [q for q in definition.questions.values() if q.provisional]
    shown = [label.text() for label in window.findChildren(QLabel) if not label.isHidden()]
    assert shown and not any("provisional" in text.lower() for text in shown)


def test_a_deleted_record_opens_read_only(qtbot, store: Store, open_form) -> None:
    record_id = store.new_record({"1.01": NHS})
    store.delete(record_id, "Test record", None)
    window = open_form(record_id)
    assert not field(window, "q_1_01").isEnabled()
    assert not window.banner.isHidden()
    assert window.flush()


@pytest.mark.parametrize("special", ["Patient did not attend"])
def test_a_date_special_answer_by_tick_box(qtbot, store: Store, open_form, special: str) -> None:
    record_id = store.new_record({"1.01": NHS, "3.01": "Ordered or recommended"})
    window = open_form(record_id, tab="dxa")
    box = field(window, "q_3_03_special")
    box.setFocus()
    qtbot.keyClick(box, Qt.Key.Key_Space)
    assert box.isChecked()
    qtbot.keyClick(box, Qt.Key.Key_Tab)
    assert store.load(record_id).answers["3.03"] == special
    assert not field(window, "q_3_03").isEnabled()


def test_tabs_not_in_view_are_built_when_needed(qtbot, store: Store) -> None:
    window = RecordWindow(store, tab="dxa")
    qtbot.addWidget(window)
    assert window.findChild(QWidget, "q_3_01") is not None  # the tab it opens on
    assert window.findChild(QWidget, "q_5_01") is None  # built just after it shows
    window.show_tab("falls")
    assert window.findChild(QWidget, "q_5_01") is not None
    assert window.row("6.01").isHidden()  # built hidden: the Follow-up tab does not apply yet
    window.show()
    qtbot.waitUntil(lambda: window.fully_built, timeout=20_000)
