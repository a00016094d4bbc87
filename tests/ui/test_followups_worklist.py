"""The worklist a nurse can phone from (issue 12 point 7), on the real main window at a clinic's
1024×700 and a desk's 1600×900: contact details typed into the record form show in the list and
on the call sheet, the record's Follow-up tab shows its calls, the list comes most urgent first,
State stays in view and a long therapy text is elided with a tooltip.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QHelpEvent
from PySide6.QtPrintSupport import QPrinter
from PySide6.QtWidgets import QApplication, QFileDialog, QTableView, QToolTip, QWidget

from flsdesk import followups as fu
from flsdesk import session
from flsdesk.logs import setup_logging
from flsdesk.paths import resolve
from flsdesk_ui.followups_view import FollowupsPage
from flsdesk_ui.form.call_history import CallHistory
from flsdesk_ui.main_window import MainWindow
from tests.ui.test_followups_view import Driver, click_ok

PASSPHRASE = "correct horse battery staple"
SERVICE = "Northtown FLS"
SIZES = [(1024, 700), (1600, 900)]
LONG_THERAPY = ["Alendronate", "Risedronate", "Zoledronate", "Denosumab", "Teriparatide"]


@pytest.fixture
def paths():
    return resolve(None)


@pytest.fixture
def store(paths):
    created = session.create(paths, PASSPHRASE, "AB", SERVICE, "RXX01")
    yield created.store
    created.store.close()


def answers(store, nhs: str, name: str, day: int, **extra: Any) -> dict[str, Any]:
    """A record diagnosed ``day`` days before the store's today, a drug recommended."""
    a: dict[str, Any] = {
        "1.01": nhs,
        "1.02": "1944-05-06",
        "1.03": "Female",
        "1.09": (store.today() - timedelta(days=day)).isoformat(),
        "1.11": "Hip",
        "4.01": ["Alendronate"],
        "name": name,
        "hospital_number": f"RX{day:05d}",
    }
    a.update(extra)
    return a


@pytest.fixture
def ids(store) -> dict[str, int]:
    # 16-week window: due from day 84, overdue from day 113.
    return {
        "due_23": store.new_record(answers(store, "9434765919", "Margaret Ashworth", 90)),
        "overdue_8": store.new_record(
            answers(store, "4010232137", "Harold Binns", 120, **{"4.01": LONG_THERAPY})
        ),
        "upcoming": store.new_record(answers(store, "6541237891", "Dev Evans", 60)),
        "due_5": store.new_record(answers(store, "4505577104", "Elsie Frost", 108)),
        "overdue_88": store.new_record(answers(store, "9876543210", "Ingrid Castellano", 200)),
    }


def main_window(qtbot, store, paths, size: tuple[int, int]) -> MainWindow:
    w = MainWindow(store, paths, "AB")
    qtbot.addWidget(w)
    w.resize(*size)
    w.show()
    qtbot.waitExposed(w)
    w.act_followups.trigger()
    assert w.pages.currentWidget() is w.followups
    # The page lays out at the window's size before anything is measured.
    qtbot.waitUntil(lambda: w.followups.view.viewport().width() > size[0] - 200, timeout=3000)
    return w


def cell(page: FollowupsPage, row: int, key: str, role=Qt.ItemDataRole.DisplayRole) -> Any:
    return page.model.index(row, page.model.column(key)).data(role)


def record_windows(record_id: int) -> list[QWidget]:
    return [
        w
        for w in QApplication.topLevelWidgets()
        if w.objectName() == "record_window"
        and getattr(w, "record_id", None) == record_id
        and w.isVisible()
    ]


def open_from_worklist(qtbot, page: FollowupsPage, record_id: int) -> QWidget:
    """Select the record's row and press Enter, as the nurse does."""
    row = page.model.find(record_id, "16")
    assert row >= 0
    page.view.setFocus()
    page.view.selectRow(row)
    qtbot.keyClick(page.view, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(record_windows(record_id)) == 1, timeout=3000)
    [form] = record_windows(record_id)
    qtbot.waitExposed(form)
    form.activateWindow()
    # Keys go to the focus widget of the active window, as on a real desktop.
    qtbot.waitUntil(lambda: QApplication.activeWindow() is form, timeout=3000)
    return form


def type_into(qtbot, form: QWidget, name: str, text: str) -> None:
    tabs = form.tabs
    patient = tabs.indexOf(form.findChild(QWidget, "tab_patient"))
    bar = tabs.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(patient).center())
    assert tabs.currentIndex() == patient
    field = form.findChild(QWidget, name)
    assert field is not None, name
    field.setFocus()
    qtbot.keyClicks(field, text)
    qtbot.keyClick(field, Qt.Key.Key_Tab)  # leaving the field saves it


@pytest.mark.parametrize("size", SIZES, ids=["1024x700", "1600x900"])
def test_contact_details_typed_in_the_form_reach_the_list_and_the_call_sheet(
    qtbot, store, paths, ids, size, tmp_path: Path, monkeypatch
) -> None:
    setup_logging(paths.log_dir)  # as the application does at start-up
    w = main_window(qtbot, store, paths, size)
    page = w.followups
    rid = ids["due_23"]
    form = open_from_worklist(qtbot, page, rid)
    try:
        assert form.tabs.currentWidget().tab.id == "followup"
        type_into(qtbot, form, "local_contact_phone", "01632 960123")
        type_into(qtbot, form, "local_contact_phone_2", "07700 900456")
        type_into(qtbot, form, "local_gp_practice", "Riverside Surgery")
        qtbot.waitUntil(
            lambda: store.load(rid).answers.get("gp_practice") == "Riverside Surgery",
            timeout=5000,
        )
    finally:
        form.close()
    # The main window refreshes its lists after a save.
    qtbot.waitUntil(
        lambda: cell(page, page.model.find(rid, "16"), "gp_practice") == "Riverside Surgery",
        timeout=5000,
    )
    row = page.model.find(rid, "16")
    assert cell(page, row, "phone") == "01632 960123 / 07700 900456"
    assert cell(page, row, "phone", Qt.ItemDataRole.ToolTipRole) == (
        "Phone: 01632 960123\nSecond phone: 07700 900456"
    )
    # The phone numbers and the State are on screen, at either size.
    viewport = page.view.viewport().rect()
    for key in ("phone", "state"):
        assert viewport.contains(
            page.view.visualRect(page.model.index(row, page.model.column(key)))
        )

    target = tmp_path / "calls.csv"
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), ""))
    )
    qtbot.mouseClick(page.csv_button, Qt.MouseButton.LeftButton)
    table = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8-sig"))))
    assert table[0] == list(fu.CALL_SHEET_COLUMNS)
    written = {r[1]: dict(zip(table[0], r, strict=True)) for r in table[1:]}
    assert written["Margaret Ashworth"]["Phone"] == "01632 960123"
    assert written["Margaret Ashworth"]["Second phone"] == "07700 900456"
    assert written["Margaret Ashworth"]["GP practice"] == "Riverside Surgery"

    # The printed sheet: the service's name in its heading, the numbers in its table.
    printed = tmp_path / "printed.pdf"

    def choose(printer: QPrinter) -> bool:
        printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
        printer.setOutputFileName(str(printed))
        return True

    monkeypatch.setattr(page, "_ask_printer", choose)
    qtbot.mouseClick(page.print_button, Qt.MouseButton.LeftButton)
    assert printed.read_bytes().startswith(b"%PDF")
    text = page._document().toPlainText()
    heading = text.splitlines()[0]
    assert heading.startswith(f"{SERVICE}: follow-ups on {store.today():%d/%m/%Y}")
    assert "01632 960123" in text and "Riverside Surgery" in text and "Phone" in text
    # Nothing of it in the log files.
    logs = "".join(p.read_text() for p in paths.log_dir.rglob("*") if p.is_file())
    assert "opened in the form" in logs and "call sheet" in logs  # the log was written
    assert "960123" not in logs and "900456" not in logs and "Riverside" not in logs


def test_the_follow_up_tab_shows_the_call_history(qtbot, store, paths, ids) -> None:
    w = main_window(qtbot, store, paths, (1024, 700))
    page = w.followups
    rid = ids["overdue_8"]
    page.view.selectRow(page.model.find(rid, "16"))

    def fill(dialog) -> None:
        dialog.outcome.setFocus()
        qtbot.keyClicks(dialog.outcome, "Left")
        dialog.retry_on.clear()
        qtbot.keyClicks(dialog.retry_on, f"{store.today() + timedelta(days=3):%d/%m/%Y}")
        click_ok(qtbot, dialog)

    driver = Driver(fill)
    qtbot.mouseClick(page.log_button, Qt.MouseButton.LeftButton)
    assert driver.check() == ["call_attempt_dialog"]

    form = open_from_worklist(qtbot, page, rid)
    try:
        history = form.findChild(CallHistory, "call_history")
        assert history is not None and history.isVisible()
        today = store.today()
        [first] = history.rows()
        assert first[:3] == [f"{today:%d/%m/%Y}", "16-week", "Left message"]
        assert first[3].startswith("AB")
        assert first[4] == f"{today + timedelta(days=3):%d/%m/%Y}"
        assert not history.empty.isVisible()

        # A second call logged from the list while the record is open: back in the record,
        # its history has it, the latest first.
        w.activateWindow()
        qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=3000)
        page.view.selectRow(page.model.find(rid, "16"))

        def reached(dialog) -> None:
            dialog.outcome.setFocus()
            qtbot.keyClicks(dialog.outcome, "Reached")
            assert dialog.retry_on.text() == ""
            click_ok(qtbot, dialog)

        driver = Driver(reached)
        qtbot.mouseClick(page.log_button, Qt.MouseButton.LeftButton)
        driver.check()
        form.activateWindow()
        qtbot.waitUntil(lambda: len(history.rows()) == 2, timeout=3000)
        outcomes = [r[2] for r in history.rows()]
        assert sorted(outcomes) == ["Left message", "Reached"]
        assert history.rows()[0][2] == "Reached"  # same day: the later logged first
    finally:
        form.close()


def test_a_record_without_calls_says_so(qtbot, store, open_form) -> None:
    rid = store.new_record(answers(store, "9434765919", "Margaret Ashworth", 90))
    form = open_form(rid, tab="followup")
    history = form.findChild(CallHistory, "call_history")
    assert history is not None and history.isVisible()
    assert history.rows() == []
    assert history.empty.isVisible() and "No call logged yet" in history.empty.text()


@pytest.mark.parametrize("size", SIZES, ids=["1024x700", "1600x900"])
def test_the_list_is_most_urgent_first(qtbot, store, paths, ids, size) -> None:
    w = main_window(qtbot, store, paths, size)
    page = w.followups
    sixteen = [r.record_id for r in page.model.rows if r.window_id == "16"]
    assert sixteen == [
        ids["overdue_88"],  # overdue, most days overdue first
        ids["overdue_8"],
        ids["due_5"],  # due, fewest days left first
        ids["due_23"],
        ids["upcoming"],
    ]
    assert [cell(page, i, "state") for i in range(3)] == [
        "overdue, 88 days since the window closed",
        "overdue, 8 days since the window closed",
        "due, 5 days left",
    ]
    header = page.view.horizontalHeader()
    assert header.sortIndicatorSection() == page.model.column("state")
    assert header.sortIndicatorOrder() == Qt.SortOrder.AscendingOrder
    # Sorting by another column and back by State by clicking its header gives the same order.
    name_rect = header.sectionViewportPosition(page.model.column("name"))
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(name_rect + 5, 5))
    assert [r.record_id for r in page.model.rows if r.window_id == "16"] != sixteen
    state_x = header.sectionViewportPosition(page.model.column("state"))
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(state_x + 5, 5))
    assert [r.record_id for r in page.model.rows if r.window_id == "16"] == sixteen


@pytest.mark.parametrize("size", SIZES, ids=["1024x700", "1600x900"])
def test_state_in_view_and_long_therapy_elided_with_a_tooltip(
    qtbot, store, paths, ids, size
) -> None:
    w = main_window(qtbot, store, paths, size)
    page = w.followups
    view: QTableView = page.view
    viewport = view.viewport().rect()
    state_col = page.model.column("state")
    for row in range(page.model.rowCount()):
        rect = view.visualRect(page.model.index(row, state_col))
        assert viewport.contains(rect), (row, rect, viewport)
    # Every state text is whole: its column is as wide as its content.
    metrics = view.fontMetrics()
    widest = max(
        metrics.horizontalAdvance(cell(page, r, "state")) for r in range(page.model.rowCount())
    )
    assert view.columnWidth(state_col) >= widest

    row = page.model.find(ids["overdue_8"], "16")
    full = ", ".join(LONG_THERAPY)
    assert cell(page, row, "bone_therapy") == full
    therapy_col = page.model.column("bone_therapy")
    if size[0] == 1024:
        # Too long for the room left: elided, and the whole of it in the tooltip.
        assert view.columnWidth(therapy_col) < metrics.horizontalAdvance(full)
    rect = view.visualRect(page.model.index(row, therapy_col))
    assert viewport.contains(rect)  # on screen, elided, rather than scrolled away
    # The mouse rests on the cell: the tooltip has the whole text.
    QToolTip.hideText()
    pos = rect.center()
    qtbot.mouseMove(view.viewport(), pos)
    event = QHelpEvent(QEvent.Type.ToolTip, pos, view.viewport().mapToGlobal(pos))
    QApplication.sendEvent(view.viewport(), event)
    qtbot.waitUntil(QToolTip.isVisible, timeout=3000)
    assert QToolTip.text() == full
    QToolTip.hideText()
    assert cell(page, row, "bone_therapy", Qt.ItemDataRole.ToolTipRole) == full


def test_the_person_sizes_a_column_and_it_stays(qtbot, store, paths, ids) -> None:
    w = main_window(qtbot, store, paths, (1024, 700))
    page = w.followups
    col = page.model.column("gp_practice")
    header = page.view.horizontalHeader()
    before = page.view.columnWidth(col)
    # Drag the divider at the right edge of the GP practice header 60 px to the right.
    edge = header.sectionViewportPosition(col) + header.sectionSize(col) - 1
    y = header.height() // 2
    qtbot.mousePress(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(edge, y))
    for x in range(edge + 10, edge + 61, 10):
        qtbot.mouseMove(header.viewport(), QPoint(x, y))
    qtbot.mouseRelease(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(edge + 60, y))
    dragged = page.view.columnWidth(col)
    assert dragged > before
    page.refresh()
    w.resize(1100, 700)
    qtbot.waitUntil(lambda: page.view.viewport().width() > 1000, timeout=3000)
    assert page.view.columnWidth(col) == dragged
