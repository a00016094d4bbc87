"""The KPI dashboard as an FLS lead uses it: real widgets on a real encrypted store, the figures
worked out off the GUI thread, the lists opening records on the right form tab."""

from __future__ import annotations

from datetime import date

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication

from flsdesk.answers import nhs_for_people
from flsdesk.paths import resolve
from flsdesk_ui.background import running_ops
from flsdesk_ui.kpi.dashboard import KpiPage, deadline_status
from flsdesk_ui.kpi.style import BAND_TINTS
from flsdesk_ui.main_window import MainWindow
from tests.ui.kpi_records import Service, make_service

LOAD = 20_000  # ms to wait for a background job: a bound for a hung job, not a speed test


@pytest.fixture
def service() -> Service:
    s = make_service()
    yield s
    s.store.close()


@pytest.fixture
def page(qtbot, service: Service) -> KpiPage:
    p = KpiPage(service.store)
    qtbot.addWidget(p)
    p.resize(1280, 800)
    with qtbot.waitSignal(p.loaded, timeout=LOAD):
        p.show()
    return p


@pytest.fixture
def window(qtbot, service: Service) -> MainWindow:
    w = MainWindow(service.store, resolve(None), "AB")
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.kpi.wait()


def cell(view, row: int, col: int, role=Qt.ItemDataRole.DisplayRole):
    return view.model().index(row, col).data(role)


def kpi_row(page: KpiPage, number: int) -> int:
    for row in range(page.kpi_view.model().rowCount()):
        if cell(page.kpi_view, row, 0) == str(number):
            return row
    raise AssertionError(f"KPI {number} is not in the table")


def click_row(qtbot, view, row: int, col: int = 1, double: bool = False) -> None:
    rect = view.visualRect(view.model().index(row, col))
    click = qtbot.mouseDClick if double else qtbot.mouseClick
    if double:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    click(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def distinct_colours(widget) -> int:
    image = widget.grab().toImage()
    seen = set()
    for y in range(0, image.height(), 2):
        for x in range(0, image.width(), 2):
            seen.add(image.pixel(x, y))
    return len(seen)


# -- the KPI table ---------------------------------------------------------------------------


def test_it_opens_on_the_year_whose_deadline_is_next_with_the_kpi_table(page: KpiPage) -> None:
    # 20 March 2026: 2025's deadline (31 May 2026) is the next one.
    assert page.year() == 2025
    assert page.year_picker.currentText() == "2025 (deadline 31/05/2026)"
    assert page.period_label.text() == (
        "Fractures diagnosed 01/01/2025 – 31/12/2025, as of 20/03/2026"
    )
    view = page.kpi_view
    assert view.model().rowCount() == 11
    assert [view.model().headerData(c, Qt.Orientation.Horizontal) for c in range(8)] == [
        "KPI",
        "Name",
        "Value",
        "Numerator / denominator",
        "Not yet due",
        "Band",
        "Target",
        "National average (2019)",
    ]
    # KPI 4: 2 of the 4 due records assessed within 90 days, one record not yet due.
    row = kpi_row(page, 4)
    assert [cell(view, row, c) for c in range(8)] == [
        "4",
        "Assessment within 90 days",
        "50.0 %",
        "2 / 4",
        "1",
        "amber (below target)",
        "",
        "70.0 %",
    ]
    # The band in colour as well as in words, on the value and the band cells.
    for col in (2, 5):
        brush = cell(view, row, col, Qt.ItemDataRole.BackgroundRole)
        assert brush.color() == QColor(BAND_TINTS["amber"])
    red = kpi_row(page, 5)
    assert cell(view, red, 5) == "red (well below target)"
    assert cell(view, red, 5, Qt.ItemDataRole.BackgroundRole).color() == QColor(BAND_TINTS["red"])
    # KPI 1 is a count of weak fields; KPI 2 compares with the caseload from Settings.
    assert cell(view, kpi_row(page, 1), 2) == "1 weak field"
    assert cell(view, kpi_row(page, 2), 3) == "5 / 50"
    assert cell(view, kpi_row(page, 7), 6) == "50 %"
    assert "5 record(s) counted" in page.message.text()
    assert "KPI 2 counts all records" in page.notes.text()
    assert running_ops() == 0


def test_picking_another_year_works_the_figures_out_again(qtbot, page: KpiPage) -> None:
    picker = page.year_picker
    picker.setFocus()
    with qtbot.waitSignal(page.loaded, timeout=LOAD):
        qtbot.keyClick(picker, Qt.Key.Key_Down)  # newest first: the next is 2024
    assert page.year() == 2024
    assert page.data is not None and page.data.year == 2024
    assert "1 record(s) counted" in page.message.text()
    assert page.period_label.text().startswith("Fractures diagnosed 01/01/2024 – 31/12/2024")
    # 2024's deadline passed on 31 May 2025: nothing left to count down.
    assert "deadline 31/05/2025 (passed)" in page.readiness_heading.text()


def test_selecting_a_kpi_shows_its_run_chart_with_band_lines_and_the_national_average(
    qtbot, page: KpiPage
) -> None:
    click_row(qtbot, page.kpi_view, kpi_row(page, 4))
    assert page.chart.kpi == 4
    chart = page.chart.chart()
    assert chart.title() == "KPI 4: Assessment within 90 days"
    names = {s.name() for s in chart.series()}
    assert {"Green from 80 %", "Red below 50 %", "National average 70.0 % (2019)"} <= names
    # One point per month with due records: February (100 %), March (0 %), April (0 %),
    # June (100 %); December's only record is not yet due, the other months have none.
    dots = next(s for s in chart.series() if type(s).__name__ == "QScatterSeries")
    assert sorted((int(p.x()), p.y()) for p in dots.points()) == [
        (1, 100.0),
        (2, 0.0),
        (3, 0.0),
        (5, 100.0),
    ]
    assert "KPI 4: Assessment within 90 days" in page.kpi_detail.text()


def test_the_run_chart_renders_and_every_kpi_has_one(qtbot, page: KpiPage) -> None:
    page.tabs.setCurrentIndex(0)
    qtbot.waitExposed(page.chart)
    # A drawn chart has its black line, three coloured level lines, grid, text…
    assert distinct_colours(page.chart) > 30
    page.tabs.setCurrentIndex(1)
    views = page.chart_views()
    assert sorted(views) == list(range(1, 12))
    qtbot.waitExposed(views[11])
    assert distinct_colours(views[11]) > 30


def test_a_blank_chart_view_would_fail_the_colour_count(qtbot) -> None:
    """The check above can fail: an empty chart view has few colours."""
    from flsdesk_ui.kpi.chart import KpiChartView

    view = KpiChartView()
    qtbot.addWidget(view)
    view.resize(600, 300)
    view.show()
    qtbot.waitExposed(view)
    assert distinct_colours(view) < 30


# -- who missed it ---------------------------------------------------------------------------


def test_who_missed_it_lists_records_with_what_is_missing_and_the_not_yet_due(
    qtbot, page: KpiPage, service: Service
) -> None:
    click_row(qtbot, page.kpi_view, kpi_row(page, 5))
    with qtbot.waitSignal(page.lists_loaded, timeout=LOAD):
        qtbot.mouseClick(page.show_missed_button, Qt.MouseButton.LeftButton)
    assert page.tabs.currentIndex() == 3
    assert page.missed_picker.currentData() == 5
    view = page.missed_view
    rows = [[cell(view, r, c) for c in range(4)] for r in range(view.model().rowCount())]
    assert rows == [
        [
            nhs_for_people(service.nhs["late"]),
            "Patient Late",
            "05/03/2025",
            "no DXA scan dated within 90 days — fracture 05/03/2025, day 380 today",
        ],
        [
            nhs_for_people(service.nhs["draft"]),
            "Patient Draft",
            "15/04/2025",
            "no DXA scan dated within 90 days — fracture 15/04/2025, day 339 today",
        ],
        [
            nhs_for_people(service.nhs["spine"]),
            "Patient Spine",
            "01/06/2025",
            "no DXA scan dated within 90 days — fracture 01/06/2025, day 292 today",
        ],
    ]
    waiting = page.waiting_view
    assert waiting.model().rowCount() == 1
    assert cell(waiting, 0, 1) == "Patient Recent"
    assert cell(waiting, 0, 3) == "counts from 31/03/2026"
    assert page.missed_box.title() == "Missed (3)"
    assert page.waiting_box.title() == "Not yet due (1)"


def test_a_missed_record_opens_on_the_tab_where_its_gap_is(
    qtbot, window: MainWindow, service: Service
) -> None:
    page = window.kpi
    with qtbot.waitSignal(page.loaded, timeout=LOAD):
        window.act_kpis.trigger()
    assert window.pages.currentWidget() is page
    page.tabs.setCurrentIndex(3)
    with qtbot.waitSignal(page.lists_loaded, timeout=LOAD):
        page.missed_picker.setCurrentIndex(page.missed_picker.findData(5))
    view = page.missed_view
    row = next(r for r in range(view.model().rowCount()) if cell(view, r, 1) == "Patient Late")
    click_row(qtbot, view, row)
    qtbot.keyClick(view, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(window.open_windows) == 1, timeout=LOAD)
    form = window.open_windows[0]
    assert form.record_id == service.ids["late"]
    # KPI 5 is DXA within 90 days: the record opens on its DXA tab, not on the first one.
    qtbot.waitUntil(lambda: form.tabs.currentWidget().objectName() == "tab_dxa")
    form.close()


# -- completeness and readiness --------------------------------------------------------------


def test_completeness_is_worst_first_and_a_row_opens_its_records(
    qtbot, page: KpiPage, service: Service
) -> None:
    page.tabs.setCurrentIndex(4)
    view = page.gap_view
    assert [cell(view, 0, c) for c in range(5)] == [
        "1.07",
        "Date of FLS assessment",
        "2",
        "5",
        "40.0 %",
    ]
    shares = [float(cell(view, r, 4).split()[0]) for r in range(view.model().rowCount())]
    assert shares == sorted(shares, reverse=True)
    # Above KPI 1's 20 % line: shaded.
    assert cell(view, 0, 4, Qt.ItemDataRole.BackgroundRole).color() == QColor(BAND_TINTS["red"])
    click_row(qtbot, view, 0)
    qtbot.keyClick(view, Qt.Key.Key_Return)
    records = page.gap_records_view
    qtbot.waitUntil(lambda: records.model().rowCount() == 2, timeout=LOAD)
    assert {cell(records, r, 1) for r in range(2)} == {"Patient Draft", "Patient Recent"}
    assert page.gap_records_box.title() == "Records lacking 1.07 Date of FLS assessment (2)"
    drafts = page.drafts_view
    assert {cell(drafts, r, 1) for r in range(drafts.model().rowCount())} == {
        "Patient Draft",
        "Patient Recent",
    }
    opened: list[tuple[int, str]] = []
    page.open_record_requested.connect(lambda rid, tab: opened.append((rid, tab)))
    click_row(qtbot, records, 0)
    qtbot.keyClick(records, Qt.Key.Key_Return)
    assert opened and opened[0][1] == "patient"  # where 1.07 is asked


def test_the_readiness_view_lists_what_stands_before_the_deadline(page: KpiPage) -> None:
    page.tabs.setCurrentIndex(5)
    assert page.readiness_heading.text().startswith(
        "Report year 2025: FLS-DB deadline 31/05/2026 (72 days left)."
    )
    titles = [page.readiness_tabs.tabText(i) for i in range(page.readiness_tabs.count())]
    assert titles == [
        "Drafts (2)",
        "Need correction (0)",
        "Follow-ups due (0)",
        "Not exported (5)",
    ]


def test_breakdowns_show_each_kpi_by_group(qtbot, page: KpiPage) -> None:
    page.tabs.setCurrentIndex(2)
    picker = page.dimension_picker
    index = picker.findData("site")
    assert index >= 0
    picker.setCurrentIndex(index)
    view = page.breakdown_view
    headers = [
        view.model().headerData(c, Qt.Orientation.Horizontal)
        for c in range(view.model().columnCount())
    ]
    assert headers[0] == "KPI" and "Spine" in headers and "Wrist" in headers
    row = next(r for r in range(view.model().rowCount()) if cell(view, r, 0) == "3 Spine fractures")
    assert cell(view, row, headers.index("Spine")) == "100.0 % (1/1)"
    assert cell(view, row, headers.index("Wrist")) == "0.0 % (0/4)"


# -- the status bar --------------------------------------------------------------------------


def test_the_status_bar_counts_down_to_the_deadline_from_1_march(window: MainWindow) -> None:
    # The store's clock says TODAY (20 March 2026).
    assert window.deadline.text() == "FLS-DB deadline for 2025: 31/05/2026, 72 days left"
    assert deadline_status(date(2026, 2, 28)) == ""
    assert deadline_status(date(2026, 3, 1)) == "FLS-DB deadline for 2025: 31/05/2026, 91 days left"
    assert deadline_status(date(2026, 5, 31)) == "FLS-DB deadline for 2025: today (31/05/2026)"
    assert deadline_status(date(2026, 6, 1)) == ""


def test_the_page_computes_only_when_shown_and_again_after_a_change(
    qtbot, window: MainWindow, service: Service
) -> None:
    page = window.kpi
    assert page.data is None  # nothing worked out while the patient list is in view
    with qtbot.waitSignal(page.loaded, timeout=LOAD):
        window.show_page("kpis")
    assert page.data is not None and page.data.report.records_counted == 5
    from tests.ui.kpi_records import _answers

    service.store.new_record(_answers("new", 777777770, date(2025, 9, 9)))
    with qtbot.waitSignal(page.loaded, timeout=LOAD):
        window.refresh()
    assert page.data.report.records_counted == 6
    QApplication.processEvents()


# -- no data, a broken KPI file --------------------------------------------------------------


def test_a_service_with_no_records_sees_no_data_never_zero_percent(qtbot) -> None:
    empty = make_service(with_records=False)
    try:
        p = KpiPage(empty.store)
        qtbot.addWidget(p)
        with qtbot.waitSignal(p.loaded, timeout=LOAD):
            p.show()
        view = p.kpi_view
        for number in range(3, 12):
            row = kpi_row(p, number)
            assert cell(view, row, 2) == "no data"
            assert cell(view, row, 5) == "no data"
            assert cell(view, row, 5, Qt.ItemDataRole.BackgroundRole).color() == QColor(
                BAND_TINTS[None]
            )
        click_row(qtbot, view, kpi_row(p, 4))
        assert p.chart.chart().title().endswith("no data for this period")
        p.wait()
    finally:
        empty.store.close()


def test_a_broken_kpi_file_is_reported_on_the_page_and_the_window_still_works(
    qtbot, service: Service
) -> None:
    folder = service.store.paths.overrides_dir
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "flsdb-kpis.toml").write_text(
        'kind = "kpi"\nid = "flsdb-kpis"\nname = "broken"\nversion = "x"\n'
        '[[kpis]]\nnumber = "four"\n',
        encoding="utf-8",
    )
    w = MainWindow(service.store, resolve(None), "AB")
    qtbot.addWidget(w)
    w.show()
    # The countdown falls back to the bundled file's deadline.
    assert w.deadline.text() == "FLS-DB deadline for 2025: 31/05/2026, 72 days left"
    page = w.kpi
    with qtbot.waitSignal(page.load_failed, timeout=LOAD):
        w.show_page("kpis")
    assert "flsdb-kpis.toml" in page.message.text()
    assert page.data is None and not page.pdf_button.isEnabled()
    w.show_page("patients")
    assert w.patients.model.rowCount() == 6
