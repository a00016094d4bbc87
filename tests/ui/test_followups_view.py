"""The Follow-ups page as a nurse uses it: real widgets, a real encrypted store, a fixed day."""

from __future__ import annotations

import os
import stat
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtPrintSupport import QPrinter
from PySide6.QtWidgets import QDialogButtonBox, QFileDialog

from flsdesk import followups as fu
from flsdesk import session
from flsdesk.paths import resolve
from flsdesk_ui.followups_view import CallAttemptDialog, EndFollowupDialog, FollowupsPage
from tests.ui.conftest import Driver

PASSPHRASE = "correct horse battery staple"
TODAY = date(2025, 6, 2)


def answers(nhs: str, name: str, day: int, **extra: Any) -> dict[str, Any]:
    a: dict[str, Any] = {
        "1.01": nhs,
        "1.02": "1944-05-06",
        "1.03": "Female",
        "1.09": (TODAY - timedelta(days=day)).isoformat(),
        "1.11": "Hip",
        "4.01": ["Alendronate", "Zoledronate"],
        "name": name,
        "hospital_number": f"RX{day:05d}",
    }
    a.update(extra)
    return a


@pytest.fixture
def store():
    created = session.create(resolve(None), PASSPHRASE, "AB", "Northtown FLS", "RXX01")
    yield created.store
    created.store.close()


@pytest.fixture
def ids(store) -> dict[str, int]:
    return {
        "due": store.new_record(answers("9434765919", "Margaret Ashworth", 90)),
        "both": store.new_record(answers("4010232137", "Harold Binns", 320)),  # 16 over, 52 up
        "missed": store.new_record(answers("9876543210", "Ingrid Castellano", 500)),
        "upcoming": store.new_record(answers("6541237891", "Dev Evans", 60)),
        "none": store.new_record(
            answers("4505577104", "Elsie Frost", 90, **{"4.01": ["Inappropriate"]})
        ),
    }


@pytest.fixture
def page(qtbot, store, ids) -> FollowupsPage:
    p = FollowupsPage(store, today=lambda: TODAY)
    qtbot.addWidget(p)
    p.resize(1400, 600)
    p.show()
    qtbot.waitExposed(p)
    return p


def listed(page: FollowupsPage) -> list[tuple[int, str]]:
    return [(r.record_id, r.window_id) for r in page.model.rows]


def cell(page: FollowupsPage, row: int, key: str) -> str:
    return page.model.index(row, page.model.column(key)).data()


def select(qtbot, page: FollowupsPage, record_id: int, window_id: str) -> int:
    row = page.model.find(record_id, window_id)
    assert row >= 0
    rect = page.view.visualRect(page.model.index(row, 1))
    qtbot.mouseClick(page.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert page.selected() is not None and page.selected().record_id == record_id
    return row


def click_ok(qtbot, dialog) -> None:
    box = dialog.findChild(QDialogButtonBox)
    qtbot.mouseClick(box.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)


def test_lists_the_open_follow_ups_with_their_columns(page: FollowupsPage, ids) -> None:
    assert set(listed(page)) == {
        (ids["due"], "16"),
        (ids["both"], "16"),
        (ids["both"], "52"),
        (ids["upcoming"], "16"),
        (ids["missed"], "52"),  # day 500: 16 missed (hidden), 52 overdue
    }
    row = page.model.find(ids["due"], "16")
    assert cell(page, row, "nhs_number") == "943 476 5919"
    assert cell(page, row, "name") == "Margaret Ashworth"
    assert cell(page, row, "hospital_number") == "RX00090"
    assert cell(page, row, "diagnosed") == (TODAY - timedelta(days=90)).strftime("%d/%m/%Y")
    assert cell(page, row, "site") == "Hip"
    assert cell(page, row, "bone_therapy") == "Alendronate, Zoledronate"
    assert cell(page, row, "label") == "16-week"
    d = TODAY - timedelta(days=90)
    assert cell(page, row, "window") == (
        f"{d + timedelta(days=84):%d/%m/%Y}–{d + timedelta(days=112):%d/%m/%Y}"
    )
    assert cell(page, row, "state") == "due, 23 days left"
    assert cell(page, row, "last_attempt") == ""
    assert page.heading.text() == "Follow-ups on 02/06/2025"


def test_enter_and_double_click_open_the_record_on_its_follow_up_tab(
    qtbot, page: FollowupsPage, ids
) -> None:
    opened: list[tuple[int, str]] = []
    page.open_record_requested.connect(lambda rid, tab: opened.append((rid, tab)))
    row = select(qtbot, page, ids["both"], "52")
    qtbot.keyClick(page.view, Qt.Key.Key_Return)
    assert opened == [(ids["both"], "followup")]
    rect = page.view.visualRect(page.model.index(row, 2))
    qtbot.mouseDClick(page.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert opened == [(ids["both"], "followup")] * 2  # once per double-click, not twice
    select(qtbot, page, ids["due"], "16")
    qtbot.keyClick(page.view, Qt.Key.Key_Enter)
    assert opened[-1] == (ids["due"], "followup")


def test_filters_and_counts(qtbot, store, ids) -> None:
    received: list[dict] = []
    p = FollowupsPage(store, today=lambda: TODAY)
    qtbot.addWidget(p)
    p.counts_changed.connect(received.append)
    p.show()
    expected = {"upcoming": 2, "due": 1, "overdue": 2, "missed": 1, "open": 5}
    assert p.counts() == expected
    assert p.filters["due"].text() == "Due (1)"
    assert p.filters["missed"].text() == "Missed (1)"
    assert not p.filters["missed"].isChecked()
    qtbot.mouseClick(p.filters["missed"], Qt.MouseButton.LeftButton)
    assert (ids["missed"], "16") in listed(p)
    assert received and received[-1] == expected
    for state in ("upcoming", "due", "overdue"):
        qtbot.mouseClick(p.filters[state], Qt.MouseButton.LeftButton)
    assert listed(p) == [(ids["missed"], "16")]
    qtbot.mouseClick(p.filters["missed"], Qt.MouseButton.LeftButton)
    assert listed(p) == []
    assert p.empty.isVisible()
    assert not p.print_button.isEnabled() and not p.csv_button.isEnabled()


def test_a_call_attempt_is_logged_and_shown(qtbot, page: FollowupsPage, store, ids) -> None:
    select(qtbot, page, ids["both"], "16")

    def fill(dialog: CallAttemptDialog) -> None:
        dialog.outcome.setFocus()
        qtbot.keyClicks(dialog.outcome, "Left")
        assert dialog.outcome.currentText() == "Left message"
        assert dialog.called_on.text() == "02/06/2025"
        assert dialog.retry_on.text() == "03/06/2025"  # tomorrow, by default
        dialog.retry_on.clear()
        qtbot.keyClicks(dialog.retry_on, "5/6/2025")
        assert dialog.retry_on.value() == date(2025, 6, 5)
        click_ok(qtbot, dialog)

    driver = Driver(fill)
    qtbot.mouseClick(page.log_button, Qt.MouseButton.LeftButton)
    assert driver.check() == ["call_attempt_dialog"]
    row = page.model.find(ids["both"], "16")
    assert cell(page, row, "last_attempt") == "02/06/2025 Left message"
    assert cell(page, row, "try_again_on") == "05/06/2025"
    assert page.selected().record_id == ids["both"]  # the row stays selected
    # Only that follow-up: the 52-week row of the same patient has no call yet.
    assert cell(page, page.model.find(ids["both"], "52"), "last_attempt") == ""
    [attempt] = fu.call_attempts(store.engine, ids["both"])
    assert (attempt.outcome, attempt.try_again_on) == ("Left message", date(2025, 6, 5))
    assert attempt.who.startswith("AB")


def test_a_refused_call_attempt_keeps_the_dialog_open(qtbot, page: FollowupsPage, ids) -> None:
    select(qtbot, page, ids["due"], "16")
    steps: list[str] = []

    def fill(dialog: CallAttemptDialog) -> None:
        if not steps:
            # Not a date: the dialog says how to type it and stays open.
            dialog.retry_on.clear()
            qtbot.keyClicks(dialog.retry_on, "next week")
            click_ok(qtbot, dialog)
            assert dialog.isVisible()
            assert "dd/mm/yyyy" in dialog.problem.text()
            # "Try again on" before the call: the core refuses, the dialog says why.
            dialog.retry_on.clear()
            qtbot.keyClicks(dialog.retry_on, "01/05/2025")
            steps.append("first")
            QTimer.singleShot(50, lambda: fill(dialog))
            click_ok(qtbot, dialog)
            return
        assert dialog.problem.isVisible()
        assert "before the date of the call" in dialog.problem.text()
        dialog.retry_on.clear()  # blank: no need to call again
        click_ok(qtbot, dialog)

    driver = Driver(fill)
    qtbot.mouseClick(page.log_button, Qt.MouseButton.LeftButton)
    driver.check()
    row = page.model.find(ids["due"], "16")
    assert cell(page, row, "last_attempt") == "02/06/2025 No answer"
    assert cell(page, row, "try_again_on") == ""


def test_end_follow_up_removes_both_rows(qtbot, page: FollowupsPage, store, ids) -> None:
    changed: list[bool] = []
    page.records_changed.connect(lambda: changed.append(True))
    select(qtbot, page, ids["both"], "52")

    def fill(dialog: EndFollowupDialog) -> None:
        ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
        assert not ok.isEnabled()  # a reason is required
        assert [dialog.reason.itemText(i) for i in range(1, dialog.reason.count())] == (
            fu.end_reasons(store.definitions.latest)
        )
        dialog.reason.setFocus()
        qtbot.keyClicks(dialog.reason, "Disch")
        assert dialog.reason.currentText() == "Discharged to GP"
        click_ok(qtbot, dialog)

    driver = Driver(fill)
    qtbot.mouseClick(page.end_button, Qt.MouseButton.LeftButton)
    assert driver.check() == ["end_followup_dialog"]
    assert not [r for r in listed(page) if r[0] == ids["both"]]
    assert changed == [True]
    assert page.counts()["open"] == 3
    record = store.load(ids["both"])
    assert record.answers["followup_ended_reason"] == "Discharged to GP"


def test_cancelling_end_follow_up_changes_nothing(qtbot, page: FollowupsPage, ids) -> None:
    select(qtbot, page, ids["both"], "16")

    def cancel(dialog) -> None:
        box = dialog.findChild(QDialogButtonBox)
        qtbot.mouseClick(
            box.button(QDialogButtonBox.StandardButton.Cancel), Qt.MouseButton.LeftButton
        )

    driver = Driver(cancel)
    qtbot.mouseClick(page.end_button, Qt.MouseButton.LeftButton)
    driver.check()
    assert (ids["both"], "16") in listed(page)


def test_recording_the_follow_up_removes_the_row_on_refresh(
    page: FollowupsPage, store, ids
) -> None:
    received: list[dict] = []
    page.counts_changed.connect(received.append)
    record = store.load(ids["due"])
    store.save(ids["due"], {**record.answers, "6.01": "Yes", "6.02": TODAY.isoformat()})
    page.refresh()
    assert (ids["due"], "16") not in listed(page)
    assert received[-1]["due"] == 0


def test_sort_by_try_again_on(qtbot, page: FollowupsPage, store, ids) -> None:
    fu.log_call_attempt(store, ids["upcoming"], "16", TODAY, "No answer", TODAY)
    fu.log_call_attempt(store, ids["due"], "16", TODAY, "No answer", TODAY + timedelta(days=4))
    page.refresh()
    qtbot.mouseClick(page.retry_sort, Qt.MouseButton.LeftButton)
    order = listed(page)
    assert order[:2] == [(ids["upcoming"], "16"), (ids["due"], "16")]
    assert all(page.model.rows[i].try_again_on is None for i in range(2, len(order)))
    page.refresh()  # the chosen sort survives a refresh
    assert listed(page)[:2] == order[:2]


def _save_to(monkeypatch, target: Path) -> None:
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), ""))
    )


def test_save_as_csv_is_owner_only(qtbot, page: FollowupsPage, tmp_path, monkeypatch) -> None:
    target = tmp_path / "calls.csv"
    _save_to(monkeypatch, target)
    qtbot.mouseClick(page.csv_button, Qt.MouseButton.LeftButton)
    text = target.read_text(encoding="utf-8-sig")
    assert text.splitlines()[0] == ",".join(fu.CALL_SHEET_COLUMNS)
    assert "Margaret Ashworth" in text and "1944" not in text
    assert len(text.strip().splitlines()) == 1 + len(page.model.rows)
    if os.name == "posix":
        assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_save_as_pdf_is_owner_only(qtbot, page: FollowupsPage, tmp_path, monkeypatch) -> None:
    target = tmp_path / "calls.pdf"
    _save_to(monkeypatch, target)
    qtbot.mouseClick(page.pdf_button, Qt.MouseButton.LeftButton)
    assert target.read_bytes().startswith(b"%PDF")
    assert [p.name for p in tmp_path.iterdir()] == ["calls.pdf"]
    if os.name == "posix":
        assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_print_goes_to_the_chosen_printer(qtbot, page: FollowupsPage, tmp_path, monkeypatch):
    out = tmp_path / "printed.pdf"

    def choose(printer: QPrinter) -> bool:
        # Stands in for the print dialog: the person picks a (PDF) printer.
        printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
        printer.setOutputFileName(str(out))
        return True

    monkeypatch.setattr(page, "_ask_printer", choose)
    qtbot.mouseClick(page.print_button, Qt.MouseButton.LeftButton)
    assert out.read_bytes().startswith(b"%PDF")
    html = page.call_sheet_html()
    assert "Harold Binns" in html and "1944" not in html


def test_print_support_is_available() -> None:
    """PySide6-Essentials ships QtPrintSupport (printing and PDF need nothing more)."""
    from PySide6 import QtPrintSupport

    assert hasattr(QtPrintSupport, "QPrintDialog")
