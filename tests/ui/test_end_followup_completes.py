"""Issue 12 point 8, as the nurse did it: End follow-up on the worklist, with a reason, makes the
record Complete and the patient list says why its follow-up ended."""

from __future__ import annotations

from datetime import timedelta

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from flsdesk import session
from flsdesk.paths import resolve
from flsdesk.rules import COMPLETE, DRAFT
from flsdesk_ui.main_window import MainWindow
from flsdesk_ui.patient_model import NEXT_FOLLOWUP
from tests.ui.conftest import Driver

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def paths():
    return resolve(None)


@pytest.fixture
def store(paths):
    created = session.create(paths, PASSPHRASE, "AB", "Northtown FLS", "RXX01")
    yield created.store
    created.store.close()


def lite_complete_but_the_follow_ups(store, nhs: str, name: str, day: int) -> dict:
    diagnosed = store.today() - timedelta(days=day)
    return {
        "1.01": nhs,
        "1.02": "1944-05-06",
        "1.03": "Female",
        "1.05": "No",
        "1.06": (diagnosed + timedelta(days=3)).isoformat(),
        "1.07": (diagnosed + timedelta(days=10)).isoformat(),
        "1.08": "No",
        "1.09": diagnosed.isoformat(),
        "1.11": "Wrist",
        "3.01": "Not ordered",
        "4.01": ["Alendronate"],
        "5.01": "Not assessed",
        "name": name,
        "hospital_number": f"RX{day:05d}",
    }


def list_cell(window: MainWindow, record_id: int, key: str) -> str:
    model = window.patients.model
    column = [c.key for c in model.columns].index(key)
    return model.index(model.row_of(record_id), column).data()


def test_end_follow_up_makes_the_record_complete_and_the_list_says_why(qtbot, store, paths) -> None:
    # Day 400: the 16-week follow-up is missed, the 52-week one overdue; both are required.
    ended = store.new_record(
        lite_complete_but_the_follow_ups(store, "9434765919", "Margaret Ashworth", 400)
    )
    other = store.new_record(
        lite_complete_but_the_follow_ups(store, "4010232137", "Harold Binns", 400)
    )
    window = MainWindow(store, paths, "AB")
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    assert list_cell(window, ended, "status") == f"{DRAFT} (2 missing)"  # 6.01 and 7.01
    assert list_cell(window, ended, NEXT_FOLLOWUP).startswith("52-week from ")

    window.act_followups.trigger()
    page = window.followups
    row = page.model.find(ended, "52")
    assert row >= 0
    rect = page.view.visualRect(page.model.index(row, 1))
    qtbot.mouseClick(page.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert page.selected() is not None and page.selected().record_id == ended

    def choose_moved_away(dialog) -> None:  # type: ignore[no-untyped-def]
        assert dialog.objectName() == "end_followup_dialog"
        dialog.reason.setFocus()
        qtbot.keyClicks(dialog.reason, "Moved")
        assert dialog.reason.currentText() == "Moved away"
        ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
        qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)

    driver = Driver(choose_moved_away)
    qtbot.mouseClick(page.end_button, Qt.MouseButton.LeftButton)
    assert driver.check() == ["end_followup_dialog"]

    # The worklist no longer lists the record; the patient list shows it Complete and why.
    assert not [r for r in page.model.rows if r.record_id == ended]
    assert list_cell(window, ended, "status") == COMPLETE
    assert list_cell(window, ended, NEXT_FOLLOWUP) == "ended: moved away"
    # The other patient is untouched.
    assert list_cell(window, other, "status") == f"{DRAFT} (2 missing)"
    assert list_cell(window, other, NEXT_FOLLOWUP).startswith("52-week from ")

    record = store.load(ended)
    assert record.status == COMPLETE
    assert (record.answers["6.01"], record.answers["7.01"]) == ("No", "No")
    audited = {i.question for i in store.audit_trail(ended) if i.reason == "Follow-up ended"}
    assert {"6.01", "7.01", "followup_ended_reason", "followup_ended_date"} <= audited
